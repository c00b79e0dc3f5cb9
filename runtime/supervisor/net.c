/* enclaver-supervisor: the network thread (see net.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/logline.h"
#include "common/strbuf.h"
#include "evloop.h"
#include "net.h"
#include "rtutil.h"

#define PROG "enclaver-supervisor"
#define SV_NET_MAX_SERVICES 16
#define SV_NET_DRAIN_POLL_MS 50

struct sv_net
{
  struct ev_loop *loop;
  json_t *config;
  struct sv_net_ctx ctx;
  const struct sv_service *const *svc;
  void *state[SV_NET_MAX_SERVICES];
  char **env;
  int starting;
  int log_rd, log_wr;
  int wake_fd;            /* eventfd: sv_net_shutdown -> the thread */
  int drain_ms;
  long long drain_deadline;
  pthread_t thread;
  int thread_running;
  int shutting_down;      /* network thread only */
};

static const char *const service_keys[] = { "egress", "ingress", "api", "kms", "nsm" };

int
sv_net_is_service_key (const char *key)
{
  size_t i;
  for (i = 0; i < RT_ARRAY_SIZE (service_keys); i++)
    if (strcmp (key, service_keys[i]) == 0)
      return 1;
  return 0;
}

struct sv_net *
sv_net_new (const struct sv_service *const *services, const json_t *config, char *err, size_t errlen)
{
  static const struct sv_service *const none[] = { NULL };
  struct sv_net *n = xcalloc (1, sizeof *n);
  json_t *net;
  int p[2];

  n->svc = services ? services : none;
  n->log_rd = n->log_wr = n->wake_fd = -1;
  n->config = config ? json_deep_copy (config) : json_object ();
  if (n->config == NULL)
    abort ();
  n->drain_ms = SV_NET_DRAIN_DEFAULT * 1000;
  net = json_object_get (n->config, "net");
  if (json_is_integer (json_object_get (net, "drain_timeout")))
    n->drain_ms = (int) json_integer_value (json_object_get (net, "drain_timeout")) * 1000;
  n->loop = ev_loop_new ();
  if (n->loop == NULL)
    {
      rt_err (err, errlen, "network services: cannot create the event loop: %s", strerror (errno));
      sv_net_free (n);
      return NULL;
    }
  /* The log pipe is non-blocking on both ends: a network thread never waits for the
   * main loop; a line that does not fit is dropped (the console still has it). */
  if (pipe2 (p, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      rt_err (err, errlen, "network services: pipe: %s", strerror (errno));
      sv_net_free (n);
      return NULL;
    }
  n->log_rd = p[0];
  n->log_wr = p[1];
  n->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (n->wake_fd < 0)
    {
      rt_err (err, errlen, "network services: eventfd: %s", strerror (errno));
      sv_net_free (n);
      return NULL;
    }
  n->ctx.loop = n->loop;
  n->ctx.config = n->config;
  n->ctx.manifest = json_object_get (n->config, "manifest");
  if (!json_is_object (n->ctx.manifest))
    n->ctx.manifest = NULL;
  n->ctx.net = n;
  n->ctx.rootfs = "/";
  return n;
}

void
sv_net_setenv (struct sv_net *n, const char *key, const char *value)
{
  size_t klen = strlen (key), i;
  char *kv;
  if (!n->starting)
    abort (); /* the app's environment is fixed once it runs */
  kv = xmalloc (klen + strlen (value) + 2);
  sprintf (kv, "%s=%s", key, value);
  for (i = 0; n->env && n->env[i]; i++)
    if (strncmp (n->env[i], key, klen) == 0 && n->env[i][klen] == '=')
      {
        free (n->env[i]);
        n->env[i] = kv;
        return;
      }
  n->env = rt_strv_push (n->env, kv);
  free (kv);
}

char *const *
sv_net_env (const struct sv_net *n)
{
  static char *const none[] = { NULL };
  return n && n->env ? n->env : none;
}

int
sv_net_log_fd (const struct sv_net *n)
{
  return n ? n->log_rd : -1;
}

void
sv_net_log (struct sv_net *n, const char *fmt, ...)
{
  char buf[2048];
  struct strbuf sb;
  va_list ap;
  strbuf_init_fixed (&sb, buf, sizeof buf);
  va_start (ap, fmt);
  logline_vtext (&sb, PROG, NULL, LOGLINE_INFO, fmt, ap);
  va_end (ap);
  enclaver_write_all (2, sb.data, sb.len);
  /* One write of at most PIPE_BUF bytes is atomic: lines of two threads never mix. */
  if (n && n->log_wr >= 0 && write (n->log_wr, sb.data, sb.len) < 0)
    {
      /* full pipe: dropped from the log stream only */
    }
}

size_t
sv_net_running (const struct sv_net *n)
{
  size_t i, c = 0;
  for (i = 0; n && n->svc[i]; i++)
    if (n->state[i])
      c++;
  return c;
}

static long long
drain_tick (struct ev_loop *loop, long long id, void *data)
{
  struct sv_net *n = data;
  size_t i, busy = 0;
  (void) id;
  for (i = 0; n->svc[i]; i++)
    if (n->state[i] && n->svc[i]->active)
      busy += n->svc[i]->active (n->state[i]);
  if (busy == 0)
    {
      ev_stop (loop);
      return EV_TIMER_DONE;
    }
  if (ev_now_ms () >= n->drain_deadline)
    {
      sv_net_log (n, "network services: %zu connection(s) still open after %d ms: closing them",
                  busy, n->drain_ms);
      ev_stop (loop);
      return EV_TIMER_DONE;
    }
  return SV_NET_DRAIN_POLL_MS;
}

static void
on_wake (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct sv_net *n = data;
  uint64_t v;
  size_t i;
  (void) mask;
  if (read (fd, &v, sizeof v) < 0 && errno == EAGAIN)
    return;
  if (n->shutting_down)
    return;
  n->shutting_down = 1;
  ev_del_file (loop, fd, EV_READABLE);
  for (i = 0; n->svc[i]; i++)
    if (n->state[i] && n->svc[i]->stop_accepting)
      n->svc[i]->stop_accepting (n->state[i]);
  n->drain_deadline = ev_now_ms () + n->drain_ms;
  drain_tick (loop, 0, n) == EV_TIMER_DONE ? (void) 0
                                           : (void) ev_add_timer (loop, SV_NET_DRAIN_POLL_MS, drain_tick, n);
}

static void *
net_thread (void *arg)
{
  struct sv_net *n = arg;
  sigset_t all;
  /* Signals belong to the main thread's signalfd. */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, NULL);
  if (ev_run (n->loop) < 0)
    sv_net_log (n, "network services: event loop failed: %s", strerror (errno));
  return NULL;
}

void
sv_net_set_rootfs (struct sv_net *n, const char *rootfs)
{
  n->ctx.rootfs = rootfs ? rootfs : "/";
}

int
sv_net_start (struct sv_net *n, char *err, size_t errlen)
{
  size_t i;
  n->starting = 1;
  for (i = 0; n->svc[i]; i++)
    {
      char e[1024] = "";
      if (i >= SV_NET_MAX_SERVICES)
        abort ();
      if (n->svc[i]->start (&n->ctx, &n->state[i], e, sizeof e) < 0)
        {
          n->starting = 0;
          return rt_err (err, errlen, "%s: %s", n->svc[i]->name, e[0] ? e : "cannot start");
        }
    }
  n->starting = 0;
  if (sv_net_running (n) == 0)
    return 0;
  if (ev_add_file (n->loop, n->wake_fd, EV_READABLE, on_wake, n) < 0)
    return rt_err (err, errlen, "network services: epoll: %s", strerror (errno));
  errno = pthread_create (&n->thread, NULL, net_thread, n);
  if (errno != 0)
    return rt_err (err, errlen, "network services: cannot start the thread: %s", strerror (errno));
  n->thread_running = 1;
  return 0;
}

void
sv_net_shutdown (struct sv_net *n)
{
  uint64_t one = 1;
  if (n && n->wake_fd >= 0 && write (n->wake_fd, &one, sizeof one) < 0)
    {
      /* the counter cannot overflow with one write per call */
    }
}

void
sv_net_stop (struct sv_net *n)
{
  if (n && n->thread_running)
    {
      sv_net_shutdown (n);
      pthread_join (n->thread, NULL);
      n->thread_running = 0;
    }
}

void
sv_net_free (struct sv_net *n)
{
  size_t i;
  if (n == NULL)
    return;
  sv_net_stop (n);
  for (i = 0; n->svc[i]; i++)
    if (n->state[i] && n->svc[i]->destroy)
      n->svc[i]->destroy (n->state[i]);
  if (n->loop)
    ev_loop_free (n->loop);
  if (n->log_rd >= 0)
    close (n->log_rd);
  if (n->log_wr >= 0)
    close (n->log_wr);
  if (n->wake_fd >= 0)
    close (n->wake_fd);
  rt_strv_free (n->env);
  json_decref (n->config);
  free (n);
}
