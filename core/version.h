/* --version: mailferry's version and what it was built with. */
#ifndef MF_VERSION_H
#define MF_VERSION_H

#include <stdio.h>

/* The version, the libraries (OpenSSL, PCRE2 with or without JIT,
 * libconfig), the default plugin directory and the plugin ABI. */
void version_print(FILE *fp);

#endif
