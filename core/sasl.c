#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sasl.h"
#include "xmalloc.h"

char *
sasl_base64(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *
sasl_plain(const char *user, const char *secret)
{
	size_t ulen = strlen(user), slen = strlen(secret);
	char *raw = xmalloc(ulen + slen + 2), *b64;

	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[ulen + 1] = '\0';
	memcpy(raw + ulen + 2, secret, slen);
	b64 = sasl_base64(raw, ulen + slen + 2);
	explicit_bzero(raw, ulen + slen + 2);
	free(raw);
	return b64;
}

char *
sasl_xoauth2(const char *user, const char *token)
{
	char *raw = xasprintf("user=%s\001auth=Bearer %s\001\001", user,
	    token);
	char *b64 = sasl_base64(raw, strlen(raw));

	freezero_str(raw);
	return b64;
}

int
sasl_may_send(const char *label, bool encrypted, bool allow_plaintext,
    struct err *e)
{
	if (encrypted || allow_plaintext)
		return 0;
	return err_set(e, ERR_CONFIG, "%s: refusing to send credentials over "
	    "an unencrypted connection (use TLS, or set allow_plaintext_auth "
	    "= true)", label);
}
