/* enclaver common helpers: a string being built, growable or in fixed storage. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/xalloc.h"

void
strbuf_init (struct strbuf *sb)
{
  sb->cap = 128;
  sb->data = xmalloc (sb->cap);
  sb->data[0] = '\0';
  sb->len = 0;
  sb->limit = (size_t) -1;
  sb->fixed = 0;
  sb->truncated = 0;
}

void
strbuf_init_fixed (struct strbuf *sb, char *buf, size_t cap)
{
  sb->data = buf;
  sb->cap = cap;
  sb->len = 0;
  sb->limit = cap - 1;
  sb->fixed = 1;
  sb->truncated = 0;
  buf[0] = '\0';
}

/* Room for n more bytes (and the NUL); returns how many of them may be written. */
static size_t
reserve (struct strbuf *sb, size_t n)
{
  if (sb->fixed)
    {
      size_t room = sb->limit > sb->len ? sb->limit - sb->len : 0;
      if (n > room)
        {
          sb->truncated = 1;
          n = room;
        }
      return n;
    }
  if (sb->len + n + 1 > sb->cap)
    {
      size_t c = sb->cap;
      while (sb->len + n + 1 > c)
        c = c < ((size_t) -1) / 2 ? c * 2 : sb->len + n + 1;
      sb->data = xrealloc (sb->data, c);
      sb->cap = c;
    }
  return n;
}

void
strbuf_add (struct strbuf *sb, const void *p, size_t n)
{
  n = reserve (sb, n);
  memcpy (sb->data + sb->len, p, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void
strbuf_addc (struct strbuf *sb, char c)
{
  strbuf_add (sb, &c, 1);
}

void
strbuf_adds (struct strbuf *sb, const char *s)
{
  strbuf_add (sb, s, strlen (s));
}

void
strbuf_vaddf (struct strbuf *sb, const char *fmt, va_list ap)
{
  va_list aq;
  int n;
  size_t want, got;

  va_copy (aq, ap);
  n = vsnprintf (NULL, 0, fmt, aq);
  va_end (aq);
  if (n <= 0)
    return;
  want = (size_t) n;
  got = reserve (sb, want);
  if (got == want)
    vsnprintf (sb->data + sb->len, want + 1, fmt, ap);
  else if (got > 0)
    {
      /* Fixed storage, cut: vsnprintf writes got bytes and the NUL. */
      vsnprintf (sb->data + sb->len, got + 1, fmt, ap);
    }
  sb->len += got;
  sb->data[sb->len] = '\0';
}

void
strbuf_addf (struct strbuf *sb, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  strbuf_vaddf (sb, fmt, ap);
  va_end (ap);
}

char *
strbuf_release (struct strbuf *sb)
{
  char *r = sb->data;
  sb->data = NULL;
  sb->len = sb->cap = 0;
  return r;
}

void
strbuf_free (struct strbuf *sb)
{
  if (!sb->fixed)
    free (sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}
