/* enclaver common helpers: the format of a log line (see logline.h). */
#include "config.h"

#include <string.h>
#include <time.h>

#include "common/logline.h"

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };

static int
clamp (int level)
{
  if (level < LOGLINE_ERROR)
    return LOGLINE_ERROR;
  if (level > LOGLINE_TRACE)
    return LOGLINE_TRACE;
  return level;
}

const char *
logline_level_name (int level)
{
  return level_names[clamp (level)];
}

/* "PROG: [SOURCE] TAG"; returns the limit to restore when the message is in. */
static size_t
text_begin (struct strbuf *sb, const char *prog, const char *source, int level)
{
  const char *tag = "";
  size_t limit = sb->limit;

  level = clamp (level);
  if (level == LOGLINE_ERROR)
    tag = "error: ";
  else if (level == LOGLINE_WARNING)
    tag = "warning: ";
  /* Keep one byte for the newline when the storage is fixed. */
  if (sb->fixed && sb->limit > sb->len)
    sb->limit--;
  if (source)
    strbuf_addf (sb, "%s: [%s] %s", prog, source, tag);
  else
    strbuf_addf (sb, "%s: %s", prog, tag);
  return limit;
}

static void
text_end (struct strbuf *sb, size_t limit)
{
  sb->limit = limit;
  strbuf_addc (sb, '\n');
}

void
logline_vtext (struct strbuf *sb, const char *prog, const char *source, int level,
               const char *fmt, va_list ap)
{
  size_t limit = text_begin (sb, prog, source, level);
  strbuf_vaddf (sb, fmt, ap);
  text_end (sb, limit);
}

void
logline_text (struct strbuf *sb, const char *prog, const char *source, int level,
              const char *msg, size_t msglen)
{
  size_t limit = text_begin (sb, prog, source, level);
  strbuf_add (sb, msg, msglen);
  text_end (sb, limit);
}

void
logline_time (char *buf, size_t cap, const struct timespec *ts)
{
  struct timespec now;
  struct tm tm;
  size_t n;

  if (ts == NULL)
    {
      clock_gettime (CLOCK_REALTIME, &now);
      ts = &now;
    }
  gmtime_r (&ts->tv_sec, &tm);
  n = strftime (buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf + n, cap - n, ".%03ldZ", (long) (ts->tv_nsec / 1000000));
}

void
logline_json_begin (struct jsonl *j, struct strbuf *sb, int level)
{
  char t[40];

  logline_time (t, sizeof t, NULL);
  jsonl_begin (j, sb);
  jsonl_str (j, "time", t);
  jsonl_str (j, "level", logline_level_name (level));
}
