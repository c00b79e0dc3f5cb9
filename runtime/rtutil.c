/* enclaver runtime: small helpers shared by the in-enclave programs. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rtutil.h"

int
rt_err (char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  if (err == NULL || errlen == 0)
    return -1;
  va_start (ap, fmt);
  vsnprintf (err, errlen, fmt, ap);
  va_end (ap);
  return -1;
}

size_t
rt_strv_len (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

void
rt_strv_free (char **v)
{
  size_t i;
  if (v == NULL)
    return;
  for (i = 0; v[i]; i++)
    free (v[i]);
  free (v);
}

char **
rt_strv_dup (char *const *v)
{
  size_t n = rt_strv_len (v), i;
  char **r = xcalloc (n + 1, sizeof *r);
  for (i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  return r;
}

char **
rt_strv_push (char **v, const char *s)
{
  size_t n = rt_strv_len (v);
  v = xreallocarray (v, n + 2, sizeof *v);
  v[n] = xstrdup (s);
  v[n + 1] = NULL;
  return v;
}

const char *
rt_env_get (char *const *env, const char *name)
{
  size_t nl = strlen (name), i;
  for (i = 0; env && env[i]; i++)
    if (strncmp (env[i], name, nl) == 0 && env[i][nl] == '=')
      return env[i] + nl + 1;
  return NULL;
}

size_t
rt_vsay (char *buf, size_t cap, const char *prog, const char *fmt, va_list ap)
{
  struct strbuf sb;
  strbuf_init_fixed (&sb, buf, cap);
  logline_vtext (&sb, prog, NULL, LOGLINE_INFO, fmt, ap);
  enclaver_write_all (2, sb.data, sb.len);
  return sb.len;
}

/* Regular file with some execute bit, accessible for execution by us. */
static int
is_executable (const char *p, int *why)
{
  struct stat st;
  if (stat (p, &st) < 0)
    {
      *why = errno;
      return 0;
    }
  if (!S_ISREG (st.st_mode))
    {
      *why = EACCES;
      return 0;
    }
  if (access (p, X_OK) < 0)
    {
      *why = errno;
      return 0;
    }
  return 1;
}

char *
rt_find_program (const char *name, const char *path, char *err, size_t errlen)
{
  const char *p;
  int saw_eacces = 0, why = 0;

  if (name == NULL || *name == '\0')
    {
      errno = ENOENT;
      rt_err (err, errlen, "empty program name");
      return NULL;
    }
  if (strchr (name, '/'))
    {
      if (is_executable (name, &why))
        return xstrdup (name);
      errno = why;
      rt_err (err, errlen, "%s: %s", name, strerror (why));
      return NULL;
    }
  if (path == NULL || *path == '\0')
    path = RT_DEFAULT_PATH;
  p = path;
  for (;;)
    {
      const char *end = strchr (p, ':');
      size_t dl = end ? (size_t) (end - p) : strlen (p);
      char *cand;
      /* An empty element means the current directory (POSIX execvp). */
      if (dl == 0)
        cand = xasprintf ("./%s", name);
      else
        cand = xasprintf ("%.*s/%s", (int) dl, p, name);
      if (is_executable (cand, &why))
        return cand;
      if (why == EACCES)
        saw_eacces = 1;
      free (cand);
      if (end == NULL)
        break;
      p = end + 1;
    }
  errno = saw_eacces ? EACCES : ENOENT;
  if (saw_eacces)
    rt_err (err, errlen, "%s: found on PATH but not executable (PATH=%s)", name, path);
  else
    rt_err (err, errlen, "%s: executable file not found in PATH (PATH=%s)", name, path);
  return NULL;
}

/* ---- base64 (RFC 4648 standard alphabet; padding optional but, when present,
 * exact; no white space) ---- */

static int
b64_digit (int c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* out needs len * 3 / 4 + 3 bytes.  Returns the length, or -1 with why set. */
long
rt_b64_decode (const char *s, size_t len, uint8_t *out, const char **why)
{
  size_t n = 0, digits = len, i;
  uint32_t acc = 0;
  unsigned bits = 0;

  while (digits > 0 && s[digits - 1] == '=')
    digits--;
  if (len - digits > 2 || (len != digits && len % 4 != 0))
    {
      *why = "wrong '=' padding";
      return -1;
    }
  if (digits % 4 == 1)
    {
      *why = "a length no base64 text has";
      return -1;
    }
  for (i = 0; i < digits; i++)
    {
      int v = b64_digit ((unsigned char) s[i]);
      if (v < 0)
        {
          *why = "a character outside the base64 alphabet";
          return -1;
        }
      acc = (acc << 6) | (uint32_t) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[n++] = (uint8_t) (acc >> bits);
          acc &= (1u << bits) - 1;
        }
    }
  if (acc != 0)
    {
      *why = "non-zero bits after the last byte";
      return -1;
    }
  return (long) n;
}

char *
rt_b64_encode (const uint8_t *p, size_t n)
{
  static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = xmalloc ((n + 2) / 3 * 4 + 1), *o = out;
  size_t i;
  for (i = 0; i + 2 < n; i += 3)
    {
      uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
      *o++ = al[v >> 18];
      *o++ = al[(v >> 12) & 63];
      *o++ = al[(v >> 6) & 63];
      *o++ = al[v & 63];
    }
  if (i < n)
    {
      uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0);
      *o++ = al[v >> 18];
      *o++ = al[(v >> 12) & 63];
      *o++ = i + 1 < n ? al[(v >> 6) & 63] : '=';
      *o++ = '=';
    }
  *o = '\0';
  return out;
}
