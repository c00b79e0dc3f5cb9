/* enclaver host launcher: the host half of the egress proxy (ENCLAVER.md §9, port 17002).
 *
 * The enclave's proxy opens one connection per upstream connection and sends a frame
 * {"host","port"} (runtime/net/egressproto.h).  This side checks the enclave's own
 * policy again (defence in depth: a supervisor that was tampered with still cannot
 * reach what the manifest the host launched does not allow), resolves the name (the
 * special name "host" is the parent's 127.0.0.1), connects over TCP with a timeout,
 * answers "Ok" or {"Err":{"os_code","message"}} and from then on relays raw bytes
 * (runtime/net/relay.h).
 *
 * Everything runs on the launcher's loop but name resolution: getaddrinfo blocks, so
 * each lookup runs on a short-lived thread (at most EGH_MAX_LOOKUPS at a time, the
 * others wait in a queue) that hands its result back through a pipe. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include <enclaver/log.h>

#include "common/netpolicy.h"
#include "evloop.h"
#include "hostsvc.h"
#include "net/egressproto.h"
#include "net/relay.h"
#include "streams.h"

#define SRC "egress"
#define EGH_MAX_LOOKUPS 32
#define EGH_REQ_MS 10000     /* the request frame must arrive within this */
#define EGH_CONNECT_MS 10000 /* per address tried */
#define EGH_IDLE_MS 600000
#define EGH_MAX_CONN 4096

enum egh_state
{
  H_REQ,     /* reading the request frame */
  H_LOOKUP,  /* waiting for (or queued for) a name lookup */
  H_CONNECT, /* TCP connect to one of the addresses */
};

struct egh_svc;

struct egh_conn
{
  struct egh_svc *s;
  struct egh_conn *prev, *next;
  struct egh_conn *qnext; /* lookup queue */
  enum egh_state st;
  int vfd, tfd;
  long long timer, deadline;
  struct egress_frame fr;
  char host[EGRESS_HOST_MAX + 1];
  char target[EGRESS_HOST_MAX + 1]; /* what is resolved: host, or 127.0.0.1 for "host" */
  unsigned port;
  struct addrinfo *ai, *cur;
  struct egh_lookup *lk; /* the running lookup, if any */
  int last_err;
};

/* A lookup in flight; the thread owns it until it writes it to the pipe. */
struct egh_lookup
{
  struct egh_conn *c; /* NULL once the connection went away */
  char name[EGRESS_HOST_MAX + 1];
  char port[8];
  struct addrinfo *res;
  int rc;
};

struct egh_tunnel
{
  struct egh_svc *s;
  struct egh_tunnel *prev, *next;
  struct relay *r;
};

struct egh_svc
{
  const struct host_svc_ctx *ctx;
  struct ev_loop *loop;
  struct netpolicy *pol;
  int lfd;
  uint32_t port;
  int pipe_rd, pipe_wr;
  size_t nconn, ntun, lookups;
  struct egh_conn *conns, *qhead, *qtail;
  struct egh_tunnel *tunnels;
};

static void hc_free (struct egh_conn *c);
static void try_connect (struct egh_conn *c);

/* ---- replies ---- */

static void
reply_err (struct egh_conn *c, int os_code, const char *message)
{
  char buf[2 + EGRESS_FRAME_MAX];
  int n = egress_encode_err (buf, sizeof buf, os_code, message);
  enclaver_log (ENCLAVER_LOG_INFO, SRC, "%s:%u: %s", c->host[0] ? c->host : "?", c->port, message);
  if (n > 0)
    {
      /* A fresh socket takes a few hundred bytes without blocking; if it does not, the
       * peer is gone or hostile and loses the message. */
      ssize_t w = send (c->vfd, buf, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void) w;
    }
  hc_free (c);
}

/* "Connection refused (os error 111)", the way the Rust host half words it. */
static void
reply_errno (struct egh_conn *c, int e)
{
  char msg[256];
  const char *s = strerror (e);
  snprintf (msg, sizeof msg, "%s (os error %d)", s, e);
  reply_err (c, e, msg);
}

static void tunnel_done (void *data, const struct relay_result *res);

static void
reply_ok (struct egh_conn *c)
{
  struct egh_svc *s = c->s;
  char ok[16];
  int n = egress_encode_ok (ok, sizeof ok);
  struct relay_opts o = { .idle_ms = EGH_IDLE_MS };
  struct egh_tunnel *t;
  int vfd = c->vfd, tfd = c->tfd;

  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "%s:%u connected", c->host, c->port);
  ev_del_file (s->loop, vfd, EV_READABLE | EV_WRITABLE);
  ev_del_file (s->loop, tfd, EV_READABLE | EV_WRITABLE);
  c->vfd = c->tfd = -1;
  hc_free (c);
  t = calloc (1, sizeof *t);
  if (t == NULL)
    abort ();
  t->s = s;
  /* "Ok" goes to the enclave before anything of the upstream (pre_a). */
  t->r = relay_start (s->loop, vfd, tfd, NULL, 0, ok, n > 0 ? (size_t) n : 0, &o, tunnel_done, t);
  if (t->r == NULL)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "relay: %s", strerror (errno));
      free (t);
      return;
    }
  t->next = s->tunnels;
  if (s->tunnels)
    s->tunnels->prev = t;
  s->tunnels = t;
  s->ntun++;
}

static void
tunnel_done (void *data, const struct relay_result *res)
{
  struct egh_tunnel *t = data;
  struct egh_svc *s = t->s;
  (void) res;
  if (t->prev)
    t->prev->next = t->next;
  else
    s->tunnels = t->next;
  if (t->next)
    t->next->prev = t->prev;
  s->ntun--;
  free (t);
}

/* ---- name lookup on a thread ---- */

static void *
lookup_thread (void *arg)
{
  struct egh_lookup *lk = arg;
  struct addrinfo hints;
  memset (&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  /* Only name, port, res and rc are the thread's; lk->c belongs to the loop. */
  lk->rc = getaddrinfo (lk->name, lk->port, &hints, &lk->res);
  return NULL;
}

static void start_lookup (struct egh_conn *c);

static void
lookup_finished (struct egh_svc *s, struct egh_lookup *lk)
{
  struct egh_conn *c = lk->c;
  s->lookups--;
  if (c == NULL)
    {
      if (lk->res)
        freeaddrinfo (lk->res);
      free (lk);
    }
  else
    {
      c->lk = NULL;
      if (lk->rc != 0)
        {
          char msg[300];
          snprintf (msg, sizeof msg, "failed to lookup address information: %s", gai_strerror (lk->rc));
          free (lk);
          reply_err (c, 0, msg);
        }
      else
        {
          c->ai = lk->res;
          c->cur = c->ai;
          free (lk);
          try_connect (c);
        }
    }
  /* The next queued connection may look up now. */
  while (s->qhead && s->lookups < EGH_MAX_LOOKUPS)
    {
      struct egh_conn *q = s->qhead;
      s->qhead = q->qnext;
      if (s->qhead == NULL)
        s->qtail = NULL;
      q->qnext = NULL;
      start_lookup (q);
    }
}

struct lookup_job
{
  struct egh_lookup *lk;
  int wr;
};

static void *
lookup_run (void *arg)
{
  struct lookup_job *j = arg;
  struct egh_lookup *lk = j->lk;
  int wr = j->wr;
  ssize_t w;
  free (j);
  lookup_thread (lk);
  /* A pointer is 8 bytes: a pipe write this small is atomic. */
  do
    w = write (wr, &lk, sizeof lk);
  while (w < 0 && errno == EINTR);
  return NULL;
}

static void
start_lookup (struct egh_conn *c)
{
  struct egh_svc *s = c->s;
  struct egh_lookup *lk;
  struct lookup_job *j;
  pthread_attr_t at;
  pthread_t th;
  sigset_t all, old;
  int rc;

  if (s->lookups >= EGH_MAX_LOOKUPS)
    {
      if (s->qtail)
        s->qtail->qnext = c;
      else
        s->qhead = c;
      s->qtail = c;
      return;
    }
  lk = calloc (1, sizeof *lk);
  j = calloc (1, sizeof *j);
  if (lk == NULL || j == NULL)
    abort ();
  lk->c = c;
  snprintf (lk->name, sizeof lk->name, "%s", c->target);
  snprintf (lk->port, sizeof lk->port, "%u", c->port);
  j->lk = lk;
  j->wr = s->pipe_wr;
  pthread_attr_init (&at);
  pthread_attr_setdetachstate (&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&at, 256 * 1024);
  /* The thread must not take the launcher's signals (SIGTERM, SIGINT go to the loop). */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  rc = pthread_create (&th, &at, lookup_run, j);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  pthread_attr_destroy (&at);
  if (rc != 0)
    {
      free (lk);
      free (j);
      reply_errno (c, rc);
      return;
    }
  c->lk = lk;
  s->lookups++;
}

static void
on_lookup_pipe (struct ev_loop *l, int fd, void *data, int mask)
{
  struct egh_svc *s = data;
  (void) l;
  (void) mask;
  for (;;)
    {
      struct egh_lookup *lk;
      ssize_t r = read (fd, &lk, sizeof lk);
      if (r != (ssize_t) sizeof lk)
        return;
      lookup_finished (s, lk);
    }
}

/* ---- connecting ---- */

static void on_tcp (struct ev_loop *l, int fd, void *data, int mask);

static void
try_connect (struct egh_conn *c)
{
  struct egh_svc *s = c->s;
  c->st = H_CONNECT;
  while (c->cur)
    {
      struct addrinfo *a = c->cur;
      int fd, r;
      c->cur = a->ai_next;
      if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
        continue;
      fd = socket (a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          c->last_err = errno;
          continue;
        }
      do
        r = connect (fd, a->ai_addr, a->ai_addrlen);
      while (r < 0 && errno == EINTR);
      if (r == 0)
        {
          c->tfd = fd;
          reply_ok (c);
          return;
        }
      if (errno == EINPROGRESS)
        {
          c->tfd = fd;
          c->deadline = ev_now_ms () + EGH_CONNECT_MS;
          if (ev_add_file (s->loop, fd, EV_WRITABLE, on_tcp, c) < 0)
            {
              c->last_err = errno;
              close (fd);
              c->tfd = -1;
              continue;
            }
          return;
        }
      c->last_err = errno;
      close (fd);
    }
  reply_errno (c, c->last_err ? c->last_err : ECONNREFUSED);
}

static void
on_tcp (struct ev_loop *l, int fd, void *data, int mask)
{
  struct egh_conn *c = data;
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  (void) mask;
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
    soerr = errno;
  if (soerr == 0)
    {
      reply_ok (c);
      return;
    }
  ev_del_file (l, fd, EV_READABLE | EV_WRITABLE);
  close (fd);
  c->tfd = -1;
  c->last_err = soerr;
  try_connect (c);
}

/* ---- the request ---- */

static void
got_request (struct egh_conn *c)
{
  struct egh_svc *s = c->s;
  const char *body;
  size_t len;
  char err[256];
  struct netpolicy_verdict v;
  unsigned char addr[16];

  body = egress_frame_body (&c->fr, &len);
  if (egress_decode_request (body, len, c->host, sizeof c->host, &c->port, err, sizeof err) < 0)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: bad request on port %" PRIu32 ": %s", s->ctx->name,
                    s->port, err);
      c->host[0] = '\0';
      reply_err (c, EINVAL, err);
      return;
    }
  ev_del_file (s->loop, c->vfd, EV_READABLE);
  if (s->pol != NULL)
    {
      netpolicy_check (s->pol, c->host, &v);
      if (!v.allowed)
        {
          char msg[600];
          if (v.list == 'd')
            snprintf (msg, sizeof msg, "denied by the host: egress.deny[%zu] \"%s\" matches %s", v.index, v.rule,
                      c->host);
          else
            snprintf (msg, sizeof msg, "denied by the host: no egress.allow pattern matches %s", c->host);
          enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s asked for %s:%u, which its manifest does not allow",
                        s->ctx->name, c->host, c->port);
          reply_err (c, EACCES, msg);
          return;
        }
    }
  /* "host" is the parent itself; brackets of an IPv6 literal are dropped. */
  if (strcasecmp (c->host, "host") == 0)
    snprintf (c->target, sizeof c->target, "127.0.0.1");
  else if (c->host[0] == '[' && c->host[strlen (c->host) - 1] == ']')
    snprintf (c->target, sizeof c->target, "%.*s", (int) strlen (c->host) - 2, c->host + 1);
  else
    snprintf (c->target, sizeof c->target, "%s", c->host);
  c->st = H_LOOKUP;
  c->deadline = ev_now_ms () + EGH_REQ_MS + EGH_CONNECT_MS;
  if (inet_pton (AF_INET, c->target, addr) == 1 || inet_pton (AF_INET6, c->target, addr) == 1)
    {
      /* a literal: no thread needed */
      struct addrinfo hints;
      char port[8];
      int rc;
      memset (&hints, 0, sizeof hints);
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
      snprintf (port, sizeof port, "%u", c->port);
      rc = getaddrinfo (c->target, port, &hints, &c->ai);
      if (rc != 0)
        {
          char msg[300];
          snprintf (msg, sizeof msg, "failed to lookup address information: %s", gai_strerror (rc));
          reply_err (c, 0, msg);
          return;
        }
      c->cur = c->ai;
      try_connect (c);
      return;
    }
  start_lookup (c);
}

static void
on_vsock (struct ev_loop *l, int fd, void *data, int mask)
{
  struct egh_conn *c = data;
  int r;
  (void) l;
  (void) fd;
  (void) mask;
  if (c->st != H_REQ)
    return;
  r = egress_frame_read (&c->fr, c->vfd);
  if (r < 0)
    {
      if (errno == EMSGSIZE)
        {
          enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: request frame over %d bytes refused", c->s->ctx->name,
                        EGRESS_FRAME_MAX);
          reply_err (c, EMSGSIZE, "request frame too large");
        }
      else
        hc_free (c);
      return;
    }
  if (r == 1)
    got_request (c);
}

static long long
hc_timer (struct ev_loop *l, long long id, void *data)
{
  struct egh_conn *c = data;
  long long now = ev_now_ms ();
  (void) l;
  (void) id;
  if (now < c->deadline)
    return c->deadline - now;
  c->timer = 0;
  if (c->st == H_REQ)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: no request within %d ms on port %" PRIu32,
                    c->s->ctx->name, EGH_REQ_MS, c->s->port);
      hc_free (c);
    }
  else
    reply_errno (c, ETIMEDOUT);
  return EV_TIMER_DONE;
}

static void
hc_free (struct egh_conn *c)
{
  struct egh_svc *s = c->s;
  if (c->timer > 0)
    ev_del_timer (s->loop, c->timer);
  if (c->vfd >= 0)
    {
      ev_del_file (s->loop, c->vfd, EV_READABLE | EV_WRITABLE);
      close (c->vfd);
    }
  if (c->tfd >= 0)
    {
      ev_del_file (s->loop, c->tfd, EV_READABLE | EV_WRITABLE);
      close (c->tfd);
    }
  if (c->lk)
    c->lk->c = NULL; /* the thread's result is dropped when it arrives */
  if (c->ai)
    freeaddrinfo (c->ai);
  /* out of the lookup queue */
  if (c->st == H_LOOKUP && c->lk == NULL)
    {
      struct egh_conn **pp = &s->qhead, *prev = NULL;
      while (*pp && *pp != c)
        prev = *pp, pp = &(*pp)->qnext;
      if (*pp == c)
        {
          *pp = c->qnext;
          if (s->qtail == c)
            s->qtail = prev;
        }
    }
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconn--;
  free (c);
}

static void
on_accept (struct ev_loop *l, int fd, void *data, int mask)
{
  struct egh_svc *s = data;
  (void) mask;
  for (;;)
    {
      int vfd = -1, r;
      struct egh_conn *c;
      r = host_sock_accept_checked (fd, &vfd, s->ctx->e->cid, "egress", s->port, s->ctx->name);
      if (r < 0)
        {
          if (errno == EMFILE || errno == ENFILE)
            enclaver_log (ENCLAVER_LOG_WARNING, SRC, "cannot accept: %s", strerror (errno));
          return;
        }
      if (r == 0)
        continue;
      if (s->nconn + s->ntun >= EGH_MAX_CONN)
        {
          enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: %zu egress connections open: refusing more",
                        s->ctx->name, s->nconn + s->ntun);
          close (vfd);
          continue;
        }
      c = calloc (1, sizeof *c);
      if (c == NULL)
        abort ();
      c->s = s;
      c->vfd = vfd;
      c->tfd = -1;
      c->st = H_REQ;
      c->next = s->conns;
      if (s->conns)
        s->conns->prev = c;
      s->conns = c;
      s->nconn++;
      c->deadline = ev_now_ms () + EGH_REQ_MS;
      c->timer = ev_add_timer (l, EGH_REQ_MS, hc_timer, c);
      if (ev_add_file (l, vfd, EV_READABLE, on_vsock, c) < 0)
        hc_free (c);
    }
}

/* ---- the service ---- */

static void egh_destroy (void *state);

static int
egh_prepare (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err)
{
  const struct host_run_config *c = ctx->c;
  const json_t *eg = json_object_get (c->manifest, "egress");
  struct egh_svc *s;
  char addr[256], e[512];
  int p[2];
  struct rlimit rl;

  *state = NULL;
  if (!c->has_egress)
    return 0;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    abort ();
  s->ctx = ctx;
  s->loop = ctx->loop;
  s->lfd = s->pipe_rd = s->pipe_wr = -1;
  s->port = c->egress_port;
  if (eg != NULL)
    {
      size_t na, nd;
      s->pol = egress_policy_from_json (eg, &na, &nd, e, sizeof e);
      if (s->pol == NULL)
        {
          egh_destroy (s);
          return enclaver_make_error (err, EINVAL, "egress: %s", e);
        }
    }
  else
    enclaver_log (ENCLAVER_LOG_WARNING, SRC,
                  "no manifest to check the enclave's egress against: the host half allows every host");
  /* Relayed sockets may be closed by their peers at any time. */
  signal (SIGPIPE, SIG_IGN);
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      (void) setrlimit (RLIMIT_NOFILE, &rl);
    }
  if (pipe2 (p, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      egh_destroy (s);
      return enclaver_make_errno (err, errno, "egress: pipe");
    }
  s->pipe_rd = p[0];
  s->pipe_wr = p[1];
  /* The write end blocks: a lookup thread must never lose its result. */
  fcntl (s->pipe_wr, F_SETFL, fcntl (s->pipe_wr, F_GETFL) & ~O_NONBLOCK);
  if (ctx->b->host_addr (ctx->b, ctx->e, s->port, addr, sizeof addr) < 0)
    {
      egh_destroy (s); /* s->port with it: name the configuration's port */
      return enclaver_make_error (err, EINVAL, "egress: no host address for port %" PRIu32, c->egress_port);
    }
  s->lfd = host_sock_listen (addr, e, sizeof e);
  if (s->lfd < 0)
    {
      int en = errno ? errno : EINVAL;
      egh_destroy (s);
      return enclaver_make_error (err, en, "egress listener for port %" PRIu32 ": %s", c->egress_port, e);
    }
  /* The enclave opens one connection per upstream connection: let bursts queue (a
   * full Unix backlog refuses at once). */
  (void) listen (s->lfd, 1024);
  if (ev_add_file (ctx->loop, s->lfd, EV_READABLE, on_accept, s) < 0
      || ev_add_file (ctx->loop, s->pipe_rd, EV_READABLE, on_lookup_pipe, s) < 0)
    {
      int en = errno;
      egh_destroy (s);
      return enclaver_make_errno (err, en, "egress: epoll");
    }
  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "egress listener on %s", addr);
  *state = s;
  return 0;
}

static void
egh_stop_accepting (void *state)
{
  struct egh_svc *s = state;
  if (s->lfd >= 0)
    {
      ev_del_file (s->loop, s->lfd, EV_READABLE);
      close (s->lfd);
      s->lfd = -1;
    }
}

static size_t
egh_active (void *state)
{
  struct egh_svc *s = state;
  return s->nconn + s->ntun;
}

static void
egh_destroy (void *state)
{
  struct egh_svc *s = state;
  if (s == NULL)
    return;
  egh_stop_accepting (s);
  while (s->conns)
    hc_free (s->conns);
  while (s->tunnels)
    {
      struct egh_tunnel *t = s->tunnels;
      s->tunnels = t->next;
      relay_abort (t->r);
      free (t);
    }
  if (s->pipe_rd >= 0)
    {
      ev_del_file (s->loop, s->pipe_rd, EV_READABLE);
      close (s->pipe_rd);
    }
  /* Lookup threads still running keep writing to pipe_wr: leave it open (a few bytes
   * of a process that is about to exit) rather than let them write to a reused fd. */
  if (s->lookups == 0 && s->pipe_wr >= 0)
    close (s->pipe_wr);
  netpolicy_free (s->pol);
  free (s);
}

const struct host_service host_egress_service = {
  .name = "egress",
  .prepare = egh_prepare,
  .stop_accepting = egh_stop_accepting,
  .active = egh_active,
  .destroy = egh_destroy,
};
