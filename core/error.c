/* enclaver: error objects (see include/enclaver/error.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/error.h>
#include <enclaver/log.h>
#include "util.h"

int
enclaver_make_verror (enclaver_error_t *err, int status, const char *fmt, va_list ap)
{
  struct enclaver_error_s *e;

  if (err == NULL)
    return -1;
  e = xmalloc0 (sizeof *e);
  e->status = status ? status : EINVAL;
  if (vasprintf (&e->msg, fmt, ap) < 0)
    xoom ();
  if (*err != NULL)
    {
      /* Never lose an earlier error silently: keep it, log the new one. */
      enclaver_log (ENCLAVER_LOG_DEBUG, NULL, "second error while one is pending: %s", e->msg);
      free (e->msg);
      free (e);
      return -1;
    }
  *err = e;
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
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  return enclaver_make_error (err, status, "%s: %s", msg, strerror (status ? status : EINVAL));
}

int
enclaver_error_wrap (enclaver_error_t *err, const char *fmt, ...)
{
  cleanup_free char *ctx = NULL;
  char *msg;
  va_list ap;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  if (asprintf (&msg, "%s: %s", ctx, (*err)->msg) < 0)
    xoom ();
  free ((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void
enclaver_error_release (enclaver_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

void
enclaver_error_warn_and_release (enclaver_error_t *err, const char *prefix)
{
  if (err == NULL || *err == NULL)
    return;
  enclaver_log (ENCLAVER_LOG_WARNING, prefix, "%s", (*err)->msg);
  enclaver_error_release (err);
}
