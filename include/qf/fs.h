/*
 * Filesystem helpers: capped reads, atomic writes (tmp file, fsync, rename,
 * fsync of the directory), directory creation.
 */
#ifndef QF_FS_H
#define QF_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "qf/err.h"

/* Read a whole file (at most cap bytes) into a NUL-terminated heap buffer.
 * A larger file is a validation error naming the path and the cap. */
int qf_fs_read(const char *path, size_t cap, char **out, size_t *len, qf_err *err);

/* Write data to path atomically: path.tmp.<pid>, fsync, rename, fsync dir. */
int qf_fs_write_atomic(const char *path, const void *data, size_t len, qf_err *err);

/* Write data to a new or truncated file (not atomic; for scratch files). */
int qf_fs_write(const char *path, const void *data, size_t len, qf_err *err);

/* mkdir -p with mode 0755 (0700 when private). */
int qf_fs_mkdir_p(const char *path, bool private_, qf_err *err);

/* Remove a directory tree (no symlink following). For tests and scratch. */
int qf_fs_rm_rf(const char *path);

bool qf_fs_exists(const char *path);

/* Join a directory and a name into out (size bytes); QF_EINVAL if too long. */
int qf_fs_join(char *out, size_t size, const char *dir, const char *name);

/* fsync a directory (after creating or renaming entries in it). */
int qf_fs_sync_dir(const char *dir);

/* Find an executable in PATH (or use it as is when it contains '/').
 * Returns true and fills out when found. */
bool qf_fs_which(const char *name, char *out, size_t size);

/* The running program's path (/proc/self/exe), or its directory, into out:
 * 0, or QF_EINVAL when it cannot be read or does not fit. Modules, the web
 * app and the programs qforge starts are found beside it. */
int qf_fs_self_path(char *out, size_t size);
int qf_fs_self_dir(char *out, size_t size);

#endif
