/*
 * Waiting for a server's greeting on a plain connection, and telling a
 * port that speaks TLS at once when the user asked for plain text or
 * STARTTLS on it.
 *
 * A TLS server sends nothing first: it waits for the client's
 * ClientHello. With tls = "starttls" or "none" against port 995 or 993,
 * a client would wait `timeout` seconds for a greeting that never comes
 * and report a timeout, which says nothing of the cause. So when no
 * greeting has come after GREETING_GRACE_MS, a second connection to the
 * same address sends a ClientHello: a port that answers with a TLS
 * record speaks TLS at once, and the user is told to use tls =
 * "implicit". The first connection is left alone, so a slow server that
 * does speak plain text costs one extra connection, closed at once; a
 * port that answers the probe in any other way, or not at all, is
 * waited for as before, `timeout` in all.
 */
#ifndef MF_GREETING_H
#define MF_GREETING_H

#include "conn.h"
#include "err.h"

#define GREETING_GRACE_MS	2000

/*
 * Wait for the first byte of the greeting on the plain TCP connection c.
 * 0: it came (read it as usual; also when c is not TCP, or already has
 * data). -1 with e set: the port speaks TLS at once (ERR_UNAVAIL, naming
 * plain_port as the protocol's port for plain text and STARTTLS), or
 * nothing came within c's timeout (ERR_TEMP).
 */
int greeting_wait(struct conn *c, int plain_port, struct err *e);

#endif
