/* enclaver: internal helpers (allocation, files, paths). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <enclaver/tempfiles.h>
#include "util.h"

void
xoom (void)
{
  static const char msg[] = "enclaver: out of memory\n";
  ssize_t r = write (2, msg, sizeof msg - 1);
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
xasprintf (const char *fmt, ...)
{
  char *r;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&r, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  return r;
}

void
enclaver_strv_free (char **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

int
enclaver_read_stream (FILE *f, const char *name, size_t max_size, char **out, size_t *len,
                      enclaver_error_t *err)
{
  size_t cap = 4096, n = 0;
  char *buf = xmalloc (cap);

  for (;;)
    {
      size_t r;
      if (n + 1 >= cap)
        {
          if (cap > max_size)
            {
              free (buf);
              return enclaver_make_error (err, EFBIG, "%s: larger than %zu bytes", name, max_size);
            }
          cap *= 2;
          buf = xrealloc (buf, cap);
        }
      r = fread (buf + n, 1, cap - n - 1, f);
      n += r;
      if (r == 0)
        break;
    }
  if (ferror (f))
    {
      free (buf);
      return enclaver_make_errno (err, errno ? errno : EIO, "read %s", name);
    }
  if (n > max_size)
    {
      free (buf);
      return enclaver_make_error (err, EFBIG, "%s: larger than %zu bytes", name, max_size);
    }
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = n;
  return 0;
}

int
enclaver_read_file (const char *path, size_t max_size, char **out, size_t *len, enclaver_error_t *err)
{
  cleanup_file FILE *f = fopen (path, "re");
  if (f == NULL)
    return enclaver_make_errno (err, errno, "open %s", path);
  return enclaver_read_stream (f, path, max_size, out, len, err);
}

int
enclaver_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

int
enclaver_pwrite_all (int fd, const void *buf, size_t len, uint64_t off)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = pwrite (fd, p, len, (off_t) off);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += w;
      len -= (size_t) w;
      off += (uint64_t) w;
    }
  return 0;
}

int
enclaver_write_file_atomic (const char *path, const void *buf, size_t len, int mode,
                            enclaver_error_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp.XXXXXX", path);
  int fd = enclaver_temp_mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "create temporary file for %s", path);
  if (enclaver_write_all (fd, buf, len) < 0 || fchmod (fd, (mode_t) mode) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      close (fd);
      enclaver_temp_unlink (tmp);
      return enclaver_make_errno (err, e, "write %s", tmp);
    }
  if (close (fd) < 0 || rename (tmp, path) < 0)
    {
      int e = errno;
      enclaver_temp_unlink (tmp);
      return enclaver_make_errno (err, e, "rename %s to %s", tmp, path);
    }
  enclaver_temp_forget (tmp);
  return 0;
}

size_t
enclaver_edit_distance (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b), i, j;
  cleanup_free size_t *row = xmalloc ((lb + 1) * sizeof *row);

  for (j = 0; j <= lb; j++)
    row[j] = j;
  for (i = 1; i <= la; i++)
    {
      size_t diag = row[0];
      row[0] = i;
      for (j = 1; j <= lb; j++)
        {
          size_t up = row[j];
          size_t best = diag + (a[i - 1] != b[j - 1]);
          if (row[j - 1] + 1 < best)
            best = row[j - 1] + 1;
          if (up + 1 < best)
            best = up + 1;
          row[j] = best;
          diag = up;
        }
    }
  return row[lb];
}

/* Lexically normalise an absolute path: collapse "//", "." and "..". */
static char *
normalise_abs (const char *p)
{
  size_t n = strlen (p);
  char *out = xmalloc (n + 2);
  size_t o = 0;

  while (*p)
    {
      const char *e;
      size_t l;
      while (*p == '/')
        p++;
      if (!*p)
        break;
      e = strchrnul (p, '/');
      l = (size_t) (e - p);
      if (l == 1 && p[0] == '.')
        ;
      else if (l == 2 && p[0] == '.' && p[1] == '.')
        {
          while (o > 0 && out[o - 1] != '/')
            o--;
          if (o > 0)
            o--;
        }
      else
        {
          out[o++] = '/';
          memcpy (out + o, p, l);
          o += l;
        }
      p = e;
    }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
  return out;
}

char *
enclaver_path_join_abs (const char *dir, const char *p)
{
  cleanup_free char *cwd = NULL;
  cleanup_free char *joined = NULL;

  if (p[0] == '/')
    return normalise_abs (p);
  if (dir == NULL)
    {
      cwd = getcwd (NULL, 0);
      if (cwd == NULL)
        cwd = xstrdup ("/");
      dir = cwd;
    }
  joined = xasprintf ("%s/%s", dir, p);
  if (joined[0] != '/')
    {
      cleanup_free char *c = getcwd (NULL, 0);
      char *j2 = xasprintf ("%s/%s", c ? c : "", joined);
      free (joined);
      joined = j2;
    }
  return normalise_abs (joined);
}

char *
enclaver_self_dir (void)
{
  char buf[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return xstrdup (dirname (buf));
}

int
enclaver_in_build_tree (const char *dir)
{
  size_t n = strlen (ABS_TOP_BUILDDIR);
  return strncmp (dir, ABS_TOP_BUILDDIR, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

char *
enclaver_relocated_dir (const char *configured)
{
  cleanup_free char *self = enclaver_self_dir ();
  size_t pl = strlen (PREFIX);
  const char *p;
  char *up;

  if (self == NULL || enclaver_in_build_tree (self) || strncmp (configured, PREFIX, pl) != 0
      || strncmp (BINDIR, PREFIX, pl) != 0 || strlen (BINDIR) <= pl)
    return NULL;
  /* Walk up from the exe dir as many levels as bindir is below prefix. */
  up = xstrdup (self);
  for (p = BINDIR + pl; *p; p++)
    if (*p == '/' && p[1] != '\0' && p[1] != '/')
      {
        char *slash = strrchr (up, '/');
        if (slash == NULL || slash == up)
          {
            free (up);
            return NULL;
          }
        *slash = '\0';
      }
  {
    char *r = xasprintf ("%s%s", up, configured + pl);
    free (up);
    return r;
  }
}
