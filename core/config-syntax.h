/*
 * Reporting a configuration that libconfig cannot parse. libconfig says
 * "syntax error" and a line, nothing more; so the line is shown, with a
 * caret under the token where the text stops being a configuration, and
 * an error at the end of the text (a brace or a quote never closed) is
 * shown where that brace or quote was opened.
 */
#ifndef MF_CONFIG_SYNTAX_H
#define MF_CONFIG_SYNTAX_H

#include <libconfig.h>

#include "config-include.h"

/* Print "FILE:LINE: what libconfig said", then the line and a caret.
 * Call before the text is wiped. Strings on a line setting a password
 * are shown as stars. */
void config_report_syntax(const struct config_text *ct, const config_t *lc);

#endif
