/* enclaver: error objects (see include/enclaver/error.h).
 *
 * One direction: this file uses the allocators of common/ and nothing else of
 * enclaver; it never logs (core/log.c prints errors, and depends on this file). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/error.h>
#include "common/xalloc.h"

#define WHOLE ((size_t) -1)

struct efield
{
  size_t problem;            /* WHOLE: a field of the whole error */
  struct enclaver_field f;   /* key and str owned */
};

struct enclaver_error_detail
{
  size_t nproblems;          /* >= 1 */
  size_t *starts;            /* offset of problem i in msg (starts[0] = 0) */
  size_t ctx_len;            /* bytes of enclaver_error_wrap context at the start of msg */
  struct efield *fields;
  size_t nfields;
  char **dropped;
  size_t ndropped;
};

static struct enclaver_error_detail *
detail (struct enclaver_error_s *e)
{
  if (e->detail == NULL)
    {
      e->detail = xmalloc0 (sizeof *e->detail);
      e->detail->nproblems = 1;
      e->detail->starts = xmalloc0 (sizeof *e->detail->starts);
    }
  return e->detail;
}

static struct enclaver_error_s *
new_error (int status, char *msg)
{
  struct enclaver_error_s *e = xmalloc0 (sizeof *e);
  e->status = status ? status : EINVAL;
  e->msg = msg;
  return e;
}

static void
drop (struct enclaver_error_s *e, char *msg)
{
  struct enclaver_error_detail *d = detail (e);
  d->dropped = xreallocarray (d->dropped, d->ndropped + 1, sizeof *d->dropped);
  d->dropped[d->ndropped++] = msg;
}

int
enclaver_make_verror (enclaver_error_t *err, int status, const char *fmt, va_list ap)
{
  char *msg;

  if (err == NULL)
    return -1;
  msg = xvasprintf (fmt, ap);
  if (*err != NULL)
    {
      /* Never lose an earlier error, nor this one silently: keep it aside. */
      drop (*err, msg);
      return -1;
    }
  *err = new_error (status, msg);
  return -1;
}

int
enclaver_make_error (enclaver_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  int ret;

  va_start (ap, fmt);
  ret = enclaver_make_verror (err, status, fmt, ap);
  va_end (ap);
  return ret;
}

int
enclaver_make_errno (enclaver_error_t *err, int status, const char *fmt, ...)
{
  char *msg;
  va_list ap;
  int ret;

  va_start (ap, fmt);
  msg = xvasprintf (fmt, ap);
  va_end (ap);
  ret = enclaver_make_error (err, status, "%s: %s", msg, strerror (status ? status : EINVAL));
  free (msg);
  return ret;
}

int
enclaver_error_wrap (enclaver_error_t *err, const char *fmt, ...)
{
  char *ctx, *msg;
  size_t add, i;
  va_list ap;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  ctx = xvasprintf (fmt, ap);
  va_end (ap);
  msg = xasprintf ("%s: %s", ctx, (*err)->msg);
  add = strlen (ctx) + 2;
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = msg;
  if ((*err)->detail)
    {
      struct enclaver_error_detail *d = (*err)->detail;
      d->ctx_len += add;
      for (i = 1; i < d->nproblems; i++)
        d->starts[i] += add;
    }
  return -1;
}

static void
add_field (struct enclaver_error_s *e, size_t problem, const struct enclaver_field *f)
{
  struct enclaver_error_detail *d = detail (e);
  struct efield *n;

  if (f->key == NULL || (f->type == ENCLAVER_FIELD_STRING && f->str == NULL))
    return;
  d->fields = xreallocarray (d->fields, d->nfields + 1, sizeof *d->fields);
  n = &d->fields[d->nfields++];
  n->problem = problem;
  n->f.key = xstrdup (f->key);
  n->f.type = f->type;
  n->f.str = f->type == ENCLAVER_FIELD_STRING ? xstrdup (f->str) : NULL;
  n->f.num = f->num;
}

static const struct efield *
find_field (const struct enclaver_error_detail *d, size_t problem, const char *key)
{
  size_t i;
  for (i = 0; d && i < d->nfields; i++)
    if (d->fields[i].problem == problem && strcmp (d->fields[i].f.key, key) == 0)
      return &d->fields[i];
  return NULL;
}

int
enclaver_error_add (enclaver_error_t *err, int status, const struct enclaver_field *fields,
                    size_t nfields, const char *fmt, ...)
{
  struct enclaver_error_detail *d;
  char *text;
  size_t i, problem;
  va_list ap;

  if (err == NULL)
    return -1;
  va_start (ap, fmt);
  text = xvasprintf (fmt, ap);
  va_end (ap);
  if (*err == NULL)
    {
      *err = new_error (status, text);
      problem = 0;
    }
  else
    {
      size_t old = strlen ((*err)->msg);
      char *msg = xmalloc (old + 1 + strlen (text) + 1);
      memcpy (msg, (*err)->msg, old);
      msg[old] = '\n';
      strcpy (msg + old + 1, text);
      free (text);
      free ((*err)->msg);
      (*err)->msg = msg;
      d = detail (*err);
      d->starts = xreallocarray (d->starts, d->nproblems + 1, sizeof *d->starts);
      d->starts[d->nproblems] = old + 1;
      problem = d->nproblems++;
    }
  for (i = 0; i < nfields; i++)
    if (fields[i].key && !find_field ((*err)->detail, problem, fields[i].key))
      add_field (*err, problem, &fields[i]);
  return -1;
}

int
enclaver_error_set_field (enclaver_error_t *err, const char *key, const char *value)
{
  struct enclaver_field f = ENCLAVER_FIELD_STR (key, value);
  if (err == NULL || *err == NULL || value == NULL || find_field ((*err)->detail, WHOLE, key))
    return -1;
  add_field (*err, WHOLE, &f);
  return -1;
}

int
enclaver_error_set_field_int (enclaver_error_t *err, const char *key, long long value)
{
  struct enclaver_field f = ENCLAVER_FIELD_NUM (key, value);
  if (err == NULL || *err == NULL || find_field ((*err)->detail, WHOLE, key))
    return -1;
  add_field (*err, WHOLE, &f);
  return -1;
}

int
enclaver_error_move (enclaver_error_t *dst, enclaver_error_t *src)
{
  if (src == NULL || *src == NULL)
    return -1;
  if (dst == NULL)
    {
      enclaver_error_release (src);
      return -1;
    }
  if (*dst == NULL)
    *dst = *src;
  else
    {
      drop (*dst, (*src)->msg);
      (*src)->msg = NULL;
      enclaver_error_release (src);
    }
  *src = NULL;
  return -1;
}

void
enclaver_error_release (enclaver_error_t *err)
{
  struct enclaver_error_detail *d;
  size_t i;

  if (err == NULL || *err == NULL)
    return;
  d = (*err)->detail;
  if (d)
    {
      for (i = 0; i < d->nfields; i++)
        {
          free ((char *) d->fields[i].f.key);
          free ((char *) d->fields[i].f.str);
        }
      for (i = 0; i < d->ndropped; i++)
        free (d->dropped[i]);
      free (d->fields);
      free (d->dropped);
      free (d->starts);
      free (d);
    }
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

size_t
enclaver_error_count (const struct enclaver_error_s *e)
{
  if (e == NULL)
    return 0;
  return e->detail ? e->detail->nproblems : 1;
}

char *
enclaver_error_problem_msg (const struct enclaver_error_s *e, size_t i)
{
  const struct enclaver_error_detail *d;
  size_t start, end;

  if (e == NULL || i >= enclaver_error_count (e))
    return NULL;
  d = e->detail;
  if (d == NULL || d->nproblems == 1)
    return xstrdup (e->msg);
  start = d->starts[i];
  end = i + 1 < d->nproblems ? d->starts[i + 1] - 1 : strlen (e->msg);
  if (i == 0)
    return xstrndup (e->msg, end);
  return xasprintf ("%.*s%.*s", (int) d->ctx_len, e->msg, (int) (end - start), e->msg + start);
}

size_t
enclaver_error_fields (const struct enclaver_error_s *e, size_t i, const struct enclaver_field **out,
                       size_t max)
{
  const struct enclaver_error_detail *d = e ? e->detail : NULL;
  size_t k, n = 0;

  if (d == NULL)
    return 0;
  for (k = 0; k < d->nfields && n < max; k++)
    if (d->fields[k].problem == i)
      out[n++] = &d->fields[k].f;
  for (k = 0; k < d->nfields && n < max; k++)
    if (d->fields[k].problem == WHOLE && !find_field (d, i, d->fields[k].f.key))
      out[n++] = &d->fields[k].f;
  return n;
}

const char *
enclaver_error_get_field (const struct enclaver_error_s *e, size_t i, const char *key)
{
  const struct efield *f;
  if (e == NULL)
    return NULL;
  f = find_field (e->detail, i, key);
  if (f == NULL)
    f = find_field (e->detail, WHOLE, key);
  return f ? f->f.str : NULL;
}

const char *
enclaver_error_dropped (const struct enclaver_error_s *e, size_t i)
{
  if (e == NULL || e->detail == NULL || i >= e->detail->ndropped)
    return NULL;
  return e->detail->dropped[i];
}
