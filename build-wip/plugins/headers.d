build-wip/plugins/headers.so: plugins/headers.c \
 plugins/mailferry/plugin.h
plugins/mailferry/plugin.h:
