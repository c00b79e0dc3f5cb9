/* enclaver bench: the load generator and the servers of bench/net.sh (docs/performance.md,
 * "Network").  Standalone (libc only): net.sh compiles it with cc -O2, so that neither
 * the client nor the servers are what limits the figures, which Python would on this
 * machine.  Everything binds and connects to 127.0.0.1 only.
 *
 *   net-load stream-server PORTFILE
 *       TCP server on 127.0.0.1 (an ephemeral port, written to PORTFILE).  Each connection
 *       starts with a 9-byte command: 'D' + u64 LE N: the server writes N bytes and
 *       closes; 'U' + u64 LE N: the server reads N bytes, then writes back the 8-byte
 *       count it read and closes.  epoll, one thread.
 *   net-load stream PORT up|down BYTES CONNS [PROXY_TARGET]
 *       CONNS connections to 127.0.0.1:PORT at once, each moving BYTES/CONNS bytes in
 *       the given direction; with PROXY_TARGET (host:port) each first sends
 *       "CONNECT PROXY_TARGET HTTP/1.1" and waits for a 200.  The clock starts once
 *       every tunnel is established and stops at the last byte (down) or at the last
 *       server's count (up).  Prints one JSON line.
 *   net-load http-server PORTFILE [split]
 *       HTTP/1.1 server on 127.0.0.1 that answers every request with a fixed 2-byte
 *       body, keep-alive unless the request says Connection: close.  With split, the
 *       head and the body go out in two send() calls (TCP_NODELAY is on either way), as
 *       servers that flush the head before the body do.
 *   net-load http PORT CONNS SECONDS keepalive|close
 *       Closed loop: CONNS clients, each with one request outstanding, for SECONDS
 *       (after 0.5 s of warm-up); keepalive reuses the connection, close opens a new
 *       one per request (the time includes connect).  Prints one JSON line with the
 *       requests per second and the p50/p90/p99/p99.9 latency in microseconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define MAXEV 256

static char chunk[CHUNK];

static void
die (const char *what)
{
  fprintf (stderr, "net-load: %s: %s\n", what, strerror (errno));
  exit (1);
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
nonblock (int fd)
{
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
}

static int
listen_local (const char *portfile)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int one = 1, fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FILE *f;
  char tmp[4096];
  if (fd < 0)
    die ("socket");
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || listen (fd, 4096) < 0)
    die ("bind/listen 127.0.0.1");
  getsockname (fd, (struct sockaddr *) &a, &len);
  nonblock (fd);
  snprintf (tmp, sizeof tmp, "%s.tmp", portfile);
  f = fopen (tmp, "w");
  if (f == NULL)
    die (tmp);
  fprintf (f, "%u\n", ntohs (a.sin_port));
  if (fclose (f) != 0 || rename (tmp, portfile) < 0)
    die (portfile);
  return fd;
}

static int
connect_local (int port)
{
  struct sockaddr_in a;
  int one = 1, fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die ("socket");
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons ((uint16_t) port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (fd, (struct sockaddr *) &a, sizeof a) < 0)
    die ("connect 127.0.0.1");
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void
epoll_set (int ep, int op, int fd, uint32_t ev, void *ptr)
{
  struct epoll_event e;
  e.events = ev;
  e.data.ptr = ptr;
  if (epoll_ctl (ep, op, fd, &e) < 0 && op != EPOLL_CTL_DEL)
    die ("epoll_ctl");
}

/* ---- stream server ---- */

struct sconn
{
  int fd;
  int lfd_tag; /* 1 for the listener's entry */
  unsigned char cmd[9];
  size_t cmdlen;
  uint64_t n, done;
  unsigned char reply[8];
  size_t replylen;
};

static void
sconn_close (struct sconn *c)
{
  close (c->fd);
  free (c);
}

static _Noreturn void
stream_server (const char *portfile)
{
  struct sconn lst = { 0 };
  struct epoll_event ev[MAXEV];
  int ep = epoll_create1 (EPOLL_CLOEXEC);
  lst.fd = listen_local (portfile);
  lst.lfd_tag = 1;
  epoll_set (ep, EPOLL_CTL_ADD, lst.fd, EPOLLIN, &lst);
  for (;;)
    {
      int n = epoll_wait (ep, ev, MAXEV, -1), i;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("epoll_wait");
      for (i = 0; i < n; i++)
        {
          struct sconn *c = ev[i].data.ptr;
          ssize_t r;
          if (c->lfd_tag)
            {
              int fd;
              while ((fd = accept4 (lst.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
                {
                  struct sconn *s = calloc (1, sizeof *s);
                  s->fd = fd;
                  epoll_set (ep, EPOLL_CTL_ADD, fd, EPOLLIN, s);
                }
              continue;
            }
          if (c->cmdlen < 9)
            {
              r = read (c->fd, c->cmd + c->cmdlen, 9 - c->cmdlen);
              if (r <= 0)
                {
                  if (r < 0 && errno == EAGAIN)
                    continue;
                  sconn_close (c);
                  continue;
                }
              c->cmdlen += (size_t) r;
              if (c->cmdlen < 9)
                continue;
              memcpy (&c->n, c->cmd + 1, 8);
              if (c->cmd[0] == 'D')
                epoll_set (ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
              else if (c->cmd[0] != 'U')
                {
                  sconn_close (c);
                  continue;
                }
            }
          if (c->cmd[0] == 'D')
            {
              while (c->done < c->n)
                {
                  size_t want = c->n - c->done < CHUNK ? (size_t) (c->n - c->done) : CHUNK;
                  r = send (c->fd, chunk, want, MSG_NOSIGNAL);
                  if (r < 0)
                    break;
                  c->done += (uint64_t) r;
                }
              if (c->done == c->n || (errno != EAGAIN && errno != EINTR))
                sconn_close (c);
              continue;
            }
          /* 'U': read N, then answer the count */
          if (c->done < c->n)
            {
              static char sink[CHUNK];
              while (c->done < c->n && (r = read (c->fd, sink, sizeof sink)) > 0)
                c->done += (uint64_t) r;
              if (c->done < c->n)
                {
                  if (r == 0 || (r < 0 && errno != EAGAIN))
                    sconn_close (c);
                  continue;
                }
              memcpy (c->reply, &c->done, 8);
              c->replylen = 0;
            }
          r = send (c->fd, c->reply + c->replylen, 8 - c->replylen, MSG_NOSIGNAL);
          if (r > 0)
            c->replylen += (size_t) r;
          if (c->replylen == 8 || (r < 0 && errno != EAGAIN))
            sconn_close (c);
          else
            epoll_set (ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
        }
    }
}

/* ---- stream client ---- */

struct cconn
{
  int fd;
  uint64_t want, done;
  int finished;
};

/* Blocking: CONNECT through the proxy, read the head up to the blank line, expect 200. */
static void
proxy_connect (int fd, const char *target)
{
  char req[512], head[4096];
  size_t len = 0;
  int n = snprintf (req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
  if (write (fd, req, (size_t) n) != n)
    die ("write CONNECT");
  while (len < sizeof head - 1)
    {
      ssize_t r = read (fd, head + len, 1); /* byte by byte: nothing past the head is eaten */
      if (r <= 0)
        die ("read CONNECT reply");
      len++;
      if (len >= 4 && memcmp (head + len - 4, "\r\n\r\n", 4) == 0)
        break;
    }
  head[len] = '\0';
  if (strncmp (head, "HTTP/1.1 200", 12) != 0)
    {
      fprintf (stderr, "net-load: CONNECT %s: %s\n", target, head);
      exit (1);
    }
}

static int
stream_client (int port, const char *dir, uint64_t bytes, int conns, const char *target)
{
  struct cconn *cs = calloc ((size_t) conns, sizeof *cs);
  struct epoll_event ev[MAXEV];
  int ep = epoll_create1 (EPOLL_CLOEXEC), i, left = conns, up = strcmp (dir, "up") == 0;
  double t0, t1;
  for (i = 0; i < conns; i++)
    {
      unsigned char cmd[9];
      uint64_t share = bytes / (uint64_t) conns + ((uint64_t) i < bytes % (uint64_t) conns);
      cs[i].fd = connect_local (port);
      if (target)
        proxy_connect (cs[i].fd, target);
      cs[i].want = share;
      cmd[0] = up ? 'U' : 'D';
      memcpy (cmd + 1, &share, 8);
      if (write (cs[i].fd, cmd, 9) != 9)
        die ("write command");
    }
  t0 = now_s ();
  for (i = 0; i < conns; i++)
    {
      nonblock (cs[i].fd);
      epoll_set (ep, EPOLL_CTL_ADD, cs[i].fd, up ? EPOLLOUT : EPOLLIN, &cs[i]);
    }
  while (left > 0)
    {
      int n = epoll_wait (ep, ev, MAXEV, 60000);
      if (n == 0)
        {
          fprintf (stderr, "net-load: stalled for 60 s with %d connections unfinished\n", left);
          exit (1);
        }
      for (i = 0; i < n; i++)
        {
          struct cconn *c = ev[i].data.ptr;
          ssize_t r;
          if (up && c->done < c->want)
            {
              while (c->done < c->want)
                {
                  size_t w = c->want - c->done < CHUNK ? (size_t) (c->want - c->done) : CHUNK;
                  r = send (c->fd, chunk, w, MSG_NOSIGNAL);
                  if (r < 0)
                    {
                      if (errno != EAGAIN)
                        die ("send");
                      break;
                    }
                  c->done += (uint64_t) r;
                }
              if (c->done == c->want)
                epoll_set (ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
              continue;
            }
          if (up)
            {
              uint64_t got;
              r = read (c->fd, &got, 8);
              if (r < 0 && errno == EAGAIN)
                continue;
              if (r != 8 || got != c->want)
                {
                  fprintf (stderr, "net-load: upload: the server counted %s bytes\n", r == 8 ? "other" : "no");
                  exit (1);
                }
            }
          else
            {
              static char buf[CHUNK];
              while ((r = read (c->fd, buf, sizeof buf)) > 0)
                c->done += (uint64_t) r;
              if (r < 0 && errno == EAGAIN)
                continue;
              if (r < 0)
                die ("read");
              if (c->done != c->want)
                {
                  fprintf (stderr, "net-load: download: %" PRIu64 " of %" PRIu64 " bytes before the end\n", c->done,
                           c->want);
                  exit (1);
                }
            }
          epoll_set (ep, EPOLL_CTL_DEL, c->fd, 0, NULL);
          close (c->fd);
          left--;
        }
    }
  t1 = now_s ();
  printf ("{\"bytes\": %" PRIu64 ", \"conns\": %d, \"seconds\": %.4f, \"mib_s\": %.1f}\n", bytes, conns, t1 - t0,
          (double) bytes / 1048576.0 / (t1 - t0));
  return 0;
}

/* ---- HTTP server ---- */

static const char resp_ka[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
static const char resp_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
                                 "Connection: close\r\n\r\nok";

static int http_split;

struct hconn
{
  int fd, is_listener;
  char buf[4096];
  size_t len;
};

static _Noreturn void
http_server (const char *portfile)
{
  struct hconn lst = { 0 };
  struct epoll_event ev[MAXEV];
  int ep = epoll_create1 (EPOLL_CLOEXEC);
  lst.fd = listen_local (portfile);
  lst.is_listener = 1;
  epoll_set (ep, EPOLL_CTL_ADD, lst.fd, EPOLLIN, &lst);
  for (;;)
    {
      int n = epoll_wait (ep, ev, MAXEV, -1), i;
      if (n < 0 && errno == EINTR)
        continue;
      for (i = 0; i < n; i++)
        {
          struct hconn *c = ev[i].data.ptr;
          ssize_t r;
          char *end;
          if (c->is_listener)
            {
              int fd, one = 1;
              while ((fd = accept4 (lst.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
                {
                  struct hconn *h = calloc (1, sizeof *h);
                  h->fd = fd;
                  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                  epoll_set (ep, EPOLL_CTL_ADD, fd, EPOLLIN, h);
                }
              continue;
            }
          r = read (c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
          if (r < 0 && errno == EAGAIN)
            continue;
          if (r <= 0)
            {
              close (c->fd);
              free (c);
              continue;
            }
          c->len += (size_t) r;
          c->buf[c->len] = '\0';
          /* Requests have no body here; answer each complete head (pipelining too).  The
           * answers are tiny: a short write is not expected on a fresh socket buffer. */
          while ((end = strstr (c->buf, "\r\n\r\n")) != NULL)
            {
              size_t hl = (size_t) (end + 4 - c->buf);
              int close_it = memmem (c->buf, hl, "Connection: close", 17) != NULL;
              const char *resp = close_it ? resp_close : resp_ka;
              size_t rl = close_it ? sizeof resp_close - 1 : sizeof resp_ka - 1;
              size_t first = http_split ? rl - 2 : rl;
              if (send (c->fd, resp, first, MSG_NOSIGNAL) != (ssize_t) first
                  || (http_split && send (c->fd, resp + first, 2, MSG_NOSIGNAL) != 2) || close_it)
                {
                  close (c->fd);
                  free (c);
                  c = NULL;
                  break;
                }
              memmove (c->buf, c->buf + hl, c->len - hl + 1);
              c->len -= hl;
            }
          if (c && c->len >= sizeof c->buf - 1)
            {
              close (c->fd);
              free (c);
            }
        }
    }
}

/* ---- HTTP client ---- */

struct hcl
{
  int fd;
  long long t0;
  char buf[1024];
  size_t len;
};

static const char req_ka[] = "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: net-load\r\n\r\n";
static const char req_close[] = "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: net-load\r\n"
                                "Connection: close\r\n\r\n";

static long long *lat;
static size_t nlat, caplat;

static int
cmp_ll (const void *a, const void *b)
{
  long long x = *(const long long *) a, y = *(const long long *) b;
  return x < y ? -1 : x > y;
}

static void
hcl_send (int ep, struct hcl *c, int port, int keepalive, int first)
{
  const char *req = keepalive ? req_ka : req_close;
  size_t rl = keepalive ? sizeof req_ka - 1 : sizeof req_close - 1;
  c->t0 = now_ns ();
  if (!keepalive || first)
    {
      c->fd = connect_local (port); /* blocking connect: part of the request's time */
      nonblock (c->fd);
      epoll_set (ep, EPOLL_CTL_ADD, c->fd, EPOLLIN, c);
    }
  c->len = 0;
  if (send (c->fd, req, rl, MSG_NOSIGNAL) != (ssize_t) rl)
    die ("send request");
}

static int
http_client (int port, int conns, double seconds, int keepalive)
{
  struct hcl *cs = calloc ((size_t) conns, sizeof *cs);
  struct epoll_event ev[MAXEV];
  int ep = epoll_create1 (EPOLL_CLOEXEC), i;
  double start = now_s (), warm = start + 0.5, stop = warm + seconds, tw = 0;
  size_t counted = 0;
  caplat = 1 << 20;
  lat = malloc (caplat * sizeof *lat);
  for (i = 0; i < conns; i++)
    hcl_send (ep, &cs[i], port, keepalive, 1);
  for (;;)
    {
      int n = epoll_wait (ep, ev, MAXEV, 10000);
      double t = now_s ();
      if (n == 0)
        {
          fprintf (stderr, "net-load: no answer for 10 s\n");
          exit (1);
        }
      if (t >= stop)
        break;
      if (tw == 0 && t >= warm)
        tw = t, nlat = 0, counted = 0;
      for (i = 0; i < n; i++)
        {
          struct hcl *c = ev[i].data.ptr;
          ssize_t r = read (c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
          char *end;
          if (r < 0 && errno == EAGAIN)
            continue;
          if (r <= 0)
            {
              fprintf (stderr, "net-load: the server closed before the answer (%s)\n", r ? strerror (errno) : "EOF");
              exit (1);
            }
          c->len += (size_t) r;
          c->buf[c->len] = '\0';
          end = strstr (c->buf, "\r\n\r\n");
          if (end == NULL || c->len < (size_t) (end + 4 - c->buf) + 2)
            continue;
          if (strncmp (c->buf, "HTTP/1.1 200", 12) != 0)
            {
              fprintf (stderr, "net-load: answer: %.60s\n", c->buf);
              exit (1);
            }
          if (nlat == caplat)
            lat = realloc (lat, (caplat *= 2) * sizeof *lat);
          lat[nlat++] = now_ns () - c->t0;
          counted++;
          if (!keepalive)
            {
              epoll_set (ep, EPOLL_CTL_DEL, c->fd, 0, NULL);
              close (c->fd);
            }
          hcl_send (ep, c, port, keepalive, 0);
        }
    }
  {
    double el = now_s () - (tw ? tw : start);
    qsort (lat, nlat, sizeof *lat, cmp_ll);
#define PCT(p) (nlat ? (double) lat[(size_t) ((double) (nlat - 1) * (p))] / 1000.0 : 0.0)
    printf ("{\"conns\": %d, \"mode\": \"%s\", \"requests\": %zu, \"rps\": %.0f, \"p50_us\": %.1f, "
            "\"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f}\n",
            conns, keepalive ? "keepalive" : "close", counted, (double) counted / el, PCT (0.5), PCT (0.9), PCT (0.99),
            PCT (0.999));
  }
  return 0;
}

int
main (int argc, char **argv)
{
  signal (SIGPIPE, SIG_IGN);
  memset (chunk, 'x', sizeof chunk);
  if (argc == 3 && strcmp (argv[1], "stream-server") == 0)
    stream_server (argv[2]);
  if ((argc == 6 || argc == 7) && strcmp (argv[1], "stream") == 0)
    return stream_client (atoi (argv[2]), argv[3], strtoull (argv[4], NULL, 10), atoi (argv[5]),
                          argc == 7 ? argv[6] : NULL);
  if ((argc == 3 || (argc == 4 && strcmp (argv[3], "split") == 0)) && strcmp (argv[1], "http-server") == 0)
    {
      http_split = argc == 4;
      http_server (argv[2]);
    }
  if (argc == 6 && strcmp (argv[1], "http") == 0)
    return http_client (atoi (argv[2]), atoi (argv[3]), atof (argv[4]), strcmp (argv[5], "keepalive") == 0);
  fprintf (stderr, "usage: net-load stream-server PORTFILE | stream PORT up|down BYTES CONNS [HOST:PORT] |\n"
                   "       http-server PORTFILE [split] | http PORT CONNS SECONDS keepalive|close\n");
  return 2;
}
