/* enclaver runtime: small helpers of the in-enclave programs (supervisor, init).
 * These programs are linked statically and do not use libenclaver; errors are reported
 * as text in a caller-provided buffer (char *err, size_t errlen) and -1/NULL returns.
 * What they share with the core (allocation, safe I/O, JSON lines, the log line
 * format) comes from common/, included here. */
#ifndef ENCLAVER_RTUTIL_H
#define ENCLAVER_RTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/fdio.h"
#include "common/jsonl.h"
#include "common/logline.h"
#include "common/xalloc.h"

#define RT_ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

/* snprintf into err (may be NULL); always returns -1 so callers can `return rt_err (...)`. */
int rt_err (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* NULL-terminated string vectors. */
size_t rt_strv_len (char *const *v);
void rt_strv_free (char **v);
char **rt_strv_dup (char *const *v);
/* Append a copy of s; *v may be NULL.  Returns the new vector. */
char **rt_strv_push (char **v, const char *s);
/* Value of NAME in a KEY=VALUE vector, or NULL. */
const char *rt_env_get (char *const *env, const char *name);

/* Format "PROG: message\n" into buf (cap >= 64 bytes; the message is cut to fit; the
 * line format of common/logline.c), write it to stderr, and return its length (the line
 * stays in buf for other destinations).  Never allocates. */
size_t rt_vsay (char *buf, size_t cap, const char *prog, const char *fmt, va_list ap)
  __attribute__ ((format (printf, 4, 0)));

/* Find an executable for argv[0] the way execvp does, on the given PATH value
 * (NULL or empty: the default "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
 * A name containing '/' is returned as is if it exists.  Returns a malloc'd path or NULL
 * with err describing why (and errno set: ENOENT, EACCES, ...). */
char *rt_find_program (const char *name, const char *path, char *err, size_t errlen);

/* Base64, RFC 4648 standard alphabet: padding optional but, when present, exact; no
 * white space; non-zero bits after the last byte refused.  out needs len * 3 / 4 + 3
 * bytes.  Returns the length, or -1 with *why set. */
long rt_b64_decode (const char *s, size_t len, uint8_t *out, const char **why);
/* malloc'd, NUL-terminated, padded. */
char *rt_b64_encode (const uint8_t *p, size_t n);

#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#endif
