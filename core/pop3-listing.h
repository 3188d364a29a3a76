/*
 * The lines of POP3 listings (RFC 1939): the STAT reply "count size",
 * LIST's "number size" and UIDL's "number uid". Pure functions of one
 * line, shared by the fetch loop and the fuzzer; reading the lines, and
 * the bounds on how many, is pop3.c's.
 */
#ifndef MF_POP3_LISTING_H
#define MF_POP3_LISTING_H

#include <stddef.h>
#include <stdint.h>

enum uidl_line {
	UIDL_LINE_OK,
	UIDL_LINE_BAD_NUMBER,	/* no message number: ignore the line */
	UIDL_LINE_BAD_UID,	/* a message whose UID is unusable */
};

/* A decimal number at s, at most max; *end is set past it. -1 when
 * there is none or it is larger. */
int pop3_parse_number(const char *s, const char **end, uint64_t max,
    uint64_t *out);
/* The text after "+OK " of a STAT reply: the message count, at most
 * max_count. */
int pop3_parse_stat(const char *text, uint64_t max_count, uint64_t *count);
/* "n size", n from 1; anything after the size must follow a space. */
int pop3_parse_list_line(const char *line, size_t len, unsigned *num,
    uint64_t *size);
/* "n uid": the message number and, when usable (uid_valid), the UID,
 * pointing into line. */
enum uidl_line pop3_parse_uidl_line(const char *line, size_t len,
    unsigned *num, const char **uid, size_t *uidlen);

#endif
