/* enclaver host launcher: sockets, the retrying stream connector, the line splitter. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <enclaver/log.h>

#include "streams.h"
#include "transport.h"

/* tcp:A.B.C.D:PORT */
static int
parse_tcp (const char *spec, struct sockaddr_in *sin, char *err, size_t errlen)
{
  const char *host = spec + 4, *colon = strrchr (host, ':');
  char hbuf[64], *end;
  unsigned long port;
  memset (sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  if (colon == NULL || (size_t) (colon - host) >= sizeof hbuf)
    goto bad;
  memcpy (hbuf, host, (size_t) (colon - host));
  hbuf[colon - host] = '\0';
  errno = 0;
  port = strtoul (colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || port > 65535 || inet_pton (AF_INET, hbuf, &sin->sin_addr) != 1)
    goto bad;
  sin->sin_port = htons ((uint16_t) port);
  return 0;
bad:
  snprintf (err, errlen, "bad address '%s': expected tcp:IPV4:PORT", spec);
  errno = EINVAL;
  return -1;
}

static void
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  if (fl >= 0)
    fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

int
host_sock_listen (const char *spec, char *err, size_t errlen)
{
  int fd;
  if (strncmp (spec, "tcp:", 4) == 0)
    {
      struct sockaddr_in sin;
      int one = 1;
      if (parse_tcp (spec, &sin, err, errlen) < 0)
        return -1;
      fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0)
        {
          snprintf (err, errlen, "socket: %s", strerror (errno));
          return -1;
        }
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind (fd, (struct sockaddr *) &sin, sizeof sin) < 0 || listen (fd, HOST_LISTEN_BACKLOG) < 0)
        {
          int e = errno;
          snprintf (err, errlen, "cannot listen on %s: %s", spec, strerror (e));
          close (fd);
          errno = e;
          return -1;
        }
      return fd;
    }
  fd = enclaver_transport_listen (spec, err, errlen);
  if (fd >= 0)
    set_nonblock (fd);
  return fd;
}

int
host_sock_connect_start (const char *spec, int *fd, char *err, size_t errlen)
{
  union
  {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_un un;
    struct sockaddr_vm vm;
  } u;
  socklen_t len;
  int family, s;

  memset (&u, 0, sizeof u);
  if (strncmp (spec, "tcp:", 4) == 0)
    {
      if (parse_tcp (spec, &u.in, err, errlen) < 0)
        return -1;
      family = AF_INET;
      len = sizeof u.in;
    }
  else
    {
      struct enclaver_transport_addr a;
      if (enclaver_transport_parse (spec, &a, err, errlen) < 0)
        {
          errno = EINVAL;
          return -1;
        }
      if (a.kind == ENCLAVER_TRANSPORT_UNIX)
        {
          family = AF_UNIX;
          u.un.sun_family = AF_UNIX;
          memcpy (u.un.sun_path, a.path, sizeof u.un.sun_path);
          len = sizeof u.un;
        }
      else
        {
          family = AF_VSOCK;
          u.vm.svm_family = AF_VSOCK;
          u.vm.svm_cid = a.cid;
          u.vm.svm_port = a.port;
          len = sizeof u.vm;
        }
    }
  s = socket (family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0)
    {
      int e = errno;
      snprintf (err, errlen, "socket: %s", strerror (e));
      errno = e;
      return -1;
    }
  if (connect (s, &u.sa, len) == 0)
    {
      *fd = s;
      return 0;
    }
  if (errno == EINPROGRESS)
    {
      *fd = s;
      return 1;
    }
  {
    int e = errno;
    snprintf (err, errlen, "%s", strerror (e));
    close (s);
    errno = e;
  }
  return -1;
}

int
host_sock_accept (int lfd, int *fd, uint64_t *cid)
{
  union
  {
    struct sockaddr sa;
    struct sockaddr_vm vm;
    struct sockaddr_storage ss;
  } u;
  socklen_t len = sizeof u;
  int s = accept4 (lfd, &u.sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (s < 0)
    return -1;
  *fd = s;
  if (u.sa.sa_family == AF_VSOCK && len >= sizeof u.vm)
    {
      *cid = u.vm.svm_cid;
      return 1;
    }
  return 0;
}

int
host_peer_allowed (const struct sockaddr *sa, unsigned int len, uint64_t enclave_cid, char *why, size_t whylen)
{
  if (why != NULL && whylen > 0)
    why[0] = '\0';
  if (sa == NULL || len < sizeof sa->sa_family)
    {
      snprintf (why, whylen, "a peer without an address");
      return 0;
    }
  switch (sa->sa_family)
    {
    case AF_VSOCK:
      {
        const struct sockaddr_vm *vm = (const struct sockaddr_vm *) sa;
        if (len < sizeof *vm)
          {
            snprintf (why, whylen, "a vsock peer with a truncated address");
            return 0;
          }
        if ((uint64_t) vm->svm_cid == enclave_cid)
          return 1;
        snprintf (why, whylen, "from CID %u: the enclave has CID %" PRIu64, vm->svm_cid, enclave_cid);
        return 0;
      }
    case AF_UNIX:
    case AF_INET:
    case AF_INET6:
      return 1; /* no CID to check */
    default:
      snprintf (why, whylen, "a peer of address family %d", (int) sa->sa_family);
      return 0;
    }
}

int
host_sock_accept_checked (int lfd, int *fd, uint64_t enclave_cid, const char *kind, uint32_t port,
                          const char *enclave_name)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char why[128];
  int s = accept4 (lfd, (struct sockaddr *) &ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (s < 0)
    return -1;
  if (host_peer_allowed ((const struct sockaddr *) &ss, len, enclave_cid, why, sizeof why))
    {
      *fd = s;
      return 1;
    }
  close (s);
  *fd = -1;
  host_peer_log_refused (kind, port, why, enclave_name);
  return 0;
}

void
host_peer_log_refused (const char *kind, uint32_t port, const char *why, const char *enclave_name)
{
  enclaver_log (ENCLAVER_LOG_WARNING, "run", "refused a connection to the %s port %" PRIu32 " %s (enclave '%s')",
                kind, port, why, enclave_name ? enclave_name : "?");
}

void
host_lines_init (struct host_lines *l, size_t max, int skip_long)
{
  memset (l, 0, sizeof *l);
  l->buf = malloc (max);
  if (l->buf == NULL)
    abort ();
  l->max = max;
  l->skip_long = skip_long;
}

void
host_lines_free (struct host_lines *l)
{
  free (l->buf);
  l->buf = NULL;
  l->len = 0;
}

void
host_lines_feed (struct host_lines *l, const char *p, size_t n, host_line_fn *fn, void *ctx)
{
  while (n > 0)
    {
      const char *nl = memchr (p, '\n', n);
      size_t take = nl ? (size_t) (nl - p) : n;
      while (take > 0)
        {
          size_t room = l->max - l->len, k = take < room ? take : room;
          if (!l->skipping)
            memcpy (l->buf + l->len, p, k);
          l->len += k;
          p += k;
          n -= k;
          take -= k;
          if (l->len == l->max)
            {
              if (!l->skip_long)
                {
                  fn (ctx, l->buf, l->len, 1);
                  l->split = 1;
                }
              else
                l->skipping = 1;
              l->len = 0;
            }
        }
      if (nl)
        {
          if (l->skipping)
            fn (ctx, NULL, 0, 1); /* tell the owner a line was dropped */
          else if (!(l->split && l->len == 0)) /* no empty tail after a split line */
            fn (ctx, l->buf, l->len, 0);
          l->skipping = l->split = 0;
          l->len = 0;
          p++;
          n--;
        }
    }
}

void
host_lines_finish (struct host_lines *l, host_line_fn *fn, void *ctx)
{
  if (l->len > 0 && !l->skipping)
    fn (ctx, l->buf, l->len, 0);
  l->len = 0;
  l->skipping = l->split = 0;
}

/* The connector. */

static void conn_attempt (struct host_conn *c);

static long long
conn_timer (struct ev_loop *l, long long id, void *data)
{
  struct host_conn *c = data;
  (void) l;
  (void) id;
  c->timer = 0;
  if (c->connecting)
    {
      /* The attempt took too long: abandon it and count it as a failure. */
      ev_del_file (c->loop, c->fd, EV_READABLE | EV_WRITABLE);
      close (c->fd);
      c->fd = -1;
      c->connecting = 0;
      snprintf (c->last_err, sizeof c->last_err, "no answer within %d ms", HOST_CONNECT_ATTEMPT_MS);
    }
  conn_attempt (c);
  return EV_TIMER_DONE;
}

static void
conn_retry (struct host_conn *c)
{
  long long now = ev_now_ms (), left = c->started + c->deadline_ms - now;
  if (left <= 0)
    {
      c->on_giveup (c, c->ctx);
      return;
    }
  c->timer = ev_add_timer (c->loop, c->delay < left ? c->delay : left, conn_timer, c);
  c->delay = c->delay * 2 > HOST_CONNECT_MAX_DELAY_MS ? HOST_CONNECT_MAX_DELAY_MS : c->delay * 2;
}

static void
conn_connected (struct host_conn *c)
{
  if (c->timer)
    ev_del_timer (c->loop, c->timer);
  c->timer = 0;
  c->connecting = 0;
  c->on_connected (c, c->ctx);
}

static void
conn_writable (struct ev_loop *l, int fd, void *data, int mask)
{
  struct host_conn *c = data;
  int e = 0;
  socklen_t len = sizeof e;
  (void) mask;
  ev_del_file (l, fd, EV_READABLE | EV_WRITABLE);
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    e = errno;
  if (e == 0)
    {
      conn_connected (c);
      return;
    }
  close (fd);
  c->fd = -1;
  c->connecting = 0;
  if (c->timer)
    ev_del_timer (c->loop, c->timer);
  c->timer = 0;
  snprintf (c->last_err, sizeof c->last_err, "%s", strerror (e));
  conn_retry (c);
}

static void
conn_attempt (struct host_conn *c)
{
  int fd = -1, r;
  c->attempts++;
  r = host_sock_connect_start (c->addr, &fd, c->last_err, sizeof c->last_err);
  if (r == 0)
    {
      c->fd = fd;
      conn_connected (c);
      return;
    }
  if (r == 1)
    {
      c->fd = fd;
      c->connecting = 1;
      if (ev_add_file (c->loop, fd, EV_WRITABLE, conn_writable, c) == 0)
        {
          c->timer = ev_add_timer (c->loop, HOST_CONNECT_ATTEMPT_MS, conn_timer, c);
          return;
        }
      snprintf (c->last_err, sizeof c->last_err, "epoll: %s", strerror (errno));
      close (fd);
      c->fd = -1;
      c->connecting = 0;
    }
  if (errno == EINVAL && strncmp (c->last_err, "bad address", 11) == 0)
    {
      c->on_giveup (c, c->ctx); /* retrying cannot fix the address */
      return;
    }
  conn_retry (c);
}

int
host_conn_reconnect (struct host_conn *c, const char *why)
{
  long long left = c->started + c->deadline_ms - ev_now_ms ();
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  c->connecting = 0;
  if (c->timer)
    ev_del_timer (c->loop, c->timer);
  c->timer = 0;
  snprintf (c->last_err, sizeof c->last_err, "%s", why);
  if (left <= 0)
    {
      c->on_giveup (c, c->ctx);
      return -1;
    }
  conn_retry (c);
  return 0;
}

void
host_conn_start (struct host_conn *c, struct ev_loop *l, const char *what, const char *addr,
                 long long deadline_ms, host_conn_fn *on_connected, host_conn_fn *on_giveup, void *ctx)
{
  memset (c, 0, sizeof *c);
  c->what = what;
  snprintf (c->addr, sizeof c->addr, "%s", addr);
  c->fd = -1;
  c->loop = l;
  c->started = ev_now_ms ();
  c->deadline_ms = deadline_ms > 0 ? deadline_ms : HOST_CONNECT_DEADLINE_MS;
  c->delay = HOST_CONNECT_FIRST_DELAY_MS;
  c->on_connected = on_connected;
  c->on_giveup = on_giveup;
  c->ctx = ctx;
  conn_attempt (c);
}

void
host_conn_cancel (struct host_conn *c)
{
  if (c->loop == NULL)
    return;
  if (c->timer)
    ev_del_timer (c->loop, c->timer);
  c->timer = 0;
  if (c->fd >= 0)
    {
      ev_del_file (c->loop, c->fd, EV_READABLE | EV_WRITABLE);
      close (c->fd);
    }
  c->fd = -1;
  c->connecting = 0;
}
