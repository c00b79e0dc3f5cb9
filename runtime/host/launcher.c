/* enclaver host launcher: host_run() (see launcher.h and docs/run.md).
 *
 * One event loop drives everything after the start: the status and log stream clients,
 * the host services (hostsvc.h: egress, ingress, the emulated NSM), the backend's own
 * descriptor, signals and timers.  The run ends when the app's final status arrives (then the log stream is
 * drained briefly), when the status stream is lost, when the backend reports the enclave
 * gone, or when a stop runs out of grace; the enclave is terminated in every case. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include <enclaver/log.h>

#include "evloop.h"
#include "hostsvc.h"
#include "launcher.h"
#include "state.h"
#include "streams.h"

#define SRC "run"

struct launcher
{
  struct host_backend *b;
  const struct host_run_config *c;
  struct host_enclave e;
  struct ev_loop *loop;
  const char *name;
  char run_dir[4096];
  int state_written;

  struct host_conn st, lg;
  struct host_lines st_lines, lg_lines;
  int st_open, lg_open;
  int st_bytes, lg_bytes; /* bytes seen on the current status / log connection */
  int stop_pending; /* the stop request waits for the status stream */

  struct host_svc_ctx svc;
  const struct host_service *const *svc_list; /* c->services, or an empty list */
  void **svc_state; /* one per svc_list entry */
  int backend_fd;

  int code;          /* the exit code once decided, else -1 */
  const char *reason;
  json_t *final;     /* the final status object, for the exit event */
  int signals;       /* stop signals (and the timeout) so far */
  int grace_ms;
  long long grace_timer, drain_timer, idle_timer, timeout_timer;

  /* The app's log lines on stderr (text mode): a pipe or terminal gets them through a
   * non-blocking descriptor of its own, so a stderr nobody reads cannot stop this loop
   * (which also runs the host halves of egress and ingress).  While out_len is over
   * HOST_LOG_OUT_MAX the log stream is not read; the supervisor then drops for us as for
   * any slow log client, and says so in the stream. */
  int out_fd;          /* -1: plain stdio (a file, a socket, or no second handle) */
  char *out;
  size_t out_len, out_cap;
  int out_paused;      /* the log stream's fd is not watched for reading */
  pthread_t loop_thread; /* the thread whose log lines own_log_line takes */
};

#define HOST_LOG_OUT_MAX 65536

/* Events and messages. */

static void
emit (struct launcher *l, json_t *o)
{
  char *s;
  if (!l->c->json_events)
    {
      json_decref (o);
      return;
    }
  s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  json_decref (o);
  if (s == NULL)
    return;
  fputs (s, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  free (s);
}

/* A JSON string of bytes that may not be UTF-8 (invalid bytes become U+FFFD). */
static json_t *
json_bytes (const char *p, size_t n)
{
  json_t *v = json_stringn (p, n);
  char *buf;
  size_t i, o = 0;
  if (v)
    return v;
  buf = malloc (n * 3 + 1);
  if (buf == NULL)
    abort ();
  for (i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char) p[i];
      size_t k = 0, j;
      if (ch < 0x80)
        {
          buf[o++] = (char) (ch ? ch : ' ');
          continue;
        }
      if (ch >= 0xc2 && ch <= 0xdf)
        k = 2;
      else if (ch >= 0xe0 && ch <= 0xef)
        k = 3;
      else if (ch >= 0xf0 && ch <= 0xf4)
        k = 4;
      for (j = 1; k && j < k; j++)
        if (i + j >= n || ((unsigned char) p[i + j] & 0xc0) != 0x80)
          k = 0;
      if (k && json_stringn (p + i, k) == NULL)
        k = 0; /* overlong or surrogate: let jansson be the judge */
      if (k)
        {
          memcpy (buf + o, p + i, k);
          o += k;
          i += k - 1;
        }
      else
        {
          memcpy (buf + o, "\xef\xbf\xbd", 3);
          o += 3;
        }
    }
  v = json_stringn (buf, o);
  free (buf);
  return v;
}

static void end_run (struct launcher *l, int code, const char *reason);

/* Exit mapping (ENCLAVER.md §8). */

int
host_status_exit_code (const char *line, size_t len)
{
  json_t *o = json_loadb (line, len, 0, NULL), *st, *v;
  const char *kind;
  int code = -1;
  if (o == NULL)
    return -1;
  st = json_object_get (o, "status");
  kind = json_is_object (o) && json_is_string (st) ? json_string_value (st) : "";
  if (strcmp (kind, "exited") == 0)
    {
      v = json_object_get (o, "code");
      if (json_is_integer (v))
        code = (int) (json_integer_value (v) & 0xff); /* as a process exit status (u8) */
    }
  else if (strcmp (kind, "signaled") == 0)
    /* The signal as a number (this supervisor) or as "SIGxxx" (odyn): Enclaver's host
     * parsed only the number, so its 107 was unreachable (ENCLAVER.md §17 #1). */
    code = HOST_EXIT_APP_SIGNALED;
  else if (strcmp (kind, "fatal") == 0)
    code = HOST_EXIT_ENCLAVE_FATAL;
  json_decref (o);
  return code;
}

/* The stop request (docs/runtime.md, "Stop request"). */

static const char stop_request[] = "{\"request\":\"stop\"}\n";

static void
send_stop (struct launcher *l)
{
  if (!l->st_open)
    {
      l->stop_pending = 1;
      return;
    }
  l->stop_pending = 0;
  if (send (l->st.fd, stop_request, sizeof stop_request - 1, MSG_NOSIGNAL | MSG_DONTWAIT)
      != (ssize_t) (sizeof stop_request - 1))
    enclaver_log (ENCLAVER_LOG_WARNING, SRC, "cannot send the stop request to the supervisor: %s",
                  strerror (errno));
  else
    enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "sent the stop request on the status stream");
}

static long long
on_grace (struct ev_loop *loop, long long id, void *data)
{
  struct launcher *l = data;
  (void) loop;
  (void) id;
  l->grace_timer = 0;
  enclaver_log (ENCLAVER_LOG_WARNING, SRC,
                "the app did not stop within %d ms of the stop request: terminating the enclave",
                l->grace_ms);
  end_run (l, HOST_EXIT_INTERRUPTED, "interrupted");
  ev_stop (l->loop);
  return EV_TIMER_DONE;
}

static void
begin_stop (struct launcher *l, const char *why)
{
  l->signals++;
  if (l->code >= 0)
    {
      ev_stop (l->loop); /* already ending (draining the log): end now */
      return;
    }
  if (l->signals > 1)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "%s again: terminating the enclave now", why);
      end_run (l, HOST_EXIT_INTERRUPTED, "interrupted");
      ev_stop (l->loop);
      return;
    }
  enclaver_log (ENCLAVER_LOG_INFO, SRC,
                "%s: asking the app to stop (the enclave is terminated in %d ms at the latest; "
                "a second signal terminates it now)",
                why, l->grace_ms);
  emit (l, json_pack ("{s:s, s:s}", "event", "stopping", "cause", why));
  send_stop (l);
  l->grace_timer = ev_add_timer (l->loop, l->grace_ms, on_grace, l);
}

static void
on_signal (struct ev_loop *loop, int signo, void *data)
{
  (void) loop;
  begin_stop (data, signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static long long
on_timeout (struct ev_loop *loop, long long id, void *data)
{
  struct launcher *l = data;
  (void) loop;
  (void) id;
  l->timeout_timer = 0;
  begin_stop (l, "the run's timeout");
  return EV_TIMER_DONE;
}

/* The end: the code is decided; the log stream gets a short drain. */

static long long
on_drained (struct ev_loop *loop, long long id, void *data)
{
  struct launcher *l = data;
  (void) id;
  if (id == l->drain_timer)
    l->drain_timer = 0;
  else
    l->idle_timer = 0;
  ev_stop (loop);
  return EV_TIMER_DONE;
}

static void
end_run (struct launcher *l, int code, const char *reason)
{
  if (l->code >= 0)
    return;
  /* After a stop signal the run counts as interrupted, whatever the app's end. */
  if (l->signals > 0)
    code = HOST_EXIT_INTERRUPTED, reason = "interrupted";
  l->code = code;
  l->reason = reason;
  if (l->grace_timer)
    ev_del_timer (l->loop, l->grace_timer);
  l->grace_timer = 0;
  if (l->lg_open)
    {
      l->drain_timer = ev_add_timer (l->loop, HOST_LOG_DRAIN_MAX_MS, on_drained, l);
      l->idle_timer = ev_add_timer (l->loop, HOST_LOG_DRAIN_IDLE_MS, on_drained, l);
    }
  else if (l->lg.timer || l->lg.connecting)
    /* The log stream is still being reached (a slow boot, a user-mode NIC): the app's
       last lines are in the supervisor's ring, so wait for it, at most the drain time. */
    l->drain_timer = ev_add_timer (l->loop, HOST_LOG_DRAIN_MAX_MS, on_drained, l);
  else
    ev_stop (l->loop);
}

/* Status stream. */

static void
describe_status (struct launcher *l, json_t *o)
{
  const char *kind = json_string_value (json_object_get (o, "status"));
  json_t *v;
  if (kind == NULL)
    return;
  if (strcmp (kind, "running") == 0)
    enclaver_log (ENCLAVER_LOG_INFO, SRC, "enclave '%s': the app is running", l->name);
  else if (strcmp (kind, "exited") == 0)
    enclaver_log (ENCLAVER_LOG_INFO, SRC, "enclave '%s': the app exited with code %" JSON_INTEGER_FORMAT,
                  l->name, json_integer_value (json_object_get (o, "code")));
  else if (strcmp (kind, "signaled") == 0)
    {
      v = json_object_get (o, "signal");
      if (json_is_string (v))
        enclaver_log (ENCLAVER_LOG_INFO, SRC, "enclave '%s': the app was killed by %s", l->name,
                      json_string_value (v));
      else
        enclaver_log (ENCLAVER_LOG_INFO, SRC,
                      "enclave '%s': the app was killed by signal %" JSON_INTEGER_FORMAT, l->name,
                      json_integer_value (v));
    }
  else if (strcmp (kind, "fatal") == 0)
    enclaver_log (ENCLAVER_LOG_ERROR, SRC, "enclave '%s': the supervisor failed: %s", l->name,
                  json_string_value (json_object_get (o, "error")) ? json_string_value (json_object_get (o, "error"))
                                                                   : "(no message)");
}

static void
on_status_line (void *ctx, const char *line, size_t len, int partial)
{
  struct launcher *l = ctx;
  json_t *o, *ev;
  const char *key;
  json_t *val;
  int code;
  if (line == NULL)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "skipped a status line longer than %d bytes",
                    HOST_STATUS_LINE_MAX);
      return;
    }
  (void) partial;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    len--;
  if (len == 0)
    return;
  o = json_loadb (line, len, 0, NULL);
  if (!json_is_object (o) || !json_is_string (json_object_get (o, "status")))
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "skipped a status line that is not a status object: %.*s",
                    (int) (len > 200 ? 200 : len), line);
      json_decref (o);
      return;
    }
  describe_status (l, o);
  ev = json_pack ("{s:s}", "event", "status");
  json_object_foreach (o, key, val)
    json_object_set (ev, key, val);
  emit (l, ev);
  code = host_status_exit_code (line, len);
  if (code >= 0 && l->code < 0)
    {
      l->final = o;
      end_run (l, code,
               code == HOST_EXIT_ENCLAVE_FATAL ? "fatal" : code == HOST_EXIT_APP_SIGNALED ? "signaled" : "exited");
      return;
    }
  json_decref (o);
}

static void
on_status_readable (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct launcher *l = data;
  char buf[4096];
  (void) mask;
  for (;;)
    {
      ssize_t r = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0)
        {
          l->st_bytes = 1;
          host_lines_feed (&l->st_lines, buf, (size_t) r, on_status_line, l);
          continue;
        }
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      /* EOF or error: the stream is over, unless it closed before its first byte: a
         forwarder that accepted before the enclave listened (then try again). */
      ev_del_file (loop, fd, EV_READABLE | EV_WRITABLE);
      if (!l->st_bytes && l->code < 0)
        {
          l->st_open = 0;
          host_conn_reconnect (&l->st, "closed before sending anything");
          return;
        }
      host_lines_finish (&l->st_lines, on_status_line, l);
      host_conn_cancel (&l->st);
      l->st_open = 0;
      if (l->code < 0)
        {
          enclaver_log (ENCLAVER_LOG_ERROR, SRC,
                        "enclave '%s': the status stream (%s) closed without a final state of the app",
                        l->name, l->st.addr);
          end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");
        }
      return;
    }
}

static void
on_status_connected (struct host_conn *c, void *ctx)
{
  struct launcher *l = ctx;
  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "status stream connected (%s, attempt %d)", c->addr, c->attempts);
  if (ev_add_file (l->loop, c->fd, EV_READABLE, on_status_readable, l) < 0)
    {
      enclaver_log (ENCLAVER_LOG_ERROR, SRC, "epoll: %s", strerror (errno));
      end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");
      return;
    }
  l->st_open = 1;
  l->st_bytes = 0;
  if (l->stop_pending)
    send_stop (l);
}

static void
on_status_giveup (struct host_conn *c, void *ctx)
{
  struct launcher *l = ctx;
  enclaver_log (ENCLAVER_LOG_ERROR, SRC,
                "enclave '%s': gave up connecting to the status stream at %s after %d attempts in "
                "%lld ms: %s",
                l->name, c->addr, c->attempts, ev_now_ms () - c->started, c->last_err);
  end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");
}

/* Log stream. */

static void on_out_writable (struct ev_loop *loop, int fd, void *data, int mask);
static void *
xrealloc_or_die (void *p, size_t n)
{
  void *q = realloc (p, n);
  if (q == NULL)
    abort ();
  return q;
}

/* Queue bytes for the non-blocking stderr handle. */
static void
out_put (struct launcher *l, const char *p, size_t len)
{
  if (l->out_len + len + 1 > l->out_cap)
    {
      size_t cap = l->out_cap ? l->out_cap : 4 * HOST_LOG_OUT_MAX;
      while (cap < l->out_len + len + 1)
        cap *= 2;
      l->out = xrealloc_or_die (l->out, cap);
      l->out_cap = cap;
    }
  memcpy (l->out + l->out_len, p, len);
  l->out_len += len;
}

static void out_flush (struct launcher *l);

/* The launcher's own log lines (enclaver_log_set_writer) take the same non-blocking way
 * as the app's, behind them, so that a full stderr pipe cannot block the loop in a
 * log call either.  A line of the launcher's is never dropped; they are few. */
static int
own_log_line (const char *line, size_t len, void *ud)
{
  struct launcher *l = ud;
  if (l->out_fd < 0 || !pthread_equal (pthread_self (), l->loop_thread))
    return 0; /* another thread's line (a resolver's): plain stderr */
  out_put (l, line, len);
  if (l->loop)
    out_flush (l);
  return 1;
}

static void
on_log_line (void *ctx, const char *line, size_t len, int partial)
{
  struct launcher *l = ctx;
  if (line == NULL)
    return;
  if (l->c->json_events)
    {
      json_t *o = json_pack ("{s:s, s:o}", "event", "log", "line", json_bytes (line, len));
      if (partial && o)
        json_object_set_new (o, "partial", json_true ());
      if (o)
        emit (l, o);
      return;
    }
  if (l->out_fd >= 0)
    {
      out_put (l, line, len);
      out_put (l, "\n", 1);
      return;
    }
  fwrite (line, 1, len, stderr);
  fputc ('\n', stderr);
}

static void on_log_readable (struct ev_loop *loop, int fd, void *data, int mask);

/* Write what the non-blocking stderr takes; pause or resume reading the log stream. */
static void
out_flush (struct launcher *l)
{
  size_t off = 0;
  while (off < l->out_len)
    {
      ssize_t w = write (l->out_fd, l->out + off, l->out_len - off);
      if (w > 0)
        off += (size_t) w;
      else if (w < 0 && errno == EINTR)
        continue;
      else
        break;
    }
  if (off == l->out_len || (off == 0 && errno != EAGAIN && errno != EWOULDBLOCK))
    l->out_len = 0; /* all written, or stderr is gone: nothing to keep */
  else if (off)
    {
      memmove (l->out, l->out + off, l->out_len - off);
      l->out_len -= off;
    }
  if (l->out_len > HOST_LOG_OUT_MAX && !l->out_paused && l->lg_open)
    {
      ev_del_file (l->loop, l->lg.fd, EV_READABLE);
      l->out_paused = 1;
    }
  if (l->out_len)
    ev_add_file (l->loop, l->out_fd, EV_WRITABLE, on_out_writable, l);
  else
    ev_del_file (l->loop, l->out_fd, EV_WRITABLE);
  if (l->out_paused && l->out_len <= HOST_LOG_OUT_MAX)
    {
      l->out_paused = 0;
      if (l->lg_open)
        ev_add_file (l->loop, l->lg.fd, EV_READABLE, on_log_readable, l);
    }
}

static void
on_out_writable (struct ev_loop *loop, int fd, void *data, int mask)
{
  (void) loop;
  (void) fd;
  (void) mask;
  out_flush (data);
}

static void
on_log_readable (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct launcher *l = data;
  char buf[16384];
  (void) mask;
  for (;;)
    {
      ssize_t r = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0)
        {
          l->lg_bytes = 1;
          host_lines_feed (&l->lg_lines, buf, (size_t) r, on_log_line, l);
          if (l->idle_timer)
            {
              ev_del_timer (loop, l->idle_timer);
              l->idle_timer = ev_add_timer (loop, HOST_LOG_DRAIN_IDLE_MS, on_drained, l);
            }
          if (l->out_fd >= 0 && l->out_len > HOST_LOG_OUT_MAX)
            break; /* out_flush below pauses reading until stderr takes it */
          continue;
        }
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      ev_del_file (loop, fd, EV_READABLE | EV_WRITABLE);
      if (!l->lg_bytes && l->code < 0)
        {
          l->lg_open = 0;
          host_conn_reconnect (&l->lg, "closed before sending anything");
          break;
        }
      host_lines_finish (&l->lg_lines, on_log_line, l);
      host_conn_cancel (&l->lg);
      l->lg_open = 0;
      if (l->code >= 0)
        ev_stop (loop);
      break;
    }
  if (l->out_fd >= 0)
    out_flush (l);
  else
    fflush (stderr);
}

static void
on_log_connected (struct host_conn *c, void *ctx)
{
  struct launcher *l = ctx;
  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "log stream connected (%s, attempt %d)", c->addr, c->attempts);
  l->lg_bytes = 0;
  if (ev_add_file (l->loop, c->fd, EV_READABLE, on_log_readable, l) == 0)
    l->lg_open = 1;
  if (l->lg_open && l->code >= 0 && !l->idle_timer)
    l->idle_timer = ev_add_timer (l->loop, HOST_LOG_DRAIN_IDLE_MS, on_drained, l);
}

static void
on_log_giveup (struct host_conn *c, void *ctx)
{
  struct launcher *l = ctx;
  enclaver_log (ENCLAVER_LOG_WARNING, SRC,
                "enclave '%s': no log stream: gave up connecting to %s after %d attempts in %lld ms: %s",
                l->name, c->addr, c->attempts, ev_now_ms () - c->started, c->last_err);
  if (l->code >= 0)
    ev_stop (l->loop);
}

/* Host services (hostsvc.h). */

static const struct host_service *const no_services[] = { NULL };

static void
services_stop_accepting (struct launcher *l)
{
  size_t i;
  for (i = 0; l->svc_list[i]; i++)
    if (l->svc_state[i] && l->svc_list[i]->stop_accepting)
      l->svc_list[i]->stop_accepting (l->svc_state[i]);
}

static size_t
services_active (struct launcher *l)
{
  size_t i, n = 0;
  for (i = 0; l->svc_list[i]; i++)
    if (l->svc_state[i] && l->svc_list[i]->active)
      n += l->svc_list[i]->active (l->svc_state[i]);
  return n;
}

/* Once the app has ended: no new connections; the ones in flight get a bounded time to
 * finish before the enclave stops (as Enclaver does). */
static void
services_drain (struct launcher *l)
{
  long long deadline = ev_now_ms () + HOST_NET_DRAIN_MS;
  size_t n;
  services_stop_accepting (l);
  while ((n = services_active (l)) > 0)
    {
      if (ev_now_ms () >= deadline)
        {
          enclaver_log (ENCLAVER_LOG_WARNING, SRC,
                        "enclave '%s': %zu connection(s) still open after %d ms: closing them", l->name, n,
                        HOST_NET_DRAIN_MS);
          break;
        }
      if (ev_process (l->loop, 0) < 0)
        break;
    }
}

/* The backend's descriptor (console, emulator exit, the local supervisor's end). */

static void
on_backend_event (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct launcher *l = data;
  (void) mask;
  if (l->b->on_event == NULL || l->b->on_event (l->b, &l->e) != 1)
    return;
  ev_del_file (loop, fd, EV_READABLE | EV_WRITABLE);
  l->backend_fd = -1;
  /* What the enclave sent before it went may still be unread: read it first. */
  if (l->lg_open)
    on_log_readable (loop, l->lg.fd, l, EV_READABLE);
  if (l->st_open)
    on_status_readable (loop, l->st.fd, l, EV_READABLE);
  if (l->code < 0)
    {
      enclaver_log (ENCLAVER_LOG_ERROR, SRC, "enclave '%s' ended without reporting a final state of the app",
                    l->name);
      end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");
    }
}

static void
write_state (struct launcher *l)
{
  struct host_state s;
  enclaver_error_t err = NULL;
  memset (&s, 0, sizeof s);
  snprintf (s.name, sizeof s.name, "%s", l->name);
  snprintf (s.id, sizeof s.id, "%s", l->e.id);
  snprintf (s.backend, sizeof s.backend, "%s", l->b->name ? l->b->name : "");
  s.cid = l->e.cid;
  snprintf (s.image_digest, sizeof s.image_digest, "%s", l->c->image_digest ? l->c->image_digest : "");
  snprintf (s.pcr0, sizeof s.pcr0, "%s", l->c->pcr0 ? l->c->pcr0 : "");
  s.memory_mib = l->c->memory_mib;
  s.cpu_count = l->c->cpu_count;
  s.started = (long long) time (NULL);
  s.launcher_pid = getpid ();
  s.launcher_ticks = host_proc_start_ticks (s.launcher_pid);
  snprintf (s.status_addr, sizeof s.status_addr, "%s", l->st.addr);
  if (l->b->enclave_addr (l->b, &l->e, l->c->log_port ? l->c->log_port : HOST_PORT_LOG, s.log_addr,
                          sizeof s.log_addr) < 0)
    s.log_addr[0] = '\0';
  if (host_state_write (l->run_dir, &s, &err) < 0)
    {
      enclaver_error_warn_and_release (&err, "enclaver ps/stop will not see this enclave");
      return;
    }
  l->state_written = 1;
}

static void
cleanup (struct launcher *l)
{
  size_t i;
  enclaver_log_set_writer (NULL, NULL); /* what is logged from here on goes to stderr */
  if (l->out_fd >= 0)
    {
      struct pollfd p = { l->out_fd, POLLOUT, 0 };
      long long end = ev_now_ms () + HOST_LOG_DRAIN_MAX_MS;
      fflush (stderr);
      while (l->out_len && ev_now_ms () < end && poll (&p, 1, 100) >= 0)
        {
          ssize_t w = write (l->out_fd, l->out, l->out_len);
          if (w > 0)
            {
              memmove (l->out, l->out + w, l->out_len - (size_t) w);
              l->out_len -= (size_t) w;
            }
          else if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;
        }
      close (l->out_fd);
      l->out_fd = -1;
    }
  free (l->out);
  l->out = NULL;
  host_conn_cancel (&l->st);
  host_conn_cancel (&l->lg);
  host_lines_free (&l->st_lines);
  host_lines_free (&l->lg_lines);
  for (i = 0; l->svc_state && l->svc_list && l->svc_list[i]; i++)
    if (l->svc_state[i])
      l->svc_list[i]->destroy (l->svc_state[i]);
  free (l->svc_state);
  if (l->state_written)
    host_state_remove (l->run_dir, l->name);
  json_decref (l->final);
  ev_loop_free (l->loop);
}

int
host_run (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err)
{
  struct launcher L, *l = &L;
  char addr[256];
  sigset_t set;
  size_t i;
  json_t *ev;

  memset (l, 0, sizeof *l);
  l->b = b;
  l->c = c;
  l->code = -1;
  l->backend_fd = -1;
  l->name = c->name && c->name[0] ? c->name : "enclave";
  l->grace_ms = c->stop_grace_ms > 0 ? c->stop_grace_ms : HOST_STOP_GRACE_DEFAULT_MS;
  host_lines_init (&l->st_lines, HOST_STATUS_LINE_MAX, 1);
  host_lines_init (&l->lg_lines, HOST_LOG_LINE_MAX, 0);
  l->st.fd = l->lg.fd = -1;
  l->out_fd = -1;

  if (!host_name_valid (l->name))
    {
      host_lines_free (&l->st_lines);
      host_lines_free (&l->lg_lines);
      return enclaver_make_error (err, EINVAL,
                                  "invalid enclave name '%s': use 1 to %d letters, digits, '_', '.' "
                                  "or '-', not starting with '.' or '-'",
                                  l->name, HOST_NAME_MAX_LEN);
    }
  if (c->run_dir)
    snprintf (l->run_dir, sizeof l->run_dir, "%s", c->run_dir);
  else
    host_run_dir_default (l->run_dir, sizeof l->run_dir);

  l->loop = ev_loop_new ();
  if (l->loop == NULL)
    {
      host_lines_free (&l->st_lines);
      host_lines_free (&l->lg_lines);
      return enclaver_make_errno (err, errno, "cannot create the event loop");
    }
  if (!c->json_events)
    {
      struct stat st;
      /* A second, non-blocking handle on the same pipe or terminal (never set
       * O_NONBLOCK on fd 2 itself: it is shared with the caller's shell). */
      if (fstat (2, &st) == 0 && (S_ISFIFO (st.st_mode) || S_ISCHR (st.st_mode)))
        l->out_fd = open ("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (l->out_fd >= 0)
        {
          l->loop_thread = pthread_self ();
          enclaver_log_set_writer (own_log_line, l);
        }
    }
  l->svc_list = c->services ? c->services : no_services;
  for (i = 0; l->svc_list[i]; i++)
    ;
  l->svc_state = calloc (i + 1, sizeof *l->svc_state);
  if (l->svc_state == NULL)
    abort ();
  l->svc.loop = l->loop;
  l->svc.c = c;
  l->svc.b = b;
  l->svc.e = &l->e;
  l->svc.name = l->name;

  /* 1. Checks that touch nothing. */
  if (b->check && b->check (b, c, err) < 0)
    goto fail;
  if (host_state_claim (l->run_dir, l->name, err) < 0)
    goto fail;

  /* Signals are taken from now on: one that comes during the start is handled as soon as
   * the loop runs (a graceful stop of the enclave just started). */
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  if (ev_watch_signals (l->loop, &set, on_signal, l) < 0)
    {
      enclaver_make_errno (err, errno, "cannot watch signals");
      goto fail;
    }

  /* 2. The host halves that must exist before the enclave: egress (the enclave may
   * connect as soon as it runs), and the ingress ports, bound now so that a port in use
   * is reported before anything starts (they are served once the enclave runs). */
  for (i = 0; l->svc_list[i]; i++)
    if (l->svc_list[i]->prepare (&l->svc, &l->svc_state[i], err) < 0)
      goto fail;

  /* 3. The enclave. */
  if (b->start (b, c, &l->e, err) < 0)
    goto fail;

  if (b->enclave_addr (b, &l->e, c->status_port, addr, sizeof addr) < 0)
    snprintf (addr, sizeof addr, "(none)");
  snprintf (l->st.addr, sizeof l->st.addr, "%s", addr);
  enclaver_log (ENCLAVER_LOG_INFO, SRC, "started enclave '%s' (ID %s, CID %" PRIu64 ", %s backend)", l->name,
                l->e.id, l->e.cid, b->name ? b->name : "?");
  ev = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I}", "event", "started", "name", l->name, "id", l->e.id,
                  "cid", (json_int_t) l->e.cid, "pid", (json_int_t) l->e.pid, "backend", b->name ? b->name : "",
                  "memory_mib", (json_int_t) c->memory_mib, "cpu_count", (json_int_t) c->cpu_count);
  if (ev && c->pcr0)
    json_object_set_new (ev, "pcr0", json_string (c->pcr0));
  if (ev && c->image_digest)
    json_object_set_new (ev, "image_digest", json_string (c->image_digest));
  if (ev)
    emit (l, ev);
  write_state (l);
  for (i = 0; l->svc_list[i]; i++)
    if (l->svc_state[i] && l->svc_list[i]->started && l->svc_list[i]->started (l->svc_state[i], err) < 0)
      {
        b->terminate (b, &l->e);
        goto fail;
      }

  /* 4. The loop: streams, host services, the backend's descriptor, timers. */
  if (b->event_fd && (l->backend_fd = b->event_fd (b, &l->e)) >= 0)
    ev_add_file (l->loop, l->backend_fd, EV_READABLE, on_backend_event, l);
  host_conn_start (&l->st, l->loop, "status stream", addr, c->connect_deadline_ms, on_status_connected,
                   on_status_giveup, l);
  if (l->code < 0 && b->enclave_addr (b, &l->e, c->log_port, addr, sizeof addr) == 0)
    host_conn_start (&l->lg, l->loop, "log stream", addr, c->connect_deadline_ms, on_log_connected,
                     on_log_giveup, l);
  if (c->timeout_s > 0)
    l->timeout_timer = ev_add_timer (l->loop, (long long) c->timeout_s * 1000, on_timeout, l);
  if (l->code < 0 || l->lg_open)
    if (ev_run (l->loop) < 0)
      {
        enclaver_log (ENCLAVER_LOG_ERROR, SRC, "event loop: %s", strerror (errno));
        end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");
      }
  if (l->code < 0) /* not reached: the loop stops only once the code is decided */
    end_run (l, HOST_EXIT_ENCLAVE_FATAL, "lost");

  /* 5. Stop the enclave, whatever happened. */
  services_drain (l);
  b->terminate (b, &l->e);
  enclaver_log (ENCLAVER_LOG_INFO, SRC, "enclave '%s' terminated; exit code %d", l->name, l->code);
  ev = json_pack ("{s:s, s:s, s:i, s:s}", "event", "exit", "name", l->name, "code", l->code, "reason", l->reason);
  if (ev && l->final)
    json_object_set (ev, "status", l->final);
  if (ev)
    emit (l, ev);
  cleanup (l);
  return l->code;

fail:
  cleanup (l);
  return -1;
}
