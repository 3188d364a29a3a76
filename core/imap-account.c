/* The login method of an IMAP account: see imap-account.h. */
#include "imap-account.h"
#include "imap-session.h"

enum imap_auth
imap_account_auth(enum auth_method m)
{
	switch (m) {
	case AUTH_USER:
		return IMAP_AUTH_LOGIN;
	case AUTH_PLAIN:
		return IMAP_AUTH_PLAIN;
	case AUTH_LOGIN:
		return IMAP_AUTH_SASL_LOGIN;
	case AUTH_XOAUTH2:
		return IMAP_AUTH_XOAUTH2;
	case AUTH_OAUTHBEARER:
		return IMAP_AUTH_OAUTHBEARER;
	case AUTH_AUTO:
	case AUTH_APOP:
		break;
	}
	return IMAP_AUTH_AUTO;
}
