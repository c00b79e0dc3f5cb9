/* enclaver-init: command line, /env + /cmd, heartbeat, status text. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "initlib.h"
#include "rtutil.h"
#include "transport.h"

int
init_cmdline_get (const char *cmdline, const char *key, char *val, size_t vallen)
{
  size_t kl = strlen (key);
  const char *p = cmdline;
  int found = 0;

  while (p && *p)
    {
      const char *start, *end;
      int quoted = 0;
      while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
      if (*p == '\0')
        break;
      start = p;
      /* A word ends at unquoted whitespace; "..." may hold spaces (kernel rules). */
      while (*p && (quoted || (*p != ' ' && *p != '\t' && *p != '\n')))
        {
          if (*p == '"')
            quoted = !quoted;
          p++;
        }
      end = p;
      if ((size_t) (end - start) >= kl && memcmp (start, key, kl) == 0
          && (start + kl == end || start[kl] == '='))
        {
          const char *v = start + kl;
          size_t vl, o = 0;
          if (*v == '=')
            v++;
          vl = (size_t) (end - v);
          if (vallen > 0)
            {
              size_t i;
              for (i = 0; i < vl && o + 1 < vallen; i++)
                if (v[i] != '"')
                  val[o++] = v[i];
              val[o] = '\0';
            }
          found = 1;
        }
    }
  return found;
}

int
init_heartbeat_wanted (const char *cmdline)
{
  char v[32];
  if (!init_cmdline_get (cmdline, "enclaver.heartbeat", v, sizeof v))
    return 1;
  return !(strcmp (v, "off") == 0 || strcmp (v, "0") == 0 || strcmp (v, "no") == 0
           || strcmp (v, "false") == 0);
}

int
init_read_lines (const char *path, char ***out, size_t *n, char *err, size_t errlen)
{
  FILE *f;
  char *line = NULL;
  size_t cap = 0, total = 0;
  ssize_t len;
  char **v = NULL;
  size_t count = 0;

  *out = NULL;
  *n = 0;
  f = fopen (path, "re");
  if (f == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return rt_err (err, errlen, "open %s: %s", path, strerror (errno));
    }
  while ((len = getline (&line, &cap, f)) >= 0)
    {
      total += (size_t) len;
      if (total > INIT_LINES_MAX_BYTES || count >= INIT_LINES_MAX)
        {
          free (line);
          fclose (f);
          rt_strv_free (v);
          return rt_err (err, errlen, "%s: too large (more than %d bytes or %d lines)", path,
                         INIT_LINES_MAX_BYTES, INIT_LINES_MAX);
        }
      if (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
      if (strlen (line) != (size_t) len)
        {
          free (line);
          fclose (f);
          rt_strv_free (v);
          return rt_err (err, errlen, "%s: line %zu contains a NUL byte", path, count + 1);
        }
      v = rt_strv_push (v, line);
      count++;
    }
  if (ferror (f))
    {
      int e = errno;
      free (line);
      fclose (f);
      rt_strv_free (v);
      return rt_err (err, errlen, "read %s: %s", path, strerror (e));
    }
  free (line);
  fclose (f);
  *out = v;
  *n = count;
  return 0;
}

int
init_heartbeat (const char *addr, char *err, size_t errlen)
{
  unsigned char b = INIT_HEARTBEAT_BYTE;
  ssize_t r;
  int fd = enclaver_transport_connect (addr, err, errlen);
  if (fd < 0)
    return -1;
  if (enclaver_write_all (fd, &b, 1) < 0)
    {
      int e = errno;
      close (fd);
      return rt_err (err, errlen, "heartbeat: send to %s: %s", addr, strerror (e));
    }
  do
    r = read (fd, &b, 1);
  while (r < 0 && errno == EINTR);
  close (fd);
  if (r < 0)
    return rt_err (err, errlen, "heartbeat: read from %s: %s", addr, strerror (errno));
  if (r == 0)
    return rt_err (err, errlen, "heartbeat: %s closed the connection without answering", addr);
  if (b != INIT_HEARTBEAT_BYTE)
    return rt_err (err, errlen, "heartbeat: %s answered 0x%02X instead of 0x%02X", addr, b,
                   INIT_HEARTBEAT_BYTE);
  return 0;
}

void
init_describe_status (int wstatus, char *buf, size_t len)
{
  if (WIFEXITED (wstatus))
    snprintf (buf, len, "exited with code %d", WEXITSTATUS (wstatus));
  else if (WIFSIGNALED (wstatus))
    snprintf (buf, len, "killed by signal %d", WTERMSIG (wstatus));
  else
    snprintf (buf, len, "ended with wait status 0x%x", (unsigned) wstatus);
}
