/* enclaver-supervisor: runs the app inside the enclave and reports on it.
 *
 * The main thread's poll loop serves: a signalfd (SIGCHLD, SIGTERM, SIGINT and forwarded
 * signals), the app's output pipe (stdout+stderr), the status and log stream servers,
 * and the log pipe of the network services, which run on a thread of their own (net.h:
 * started before the app, told to drain once it has ended, joined at exit).  See
 * docs/runtime.md for the configuration and the wire protocols. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "net.h"
#include "services.h"
#include "nsm.h"
#include "rtutil.h"
#include "streams.h"
#include "svconfig.h"
#include "transport.h"
#include "user.h"

#define PROG "enclaver-supervisor"

/* Supervisor exit codes for failures other than the app's own exit (docs/runtime.md). */
#define SV_EXIT_FATAL 1
#define SV_EXIT_CANNOT_EXEC 126
#define SV_EXIT_NOT_FOUND 127

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct sv
{
  struct sv_config cfg;
  const char *rootfs;
  struct sv_server status, log;
  struct sv_ring ring;
  char *status_line; /* current state, sent to every new status client; NULL before launch */
  int sfd;
  int out_rd;
  pid_t app;         /* 0 when none is running */
  int finished;      /* the app exited, or could not be started */
  int exit_code;
  int stop_requested;
  struct sv_net *net;        /* the network services, or NULL */
  long long kill_deadline;   /* ms, 0 = none */
  long long linger_deadline; /* ms, valid once finished */
};

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A message for the console only (stderr). */
static void __attribute__ ((format (printf, 2, 3)))
sv_info (struct sv *s, const char *fmt, ...)
{
  char buf[2048];
  va_list ap;
  (void) s;
  va_start (ap, fmt);
  rt_vsay (buf, sizeof buf, PROG, fmt, ap);
  va_end (ap);
}

/* A warning or error: console and log stream (like odyn, whose own output is part of
 * the app log). */
static void __attribute__ ((format (printf, 2, 3)))
sv_warn (struct sv *s, const char *fmt, ...)
{
  char buf[2048];
  size_t n;
  va_list ap;
  va_start (ap, fmt);
  n = rt_vsay (buf, sizeof buf, PROG, fmt, ap);
  va_end (ap);
  if (s->ring.data)
    {
      sv_ring_append (&s->ring, buf, n);
      sv_server_broadcast (&s->log, buf, n);
    }
}

static void
set_status (struct sv *s, const char *kind, int value, const char *text)
{
  free (s->status_line);
  s->status_line = sv_status_line (kind, value, text);
  sv_server_broadcast (&s->status, s->status_line, strlen (s->status_line));
  sv_info (s, "status %.*s", (int) strlen (s->status_line) - 1, s->status_line);
}

/* Set KEY=VALUE in an environment vector, replacing the same key. */
static char **
sv_env_set (char **env, const char *kv)
{
  size_t klen = strcspn (kv, "="), i;
  for (i = 0; env && env[i]; i++)
    if (strncmp (env[i], kv, klen) == 0 && env[i][klen] == '=')
      {
        free (env[i]);
        env[i] = xstrdup (kv);
        return env;
      }
  return rt_strv_push (env, kv);
}

static void
finish (struct sv *s, int exit_code)
{
  s->finished = 1;
  s->app = 0;
  s->exit_code = exit_code;
  s->linger_deadline = now_ms () + (long long) s->cfg.linger * 1000;
  /* Like odyn: the listeners stop with the app; what is in flight drains (bounded). */
  sv_net_shutdown (s->net);
}

static void
fatal (struct sv *s, int exit_code, const char *msg)
{
  sv_warn (s, "fatal: %s", msg);
  set_status (s, "fatal", 0, msg);
  finish (s, exit_code);
}

/* Lines of the network services: into the replay ring and to the log clients (they
 * are on the console already). */
static void
pump_net_log (struct sv *s)
{
  char buf[8192];
  int fd = sv_net_log_fd (s->net);
  ssize_t r;
  while (fd >= 0 && ((r = read (fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR)))
    if (r > 0)
      {
        sv_ring_append (&s->ring, buf, (size_t) r);
        sv_server_broadcast (&s->log, buf, (size_t) r);
      }
}

/* Copy available app output to the console, the replay ring and the log clients.
 * Returns 0 at EOF (pipe closed), 1 otherwise. */
static int
pump_output (struct sv *s, int until_eagain)
{
  char buf[65536];
  for (;;)
    {
      ssize_t r = read (s->out_rd, buf, sizeof buf);
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : 0;
        }
      if (r == 0)
        return 0;
      enclaver_write_all (1, buf, (size_t) r); /* console copy; errors ignored */
      sv_ring_append (&s->ring, buf, (size_t) r);
      sv_server_broadcast (&s->log, buf, (size_t) r);
      if (!until_eagain)
        return 1;
    }
}

static void
app_ended (struct sv *s, int st)
{
  /* Output written before the exit is already in the pipe: pass it on first. */
  if (s->out_rd >= 0 && pump_output (s, 1) == 0)
    {
      close (s->out_rd);
      s->out_rd = -1;
    }
  /* Drain before the final status: the host stops the enclave as soon as it reads it,
   * so bytes the app wrote just before it ended (an answer still in the ingress relay)
   * must reach their clients first.  Bounded by net.drain_timeout; immediate when
   * nothing is in flight. */
  if (s->net)
    {
      sv_net_stop (s->net);
      pump_net_log (s);
    }
  if (WIFEXITED (st))
    {
      set_status (s, "exited", WEXITSTATUS (st), NULL);
      finish (s, WEXITSTATUS (st));
    }
  else
    {
      set_status (s, "signaled", WTERMSIG (st), NULL);
      finish (s, 128 + WTERMSIG (st));
    }
}

static void
reap (struct sv *s)
{
  if (s->app > 0)
    {
      siginfo_t si;
      memset (&si, 0, sizeof si);
      /* Peek first: while the app is an unreaped zombie its pid, which is also its
       * process group id, cannot be reused, so the group can be killed safely. */
      if (waitid (P_PID, (id_t) s->app, &si, WEXITED | WNOHANG | WNOWAIT) == 0
          && si.si_pid == s->app)
        {
          int st;
          /* Like a container's teardown: what the app left in its group goes too. */
          kill (-s->app, SIGKILL);
          while (waitpid (s->app, &st, 0) < 0 && errno == EINTR)
            ;
          app_ended (s, st);
        }
    }
  for (;;)
    {
      pid_t p = waitpid (-1, NULL, WNOHANG);
      if (p < 0 && errno == EINTR)
        continue;
      if (p <= 0)
        return;
    }
}

/* A stop signal or a client's stop request: forward the signal to the app, SIGKILL it
 * after stop_timeout; once it has exited, stop lingering. */
static void
request_stop (struct sv *s, int sig)
{
  s->stop_requested = 1;
  if (s->app > 0)
    {
      sv_info (s, "forwarding signal %d to the app (pid %d)", sig, (int) s->app);
      kill (s->app, sig);
      if (s->kill_deadline == 0)
        s->kill_deadline = now_ms () + (long long) s->cfg.stop_timeout * 1000;
    }
}

/* An input line of a status client (docs/runtime.md, "Stop request"). */
static void
on_status_request (void *ctx, const char *line, size_t len)
{
  struct sv *s = ctx;
  switch (sv_request_parse (line, len))
    {
    case SV_REQUEST_STOP:
      sv_info (s, "stop requested by a status client");
      request_stop (s, SIGTERM);
      break;
    case SV_REQUEST_UNKNOWN:
      sv_info (s, "ignored an unknown request from a status client");
      break;
    default:
      break;
    }
}

static void
on_signal (struct sv *s, int sig)
{
  if (sig == SIGCHLD)
    {
      reap (s);
      return;
    }
  if (sig == SIGTERM || sig == SIGINT)
    {
      sv_info (s, "received signal %d", sig);
      request_stop (s, sig);
      return;
    }
  if (s->app > 0)
    kill (s->app, sig);
}

static void
handle_signals (struct sv *s)
{
  struct signalfd_siginfo si[16];
  for (;;)
    {
      ssize_t r = read (s->sfd, si, sizeof si);
      size_t i;
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return;
      for (i = 0; i < (size_t) r / sizeof si[0]; i++)
        on_signal (s, (int) si[i].ssi_signo);
    }
}

/* Accept what is pending (a bounded batch per round, so one busy listener cannot
 * starve the loop): every new status client is sent the current state. */
#define SV_ACCEPT_BATCH 64
static void
accept_status (struct sv *s)
{
  int k;
  for (k = 0; k < SV_ACCEPT_BATCH; k++)
    {
      struct sv_client *c = sv_server_accept (&s->status);
      if (c == NULL)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK || s->status.paused_until)
            break;
          continue; /* refused (too many clients) or an aborted connection */
        }
      if (s->status_line)
        sv_client_queue (c, s->status_line, strlen (s->status_line));
    }
}

static void
accept_log (struct sv *s)
{
  int k;
  for (k = 0; k < SV_ACCEPT_BATCH; k++)
    {
      struct sv_client *c = sv_server_accept (&s->log);
      if (c == NULL)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK || s->log.paused_until)
            break;
          continue;
        }
      if (s->ring.len)
        {
          char *snap = xmalloc (s->ring.len);
          sv_ring_copy (&s->ring, snap);
          sv_client_queue (c, snap, s->ring.len);
          free (snap);
        }
    }
}

static int
run_loop (struct sv *s)
{
  for (;;)
    {
      size_t n_status = sv_server_nfds (&s->status), n_log = sv_server_nfds (&s->log);
      size_t n = 3 + n_status + n_log, i = 0, st_at, lg_at;
      struct pollfd *p = xcalloc (n, sizeof *p);
      long long now = now_ms (), timeout = -1;
      int r;

      if (s->finished && (s->stop_requested || now >= s->linger_deadline))
        {
          free (p);
          return 0;
        }
      if (s->finished)
        timeout = s->linger_deadline - now;
      if (s->app > 0 && s->kill_deadline)
        {
          if (now >= s->kill_deadline)
            {
              sv_warn (s, "the app did not exit within %d s of the stop signal: killing it",
                       s->cfg.stop_timeout);
              kill (s->app, SIGKILL);
              kill (-s->app, SIGKILL);
              s->kill_deadline = 0;
              free (p);
              continue;
            }
          if (timeout < 0 || s->kill_deadline - now < timeout)
            timeout = s->kill_deadline - now;
        }

      {
        int t = sv_server_timeout (&s->status), t2 = sv_server_timeout (&s->log);
        if (t2 >= 0 && (t < 0 || t2 < t))
          t = t2;
        if (t >= 0 && (timeout < 0 || t < timeout))
          timeout = t;
      }
      p[i].fd = s->sfd;
      p[i++].events = POLLIN;
      p[i].fd = s->out_rd; /* negative fds are ignored by poll */
      p[i++].events = POLLIN;
      p[i].fd = sv_net_log_fd (s->net);
      p[i++].events = POLLIN;
      st_at = i;
      i += sv_server_fill (&s->status, p + i);
      lg_at = i;
      i += sv_server_fill (&s->log, p + i);

      r = poll (p, i, timeout > INT32_MAX ? INT32_MAX : (int) timeout);
      if (r < 0)
        {
          int e = errno;
          free (p);
          if (e == EINTR)
            continue;
          sv_warn (s, "poll: %s", strerror (e));
          return -1;
        }
      /* Clients first (the index layout must match what was filled), then listeners,
       * app output, and signals last so output read now precedes an exit status. */
      sv_server_service (&s->status, p + st_at, n_status);
      sv_server_service (&s->log, p + lg_at, n_log);
      if (s->out_rd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
        if (pump_output (s, 0) == 0)
          {
            close (s->out_rd);
            s->out_rd = -1;
          }
      if (p[2].revents & POLLIN)
        pump_net_log (s);
      if (s->status.lfd >= 0 && (p[st_at].revents & POLLIN))
        accept_status (s);
      if (s->log.lfd >= 0 && (p[lg_at].revents & POLLIN))
        accept_log (s);
      if (p[0].revents & POLLIN)
        handle_signals (s);
      free (p);
    }
}

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: " PROG " [OPTION]... [-- PROGRAM [ARG]...]\n"
           "Run an enclave's application the way `docker run` would, and report its status\n"
           "and output over vsock (or Unix sockets, for tests).\n"
           "\n"
           "  -c, --config FILE       JSON configuration (default " SV_DEFAULT_CONFIG
           ", read\n"
           "                          when it exists); options below override it\n"
           "      --no-config         read no configuration file\n"
           "      --status-addr ADDR  status stream listen address (default " SV_DEFAULT_STATUS_ADDR ")\n"
           "      --log-addr ADDR     log stream listen address (default " SV_DEFAULT_LOG_ADDR ")\n"
           "      --rootfs DIR        where the image's files are: etc/passwd, etc/group, TLS\n"
           "                          keys of ingress (default /)\n"
           "      --user SPEC         user[:group] to run the app as (name or number)\n"
           "      --workdir DIR       working directory of the app (default /)\n"
           "      --env KEY=VALUE     add to the app's environment (repeatable)\n"
           "      --linger SECONDS    keep serving status/logs after the app exits (default %d)\n"
           "      --stop-timeout SECONDS  grace period after a forwarded SIGTERM/SIGINT before\n"
           "                          SIGKILL (default %d)\n"
           "      --no-bootstrap      do not bring up loopback nor seed the RNG from the NSM\n"
           "                          (/dev/nsm, or supervisor.json's nsm.device)\n"
           "  -h, --help              show this help\n"
           "\n"
           "ADDR is vsock:CID:PORT (CID any, host, parent or a number) or unix:PATH.\n"
           "PROGRAM and its arguments, when given, replace the image's Entrypoint and Cmd.\n"
           "\n"
           "Status stream: one JSON object per line: {\"status\":\"running\"},\n"
           "{\"status\":\"exited\",\"code\":N}, {\"status\":\"signaled\",\"signal\":N},\n"
           "{\"status\":\"fatal\",\"error\":\"...\"}; a new client first gets the current state.\n"
           "A status client may send {\"request\":\"stop\"} (one line) to stop the app as\n"
           "SIGTERM does.\n"
           "Log stream: the app's stdout and stderr; a new client first gets the last 128 KiB.\n"
           "\n"
           "Exit status: the app's exit code; 128+N when it was killed by signal N; 127 when\n"
           "the program was not found; 126 when it could not be executed; 1 for other\n"
           "failures.\n",
           SV_DEFAULT_LINGER, SV_DEFAULT_STOP_TIMEOUT);
}

static int
parse_seconds (const char *s, int *out)
{
  char *end;
  long v;
  errno = 0;
  v = strtol (s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > 86400)
    return -1;
  *out = (int) v;
  return 0;
}

enum
{
  OPT_STATUS = 256,
  OPT_LOG,
  OPT_ROOTFS,
  OPT_USER,
  OPT_WORKDIR,
  OPT_ENV,
  OPT_LINGER,
  OPT_STOP,
  OPT_NOBOOT,
  OPT_NOCONFIG,
};

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "config", required_argument, NULL, 'c' },
    { "no-config", no_argument, NULL, OPT_NOCONFIG },
    { "status-addr", required_argument, NULL, OPT_STATUS },
    { "log-addr", required_argument, NULL, OPT_LOG },
    { "rootfs", required_argument, NULL, OPT_ROOTFS },
    { "user", required_argument, NULL, OPT_USER },
    { "workdir", required_argument, NULL, OPT_WORKDIR },
    { "env", required_argument, NULL, OPT_ENV },
    { "linger", required_argument, NULL, OPT_LINGER },
    { "stop-timeout", required_argument, NULL, OPT_STOP },
    { "no-bootstrap", no_argument, NULL, OPT_NOBOOT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *config_path = NULL, *status_addr = NULL, *log_addr = NULL, *user = NULL,
             *workdir = NULL;
  char **extra_env = NULL;
  int linger = -1, stop_timeout = -1, no_bootstrap = 0, no_config = 0, opt;
  char cfg_err[1024] = "", err[1024];
  int cfg_failed = 0;
  struct sv s;
  struct sv_launch l;
  sigset_t mask;
  int out[2];
  size_t i;

  memset (&s, 0, sizeof s);
  s.status.name = "status";
  s.status.on_line = on_status_request;
  s.status.ctx = &s;
  s.log.name = "log";
  s.status.max_clients = SV_STATUS_MAX_CLIENTS;
  s.log.max_clients = SV_LOG_MAX_CLIENTS;
  s.log.lossy = 1; /* a slow log client never holds up the app: drops, counted and noted */
  s.status.lfd = s.log.lfd = s.sfd = s.out_rd = -1;
  s.rootfs = "/";

  while ((opt = getopt_long (argc, argv, "+c:h", longopts, NULL)) != -1)
    {
      switch (opt)
        {
        case 'c':
          config_path = optarg;
          no_config = 0;
          break;
        case OPT_NOCONFIG:
          config_path = NULL;
          no_config = 1;
          break;
        case OPT_STATUS:
          status_addr = optarg;
          break;
        case OPT_LOG:
          log_addr = optarg;
          break;
        case OPT_ROOTFS:
          s.rootfs = optarg;
          break;
        case OPT_USER:
          user = optarg;
          break;
        case OPT_WORKDIR:
          workdir = optarg;
          break;
        case OPT_ENV:
          if (strchr (optarg, '=') == NULL || optarg[0] == '=')
            {
              fprintf (stderr, PROG ": --env wants KEY=VALUE, got '%s'\n", optarg);
              return 2;
            }
          extra_env = rt_strv_push (extra_env, optarg);
          break;
        case OPT_LINGER:
        case OPT_STOP:
          if (parse_seconds (optarg, opt == OPT_LINGER ? &linger : &stop_timeout) < 0)
            {
              fprintf (stderr, PROG ": --%s wants a number of seconds (0..86400), got '%s'\n",
                       opt == OPT_LINGER ? "linger" : "stop-timeout", optarg);
              return 2;
            }
          break;
        case OPT_NOBOOT:
          no_bootstrap = 1;
          break;
        case 'h':
          usage (stdout);
          return 0;
        default:
          fprintf (stderr, "Try '" PROG " --help' for more information.\n");
          return 2;
        }
    }

  /* Configuration: file first, then the command line on top. */
  sv_config_init (&s.cfg);
  if (config_path == NULL && !no_config && access (SV_DEFAULT_CONFIG, F_OK) == 0)
    config_path = SV_DEFAULT_CONFIG;
  if (config_path && sv_config_load_file (&s.cfg, config_path, cfg_err, sizeof cfg_err) < 0)
    cfg_failed = 1;
  if (status_addr)
    {
      free (s.cfg.status_addr);
      s.cfg.status_addr = xstrdup (status_addr);
    }
  if (log_addr)
    {
      free (s.cfg.log_addr);
      s.cfg.log_addr = xstrdup (log_addr);
    }
  if (user)
    {
      free (s.cfg.user);
      s.cfg.user = xstrdup (user);
    }
  if (workdir)
    {
      free (s.cfg.workdir);
      s.cfg.workdir = xstrdup (workdir);
    }
  for (i = 0; extra_env && extra_env[i]; i++)
    s.cfg.env = rt_strv_push (s.cfg.env, extra_env[i]);
  rt_strv_free (extra_env);
  if (linger >= 0)
    s.cfg.linger = linger;
  if (stop_timeout >= 0)
    s.cfg.stop_timeout = stop_timeout;
  if (no_bootstrap)
    s.cfg.bootstrap = 0;
  if (optind < argc)
    {
      rt_strv_free (s.cfg.argv);
      s.cfg.argv = rt_strv_dup (argv + optind);
    }

  /* Signals: everything we care about arrives on the signalfd. */
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  for (i = 0; i < RT_ARRAY_SIZE (forwarded_signals); i++)
    sigaddset (&mask, forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  s.sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (s.sfd < 0)
    {
      fprintf (stderr, PROG ": signalfd: %s\n", strerror (errno));
      sv_config_free (&s.cfg);
      return SV_EXIT_FATAL;
    }
  /* The streams, the proxies and the ingress relays each hold descriptors per client:
   * the soft limit goes up to the hard one (the egress proxy does the same). */
  {
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
      {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit (RLIMIT_NOFILE, &rl);
      }
  }
  /* Orphans of the app are re-parented to us (when we are not PID 1 already). */
  prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  sv_ring_init (&s.ring, SV_LOG_REPLAY);

  /* The stream servers start first, so that a failure below can still be reported.
   * A stream that cannot listen is reported on the console and left out: the app still
   * runs (its output still reaches the console), e.g. in an emulator without vsock. */
  s.status.lfd = enclaver_transport_listen (s.cfg.status_addr, err, sizeof err);
  if (s.status.lfd < 0)
    sv_warn (&s, "warning: no status stream: %s", err);
  s.log.lfd = enclaver_transport_listen (s.cfg.log_addr, err, sizeof err);
  if (s.log.lfd < 0)
    sv_warn (&s, "warning: no log stream: %s", err);
  /* Non-blocking listeners: clients are accepted in batches until EAGAIN. */
  if (s.status.lfd >= 0)
    fcntl (s.status.lfd, F_SETFL, fcntl (s.status.lfd, F_GETFL) | O_NONBLOCK);
  if (s.log.lfd >= 0)
    fcntl (s.log.lfd, F_SETFL, fcntl (s.log.lfd, F_GETFL) | O_NONBLOCK);

  memset (&l, 0, sizeof l);
  if (cfg_failed)
    fatal (&s, SV_EXIT_FATAL, cfg_err);
  else
    {
      int user_ok = 0;
      if (s.cfg.bootstrap)
        {
          int r;
          /* the same NSM the attestation API talks to: supervisor.json "nsm.device" */
          const char *dev = json_string_value (json_object_get (json_object_get (s.cfg.root, "nsm"), "device"));
          if (dev == NULL)
            dev = ENCLAVER_NSM_DEVICE;
          if (sv_bootstrap_loopback (err, sizeof err) < 0)
            sv_warn (&s, "warning: %s", err);
          r = enclaver_nsm_seed_rng (dev, err, sizeof err);
          if (r < 0)
            sv_warn (&s, "warning: seeding the RNG from the NSM: %s", err);
          else if (r > 0)
            sv_info (&s, "seeded the kernel RNG from %s", dev);
        }
      if (sv_user_resolve (s.rootfs, s.cfg.user, &l.user, err, sizeof err) < 0)
        fatal (&s, SV_EXIT_FATAL, err);
      else
        user_ok = 1;
      /* The network services come up before the app, which may use them at once. */
      if (user_ok)
        {
          s.net = sv_net_new (sv_services, s.cfg.root, err, sizeof err);
          if (s.net)
            sv_net_set_rootfs (s.net, s.rootfs);
          if (s.net == NULL || sv_net_start (s.net, err, sizeof err) < 0)
            {
              fatal (&s, SV_EXIT_FATAL, err);
              user_ok = 0;
            }
          else
            {
              char *const *ne = sv_net_env (s.net);
              for (i = 0; ne[i]; i++)
                s.cfg.env = sv_env_set (s.cfg.env, ne[i]);
            }
        }
      if (user_ok)
        {
          int exec_errno;
          pid_t pid;
          l.switch_user = s.cfg.user != NULL && s.cfg.user[0] != '\0';
          l.argv = sv_config_command (&s.cfg);
          l.env = sv_launch_env (s.cfg.env, l.user.home);
          l.workdir = s.cfg.workdir;
          if (pipe2 (out, O_CLOEXEC) < 0)
            {
              snprintf (err, sizeof err, "pipe: %s", strerror (errno));
              fatal (&s, SV_EXIT_FATAL, err);
            }
          else
            {
              fcntl (out[0], F_SETFL, O_NONBLOCK);
              s.out_rd = out[0];
              pid = sv_launch_start (&l, out[1], &exec_errno, err, sizeof err);
              close (out[1]);
              if (pid < 0)
                fatal (&s,
                       exec_errno == ENOENT ? SV_EXIT_NOT_FOUND
                       : exec_errno == EINVAL ? SV_EXIT_FATAL
                                              : SV_EXIT_CANNOT_EXEC,
                       err);
              else
                {
                  s.app = pid;
                  sv_info (&s, "started %s (pid %d)", l.argv[0], (int) pid);
                  set_status (&s, "running", 0, NULL);
                }
            }
          rt_strv_free (l.argv);
          rt_strv_free (l.env);
        }
      sv_user_free (&l.user);
    }

  if (run_loop (&s) < 0 && !s.finished)
    s.exit_code = SV_EXIT_FATAL;

  /* The network thread has been told to drain when the app ended; it ends within the
   * drain time.  Its last lines go to the log clients too. */
  sv_net_stop (s.net);
  pump_net_log (&s);
  sv_net_free (s.net);
  s.net = NULL;

  /* Hand over what is still queued before going away (bounded). */
  sv_server_flush (&s.status, 2000);
  sv_server_flush (&s.log, 2000);
  sv_info (&s, "exiting with status %d", s.exit_code);
  sv_server_close (&s.status);
  sv_server_close (&s.log);
  if (s.out_rd >= 0)
    close (s.out_rd);
  if (s.sfd >= 0)
    close (s.sfd);
  sv_ring_free (&s.ring);
  free (s.status_line);
  sv_config_free (&s.cfg);
  return s.exit_code;
}
