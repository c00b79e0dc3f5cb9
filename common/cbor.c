/* enclaver common: CBOR encoder and the strict, bounded decoder (see cbor.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbor.h"
#include "common/xalloc.h"

/* ---- encoder ---- */

static void
buf_reserve (struct cbor_buf *b, size_t n)
{
  if (b->cap - b->len >= n)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n)
    {
      if (cap > SIZE_MAX / 2)
        xoom ();
      cap *= 2;
    }
  b->data = xrealloc (b->data, cap);
  b->cap = cap;
}

void
cbor_put_raw (struct cbor_buf *b, const void *data, size_t len)
{
  buf_reserve (b, len);
  if (len)
    memcpy (b->data + b->len, data, len);
  b->len += len;
}

void
cbor_put_head (struct cbor_buf *b, unsigned major, uint64_t val)
{
  uint8_t h[9];
  size_t n, w;

  major <<= 5;
  if (val < 24)
    {
      h[0] = (uint8_t) (major | val);
      cbor_put_raw (b, h, 1);
      return;
    }
  if (val <= 0xff)
    w = 1, h[0] = (uint8_t) (major | 24);
  else if (val <= 0xffff)
    w = 2, h[0] = (uint8_t) (major | 25);
  else if (val <= 0xffffffffu)
    w = 4, h[0] = (uint8_t) (major | 26);
  else
    w = 8, h[0] = (uint8_t) (major | 27);
  /* Always the shortest form: the NSM and the EIF signature expect canonical heads. */
  for (n = 0; n < w; n++)
    h[1 + n] = (uint8_t) (val >> (8 * (w - 1 - n)));
  cbor_put_raw (b, h, 1 + w);
}

void
cbor_put_int (struct cbor_buf *b, int64_t v)
{
  if (v >= 0)
    cbor_put_head (b, CBOR_UINT, (uint64_t) v);
  else
    cbor_put_head (b, CBOR_NINT, (uint64_t) (-(v + 1)));
}

void
cbor_put_bstr (struct cbor_buf *b, const void *data, size_t len)
{
  cbor_put_head (b, CBOR_BSTR, len);
  cbor_put_raw (b, data, len);
}

void
cbor_put_tstr (struct cbor_buf *b, const char *s)
{
  size_t len = strlen (s);
  cbor_put_head (b, CBOR_TSTR, len);
  cbor_put_raw (b, s, len);
}

void
cbor_put_simple (struct cbor_buf *b, unsigned v)
{
  cbor_put_head (b, CBOR_SIMPLE, v);
}

void
cbor_buf_free (struct cbor_buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void
cbor_put_u8_array (struct cbor_buf *b, const void *data, size_t len)
{
  const uint8_t *p = data;
  cbor_put_head (b, CBOR_ARRAY, len);
  for (size_t i = 0; i < len; i++)
    cbor_put_head (b, CBOR_UINT, p[i]);
}

/* ---- decoder ---- */

int
ecbor_error (const struct cbor_cur *c, char *err, size_t errlen, const char *fmt, ...)
{
  char msg[256];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (errlen)
    snprintf (err, errlen, "%s: offset %llu: %s", c->what ? c->what : "CBOR",
              (unsigned long long) (c->base + c->pos), msg);
  return -1;
}

const char *
ecbor_major_name (unsigned m)
{
  static const char *const names[] = { "unsigned integer", "negative integer", "byte string",
                                       "text string", "array", "map", "tag", "simple/float" };
  return names[m & 7];
}

int
ecbor_peek_major (const struct cbor_cur *c)
{
  if (c->pos >= c->len)
    return -1;
  return c->p[c->pos] >> 5;
}

int
ecbor_get_head (struct cbor_cur *c, unsigned *major, uint64_t *val, char *err, size_t errlen)
{
  uint8_t ib, ai;
  size_t need;
  uint64_t v = 0;

  if (c->pos >= c->len)
    return ecbor_error (c, err, errlen, "truncated CBOR: expected an item, found the end of the data");
  ib = c->p[c->pos];
  ai = ib & 31;
  *major = ib >> 5;
  if (ai < 24)
    {
      c->pos++;
      *val = ai;
      return 0;
    }
  if (ai == 31)
    return ecbor_error (c, err, errlen, "indefinite-length CBOR item (0x%02x) not supported", ib);
  if (ai > 27)
    return ecbor_error (c, err, errlen, "malformed CBOR: reserved additional information %u", ai);
  need = (size_t) 1 << (ai - 24);
  if (c->len - c->pos - 1 < need)
    return ecbor_error (c, err, errlen,
                        "truncated CBOR: %zu-byte argument runs past the end of the data", need);
  for (size_t i = 0; i < need; i++)
    v = (v << 8) | c->p[c->pos + 1 + i];
  if (*major == CBOR_SIMPLE && ai == 24 && v < 32)
    return ecbor_error (c, err, errlen, "malformed CBOR: simple value %llu in two bytes",
                        (unsigned long long) v);
  /* The shortest form of v needs fewer bytes when it fits in half of them (or in the
   * initial byte itself).  Simple values/floats (major 7) are exempt: a 2-byte float is
   * not a longer spelling of a small number. */
  if (c->minimal && *major != CBOR_SIMPLE
      && (need == 1 ? v < 24 : v <= (UINT64_MAX >> (64 - 4 * need))))
    return ecbor_error (c, err, errlen,
                        "non-minimal CBOR head 0x%02x: %llu must be written in fewer bytes", ib,
                        (unsigned long long) v);
  c->pos += 1 + need;
  *val = v;
  return 0;
}

static int
expect (struct cbor_cur *c, unsigned major, uint64_t *v, char *err, size_t errlen)
{
  size_t start = c->pos;
  unsigned m;

  if (ecbor_get_head (c, &m, v, err, errlen) < 0)
    return -1;
  if (m != major)
    {
      c->pos = start;
      return ecbor_error (c, err, errlen, "expected a CBOR %s, found a %s",
                          ecbor_major_name (major), ecbor_major_name (m));
    }
  return 0;
}

int
ecbor_get_container (struct cbor_cur *c, unsigned major, uint64_t *n, char *err, size_t errlen)
{
  size_t start = c->pos;
  uint64_t v;

  if (expect (c, major, &v, err, errlen) < 0)
    return -1;
  /* Every element takes at least one byte (two for a map pair). */
  if (v > c->len - c->pos || (major == CBOR_MAP && v > (c->len - c->pos) / 2))
    {
      size_t left = c->len - c->pos;
      c->pos = start;
      return ecbor_error (c, err, errlen,
                          "CBOR %s claims %llu elements, more than the remaining %zu bytes can hold",
                          ecbor_major_name (major), (unsigned long long) v, left);
    }
  *n = v;
  return 0;
}

static int
get_string (struct cbor_cur *c, unsigned major, const uint8_t **data, size_t *len, char *err,
            size_t errlen)
{
  size_t start = c->pos;
  uint64_t v;

  if (expect (c, major, &v, err, errlen) < 0)
    return -1;
  if (v > c->len - c->pos)
    {
      size_t left = c->len - c->pos;
      c->pos = start;
      return ecbor_error (c, err, errlen,
                          "CBOR %s of %llu bytes overruns the data (%zu bytes left)",
                          ecbor_major_name (major), (unsigned long long) v, left);
    }
  *data = c->p + c->pos;
  *len = (size_t) v;
  c->pos += (size_t) v;
  return 0;
}

int
ecbor_get_bstr (struct cbor_cur *c, const uint8_t **data, size_t *len, char *err, size_t errlen)
{
  return get_string (c, CBOR_BSTR, data, len, err, errlen);
}

int
ecbor_utf8_valid (const uint8_t *s, size_t len)
{
  size_t i = 0;
  while (i < len)
    {
      uint8_t b = s[i];
      uint32_t cp;
      size_t n;
      if (b < 0x80)
        {
          i++;
          continue;
        }
      if (b >= 0xc2 && b <= 0xdf)
        n = 1, cp = b & 0x1f;
      else if (b >= 0xe0 && b <= 0xef)
        n = 2, cp = b & 0x0f;
      else if (b >= 0xf0 && b <= 0xf4)
        n = 3, cp = b & 0x07;
      else
        return 0; /* continuation byte, overlong 2-byte lead, or beyond U+10FFFF */
      if (len - i - 1 < n)
        return 0;
      for (size_t k = 1; k <= n; k++)
        {
          if ((s[i + k] & 0xc0) != 0x80)
            return 0;
          cp = (cp << 6) | (s[i + k] & 0x3f);
        }
      if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
          || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
      i += n + 1;
    }
  return 1;
}

int
ecbor_get_tstr (struct cbor_cur *c, const char **s, size_t *len, char *err, size_t errlen)
{
  const uint8_t *d;
  size_t start = c->pos;
  if (get_string (c, CBOR_TSTR, &d, len, err, errlen) < 0)
    return -1;
  if (!ecbor_utf8_valid (d, *len))
    {
      c->pos = start;
      return ecbor_error (c, err, errlen, "CBOR text string is not valid UTF-8");
    }
  *s = (const char *) d;
  return 0;
}

int
ecbor_match_tstr (struct cbor_cur *c, const char *want, char *err, size_t errlen)
{
  size_t start = c->pos, len;
  const char *s;
  if (ecbor_peek_major (c) != CBOR_TSTR)
    return 0;
  if (ecbor_get_tstr (c, &s, &len, err, errlen) < 0)
    return -1;
  if (len == strlen (want) && memcmp (s, want, len) == 0)
    return 1;
  c->pos = start;
  return 0;
}

int
ecbor_peek_null (const struct cbor_cur *c)
{
  return c->pos < c->len && c->p[c->pos] == 0xf6;
}

int
ecbor_get_null (struct cbor_cur *c, char *err, size_t errlen)
{
  if (!ecbor_peek_null (c))
    return ecbor_error (c, err, errlen, "expected CBOR null");
  c->pos++;
  return 0;
}

int
ecbor_expect_end (const struct cbor_cur *c, char *err, size_t errlen)
{
  if (c->pos != c->len)
    return ecbor_error (c, err, errlen, "%zu trailing bytes after the CBOR item", c->len - c->pos);
  return 0;
}

int
ecbor_get_int (struct cbor_cur *c, int64_t *out, char *err, size_t errlen)
{
  size_t start = c->pos;
  unsigned m;
  uint64_t v;

  if (ecbor_get_head (c, &m, &v, err, errlen) < 0)
    return -1;
  if ((m != CBOR_UINT && m != CBOR_NINT) || v > (uint64_t) INT64_MAX)
    {
      c->pos = start;
      if (m != CBOR_UINT && m != CBOR_NINT)
        return ecbor_error (c, err, errlen, "expected a CBOR integer, found a %s",
                            ecbor_major_name (m));
      return ecbor_error (c, err, errlen, "CBOR integer out of range");
    }
  *out = m == CBOR_UINT ? (int64_t) v : -1 - (int64_t) v;
  return 0;
}

int
ecbor_get_uint (struct cbor_cur *c, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
  size_t start = c->pos;
  uint64_t v;

  if (expect (c, CBOR_UINT, &v, err, errlen) < 0)
    return -1;
  if (v > max)
    {
      c->pos = start;
      return ecbor_error (c, err, errlen, "CBOR integer %llu is over the limit %llu",
                          (unsigned long long) v, (unsigned long long) max);
    }
  *out = v;
  return 0;
}

int
ecbor_get_simple (struct cbor_cur *c, unsigned *out, char *err, size_t errlen)
{
  size_t start = c->pos;
  uint64_t v;

  if (expect (c, CBOR_SIMPLE, &v, err, errlen) < 0)
    return -1;
  if (v < 20 || v > 23 || c->p[start] != (CBOR_SIMPLE << 5 | v))
    {
      c->pos = start;
      return ecbor_error (c, err, errlen, "expected false/true/null, found simple/float 0x%02x",
                          c->p[start]);
    }
  *out = (unsigned) v;
  return 0;
}

int
ecbor_get_bool (struct cbor_cur *c, int *out, char *err, size_t errlen)
{
  size_t start = c->pos;
  unsigned v;
  if (ecbor_get_simple (c, &v, err, errlen) < 0)
    return -1;
  if (v != CBOR_FALSE && v != CBOR_TRUE)
    {
      c->pos = start;
      return ecbor_error (c, err, errlen, "expected false or true, found simple value %u", v);
    }
  *out = v == CBOR_TRUE;
  return 0;
}

int
ecbor_get_u8_array (struct cbor_cur *c, uint8_t **out, size_t *len, char *err, size_t errlen)
{
  uint64_t n;
  uint8_t *buf;

  if (ecbor_get_container (c, CBOR_ARRAY, &n, err, errlen) < 0)
    return -1;
  /* n <= remaining input bytes, so this allocation is bounded by the input. */
  buf = xmalloc ((size_t) n + 1);
  for (uint64_t i = 0; i < n; i++)
    {
      size_t at = c->pos;
      unsigned m;
      uint64_t v;
      if (ecbor_get_head (c, &m, &v, err, errlen) < 0)
        {
          free (buf);
          return -1;
        }
      if (m != CBOR_UINT || v > 255)
        {
          free (buf);
          c->pos = at;
          return ecbor_error (c, err, errlen, "byte array element %llu is not an integer 0..255",
                              (unsigned long long) i);
        }
      buf[i] = (uint8_t) v;
    }
  buf[n] = 0;
  *out = buf;
  *len = (size_t) n;
  return 0;
}

int
ecbor_skip (struct cbor_cur *c, int depth, char *err, size_t errlen)
{
  unsigned m;
  uint64_t v;
  size_t start = c->pos;

  if (depth > CBOR_MAX_DEPTH)
    return ecbor_error (c, err, errlen, "CBOR nested deeper than %d levels", CBOR_MAX_DEPTH);
  if (ecbor_get_head (c, &m, &v, err, errlen) < 0)
    return -1;
  switch (m)
    {
    case CBOR_UINT:
    case CBOR_NINT:
    case CBOR_SIMPLE:
      return 0;
    case CBOR_BSTR:
    case CBOR_TSTR:
      {
        const uint8_t *d;
        const char *t;
        size_t n;
        c->pos = start;
        if (m == CBOR_BSTR)
          return get_string (c, CBOR_BSTR, &d, &n, err, errlen);
        return ecbor_get_tstr (c, &t, &n, err, errlen);
      }
    case CBOR_TAG:
      return ecbor_skip (c, depth + 1, err, errlen);
    case CBOR_ARRAY:
    case CBOR_MAP:
      {
        uint64_t items = v;
        if (v > c->len - c->pos)
          {
            c->pos = start;
            return ecbor_error (c, err, errlen,
                                "CBOR container claims %llu elements, more than the data holds",
                                (unsigned long long) v);
          }
        if (m == CBOR_MAP)
          items *= 2;
        for (uint64_t i = 0; i < items; i++)
          if (ecbor_skip (c, depth + 1, err, errlen) < 0)
            return -1;
        return 0;
      }
    }
  return 0;
}
