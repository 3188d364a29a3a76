build-wip/plugins/pipe.so: plugins/pipe.c plugins/mailferry/plugin.h
plugins/mailferry/plugin.h:
