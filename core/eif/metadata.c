/* enclaver: the EIF metadata section's JSON, byte for byte as the reference builder
 * (serde_json) writes it: compact, keys in its order, its float and string escaping. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eif/eif-internal.h"

static void
sb_puts (struct cbor_buf *b, const char *s)
{
  cbor_put_raw (b, s, strlen (s));
}

static int
utf8_valid (const unsigned char *s, size_t len)
{
  size_t i = 0;
  while (i < len)
    {
      unsigned c = s[i];
      size_t n;
      uint32_t cp;
      if (c < 0x80)
        {
          i++;
          continue;
        }
      if ((c & 0xe0) == 0xc0)
        n = 1, cp = c & 0x1f;
      else if ((c & 0xf0) == 0xe0)
        n = 2, cp = c & 0x0f;
      else if ((c & 0xf8) == 0xf0)
        n = 3, cp = c & 0x07;
      else
        return 0;
      if (len - i - 1 < n)
        return 0;
      for (size_t k = 1; k <= n; k++)
        {
          if ((s[i + k] & 0xc0) != 0x80)
            return 0;
          cp = (cp << 6) | (s[i + k] & 0x3f);
        }
      if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff
          || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
      i += n + 1;
    }
  return 1;
}

/* JSON string with serde_json's escapes: \" \\ \b \f \n \r \t, \u00xx (lowercase) for
 * other control characters, everything else verbatim. */
static void
json_put_string (struct cbor_buf *b, const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  cbor_put_raw (b, "\"", 1);
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) s[i];
      char esc[7];
      switch (c)
        {
        case '"':
          sb_puts (b, "\\\"");
          break;
        case '\\':
          sb_puts (b, "\\\\");
          break;
        case '\b':
          sb_puts (b, "\\b");
          break;
        case '\f':
          sb_puts (b, "\\f");
          break;
        case '\n':
          sb_puts (b, "\\n");
          break;
        case '\r':
          sb_puts (b, "\\r");
          break;
        case '\t':
          sb_puts (b, "\\t");
          break;
        default:
          if (c < 0x20)
            {
              memcpy (esc, "\\u00", 4);
              esc[4] = hex[c >> 4];
              esc[5] = hex[c & 15];
              cbor_put_raw (b, esc, 6);
            }
          else
            cbor_put_raw (b, &s[i], 1);
        }
    }
  cbor_put_raw (b, "\"", 1);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Shortest round-trip representation of a double, formatted like serde_json (ryu):
 * always with a '.' or an exponent, exponent without '+' or leading zeros. */
static void
json_put_real (struct cbor_buf *b, double v)
{
  char buf[64], out[64];
  size_t o = 0;

  if (!isfinite (v))
    {
      sb_puts (b, "null");
      return;
    }
  for (int prec = 1; prec <= 17; prec++)
    {
      snprintf (buf, sizeof buf, "%.*g", prec, v);
      if (strtod (buf, NULL) == v)
        break;
    }
  for (const char *p = buf; *p && o < sizeof out - 3; p++)
    {
      if (*p == 'e')
        {
          out[o++] = 'e';
          p++;
          if (*p == '+')
            p++;
          else if (*p == '-')
            out[o++] = *p++;
          while (*p == '0' && p[1])
            p++;
          while (*p && o < sizeof out - 3)
            out[o++] = *p++;
          break;
        }
      out[o++] = *p;
    }
  out[o] = '\0';
  if (strpbrk (out, ".e") == NULL)
    strcat (out, ".0");
  sb_puts (b, out);
}

static int
json_put_value (struct cbor_buf *b, json_t *v, int depth, enclaver_error_t *err)
{
  char num[32];

  if (depth > 128)
    return enclaver_make_error (err, EINVAL, "JSON nested too deeply");
  switch (json_typeof (v))
    {
    case JSON_NULL:
      sb_puts (b, "null");
      break;
    case JSON_TRUE:
      sb_puts (b, "true");
      break;
    case JSON_FALSE:
      sb_puts (b, "false");
      break;
    case JSON_INTEGER:
      snprintf (num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
      sb_puts (b, num);
      break;
    case JSON_REAL:
      json_put_real (b, json_real_value (v));
      break;
    case JSON_STRING:
      json_put_string (b, json_string_value (v), json_string_length (v));
      break;
    case JSON_ARRAY:
      {
        size_t i;
        json_t *item;
        cbor_put_raw (b, "[", 1);
        json_array_foreach (v, i, item)
          {
            if (i)
              cbor_put_raw (b, ",", 1);
            if (json_put_value (b, item, depth + 1, err) < 0)
              return -1;
          }
        cbor_put_raw (b, "]", 1);
        break;
      }
    case JSON_OBJECT:
      {
        size_t n = json_object_size (v), i = 0;
        cleanup_free const char **keys = xreallocarray (NULL, n ? n : 1, sizeof *keys);
        const char *k;
        json_t *item;
        json_object_foreach (v, k, item)
          keys[i++] = k;
        qsort (keys, i, sizeof *keys, cmp_str);
        cbor_put_raw (b, "{", 1);
        for (size_t j = 0; j < i; j++)
          {
            if (j)
              cbor_put_raw (b, ",", 1);
            json_put_string (b, keys[j], strlen (keys[j]));
            cbor_put_raw (b, ":", 1);
            if (json_put_value (b, json_object_get (v, keys[j]), depth + 1, err) < 0)
              return -1;
          }
        cbor_put_raw (b, "}", 1);
        break;
      }
    }
  return 0;
}

static int
json_put_text (struct cbor_buf *b, const char *text, const char *what, enclaver_error_t *err)
{
  json_error_t jerr;
  json_t *v;
  int ret;

  if (text == NULL)
    {
      sb_puts (b, "null");
      return 0;
    }
  v = json_loads (text, JSON_DECODE_ANY, &jerr);
  if (v == NULL)
    return enclaver_make_error (err, EINVAL, "%s is not valid JSON: line %d column %d: %s", what, jerr.line,
                                jerr.column, jerr.text);
  ret = json_put_value (b, v, 0, err);
  json_decref (v);
  return ret;
}

static int
put_field (struct cbor_buf *b, const char *key, const char *val, enclaver_error_t *err)
{
  if (val == NULL)
    val = "";
  if (!utf8_valid ((const unsigned char *) val, strlen (val)))
    return enclaver_make_error (err, EINVAL, "metadata %s is not valid UTF-8", key);
  cbor_put_raw (b, "\"", 1);
  sb_puts (b, key);
  sb_puts (b, "\":");
  json_put_string (b, val, strlen (val));
  return 0;
}

char *
enclaver_eif_metadata_json (const struct enclaver_eif_metadata *md, size_t *len, enclaver_error_t *err)
{
  struct cbor_buf b = { 0 };

  sb_puts (&b, "{");
  if (put_field (&b, "ImageName", md->image_name, err) < 0)
    goto fail;
  sb_puts (&b, ",");
  if (put_field (&b, "ImageVersion", md->image_version, err) < 0)
    goto fail;
  sb_puts (&b, ",\"BuildMetadata\":{");
  if (put_field (&b, "BuildTime", md->build_time, err) < 0)
    goto fail;
  sb_puts (&b, ",");
  if (put_field (&b, "BuildTool", md->build_tool, err) < 0)
    goto fail;
  sb_puts (&b, ",");
  if (put_field (&b, "BuildToolVersion", md->build_tool_version, err) < 0)
    goto fail;
  sb_puts (&b, ",");
  if (put_field (&b, "OperatingSystem", md->operating_system, err) < 0)
    goto fail;
  sb_puts (&b, ",");
  if (put_field (&b, "KernelVersion", md->kernel_version, err) < 0)
    goto fail;
  sb_puts (&b, "},\"DockerInfo\":");
  if (json_put_text (&b, md->docker_info, "DockerInfo", err) < 0)
    goto fail;
  sb_puts (&b, ",\"CustomMetadata\":");
  if (json_put_text (&b, md->custom_metadata, "custom metadata", err) < 0)
    goto fail;
  sb_puts (&b, "}");
  cbor_put_raw (&b, "", 1);
  if (len)
    *len = b.len - 1;
  return (char *) b.data;
fail:
  free (b.data);
  return NULL;
}
