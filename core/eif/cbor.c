/* enclaver: a minimal CBOR (RFC 8949) encoder and a bounded decoder.
 *
 * Only what the EIF signature section needs: unsigned/negative integers, byte and
 * text strings, arrays, maps, tags and simple values.  The decoder never reads past
 * the buffer it is given, rejects indefinite lengths, limits nesting depth and only
 * allocates in proportion to the input it has already seen. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eif/eif-internal.h"

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
  size_t n;

  major <<= 5;
  if (val < 24)
    {
      h[0] = (uint8_t) (major | val);
      n = 1;
    }
  else if (val <= 0xff)
    {
      h[0] = (uint8_t) (major | 24);
      h[1] = (uint8_t) val;
      n = 2;
    }
  else if (val <= 0xffff)
    {
      h[0] = (uint8_t) (major | 25);
      eif_put_be16 (h + 1, (uint16_t) val);
      n = 3;
    }
  else if (val <= 0xffffffffu)
    {
      h[0] = (uint8_t) (major | 26);
      eif_put_be32 (h + 1, (uint32_t) val);
      n = 5;
    }
  else
    {
      h[0] = (uint8_t) (major | 27);
      eif_put_be64 (h + 1, val);
      n = 9;
    }
  cbor_put_raw (b, h, n);
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
cbor_put_u8_array (struct cbor_buf *b, const void *data, size_t len)
{
  const uint8_t *p = data;
  cbor_put_head (b, CBOR_ARRAY, len);
  for (size_t i = 0; i < len; i++)
    cbor_put_head (b, CBOR_UINT, p[i]);
}

/* ---- decoder ---- */

int
cbor_error (struct cbor_cur *c, enclaver_error_t *err, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  return enclaver_make_error (err, EINVAL, "%s: offset %llu: %s", c->what ? c->what : "CBOR",
                              (unsigned long long) (c->base + c->pos), msg);
}

int
cbor_peek_major (const struct cbor_cur *c)
{
  if (c->pos >= c->len)
    return -1;
  return c->p[c->pos] >> 5;
}

int
cbor_get_head (struct cbor_cur *c, unsigned *major, uint64_t *val, enclaver_error_t *err)
{
  uint8_t ib, ai;
  size_t need;
  uint64_t v = 0;

  if (c->pos >= c->len)
    return cbor_error (c, err, "truncated CBOR: expected an item, found the end of the data");
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
    return cbor_error (c, err, "indefinite-length CBOR item (0x%02x) not supported", ib);
  if (ai > 27)
    return cbor_error (c, err, "malformed CBOR: reserved additional information %u", ai);
  need = (size_t) 1 << (ai - 24);
  if (c->len - c->pos - 1 < need)
    return cbor_error (c, err, "truncated CBOR: %zu-byte argument runs past the end of the data", need);
  for (size_t i = 0; i < need; i++)
    v = (v << 8) | c->p[c->pos + 1 + i];
  c->pos += 1 + need;
  *val = v;
  return 0;
}

static const char *
major_name (unsigned m)
{
  static const char *const names[] = { "unsigned integer", "negative integer", "byte string",
                                       "text string", "array", "map", "tag", "simple/float" };
  return names[m & 7];
}

int
cbor_get_container (struct cbor_cur *c, unsigned major, uint64_t *n, enclaver_error_t *err)
{
  size_t start = c->pos;
  unsigned m;
  uint64_t v;

  if (cbor_get_head (c, &m, &v, err) < 0)
    return -1;
  if (m != major)
    {
      c->pos = start;
      return cbor_error (c, err, "expected a CBOR %s, found a %s", major_name (major), major_name (m));
    }
  /* Every element takes at least one byte (two for a map pair). */
  if (v > c->len - c->pos || (major == CBOR_MAP && v > (c->len - c->pos) / 2))
    {
      c->pos = start;
      return cbor_error (c, err, "CBOR %s claims %llu elements, more than the remaining %zu bytes can hold",
                       major_name (major), (unsigned long long) v, c->len - c->pos);
    }
  *n = v;
  return 0;
}

static int
get_string (struct cbor_cur *c, unsigned major, const uint8_t **data, size_t *len, enclaver_error_t *err)
{
  size_t start = c->pos;
  unsigned m;
  uint64_t v;

  if (cbor_get_head (c, &m, &v, err) < 0)
    return -1;
  if (m != major)
    {
      c->pos = start;
      return cbor_error (c, err, "expected a CBOR %s, found a %s", major_name (major), major_name (m));
    }
  if (v > c->len - c->pos)
    {
      c->pos = start;
      return cbor_error (c, err, "CBOR %s of %llu bytes runs past the end of the data (%zu left)",
                       major_name (major), (unsigned long long) v, c->len - c->pos);
    }
  *data = c->p + c->pos;
  *len = (size_t) v;
  c->pos += (size_t) v;
  return 0;
}

int
cbor_get_bstr (struct cbor_cur *c, const uint8_t **data, size_t *len, enclaver_error_t *err)
{
  return get_string (c, CBOR_BSTR, data, len, err);
}

int
cbor_get_tstr (struct cbor_cur *c, const char **s, size_t *len, enclaver_error_t *err)
{
  const uint8_t *d;
  if (get_string (c, CBOR_TSTR, &d, len, err) < 0)
    return -1;
  *s = (const char *) d;
  return 0;
}

int
cbor_get_int (struct cbor_cur *c, int64_t *out, enclaver_error_t *err)
{
  size_t start = c->pos;
  unsigned m;
  uint64_t v;

  if (cbor_get_head (c, &m, &v, err) < 0)
    return -1;
  if ((m != CBOR_UINT && m != CBOR_NINT) || v > (uint64_t) INT64_MAX)
    {
      c->pos = start;
      if (m != CBOR_UINT && m != CBOR_NINT)
        return cbor_error (c, err, "expected a CBOR integer, found a %s", major_name (m));
      return cbor_error (c, err, "CBOR integer out of range");
    }
  *out = m == CBOR_UINT ? (int64_t) v : -1 - (int64_t) v;
  return 0;
}

int
cbor_get_u8_array (struct cbor_cur *c, uint8_t **out, size_t *len, enclaver_error_t *err)
{
  uint64_t n;
  uint8_t *buf;

  if (cbor_get_container (c, CBOR_ARRAY, &n, err) < 0)
    return -1;
  /* n <= remaining input bytes, so this allocation is bounded by the input. */
  buf = xmalloc ((size_t) n + 1);
  for (uint64_t i = 0; i < n; i++)
    {
      size_t at = c->pos;
      unsigned m;
      uint64_t v;
      if (cbor_get_head (c, &m, &v, err) < 0)
        {
          free (buf);
          return -1;
        }
      if (m != CBOR_UINT || v > 255)
        {
          free (buf);
          c->pos = at;
          return cbor_error (c, err, "byte array element %llu is not an integer 0..255",
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
cbor_skip (struct cbor_cur *c, int depth, enclaver_error_t *err)
{
  unsigned m;
  uint64_t v;
  size_t start = c->pos;

  if (depth > CBOR_MAX_DEPTH)
    return cbor_error (c, err, "CBOR nested deeper than %d levels", CBOR_MAX_DEPTH);
  if (cbor_get_head (c, &m, &v, err) < 0)
    return -1;
  switch (m)
    {
    case CBOR_UINT:
    case CBOR_NINT:
    case CBOR_SIMPLE:
      return 0;
    case CBOR_BSTR:
    case CBOR_TSTR:
      if (v > c->len - c->pos)
        {
          c->pos = start;
          return cbor_error (c, err, "CBOR string of %llu bytes runs past the end of the data",
                           (unsigned long long) v);
        }
      c->pos += (size_t) v;
      return 0;
    case CBOR_TAG:
      return cbor_skip (c, depth + 1, err);
    case CBOR_ARRAY:
    case CBOR_MAP:
      {
        uint64_t items = v;
        if (v > c->len - c->pos)
          {
            c->pos = start;
            return cbor_error (c, err, "CBOR container claims %llu elements, more than the data holds",
                             (unsigned long long) v);
          }
        if (m == CBOR_MAP)
          items *= 2;
        for (uint64_t i = 0; i < items; i++)
          if (cbor_skip (c, depth + 1, err) < 0)
            return -1;
        return 0;
      }
    }
  return 0;
}
