/* enclaver: logging to stderr, as text or JSON lines. */
#include "config.h"

#include <stdarg.h>
#include <jansson.h>

#include <enclaver/log.h>
#include "util.h"

static int log_level = ENCLAVER_LOG_INFO;
static int log_format = ENCLAVER_LOG_TEXT;

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };

void
enclaver_log_set_level (int level)
{
  if (level < ENCLAVER_LOG_ERROR)
    level = ENCLAVER_LOG_ERROR;
  if (level > ENCLAVER_LOG_TRACE)
    level = ENCLAVER_LOG_TRACE;
  log_level = level;
}

int
enclaver_log_get_level (void)
{
  return log_level;
}

void
enclaver_log_set_format (int format)
{
  log_format = format == ENCLAVER_LOG_JSON ? ENCLAVER_LOG_JSON : ENCLAVER_LOG_TEXT;
}

int
enclaver_log_get_format (void)
{
  return log_format;
}

int
enclaver_log_parse_format (const char *s)
{
  if (strcmp (s, "text") == 0)
    return ENCLAVER_LOG_TEXT;
  if (strcmp (s, "json") == 0)
    return ENCLAVER_LOG_JSON;
  return -1;
}

void
enclaver_vlog (int level, const char *source, const char *fmt, va_list ap)
{
  cleanup_free char *msg = NULL;

  if (level > log_level)
    return;
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  if (level < 0)
    level = 0;
  if (level > ENCLAVER_LOG_TRACE)
    level = ENCLAVER_LOG_TRACE;

  if (log_format == ENCLAVER_LOG_JSON)
    {
      json_t *o = json_object ();
      cleanup_free char *line = NULL;
      json_object_set_new (o, "level", json_string (level_names[level]));
      if (source)
        json_object_set_new (o, "source", json_string (source));
      json_object_set_new (o, "msg", json_stringn (msg, strlen (msg)));
      line = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
      json_decref (o);
      if (line)
        fprintf (stderr, "%s\n", line);
    }
  else
    {
      const char *tag = "";
      if (level == ENCLAVER_LOG_ERROR)
        tag = "error: ";
      else if (level == ENCLAVER_LOG_WARNING)
        tag = "warning: ";
      if (source)
        fprintf (stderr, "enclaver: [%s] %s%s\n", source, tag, msg);
      else
        fprintf (stderr, "enclaver: %s%s\n", tag, msg);
    }
  fflush (stderr);
}

void
enclaver_log (int level, const char *source, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  enclaver_vlog (level, source, fmt, ap);
  va_end (ap);
}
