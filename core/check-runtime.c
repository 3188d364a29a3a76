#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check-runtime.h"
#include "command.h"
#include "log.h"
#include "plugin.h"
#include "rules.h"
#include "xmalloc.h"

/* What /bin/sh runs itself: no program is looked up for these. */
static const char *const shell_words[] = {
	"!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi",
	"for", "if", "in", "then", "until", "while", ".", ":", "[", "alias",
	"bg", "break", "cd", "command", "continue", "echo", "eval", "exec",
	"exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs",
	"kill", "local", "printf", "pwd", "read", "readonly", "return", "set",
	"shift", "test", "times", "trap", "true", "type", "ulimit", "umask",
	"unalias", "unset", "wait", NULL
};

static const char *
path_shown(void)
{
	const char *path = getenv("PATH");

	return path != NULL ? path : "not set";
}

/*
 * The program a shell line starts with, when that is a plain command
 * name or path; NULL for anything the shell would first expand or
 * interpret (quotes, variables, ~, an assignment, a keyword, a builtin).
 */
static char *
plain_command(const char *line)
{
	size_t skip = strspn(line, " \t\n"), len;
	char *word;

	len = strcspn(line + skip, " \t\n;&|<>()");
	if (len == 0)
		return NULL;
	word = xstrndup(line + skip, len);
	if (strpbrk(word, "\"'\\$`~=*?[]{}!#") != NULL) {
		free(word);
		return NULL;
	}
	for (const char *const *w = shell_words; *w != NULL; w++)
		if (strcmp(word, *w) == 0) {
			free(word);
			return NULL;
		}
	return word;
}

/* A password_command: sh must parse it, and its program must exist. */
static int
check_shell_line(const struct source *src, const char *what,
    const char *line, int timeout)
{
	char *const argv[] = { "/bin/sh", "-n", "-c", (char *)line, NULL };
	struct command_result res;
	struct err e;
	char *prog;
	int bad = 0;

	if (command_run(argv, timeout, NULL, NULL, NULL, NULL, &res, &e) ==
	    -1) {
		log_error_at(src->file, src->line, "%s: %s", what, e.msg);
		return 1;
	}
	if (!res.exited || res.status != 0) {
		log_error_at(src->file, src->line, "%s: /bin/sh cannot parse "
		    "it: %s", what, res.stderr_text[0] != '\0' ?
		    res.stderr_text : "no reason given");
		return 1;
	}
	prog = plain_command(line);
	if (prog != NULL && !command_exists(prog)) {
		log_error_at(src->file, src->line, "%s: %s is not found in "
		    "PATH (%s)", what, prog, path_shown());
		bad = 1;
	}
	free(prog);
	return bad;
}

static int
check_account(const struct config *cfg, const struct account *a)
{
	char what[300];
	int bad = 0;

	if (a->tls == TLS_MODE_NONE && !a->allow_plaintext_auth) {
		log_error_at(a->src.file, a->src.line, "account \"%s\": tls = "
		    "\"none\" without allow_plaintext_auth = true: every login "
		    "will be refused, as credentials are never sent in clear "
		    "text; use tls = \"starttls\" or \"implicit\", or allow "
		    "it", a->name);
		bad++;
	}
	if (a->password_command != NULL) {
		snprintf(what, sizeof what, "account \"%s\": password_command",
		    a->name);
		bad += check_shell_line(&a->src, what, a->password_command,
		    cfg->timeout);
	}
	return bad;
}

/* SMTP and LMTP destinations that log in. */
static int
check_destination(const struct destination *d)
{
	char what[300];
	int bad = 0;

	if (d->user == NULL)
		return 0;
	if (d->tls == TLS_MODE_NONE && !d->allow_plaintext_auth) {
		log_error_at(d->src.file, d->src.line, "destination \"%s\": "
		    "\"user\" with tls = \"none\" and without "
		    "allow_plaintext_auth = true: the login will be refused, as "
		    "credentials are never sent in clear text", d->name);
		bad++;
	}
	if (d->password_command != NULL) {
		snprintf(what, sizeof what, "destination \"%s\": "
		    "password_command", d->name);
		bad += check_shell_line(&d->src, what, d->password_command,
		    d->timeout);
	}
	return bad;
}

/* The shipped pipe filter runs its command without a shell. */
static int
check_pipe_rule(const struct account *a, const struct rule *r)
{
	const char *line = NULL, *why;
	char **argv;
	int bad = 0;

	if (r->plugin == NULL || strcmp(r->plugin->name, "pipe") != 0 ||
	    r->args == NULL || !config_setting_lookup_string(r->args,
	    "command", &line))
		return 0;
	argv = command_split(line, &why);
	if (argv != NULL && !command_exists(argv[0])) {
		char where[512] = "";

		if (strchr(argv[0], '/') == NULL)
			snprintf(where, sizeof where, " in PATH (%s)",
			    path_shown());
		log_error_at(r->src.file, r->src.line, "account \"%s\", rule "
		    "\"%s\": the pipe command %s is not found%s", a->name,
		    r->name, argv[0], where);
		bad = 1;
	}
	command_free_argv(argv);
	return bad;
}

int
check_runtime(const struct config *cfg)
{
	int bad = 0;

	for (size_t i = 0; i < cfg->naccounts; i++) {
		const struct account *a = &cfg->accounts[i];

		bad += check_account(cfg, a);
		for (size_t r = 0; r < a->nrules; r++)
			bad += check_pipe_rule(a, &a->rules[r]);
	}
	for (size_t i = 0; i < cfg->ndests; i++)
		bad += check_destination(&cfg->dests[i]);
	return bad;
}
