build-wip/plugins/dedup.so: plugins/dedup.c plugins/mailferry/plugin.h
plugins/mailferry/plugin.h:
