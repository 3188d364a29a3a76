build-wip/core/pop3-listing.o: core/pop3-listing.c core/pop3-listing.h \
 core/uidstore.h core/err.h
core/pop3-listing.h:
core/uidstore.h:
core/err.h:
