/* enclaver host launcher: the host half of ingress (docs/network.md, "Ingress").
 *
 * For each ingress port P of the manifest the launcher listens on TCP (0.0.0.0:P, or
 * what --publish says) before the enclave starts, so a port in use stops the run before
 * anything runs; once the enclave runs, each accepted connection is connected to the
 * enclave's port P (the backend's enclave_addr: vsock CID:P on Nitro) and relayed
 * (runtime/net/relay.h).  One loop, the launcher's; bounded connections. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <enclaver/log.h>

#include "evloop.h"
#include "hostsvc.h"
#include "ingress.h"
#include "net/relay.h"
#include "streams.h"

#define SRC "ingress"
#define HING_MAX_CONNS 4096 /* connections at once, all ports; more are accepted and closed */
#define HING_IDLE_MS (600LL * 1000)
#define HING_CONNECT_MS 10000
#define HING_BACKLOG 1024        /* a burst of clients queues instead of being refused */
#define HING_ACCEPT_PAUSE_MS 100 /* out of descriptors: stop accepting that long */
#define HING_RETRY_FIRST_MS 5    /* a full Unix backlog: first retry, doubling ... */
#define HING_RETRY_MAX_MS 200    /* ... up to this */

struct hing;

struct hing_port
{
  struct hing *s;
  uint32_t port, host_port;
  char bind[64];
  int lfd;
  long long pause_timer; /* accepting paused (out of descriptors) */
};

struct hing_conn
{
  struct hing *s;
  struct hing_port *p;
  int cfd, efd;
  long long timer;
  long long deadline, delay; /* of reaching the enclave (conn_dial) */
  struct relay *relay;
  struct hing_conn *prev, *next;
};

struct hing
{
  const struct host_svc_ctx *ctx;
  struct hing_port *ports;
  size_t n, active;
  size_t refused; /* connections refused at the limit since it was reached (0: below it) */
  struct hing_conn *conns;
};

static int
parse_port (const char *s, size_t len, uint32_t *out)
{
  uint32_t v = 0;
  size_t i;
  if (len == 0 || len > 5)
    return -1;
  for (i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      v = v * 10 + (uint32_t) (s[i] - '0');
    }
  if (v < 1 || v > 65535)
    return -1;
  *out = v;
  return 0;
}

/* Split [ADDR:]HOSTPORT:PORT. */
static int
publish_split (const char *spec, char *addr, size_t addrlen, uint32_t *hport, uint32_t *port,
               enclaver_error_t *err)
{
  const char *last = strrchr (spec, ':'), *mid;
  struct in_addr ia;
  if (last == NULL)
    return enclaver_make_error (err, EINVAL,
                                "--publish '%s': expected [ADDR:]HOSTPORT:PORT, e.g. 8080:80 or "
                                "127.0.0.1:8080:80", spec);
  if (parse_port (last + 1, strlen (last + 1), port) < 0)
    return enclaver_make_error (err, EINVAL, "--publish '%s': the enclave's port '%s' is not a port from 1 to 65535",
                                spec, last + 1);
  mid = last;
  while (mid > spec && mid[-1] != ':')
    mid--;
  if (parse_port (mid, (size_t) (last - mid), hport) < 0)
    return enclaver_make_error (err, EINVAL, "--publish '%s': the host port '%.*s' is not a port from 1 to 65535",
                                spec, (int) (last - mid), mid);
  addr[0] = '\0';
  if (mid > spec)
    {
      size_t alen = (size_t) (mid - 1 - spec);
      if (alen == 0 || alen >= addrlen)
        return enclaver_make_error (err, EINVAL, "--publish '%s': the address before the host port is empty or too long",
                                    spec);
      memcpy (addr, spec, alen);
      addr[alen] = '\0';
      if (inet_pton (AF_INET, addr, &ia) != 1)
        return enclaver_make_error (err, EINVAL, "--publish '%s': '%s' is not a dotted IPv4 address", spec, addr);
    }
  return 0;
}

int
host_ingress_publish_check (const char *spec, enclaver_error_t *err)
{
  char addr[64];
  uint32_t h, p;
  return publish_split (spec, addr, sizeof addr, &h, &p, err);
}

int
host_ingress_publish (struct host_ingress *ing, size_t n, const char *spec, enclaver_error_t *err)
{
  char addr[64], list[256] = "";
  uint32_t h, p;
  size_t i, len = 0;
  if (publish_split (spec, addr, sizeof addr, &h, &p, err) < 0)
    return -1;
  for (i = 0; i < n; i++)
    if (ing[i].listen_port == p)
      {
        snprintf (ing[i].bind_addr, sizeof ing[i].bind_addr, "%s", addr);
        ing[i].host_port = h;
        return 0;
      }
  for (i = 0; i < n && len + 8 < sizeof list; i++)
    len += (size_t) snprintf (list + len, sizeof list - len, "%s%" PRIu32, i ? ", " : "", ing[i].listen_port);
  return enclaver_make_error (err, EINVAL, "--publish '%s': %" PRIu32 " is not an ingress port of the manifest (%s%s)",
                              spec, p, n ? "its ingress ports: " : "it has no ingress section", list);
}

static void
conn_free (struct hing_conn *c)
{
  struct hing *s = c->s;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->active--;
  if (c->timer)
    ev_del_timer (s->ctx->loop, c->timer);
  if (c->relay)
    relay_abort (c->relay);
  else
    {
      if (c->efd >= 0)
        {
          ev_del_file (s->ctx->loop, c->efd, EV_READABLE | EV_WRITABLE);
          close (c->efd);
        }
      if (c->cfd >= 0)
        close (c->cfd);
    }
  free (c);
  if (s->refused && s->active < HING_MAX_CONNS)
    {
      /* one line when the limit is reached, one when there is room again */
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "accepting connections again; %zu were refused at the limit of %d",
                    s->refused, HING_MAX_CONNS);
      s->refused = 0;
    }
}

static void
relay_done (void *data, const struct relay_result *res)
{
  struct hing_conn *c = data;
  c->relay = NULL;
  c->cfd = c->efd = -1;
  if (res->err == ETIMEDOUT)
    enclaver_log (ENCLAVER_LOG_INFO, SRC, "port %" PRIu32 ": connection closed after %lld s without traffic",
                  c->p->host_port, HING_IDLE_MS / 1000);
  else if (res->err && res->err != ECONNRESET && res->err != EPIPE)
    enclaver_log (ENCLAVER_LOG_WARNING, SRC, "port %" PRIu32 ": connection failed on the %s side: %s",
                  c->p->host_port, res->err_side == 'a' ? "client" : "enclave", strerror (res->err));
  conn_free (c);
}

static void
conn_fail (struct hing_conn *c, const char *why)
{
  enclaver_log (ENCLAVER_LOG_WARNING, SRC, "port %" PRIu32 ": cannot reach the enclave '%s' at its port %" PRIu32 ": %s",
                c->p->host_port, c->s->ctx->name, c->p->port, why);
  conn_free (c);
}

static void
conn_connected (struct hing_conn *c)
{
  struct relay_opts o = { HING_IDLE_MS, 0 };
  int cfd = c->cfd, efd = c->efd;
  if (c->timer)
    ev_del_timer (c->s->ctx->loop, c->timer);
  c->timer = 0;
  ev_del_file (c->s->ctx->loop, efd, EV_READABLE | EV_WRITABLE);
  c->cfd = c->efd = -1;
  c->relay = relay_start (c->s->ctx->loop, cfd, efd, NULL, 0, NULL, 0, &o, relay_done, c);
  if (c->relay == NULL)
    conn_fail (c, strerror (errno));
}

static void
on_connect (struct ev_loop *l, int fd, void *data, int mask)
{
  struct hing_conn *c = data;
  int e = 0;
  socklen_t len = sizeof e;
  (void) l, (void) mask;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    e = errno;
  if (e)
    conn_fail (c, strerror (e));
  else
    conn_connected (c);
}

static long long
on_connect_timeout (struct ev_loop *l, long long id, void *data)
{
  struct hing_conn *c = data;
  (void) l, (void) id;
  c->timer = 0;
  conn_fail (c, "timed out");
  return EV_TIMER_DONE;
}

static long long on_retry (struct ev_loop *l, long long id, void *data);

/* Connect to the enclave's port.  A Unix socket whose backlog is full (the local backend)
 * answers EAGAIN at once: retried, backing off, until the connect timeout; vsock and TCP
 * connect in the background. */
static void
conn_dial (struct hing_conn *c)
{
  struct ev_loop *l = c->s->ctx->loop;
  char addr[256], e[256];
  long long left = c->deadline - ev_now_ms ();
  int r;
  if (c->s->ctx->b->enclave_addr (c->s->ctx->b, c->s->ctx->e, c->p->port, addr, sizeof addr) < 0)
    {
      conn_fail (c, "the backend has no address for it");
      return;
    }
  r = host_sock_connect_start (addr, &c->efd, e, sizeof e);
  if (r < 0 && errno == EAGAIN && left > 0)
    {
      c->timer = ev_add_timer (l, c->delay < left ? c->delay : left, on_retry, c);
      c->delay = c->delay * 2 > HING_RETRY_MAX_MS ? HING_RETRY_MAX_MS : c->delay * 2;
    }
  else if (r < 0)
    conn_fail (c, errno == EAGAIN ? "timed out (its backlog stayed full)" : e);
  else if (r == 0)
    conn_connected (c);
  else if (ev_add_file (l, c->efd, EV_WRITABLE, on_connect, c) < 0)
    conn_fail (c, strerror (errno));
  else
    c->timer = ev_add_timer (l, left > 0 ? left : 1, on_connect_timeout, c);
}

static long long
on_retry (struct ev_loop *l, long long id, void *data)
{
  struct hing_conn *c = data;
  (void) l, (void) id;
  c->timer = 0;
  conn_dial (c);
  return EV_TIMER_DONE;
}

static void on_accept (struct ev_loop *l, int fd, void *data, int mask);

static long long
on_pause_end (struct ev_loop *l, long long id, void *data)
{
  struct hing_port *p = data;
  (void) id;
  p->pause_timer = 0;
  if (p->lfd >= 0 && ev_add_file (l, p->lfd, EV_READABLE, on_accept, p) < 0)
    enclaver_log (ENCLAVER_LOG_WARNING, SRC, "port %" PRIu32 ": epoll: %s", p->host_port, strerror (errno));
  return EV_TIMER_DONE;
}

static void
on_accept (struct ev_loop *l, int fd, void *data, int mask)
{
  struct hing_port *p = data;
  struct hing *s = p->s;
  int i;
  (void) mask;
  for (i = 0; i < 64; i++)
    {
      struct hing_conn *c;
      uint64_t cid;
      int cfd = -1;
      if (host_sock_accept (fd, &cfd, &cid) < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            {
              /* The listener stays readable: pause it rather than spin. */
              enclaver_log (ENCLAVER_LOG_WARNING, SRC, "port %" PRIu32 ": cannot accept: %s; pausing %d ms",
                            p->host_port, strerror (errno), HING_ACCEPT_PAUSE_MS);
              ev_del_file (l, fd, EV_READABLE);
              if (p->pause_timer == 0)
                p->pause_timer = ev_add_timer (l, HING_ACCEPT_PAUSE_MS, on_pause_end, p);
            }
          return;
        }
      if (s->active >= HING_MAX_CONNS)
        {
          if (s->refused++ == 0)
            enclaver_log (ENCLAVER_LOG_WARNING, SRC,
                          "port %" PRIu32 ": refusing connections: %zu are open (the limit); a line follows "
                          "when there is room again", p->host_port, s->active);
          close (cfd);
          continue;
        }
      c = calloc (1, sizeof *c);
      if (c == NULL)
        abort ();
      c->s = s, c->p = p, c->cfd = cfd, c->efd = -1;
      c->next = s->conns;
      if (s->conns)
        s->conns->prev = c;
      s->conns = c;
      s->active++;
      c->deadline = ev_now_ms () + HING_CONNECT_MS;
      c->delay = HING_RETRY_FIRST_MS;
      conn_dial (c);
    }
}

static void hing_destroy (void *state);

static int
hing_prepare (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err)
{
  const struct host_run_config *c = ctx->c;
  struct hing *s;
  struct rlimit rl;
  size_t i;
  *state = NULL;
  if (c->n_ingress == 0)
    return 0;
  /* Every connection costs two descriptors (and the relay's pipes when it splices). */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      (void) setrlimit (RLIMIT_NOFILE, &rl);
    }
  s = calloc (1, sizeof *s);
  if (s == NULL || (s->ports = calloc (c->n_ingress, sizeof *s->ports)) == NULL)
    abort ();
  s->ctx = ctx;
  for (i = 0; i < c->n_ingress; i++)
    {
      struct hing_port *p = &s->ports[i];
      char spec[128], e[512];
      p->s = s;
      p->port = c->ingress[i].listen_port;
      p->host_port = c->ingress[i].host_port ? c->ingress[i].host_port : p->port;
      snprintf (p->bind, sizeof p->bind, "%s", c->ingress[i].bind_addr[0] ? c->ingress[i].bind_addr : "0.0.0.0");
      p->lfd = -1;
      s->n++;
      snprintf (spec, sizeof spec, "tcp:%s:%" PRIu32, p->bind, p->host_port);
      p->lfd = host_sock_listen (spec, e, sizeof e);
      if (p->lfd < 0)
        {
          int en = errno ? errno : EINVAL;
          hing_destroy (s);
          return enclaver_make_error (err, en, "ingress listener for port %" PRIu32 ": cannot listen on %s:%" PRIu32 ": %s%s",
                                      c->ingress[i].listen_port, c->ingress[i].bind_addr[0] ? c->ingress[i].bind_addr : "0.0.0.0",
                                      c->ingress[i].host_port ? c->ingress[i].host_port : c->ingress[i].listen_port, e,
                                      en == EADDRINUSE ? " (publish it on another host port: --publish HOSTPORT:PORT)" : "");
        }
      (void) listen (p->lfd, HING_BACKLOG);
      enclaver_log (ENCLAVER_LOG_INFO, SRC, "port %" PRIu32 " of the enclave published on %s:%" PRIu32, p->port,
                    p->bind, p->host_port);
    }
  /* Served from now on; the loop runs once the enclave started. */
  for (i = 0; i < s->n; i++)
    if (ev_add_file (ctx->loop, s->ports[i].lfd, EV_READABLE, on_accept, &s->ports[i]) < 0)
      {
        hing_destroy (s);
        return enclaver_make_errno (err, errno, "ingress: epoll");
      }
  *state = s;
  return 0;
}

static void
hing_stop_accepting (void *state)
{
  struct hing *s = state;
  size_t i;
  for (i = 0; i < s->n; i++)
    if (s->ports[i].lfd >= 0)
      {
        if (s->ports[i].pause_timer)
          ev_del_timer (s->ctx->loop, s->ports[i].pause_timer);
        s->ports[i].pause_timer = 0;
        ev_del_file (s->ctx->loop, s->ports[i].lfd, EV_READABLE);
        close (s->ports[i].lfd);
        s->ports[i].lfd = -1;
      }
}

static size_t
hing_active (void *state)
{
  return ((struct hing *) state)->active;
}

static void
hing_destroy (void *state)
{
  struct hing *s = state;
  if (s == NULL)
    return;
  hing_stop_accepting (s);
  s->refused = 0; /* no "accepting again" line while closing */
  while (s->conns)
    conn_free (s->conns);
  free (s->ports);
  free (s);
}

const struct host_service host_ingress_service = {
  .name = "ingress",
  .prepare = hing_prepare,
  .stop_accepting = hing_stop_accepting,
  .active = hing_active,
  .destroy = hing_destroy,
};
