#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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
