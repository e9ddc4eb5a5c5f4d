/* Filesystem helpers: see include/qf/fs.h. */
#include "qf/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf/str.h"

int qf_fs_read(const char *path, size_t cap, char **out, size_t *len, qf_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qf_err_set(err, QF_CAT_VALIDATION, errno == ENOENT ? "input.not_found" : "input.unreadable",
		                  "could not open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return qf_err_set(err, QF_CAT_VALIDATION, "input.unreadable",
		                  "could not read %s: it is a directory", path);
	}
	size_t alloc = (st.st_size > 0 && (size_t)st.st_size <= cap) ? (size_t)st.st_size + 1 : 4096;
	char *data = malloc(alloc);
	size_t n = 0;
	if (!data) {
		close(fd);
		return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory reading %s", path);
	}
	for (;;) {
		if (n + 1 >= alloc) {
			if (alloc > cap + 1) {
				free(data);
				close(fd);
				return qf_err_set(err, QF_CAT_VALIDATION, "input.too_large",
				                  "%s is larger than the limit of %zu bytes", path, cap);
			}
			size_t na = alloc * 2 > cap + 2 ? cap + 2 : alloc * 2;
			char *p = realloc(data, na);
			if (!p) {
				free(data);
				close(fd);
				return qf_err_setrc(err, QF_ENOMEM, QF_CAT_SYSTEM, "system.memory", "out of memory reading %s", path);
			}
			data = p;
			alloc = na;
		}
		ssize_t k = read(fd, data + n, alloc - 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(data);
			close(fd);
			return qf_err_set(err, QF_CAT_VALIDATION, "input.unreadable",
			                  "could not read %s: %s", path, strerror(e));
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > cap) {
			free(data);
			close(fd);
			return qf_err_set(err, QF_CAT_VALIDATION, "input.too_large",
			                  "%s is larger than the limit of %zu bytes", path, cap);
		}
	}
	close(fd);
	data[n] = '\0';
	*out = data;
	if (len)
		*len = n;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int qf_fs_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int qf_fs_write_atomic(const char *path, const void *data, size_t len, qf_err *err)
{
	char tmp[QF_MAX_PATH];
	if (qf_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create %s: %s", tmp, strerror(errno));
	if (write_all(fd, data, len) || fsync(fd)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not write %s: %s", tmp, strerror(e));
	}
	if (close(fd) || rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not write %s: %s", path, strerror(e));
	}
	char dir[QF_MAX_PATH];
	qf_strlcpy(dir, path, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	} else {
		qf_strlcpy(dir, ".", sizeof(dir));
	}
	qf_fs_sync_dir(dir);
	return 0;
}

int qf_fs_write(const char *path, const void *data, size_t len, qf_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create %s: %s", path, strerror(errno));
	if (write_all(fd, data, len)) {
		int e = errno;
		close(fd);
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not write %s: %s", path, strerror(e));
	}
	if (close(fd))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not write %s: %s", path, strerror(errno));
	return 0;
}

int qf_fs_mkdir_p(const char *path, bool private_, qf_err *err)
{
	char p[QF_MAX_PATH];
	if (qf_strlcpy(p, path, sizeof(p)) >= sizeof(p))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.path", "path too long: %s", path);
	mode_t mode = private_ ? 0700 : 0755;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) && errno != EEXIST)
			return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create directory %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, mode) && errno != EEXIST)
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "could not create directory %s: %s", p, strerror(errno));
	struct stat st;
	if (stat(p, &st) || !S_ISDIR(st.st_mode))
		return qf_err_set(err, QF_CAT_SYSTEM, "system.io", "%s exists and is not a directory", p);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

int qf_fs_rm_rf(const char *path)
{
	if (!qf_fs_exists(path))
		return 0;
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

bool qf_fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int qf_fs_join(char *out, size_t size, const char *dir, const char *name)
{
	return qf_snprintf(out, size, "%s/%s", dir, name);
}

bool qf_fs_which(const char *name, char *out, size_t size)
{
	if (!name || !*name)
		return false;
	if (strchr(name, '/')) {
		if (access(name, X_OK) != 0)
			return false;
		struct stat st;
		if (stat(name, &st) || !S_ISREG(st.st_mode))
			return false;
		return qf_strlcpy(out, name, size) < size;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		char cand[QF_MAX_PATH];
		if (n == 0) {
			if (qf_snprintf(cand, sizeof(cand), "./%s", name) == 0 && access(cand, X_OK) == 0)
				return qf_strlcpy(out, cand, size) < size;
		} else if (qf_snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, path, name) == 0) {
			struct stat st;
			if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
				return qf_strlcpy(out, cand, size) < size;
		}
		if (!colon)
			break;
		path = colon + 1;
	}
	return false;
}

int qf_fs_self_path(char *out, size_t size)
{
	ssize_t n = size > 1 ? readlink("/proc/self/exe", out, size - 1) : -1;
	if (n <= 0 || (size_t)n >= size - 1)
		return QF_EINVAL;
	out[n] = '\0';
	return 0;
}

int qf_fs_self_dir(char *out, size_t size)
{
	if (qf_fs_self_path(out, size))
		return QF_EINVAL;
	char *slash = strrchr(out, '/');
	if (!slash)
		return QF_EINVAL;
	*slash = '\0';
	return 0;
}
