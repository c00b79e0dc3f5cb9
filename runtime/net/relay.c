/* enclaver runtime: the byte pump (see relay.h).
 *
 * Each direction is a small state machine: bytes pending (in its pipe or its buffer) are
 * written to the destination first; with nothing pending it reads the source (splice
 * into the pipe, or read into the buffer); after the source's end and with nothing
 * pending it shuts the destination's write side.  On every event both directions pump
 * as far as the descriptors let them, then the epoll interest of each descriptor is set
 * to exactly what the two directions wait for (a's readability for a→b, a's writability
 * for b→a, and the same for b). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "net/relay.h"

#define PUMP_ROUNDS 16 /* reads per direction per event, so one cannot starve the other */

struct relay_dir
{
  int src, dst;
  int pipe[2];          /* splice mode: the pipe, else -1 */
  size_t inpipe;        /* bytes in the pipe */
  char *buf;            /* buffer mode (lazily allocated) */
  size_t len, off;      /* buf[off, len) is pending */
  int no_splice;        /* splice refused or disabled */
  int eof, shut;        /* source ended; destination's write side shut */
  int want_read, want_write;
  uint64_t bytes;
};

struct relay
{
  struct ev_loop *loop;
  int fd[2];            /* a, b */
  int mask[2];          /* registered interest */
  struct relay_dir d[2]; /* 0: a→b, 1: b→a */
  long long idle_ms, last, timer;
  relay_done_fn *done;
  void *data;
};

static void
close_pipe (struct relay_dir *d)
{
  if (d->pipe[0] >= 0)
    close (d->pipe[0]);
  if (d->pipe[1] >= 0)
    close (d->pipe[1]);
  d->pipe[0] = d->pipe[1] = -1;
}

static void
relay_free (struct relay *r)
{
  int i;
  for (i = 0; i < 2; i++)
    {
      if (r->mask[i])
        ev_del_file (r->loop, r->fd[i], EV_READABLE | EV_WRITABLE);
      close (r->fd[i]);
      close_pipe (&r->d[i]);
      free (r->d[i].buf);
    }
  if (r->timer)
    ev_del_timer (r->loop, r->timer);
  free (r);
}

static void
finish (struct relay *r, int err, int side)
{
  struct relay_result res = { r->d[0].bytes, r->d[1].bytes, err, err ? side : 0 };
  relay_done_fn *done = r->done;
  void *data = r->data;
  relay_free (r);
  if (done)
    done (data, &res);
}

void
relay_abort (struct relay *r)
{
  if (r)
    relay_free (r);
}

int
relay_uses_splice (const struct relay *r, int dir)
{
  return r->d[dir].pipe[0] >= 0;
}

static int
ensure_buf (struct relay_dir *d)
{
  if (d->buf == NULL)
    d->buf = malloc (RELAY_DIR_BYTES);
  return d->buf ? 0 : -1;
}

static int
ensure_pipe (struct relay_dir *d)
{
  if (d->pipe[0] >= 0)
    return 0;
  if (pipe2 (d->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      d->pipe[0] = d->pipe[1] = -1;
      return -1;
    }
  /* Bound the kernel's share too (pipes default to 64 KiB); failure only costs memory. */
  (void) fcntl (d->pipe[1], F_SETPIPE_SZ, RELAY_DIR_BYTES);
  return 0;
}

static ssize_t
write_some (int fd, const void *p, size_t n)
{
  ssize_t w = send (fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno == ENOTSOCK)
    w = write (fd, p, n);
  return w;
}

static int
is_again (int e)
{
  return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Pump one direction.  0: waiting (want_read/want_write say for what) or ended;
 * -1 with *err, *side: the relay fails. */
static int
pump (struct relay *r, struct relay_dir *d, int idx, int *err, int *side)
{
  int rounds = 0;
  int srcside = idx == 0 ? 'a' : 'b', dstside = idx == 0 ? 'b' : 'a';
  d->want_read = d->want_write = 0;
  for (;;)
    {
      ssize_t n;
      if (d->inpipe > 0)
        {
          n = splice (d->pipe[0], NULL, d->dst, NULL, d->inpipe,
                      SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
          if (n < 0 && errno == EINVAL)
            {
              /* The destination takes no splice: move what is in the pipe to the
               * buffer and go on without splice. */
              ssize_t m;
              if (ensure_buf (d) < 0)
                goto fail_nomem;
              m = read (d->pipe[0], d->buf, d->inpipe);
              if (m != (ssize_t) d->inpipe)
                goto fail_nomem;
              d->len = (size_t) m, d->off = 0, d->inpipe = 0;
              d->no_splice = 1;
              close_pipe (d);
              continue;
            }
          if (n < 0)
            {
              if (is_again (errno))
                {
                  d->want_write = 1;
                  return 0;
                }
              *err = errno, *side = dstside;
              return -1;
            }
          d->inpipe -= (size_t) n;
          d->bytes += (uint64_t) n;
          r->last = ev_now_ms ();
          continue;
        }
      if (d->off < d->len)
        {
          n = write_some (d->dst, d->buf + d->off, d->len - d->off);
          if (n < 0)
            {
              if (is_again (errno))
                {
                  d->want_write = 1;
                  return 0;
                }
              *err = errno, *side = dstside;
              return -1;
            }
          d->off += (size_t) n;
          d->bytes += (uint64_t) n;
          r->last = ev_now_ms ();
          if (d->off == d->len)
            d->off = d->len = 0;
          continue;
        }
      if (d->eof)
        {
          if (!d->shut)
            {
              d->shut = 1;
              if (shutdown (d->dst, SHUT_WR) < 0 && errno != ENOTSOCK && errno != ENOTCONN)
                {
                  *err = errno, *side = dstside;
                  return -1;
                }
            }
          return 0;
        }
      if (rounds++ == PUMP_ROUNDS)
        {
          /* Come back on the next event: the source is likely still readable. */
          d->want_read = 1;
          return 0;
        }
      if (!d->no_splice)
        {
          if (ensure_pipe (d) < 0)
            d->no_splice = 1;
          else
            {
              n = splice (d->src, NULL, d->pipe[1], NULL, RELAY_DIR_BYTES,
                          SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
              if (n < 0 && errno == EINVAL)
                {
                  d->no_splice = 1;
                  close_pipe (d);
                }
              else if (n < 0)
                {
                  if (is_again (errno))
                    {
                      d->want_read = 1;
                      return 0;
                    }
                  *err = errno, *side = srcside;
                  return -1;
                }
              else
                {
                  if (n == 0)
                    d->eof = 1;
                  d->inpipe = (size_t) n;
                  r->last = ev_now_ms ();
                  continue;
                }
            }
        }
      if (ensure_buf (d) < 0)
        goto fail_nomem;
      n = read (d->src, d->buf, RELAY_DIR_BYTES);
      if (n < 0)
        {
          if (is_again (errno))
            {
              d->want_read = 1;
              return 0;
            }
          *err = errno, *side = srcside;
          return -1;
        }
      if (n == 0)
        d->eof = 1;
      d->len = (size_t) n, d->off = 0;
      r->last = ev_now_ms ();
    }
fail_nomem:
  *err = ENOMEM, *side = srcside;
  return -1;
}

static void on_fd (struct ev_loop *l, int fd, void *data, int mask);

static int
set_interest (struct relay *r)
{
  int i;
  for (i = 0; i < 2; i++)
    {
      /* fd a: read for a→b (d[0]), write for b→a (d[1]); fd b the other way round. */
      int want = (r->d[i].want_read ? EV_READABLE : 0)
                 | (r->d[1 - i].want_write ? EV_WRITABLE : 0);
      int drop = r->mask[i] & ~want, add = want & ~r->mask[i];
      if (drop)
        ev_del_file (r->loop, r->fd[i], drop);
      if (add && ev_add_file (r->loop, r->fd[i], add, on_fd, r) < 0)
        return -1;
      r->mask[i] = want;
    }
  return 0;
}

static void
run (struct relay *r)
{
  int err = 0, side = 0, i;
  for (i = 0; i < 2; i++)
    if (pump (r, &r->d[i], i, &err, &side) < 0)
      {
        finish (r, err, side);
        return;
      }
  if (r->d[0].eof && r->d[0].shut && r->d[1].eof && r->d[1].shut)
    {
      finish (r, 0, 0);
      return;
    }
  if (set_interest (r) < 0)
    finish (r, errno, 'a');
}

static void
on_fd (struct ev_loop *l, int fd, void *data, int mask)
{
  (void) l, (void) fd, (void) mask;
  run (data);
}

static long long
on_idle (struct ev_loop *l, long long id, void *data)
{
  struct relay *r = data;
  long long quiet = ev_now_ms () - r->last;
  (void) l, (void) id;
  if (quiet >= r->idle_ms)
    {
      r->timer = 0; /* this timer ends with the callback */
      finish (r, ETIMEDOUT, 0);
      return EV_TIMER_DONE;
    }
  return r->idle_ms - quiet;
}

void
net_set_nodelay (int fd)
{
  int one = 1, family = 0, type = 0;
  socklen_t len = sizeof family;
  if (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0 || (family != AF_INET && family != AF_INET6))
    return;
  len = sizeof type;
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
    return;
  (void) setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct relay *
relay_start (struct ev_loop *loop, int fda, int fdb, const void *pre_b, size_t pre_b_len,
             const void *pre_a, size_t pre_a_len, const struct relay_opts *opts,
             relay_done_fn *done, void *data)
{
  struct relay *r;
  int i, e;
  if (pre_b_len > RELAY_DIR_BYTES || pre_a_len > RELAY_DIR_BYTES)
    {
      close (fda), close (fdb);
      errno = EMSGSIZE;
      return NULL;
    }
  r = calloc (1, sizeof *r);
  if (r == NULL)
    {
      close (fda), close (fdb);
      errno = ENOMEM;
      return NULL;
    }
  net_set_nodelay (fda);
  net_set_nodelay (fdb);
  r->loop = loop;
  r->fd[0] = fda, r->fd[1] = fdb;
  r->done = done, r->data = data;
  r->idle_ms = opts ? opts->idle_ms : 0;
  r->last = ev_now_ms ();
  for (i = 0; i < 2; i++)
    {
      struct relay_dir *d = &r->d[i];
      const void *pre = i == 0 ? pre_b : pre_a;
      size_t plen = i == 0 ? pre_b_len : pre_a_len;
      d->src = r->fd[i], d->dst = r->fd[1 - i];
      d->pipe[0] = d->pipe[1] = -1;
      d->no_splice = opts ? opts->no_splice : 0;
      if (plen)
        {
          if (ensure_buf (d) < 0)
            goto fail;
          memcpy (d->buf, pre, plen);
          d->len = plen;
          d->want_write = 1;
        }
      else
        d->want_read = 1;
    }
  if (set_interest (r) < 0)
    goto fail;
  if (r->idle_ms > 0)
    r->timer = ev_add_timer (loop, r->idle_ms, on_idle, r);
  return r;
fail:
  e = errno ? errno : ENOMEM;
  relay_free (r);
  errno = e;
  return NULL;
}
