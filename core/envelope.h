/* The envelope sender of a fetched message, for mbox "From " lines, SMTP
 * MAIL FROM and a delivery program's %F. */
#ifndef MF_ENVELOPE_H
#define MF_ENVELOPE_H

#include "msg.h"

/*
 * The address from Return-Path, else Sender, else From; "" for a null
 * sender (Return-Path: <>). An address that is not plain printable ASCII
 * without spaces, or longer than 254 bytes, counts as none. Returns a
 * string the caller frees, or NULL when there is no usable address.
 */
char *envelope_sender(struct msg *m);

#endif
