#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdint.h>
#include <stdlib.h>

#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <pcre2.h>

#include "mailferry/plugin.h"
#include "version.h"

#ifndef MAILFERRY_VERSION
#define MAILFERRY_VERSION "dev"
#endif

/*
 * Whether rules will run compiled: the library must have JIT support and
 * the system must let it map executable memory (some hardened kernels do
 * not), which only compiling a pattern tells.
 */
static const char *
pcre2_jit_state(void)
{
	uint32_t jit = 0;
	pcre2_code *re;
	size_t off;
	int err, rc;

	if (pcre2_config(PCRE2_CONFIG_JIT, &jit) < 0 || !jit)
		return "no JIT: the library has none";
	if (getenv("MAILFERRY_NO_JIT") != NULL)
		return "JIT off: MAILFERRY_NO_JIT is set";
	re = pcre2_compile((PCRE2_SPTR)"a", 1, 0, &err, &off, NULL);
	if (re == NULL)
		return "no JIT: cannot compile";
	rc = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	pcre2_code_free(re);
	return rc == 0 ? "JIT" : "no JIT: the system refuses it";
}

void
version_print(FILE *fp)
{
	char pcre[64] = "?";

	pcre2_config(PCRE2_CONFIG_VERSION, pcre);
	fprintf(fp, "mailferry %s\n", MAILFERRY_VERSION);
	fprintf(fp, "%s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION),
	    OPENSSL_VERSION_TEXT);
	fprintf(fp, "PCRE2 %s (%s)\n", pcre, pcre2_jit_state());
	/* libconfig cannot say its version at run time. */
	fprintf(fp, "libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR,
	    LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
	fprintf(fp, "plugin directory: %s (the default of plugin_dir)\n",
	    PLUGIN_DIR);
	fprintf(fp, "plugin ABI: %d.%d\n", MAILFERRY_PLUGIN_ABI_MAJOR,
	    MAILFERRY_PLUGIN_ABI_MINOR);
}
