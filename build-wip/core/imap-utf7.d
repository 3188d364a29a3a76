build-wip/core/imap-utf7.o: core/imap-utf7.c core/imap-utf7.h \
 core/xmalloc.h
core/imap-utf7.h:
core/xmalloc.h:
