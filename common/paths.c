/* enclaver common helpers: path names. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "common/paths.h"
#include "common/xalloc.h"

char *
enclaver_path_normalise_abs (const char *p)
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
    return enclaver_path_normalise_abs (p);
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
  return enclaver_path_normalise_abs (joined);
}
