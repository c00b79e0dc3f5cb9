/* enclaver common helpers: JSON lines. */
#include "config.h"

#include <string.h>

#include "common/jsonl.h"

/* Length of a valid UTF-8 sequence starting at p (lead byte >= 0x80, n bytes left),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_seq_len (const unsigned char *p, size_t n)
{
  size_t len, i;
  unsigned int cp;

  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    len = 2, cp = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    len = 3, cp = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    len = 4, cp = p[0] & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (i = 1; i < len; i++)
    {
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
      || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

void
jsonl_string (struct strbuf *sb, const char *s, size_t n)
{
  const unsigned char *p = (const unsigned char *) s, *end = p + n;

  strbuf_addc (sb, '"');
  while (p < end)
    {
      const unsigned char *run = p;
      /* Copy runs of plain ASCII in one go. */
      while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
        p++;
      if (p > run)
        strbuf_add (sb, run, (size_t) (p - run));
      if (p == end)
        break;
      switch (*p)
        {
        case '"':
          strbuf_adds (sb, "\\\"");
          break;
        case '\\':
          strbuf_adds (sb, "\\\\");
          break;
        case '\n':
          strbuf_adds (sb, "\\n");
          break;
        case '\r':
          strbuf_adds (sb, "\\r");
          break;
        case '\t':
          strbuf_adds (sb, "\\t");
          break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            strbuf_addf (sb, "\\u%04x", *p);
          else
            {
              size_t l = utf8_seq_len (p, (size_t) (end - p));
              if (l == 0)
                strbuf_adds (sb, "\\ufffd");
              else
                {
                  strbuf_add (sb, p, l);
                  p += l - 1;
                }
            }
        }
      p++;
    }
  strbuf_addc (sb, '"');
}

void
jsonl_begin (struct jsonl *j, struct strbuf *sb)
{
  j->sb = sb;
  j->members = 0;
  strbuf_addc (sb, '{');
}

static void
key (struct jsonl *j, const char *k)
{
  if (j->members++ > 0)
    strbuf_addc (j->sb, ',');
  jsonl_string (j->sb, k, strlen (k));
  strbuf_addc (j->sb, ':');
}

void
jsonl_strn (struct jsonl *j, const char *k, const char *val, size_t n)
{
  if (val == NULL)
    return;
  key (j, k);
  jsonl_string (j->sb, val, n);
}

void
jsonl_str (struct jsonl *j, const char *k, const char *val)
{
  if (val != NULL)
    jsonl_strn (j, k, val, strlen (val));
}

void
jsonl_int (struct jsonl *j, const char *k, long long val)
{
  key (j, k);
  strbuf_addf (j->sb, "%lld", val);
}

void
jsonl_end (struct jsonl *j)
{
  strbuf_adds (j->sb, "}\n");
}
