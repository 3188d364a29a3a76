#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "xmalloc.h"

int
mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char *copy;
	struct stat st;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		return err_set(e, ERR_TEMP, "%s exists and is not a directory",
		    path);
	}
	copy = xstrdup(path);
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, mode) == -1 && errno != EEXIST) {
			err_sys(e, ERR_TEMP, "cannot create directory %s", copy);
			free(copy);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return 0;
}

int
check_creatable(const char *path, bool want_dir, struct err *e)
{
	char *copy = xstrdup(path), *slash;
	struct stat st;
	int rc = 0;

	if (stat(path, &st) == 0) {
		if (want_dir && !S_ISDIR(st.st_mode))
			rc = err_set(e, ERR_CONFIG, "%s is not a directory", path);
		else if (!want_dir && S_ISDIR(st.st_mode))
			rc = err_set(e, ERR_CONFIG, "%s is a directory", path);
		else if (access(path, W_OK) == -1)
			rc = err_sys(e, ERR_CONFIG, "%s", path);
		free(copy);
		return rc;
	}
	/* Find the nearest existing ancestor: it must let us create. */
	while ((slash = strrchr(copy, '/')) != NULL) {
		*slash = '\0';
		if (copy[0] == '\0')
			strcpy(copy, "/");
		if (stat(copy, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				rc = err_set(e, ERR_CONFIG, "%s: %s is not a "
				    "directory", path, copy);
			else if (access(copy, W_OK | X_OK) == -1)
				rc = err_sys(e, ERR_CONFIG, "%s cannot be "
				    "created in %s", path, copy);
			free(copy);
			return rc;
		}
		if (strcmp(copy, "/") == 0)
			break;
	}
	free(copy);
	return err_set(e, ERR_CONFIG, "%s cannot be created", path);
}

int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fsync_dir(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		return err_sys(e, ERR_TEMP, "cannot open directory %s", path);
	if (fsync(fd) == -1 && errno != EINVAL) {
		err_sys(e, ERR_TEMP, "cannot sync directory %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static const char *
home_directory(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && *home != '\0')
		return home;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : "/";
}

char *
expand_path(const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
		return xasprintf("%s%s", home_directory(), path + 1);
	if (strncmp(path, "$HOME", 5) == 0 &&
	    (path[5] == '/' || path[5] == '\0'))
		return xasprintf("%s%s", home_directory(), path + 5);
	if (strncmp(path, "${HOME}", 7) == 0 &&
	    (path[7] == '/' || path[7] == '\0'))
		return xasprintf("%s%s", home_directory(), path + 7);
	return xstrdup(path);
}

char *
safe_file_name(const char *name)
{
	char *out = xmalloc(strlen(name) * 3 + 1), *o = out;

	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    (c == '.' && p != name))
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

char *
path_beside(const char *file, const char *path)
{
	char *copy, *dir, *out, cwd[PATH_MAX];

	if (path[0] == '/')
		return xstrdup(path);
	copy = xstrdup(file);
	dir = dirname(copy);
	if (dir[0] == '/')
		out = xasprintf("%s/%s", dir, path);
	else if (getcwd(cwd, sizeof cwd) != NULL)
		out = xasprintf("%s/%s/%s", cwd, dir, path);
	else
		out = xasprintf("%s/%s", dir, path);
	free(copy);
	return out;
}

enum trust
trust_verdict(const struct stat *st, uid_t uid, bool holder)
{
	if (st->st_uid != uid && st->st_uid != 0)
		return TRUST_OWNER;
	/* Nobody can rename or remove another's file there. */
	if (holder && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) &&
	    st->st_uid == 0)
		return TRUST_OK;
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return TRUST_WRITABLE;
	return TRUST_OK;
}

static const char *
user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, size, "user %s", pw->pw_name);
	else
		snprintf(buf, size, "uid %lu", (unsigned long)uid);
	return buf;
}

/* The refusal: `path` itself, or the directory holding `held`. */
static int
refuse(const char *what, const char *path, const char *held,
    const struct stat *st, enum trust t, bool root_ok, struct err *e)
{
	const char *not_us = root_ok ? "not to you or root" : "not to you";
	const char *by = (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ?
	    "its group and others" : (st->st_mode & S_IWGRP) ? "its group" :
	    "others";
	unsigned mode = (unsigned)(st->st_mode & 07777);
	char owner[64];

	user_name(st->st_uid, owner, sizeof owner);
	if (t == TRUST_WRITABLE && held == NULL)
		return err_set(e, ERR_CONFIG, "%s %s is writable by %s (mode "
		    "%04o): another user could change what mailferry does; "
		    "run: chmod go-w %s", what, path, by, mode, path);
	if (t == TRUST_WRITABLE)
		return err_set(e, ERR_CONFIG, "%s %s is in %s, which is "
		    "writable by %s (mode %04o): another user could replace "
		    "it; run: chmod go-w %s", what, held, path, by, mode, path);
	if (held == NULL)
		return err_set(e, ERR_CONFIG, "%s %s belongs to %s, %s: that "
		    "user could change what mailferry does; use one of your "
		    "own", what, path, owner, not_us);
	return err_set(e, ERR_CONFIG, "%s %s is in %s, which belongs to %s, "
	    "%s: that user could replace it; move it to a directory of your "
	    "own", what, held, path, owner, not_us);
}

int
trust_dir(const char *what, const char *path, struct err *e)
{
	struct stat st;
	enum trust t;

	if (stat(path, &st) == -1)
		return err_sys(e, ERR_CONFIG, "%s %s", what, path);
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_CONFIG, "%s %s is not a directory", what,
		    path);
	t = trust_verdict(&st, geteuid(), false);
	return t == TRUST_OK ? 0 : refuse(what, path, NULL, &st, t, true, e);
}

/* The directory holding `path` (or, resolved, its target). */
static int
trust_holder(const char *what, const char *path, bool resolve,
    struct err *e)
{
	char *copy = resolve ? realpath(path, NULL) : xstrdup(path), *dir;
	struct stat st;
	enum trust t;
	int rc = 0;

	if (copy == NULL)
		return err_sys(e, ERR_CONFIG, "%s %s", what, path);
	dir = dirname(copy);
	if (stat(dir, &st) == -1)
		rc = err_sys(e, ERR_CONFIG, "%s %s: %s", what, path, dir);
	else if ((t = trust_verdict(&st, geteuid(), true)) != TRUST_OK)
		rc = refuse(what, dir, path, &st, t, true, e);
	free(copy);
	return rc;
}

int
trust_file(const char *what, const char *path, const struct stat *st,
    struct err *e)
{
	enum trust t = trust_verdict(st, geteuid(), false);
	struct stat lst;

	if (t != TRUST_OK)
		return refuse(what, path, NULL, st, t, true, e);
	if (trust_holder(what, path, false, e) == -1)
		return -1;
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
		return trust_holder(what, path, true, e);
	return 0;
}

int
trust_own_file(const char *what, const char *path, const struct stat *st,
    struct err *e)
{
	enum trust t = trust_verdict(st, geteuid(), false);

	if (!S_ISREG(st->st_mode))
		return err_set(e, ERR_CONFIG, "%s %s is not a regular file",
		    what, path);
	if (st->st_uid != geteuid())
		t = TRUST_OWNER;
	return t == TRUST_OK ? 0 : refuse(what, path, NULL, st, t, false, e);
}
