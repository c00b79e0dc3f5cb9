/* enclaver: the one error object used by every fallible function.
 *
 * Rule (see docs/design/error_handling.md):
 *  - A fallible function takes `enclaver_error_t *err` as its last argument.
 *  - On success it returns >= 0 (or non-NULL) and leaves *err untouched.
 *  - On failure it returns < 0 (or NULL) and sets *err with enclaver_make_error().
 *  - Callers add context on the way up with enclaver_error_wrap() and the top level
 *    prints and releases it (enclaver_log_err() in <enclaver/log.h>,
 *    enclaver_error_release()).
 *
 * An error holds one problem or several (a manifest with three mistakes: one error,
 * three problems, each a line of msg), and structured fields (file, line, layer,
 * digest, ...) that the JSON log format prints as members of the records
 * (docs/logging.md).  Making an error never logs: this file depends on nothing but
 * the allocators of common/.
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

struct enclaver_error_detail;

struct enclaver_error_s
{
  int status;  /* errno-style code (EINVAL, ENOENT, ...), never 0 */
  char *msg;   /* human readable, with context prefixes "outer: inner"; the problems of
                  an error with several are joined with '\n' */
  struct enclaver_error_detail *detail; /* private to core/error.c (problems, fields) */
};
typedef struct enclaver_error_s *enclaver_error_t;

/* A structured field of an error or a log record. */
enum enclaver_field_type
{
  ENCLAVER_FIELD_STRING = 0,
  ENCLAVER_FIELD_INT = 1,
};
struct enclaver_field
{
  const char *key;  /* "file", "line", "column", "key", "layer", "digest", "offset", ... */
  int type;         /* enum enclaver_field_type */
  const char *str;  /* ENCLAVER_FIELD_STRING; NULL: the field is left out */
  long long num;    /* ENCLAVER_FIELD_INT */
};
#define ENCLAVER_FIELD_STR(k, v) { (k), ENCLAVER_FIELD_STRING, (v), 0 }
#define ENCLAVER_FIELD_NUM(k, v) { (k), ENCLAVER_FIELD_INT, NULL, (long long) (v) }

/* Set *err (which must be NULL) to a new error; returns -1.  status 0 means EINVAL.
 * If *err is already set it is kept (never overwritten); the new message is kept
 * aside as a dropped error (the log shows it at debug level). */
int enclaver_make_error (enclaver_error_t *err, int status, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
int enclaver_make_verror (enclaver_error_t *err, int status, const char *fmt, va_list ap) ENCLAVER_PRINTF (3, 0);
/* Like enclaver_make_error, appending ": strerror(status)". */
int enclaver_make_errno (enclaver_error_t *err, int status, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
/* Prefix the message of *err with "context: "; returns -1.  No-op if *err is NULL. */
int enclaver_error_wrap (enclaver_error_t *err, const char *fmt, ...) ENCLAVER_PRINTF (2, 3);
void enclaver_error_release (enclaver_error_t *err);

/* Add one more problem to *err (making the error if *err is NULL; the status stays
 * that of the first problem): a line of its own in msg, a record of its own in the
 * JSON log, with the nfields fields given (copied; may be 0).  Returns -1. */
int enclaver_error_add (enclaver_error_t *err, int status, const struct enclaver_field *fields,
                        size_t nfields, const char *fmt, ...) ENCLAVER_PRINTF (5, 6);
/* Attach a field to every problem of *err (a problem's own field of the same key is
 * kept, and so is a field of the error set earlier: the innermost caller, which set it
 * first, knows best).  No-op if *err is NULL or value is NULL.  Returns -1. */
int enclaver_error_set_field (enclaver_error_t *err, const char *key, const char *value);
int enclaver_error_set_field_int (enclaver_error_t *err, const char *key, long long value);
/* Move *src into *dst and clear *src (if *dst is set already, *src becomes a dropped
 * error of it).  Returns -1. */
int enclaver_error_move (enclaver_error_t *dst, enclaver_error_t *src);

/* Reading an error back (the log, tests). */
size_t enclaver_error_count (const struct enclaver_error_s *e);
/* Message of problem i (malloc'd): the context added by enclaver_error_wrap, then the
 * problem's own text.  For an error with one problem, a copy of msg. */
char *enclaver_error_problem_msg (const struct enclaver_error_s *e, size_t i);
/* Up to max fields of problem i into out (its own first, then the error's); returns
 * how many.  The pointers stay valid until the error changes. */
size_t enclaver_error_fields (const struct enclaver_error_s *e, size_t i,
                              const struct enclaver_field **out, size_t max);
/* The string value of field key of problem i, or NULL (integers are not converted). */
const char *enclaver_error_get_field (const struct enclaver_error_s *e, size_t i, const char *key);
/* Message of the i-th error dropped because this one was pending, or NULL. */
const char *enclaver_error_dropped (const struct enclaver_error_s *e, size_t i);

#ifdef __cplusplus
}
#endif
#endif
