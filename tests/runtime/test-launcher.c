/* The host launcher end to end: host_run() drives the REAL enclaver-supervisor of the
 * build tree through the local backend (status and log streams over unix: sockets),
 * plus a fake status server for what this supervisor never sends (the signal as a
 * string, as odyn does) and for a stream that nothing serves.  Units: the exit mapping,
 * the line splitter, the state files, the supervisor's stop request.  Each host_run()
 * runs in a child process (signals, exit codes); waits are hang guards, never timing
 * assertions. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <enclaver/log.h>

#include <linux/vm_sockets.h>

#include "backend-local.h"
#include "launcher.h"
#include "services.h"
#include "state.h"
#include "streams.h"
#include "tests/tap.h"
#include "transport.h"

#define SUPERVISOR RUNTIME_BUILDDIR "/enclaver-supervisor"
#define HANG_GUARD_MS 60000

static char topdir[256];

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

static int
file_has (const char *path, const char *needle)
{
  char *s = slurp (path);
  int r = strstr (s, needle) != NULL;
  free (s);
  return r;
}

/* Wait until path contains needle (NULL: exists); 0, or -1 on the hang guard. */
static int
wait_for (const char *path, const char *needle)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  while (now_ms () < deadline)
    {
      if (needle ? file_has (path, needle) : access (path, F_OK) == 0)
        return 0;
      nap ();
    }
  tap_diag ("hang guard: %s never had '%s'", path, needle ? needle : "(existence)");
  return -1;
}

/* A process is gone when it does not exist or is a zombie nobody reaped yet. */
static int
gone (pid_t pid)
{
  char path[64], buf[512], *p;
  FILE *f;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  f = fopen (path, "r");
  if (f == NULL)
    return 1;
  p = fgets (buf, sizeof buf, f);
  fclose (f);
  if (p == NULL || (p = strrchr (buf, ')')) == NULL)
    return 1;
  return p[2] == 'Z' || p[2] == 'X';
}

static int
wait_gone (pid_t pid)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  while (now_ms () < deadline)
    {
      if (gone (pid))
        return 1;
      nap ();
    }
  return 0;
}

/* A fake "enclave": a child process serving canned status lines on a unix socket. */
struct fake
{
  struct host_backend b;
  char dir[300];
  const char *lines; /* NULL: nothing listens at all */
  int close_after;   /* close the stream after the lines (else wait for the launcher) */
  int no_host_addr;  /* host_addr fails: the backend has no host side for any port */
  pid_t server;
};

static int
fake_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out, size_t len)
{
  struct fake *f = b->self;
  (void) e;
  return snprintf (out, len, "unix:%s/fake-%u.sock", f->dir, (unsigned) port) < (int) len ? 0 : -1;
}

static int
fake_host_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out, size_t len)
{
  struct fake *f = b->self;
  return f->no_host_addr ? -1 : fake_addr (b, e, port, out, len);
}

static int
fake_start (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e, enclaver_error_t *err)
{
  struct fake *f = b->self;
  char addr[400], perr[256];
  int lfd;
  (void) err;
  snprintf (e->id, sizeof e->id, "fake-1");
  e->cid = 42;
  if (f->lines == NULL)
    return 0;
  fake_addr (b, e, c->status_port, addr, sizeof addr);
  lfd = enclaver_transport_listen (addr, perr, sizeof perr);
  if (lfd < 0)
    return enclaver_make_error (err, EIO, "fake: %s", perr);
  f->server = fork ();
  if (f->server == 0)
    {
      char junk[256];
      int fd = accept (lfd, NULL, NULL);
      if (fd < 0)
        _exit (1);
      if (write (fd, f->lines, strlen (f->lines)) < 0)
        _exit (1);
      if (f->close_after)
        _exit (0);
      while (read (fd, junk, sizeof junk) > 0)
        ;
      _exit (0);
    }
  close (lfd);
  e->pid = f->server;
  return 0;
}

static void
fake_terminate (struct host_backend *b, struct host_enclave *e)
{
  struct fake *f = b->self;
  (void) e;
  if (f->server > 0)
    {
      kill (f->server, SIGKILL);
      waitpid (f->server, NULL, 0);
      f->server = 0;
    }
}

static void
fake_init (struct fake *f, const char *dir, const char *lines)
{
  memset (f, 0, sizeof *f);
  snprintf (f->dir, sizeof f->dir, "%s", dir);
  f->lines = lines;
  f->b.name = "fake";
  f->b.self = f;
  f->b.start = fake_start;
  f->b.enclave_addr = fake_addr;
  f->b.host_addr = fake_host_addr;
  f->b.terminate = fake_terminate;
}

/* One run of host_run() in a child process, its stdout in DIR/out and stderr in DIR/err. */
struct run
{
  char dir[300], out[400], err[400], run_dir[400], state[500];
  pid_t pid;
  const char *name;
  const char *cmd;          /* the app, run by /bin/sh -c */
  const char *wait_file;    /* local backend: start() waits for it */
  const char *fake_lines;   /* use the fake backend with these status lines */
  int fake_none;            /* the fake backend, nothing listening */
  int fake_close;           /* the fake server closes after its lines */
  int fake_no_host_addr;    /* the fake backend's host_addr fails */
  const char *prog;         /* run this program directly instead of /bin/sh -c cmd */
  int json;
  int grace_ms, deadline_ms, has_egress, ingress_port;
  uint32_t status_port, log_port;
  const char *stop_timeout; /* the supervisor's --stop-timeout */
};

static void
run_init (struct run *r, const char *name)
{
  memset (r, 0, sizeof *r);
  snprintf (r->dir, sizeof r->dir, "%s/%s", topdir, name);
  mkdir (r->dir, 0755);
  snprintf (r->out, sizeof r->out, "%s/out", r->dir);
  snprintf (r->err, sizeof r->err, "%s/err", r->dir);
  snprintf (r->run_dir, sizeof r->run_dir, "%s/run", r->dir);
  r->name = name;
  snprintf (r->state, sizeof r->state, "%s/%s.json", r->run_dir, name);
  r->status_port = HOST_PORT_STATUS;
  r->log_port = HOST_PORT_LOG;
}

static void
run_start (struct run *r)
{
  fflush (stdout);
  r->pid = fork ();
  if (r->pid == 0)
    {
      struct host_run_config c;
      struct host_local_options o;
      struct host_ingress ing[1];
      struct host_backend *b;
      struct fake f;
      enclaver_error_t err = NULL;
      char *args[16];
      int n = 0, code, fd;

      fd = open (r->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2 (fd, 1);
      fd = open (r->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2 (fd, 2);
      memset (&c, 0, sizeof c);
      c.name = r->name;
      c.memory_mib = 512;
      c.cpu_count = 2;
      c.status_port = r->status_port;
      c.log_port = r->log_port;
      c.egress_port = HOST_PORT_EGRESS;
      c.has_egress = r->has_egress;
      c.services = host_services;
      c.json_events = r->json;
      c.stop_grace_ms = r->grace_ms;
      c.connect_deadline_ms = r->deadline_ms;
      c.run_dir = r->run_dir;
      c.pcr0 = "00ff";
      memset (ing, 0, sizeof ing);
      if (r->ingress_port)
        {
          ing[0].listen_port = (uint32_t) r->ingress_port;
          c.ingress = ing;
          c.n_ingress = 1;
        }
      if (r->fake_lines || r->fake_none)
        {
          fake_init (&f, r->dir, r->fake_lines);
          f.close_after = r->fake_close;
          f.no_host_addr = r->fake_no_host_addr;
          b = &f.b;
        }
      else
        {
          memset (&o, 0, sizeof o);
          o.supervisor = SUPERVISOR;
          o.dir = r->dir;
          o.wait_file = r->wait_file;
          args[n++] = (char *) "--no-config";
          args[n++] = (char *) "--no-bootstrap";
          if (r->stop_timeout)
            {
              args[n++] = (char *) "--stop-timeout";
              args[n++] = (char *) r->stop_timeout;
            }
          args[n++] = (char *) "--";
          if (r->prog)
            args[n++] = (char *) r->prog;
          else
            {
              args[n++] = (char *) "/bin/sh";
              args[n++] = (char *) "-c";
              args[n++] = (char *) r->cmd;
            }
          args[n] = NULL;
          o.args = args;
          b = host_backend_local_new (&o);
        }
      code = host_run (b, &c, &err);
      if (code < 0)
        {
          fprintf (stderr, "host_run: %s\n", err->msg);
          enclaver_error_release (&err);
          code = 1;
        }
      if (b->destroy)
        b->destroy (b);
      fflush (stdout);
      _exit (code);
    }
}

static int
run_wait (struct run *r)
{
  long long deadline = now_ms () + HANG_GUARD_MS;
  int st;
  while (now_ms () < deadline)
    {
      if (waitpid (r->pid, &st, WNOHANG) == r->pid)
        return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
      nap ();
    }
  tap_diag ("hang guard: launcher %d did not exit", (int) r->pid);
  kill (r->pid, SIGKILL);
  waitpid (r->pid, &st, 0);
  return -1;
}

/* The pid of a "pid":N field in the started event of out. */
static pid_t
started_pid (const char *out)
{
  char *s = slurp (out), *p = strstr (s, "\"pid\":");
  pid_t pid = p ? (pid_t) atoi (p + 6) : 0;
  free (s);
  return pid;
}

/* 1 when the run's stderr has needle; else 0, with its stderr as a diagnostic. */
static int
err_has (const struct run *r, const char *needle)
{
  char *e;
  if (file_has (r->err, needle))
    return 1;
  e = slurp (r->err);
  tap_diag ("stderr of %s lacks '%s':\n%s", r->name, needle, e);
  free (e);
  return 0;
}

static int
run_sh (const char *name, const char *cmd, const char *expect_err)
{
  struct run r;
  int code;
  run_init (&r, name);
  r.cmd = cmd;
  run_start (&r);
  code = run_wait (&r);
  if (expect_err && !err_has (&r, expect_err))
    return -2;
  return code;
}

static void
test_exit_mapping (void)
{
  static const struct
  {
    const char *line;
    int code;
  } t[] = {
    { "{\"status\":\"running\"}", -1 },
    { "{\"status\":\"exited\",\"code\":0}", 0 },
    { "{\"status\":\"exited\",\"code\":7}", 7 },
    { "{\"status\":\"exited\",\"code\":300}", 300 & 0xff },
    { "{\"status\":\"signaled\",\"signal\":9}", 107 },
    { "{\"status\":\"signaled\",\"signal\":\"SIGKILL\"}", 107 },
    { "{\"status\":\"signaled\",\"signal\":\"SIGTERM\"}", 107 },
    { "{\"status\":\"fatal\",\"error\":\"no command to run\"}", 108 },
    { "{\"status\":\"exited\"}", -1 },
    { "{\"status\":\"exited\",\"code\":\"7\"}", -1 },
    { "not json", -1 },
    { "[\"exited\"]", -1 },
    { "", -1 },
  };
  size_t i;
  for (i = 0; i < sizeof t / sizeof t[0]; i++)
    tap_ok (host_status_exit_code (t[i].line, strlen (t[i].line)) == t[i].code, "exit mapping: %s -> %d",
            t[i].line[0] ? t[i].line : "(empty)", t[i].code);
}

struct collected
{
  char text[20000];
  int lines, partial, dropped;
};

static void
collect (void *ctx, const char *line, size_t len, int partial)
{
  struct collected *c = ctx;
  if (line == NULL)
    {
      c->dropped++;
      return;
    }
  c->lines++;
  c->partial += partial;
  strncat (c->text, line, len);
  strcat (c->text, "|");
}

static void
test_lines (void)
{
  struct host_lines l;
  struct collected c;
  char big[10000];
  memset (&c, 0, sizeof c);
  host_lines_init (&l, 8, 0);
  host_lines_feed (&l, "ab\ncd", 5, collect, &c);
  host_lines_feed (&l, "e\n\n0123456789\n", 14, collect, &c);
  host_lines_feed (&l, "tail", 4, collect, &c);
  host_lines_finish (&l, collect, &c);
  host_lines_free (&l);
  tap_ok (strcmp (c.text, "ab|cde||01234567|89|tail|") == 0 && c.partial == 1,
          "lines: split at newlines and at the bound, the tail delivered (%s)", c.text);

  memset (&c, 0, sizeof c);
  host_lines_init (&l, 8, 0);
  host_lines_feed (&l, "01234567\nx\n", 11, collect, &c);
  host_lines_free (&l);
  tap_ok (strcmp (c.text, "01234567|x|") == 0, "lines: a line of exactly the bound has no empty tail (%s)", c.text);

  memset (&c, 0, sizeof c);
  memset (big, 'z', sizeof big);
  host_lines_init (&l, 16, 1);
  host_lines_feed (&l, "{\"a\":1}\n", 8, collect, &c);
  host_lines_feed (&l, big, sizeof big, collect, &c);
  host_lines_feed (&l, "\n{\"b\":2}\n", 9, collect, &c);
  host_lines_free (&l);
  tap_ok (strcmp (c.text, "{\"a\":1}|{\"b\":2}|") == 0 && c.dropped == 1,
          "lines: an overlong status line is dropped whole, the next one kept");
}

static void
test_state (void)
{
  char dir[400], path[500];
  struct host_state s, t;
  enclaver_error_t err = NULL;
  FILE *f;
  snprintf (dir, sizeof dir, "%s/state/run", topdir);
  memset (&s, 0, sizeof s);
  snprintf (s.name, sizeof s.name, "web");
  snprintf (s.id, sizeof s.id, "i-0-enc1");
  snprintf (s.pcr0, sizeof s.pcr0, "abcd");
  s.cid = 21;
  s.memory_mib = 1024;
  s.cpu_count = 2;
  s.started = 1700000000;
  s.launcher_pid = getpid ();
  s.launcher_ticks = host_proc_start_ticks (getpid ());
  tap_ok (host_state_write (dir, &s, &err) == 0, "state: written (directory created)");
  host_state_path (dir, "web", path, sizeof path);
  tap_ok (host_state_read (path, &t, &err) == 0 && strcmp (t.id, s.id) == 0 && t.cid == 21
            && t.memory_mib == 1024 && strcmp (t.pcr0, "abcd") == 0 && t.image_digest[0] == '\0',
          "state: read back");
  tap_ok (host_state_alive (&t), "state: our own launcher is alive");
  tap_ok (host_state_claim (dir, "web", &err) < 0 && err && strstr (err->msg, "already running"),
          "state: a live name cannot be claimed again");
  enclaver_error_release (&err);
  t.launcher_ticks += 1;
  tap_ok (!host_state_alive (&t), "state: a reused pid (other start time) is not the launcher");
  s.launcher_pid = 999999999 > 0x3fffffff ? 0x3ffffffe : 999999999;
  host_state_write (dir, &s, &err);
  tap_ok (host_state_claim (dir, "web", &err) == 0 && access (path, F_OK) < 0,
          "state: a stale file is removed when the name is claimed");
  f = fopen (path, "w");
  fputs ("{\"name\":\"web\",\"id\":\"x\"}", f);
  fclose (f);
  tap_ok (host_state_read (path, &t, &err) < 0 && err && strstr (err->msg, path) && strstr (err->msg, "'cid'"),
          "state: a broken file names the file and the key");
  enclaver_error_release (&err);
  tap_ok (!host_name_valid ("../x") && !host_name_valid ("") && !host_name_valid ("-a") && host_name_valid ("web-1.a_b"),
          "state: names are checked");
}

/* The supervisor alone: garbage, an overlong line, an unknown request, then the stop. */
static void
test_stop_request (void)
{
  char dir[400], st[500], lg[500], marker[500], cmd[1200], err[256], line[256];
  char big[5000];
  const char *argv[16];
  pid_t pid;
  int fd = -1, st_code, n = 0, i;
  long long deadline = now_ms () + HANG_GUARD_MS;
  ssize_t r;
  size_t got = 0;

  snprintf (dir, sizeof dir, "%s/stopreq", topdir);
  mkdir (dir, 0755);
  snprintf (st, sizeof st, "unix:%s/status", dir);
  snprintf (lg, sizeof lg, "unix:%s/log", dir);
  snprintf (marker, sizeof marker, "%s/term", dir);
  snprintf (cmd, sizeof cmd, "trap 'echo x > %s; exit 5' TERM; while :; do sleep 0.05; done", marker);
  argv[n++] = SUPERVISOR;
  argv[n++] = "--status-addr";
  argv[n++] = st;
  argv[n++] = "--log-addr";
  argv[n++] = lg;
  argv[n++] = "--no-config";
  argv[n++] = "--no-bootstrap";
  argv[n++] = "--";
  argv[n++] = "/bin/sh";
  argv[n++] = "-c";
  argv[n++] = cmd;
  argv[n] = NULL;
  fflush (stdout);
  pid = fork ();
  if (pid == 0)
    {
      int nul = open ("/dev/null", O_WRONLY);
      dup2 (nul, 1);
      dup2 (nul, 2);
      execv (SUPERVISOR, (char **) argv);
      _exit (99);
    }
  while (fd < 0 && now_ms () < deadline)
    {
      fd = enclaver_transport_connect (st, err, sizeof err);
      if (fd < 0)
        nap ();
    }
  if (fd >= 0)
    {
      struct timeval tv = { HANG_GUARD_MS / 1000, 0 }; /* hang guard of the reads below */
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  /* The current state first. */
  while (fd >= 0 && got < sizeof line - 1 && (got == 0 || line[got - 1] != '\n')
         && (r = read (fd, line + got, 1)) == 1)
    got++;
  line[got] = '\0';
  tap_ok (strcmp (line, "{\"status\":\"running\"}\n") == 0, "stop request: the client gets the state");
  memset (big, 'a', sizeof big);
  big[0] = '{';
  if (fd >= 0)
    {
      /* Garbage, an overlong line that ends like a stop request, an unknown request:
       * all ignored (the app keeps running). */
      if (write (fd, "garbage\n\x01\x02\n", 11) < 0 || write (fd, big, sizeof big) < 0
          || write (fd, "{\"request\":\"stop\"}\n", 19) < 0 || write (fd, "{\"request\":\"reboot\"}\n", 21) < 0)
        tap_diag ("write: %s", strerror (errno));
    }
  for (i = 0; i < 30; i++)
    nap (); /* give a wrong reading of the input a chance to show */
  tap_ok (access (marker, F_OK) < 0 && waitpid (pid, NULL, WNOHANG) == 0,
          "stop request: garbage, an overlong line and an unknown request are ignored");
  if (fd >= 0 && write (fd, "{\"request\":\"stop\"}\n", 19) != 19)
    tap_diag ("write: %s", strerror (errno));
  got = 0;
  deadline = now_ms () + HANG_GUARD_MS;
  while (fd >= 0 && got < sizeof line - 1)
    {
      /* Until the supervisor closes the stream (hang guard only). */
      struct pollfd pf = { fd, POLLIN, 0 };
      long long left = deadline - now_ms ();
      if (left <= 0 || poll (&pf, 1, (int) left) <= 0)
        {
          tap_diag ("hang guard: the supervisor did not close the status stream");
          break;
        }
      if ((r = read (fd, line + got, sizeof line - 1 - got)) <= 0)
        break;
      got += (size_t) r;
    }
  line[got] = '\0';
  deadline = now_ms () + HANG_GUARD_MS;
  st_code = -1;
  while (now_ms () < deadline)
    {
      int s;
      if (waitpid (pid, &s, WNOHANG) == pid)
        {
          st_code = WIFEXITED (s) ? WEXITSTATUS (s) : 128 + WTERMSIG (s);
          break;
        }
      nap ();
    }
  if (st_code < 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
    }
  tap_ok (access (marker, F_OK) == 0 && strcmp (line, "{\"status\":\"exited\",\"code\":5}\n") == 0 && st_code == 5,
          "stop request: the app gets SIGTERM, the final status follows, the supervisor exits without "
          "lingering (%s, exit %d)",
          line, st_code);
  if (fd >= 0)
    close (fd);
}

static int
rm_cb (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void) sb;
  (void) flag;
  (void) ftw;
  return remove (path);
}

/* ---- host listeners accept only their enclave's CID ------------------------------------ */

static void
test_peer_cid (void)
{
  struct sockaddr_vm vm;
  struct sockaddr_un un;
  struct sockaddr_in in;
  struct sockaddr sa;
  char why[128], path[128], errfile[128], out[2048];
  int lfd, cfd, fd = -1, saved, r;
  FILE *fp;
  size_t n;

  memset (&vm, 0, sizeof vm);
  vm.svm_family = AF_VSOCK;
  vm.svm_port = 40000;
  vm.svm_cid = 16;
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &vm, sizeof vm, 16, why, sizeof why), 1,
              "peer: vsock from the enclave's CID is allowed");
  vm.svm_cid = 17;
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &vm, sizeof vm, 16, why, sizeof why), 0,
              "peer: vsock from another enclave's CID is refused");
  TAP_STR_EQ (why, "from CID 17: the enclave has CID 16", "peer: ... and the reason names both CIDs");
  vm.svm_cid = 2; /* the host's own CID */
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &vm, sizeof vm, 16, why, sizeof why), 0,
              "peer: vsock from the host (CID 2) is refused");
  vm.svm_cid = 16;
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &vm, 4, 16, why, sizeof why), 0,
              "peer: a truncated vsock address is refused");
  memset (&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &un, sizeof un, 16, why, sizeof why), 1,
              "peer: AF_UNIX carries no CID: allowed");
  memset (&in, 0, sizeof in);
  in.sin_family = AF_INET;
  TAP_INT_EQ (host_peer_allowed ((struct sockaddr *) &in, sizeof in, 16, why, sizeof why), 1,
              "peer: AF_INET (ingress, QEMU's NIC) carries no CID: allowed");
  memset (&sa, 0, sizeof sa);
  sa.sa_family = AF_APPLETALK;
  TAP_INT_EQ (host_peer_allowed (&sa, sizeof sa, 16, why, sizeof why), 0, "peer: another family is refused");

  /* The accepting side: an allowed peer is handed over, and nothing is logged. */
  snprintf (path, sizeof path, "unix:/tmp/enclaver-test-peer-%d.sock", (int) getpid ());
  snprintf (errfile, sizeof errfile, "/tmp/enclaver-test-peer-%d.err", (int) getpid ());
  lfd = host_sock_listen (path, why, sizeof why);
  tap_ok (lfd >= 0, "peer: a unix listener");
  cfd = enclaver_transport_connect (path, why, sizeof why);
  fflush (stderr);
  saved = dup (2);
  r = open (errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  dup2 (r, 2);
  close (r);
  r = host_sock_accept_checked (lfd, &fd, 16, "egress", 17002, "peer-test");
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  TAP_INT_EQ (r, 1, "peer: host_sock_accept_checked hands over an AF_UNIX peer");
  tap_ok (fd >= 0, "peer: ... with its fd");
  if (fd >= 0)
    close (fd);
  if (cfd >= 0)
    close (cfd);
  close (lfd);
  unlink (path + 5);

  /* The refusal message, as on_accept logs it (the logging half, with a refused peer). */
  saved = dup (2);
  r = open (errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  dup2 (r, 2);
  close (r);
  vm.svm_cid = 17;
  if (!host_peer_allowed ((struct sockaddr *) &vm, sizeof vm, 16, why, sizeof why))
    host_peer_log_refused ("egress", 17002, why, "peer-test");
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  fp = fopen (errfile, "rb");
  n = fp ? fread (out, 1, sizeof out - 1, fp) : 0;
  out[n] = '\0';
  if (fp)
    fclose (fp);
  TAP_CONTAINS (out, "refused a connection to the egress port 17002 from CID 17: the enclave has CID 16",
                "peer: the refusal is logged with the port and both CIDs");
  unlink (errfile);
}

int
main (void)
{
  struct run r, r2;
  char path[600], marker[600], cmd[1500];
  pid_t sv, app;
  int code, code2;

  signal (SIGPIPE, SIG_IGN);
  snprintf (topdir, sizeof topdir, "/tmp/enclaver-test-launcher-XXXXXX");
  if (mkdtemp (topdir) == NULL)
    tap_bail ("mkdtemp: %s", strerror (errno));

  test_exit_mapping ();
  test_peer_cid ();
  test_lines ();
  test_state ();
  test_stop_request ();

  tap_ok (run_sh ("exit7", "echo hello; echo to-stderr >&2; exit 7", "hello") == 7,
          "an app that exits 7: exit 7, its output on stderr");
  tap_ok (run_sh ("signaled", "kill -KILL $$", "killed by signal 9") == HOST_EXIT_APP_SIGNALED,
          "an app killed by a signal: 107");
  run_init (&r, "fatal");
  r.prog = "/no/such/command";
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == HOST_EXIT_ENCLAVE_FATAL && file_has (r.err, "the supervisor failed: exec /no/such/command"),
          "a supervisor fatal error (no such command): 108 (got %d)", code);

  /* SIGTERM while the app runs: the stop request reaches the app, its last line too. */
  run_init (&r, "sigterm");
  snprintf (marker, sizeof marker, "%s/term-seen", r.dir);
  snprintf (cmd, sizeof cmd,
            "echo $$ > %s/app.pid; trap 'echo seen > %s; echo last-line; exit 0' TERM; echo ready; "
            "while :; do sleep 0.05; done",
            r.dir, marker);
  r.cmd = cmd;
  r.json = 1;
  run_start (&r);
  if (wait_for (r.out, "\"line\":\"ready\"") == 0 && wait_for (r.state, NULL) == 0)
    {
      char *s = slurp (r.state);
      tap_ok (strstr (s, "\"name\": \"sigterm\"") && strstr (s, "\"cid\": 16") && strstr (s, "\"pcr0\": \"00ff\""),
              "state file written once the enclave runs");
      free (s);
    }
  else
    tap_ok (0, "state file written once the enclave runs");
  kill (r.pid, SIGTERM);
  code = run_wait (&r);
  sv = started_pid (r.out);
  snprintf (path, sizeof path, "%s/app.pid", r.dir);
  {
    char *p = slurp (path);
    app = (pid_t) atoi (p);
    free (p);
  }
  tap_ok (code == HOST_EXIT_INTERRUPTED, "SIGTERM: exit 109 (got %d)", code);
  tap_ok (access (marker, F_OK) == 0, "SIGTERM: the app saw SIGTERM");
  tap_ok (file_has (r.out, "{\"event\":\"log\",\"line\":\"last-line\"}"), "SIGTERM: the app's last line arrived");
  tap_ok (file_has (r.out, "{\"event\":\"stopping\"") && file_has (r.out, "\"event\":\"exit\",\"name\":\"sigterm\",\"code\":109"),
          "SIGTERM: stopping and exit events");
  tap_ok (sv > 0 && app > 0 && wait_gone (sv) && wait_gone (app), "SIGTERM: no process left (supervisor %d, app %d)",
          (int) sv, (int) app);
  tap_ok (access (r.state, F_OK) < 0, "SIGTERM: the state file is removed");

  /* A second SIGTERM terminates at once (the app ignores SIGTERM; the grace is long). */
  run_init (&r, "twice");
  snprintf (cmd, sizeof cmd, "echo $$ > %s/app.pid; trap '' TERM; echo ready; while :; do sleep 0.05; done", r.dir);
  r.cmd = cmd;
  r.json = 1;
  r.grace_ms = 10 * HANG_GUARD_MS; /* only the second signal can end it before the guard */
  r.stop_timeout = "3600";
  run_start (&r);
  wait_for (r.out, "\"line\":\"ready\"");
  kill (r.pid, SIGTERM);
  wait_for (r.out, "\"event\":\"stopping\"");
  kill (r.pid, SIGTERM);
  code = run_wait (&r);
  snprintf (path, sizeof path, "%s/app.pid", r.dir);
  {
    char *p = slurp (path);
    app = (pid_t) atoi (p);
    free (p);
  }
  sv = started_pid (r.out);
  tap_ok (code == HOST_EXIT_INTERRUPTED && file_has (r.err, "again: terminating the enclave now"),
          "a second SIGTERM terminates at once: exit 109 (got %d)", code);
  tap_ok (sv > 0 && app > 0 && wait_gone (sv) && wait_gone (app), "second SIGTERM: no process left");

  /* The log ring replayed to a late client: the launcher connects only after the output. */
  run_init (&r, "late");
  snprintf (marker, sizeof marker, "%s/printed", r.dir);
  snprintf (cmd, sizeof cmd, "echo early-1; echo early-2; touch %s; sleep 1; exit 3", marker);
  r.cmd = cmd;
  r.wait_file = marker;
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == 3 && file_has (r.err, "early-1\nearly-2\n"), "the log ring is replayed to a late client (exit %d)",
          code);

  /* odyn's form of the signal, a string, from a fake status server. */
  run_init (&r, "sigstring");
  r.fake_lines = "{\"status\":\"running\"}\n{\"status\":\"signaled\",\"signal\":\"SIGKILL\"}\n";
  r.deadline_ms = 2000;
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == HOST_EXIT_APP_SIGNALED && file_has (r.err, "killed by SIGKILL"),
          "\"signal\":\"SIGKILL\" (a string) maps to 107 (got %d)", code);

  /* A status stream that closes without a final state. */
  run_init (&r, "noend");
  r.fake_lines = "{\"status\":\"running\"}\n";
  r.fake_close = 1;
  r.deadline_ms = 2000;
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == HOST_EXIT_ENCLAVE_FATAL && file_has (r.err, "closed without a final state"),
          "a status stream closed without a final state: 108 with a message (got %d)", code);

  /* A backend with no host address for the egress port: the egress service refuses to
   * start, naming the port (the message is built after the service is freed: under
   * ASan a use after free, gcc -fanalyzer's report at egress.c). */
  run_init (&r, "nohostaddr");
  r.fake_lines = "{\"status\":\"running\"}\n";
  r.fake_no_host_addr = 1;
  r.has_egress = 1;
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == 1 && err_has (&r, "host_run: egress: no host address for port 17002"),
          "no host address for the egress port: refused before the start, naming the port (got %d)", code);

  /* Nothing listens: the client gives up after its deadline with a clear message. */
  run_init (&r, "giveup");
  r.fake_none = 1;
  r.deadline_ms = 400;
  run_start (&r);
  code = run_wait (&r);
  tap_ok (code == HOST_EXIT_ENCLAVE_FATAL && file_has (r.err, "gave up connecting to the status stream at unix:")
            && file_has (r.err, "attempts in"),
          "nothing listens: the status client gives up after its deadline: 108 (got %d)", code);

  /* Two enclaves at once, different names and ports, each its own exit code; the egress
   * host half of one answers a bad frame. */
  run_init (&r, "one");
  run_init (&r2, "two");
  snprintf (marker, sizeof marker, "%s/go", topdir);
  snprintf (cmd, sizeof cmd, "echo one-up; while [ ! -e %s ]; do sleep 0.05; done; exit 3", marker);
  r.cmd = cmd;
  r.has_egress = 1;
  {
    static char cmd2[1500];
    snprintf (cmd2, sizeof cmd2, "echo two-up; while [ ! -e %s ]; do sleep 0.05; done; exit 4", marker);
    r2.cmd = cmd2;
  }
  r2.status_port = 27000;
  r2.log_port = 27001;
  run_start (&r);
  run_start (&r2);
  wait_for (r.err, "one-up");
  wait_for (r2.err, "two-up");
  {
    char addr[500], e[256], reply[256];
    ssize_t n = -1;
    int fd;
    snprintf (addr, sizeof addr, "unix:%s/host-%u.sock", r.dir, HOST_PORT_EGRESS);
    fd = enclaver_transport_connect (addr, e, sizeof e);
    /* a frame that is not a connect request: the host half answers with an Err frame */
    if (fd >= 0 && write (fd, "\x05\x00{xxx}", 7) == 7)
      n = read (fd, reply, sizeof reply - 1);
    if (n > 0)
      reply[n] = '\0';
    tap_ok (n > 2 && strstr (reply + 2, "{\"Err\":{\"os_code\":22") != NULL,
            "egress host half: a bad frame gets an Err frame (%s)", fd < 0 ? e : "ok");
    if (fd >= 0)
      close (fd);
  }
  close (open (marker, O_WRONLY | O_CREAT, 0644));
  code = run_wait (&r);
  code2 = run_wait (&r2);
  tap_ok (code == 3 && code2 == 4, "two enclaves with different ports: exits 3 and 4 (got %d, %d)", code, code2);

  /* An ingress port already in use is refused before anything starts. */
  {
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int busy = socket (AF_INET, SOCK_STREAM, 0);
    memset (&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (busy < 0 || bind (busy, (struct sockaddr *) &sin, sizeof sin) < 0 || listen (busy, 1) < 0
        || getsockname (busy, (struct sockaddr *) &sin, &len) < 0 || sin.sin_port == 0)
      tap_bail ("cannot hold a loopback port for the port-in-use case: %s", strerror (errno));
    run_init (&r, "busy");
    r.cmd = "exit 0";
    r.ingress_port = ntohs (sin.sin_port);
    run_start (&r);
    code = run_wait (&r);
    snprintf (path, sizeof path, "%s/console.log", r.dir);
    tap_ok (code == 1 && file_has (r.err, "ingress listener for port") && access (path, F_OK) < 0,
            "an ingress port in use: refused before the enclave starts (got %d)", code);
    close (busy);
  }

  nftw (topdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return tap_done ();
}
