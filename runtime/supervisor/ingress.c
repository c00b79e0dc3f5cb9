/* enclaver-supervisor: the enclave half of ingress (docs/network.md, "Ingress").
 *
 * For each ingress[].listen_port P of the manifest: listen on vsock P, and splice each
 * accepted connection to the app at 127.0.0.1:P (runtime/net/relay.h).  Everything runs
 * on the network thread's loop; a connection is a small struct, no thread of its own.
 *
 * supervisor.json "ingress" (all optional):
 *   "max_connections": N      connections in flight at once (default 1024); one more is
 *                             accepted, logged and closed at once
 *   "idle_timeout": S         seconds without a byte either way (default 600; 0: none)
 *   "connect_timeout": S      seconds to reach the app (default 10)
 *   "handshake_timeout": S    TLS ports: seconds for the client's handshake (default 10)
 *
 * ingress[].tls: the port terminates TLS with the manifest's cert_file and key_file,
 * read inside the image (the supervisor's --rootfs; relative names from its root).
 * Enclaver ignores those names and reads /etc/enclaver/tls/server/<P>/{cert,key}.pem:
 * when the named files are both absent, that place is used (images built for
 * Enclaver keep working).  A missing, unreadable or mismatched key or certificate is
 * fatal at start, before the app runs.
 * Test-only keys (the tests run the supervisor without vsock): "listen": {"P": ADDR}
 * and "target": {"P": ADDR} replace vsock:any:P and tcp:127.0.0.1:P. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "net.h"
#include "net/relay.h"
#include "net/tlspump.h"
#include "rtutil.h"
#include "transport.h"

#define ING_MAX_CONNS_DEFAULT 1024
#define ING_IDLE_DEFAULT_S 600
#define ING_CONNECT_DEFAULT_S 10
#define ING_HANDSHAKE_DEFAULT_S 10
#define ING_BACKLOG 512
#define ING_ACCEPT_PAUSE_MS 100 /* out of descriptors: stop accepting that long */

struct ing;

struct ing_port
{
  struct ing *s;
  uint32_t port;
  char listen[256], target[256];
  SSL_CTX *tls; /* NULL: plain */
  int lfd;
  long long pause_timer;
};

struct ing_conn
{
  struct ing *s;
  struct ing_port *p;
  int cfd, tfd;
  long long timer;
  struct relay *relay;
  struct tls_pump *pump;
  struct ing_conn *prev, *next;
};

struct ing
{
  struct sv_net *net;
  struct ev_loop *loop;
  struct ing_port *ports;
  size_t n;
  size_t active, max_conns;
  long long idle_ms, connect_ms, handshake_ms;
  struct ing_conn *conns;
};

static void
conn_unlink (struct ing_conn *c)
{
  struct ing *s = c->s;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->active--;
}

static void
conn_free (struct ing_conn *c)
{
  conn_unlink (c);
  if (c->timer)
    ev_del_timer (c->s->loop, c->timer);
  if (c->relay)
    relay_abort (c->relay);
  else if (c->pump)
    tls_pump_abort (c->pump);
  else
    {
      if (c->tfd >= 0)
        {
          ev_del_file (c->s->loop, c->tfd, EV_READABLE | EV_WRITABLE);
          close (c->tfd);
        }
      if (c->cfd >= 0)
        close (c->cfd);
    }
  free (c);
}

static void
relay_done (void *data, const struct relay_result *res)
{
  struct ing_conn *c = data;
  c->relay = NULL; /* the relay closed both descriptors */
  c->cfd = c->tfd = -1;
  if (res->err == ETIMEDOUT)
    sv_net_log (c->s->net, "ingress port %" PRIu32 ": connection closed after %lld s without traffic",
                c->p->port, c->s->idle_ms / 1000);
  else if (res->err && res->err != ECONNRESET && res->err != EPIPE)
    sv_net_log (c->s->net, "ingress port %" PRIu32 ": connection failed on the %s side: %s", c->p->port,
                res->err_side == 'a' ? "client" : "app", strerror (res->err));
  conn_free (c);
}

static void
pump_done (void *data, const struct tls_pump_result *res)
{
  struct ing_conn *c = data;
  c->pump = NULL; /* the pump closed both descriptors */
  c->cfd = c->tfd = -1;
  if (res->err && res->err != ECONNRESET && res->err != EPIPE)
    sv_net_log (c->s->net, "ingress port %" PRIu32 ": TLS connection ended on the %s side: %s", c->p->port,
                res->err_side == 'a' ? "app" : "client", res->why[0] ? res->why : strerror (res->err));
  else if (!res->handshake_done)
    sv_net_log (c->s->net, "ingress port %" PRIu32 ": %s", c->p->port,
                res->why[0] ? res->why : "the client left before the TLS handshake ended");
  conn_free (c);
}

static void
conn_connected (struct ing_conn *c)
{
  struct relay_opts o = { c->s->idle_ms, 0 };
  int cfd = c->cfd, tfd = c->tfd;
  if (c->timer)
    ev_del_timer (c->s->loop, c->timer);
  c->timer = 0;
  ev_del_file (c->s->loop, tfd, EV_READABLE | EV_WRITABLE);
  c->cfd = c->tfd = -1;
  if (c->p->tls)
    {
      c->pump = tls_pump_start (c->s->loop, c->p->tls, cfd, tfd, c->s->handshake_ms, c->s->idle_ms, pump_done, c);
      if (c->pump == NULL)
        {
          sv_net_log (c->s->net, "ingress port %" PRIu32 ": cannot start TLS: %s", c->p->port, strerror (errno));
          conn_free (c);
        }
      return;
    }
  c->relay = relay_start (c->s->loop, cfd, tfd, NULL, 0, NULL, 0, &o, relay_done, c);
  if (c->relay == NULL)
    {
      sv_net_log (c->s->net, "ingress port %" PRIu32 ": cannot relay: %s", c->p->port, strerror (errno));
      conn_free (c);
    }
}

static void
conn_fail (struct ing_conn *c, int e)
{
  sv_net_log (c->s->net, "ingress port %" PRIu32 ": cannot reach the app at %s: %s (does it listen there?)",
              c->p->port, c->p->target, strerror (e));
  conn_free (c);
}

static void
on_connect (struct ev_loop *l, int fd, void *data, int mask)
{
  struct ing_conn *c = data;
  int e = 0;
  socklen_t len = sizeof e;
  (void) l, (void) mask;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    e = errno;
  if (e)
    conn_fail (c, e);
  else
    conn_connected (c);
}

static long long
on_connect_timeout (struct ev_loop *l, long long id, void *data)
{
  struct ing_conn *c = data;
  (void) l, (void) id;
  c->timer = 0;
  conn_fail (c, ETIMEDOUT);
  return EV_TIMER_DONE;
}

static void on_accept (struct ev_loop *l, int fd, void *data, int mask);

static long long
on_pause_end (struct ev_loop *l, long long id, void *data)
{
  struct ing_port *p = data;
  (void) id;
  p->pause_timer = 0;
  if (p->lfd >= 0 && ev_add_file (l, p->lfd, EV_READABLE, on_accept, p) < 0)
    sv_net_log (p->s->net, "ingress port %" PRIu32 ": epoll: %s", p->port, strerror (errno));
  return EV_TIMER_DONE;
}

static void
on_accept (struct ev_loop *l, int fd, void *data, int mask)
{
  struct ing_port *p = data;
  struct ing *s = p->s;
  char le[256];
  int i;
  (void) mask;
  for (i = 0; i < 64 && p->lfd >= 0; i++)
    {
      struct ing_conn *c;
      int cfd = enclaver_transport_accept (fd, 1), r;
      if (cfd < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            {
              /* The listener stays readable: pause it rather than spin. */
              sv_net_log (s->net, "ingress port %" PRIu32 ": cannot accept: %s; pausing %d ms", p->port,
                          strerror (errno), ING_ACCEPT_PAUSE_MS);
              ev_del_file (l, fd, EV_READABLE);
              p->pause_timer = ev_add_timer (l, ING_ACCEPT_PAUSE_MS, on_pause_end, p);
            }
          return;
        }
      if (s->active >= s->max_conns)
        {
          sv_net_log (s->net, "ingress port %" PRIu32 ": connection refused: %zu connections open (the limit)",
                      p->port, s->active);
          close (cfd);
          continue;
        }
      c = xcalloc (1, sizeof *c);
      c->s = s, c->p = p, c->cfd = cfd, c->tfd = -1;
      c->next = s->conns;
      if (s->conns)
        s->conns->prev = c;
      s->conns = c;
      s->active++;
      c->tfd = enclaver_transport_connect_nb (p->target, &r, le, sizeof le);
      if (c->tfd < 0)
        conn_fail (c, errno);
      else if (r == 2) /* a full Unix backlog: as refused */
        {
          close (c->tfd);
          c->tfd = -1;
          conn_fail (c, ECONNREFUSED);
        }
      else if (r == 0)
        conn_connected (c);
      else if (ev_add_file (l, c->tfd, EV_WRITABLE, on_connect, c) < 0)
        conn_fail (c, errno);
      else
        c->timer = ev_add_timer (l, s->connect_ms, on_connect_timeout, c);
    }
}

static void ing_destroy (void *state);

static int
get_seconds (const json_t *cfg, const char *key, long long def, long long *out, char *err, size_t errlen)
{
  const json_t *v = json_object_get (cfg, key);
  if (v == NULL)
    {
      *out = def * 1000;
      return 0;
    }
  if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > 86400 * 7)
    return rt_err (err, errlen, "supervisor.json: ingress.%s must be a number of seconds from 0 to 604800",
                   key);
  *out = (long long) json_integer_value (v) * 1000;
  return 0;
}

static const char *
port_override (const json_t *cfg, const char *key, uint32_t port)
{
  char k[16];
  const json_t *v;
  snprintf (k, sizeof k, "%" PRIu32, port);
  v = json_object_get (json_object_get (cfg, key), k);
  return json_is_string (v) ? json_string_value (v) : NULL;
}

/* path inside the image: under rootfs ("/" or a test's directory). */
static char *
image_path (const char *rootfs, const char *path)
{
  int root = rootfs == NULL || strcmp (rootfs, "/") == 0;
  while (*path == '/')
    path++;
  return xasprintf ("%s/%s", root ? "" : rootfs, path);
}

static int
file_exists (const char *path)
{
  return access (path, F_OK) == 0;
}

static int
load_tls (const struct sv_net_ctx *ctx, struct ing_port *p, const json_t *tls, size_t i, char *err, size_t errlen)
{
  const char *kf = json_string_value (json_object_get (tls, "key_file"));
  const char *cf = json_string_value (json_object_get (tls, "cert_file"));
  char *key = NULL, *cert = NULL, e[400];
  const char *from = "";
  int rc = 0;
  if (kf && cf)
    {
      key = image_path (ctx->rootfs, kf);
      cert = image_path (ctx->rootfs, cf);
    }
  if (key == NULL || (!file_exists (key) && !file_exists (cert)))
    {
      /* Enclaver's fixed place (it ignores the manifest's names) */
      char k[80], c[80];
      snprintf (k, sizeof k, "etc/enclaver/tls/server/%" PRIu32 "/key.pem", p->port);
      snprintf (c, sizeof c, "etc/enclaver/tls/server/%" PRIu32 "/cert.pem", p->port);
      free (key);
      free (cert);
      key = image_path (ctx->rootfs, k);
      cert = image_path (ctx->rootfs, c);
      from = kf ? " (the manifest's key_file and cert_file are absent, so Enclaver's place was tried)" : "";
    }
  p->tls = tls_server_ctx_load (cert, key, e, sizeof e);
  if (p->tls == NULL)
    rc = rt_err (err, errlen, "ingress[%zu] (port %" PRIu32 "): TLS: %s%s; put the PEM files in the image where "
                 "ingress[%zu].tls names them", i, p->port, e, from, i);
  else
    sv_net_log (ctx->net, "ingress port %" PRIu32 ": TLS with the certificate %s", p->port, cert);
  free (key);
  free (cert);
  return rc;
}

static int
ing_start (const struct sv_net_ctx *ctx, void **state, char *err, size_t errlen)
{
  const json_t *list = ctx->manifest ? json_object_get (ctx->manifest, "ingress") : NULL;
  const json_t *cfg = json_object_get (ctx->config, "ingress"), *v;
  static const char *const keys[] = { "max_connections", "idle_timeout", "connect_timeout", "listen",
                                      "target", "handshake_timeout" };
  const char *key;
  struct ing *s;
  size_t i, k;

  *state = NULL;
  if (!json_is_array (list) || json_array_size (list) == 0)
    return 0;
  json_object_foreach ((json_t *) cfg, key, v)
    {
      int known = 0;
      for (k = 0; k < RT_ARRAY_SIZE (keys); k++)
        known |= strcmp (key, keys[k]) == 0;
      if (!known)
        return rt_err (err, errlen, "supervisor.json: unknown key ingress.%s", key);
    }
  s = xcalloc (1, sizeof *s);
  s->net = ctx->net;
  s->loop = ctx->loop;
  s->max_conns = ING_MAX_CONNS_DEFAULT;
  v = json_object_get (cfg, "max_connections");
  if (v)
    {
      if (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > 1000000)
        {
          free (s);
          return rt_err (err, errlen, "supervisor.json: ingress.max_connections must be from 1 to 1000000");
        }
      s->max_conns = (size_t) json_integer_value (v);
    }
  if (get_seconds (cfg, "idle_timeout", ING_IDLE_DEFAULT_S, &s->idle_ms, err, errlen) < 0
      || get_seconds (cfg, "connect_timeout", ING_CONNECT_DEFAULT_S, &s->connect_ms, err, errlen) < 0
      || get_seconds (cfg, "handshake_timeout", ING_HANDSHAKE_DEFAULT_S, &s->handshake_ms, err, errlen) < 0)
    {
      free (s);
      return -1;
    }
  if (s->connect_ms == 0)
    s->connect_ms = ING_CONNECT_DEFAULT_S * 1000;
  s->ports = xcalloc (json_array_size (list), sizeof *s->ports);
  for (i = 0; i < json_array_size (list); i++)
    {
      const json_t *e = json_array_get (list, i), *lp = json_object_get (e, "listen_port");
      struct ing_port *p = &s->ports[s->n];
      const char *o;
      char le[512];
      if (!json_is_integer (lp) || json_integer_value (lp) < 1 || json_integer_value (lp) > 65535)
        {
          ing_destroy (s);
          return rt_err (err, errlen, "manifest: ingress[%zu].listen_port is not a port from 1 to 65535", i);
        }
      p->s = s;
      p->port = (uint32_t) json_integer_value (lp);
      p->lfd = -1;
      if (json_is_object (json_object_get (e, "tls")) && load_tls (ctx, p, json_object_get (e, "tls"), i, le, sizeof le) < 0)
        {
          ing_destroy (s);
          return rt_err (err, errlen, "%s", le);
        }
      o = port_override (cfg, "listen", p->port);
      if (o)
        snprintf (p->listen, sizeof p->listen, "%s", o);
      else if (enclaver_transport_emulation () == ENCLAVER_EMULATION_TCP)
        /* QEMU's hostfwd reaches the guest's own address; listening on 0.0.0.0:P would
         * take the port the app binds on 127.0.0.1. */
        snprintf (p->listen, sizeof p->listen, "tcp:" ENCLAVER_EMU_GUEST_IP ":%" PRIu32, p->port);
      else
        snprintf (p->listen, sizeof p->listen, "vsock:any:%" PRIu32, p->port);
      o = port_override (cfg, "target", p->port);
      if (o)
        snprintf (p->target, sizeof p->target, "%s", o);
      else
        snprintf (p->target, sizeof p->target, "tcp:127.0.0.1:%" PRIu32, p->port);
      s->n++;
      p->lfd = enclaver_transport_listen (p->listen, le, sizeof le);
      if (p->lfd < 0)
        {
          ing_destroy (s);
          return rt_err (err, errlen, "ingress port %" PRIu32 ": cannot listen on %s: %s", p->port, p->listen,
                         le);
        }
      (void) listen (p->lfd, ING_BACKLOG); /* the transport's backlog is for streams */
      fcntl (p->lfd, F_SETFL, fcntl (p->lfd, F_GETFL) | O_NONBLOCK);
      if (ev_add_file (s->loop, p->lfd, EV_READABLE, on_accept, p) < 0)
        {
          ing_destroy (s);
          return rt_err (err, errlen, "ingress port %" PRIu32 ": epoll: %s", p->port, strerror (errno));
        }
    }
  *state = s;
  return 0;
}

static void
ing_stop_accepting (void *state)
{
  struct ing *s = state;
  size_t i;
  for (i = 0; i < s->n; i++)
    {
      struct ing_port *p = &s->ports[i];
      if (p->pause_timer)
        ev_del_timer (s->loop, p->pause_timer);
      p->pause_timer = 0;
      if (p->lfd >= 0)
        {
          ev_del_file (s->loop, p->lfd, EV_READABLE);
          close (p->lfd);
          p->lfd = -1;
        }
    }
}

static size_t
ing_active (void *state)
{
  return ((struct ing *) state)->active;
}

static void
ing_destroy (void *state)
{
  struct ing *s = state;
  size_t i;
  if (s == NULL)
    return;
  ing_stop_accepting (s);
  while (s->conns)
    conn_free (s->conns);
  for (i = 0; i < s->n; i++)
    SSL_CTX_free (s->ports[i].tls);
  free (s->ports);
  free (s);
}

const struct sv_service sv_ingress_service = {
  .name = "ingress",
  .start = ing_start,
  .stop_accepting = ing_stop_accepting,
  .active = ing_active,
  .destroy = ing_destroy,
};
