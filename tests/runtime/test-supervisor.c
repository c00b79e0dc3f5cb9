/* enclaver-supervisor, end to end: the real static binary runs real programs (/bin/sh
 * scripts) and is observed through its status and log streams over the Unix-socket
 * transport.  No timing assertions: every wait is bounded only as a hang guard. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/tap.h"
#include "transport.h"

#define SUPERVISOR RUNTIME_BUILDDIR "/enclaver-supervisor"
#define HANG_GUARD_MS 60000

static char topdir[256];

struct sv_run
{
  pid_t pid;
  char dir[300];
  char status_addr[400];
  char log_addr[400];
};

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap (void)
{
  struct timespec ts = { 0, 10 * 1000 * 1000 };
  nanosleep (&ts, NULL);
}

static void
write_file (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  if (f == NULL)
    {
      tap_diag ("cannot write %s: %s", path, strerror (errno));
      return;
    }
  fputs (text, f);
  fclose (f);
}

static char *
slurp (const char *path)
{
  FILE *f = fopen (path, "r");
  char *buf = NULL;
  size_t len = 0;
  FILE *m;
  int c;
  if (f == NULL)
    return strdup ("");
  m = open_memstream (&buf, &len);
  while ((c = fgetc (f)) != EOF)
    fputc (c, m);
  fclose (m);
  fclose (f);
  return buf;
}

/* Start the supervisor in a fresh directory under topdir, with its console in
 * DIR/console.out and DIR/console.err.  args: extra arguments, NULL-terminated. */
static void
sv_start (struct sv_run *r, const char *name, const char *const *args)
{
  const char *argv[64];
  size_t n = 0, i;
  snprintf (r->dir, sizeof r->dir, "%s/%s", topdir, name);
  mkdir (r->dir, 0755);
  snprintf (r->status_addr, sizeof r->status_addr, "unix:%s/status", r->dir);
  snprintf (r->log_addr, sizeof r->log_addr, "unix:%s/log", r->dir);
  argv[n++] = SUPERVISOR;
  argv[n++] = "--status-addr";
  argv[n++] = r->status_addr;
  argv[n++] = "--log-addr";
  argv[n++] = r->log_addr;
  argv[n++] = "--no-bootstrap";
  for (i = 0; args[i]; i++)
    if (strcmp (args[i], "--config") == 0)
      break;
  if (args[i] == NULL)
    argv[n++] = "--no-config"; /* hermetic: never the host's /etc/enclaver/supervisor.json */
  for (i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  fflush (stdout);
  r->pid = fork ();
  if (r->pid == 0)
    {
      char p[400];
      int fd;
      snprintf (p, sizeof p, "%s/console.out", r->dir);
      fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2 (fd, 1);
      snprintf (p, sizeof p, "%s/console.err", r->dir);
      fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2 (fd, 2);
      execv (SUPERVISOR, (char **) argv);
      _exit (99);
    }
}

/* Exit status of the supervisor (128+N when killed by N), or -1 on a hang. */
static int
sv_wait (struct sv_run *r)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  int st;
  while (now_ms () < deadline)
    {
      pid_t p = waitpid (r->pid, &st, WNOHANG);
      if (p == r->pid)
        {
          r->pid = 0;
          return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
        }
      nap ();
    }
  tap_diag ("hang guard: supervisor %d did not exit; killing it", (int) r->pid);
  kill (r->pid, SIGKILL);
  waitpid (r->pid, &st, 0);
  r->pid = 0;
  return -1;
}

static int
sv_connect (struct sv_run *r, const char *addr)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  char err[256];
  while (now_ms () < deadline)
    {
      int fd = enclaver_transport_connect (addr, err, sizeof err);
      if (fd >= 0)
        return fd;
      if (r->pid > 0 && waitpid (r->pid, NULL, WNOHANG) == r->pid)
        {
          tap_diag ("supervisor exited before %s accepted a connection", addr);
          r->pid = 0;
          return -1;
        }
      nap ();
    }
  tap_diag ("hang guard: cannot connect to %s: %s", addr, err);
  return -1;
}

/* Read one line (without '\n') into buf; NULL at EOF or on a hang. */
static char *
read_line (int fd, char *buf, size_t cap)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  size_t n = 0;
  if (fd < 0)
    return NULL;
  while (n + 1 < cap)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      long long left = deadline - now_ms ();
      char c;
      ssize_t r;
      if (left <= 0 || poll (&p, 1, (int) left) <= 0)
        {
          tap_diag ("hang guard: no complete line within the time limit");
          return NULL;
        }
      r = read (fd, &c, 1);
      if (r <= 0)
        return NULL;
      if (c == '\n')
        break;
      buf[n++] = c;
    }
  buf[n] = '\0';
  return buf;
}

/* Read until `needle` has been seen (or, with needle NULL, until EOF), at most max bytes.
 * Returns a malloc'd NUL-terminated buffer and its length in *len. */
static char *
read_until (int fd, const char *needle, size_t max, size_t *len)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  char *buf = calloc (1, max + 1);
  size_t n = 0;
  while (fd >= 0 && n < max)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      long long left = deadline - now_ms ();
      ssize_t r;
      if (needle && strstr (buf, needle))
        break;
      if (left <= 0 || poll (&p, 1, (int) left) <= 0)
        {
          tap_diag ("hang guard: stream stalled after %zu bytes", n);
          break;
        }
      r = read (fd, buf + n, max - n);
      if (r <= 0)
        break;
      n += (size_t) r;
      buf[n] = '\0';
    }
  *len = n;
  return buf;
}

/* Next status line that is not "running" (the first line may be running or final). */
static char *
final_status (int fd, char *buf, size_t cap)
{
  char *l;
  while ((l = read_line (fd, buf, cap)) != NULL)
    if (strcmp (l, "{\"status\":\"running\"}") != 0)
      return l;
  return NULL;
}

static int
rm_cb (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

/* ---- cases ---- */

static void
test_status_and_replay (void)
{
  struct sv_run r;
  char script[1024], go[400], line[512];
  int c1, c2, c3, lg;
  size_t len;
  char *logtext, *console;
  snprintf (go, sizeof go, "%s/status/go", topdir);
  snprintf (script, sizeof script,
            "echo started; i=0; while [ ! -e '%s' ]; do i=$((i+1)); "
            "if [ $i -gt 6000 ]; then exit 99; fi; sleep 0.01; done; echo done; exit 3",
            go);
  {
    const char *args[] = { "--linger", "60", "--", "/bin/sh", "-c", script, NULL };
    sv_start (&r, "status", args);
  }
  c1 = sv_connect (&r, r.status_addr);
  TAP_STR_EQ (read_line (c1, line, sizeof line), "{\"status\":\"running\"}",
              "status: first client sees running");
  c2 = sv_connect (&r, r.status_addr);
  TAP_STR_EQ (read_line (c2, line, sizeof line), "{\"status\":\"running\"}",
              "status: second client is sent the current state (running) on connect");
  write_file (go, "");
  TAP_STR_EQ (read_line (c1, line, sizeof line), "{\"status\":\"exited\",\"code\":3}",
              "status: first client sees exited with code 3");
  TAP_STR_EQ (read_line (c2, line, sizeof line), "{\"status\":\"exited\",\"code\":3}",
              "status: second client sees exited with code 3");
  c3 = sv_connect (&r, r.status_addr);
  TAP_STR_EQ (read_line (c3, line, sizeof line), "{\"status\":\"exited\",\"code\":3}",
              "status: a client connecting after the exit gets the final state");
  lg = sv_connect (&r, r.log_addr);
  logtext = read_until (lg, "done\n", 4096, &len);
  TAP_STR_EQ (logtext, "started\ndone\n", "log: late client gets the app's whole output");
  free (logtext);
  kill (r.pid, SIGTERM); /* ends the linger period */
  TAP_INT_EQ (sv_wait (&r), 3, "supervisor exits with the app's code");
  snprintf (line, sizeof line, "%s/console.out", r.dir);
  console = slurp (line);
  TAP_STR_EQ (console, "started\ndone\n", "console (supervisor stdout) carries the app's output");
  free (console);
  close (c1);
  close (c2);
  close (c3);
  close (lg);
}

#define LOG_LINES 4000
#define LOG_PAD "0123456789abcdefghijklmnopqrstuvwxyzABCD"

static void
test_log_replay (void)
{
  struct sv_run r;
  char script[1024], go[400], line[512];
  char *expected, *all, *tail, *p;
  size_t elen = 0, len, i;
  int lg1, lg2, st;

  /* What the app will print: LOG_LINES lines of 53 bytes, more than 128 KiB. */
  expected = malloc (LOG_LINES * 64);
  for (i = 0, p = expected; i < LOG_LINES; i++)
    p += sprintf (p, "line-%05zu-%s\n", i, LOG_PAD);
  elen = (size_t) (p - expected);

  snprintf (go, sizeof go, "%s/replay/go", topdir);
  snprintf (script, sizeof script,
            "i=0; while [ ! -e '%s' ]; do i=$((i+1)); if [ $i -gt 6000 ]; then exit 99; fi; "
            "sleep 0.01; done; i=0; while [ $i -lt %d ]; do printf 'line-%%05d-%%s\\n' $i %s; "
            "i=$((i+1)); done",
            go, LOG_LINES, LOG_PAD);
  {
    const char *args[] = { "--linger", "60", "--", "/bin/sh", "-c", script, NULL };
    sv_start (&r, "replay", args);
  }
  st = sv_connect (&r, r.status_addr);
  TAP_STR_EQ (read_line (st, line, sizeof line), "{\"status\":\"running\"}", "replay: running");
  lg1 = sv_connect (&r, r.log_addr);
  write_file (go, "");
  all = read_until (lg1, NULL, elen, &len);
  TAP_INT_EQ (len, elen, "replay: a client connected from the start gets all %zu bytes", elen);
  tap_ok (len == elen && memcmp (all, expected, elen) == 0,
          "replay: ... and they are exactly the app's output, in order");
  free (all);
  TAP_STR_EQ (read_line (st, line, sizeof line), "{\"status\":\"exited\",\"code\":0}",
              "replay: exited 0");

  lg2 = sv_connect (&r, r.log_addr);
  tail = read_until (lg2, NULL, 131072, &len);
  TAP_INT_EQ (len, 131072, "replay: a late client gets 128 KiB of retained output");
  tap_ok (len == 131072 && memcmp (tail, expected + elen - 131072, 131072) == 0,
          "replay: ... which is the newest 128 KiB (oldest bytes dropped)");
  free (tail);
  kill (r.pid, SIGTERM);
  TAP_INT_EQ (sv_wait (&r), 0, "replay: supervisor exits 0");
  {
    char extra;
    ssize_t n = read (lg2, &extra, 1);
    TAP_INT_EQ (n, 0, "replay: nothing follows the replay (EOF when the supervisor exits)");
  }
  close (st);
  close (lg1);
  close (lg2);
  free (expected);
}

static void
test_signaled (void)
{
  struct sv_run r;
  char line[512];
  int st;
  const char *args[] = { "--linger", "60", "--", "/bin/sh", "-c", "kill -9 $$", NULL };
  sv_start (&r, "signaled", args);
  st = sv_connect (&r, r.status_addr);
  TAP_STR_EQ (final_status (st, line, sizeof line), "{\"status\":\"signaled\",\"signal\":9}",
              "signal: reported as a number ({\"status\":\"signaled\",\"signal\":9})");
  kill (r.pid, SIGTERM);
  TAP_INT_EQ (sv_wait (&r), 128 + 9, "signal: supervisor exits with 128+9");
  close (st);
}

static void
test_exit_codes (void)
{
  static const int codes[] = { 0, 1, 42, 255 };
  size_t i;
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
    {
      struct sv_run r;
      char script[64], name[32], line[512], want[128];
      int st;
      snprintf (script, sizeof script, "exit %d", codes[i]);
      snprintf (name, sizeof name, "exit%d", codes[i]);
      {
        const char *args[] = { "--linger", "60", "--", "/bin/sh", "-c", script, NULL };
        sv_start (&r, name, args);
      }
      st = sv_connect (&r, r.status_addr);
      snprintf (want, sizeof want, "{\"status\":\"exited\",\"code\":%d}", codes[i]);
      TAP_STR_EQ (final_status (st, line, sizeof line), want, "exit code %d reported",
                  codes[i]);
      kill (r.pid, SIGTERM);
      TAP_INT_EQ (sv_wait (&r), codes[i], "exit code %d: supervisor exits with it", codes[i]);
      close (st);
    }
}

static void
test_sigterm_forwarding (void)
{
  struct sv_run r;
  char line[512];
  size_t len;
  char *text;
  int st, lg;
  const char *args[] = { "--linger", "60", "--",
                         "/bin/sh", "-c",
                         "trap 'echo got-term; exit 0' TERM; echo ready; "
                         "i=0; while [ $i -lt 6000 ]; do i=$((i+1)); sleep 0.01; done; exit 99",
                         NULL };
  sv_start (&r, "sigterm", args);
  st = sv_connect (&r, r.status_addr);
  lg = sv_connect (&r, r.log_addr);
  text = read_until (lg, "ready\n", 4096, &len);
  TAP_CONTAINS (text, "ready\n", "sigterm: the app installed its trap");
  free (text);
  kill (r.pid, SIGTERM);
  TAP_STR_EQ (final_status (st, line, sizeof line), "{\"status\":\"exited\",\"code\":0}",
              "sigterm: forwarded to the app, which trapped it and exited 0");
  text = read_until (lg, "got-term\n", 4096, &len);
  TAP_CONTAINS (text, "got-term", "sigterm: the app's trap ran");
  free (text);
  TAP_INT_EQ (sv_wait (&r), 0, "sigterm: supervisor exits (no linger after a stop) with 0");
  close (st);
  close (lg);
}

static void
test_stop_timeout (void)
{
  struct sv_run r;
  char line[512];
  size_t len;
  char *text;
  int st, lg;
  const char *args[] = { "--linger", "60", "--stop-timeout", "1", "--",
                         "/bin/sh", "-c",
                         "trap '' TERM; echo ready; "
                         "i=0; while [ $i -lt 6000 ]; do i=$((i+1)); sleep 0.01; done; exit 99",
                         NULL };
  sv_start (&r, "stoptimeout", args);
  st = sv_connect (&r, r.status_addr);
  lg = sv_connect (&r, r.log_addr);
  text = read_until (lg, "ready\n", 4096, &len);
  free (text);
  kill (r.pid, SIGTERM);
  TAP_STR_EQ (final_status (st, line, sizeof line), "{\"status\":\"signaled\",\"signal\":9}",
              "stop-timeout: an app ignoring SIGTERM is killed after the grace period");
  text = read_until (lg, "killing it", 8192, &len);
  TAP_CONTAINS (text, "did not exit within 1 s", "stop-timeout: the log stream says why");
  free (text);
  TAP_INT_EQ (sv_wait (&r), 137, "stop-timeout: supervisor exits with 128+9");
  close (st);
  close (lg);
}

static void
test_reaping (void)
{
  struct sv_run r;
  char script[2048], line[512], want[128];
  size_t len;
  char *text;
  int st, lg;
  /* The app starts a grandchild whose parent exits at once: the orphan is re-parented to
   * the supervisor.  The app reports the orphan's parent, lets it finish, and exits 0
   * only once the orphan is gone from /proc, i.e. reaped (a zombie keeps its entry). */
  snprintf (script, sizeof script,
            "D='%s/reap'; "
            "sh -c 'sh -c \"i=0; while [ ! -e $0/release ] && [ \\$i -lt 6000 ]; do "
            "i=\\$((i+1)); sleep 0.01; done\" \"$0\" & echo $! > \"$0/orphan.pid\"' \"$D\"; "
            "read pid < \"$D/orphan.pid\"; "
            "set -- $(cat /proc/$pid/stat); echo \"orphan-parent=$4\"; "
            "touch \"$D/release\"; "
            "i=0; while [ -e /proc/$pid ]; do i=$((i+1)); "
            "if [ $i -gt 6000 ]; then echo still-there; exit 1; fi; sleep 0.01; done; "
            "echo reaped; exit 0",
            topdir);
  {
    const char *args[] = { "--linger", "60", "--", "/bin/sh", "-c", script, NULL };
    sv_start (&r, "reap", args);
  }
  st = sv_connect (&r, r.status_addr);
  lg = sv_connect (&r, r.log_addr);
  TAP_STR_EQ (final_status (st, line, sizeof line), "{\"status\":\"exited\",\"code\":0}",
              "reaping: the orphan was reaped (the app saw its /proc entry disappear)");
  text = read_until (lg, "reaped\n", 8192, &len);
  snprintf (want, sizeof want, "orphan-parent=%d\n", (int) r.pid);
  TAP_CONTAINS (text, want, "reaping: the orphan was re-parented to the supervisor");
  free (text);
  kill (r.pid, SIGTERM);
  TAP_INT_EQ (sv_wait (&r), 0, "reaping: supervisor exits 0");
  close (st);
  close (lg);
}

static void
check_fatal (const char *name, const char *const *args, const char *needle, int want_rc)
{
  struct sv_run r;
  char line[2048];
  int st;
  char *l;
  sv_start (&r, name, args);
  st = sv_connect (&r, r.status_addr);
  l = read_line (st, line, sizeof line);
  tap_ok (l != NULL && strncmp (l, "{\"status\":\"fatal\",\"error\":\"", 27) == 0,
          "%s: fatal status reported", name);
  if (l && strncmp (l, "{\"status\":\"fatal\"", 17) != 0)
    tap_diag ("  got: %s", l);
  TAP_CONTAINS (l, needle, "%s: the error names the cause", name);
  kill (r.pid, SIGTERM);
  TAP_INT_EQ (sv_wait (&r), want_rc, "%s: supervisor exit status", name);
  close (st);
}

static void
test_fatal (void)
{
  char cfg[400], notexec[400];
  {
    const char *args[] = { "--linger", "60", "--", "/nonexistent/prog", NULL };
    check_fatal ("fatal-missing-path", args, "/nonexistent/prog: No such file or directory",
                 127);
  }
  {
    const char *args[] = { "--linger", "60", "--env", "PATH=/usr/bin:/bin", "--",
                           "no-such-program-enclaver", NULL };
    check_fatal ("fatal-missing-on-path", args,
                 "no-such-program-enclaver: executable file not found in PATH (PATH=/usr/bin:/bin)",
                 127);
  }
  snprintf (notexec, sizeof notexec, "%s/notexec", topdir);
  write_file (notexec, "#!/bin/sh\necho hi\n");
  chmod (notexec, 0644);
  {
    /* Even root passes access(X_OK) only when some x bit is set. */
    const char *args[] = { "--linger", "60", "--", notexec, NULL };
    check_fatal ("fatal-not-executable", args, "notexec: Permission denied", 126);
  }
  snprintf (cfg, sizeof cfg, "%s/bad.json", topdir);
  write_file (cfg, "{\"cmd\": [\"/bin/true\"], \"wokdir\": \"/\"}\n");
  {
    const char *args[] = { "--linger", "60", "--config", cfg, NULL };
    check_fatal ("fatal-config", args, "unknown key \\\"wokdir\\\"", 1);
  }
  {
    const char *args[] = { "--linger", "60", "--config", "/nonexistent/supervisor.json", NULL };
    check_fatal ("fatal-config-missing", args, "/nonexistent/supervisor.json", 1);
  }
  {
    const char *args[] = { "--linger", "60", NULL };
    check_fatal ("fatal-no-command", args, "neither Entrypoint nor Cmd", 1);
  }
  {
    const char *args[] = { "--linger", "60", "--user", "nobody-here-enclaver", "--rootfs",
                           topdir, "--", "/bin/true", NULL };
    check_fatal ("fatal-unknown-user", args, "unable to find user nobody-here-enclaver", 1);
  }
}

/* A rootfs with its own passwd and group, for User resolution. */
static void
make_rootfs (char *root, size_t len)
{
  char p[512];
  snprintf (root, len, "%s/rootfs", topdir);
  mkdir (root, 0755);
  snprintf (p, sizeof p, "%s/etc", root);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/etc/passwd", root);
  write_file (p, "root:x:0:0:root:/root-of-image:/bin/sh\n"
                 "appuser:x:1234:2345:App User:/home/appuser:/bin/sh\n"
                 "someone:x:1500:1500::/home/someone:/bin/sh\n");
  snprintf (p, sizeof p, "%s/etc/group", root);
  write_file (p, "root:x:0:\n"
                 "appgroup:x:2345:\n"
                 "extra:x:3456:someone,appuser\n"
                 "other:x:4567:someone\n");
}

/* Run an app through a JSON config and return its log output (after exit). */
static char *
run_config (const char *name, const char *json, const char *root, int *rc, char *status,
            size_t slen)
{
  struct sv_run r;
  char cfg[400];
  size_t len;
  char *text;
  int st, lg;
  snprintf (cfg, sizeof cfg, "%s/%s.json", topdir, name);
  write_file (cfg, json);
  {
    const char *args[] = { "--linger", "60", "--config", cfg, "--rootfs", root, NULL };
    sv_start (&r, name, args);
  }
  st = sv_connect (&r, r.status_addr);
  if (final_status (st, status, slen) == NULL)
    snprintf (status, slen, "(no status)");
  lg = sv_connect (&r, r.log_addr);
  text = read_until (lg, "END\n", 65536, &len);
  kill (r.pid, SIGTERM);
  *rc = sv_wait (&r);
  close (st);
  close (lg);
  return text;
}

static void
test_user_workdir_env (void)
{
  char root[400], json[4096], want[1024], status[512], wd[400];
  const char *script = "id -u; id -g; id -G; pwd; echo \\\"$FOO\\\"; echo \\\"$HOME\\\"; "
                       "echo \\\"$PATH\\\"; echo END";
  char *out;
  int rc;

  make_rootfs (root, sizeof root);
  chmod (topdir, 0755);

  /* Without a user: the supervisor's own credentials, the image's Env and WorkingDir
   * (created when missing, as Docker does), HOME from the rootfs's entry for uid 0. */
  snprintf (wd, sizeof wd, "%s/work/created/sub", topdir);
  snprintf (json, sizeof json,
            "{\"version\": 1, \"entrypoint\": [\"/bin/sh\", \"-c\"], \"cmd\": [\"%s\"],\n"
            " \"env\": [\"FOO=bar baz\", \"PATH=/usr/bin:/bin\"], \"workdir\": \"%s\"}\n",
            "pwd; echo \\\"$FOO\\\"; echo \\\"$HOME\\\"; echo \\\"$PATH\\\"; echo END", wd);
  out = run_config ("env-workdir", json, root, &rc, status, sizeof status);
  snprintf (want, sizeof want, "%s\nbar baz\n/root-of-image\n/usr/bin:/bin\nEND\n", wd);
  TAP_STR_EQ (out, want, "env/workdir: Entrypoint+Cmd run with the image Env and WorkingDir");
  TAP_STR_EQ (status, "{\"status\":\"exited\",\"code\":0}", "env/workdir: exited 0");
  free (out);

  /* Default PATH and HOME when the image sets none; argv given directly. */
  snprintf (json, sizeof json,
            "{\"argv\": [\"sh\", \"-c\", \"echo \\\"$PATH|$HOME\\\"; echo END\"],"
            " \"entrypoint\": [\"/nonexistent\"]}\n");
  out = run_config ("env-default", json, root, &rc, status, sizeof status);
  TAP_STR_EQ (out,
              "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root-of-image\nEND\n",
              "env: Docker's default PATH and the passwd HOME are added; argv overrides "
              "Entrypoint");
  free (out);

  if (geteuid () != 0)
    {
      tap_ok (1, "user name # SKIP switching user needs root (running as uid %u)",
              (unsigned) geteuid ());
      tap_ok (1, "user uid:group # SKIP switching user needs root");
      tap_ok (1, "user uid not in passwd # SKIP switching user needs root");
      return;
    }
  snprintf (json, sizeof json,
            "{\"entrypoint\": [\"/bin/sh\", \"-c\"], \"cmd\": [\"%s\"],"
            " \"env\": [\"FOO=x\", \"PATH=/usr/bin:/bin\"], \"user\": \"appuser\","
            " \"workdir\": \"%s\"}\n",
            script, wd);
  out = run_config ("user-name", json, root, &rc, status, sizeof status);
  snprintf (want, sizeof want, "1234\n2345\n2345 3456\n%s\nx\n/home/appuser\n/usr/bin:/bin\nEND\n",
            wd);
  TAP_STR_EQ (out, want,
              "user name: uid, primary gid and supplementary groups from the rootfs, its HOME");

  snprintf (json, sizeof json,
            "{\"entrypoint\": [\"/bin/sh\", \"-c\"], \"cmd\": [\"%s\"],"
            " \"env\": [\"FOO=y\", \"PATH=/usr/bin:/bin\"], \"user\": \"1234:other\"}\n",
            script);
  free (out);
  out = run_config ("user-uid-group", json, root, &rc, status, sizeof status);
  TAP_STR_EQ (out, "1234\n4567\n4567\n/\ny\n/home/appuser\n/usr/bin:/bin\nEND\n",
              "user uid:group: explicit group by name, no supplementary groups, cwd /");
  free (out);

  snprintf (json, sizeof json,
            "{\"entrypoint\": [\"/bin/sh\", \"-c\"], \"cmd\": [\"%s\"],"
            " \"env\": [\"FOO=z\", \"PATH=/usr/bin:/bin\"], \"user\": \"4242\"}\n",
            script);
  out = run_config ("user-unknown-uid", json, root, &rc, status, sizeof status);
  TAP_STR_EQ (out, "4242\n0\n0\n/\nz\n/\n/usr/bin:/bin\nEND\n",
              "user uid not in passwd: gid 0, HOME /");
  free (out);
}

/* A stream that cannot listen does not stop the app: it runs, its output reaches the
 * console, and the supervisor exits with its code. */
static void
test_no_streams (void)
{
  struct sv_run r;
  char p[512];
  char *console;
  const char *args[] = { "--linger", "0", "--status-addr", "unix:/nonexistent-enclaver/st",
                         "--log-addr", "unix:/nonexistent-enclaver/log", "--",
                         "/bin/sh", "-c", "echo still-ran; exit 7", NULL };
  sv_start (&r, "nostreams", args);
  TAP_INT_EQ (sv_wait (&r), 7, "no streams: the app still runs and its code is the exit status");
  snprintf (p, sizeof p, "%s/console.out", r.dir);
  console = slurp (p);
  TAP_STR_EQ (console, "still-ran\n", "no streams: app output on the console");
  free (console);
  snprintf (p, sizeof p, "%s/console.err", r.dir);
  console = slurp (p);
  TAP_CONTAINS (console, "warning: no status stream: listen on unix:/nonexistent-enclaver/st",
                "no streams: the console says why");
  free (console);
}

int
main (void)
{
  const char *tmp = getenv ("TMPDIR");
  alarm (600); /* overall hang guard */
  /* Socket paths must fit in sun_path (108 bytes): fall back to /tmp for a long TMPDIR. */
  if (tmp == NULL || *tmp == '\0' || strlen (tmp) > 60)
    tmp = "/tmp";
  snprintf (topdir, sizeof topdir, "%s/enclaver-sv.XXXXXX", tmp);
  if (mkdtemp (topdir) == NULL)
    tap_skip_all ("cannot create a temporary directory");
  if (access (SUPERVISOR, X_OK) != 0)
    tap_skip_all ("enclaver-supervisor is not built");

  test_status_and_replay ();
  test_log_replay ();
  test_signaled ();
  test_exit_codes ();
  test_sigterm_forwarding ();
  test_stop_timeout ();
  test_reaping ();
  test_fatal ();
  test_user_workdir_env ();
  test_no_streams ();

  nftw (topdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return tap_done ();
}
