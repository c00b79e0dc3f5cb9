/* enclaver common helpers: a string being built, growable or in fixed storage. */
#ifndef ENCLAVER_COMMON_STRBUF_H
#define ENCLAVER_COMMON_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/base.h"

struct strbuf
{
  char *data;         /* always NUL-terminated */
  size_t len;
  size_t cap;         /* bytes at data */
  size_t limit;       /* fixed storage: appends stop at this length */
  int fixed;          /* 1: caller's storage, never allocates, cuts to fit */
  int truncated;      /* 1 when something was cut */
};

/* Growable (malloc'd; strbuf_release or strbuf_free it). */
void strbuf_init (struct strbuf *sb) ENCLAVER_INTERNAL;
/* Fixed storage of cap >= 1 bytes: never allocates (safe when memory ran out),
 * appends that do not fit are cut and set truncated. */
void strbuf_init_fixed (struct strbuf *sb, char *buf, size_t cap) ENCLAVER_INTERNAL;
void strbuf_add (struct strbuf *sb, const void *p, size_t n) ENCLAVER_INTERNAL;
void strbuf_addc (struct strbuf *sb, char c) ENCLAVER_INTERNAL;
void strbuf_adds (struct strbuf *sb, const char *s) ENCLAVER_INTERNAL;
void strbuf_addf (struct strbuf *sb, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3))) ENCLAVER_INTERNAL;
void strbuf_vaddf (struct strbuf *sb, const char *fmt, va_list ap)
  __attribute__ ((format (printf, 2, 0))) ENCLAVER_INTERNAL;
/* Growable only: hand the string to the caller (the buffer is spent). */
char *strbuf_release (struct strbuf *sb) ENCLAVER_INTERNAL;
void strbuf_free (struct strbuf *sb) ENCLAVER_INTERNAL;

#endif
