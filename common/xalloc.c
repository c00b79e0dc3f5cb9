/* enclaver common helpers: aborting allocators. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"

void
xoom (void)
{
  /* No allocation here: name the program from what libc already holds. */
  static const char tail[] = ": out of memory\n";
  const char *prog = program_invocation_short_name;
  ssize_t r;

  if (prog == NULL || *prog == '\0')
    prog = "enclaver";
  r = write (2, prog, strlen (prog));
  r = write (2, tail, sizeof tail - 1);
  (void) r;
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (UNLIKELY (p == NULL))
    xoom ();
  return p;
}

void *
xmalloc0 (size_t n)
{
  void *p = calloc (1, n ? n : 1);
  if (UNLIKELY (p == NULL))
    xoom ();
  return p;
}

void *
xcalloc (size_t nmemb, size_t size)
{
  void *p;
  if (size && nmemb > SIZE_MAX / size)
    xoom ();
  p = calloc (nmemb ? nmemb : 1, size ? size : 1);
  if (UNLIKELY (p == NULL))
    xoom ();
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (UNLIKELY (p == NULL))
    xoom ();
  return p;
}

void *
xreallocarray (void *p, size_t nmemb, size_t size)
{
  if (size && nmemb > SIZE_MAX / size)
    xoom ();
  return xrealloc (p, nmemb * size);
}

char *
xstrdup (const char *s)
{
  char *r = s ? strdup (s) : NULL;
  if (UNLIKELY (s && r == NULL))
    xoom ();
  return r;
}

char *
xstrndup (const char *s, size_t n)
{
  char *r = strndup (s, n);
  if (UNLIKELY (r == NULL))
    xoom ();
  return r;
}

char *
xvasprintf (const char *fmt, va_list ap)
{
  char *r;
  if (vasprintf (&r, fmt, ap) < 0)
    xoom ();
  return r;
}

char *
xasprintf (const char *fmt, ...)
{
  char *r;
  va_list ap;
  va_start (ap, fmt);
  r = xvasprintf (fmt, ap);
  va_end (ap);
  return r;
}
