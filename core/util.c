/* enclaver: internal helpers of the core that report through enclaver_error_t (whole
 * files, atomic writes) and locate the installation.  The libc-only ones are in common/. */
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
enclaver_open_file_at (int dfd, const char *name, const char *display, int flags, enclaver_error_t *err)
{
  mode_t kind;
  int fd = enclaver_open_regular (dfd, name, flags, &kind), e;
  if (fd >= 0)
    return fd;
  e = errno;
  if (kind)
    enclaver_make_error (err, e, "%s is %s, not a regular file", display, enclaver_file_kind (kind));
  else
    enclaver_make_errno (err, e, "open %s", display);
  errno = e;
  return -1;
}

int
enclaver_open_file (const char *path, int flags, enclaver_error_t *err)
{
  return enclaver_open_file_at (AT_FDCWD, path, path, flags, err);
}

int
enclaver_read_file (const char *path, size_t max_size, char **out, size_t *len, enclaver_error_t *err)
{
  int fd = enclaver_open_file (path, 0, err);
  if (fd < 0)
    return -1;
  cleanup_file FILE *f = fdopen (fd, "re");
  if (f == NULL)
    {
      int e = errno;
      close (fd);
      return enclaver_make_errno (err, e, "open %s", path);
    }
  return enclaver_read_stream (f, path, max_size, out, len, err);
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
  for (p = &BINDIR[pl]; *p; p++)
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

void
enclaver_remove_tree (const char *path)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL)
    {
      cleanup_free char *p = NULL;
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      p = xasprintf ("%s/%s", path, de->d_name);
      if (lstat (p, &st) == 0 && S_ISDIR (st.st_mode))
        enclaver_remove_tree (p);
      else
        unlink (p);
    }
  rmdir (path);
}
