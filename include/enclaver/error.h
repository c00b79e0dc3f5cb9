/* enclaver: the one error object used by every fallible function.
 *
 * Rule (see docs/design/error_handling.md):
 *  - A fallible function takes `enclaver_error_t *err` as its last argument.
 *  - On success it returns >= 0 (or non-NULL) and leaves *err untouched.
 *  - On failure it returns < 0 (or NULL) and sets *err with enclaver_make_error().
 *  - Callers add context on the way up with enclaver_error_wrap() and the top level
 *    prints and releases it (enclaver_error_release()).
 */
#ifndef ENCLAVER_ERROR_H
#define ENCLAVER_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
# define ENCLAVER_PRINTF(a, b) __attribute__ ((format (printf, a, b)))
#else
# define ENCLAVER_PRINTF(a, b)
#endif

struct enclaver_error_s
{
  int status;  /* errno-style code (EINVAL, ENOENT, ...), never 0 */
  char *msg;   /* human readable, with context prefixes "outer: inner" */
};
typedef struct enclaver_error_s *enclaver_error_t;

/* Set *err (which must be NULL) to a new error; returns -1.  status 0 means EINVAL. */
int enclaver_make_error (enclaver_error_t *err, int status, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
int enclaver_make_verror (enclaver_error_t *err, int status, const char *fmt, va_list ap) ENCLAVER_PRINTF (3, 0);
/* Like enclaver_make_error, appending ": strerror(status)". */
int enclaver_make_errno (enclaver_error_t *err, int status, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
/* Prefix the message of *err with "context: "; returns -1.  No-op if *err is NULL. */
int enclaver_error_wrap (enclaver_error_t *err, const char *fmt, ...) ENCLAVER_PRINTF (2, 3);
void enclaver_error_release (enclaver_error_t *err);
/* Log *err at warning level with the given prefix (may be NULL) and release it. */
void enclaver_error_warn_and_release (enclaver_error_t *err, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
