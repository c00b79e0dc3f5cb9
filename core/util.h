/* enclaver: internal helpers shared by the core (not installed, not exported). */
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

#define ENCLAVER_INTERNAL __attribute__ ((visibility ("hidden")))
#define UNLIKELY(x) __builtin_expect (!!(x), 0)
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

/* Aborting allocators: OOM is not an error path. */
__attribute__ ((noreturn)) void xoom (void) ENCLAVER_INTERNAL;
void *xmalloc (size_t n) ENCLAVER_INTERNAL;
void *xmalloc0 (size_t n) ENCLAVER_INTERNAL;
void *xrealloc (void *p, size_t n) ENCLAVER_INTERNAL;
void *xreallocarray (void *p, size_t nmemb, size_t size) ENCLAVER_INTERNAL;
char *xstrdup (const char *s) ENCLAVER_INTERNAL;
char *xstrndup (const char *s, size_t n) ENCLAVER_INTERNAL;
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2))) ENCLAVER_INTERNAL;

/* Scope-based cleanup. */
static inline void cleanup_freep (void *p) { free (*(void **) p); }
static inline void cleanup_closep (int *fd) { if (*fd >= 0) close (*fd); }
static inline void cleanup_fclosep (FILE **f) { if (*f) fclose (*f); }
static inline void cleanup_closedirp (DIR **d) { if (*d) closedir (*d); }
static inline void cleanup_errorp (enclaver_error_t *e) { enclaver_error_release (e); }
#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_fclosep)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_closedirp)))
#define cleanup_error __attribute__ ((cleanup (cleanup_errorp)))

/* Free n strings and the array holding them. */
void enclaver_strv_free (char **v, size_t n) ENCLAVER_INTERNAL;

/* Read a whole file (max_size bytes at most, else EFBIG); NUL-terminated. */
int enclaver_read_file (const char *path, size_t max_size, char **out, size_t *len,
                        enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Read a whole stream (max_size bytes at most); NUL-terminated. */
int enclaver_read_stream (FILE *f, const char *name, size_t max_size, char **out, size_t *len,
                          enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Write all of buf to fd, retrying on EINTR/short writes. */
int enclaver_write_all (int fd, const void *buf, size_t len) ENCLAVER_INTERNAL;
/* The same at file offset off (pwrite); -1 with errno on failure. */
int enclaver_pwrite_all (int fd, const void *buf, size_t len, uint64_t off) ENCLAVER_INTERNAL;
/* Write data to path atomically (temporary name in the same directory, fsync, rename). */
int enclaver_write_file_atomic (const char *path, const void *buf, size_t len, int mode,
                                enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Levenshtein distance, for did-you-mean suggestions. */
size_t enclaver_edit_distance (const char *a, const char *b) ENCLAVER_INTERNAL;
/* Absolute path of p resolved against dir (dir NULL = cwd); lexical, no symlinks. */
char *enclaver_path_join_abs (const char *dir, const char *p) ENCLAVER_INTERNAL;
/* Directory of the running executable (malloc'd), or NULL. */
char *enclaver_self_dir (void) ENCLAVER_INTERNAL;
/* 1 when dir lies inside the build tree this code was built in. */
int enclaver_in_build_tree (const char *dir) ENCLAVER_INTERNAL;
/* An installation directory (e.g. PKGLIBDIR, configured under PREFIX) as seen from the
 * running program when the install tree was moved: <exe dir>/..(per bindir level)/<dir
 * relative to prefix>.  NULL when the program runs from its build tree or when dir is
 * not under the prefix. */
char *enclaver_relocated_dir (const char *configured) ENCLAVER_INTERNAL;

#endif
