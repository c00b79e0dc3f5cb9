/* enclaver: logging to stderr, as text or JSON lines (docs/logging.md).
 *
 * One direction: this file prints error objects (core/error.c) and formats its lines
 * with common/logline.c; nothing it calls makes an error or logs. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <enclaver/log.h>
#include "common/logline.h"
#include "common/xalloc.h"

#define PROG "enclaver"
#define MAX_FIELDS 32

static int log_level = ENCLAVER_LOG_INFO;
static int log_format = ENCLAVER_LOG_TEXT;

/* The running stage; the lock also keeps the lines of concurrent threads whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *run_stage;
static int run_stage_index = -1;

/* Members a field may not be called (they are the record's own). */
static const char *const reserved[] = { "time", "level", "stage", "stage_index", "component", "msg" };

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
enclaver_log_set_stage (const char *name, int index)
{
  char *copy = xstrdup (name);
  pthread_mutex_lock (&log_lock);
  free (run_stage);
  run_stage = copy;
  run_stage_index = name ? index : -1;
  pthread_mutex_unlock (&log_lock);
}

static int
is_reserved (const char *key)
{
  size_t i;
  for (i = 0; i < ARRAY_SIZE (reserved); i++)
    if (strcmp (key, reserved[i]) == 0)
      return 1;
  return 0;
}

/* "stage:NAME[:INDEX]" -> NAME (len) and INDEX; 0 if source does not name a stage. */
static int
parse_stage_source (const char *source, size_t *name_len, long *index)
{
  const char *name, *colon;
  char *end;

  if (source == NULL || strncmp (source, "stage:", 6) != 0 || source[6] == '\0')
    return 0;
  name = source + 6;
  colon = strrchr (name, ':');
  *index = -1;
  *name_len = strlen (name);
  if (colon && colon[1] >= '0' && colon[1] <= '9')
    {
      long v = strtol (colon + 1, &end, 10);
      if (*end == '\0')
        {
          *index = v;
          *name_len = (size_t) (colon - name);
        }
    }
  return 1;
}

/* Append the JSON record of one message to sb (the lock is held).  The stage is the
 * one the source names, else the one running, else the one a field names (an error
 * that failed a stage and is printed once the pipeline has stopped). */
static void
json_record (struct strbuf *sb, int level, const char *source, const char *msg, size_t msglen,
             const struct enclaver_field *const *fields, size_t nfields)
{
  struct jsonl j;
  size_t name_len, i, k;
  long index;
  int named = parse_stage_source (source, &name_len, &index);

  logline_json_begin (&j, sb, level);
  if (named)
    {
      jsonl_strn (&j, "stage", source + 6, name_len);
      if (index >= 0)
        jsonl_int (&j, "stage_index", index);
    }
  else if (run_stage)
    {
      jsonl_str (&j, "stage", run_stage);
      if (run_stage_index >= 0)
        jsonl_int (&j, "stage_index", run_stage_index);
    }
  else
    {
      for (i = 0; i < nfields; i++)
        if (fields[i]->key && fields[i]->type == ENCLAVER_FIELD_STRING
            && strcmp (fields[i]->key, "stage") == 0)
          {
            jsonl_str (&j, "stage", fields[i]->str);
            for (k = 0; k < nfields; k++)
              if (fields[k]->key && fields[k]->type == ENCLAVER_FIELD_INT
                  && strcmp (fields[k]->key, "stage_index") == 0)
                {
                  jsonl_int (&j, "stage_index", fields[k]->num);
                  break;
                }
            break;
          }
    }
  if (!named)
    jsonl_str (&j, "component", source);
  jsonl_strn (&j, "msg", msg, msglen);
  for (i = 0; i < nfields; i++)
    {
      const struct enclaver_field *f = fields[i];
      int dup = 0;
      if (f->key == NULL || is_reserved (f->key))
        continue;
      for (k = 0; k < i; k++)
        dup |= fields[k]->key && strcmp (fields[k]->key, f->key) == 0;
      if (dup)
        continue;
      if (f->type == ENCLAVER_FIELD_INT)
        jsonl_int (&j, f->key, f->num);
      else
        jsonl_str (&j, f->key, f->str);
    }
  jsonl_end (&j);
}

/* Called around every line (enclaver_log_set_line_hook): the progress display. */
static void (*line_hook) (int before);

void
enclaver_log_set_line_hook (void (*hook) (int before))
{
  __atomic_store_n (&line_hook, hook, __ATOMIC_RELEASE);
}

/* Set by enclaver_log_set_writer; read under no lock: it is set and cleared by the
 * one thread that runs the program's loop, before and after it runs. */
static int (*line_writer) (const char *, size_t, void *);
static void *line_writer_ud;

void
enclaver_log_set_writer (int (*writer) (const char *line, size_t len, void *ud), void *ud)
{
  __atomic_store_n (&line_writer_ud, ud, __ATOMIC_RELEASE);
  __atomic_store_n (&line_writer, writer, __ATOMIC_RELEASE);
}

static void
emit (struct strbuf *sb)
{
  void (*hook) (int) = __atomic_load_n (&line_hook, __ATOMIC_ACQUIRE);
  int (*writer) (const char *, size_t, void *) = __atomic_load_n (&line_writer, __ATOMIC_ACQUIRE);
  if (writer && writer (sb->data, sb->len, __atomic_load_n (&line_writer_ud, __ATOMIC_ACQUIRE)))
    return;
  if (hook)
    hook (1);
  fwrite (sb->data, 1, sb->len, stderr);
  fflush (stderr);
  if (hook)
    hook (0);
}

/* One record (JSON) or one entry (text). */
static void
log_one (int level, const char *source, const char *msg, size_t msglen,
         const struct enclaver_field *const *fields, size_t nfields)
{
  struct strbuf sb;

  strbuf_init (&sb);
  pthread_mutex_lock (&log_lock);
  if (log_format == ENCLAVER_LOG_JSON)
    json_record (&sb, level, source, msg, msglen, fields, nfields);
  else
    logline_text (&sb, PROG, source, level, msg, msglen);
  emit (&sb);
  pthread_mutex_unlock (&log_lock);
  strbuf_free (&sb);
}

void
enclaver_vlog_fields (int level, const char *source, const struct enclaver_field *fields,
                      size_t nfields, const char *fmt, va_list ap)
{
  const struct enclaver_field *ptrs[MAX_FIELDS] = { NULL };
  char *msg;
  size_t i;

  if (level > log_level)
    return;
  msg = xvasprintf (fmt, ap);
  if (nfields > MAX_FIELDS)
    nfields = MAX_FIELDS;
  for (i = 0; i < nfields; i++)
    ptrs[i] = &fields[i];
  log_one (level, source, msg, strlen (msg), ptrs, nfields);
  free (msg);
}

void
enclaver_log_fields (int level, const char *source, const struct enclaver_field *fields,
                     size_t nfields, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  enclaver_vlog_fields (level, source, fields, nfields, fmt, ap);
  va_end (ap);
}

void
enclaver_vlog (int level, const char *source, const char *fmt, va_list ap)
{
  enclaver_vlog_fields (level, source, NULL, 0, fmt, ap);
}

void
enclaver_log (int level, const char *source, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  enclaver_vlog_fields (level, source, NULL, 0, fmt, ap);
  va_end (ap);
}

void
enclaver_log_err (int level, const char *source, const struct enclaver_error_s *err, unsigned flags)
{
  size_t i, n;
  const char *d;

  if (err == NULL || level > log_level)
    return;
  n = enclaver_error_count (err);
  if (log_format == ENCLAVER_LOG_TEXT && !(flags & ENCLAVER_LOG_EACH))
    log_one (level, source, err->msg, strlen (err->msg), NULL, 0);
  else
    for (i = 0; i < n; i++)
      {
        const struct enclaver_field *fields[MAX_FIELDS];
        size_t nf = enclaver_error_fields (err, i, fields, MAX_FIELDS);
        char *msg = enclaver_error_problem_msg (err, i);
        log_one (level, source, msg, strlen (msg), fields, nf);
        free (msg);
      }
  for (i = 0; (d = enclaver_error_dropped (err, i)) != NULL; i++)
    enclaver_log (ENCLAVER_LOG_DEBUG, source, "second error while one was pending: %s", d);
}

void
enclaver_error_warn_and_release (enclaver_error_t *err, const char *source)
{
  if (err == NULL || *err == NULL)
    return;
  enclaver_log_err (ENCLAVER_LOG_WARNING, source, *err, 0);
  enclaver_error_release (err);
}
