/* enclaver: logging.  Messages go to stderr, as text ("enclaver: [stage:fetch] msg")
 * or, with --log-format json, one JSON object per line
 * ({"level":"info","source":"stage:fetch","msg":"..."}). */
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

/* source may be NULL (plain "enclaver: msg") or e.g. "stage:fetch". */
void enclaver_log (int level, const char *source, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);
void enclaver_vlog (int level, const char *source, const char *fmt, va_list ap) ENCLAVER_PRINTF (3, 0);

#define enclaver_log_error(...) enclaver_log (ENCLAVER_LOG_ERROR, NULL, __VA_ARGS__)
#define enclaver_log_warning(...) enclaver_log (ENCLAVER_LOG_WARNING, NULL, __VA_ARGS__)
#define enclaver_log_info(...) enclaver_log (ENCLAVER_LOG_INFO, NULL, __VA_ARGS__)
#define enclaver_log_debug(...) enclaver_log (ENCLAVER_LOG_DEBUG, NULL, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
