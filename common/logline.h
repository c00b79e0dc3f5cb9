/* enclaver common helpers: the format of a log line, shared by the enclaver tool
 * (core/log.c) and the runtime programs, so both speak the same way (docs/logging.md).
 *
 *   text:  PROG: [SOURCE] TAG MSG\n      (TAG "error: " or "warning: ", else empty)
 *   JSON:  {"time":"2026-12-04T03:00:00.123Z","level":"info",...}\n */
#ifndef ENCLAVER_COMMON_LOGLINE_H
#define ENCLAVER_COMMON_LOGLINE_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include "common/base.h"
#include "common/jsonl.h"
#include "common/strbuf.h"

/* The levels, numbered as enum enclaver_log_level in <enclaver/log.h>. */
enum
{
  LOGLINE_ERROR = 0,
  LOGLINE_WARNING,
  LOGLINE_INFO,
  LOGLINE_DEBUG,
  LOGLINE_TRACE,
};

/* "error", "warning", "info", "debug", "trace" (out-of-range levels are clamped). */
const char *logline_level_name (int level) ENCLAVER_INTERNAL;

/* Append one text line.  source may be NULL.  In fixed storage the message is cut so
 * the line still ends with its newline. */
void logline_text (struct strbuf *sb, const char *prog, const char *source, int level,
                   const char *msg, size_t msglen) ENCLAVER_INTERNAL;
/* The same with the message given as a format. */
void logline_vtext (struct strbuf *sb, const char *prog, const char *source, int level,
                    const char *fmt, va_list ap) __attribute__ ((format (printf, 5, 0))) ENCLAVER_INTERNAL;

/* RFC 3339 time in UTC with milliseconds ("2026-12-04T03:00:00.123Z") into buf (at
 * least 32 bytes); ts NULL means now. */
void logline_time (char *buf, size_t cap, const struct timespec *ts) ENCLAVER_INTERNAL;

/* Begin a JSON record with its "time" (now) and "level"; the caller adds the other
 * members and closes it with jsonl_end. */
void logline_json_begin (struct jsonl *j, struct strbuf *sb, int level) ENCLAVER_INTERNAL;

#endif
