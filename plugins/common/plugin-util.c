/* enclaver plugins/: shared helpers (see plugin-util.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <enclaver/build.h>
#include "plugins/common/plugin-util.h"

static void *
must (void *p)
{
  if (p == NULL)
    abort ();
  return p;
}

char **
plugin_split_list (const char *s, size_t *n)
{
  char **v = must (calloc (1, sizeof *v));
  size_t k = 0;
  while (s && *s)
    {
      size_t l;
      while (*s == ',' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
      l = strcspn (s, ", \t\r\n");
      if (l == 0)
        break;
      v = must (realloc (v, (k + 2) * sizeof *v));
      v[k] = must (strndup (s, l));
      v[++k] = NULL;
      s += l;
    }
  *n = k;
  return v;
}

void
plugin_strv_free (char **v)
{
  size_t i;
  for (i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

char *
plugin_output_path (const enclaver_ctx_t *ctx, const char *value, const char *suffix)
{
  char *p;
  if (value == NULL || *value == '\0')
    return enclaver_build_output_beside_eif (ctx, suffix);
  if (value[0] == '/')
    return must (strdup (value));
  {
    const char *dir = enclaver_build_output_dir (ctx);
    size_t n = strlen (dir) + strlen (value) + 2;
    p = must (malloc (n));
    snprintf (p, n, "%s/%s", dir, value);
  }
  return p;
}

int
plugin_write_output (enclaver_ctx_t *ctx, const char *path, const void *data, size_t len, const char **tmp_out,
                     enclaver_error_t *err)
{
  const char *tmp;
  const char *p = data;
  int fd = enclaver_ctx_output_open (ctx, path, &tmp, err);
  if (fd < 0)
    return -1;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          int e = w < 0 ? errno : EIO;
          close (fd);
          return enclaver_make_errno (err, e, "write %s", tmp);
        }
      p += w;
      len -= (size_t) w;
    }
  if (close (fd) < 0)
    return enclaver_make_errno (err, errno, "write %s", tmp);
  if (tmp_out)
    *tmp_out = tmp;
  return 0;
}

int
plugin_read_file (const char *path, size_t max, char **out, size_t *len, enclaver_error_t *err)
{
  /* FIFO-safe: a FIFO, socket or device is refused without blocking or reading it. */
  int fd = enclaver_build_open_input (path, err);
  struct stat st;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  if (fd < 0)
    return -1;
  if (fstat (fd, &st) == 0 && !S_ISREG (st.st_mode))
    {
      close (fd);
      return enclaver_make_error (err, EINVAL, "%s is not a regular file", path);
    }
  for (;;)
    {
      ssize_t r;
      if (n + 4096 + 1 > cap)
        {
          cap = cap ? cap * 2 : 8192;
          buf = must (realloc (buf, cap));
        }
      r = read (fd, buf + n, cap - n - 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int e = errno;
          free (buf);
          close (fd);
          return enclaver_make_errno (err, e, "read %s", path);
        }
      if (r == 0)
        break;
      n += (size_t) r;
      if (n > max)
        {
          free (buf);
          close (fd);
          return enclaver_make_error (err, EFBIG, "%s is larger than %zu bytes", path, max);
        }
    }
  close (fd);
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = n;
  return 0;
}

void
plugin_hex (const unsigned char *p, size_t len, char *out)
{
  static const char d[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < len; i++)
    {
      out[2 * i] = d[p[i] >> 4];
      out[2 * i + 1] = d[p[i] & 15];
    }
  out[2 * len] = '\0';
}

void
plugin_sha256_hex (const void *p, size_t len, char out[65])
{
  unsigned char dig[32];
  unsigned dl = 0;
  EVP_Digest (p, len, dig, &dl, EVP_sha256 (), NULL);
  plugin_hex (dig, 32, out);
}

int
plugin_file_sha256 (const char *path, char out[65], uint64_t *size, enclaver_error_t *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  EVP_MD_CTX *md;
  unsigned char buf[1 << 16], dig[32];
  unsigned dl = 0;
  ssize_t n;
  uint64_t total = 0;
  if (fd < 0)
    return enclaver_make_errno (err, errno, "open %s", path);
  md = must (EVP_MD_CTX_new ());
  EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      EVP_DigestUpdate (md, buf, (size_t) n);
      total += (uint64_t) n;
    }
  if (n < 0)
    {
      int e = errno;
      EVP_MD_CTX_free (md);
      close (fd);
      return enclaver_make_errno (err, e, "read %s", path);
    }
  close (fd);
  EVP_DigestFinal_ex (md, dig, &dl);
  EVP_MD_CTX_free (md);
  plugin_hex (dig, 32, out);
  if (size)
    *size = total;
  return 0;
}

void
plugin_human_size (uint64_t n, char out[32])
{
  static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
  double v = (double) n;
  int u = 0;
  while (v >= 1024 && u < 4)
    {
      v /= 1024;
      u++;
    }
  if (u == 0)
    snprintf (out, 32, "%llu bytes", (unsigned long long) n);
  else
    snprintf (out, 32, "%.1f %s", v, unit[u]);
}
