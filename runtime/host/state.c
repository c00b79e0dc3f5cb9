/* enclaver host launcher: state files for `enclaver ps` and `enclaver stop` (state.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include <enclaver/log.h>

#include "state.h"

int
host_run_dir_default (char *out, size_t len)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR"), *env = getenv ("ENCLAVER_RUN_DIR");
  int n;
  if (env && env[0] == '/')
    n = snprintf (out, len, "%s", env);
  else if (access ("/run", W_OK) == 0)
    n = snprintf (out, len, "/run/enclaver");
  else if (xdg && xdg[0] == '/')
    n = snprintf (out, len, "%s/enclaver", xdg);
  else
    n = snprintf (out, len, "/tmp/enclaver-%u", (unsigned) getuid ());
  return n > 0 && (size_t) n < len ? 0 : -1;
}

int
host_name_valid (const char *name)
{
  size_t i, n = strlen (name);
  if (n == 0 || n > HOST_NAME_MAX_LEN || name[0] == '.' || name[0] == '-')
    return 0;
  for (i = 0; i < n; i++)
    {
      char c = name[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
            || c == '.' || c == '-'))
        return 0;
    }
  return 1;
}

int
host_state_path (const char *run_dir, const char *name, char *out, size_t len)
{
  int n = snprintf (out, len, "%s/%s.json", run_dir, name);
  return n > 0 && (size_t) n < len ? 0 : -1;
}

unsigned long long
host_proc_start_ticks (pid_t pid)
{
  char path[64], buf[1024], *p, *save = NULL;
  unsigned long long ticks = 0;
  ssize_t r;
  int fd, field;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  r = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (r <= 0)
    return 0;
  buf[r] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: start after the last ')'. */
  p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  /* Fields from 3 on, separated by single spaces: 3 is the state, 22 the start time. */
  for (field = 3, p = strtok_r (p + 1, " ", &save); p; field++, p = strtok_r (NULL, " ", &save))
    {
      if (field == 3 && (p[0] == 'Z' || p[0] == 'X'))
        return 0; /* a zombie is not running */
      if (field == 22)
        {
          ticks = strtoull (p, NULL, 10);
          break;
        }
    }
  return ticks;
}

int
host_state_alive (const struct host_state *s)
{
  unsigned long long t;
  if (s->launcher_pid <= 0)
    return 0;
  if (kill (s->launcher_pid, 0) < 0 && errno != EPERM)
    return 0;
  t = host_proc_start_ticks (s->launcher_pid);
  return t != 0 && (s->launcher_ticks == 0 || t == s->launcher_ticks);
}

int
host_state_claim (const char *run_dir, const char *name, enclaver_error_t *err)
{
  char path[4096];
  struct host_state s;
  enclaver_error_t e = NULL;
  memset (&s, 0, sizeof s);
  if (host_state_path (run_dir, name, path, sizeof path) < 0)
    return enclaver_make_error (err, ENAMETOOLONG, "run directory path too long: %s", run_dir);
  if (access (path, F_OK) < 0)
    return 0;
  if (host_state_read (path, &s, &e) == 0 && host_state_alive (&s))
    return enclaver_make_error (err, EEXIST,
                                "an enclave named '%s' is already running (launcher pid %d, %s); "
                                "choose another --name or stop it with `enclaver stop %s`",
                                name, (int) s.launcher_pid, path, name);
  enclaver_error_release (&e);
  /* Stale: its launcher is gone (killed with SIGKILL, or the host rebooted). */
  if (unlink (path) == 0)
    enclaver_log (ENCLAVER_LOG_INFO, "run",
                  "enclave '%s': removed %s, left by an earlier run whose launcher (pid %d) is gone", name,
                  path, (int) s.launcher_pid);
  return 0;
}

static int
mkdir_p (const char *dir)
{
  char buf[4096];
  size_t i, n = strlen (dir);
  if (n >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, dir, n + 1);
  for (i = 1; i <= n; i++)
    if (buf[i] == '/' || buf[i] == '\0')
      {
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir (buf, 0700) < 0 && errno != EEXIST)
          return -1;
        buf[i] = c;
      }
  return 0;
}

int
host_state_write (const char *run_dir, const struct host_state *s, enclaver_error_t *err)
{
  char path[4096], tmp[4200];
  json_t *o;
  char *text;
  int fd, ok;
  size_t len;

  if (host_state_path (run_dir, s->name, path, sizeof path) < 0)
    return enclaver_make_error (err, ENAMETOOLONG, "run directory path too long: %s", run_dir);
  if (mkdir_p (run_dir) < 0)
    return enclaver_make_errno (err, errno, "cannot create the run directory %s", run_dir);
  o = json_pack ("{s:s, s:s, s:s, s:I, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "name", s->name,
                 "backend", s->backend, "id", s->id, "cid", (json_int_t) s->cid, "image_digest",
                 s->image_digest[0] ? s->image_digest : NULL, "pcr0", s->pcr0[0] ? s->pcr0 : NULL,
                 "memory_mib", (json_int_t) s->memory_mib, "cpu_count", (json_int_t) s->cpu_count,
                 "started", (json_int_t) s->started, "launcher_pid", (json_int_t) s->launcher_pid,
                 "launcher_ticks", (json_int_t) s->launcher_ticks, "status_addr", s->status_addr,
                 "log_addr", s->log_addr);
  if (o == NULL)
    return enclaver_make_error (err, EINVAL, "cannot encode the state of enclave '%s'", s->name);
  text = json_dumps (o, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (text == NULL)
    abort ();
  snprintf (tmp, sizeof tmp, "%s/.%s.json.%d.tmp", run_dir, s->name, (int) getpid ());
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      free (text);
      return enclaver_make_errno (err, errno, "cannot write %s", tmp);
    }
  len = strlen (text);
  text[len] = '\n'; /* json_dumps' NUL becomes the final newline */
  ok = write (fd, text, len + 1) == (ssize_t) (len + 1);
  free (text);
  if (close (fd) < 0)
    ok = 0;
  if (!ok || rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return enclaver_make_errno (err, e ? e : EIO, "cannot write %s", path);
    }
  return 0;
}

void
host_state_remove (const char *run_dir, const char *name)
{
  char path[4096];
  if (host_state_path (run_dir, name, path, sizeof path) == 0)
    unlink (path);
}

static int
get_str (json_t *o, const char *key, char *out, size_t len, int required, const char *path,
         enclaver_error_t *err)
{
  json_t *v = json_object_get (o, key);
  out[0] = '\0';
  if (v == NULL || json_is_null (v))
    return required ? enclaver_make_error (err, EINVAL, "%s: missing key '%s'", path, key) : 0;
  if (!json_is_string (v) || strlen (json_string_value (v)) >= len)
    return enclaver_make_error (err, EINVAL, "%s: key '%s' is not a string of at most %zu bytes", path,
                                key, len - 1);
  memcpy (out, json_string_value (v), strlen (json_string_value (v)) + 1);
  return 0;
}

static int
get_int (json_t *o, const char *key, long long *out, const char *path, enclaver_error_t *err)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return enclaver_make_error (err, EINVAL, "%s: key '%s' is missing or not a non-negative integer",
                                path, key);
  *out = json_integer_value (v);
  return 0;
}

int
host_state_read (const char *path, struct host_state *s, enclaver_error_t *err)
{
  json_error_t je;
  json_t *o = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
  long long cid, mem, cpus, started, pid, ticks;
  int r;
  memset (s, 0, sizeof *s);
  if (o == NULL)
    return enclaver_make_error (err, EINVAL, "%s:%d: %s", path, je.line, je.text);
  if (!json_is_object (o))
    {
      json_decref (o);
      return enclaver_make_error (err, EINVAL, "%s: not a JSON object", path);
    }
  r = get_str (o, "name", s->name, sizeof s->name, 1, path, err);
  if (r == 0)
    r = get_str (o, "id", s->id, sizeof s->id, 1, path, err);
  if (r == 0)
    r = get_str (o, "backend", s->backend, sizeof s->backend, 0, path, err);
  if (r == 0)
    r = get_str (o, "image_digest", s->image_digest, sizeof s->image_digest, 0, path, err);
  if (r == 0)
    r = get_str (o, "pcr0", s->pcr0, sizeof s->pcr0, 0, path, err);
  if (r == 0)
    r = get_str (o, "status_addr", s->status_addr, sizeof s->status_addr, 0, path, err);
  if (r == 0)
    r = get_str (o, "log_addr", s->log_addr, sizeof s->log_addr, 0, path, err);
  if (r == 0)
    r = get_int (o, "cid", &cid, path, err);
  if (r == 0)
    r = get_int (o, "memory_mib", &mem, path, err);
  if (r == 0)
    r = get_int (o, "cpu_count", &cpus, path, err);
  if (r == 0)
    r = get_int (o, "started", &started, path, err);
  if (r == 0)
    r = get_int (o, "launcher_pid", &pid, path, err);
  if (r == 0)
    r = get_int (o, "launcher_ticks", &ticks, path, err);
  json_decref (o);
  if (r < 0)
    return -1;
  if (pid == 0 || pid > INT32_MAX)
    return enclaver_make_error (err, EINVAL, "%s: key 'launcher_pid' is out of range", path);
  s->cid = (uint64_t) cid;
  s->memory_mib = (uint64_t) mem;
  s->cpu_count = (uint32_t) cpus;
  s->started = started;
  s->launcher_pid = (pid_t) pid;
  s->launcher_ticks = (unsigned long long) ticks;
  return 0;
}
