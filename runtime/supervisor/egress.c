/* enclaver-supervisor: the egress proxy (ENCLAVER.md §3, §9, §10; docs/network.md).
 *
 * An HTTP/1.1 proxy on 127.0.0.1:egress.proxy_port, run on the network thread's loop.
 * Every request names a host; the manifest's allow/deny policy (common/netpolicy.h)
 * decides, and an allowed host is dialled through the host half of the egress port
 * (17002, framing in runtime/net/egressproto.h), which resolves the name and connects.
 *
 *   CONNECT host:port      the reply "200 Connection established", then the bytes are
 *                          relayed raw (runtime/net/relay.h): TLS stays end to end;
 *   METHOD http://h[:p]/x  absolute form: rewritten to origin form (OPTIONS with an empty
 *                          path becomes "OPTIONS *"), Host set from the URL, the other
 *                          fields passed on as written (case kept) but the proxy's own
 *                          hop-by-hop fields; the request and response bodies are followed
 *                          by their framing (length, chunked, until close), so a keep-alive
 *                          client can send the next request on the same connection, and
 *                          the upstream connection is reused when it goes to the same
 *                          host and port.
 *
 * Denied: 401 naming the host and the rule; dial failure: 503 with the host's error;
 * malformed: 400 (431, 501, 505 from the parser); slow head: 408; one log line per
 * decision.  Bounds: a head of at most EG_HEAD_MAX bytes, two buffers of EG_BUF bytes per
 * connection (a tunnel hands its descriptors to the relay, which holds at most 64 KiB),
 * a connection limit, and timeouts for the head, the dial and idle connections. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "common/netpolicy.h"
#include "common/xalloc.h"
#include "evloop.h"
#include "net.h"
#include "net/egressproto.h"
#include "net/http.h"
#include "net/relay.h"
#include "rtutil.h"
#include "transport.h"

#define EG_BUF 16384
#define EG_HEAD_MAX 16384
#define EG_DEFAULT_PORT 10000
#define EG_DEFAULT_HOST_PORT 17002
#define EG_DEFAULT_MAX_CONN 1024
#define EG_DEFAULT_HEADER_MS 10000
#define EG_DEFAULT_KEEPALIVE_MS 60000
#define EG_DEFAULT_DIAL_MS 15000
#define EG_DEFAULT_IDLE_MS 600000

enum eg_state
{
  ST_HEAD,    /* reading a request head */
  ST_DIAL,    /* connecting to the host half */
  ST_REPLY,   /* waiting for its reply frame */
  ST_FORWARD, /* plain HTTP: request body out, response back */
  ST_FLUSH,   /* writing a final answer, then closing */
};

struct eg_svc;

struct eg_conn
{
  struct eg_svc *s;
  struct eg_conn *prev, *next;
  int cfd, ufd;
  enum eg_state st;
  long long timer, deadline;
  int cwatch, uwatch; /* the masks registered for cfd / ufd */

  /* The request being served. */
  int is_connect, keep_alive, head_seen;
  char method[24];
  char host[EGRESS_HOST_MAX + 1];
  unsigned port;
  char *fwd_head;          /* plain HTTP: the rewritten head, sent once the dial is done */
  size_t fwd_head_len, fwd_head_off;
  struct http_body reqb;
  size_t in_body;          /* bytes at the start of in[] that are request body to send */
  int req_done;
  struct http_body respb;
  int resp_head_done, resp_done, resp_close;
  size_t up_body;          /* bytes at the start of up[] to send to the client */
  int upstream_eof;

  /* The upstream (host half) connection and what it goes to, for reuse. */
  char uhost[EGRESS_HOST_MAX + 1];
  unsigned uport;
  char frame_out[2 + EGRESS_FRAME_MAX];
  size_t frame_len, frame_off;
  struct egress_frame frame_in;

  /* Answers the proxy writes itself (errors, "200 Connection established"). */
  char *out;
  size_t out_len, out_off;

  size_t in_len, up_len;
  char in[EG_BUF];  /* from the client */
  char up[EG_BUF];  /* from the upstream */
};

struct eg_tunnel
{
  struct eg_svc *s;
  struct eg_tunnel *prev, *next;
  struct relay *r;
  char what[EGRESS_HOST_MAX + 16];
};

struct eg_svc
{
  struct sv_net *net;
  struct ev_loop *loop;
  struct netpolicy *pol;
  int lfd;
  unsigned port;
  char listen_addr[128];
  char host_addr[128];
  size_t nconn, ntun, max_conn;
  long long header_ms, keepalive_ms, dial_ms, idle_ms;
  int stopping;
  long long accept_pause; /* timer while accept is paused (EMFILE) */
  struct eg_conn *conns;
  struct eg_tunnel *tunnels;
};

static void conn_free (struct eg_conn *c);
static void conn_update (struct eg_conn *c);
static void on_client (struct ev_loop *l, int fd, void *data, int mask);
static void on_upstream (struct ev_loop *l, int fd, void *data, int mask);
static void start_head (struct eg_conn *c);
static void parse_head (struct eg_conn *c);
static relay_done_fn tunnel_done;

/* ---- small helpers ---- */

static long long
cfg_ms (const json_t *o, const char *key, long long dflt)
{
  const json_t *v = json_object_get (o, key);
  if (json_is_integer (v) && json_integer_value (v) > 0)
    return (long long) json_integer_value (v);
  return dflt;
}

static void
watch (struct ev_loop *l, int fd, int *cur, int want, ev_file_fn *fn, void *data)
{
  if (fd < 0 || *cur == want)
    return;
  if (*cur & ~want)
    ev_del_file (l, fd, *cur & ~want);
  if (want & ~*cur)
    if (ev_add_file (l, fd, want & ~*cur, fn, data) < 0)
      return;
  *cur = want;
}

static void
close_upstream (struct eg_conn *c)
{
  if (c->ufd >= 0)
    {
      ev_del_file (c->s->loop, c->ufd, EV_READABLE | EV_WRITABLE);
      close (c->ufd);
    }
  c->ufd = -1;
  c->uwatch = 0;
  c->uhost[0] = '\0';
  c->uport = 0;
  c->up_len = c->up_body = 0;
  c->upstream_eof = 0;
}

static void
set_deadline (struct eg_conn *c, long long ms)
{
  c->deadline = ev_now_ms () + ms;
}

/* Queue an answer of the proxy's own and close once it is written. */
static void
answer (struct eg_conn *c, int status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static void
answer (struct eg_conn *c, int status, const char *fmt, ...)
{
  char body[1024];
  va_list ap;
  int n;
  va_start (ap, fmt);
  n = vsnprintf (body, sizeof body - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    n = 0;
  if ((size_t) n > sizeof body - 2)
    n = (int) sizeof body - 2;
  body[n++] = '\n';
  free (c->out);
  c->out = xmalloc (sizeof body + 512);
  n = http_format_response (c->out, sizeof body + 512, status, "text/plain; charset=utf-8", NULL, body,
                            (size_t) n, 1);
  c->out_len = n > 0 ? (size_t) n : 0;
  c->out_off = 0;
  close_upstream (c);
  c->st = ST_FLUSH;
  set_deadline (c, c->s->header_ms);
  conn_update (c);
}

static void
log_verdict (struct eg_conn *c, const struct netpolicy_verdict *v)
{
  struct eg_svc *s = c->s;
  const char *what = c->is_connect ? "CONNECT" : c->method;
  if (v->list == 'a')
    sv_net_log (s->net, "egress: %s %s:%u allowed by egress.allow[%zu] \"%s\"", what, c->host, c->port,
                v->index, v->rule);
  else if (v->list == 'd')
    sv_net_log (s->net, "egress: %s %s:%u denied by egress.deny[%zu] \"%s\"", what, c->host, c->port, v->index,
                v->rule);
  else
    sv_net_log (s->net, "egress: %s %s:%u denied: no egress.allow pattern matches", what, c->host, c->port);
}

/* ---- dialling through the host half ---- */

static void
dial (struct eg_conn *c)
{
  struct eg_svc *s = c->s;
  char err[256];
  int inprog, n;

  n = egress_encode_request (c->frame_out, sizeof c->frame_out, c->host, c->port);
  if (n < 0)
    {
      answer (c, 400, "egress: cannot encode a connect request for %s:%u", c->host, c->port);
      return;
    }
  c->frame_len = (size_t) n;
  c->frame_off = 0;
  memset (&c->frame_in, 0, sizeof c->frame_in);
  c->ufd = enclaver_transport_connect_nb (s->host_addr, &inprog, err, sizeof err);
  if (c->ufd >= 0)
    net_set_nodelay (c->ufd); /* a TCP transport (emulation) */
  if (c->ufd < 0 || inprog == 2)
    {
      if (c->ufd >= 0)
        close (c->ufd), c->ufd = -1;
      sv_net_log (s->net, "egress: %s:%u: the host's egress port is not reachable (%s)", c->host, c->port,
                  inprog == 2 ? "its backlog is full" : err);
      answer (c, 503, "egress: cannot reach the host's egress proxy at %s to connect to %s:%u: %s", s->host_addr,
              c->host, c->port, inprog == 2 ? "busy" : err);
      return;
    }
  c->st = ST_DIAL;
  set_deadline (c, s->dial_ms);
  conn_update (c);
}

static void
dial_failed (struct eg_conn *c, const char *detail)
{
  sv_net_log (c->s->net, "egress: %s %s:%u failed: %s", c->is_connect ? "CONNECT" : c->method, c->host, c->port,
              detail);
  answer (c, 503, "egress: cannot connect to %s:%u: %s", c->host, c->port, detail);
}

/* The reply frame arrived. */
static void
dial_done (struct eg_conn *c)
{
  struct eg_svc *s = c->s;
  const char *body;
  size_t len;
  int ok, code;
  char msg[1100], err[256];

  body = egress_frame_body (&c->frame_in, &len);
  if (egress_decode_reply (body, len, &ok, &code, msg, sizeof msg, err, sizeof err) < 0)
    {
      char d[300];
      snprintf (d, sizeof d, "the host's egress proxy answered garbage (%s)", err);
      dial_failed (c, d);
      return;
    }
  if (!ok)
    {
      char d[1200];
      snprintf (d, sizeof d, "%s (os_code %d)", msg, code);
      dial_failed (c, d);
      return;
    }
  if (c->is_connect)
    {
      static const char est[] = "HTTP/1.1 200 Connection established\r\n\r\n";
      struct eg_tunnel *t = xcalloc (1, sizeof *t);
      struct relay_opts o = { .idle_ms = s->idle_ms };
      int cfd = c->cfd, ufd = c->ufd;
      size_t pre = c->in_len;
      char prebuf[EG_BUF];

      memcpy (prebuf, c->in, pre);
      snprintf (t->what, sizeof t->what, "%s:%u", c->host, c->port);
      t->s = s;
      ev_del_file (s->loop, cfd, EV_READABLE | EV_WRITABLE);
      ev_del_file (s->loop, ufd, EV_READABLE | EV_WRITABLE);
      c->cfd = c->ufd = -1;
      conn_free (c);
      /* The relay owns both descriptors from here on, also when it fails. */
      t->r = relay_start (s->loop, cfd, ufd, prebuf, pre, est, sizeof est - 1, &o, tunnel_done, t);
      if (t->r == NULL)
        {
          sv_net_log (s->net, "egress: tunnel to %s: %s", t->what, strerror (errno));
          free (t);
          return;
        }
      t->next = s->tunnels;
      if (s->tunnels)
        s->tunnels->prev = t;
      s->tunnels = t;
      s->ntun++;
      return;
    }
  /* Plain HTTP: the rewritten head goes out first. */
  snprintf (c->uhost, sizeof c->uhost, "%s", c->host);
  c->uport = c->port;
  c->st = ST_FORWARD;
  set_deadline (c, s->idle_ms);
  conn_update (c);
}

static void
tunnel_done (void *data, const struct relay_result *res)
{
  struct eg_tunnel *t = data;
  struct eg_svc *s = t->s;
  if (res->err == ETIMEDOUT)
    sv_net_log (s->net, "egress: tunnel to %s closed after %lld s without traffic", t->what, s->idle_ms / 1000);
  else if (res->err != 0 && res->err != ECONNRESET && res->err != EPIPE)
    sv_net_log (s->net, "egress: tunnel to %s: %s", t->what, strerror (res->err));
  if (t->prev)
    t->prev->next = t->next;
  else
    s->tunnels = t->next;
  if (t->next)
    t->next->prev = t->prev;
  s->ntun--;
  free (t);
}

/* ---- plain HTTP: the request head rewritten for the origin ---- */

/* Build the head for the origin: "METHOD origin HTTP/1.x", Host set to authority. */
static void
rewrite_head (struct eg_conn *c, const struct http_head *h, const char *origin, size_t olen, const char *authority,
              size_t alen)
{
  size_t cap = http_forward_head_size (h, olen, alen);
  free (c->fwd_head);
  c->fwd_head = xmalloc (cap);
  c->fwd_head_len = http_format_forward_head (c->fwd_head, cap, h, origin, olen, authority, alen);
  c->fwd_head_off = 0;
}

/* A complete request head is at the start of in[]. */
static void
handle_request (struct eg_conn *c, const struct http_head *h)
{
  struct eg_svc *s = c->s;
  struct netpolicy_verdict v;
  const char *why = NULL;

  snprintf (c->method, sizeof c->method, "%.*s", (int) (h->method.len < 20 ? h->method.len : 20), h->method.p);
  c->keep_alive = h->keep_alive;
  c->is_connect = http_str_ieq (h->method, "CONNECT");
  if (c->is_connect)
    {
      if (http_split_authority (h->target.p, h->target.len, 0, c->host, sizeof c->host, &c->port, &why) < 0)
        {
          sv_net_log (s->net, "egress: bad CONNECT target \"%.*s\": %s", (int) (h->target.len > 200 ? 200 : h->target.len),
                      h->target.p, why);
          answer (c, 400, "egress: bad CONNECT target: %s (expected host:port)", why);
          return;
        }
      memmove (c->in, c->in + h->head_len, c->in_len - h->head_len);
      c->in_len -= h->head_len;
    }
  else
    {
      const char *t = h->target.p, *auth, *pathp;
      size_t tl = h->target.len, al, pl;
      static const char origin_star[] = "*";
      if (tl < 7 || strncasecmp (t, "http://", 7) != 0)
        {
          const char *msg = tl >= 8 && strncasecmp (t, "https://", 8) == 0
                                ? "https URLs go through CONNECT (set https_proxy)"
                                : "a proxy request needs an absolute http:// URL";
          sv_net_log (s->net, "egress: %s \"%.*s\" refused: %s", c->method, (int) (tl > 200 ? 200 : tl), t, msg);
          answer (c, 400, "egress: %s", msg);
          return;
        }
      auth = t + 7;
      pathp = auth;
      while (pathp < t + tl && *pathp != '/' && *pathp != '?')
        pathp++;
      al = (size_t) (pathp - auth);
      pl = (size_t) (t + tl - pathp);
      if (http_split_authority (auth, al, 80, c->host, sizeof c->host, &c->port, &why) < 0)
        {
          sv_net_log (s->net, "egress: bad URL \"%.*s\": %s", (int) (tl > 200 ? 200 : tl), t, why);
          answer (c, 400, "egress: bad URL: %s", why);
          return;
        }
      if (!http_forward_fits (h))
        {
          sv_net_log (s->net, "egress: %s %s:%u refused: %zu header fields and no Host (at most %d with Host)",
                      c->method, c->host, c->port, h->nheaders, HTTP_MAX_HEADERS);
          answer (c, 431, "egress: too many header fields to add Host (at most %d)", HTTP_MAX_HEADERS);
          return;
        }
      if (http_str_ieq (h->method, "OPTIONS") && (pl == 0 || (pl == 1 && pathp[0] == '/')))
        rewrite_head (c, h, origin_star, 1, auth, al);
      else if (pl == 0)
        rewrite_head (c, h, "/", 1, auth, al);
      else if (pathp[0] == '?')
        {
          /* "http://h?q": the path is empty, the origin form is "/?q" */
          char *tmp = xmalloc (pl + 2);
          tmp[0] = '/';
          memcpy (tmp + 1, pathp, pl);
          rewrite_head (c, h, tmp, pl + 1, auth, al);
          free (tmp);
        }
      else
        rewrite_head (c, h, pathp, pl, auth, al);
      http_body_init_request (&c->reqb, h);
      c->req_done = 0;
      memmove (c->in, c->in + h->head_len, c->in_len - h->head_len);
      c->in_len -= h->head_len;
      c->in_body = 0;
      memset (&c->respb, 0, sizeof c->respb);
      c->resp_head_done = c->resp_done = c->resp_close = 0;
    }

  netpolicy_check (s->pol, c->host, &v);
  log_verdict (c, &v);
  if (!v.allowed)
    {
      if (v.list == 'd')
        answer (c, 401, "blocked by egress security policy: %s is denied by egress.deny[%zu] \"%s\"", c->host,
                v.index, v.rule);
      else
        answer (c, 401, "blocked by egress security policy: %s matches no egress.allow pattern", c->host);
      return;
    }
  if (!c->is_connect && c->ufd >= 0 && c->uport == c->port && strcasecmp (c->uhost, c->host) == 0
      && !c->upstream_eof)
    {
      /* keep-alive to the same origin: reuse the upstream connection */
      c->st = ST_FORWARD;
      set_deadline (c, s->idle_ms);
      conn_update (c);
      return;
    }
  close_upstream (c);
  dial (c);
}

static void
parse_head (struct eg_conn *c)
{
  struct http_head h;
  enum http_result r;
  if (c->in_len == 0)
    return;
  if (!c->head_seen)
    {
      c->head_seen = 1;
      set_deadline (c, c->s->header_ms);
    }
  r = http_parse_request (c->in, c->in_len, EG_HEAD_MAX, &h);
  if (r == HTTP_INCOMPLETE)
    {
      if (c->in_len >= sizeof c->in)
        {
          sv_net_log (c->s->net, "egress: request head over %d bytes refused", EG_HEAD_MAX);
          answer (c, 431, "egress: request head too large (limit %d bytes)", EG_HEAD_MAX);
        }
      return;
    }
  if (r == HTTP_BAD)
    {
      sv_net_log (c->s->net, "egress: malformed request refused (%d %s)", h.error_status,
                  h.error ? h.error : "bad request");
      answer (c, h.error_status ? h.error_status : 400, "egress: malformed request: %s",
              h.error ? h.error : "bad request");
      return;
    }
  handle_request (c, &h);
}

static void
start_head (struct eg_conn *c)
{
  c->st = ST_HEAD;
  c->head_seen = 0;
  c->is_connect = 0;
  free (c->fwd_head);
  c->fwd_head = NULL;
  c->fwd_head_len = c->fwd_head_off = 0;
  set_deadline (c, c->s->header_ms);
  conn_update (c);
  parse_head (c); /* a pipelined request may be there already */
}

/* ---- plain HTTP forwarding ---- */

/* Classify newly arrived bytes of the request body. */
static void
feed_request_body (struct eg_conn *c)
{
  if (c->req_done)
    return;
  if (!c->reqb.done && c->in_body < c->in_len)
    c->in_body += http_body_feed (&c->reqb, c->in + c->in_body, c->in_len - c->in_body);
  if (c->reqb.bad)
    {
      sv_net_log (c->s->net, "egress: %s %s:%u: invalid chunked request body", c->method, c->host, c->port);
      answer (c, 400, "egress: invalid chunked request body");
      return;
    }
  if (c->reqb.done)
    c->req_done = 1;
}

/* Parse response heads and classify body bytes in up[]. 0, or -1 when c was answered. */
static int
feed_response (struct eg_conn *c)
{
  for (;;)
    {
      if (!c->resp_head_done)
        {
          struct http_head h;
          enum http_result r = http_parse_response (c->up + c->up_body, c->up_len - c->up_body, EG_HEAD_MAX, &h);
          struct http_str m = { c->method, strlen (c->method) };
          if (r == HTTP_INCOMPLETE)
            {
              if (c->up_len >= sizeof c->up)
                {
                  sv_net_log (c->s->net, "egress: %s %s:%u: response head too large", c->method, c->host, c->port);
                  answer (c, 502, "egress: the response head of %s:%u is too large", c->host, c->port);
                  return -1;
                }
              if (c->upstream_eof)
                {
                  if (c->up_len == 0 && c->up_body == 0)
                    {
                      sv_net_log (c->s->net, "egress: %s %s:%u: connection closed without a response", c->method,
                                  c->host, c->port);
                      answer (c, 502, "egress: %s:%u closed the connection without a response", c->host, c->port);
                    }
                  else
                    answer (c, 502, "egress: %s:%u sent a truncated response", c->host, c->port);
                  return -1;
                }
              return 0;
            }
          if (r == HTTP_BAD)
            {
              sv_net_log (c->s->net, "egress: %s %s:%u: malformed response (%s)", c->method, c->host, c->port,
                          h.error ? h.error : "bad");
              answer (c, 502, "egress: %s:%u sent a malformed response", c->host, c->port);
              return -1;
            }
          c->up_body += h.head_len;
          if (h.status >= 100 && h.status < 200)
            continue; /* interim (100 Continue): passed on, the final head follows */
          c->resp_head_done = 1;
          http_body_init_response (&c->respb, &h, m);
          c->resp_close = !h.keep_alive || http_body_until_close (&c->respb);
          if (c->respb.done)
            {
              c->resp_done = 1;
              return 0;
            }
        }
      if (c->resp_done || c->up_body == c->up_len)
        return 0;
      c->up_body += http_body_feed (&c->respb, c->up + c->up_body, c->up_len - c->up_body);
      if (c->respb.bad)
        {
          sv_net_log (c->s->net, "egress: %s %s:%u: invalid chunked response body", c->method, c->host, c->port);
          answer (c, 502, "egress: %s:%u sent an invalid chunked body", c->host, c->port);
          return -1;
        }
      if (c->respb.done)
        c->resp_done = 1;
      return 0;
    }
}

/* The exchange is over once the request was sent and the response passed on: then the
 * connection closes or goes back to reading a head.  1 when that happened (c may be
 * gone; its watches are up to date), 0 when the exchange goes on. */
static int
maybe_next (struct eg_conn *c)
{
  if (c->st != ST_FORWARD || !c->resp_done || c->up_body != 0 || !c->req_done || c->in_body != 0
      || c->fwd_head_off < c->fwd_head_len)
    return 0;
  if (c->resp_close || c->up_len != 0)
    close_upstream (c);
  if (!c->keep_alive || c->resp_close)
    {
      shutdown (c->cfd, SHUT_WR);
      conn_free (c);
      return 1;
    }
  start_head (c);
  if (c->st == ST_HEAD && !c->head_seen)
    set_deadline (c, c->s->keepalive_ms); /* an idle keep-alive client */
  return 1;
}

/* ---- I/O ---- */

static int
flush_to (int fd, char *buf, size_t *len, size_t n)
{
  ssize_t w;
  if (n == 0)
    return 0;
  w = send (fd, buf, n, MSG_NOSIGNAL);
  if (w < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  memmove (buf, buf + w, *len - (size_t) w);
  *len -= (size_t) w;
  return (int) w;
}

static void
on_client (struct ev_loop *l, int fd, void *data, int mask)
{
  struct eg_conn *c = data;
  (void) l;
  (void) fd;
  if (mask & EV_WRITABLE)
    {
      if (c->st == ST_FLUSH)
        {
          ssize_t w = send (c->cfd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN && errno != EINTR)
            {
              conn_free (c);
              return;
            }
          if (w > 0)
            c->out_off += (size_t) w;
          if (c->out_off == c->out_len)
            {
              shutdown (c->cfd, SHUT_WR);
              conn_free (c);
              return;
            }
        }
      else if (c->st == ST_FORWARD && c->up_body > 0)
        {
          size_t before = c->up_body;
          int w = flush_to (c->cfd, c->up, &c->up_len, c->up_body);
          if (w < 0)
            {
              conn_free (c);
              return;
            }
          c->up_body = before - (size_t) w;
          if (w > 0)
            set_deadline (c, c->s->idle_ms);
        }
    }
  if ((mask & EV_READABLE) && c->st != ST_FLUSH)
    {
      ssize_t r = read (c->cfd, c->in + c->in_len, sizeof c->in - c->in_len);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        {
          conn_free (c); /* the client went away (mid-request or between requests) */
          return;
        }
      if (r > 0)
        {
          c->in_len += (size_t) r;
          if (c->st == ST_HEAD)
            {
              parse_head (c);
              return;
            }
          if (c->st == ST_FORWARD)
            {
              feed_request_body (c);
              if (c->st != ST_FORWARD)
                return;
              set_deadline (c, c->s->idle_ms);
            }
        }
    }
  if (c->st != ST_FORWARD || !maybe_next (c))
    conn_update (c);
}

static void
on_upstream (struct ev_loop *l, int fd, void *data, int mask)
{
  struct eg_conn *c = data;
  (void) l;
  (void) fd;
  if (c->st == ST_DIAL)
    {
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      ssize_t w;
      if (c->frame_off == 0)
        {
          if (getsockopt (c->ufd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
          if (soerr != 0)
            {
              char d[300];
              snprintf (d, sizeof d, "the host's egress proxy at %s: %s", c->s->host_addr, strerror (soerr));
              dial_failed (c, d);
              return;
            }
        }
      w = send (c->ufd, c->frame_out + c->frame_off, c->frame_len - c->frame_off, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        {
          char d[300];
          snprintf (d, sizeof d, "the host's egress proxy at %s: %s", c->s->host_addr, strerror (errno));
          dial_failed (c, d);
          return;
        }
      if (w > 0)
        c->frame_off += (size_t) w;
      if (c->frame_off == c->frame_len)
        c->st = ST_REPLY;
      conn_update (c);
      return;
    }
  if (c->st == ST_REPLY)
    {
      int r = egress_frame_read (&c->frame_in, c->ufd);
      if (r < 0)
        {
          char d[300];
          snprintf (d, sizeof d, "the host's egress proxy closed the connection (%s)",
                    errno == EMSGSIZE ? "reply frame too large" : strerror (errno));
          dial_failed (c, d);
          return;
        }
      if (r == 1)
        dial_done (c);
      return;
    }
  if (c->st != ST_FORWARD)
    return;
  if (mask & EV_WRITABLE)
    {
      if (c->fwd_head_off < c->fwd_head_len)
        {
          ssize_t w = send (c->ufd, c->fwd_head + c->fwd_head_off, c->fwd_head_len - c->fwd_head_off, MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN && errno != EINTR)
            {
              answer (c, 502, "egress: %s:%u: %s", c->host, c->port, strerror (errno));
              return;
            }
          if (w > 0)
            c->fwd_head_off += (size_t) w;
          if (c->fwd_head_off == c->fwd_head_len)
            feed_request_body (c);
          if (c->st != ST_FORWARD)
            return;
        }
      else if (c->in_body > 0)
        {
          size_t before = c->in_body;
          int w = flush_to (c->ufd, c->in, &c->in_len, c->in_body);
          if (w < 0)
            {
              answer (c, 502, "egress: %s:%u: %s", c->host, c->port, strerror (errno));
              return;
            }
          c->in_body = before - (size_t) w;
          if (w > 0)
            {
              set_deadline (c, c->s->idle_ms);
              feed_request_body (c);
              if (c->st != ST_FORWARD)
                return;
            }
        }
    }
  if (mask & EV_READABLE)
    {
      ssize_t r = read (c->ufd, c->up + c->up_len, sizeof c->up - c->up_len);
      if (r < 0 && errno != EAGAIN && errno != EINTR)
        r = 0;
      if (r == 0)
        {
          c->upstream_eof = 1;
          ev_del_file (c->s->loop, c->ufd, EV_READABLE | EV_WRITABLE);
          c->uwatch = 0;
          if (c->resp_head_done && http_body_until_close (&c->respb))
            c->resp_done = 1;
          else if (!c->resp_done)
            {
              if (c->resp_head_done)
                {
                  /* mid-body: nothing sensible can be sent any more */
                  sv_net_log (c->s->net, "egress: %s %s:%u: connection closed mid-response", c->method, c->host,
                              c->port);
                  conn_free (c);
                  return;
                }
              if (feed_response (c) < 0)
                return;
            }
        }
      else if (r > 0)
        {
          c->up_len += (size_t) r;
          set_deadline (c, c->s->idle_ms);
          if (feed_response (c) < 0)
            return;
        }
    }
  if (!maybe_next (c))
    conn_update (c);
}

/* Register what each descriptor waits for in the current state. */
static void
conn_update (struct eg_conn *c)
{
  struct eg_svc *s = c->s;
  int cw = 0, uw = 0;
  switch (c->st)
    {
    case ST_HEAD:
      cw = c->in_len < sizeof c->in ? EV_READABLE : 0;
      break;
    case ST_DIAL:
      uw = EV_WRITABLE;
      break;
    case ST_REPLY:
      uw = EV_READABLE;
      break;
    case ST_FORWARD:
      /* request side: read the client while there is room and the request goes on */
      if (c->fwd_head_off < c->fwd_head_len || c->in_body > 0)
        uw |= EV_WRITABLE;
      if (!c->req_done && c->in_len < sizeof c->in && c->fwd_head_off == c->fwd_head_len)
        cw |= EV_READABLE;
      /* response side */
      if (c->up_body > 0)
        cw |= EV_WRITABLE;
      else if (!c->resp_done && !c->upstream_eof && c->up_len < sizeof c->up)
        uw |= EV_READABLE;
      break;
    case ST_FLUSH:
      cw = EV_WRITABLE;
      break;
    }
  watch (s->loop, c->cfd, &c->cwatch, cw, on_client, c);
  if (c->ufd >= 0 && !c->upstream_eof)
    watch (s->loop, c->ufd, &c->uwatch, uw, on_upstream, c);
}

static long long
conn_timer (struct ev_loop *l, long long id, void *data)
{
  struct eg_conn *c = data;
  long long now = ev_now_ms ();
  (void) l;
  (void) id;
  if (now < c->deadline)
    return c->deadline - now;
  switch (c->st)
    {
    case ST_HEAD:
      if (c->head_seen)
        {
          sv_net_log (c->s->net, "egress: request head not complete after %lld ms: closed", c->s->header_ms);
          answer (c, 408, "egress: request head not complete in time");
          return c->s->header_ms;
        }
      c->timer = 0;
      conn_free (c); /* an idle connection */
      return EV_TIMER_DONE;
    case ST_DIAL:
    case ST_REPLY:
      {
        char d[64];
        snprintf (d, sizeof d, "no answer from the host's egress proxy in %lld ms", c->s->dial_ms);
        dial_failed (c, d);
        return c->s->header_ms;
      }
    case ST_FORWARD:
      sv_net_log (c->s->net, "egress: %s %s:%u: no traffic for %lld s: closed", c->method, c->host, c->port,
                  c->s->idle_ms / 1000);
      c->timer = 0;
      conn_free (c);
      return EV_TIMER_DONE;
    case ST_FLUSH:
    default:
      c->timer = 0;
      conn_free (c);
      return EV_TIMER_DONE;
    }
}

static void
conn_free (struct eg_conn *c)
{
  struct eg_svc *s = c->s;
  if (c->timer > 0)
    ev_del_timer (s->loop, c->timer);
  if (c->cfd >= 0)
    {
      ev_del_file (s->loop, c->cfd, EV_READABLE | EV_WRITABLE);
      close (c->cfd);
    }
  close_upstream (c);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconn--;
  free (c->fwd_head);
  free (c->out);
  free (c);
}

/* ---- the listener ---- */

static void on_accept (struct ev_loop *l, int fd, void *data, int mask);

static long long
accept_resume (struct ev_loop *l, long long id, void *data)
{
  struct eg_svc *s = data;
  (void) id;
  s->accept_pause = 0;
  if (s->lfd >= 0 && !s->stopping)
    ev_add_file (l, s->lfd, EV_READABLE, on_accept, s);
  return EV_TIMER_DONE;
}

static void
on_accept (struct ev_loop *l, int fd, void *data, int mask)
{
  struct eg_svc *s = data;
  (void) mask;
  for (;;)
    {
      int cfd = enclaver_transport_accept (fd, 1);
      struct eg_conn *c;
      if (cfd < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            {
              /* out of descriptors: stop accepting for a moment instead of spinning */
              sv_net_log (s->net, "egress: cannot accept a connection: %s (pausing 100 ms)", strerror (errno));
              ev_del_file (l, fd, EV_READABLE);
              if (s->accept_pause == 0)
                s->accept_pause = ev_add_timer (l, 100, accept_resume, s);
            }
          return;
        }
      if (s->nconn + s->ntun >= s->max_conn)
        {
          static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: 47\r\nConnection: close\r\n\r\n"
                                     "egress: too many connections, try again later\n";
          ssize_t w = send (cfd, busy, sizeof busy - 1, MSG_NOSIGNAL);
          (void) w;
          sv_net_log (s->net, "egress: connection refused: %zu connections open (limit %zu)", s->nconn + s->ntun,
                      s->max_conn);
          close (cfd);
          continue;
        }
      c = xcalloc (1, sizeof *c);
      c->s = s;
      c->cfd = cfd;
      c->ufd = -1;
      net_set_nodelay (cfd); /* plain HTTP is forwarded as it arrives, never coalesced */
      c->next = s->conns;
      if (s->conns)
        s->conns->prev = c;
      s->conns = c;
      s->nconn++;
      c->timer = ev_add_timer (l, s->header_ms, conn_timer, c);
      start_head (c);
    }
}

/* ---- the service ---- */

static void eg_destroy (void *state);

static int
eg_start (const struct sv_net_ctx *ctx, void **state, char *err, size_t errlen)
{
  const json_t *eg = json_object_get (ctx->manifest, "egress");
  const json_t *cfg = json_object_get (ctx->config, "egress");
  const json_t *vp = json_object_get (ctx->manifest, "vsock_ports");
  struct netpolicy *pol;
  size_t na, nd;
  struct eg_svc *s;
  char perr[512], url[64];
  struct rlimit rl;

  *state = NULL;
  pol = egress_policy_from_json (eg, &na, &nd, perr, sizeof perr);
  if (na == 0)
    {
      netpolicy_free (pol);
      return 0; /* no allow list: no egress, no proxy, no environment (ENCLAVER.md §2) */
    }
  if (pol == NULL)
    {
      rt_err (err, errlen, "egress: %s", perr);
      return -1;
    }
  s = xcalloc (1, sizeof *s);
  s->net = ctx->net;
  s->loop = ctx->loop;
  s->lfd = -1;
  s->pol = pol;
  s->port = EG_DEFAULT_PORT;
  if (json_is_integer (json_object_get (eg, "proxy_port")))
    s->port = (unsigned) json_integer_value (json_object_get (eg, "proxy_port"));
  snprintf (s->listen_addr, sizeof s->listen_addr, "tcp:127.0.0.1:%u", s->port);
  snprintf (s->host_addr, sizeof s->host_addr, "vsock:host:%u",
            json_is_integer (json_object_get (vp, "http_egress_port"))
                ? (unsigned) json_integer_value (json_object_get (vp, "http_egress_port"))
                : EG_DEFAULT_HOST_PORT);
  /* Test and emulation overrides of the addresses (docs/network.md). */
  if (json_is_string (json_object_get (cfg, "listen")))
    snprintf (s->listen_addr, sizeof s->listen_addr, "%s", json_string_value (json_object_get (cfg, "listen")));
  if (json_is_string (json_object_get (cfg, "host_addr")))
    snprintf (s->host_addr, sizeof s->host_addr, "%s", json_string_value (json_object_get (cfg, "host_addr")));
  s->max_conn = (size_t) cfg_ms (cfg, "max_connections", EG_DEFAULT_MAX_CONN);
  s->header_ms = cfg_ms (cfg, "header_timeout_ms", EG_DEFAULT_HEADER_MS);
  s->keepalive_ms = cfg_ms (cfg, "keepalive_timeout_ms", EG_DEFAULT_KEEPALIVE_MS);
  s->dial_ms = cfg_ms (cfg, "dial_timeout_ms", EG_DEFAULT_DIAL_MS);
  s->idle_ms = cfg_ms (cfg, "idle_timeout_ms", EG_DEFAULT_IDLE_MS);

  /* Every tunnel costs two descriptors (and the relay's pipes when it splices). */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      (void) setrlimit (RLIMIT_NOFILE, &rl);
    }

  s->lfd = enclaver_transport_listen (s->listen_addr, perr, sizeof perr);
  if (s->lfd < 0)
    {
      rt_err (err, errlen, "egress: cannot listen for the proxy on %s (egress.proxy_port %u): %s", s->listen_addr,
              s->port, perr);
      eg_destroy (s);
      return -1;
    }
  {
    int fl = fcntl (s->lfd, F_GETFL);
    if (fl >= 0)
      (void) fcntl (s->lfd, F_SETFL, fl | O_NONBLOCK);
    /* a burst of clients must queue, not be refused: a deeper backlog than the default */
    (void) listen (s->lfd, 1024);
  }
  if (ev_add_file (s->loop, s->lfd, EV_READABLE, on_accept, s) < 0)
    {
      rt_err (err, errlen, "egress: epoll: %s", strerror (errno));
      eg_destroy (s);
      return -1;
    }
  if (s->listen_addr[0] == 't')
    {
      uint32_t lp = enclaver_transport_local_port (s->lfd);
      snprintf (url, sizeof url, "http://127.0.0.1:%u", lp ? (unsigned) lp : s->port);
    }
  else
    snprintf (url, sizeof url, "http://127.0.0.1:%u", s->port);
  sv_net_setenv (ctx->net, "http_proxy", url);
  sv_net_setenv (ctx->net, "https_proxy", url);
  sv_net_setenv (ctx->net, "HTTP_PROXY", url);
  sv_net_setenv (ctx->net, "HTTPS_PROXY", url);
  sv_net_setenv (ctx->net, "no_proxy", "localhost,127.0.0.1");
  sv_net_setenv (ctx->net, "NO_PROXY", "localhost,127.0.0.1");
  sv_net_log (ctx->net, "egress: proxy on %s, dialling through %s (%zu allow, %zu deny patterns)", s->listen_addr,
              s->host_addr, na, nd);
  *state = s;
  return 0;
}

static void
eg_stop_accepting (void *state)
{
  struct eg_svc *s = state;
  s->stopping = 1;
  if (s->accept_pause > 0)
    ev_del_timer (s->loop, s->accept_pause);
  s->accept_pause = 0;
  if (s->lfd >= 0)
    {
      ev_del_file (s->loop, s->lfd, EV_READABLE);
      close (s->lfd);
      s->lfd = -1;
    }
}

static size_t
eg_active (void *state)
{
  struct eg_svc *s = state;
  return s->nconn + s->ntun;
}

static void
eg_destroy (void *state)
{
  struct eg_svc *s = state;
  if (s == NULL)
    return;
  if (s->lfd >= 0)
    close (s->lfd);
  while (s->conns)
    conn_free (s->conns);
  while (s->tunnels)
    {
      struct eg_tunnel *t = s->tunnels;
      s->tunnels = t->next;
      relay_abort (t->r);
      free (t);
    }
  netpolicy_free (s->pol);
  free (s);
}

const struct sv_service sv_egress_service = {
  .name = "egress",
  .start = eg_start,
  .stop_accepting = eg_stop_accepting,
  .active = eg_active,
  .destroy = eg_destroy,
};
