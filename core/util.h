/* enclaver: internal helpers of the core (not installed, not exported).
 *
 * The libc-only helpers (allocation, fd I/O, paths, JSON lines, log line format) live
 * in common/ and are shared with the runtime programs; this header gathers them for
 * the core and adds the helpers that report through enclaver_error_t (core/util.c).
 * Arrows: core/util.c -> core/error.c -> common/; nothing here logs. */
#ifndef ENCLAVER_UTIL_H
#define ENCLAVER_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <enclaver/error.h>

#include "common/base.h"
#include "common/fdio.h"
#include "common/paths.h"
#include "common/xalloc.h"

static inline void cleanup_errorp (enclaver_error_t *e) { enclaver_error_release (e); }
#define cleanup_error __attribute__ ((cleanup (cleanup_errorp)))

/* Free n strings and the array holding them. */
void enclaver_strv_free (char **v, size_t n) ENCLAVER_INTERNAL;

/* Open a file named by the user or an image for reading (enclaver_open_regular: a FIFO,
 * socket or device neither blocks nor is read).  flags adds O_NOFOLLOW etc.  The
 * descriptor, or -1 with *err "open PATH: ..." or "PATH is a FIFO, not a regular file"
 * (status EISDIR or EINVAL), errno kept. */
int enclaver_open_file (const char *path, int flags, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* The same relative to the directory dfd; display names the file in messages. */
int enclaver_open_file_at (int dfd, const char *name, const char *display, int flags,
                           enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Read a whole file (max_size bytes at most, else EFBIG); NUL-terminated.  Opened with
 * enclaver_open_file. */
int enclaver_read_file (const char *path, size_t max_size, char **out, size_t *len,
                        enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Read a whole stream (max_size bytes at most); NUL-terminated. */
int enclaver_read_stream (FILE *f, const char *name, size_t max_size, char **out, size_t *len,
                          enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Write data to path atomically (temporary name in the same directory, fsync, rename). */
int enclaver_write_file_atomic (const char *path, const void *buf, size_t len, int mode,
                                enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Levenshtein distance, for did-you-mean suggestions. */
size_t enclaver_edit_distance (const char *a, const char *b) ENCLAVER_INTERNAL;
/* Directory of the running executable (malloc'd), or NULL. */
char *enclaver_self_dir (void) ENCLAVER_INTERNAL;
/* 1 when dir lies inside the build tree this code was built in. */
int enclaver_in_build_tree (const char *dir) ENCLAVER_INTERNAL;
/* An installation directory (e.g. PKGLIBDIR, configured under PREFIX) as seen from the
 * running program when the install tree was moved: <exe dir>/..(per bindir level)/<dir
 * relative to prefix>.  NULL when the program runs from its build tree or when dir is
 * not under the prefix. */
char *enclaver_relocated_dir (const char *configured) ENCLAVER_INTERNAL;
/* rm -rf of a directory enclaver created (symlinks are removed, never followed). */
void enclaver_remove_tree (const char *path) ENCLAVER_INTERNAL;

#endif
