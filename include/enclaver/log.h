/* enclaver: logging.  Messages go to stderr, as text ("enclaver: [stage:fetch:0] msg")
 * or, with --log-format json, one JSON object per line:
 *   {"time":"2026-12-04T03:00:00.123Z","level":"info","stage":"fetch","stage_index":0,
 *    "msg":"...","layer":"sha256:..."}
 * The record format is described in docs/logging.md. */
#ifndef ENCLAVER_LOG_H
#define ENCLAVER_LOG_H

#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum enclaver_log_level
{
  ENCLAVER_LOG_ERROR = 0,
  ENCLAVER_LOG_WARNING = 1,
  ENCLAVER_LOG_INFO = 2,
  ENCLAVER_LOG_DEBUG = 3,
  ENCLAVER_LOG_TRACE = 4,
};

enum enclaver_log_format
{
  ENCLAVER_LOG_TEXT = 0,
  ENCLAVER_LOG_JSON = 1,
};

void enclaver_log_set_level (int level);
int enclaver_log_get_level (void);
void enclaver_log_set_format (int format);
int enclaver_log_get_format (void);
/* Parse "text" / "json"; returns -1 for anything else. */
int enclaver_log_parse_format (const char *s);
/* The stage now running (name NULL: none), named in the JSON records logged meanwhile
 * ("stage", "stage_index"); index < 0 leaves the index out. */
void enclaver_log_set_stage (const char *name, int index);
/* A function called with 1 before each line is printed and with 0 after it, for a
 * program that draws on the terminal below the log (the pull and push progress erases
 * itself and holds its lock meanwhile); NULL: none.  The hook must not log. */
void enclaver_log_set_line_hook (void (*hook) (int before));
/* A function that takes each formatted line (with its newline) instead of stderr, for
 * a program whose stderr must not block it (enclaver run's event loop); it returns 0
 * when it did not take the line (it is then written to stderr).  NULL: stderr.  It is
 * called from the thread that logs and must not log. */
void enclaver_log_set_writer (int (*writer) (const char *line, size_t len, void *ud), void *ud);

/* source may be NULL (plain "enclaver: msg"), a stage ("stage:fetch:0") or a component
 * ("lua", "loader", ...). */
void enclaver_log (int level, const char *source, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
void enclaver_vlog (int level, const char *source, const char *fmt, va_list ap) ENCLAVER_PRINTF (3, 0);
/* The same with structured fields: members of the JSON record (text: not shown). */
void enclaver_log_fields (int level, const char *source, const struct enclaver_field *fields,
                          size_t nfields, const char *fmt, ...) ENCLAVER_PRINTF (5, 6);
void enclaver_vlog_fields (int level, const char *source, const struct enclaver_field *fields,
                           size_t nfields, const char *fmt, va_list ap) ENCLAVER_PRINTF (5, 0);

/* Log an error: JSON, one record per problem with its fields; text, the message as
 * one entry ("enclaver: error: msg", later problems on the lines below it), or with
 * ENCLAVER_LOG_EACH one tagged line per problem.  Errors dropped because this one was
 * pending follow at debug level. */
#define ENCLAVER_LOG_EACH 1u
void enclaver_log_err (int level, const char *source, const struct enclaver_error_s *err,
                       unsigned flags);
/* Log *err at warning level with the given source (may be NULL) and release it. */
void enclaver_error_warn_and_release (enclaver_error_t *err, const char *source);

#define enclaver_log_error(...) enclaver_log (ENCLAVER_LOG_ERROR, NULL, __VA_ARGS__)
#define enclaver_log_warning(...) enclaver_log (ENCLAVER_LOG_WARNING, NULL, __VA_ARGS__)
#define enclaver_log_info(...) enclaver_log (ENCLAVER_LOG_INFO, NULL, __VA_ARGS__)
#define enclaver_log_debug(...) enclaver_log (ENCLAVER_LOG_DEBUG, NULL, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
