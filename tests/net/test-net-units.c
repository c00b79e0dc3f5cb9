/* enclaver tests: the shared network code of runtime/net/ (HTTP head parser and writer,
 * body framing, the relay) with real sockets: Unix socket pairs and TCP on 127.0.0.1. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tap.h"
#include "common/base.h"
#include "common/xalloc.h"
#include "evloop.h"
#include "net/http.h"
#include "net/relay.h"

static int
req (const char *s, struct http_head *h)
{
  return http_parse_request (s, strlen (s), HTTP_DEFAULT_MAX_HEAD, h);
}

static int
streq (struct http_str s, const char *t)
{
  return s.len == strlen (t) && memcmp (s.p, t, s.len) == 0;
}

static void
test_request_heads (void)
{
  struct http_head h;
  const struct http_header *f;
  const char *r1 = "GET http://example.com:8080/a?b HTTP/1.1\r\nHost: example.com:8080\r\n"
                   "X-MiXed-Case:   v a l  \r\nContent-Length: 12\r\n\r\nBODY";
  size_t i;

  tap_ok (req (r1, &h) == HTTP_DONE, "request: complete head parsed");
  tap_ok (streq (h.method, "GET") && streq (h.target, "http://example.com:8080/a?b"),
          "request: method and absolute-form target");
  tap_ok (h.version_minor == 1 && h.keep_alive && h.content_length == 12 && !h.chunked,
          "request: HTTP/1.1, keep-alive, Content-Length 12");
  TAP_INT_EQ (h.head_len, strlen (r1) - 4, "request: head_len stops at the blank line");
  f = http_find_header (&h, "x-mixed-case");
  tap_ok (f && streq (f->name, "X-MiXed-Case") && streq (f->value, "v a l"),
          "request: header name case kept, value's outer white space dropped");
  /* Every proper prefix is incomplete, never bad. */
  {
    size_t hl = h.head_len;
    for (i = 0; i < hl; i++)
      if (http_parse_request (r1, i, HTTP_DEFAULT_MAX_HEAD, &h) != HTTP_INCOMPLETE)
        break;
  }
  TAP_INT_EQ (i, strlen (r1) - 4, "request: every truncation is HTTP_INCOMPLETE");

  tap_ok (req ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &h)
            == HTTP_DONE && streq (h.target, "example.com:443"),
          "request: CONNECT authority form");
  tap_ok (req ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &h) == HTTP_DONE
            && streq (h.target, "*"), "request: OPTIONS *");
  tap_ok (req ("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &h) == HTTP_DONE && !h.keep_alive
            && h.version_minor == 0, "request: leading empty lines, HTTP/1.0 closes");
  tap_ok (req ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h) == HTTP_DONE
            && h.keep_alive, "request: HTTP/1.0 with Connection: keep-alive");
  tap_ok (req ("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &h) == HTTP_DONE
            && !h.keep_alive, "request: Connection list with close");
  tap_ok (req ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h)
            == HTTP_DONE && h.chunked && h.content_length == -1,
          "request: chunked as the last coding");
  tap_ok (req ("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h)
            == HTTP_DONE && h.expect_continue, "request: Expect: 100-continue");
  tap_ok (req ("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h)
            == HTTP_DONE && h.content_length == 5, "request: repeated equal Content-Length");

  static const struct
  {
    const char *in;
    int status;
  } bad[] = {
    { "GET / HTTP/1.1\n\n", 400 },
    { "GET  / HTTP/1.1\r\n\r\n", 400 },
    { "GET / HTTP/1.1 \r\n\r\n", 400 },
    { "GET / HTTP/2.0\r\n\r\n", 505 },
    { "GET / FTP/1.0\r\n\r\n", 400 },
    { "G(T / HTTP/1.1\r\n\r\n", 400 },
    { "GET /\x01 HTTP/1.1\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
    { "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400 },
    { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400 },
    { "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
    { "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
    { "AVERYVERYVERYVERYVERYVERYLONGMETHOD / HTTP/1.1\r\n\r\n", 501 },
  };
  for (i = 0; i < ARRAY_SIZE (bad); i++)
    {
      int r = req (bad[i].in, &h);
      tap_ok (r == HTTP_BAD && h.error_status == bad[i].status && h.error != NULL,
              "request: bad input %zu gives %d (%s)", i, bad[i].status,
              r == HTTP_BAD ? h.error : "not refused");
    }
  /* Garbage is refused at its first line, not after max_head bytes. */
  tap_ok (http_parse_request ("\x16\x03\x01\x02\x00\r\n", 7, 16384, &h) == HTTP_BAD,
          "request: a TLS record is refused at once");

  /* Size limits. */
  {
    char big[300];
    memset (big, 'a', sizeof big);
    memcpy (big, "GET /", 5);
    tap_ok (http_parse_request (big, sizeof big, 256, &h) == HTTP_BAD && h.error_status == 431,
            "request: a head over max_head without an end is 431");
    tap_ok (http_parse_request (big, 200, 256, &h) == HTTP_INCOMPLETE,
            "request: under max_head it is still incomplete");
  }
  {
    char many[HTTP_MAX_HEADERS * 8 + 64];
    size_t n = (size_t) snprintf (many, sizeof many, "GET / HTTP/1.1\r\n");
    for (i = 0; i <= HTTP_MAX_HEADERS; i++)
      n += (size_t) snprintf (many + n, sizeof many - n, "A: b\r\n");
    n += (size_t) snprintf (many + n, sizeof many - n, "\r\n");
    tap_ok (http_parse_request (many, n, sizeof many, &h) == HTTP_BAD && h.error_status == 431,
            "request: more than HTTP_MAX_HEADERS fields is 431");
  }
}

static void
test_response_heads (void)
{
  struct http_head h;
  struct http_body b;
  const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1";
  tap_ok (http_parse_response (r, strlen (r), 1024, &h) == HTTP_DONE && h.status == 404
            && streq (h.reason, "Not Found") && h.content_length == 3,
          "response: status, reason, length");
  http_body_init_response (&b, &h, (struct http_str){ "GET", 3 });
  TAP_INT_EQ (http_body_feed (&b, r + h.head_len, strlen (r) - h.head_len), 3,
              "response body: Content-Length stops at 3 bytes");
  tap_ok (b.done, "response body: done");
  http_body_init_response (&b, &h, (struct http_str){ "HEAD", 4 });
  tap_ok (b.done, "response body: none after HEAD");
  tap_ok (http_parse_response ("HTTP/1.1 200\r\n\r\n", 16, 1024, &h) == HTTP_DONE
            && h.status == 200 && h.reason.len == 0, "response: no reason phrase");
  http_body_init_response (&b, &h, (struct http_str){ "GET", 3 });
  tap_ok (http_body_until_close (&b), "response body: no framing runs until close");
  tap_ok (http_parse_response ("HTTP/1.1 20x OK\r\n\r\n", 19, 1024, &h) == HTTP_BAD
            && h.error_status == 502, "response: bad status is 502");
  tap_ok (http_parse_response ("HTTP/1.1 100 Continue\r\n\r\n", 25, 1024, &h) == HTTP_DONE
            && h.status == 100, "response: 1xx head");
}

static void
test_chunked (void)
{
  static const char body[] = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                             "0\r\nTrailer: x\r\n\r\nNEXT";
  struct http_body b;
  struct http_head h;
  size_t total = strlen (body) - 4, i, used = 0;
  req ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h);
  http_body_init_request (&b, &h);
  TAP_INT_EQ (http_body_feed (&b, body, strlen (body)), total,
              "chunked: the body ends after the trailer");
  tap_ok (b.done && !b.bad, "chunked: done");
  /* Byte by byte gives the same end. */
  http_body_init_request (&b, &h);
  for (i = 0; i < strlen (body) && !b.done; i++)
    used += http_body_feed (&b, body + i, 1);
  tap_ok (b.done && used == total, "chunked: byte by byte");
  static const char *badc[] = { "x\r\n", "4\r\nWikiX\r\n", "\r\n", "1234567890123456\r\n",
                                "4\nWiki", "0\r\nA\nB" };
  for (i = 0; i < ARRAY_SIZE (badc); i++)
    {
      http_body_init_request (&b, &h);
      http_body_feed (&b, badc[i], strlen (badc[i]));
      tap_ok (b.bad, "chunked: bad framing %zu refused", i);
    }
  req ("GET / HTTP/1.1\r\n\r\n", &h);
  http_body_init_request (&b, &h);
  tap_ok (b.done && http_body_feed (&b, "GET", 3) == 0, "request without framing has no body");
}

static void
test_writer (void)
{
  char out[256];
  struct http_head h;
  int n = http_format_response (out, sizeof out, 401, "text/plain", "X-A: b\r\n", "no\n", 3, 1);
  tap_ok (n > 0 && http_parse_response (out, (size_t) n, sizeof out, &h) == HTTP_DONE
            && h.status == 401 && h.content_length == 3 && !h.keep_alive
            && (size_t) n == h.head_len + 3 && memcmp (out + h.head_len, "no\n", 3) == 0,
          "writer: the response parses back");
  tap_ok (http_find_header (&h, "X-A") != NULL, "writer: extra headers");
  TAP_INT_EQ (http_format_response (out, 20, 200, NULL, NULL, "", 0, 0), -1,
              "writer: too small a buffer is -1");
}

/* The proxy's rewritten head: worst case for its size (every field sent without the space
 * after the colon, no Host to replace), hop-by-hop fields dropped, Host replaced once. */
static void
test_forward_head (void)
{
  char in[8192], host[64];
  size_t n = 0, i, cap, len;
  char *out;
  struct http_head h;
  unsigned port = 0;
  const char *why = NULL;
  n += (size_t) snprintf (in + n, sizeof in - n, "GET http://a.example:8080/x HTTP/1.1\r\n");
  for (i = 0; i < HTTP_MAX_HEADERS; i++)
    n += (size_t) snprintf (in + n, sizeof in - n, "X%zu:v\r\n", i);
  n += (size_t) snprintf (in + n, sizeof in - n, "\r\n");
  TAP_INT_EQ (http_parse_request (in, n, sizeof in, &h), HTTP_DONE, "forward: 64 fields parse");
  cap = http_forward_head_size (&h, 2, 14);
  out = xmalloc (cap);
  len = http_format_forward_head (out, cap, &h, "/x", 2, "a.example:8080", 14);
  tap_ok (len <= cap && len > 40 && memcmp (out, "GET /x HTTP/1.1\r\nX0: v\r\nX1: v\r\n", 31) == 0
            && memcmp (out + len - 24, "Host: a.example:8080\r\n\r\n", 24) == 0
            && strstr (out, "X63: v\r\nHost") != NULL,
          "forward: worst-case head fits, Host added");
  /* 64 fields and no Host: the forwarded head would have 65, more than the proxy
   * accepts itself; with a Host among them, or a hop-by-hop field dropped, it fits */
  tap_ok (!http_forward_fits (&h), "forward: 64 fields without Host do not fit");
  {
    struct http_head f;
    tap_ok (http_parse_request (out, len, cap + 1, &f) == HTTP_BAD && f.error_status == 431,
            "forward: (the 65-field head is what the parser refuses)");
  }
  free (out);
  n = (size_t) snprintf (in, sizeof in, "GET http://a.example:8080/x HTTP/1.1\r\nHost: old\r\n");
  for (i = 1; i < HTTP_MAX_HEADERS; i++)
    n += (size_t) snprintf (in + n, sizeof in - n, "X%zu:v\r\n", i);
  n += (size_t) snprintf (in + n, sizeof in - n, "\r\n");
  TAP_INT_EQ (http_parse_request (in, n, sizeof in, &h), HTTP_DONE, "forward: 64 fields with a Host parse");
  tap_ok (http_forward_fits (&h), "forward: 64 fields with a Host fit");
  cap = http_forward_head_size (&h, 2, 14);
  out = xmalloc (cap);
  len = http_format_forward_head (out, cap, &h, "/x", 2, "a.example:8080", 14);
  {
    struct http_head f;
    tap_ok (http_parse_request (out, len, cap + 1, &f) == HTTP_DONE && f.head_len == len
              && f.nheaders == HTTP_MAX_HEADERS,
            "forward: the forwarded 64-field head parses again");
  }
  free (out);
  {
    const char *r = "GET http://b/ HTTP/1.0\r\nHost: old\r\nProxy-Connection: keep-alive\r\n"
                    "Keep-Alive: 5\r\nProxy-Authorization: x\r\nhost: dup\r\nA: 1\r\n\r\n";
    req (r, &h);
    cap = http_forward_head_size (&h, 1, 1);
    out = xmalloc (cap);
    len = http_format_forward_head (out, cap, &h, "/", 1, "b", 1);
    tap_ok (len == strlen ("GET / HTTP/1.0\r\nHost: b\r\nA: 1\r\n\r\n")
              && memcmp (out, "GET / HTTP/1.0\r\nHost: b\r\nA: 1\r\n\r\n", len) == 0,
            "forward: hop-by-hop fields dropped, one Host, order kept");
    free (out);
  }
  tap_ok (http_split_authority ("[::1]:443", 9, 0, host, sizeof host, &port, &why) == 0 && strcmp (host, "::1") == 0
            && port == 443, "authority: bracketed IPv6");
  tap_ok (http_split_authority ("a.b", 3, 80, host, sizeof host, &port, &why) == 0 && port == 80,
          "authority: default port");
  tap_ok (http_split_authority ("a.b", 3, 0, host, sizeof host, &port, &why) < 0, "authority: port required");
  tap_ok (http_split_authority ("u@a.b:1", 7, 0, host, sizeof host, &port, &why) < 0 && strstr (why, "credentials"),
          "authority: credentials refused");
  tap_ok (http_split_authority ("a.b:65536", 9, 0, host, sizeof host, &port, &why) < 0, "authority: port range");
  tap_ok (http_split_authority ("a.b:0x1", 7, 0, host, sizeof host, &port, &why) < 0, "authority: port digits");
  tap_ok (http_split_authority ("abcd:1", 6, 0, host, 4, &port, &why) < 0, "authority: host longer than the buffer");
}

/* ---- relay ---- */

static uint64_t
fnv (uint64_t h, const unsigned char *p, size_t n)
{
  while (n--)
    h = (h ^ *p++) * 1099511628211ULL;
  return h;
}

static struct relay_result got;
static int got_n;

static void
on_done (void *data, const struct relay_result *res)
{
  got = *res;
  got_n++;
  ev_stop (data);
}

static void
nonblock (int fd)
{
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
}

/* A connected TCP pair on 127.0.0.1. */
static int
tcp_pair (int sv[2])
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  int l = socket (AF_INET, SOCK_STREAM, 0);
  if (l < 0 || bind (l, (struct sockaddr *) &a, sizeof a) < 0 || listen (l, 1) < 0
      || getsockname (l, (struct sockaddr *) &a, &al) < 0)
    return -1;
  sv[0] = socket (AF_INET, SOCK_STREAM, 0);
  if (connect (sv[0], (struct sockaddr *) &a, sizeof a) < 0)
    return -1;
  sv[1] = accept (l, NULL, NULL);
  close (l);
  return sv[1] < 0 ? -1 : 0;
}

/* x0 ← test writer/reader; relay between x1 and y0; y1 ← echo.  The writer sends n
 * pseudo-random bytes then shuts its write side (the half-close must travel); the
 * echo returns everything then shuts; the reader must get the same bytes back. */
static void
relay_roundtrip (const char *what, int tcp, int no_splice, size_t n)
{
  int x[2], y[2], st;
  pid_t w, e, rd;
  uint64_t h = 1469598103934665603ULL;
  struct ev_loop *l;
  struct relay_opts o = { .idle_ms = 20000, .no_splice = no_splice };
  struct relay *r;
  unsigned char buf[65536];
  size_t i;
  int okchild = 1;

  if (tcp ? (tcp_pair (x) < 0 || tcp_pair (y) < 0)
          : (socketpair (AF_UNIX, SOCK_STREAM, 0, x) < 0
             || socketpair (AF_UNIX, SOCK_STREAM, 0, y) < 0))
    {
      tap_ok (0, "%s: socket pairs", what);
      return;
    }
  for (i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char) (i * 7 + (i >> 8));
  for (i = 0; i < n; i += sizeof buf)
    h = fnv (h, buf, n - i < sizeof buf ? n - i : sizeof buf);
  if ((w = fork ()) == 0)
    {
      close (x[1]), close (y[0]), close (y[1]);
      for (i = 0; i < n; i += sizeof buf)
        if (write (x[0], buf, n - i < sizeof buf ? n - i : sizeof buf) < 0)
          _exit (2);
      shutdown (x[0], SHUT_WR);
      _exit (0);
    }
  if ((rd = fork ()) == 0)
    {
      uint64_t hh = 1469598103934665603ULL;
      size_t tot = 0;
      ssize_t k;
      close (x[1]), close (y[0]), close (y[1]);
      while ((k = read (x[0], buf, sizeof buf)) > 0)
        hh = fnv (hh, buf, (size_t) k), tot += (size_t) k;
      _exit (k == 0 && tot == n && hh == h ? 0 : 3);
    }
  if ((e = fork ()) == 0)
    {
      ssize_t k;
      close (x[0]), close (x[1]), close (y[0]);
      while ((k = read (y[1], buf, sizeof buf)) > 0)
        if (write (y[1], buf, (size_t) k) != k)
          _exit (2);
      shutdown (y[1], SHUT_WR);
      _exit (k == 0 ? 0 : 3);
    }
  close (x[0]), close (y[1]);
  nonblock (x[1]), nonblock (y[0]);
  /* The loop after the forks: the children _exit without it (no leak to report). */
  l = ev_loop_new ();
  got_n = 0;
  r = relay_start (l, x[1], y[0], NULL, 0, NULL, 0, &o, on_done, l);
  tap_ok (r != NULL, "%s: relay started", what);
  ev_run (l);
  TAP_INT_EQ (got_n, 1, "%s: done called once", what);
  tap_ok (got.err == 0 && got.a_to_b == n && got.b_to_a == n,
          "%s: %zu bytes each way, clean end (err %d, %llu/%llu)", what, n, got.err,
          (unsigned long long) got.a_to_b, (unsigned long long) got.b_to_a);
  waitpid (w, &st, 0);
  okchild &= WIFEXITED (st) && WEXITSTATUS (st) == 0;
  waitpid (e, &st, 0);
  okchild &= WIFEXITED (st) && WEXITSTATUS (st) == 0;
  waitpid (rd, &st, 0);
  tap_ok (okchild && WIFEXITED (st) && WEXITSTATUS (st) == 0,
          "%s: the bytes came back intact after the half-close", what);
  ev_loop_free (l);
}

static void
test_relay_misc (void)
{
  int x[2], y[2];
  char b[16];
  struct ev_loop *l = ev_loop_new ();
  struct relay_opts o = { .idle_ms = 100 };
  struct relay *r;
  long long t0;

  /* Idle timeout; the pre-data is delivered first. */
  socketpair (AF_UNIX, SOCK_STREAM, 0, x);
  socketpair (AF_UNIX, SOCK_STREAM, 0, y);
  nonblock (x[1]), nonblock (y[0]);
  got_n = 0;
  r = relay_start (l, x[1], y[0], "hello", 5, "HI", 2, &o, on_done, l);
  t0 = ev_now_ms ();
  ev_run (l);
  tap_ok (r && got_n == 1 && got.err == ETIMEDOUT, "relay: idle timeout ends it with ETIMEDOUT");
  tap_ok (ev_now_ms () - t0 >= 100, "relay: not before idle_ms");
  tap_ok (read (y[1], b, sizeof b) == 5 && memcmp (b, "hello", 5) == 0,
          "relay: pre-data for b delivered");
  tap_ok (read (x[0], b, sizeof b) == 2 && memcmp (b, "HI", 2) == 0,
          "relay: pre-data for a delivered");
  tap_ok (read (x[0], b, sizeof b) == 0 && read (y[1], b, sizeof b) == 0,
          "relay: both descriptors closed at the end");
  close (x[0]), close (y[1]);

  /* TCP descriptors get TCP_NODELAY (a relayed small write goes out at once instead of
   * waiting for the peer's delayed ACK); the Unix one is left as it is. */
  socketpair (AF_UNIX, SOCK_STREAM, 0, x);
  tcp_pair (y);
  nonblock (x[1]), nonblock (y[0]);
  {
    int nd = -1;
    socklen_t nl = sizeof nd;
    getsockopt (y[0], IPPROTO_TCP, TCP_NODELAY, &nd, &nl);
    tap_ok (nd == 0, "tcp pair starts with Nagle on");
    r = relay_start (l, x[1], y[0], NULL, 0, NULL, 0, &o, on_done, l);
    nd = -1, nl = sizeof nd;
    tap_ok (r && getsockopt (y[0], IPPROTO_TCP, TCP_NODELAY, &nd, &nl) == 0 && nd == 1,
            "relay: TCP_NODELAY set on its TCP descriptor");
    net_set_nodelay (x[0]); /* a Unix socket: no error, no change */
    tap_ok (getsockopt (x[0], IPPROTO_TCP, TCP_NODELAY, &nd, &nl) != 0, "net_set_nodelay leaves a Unix socket alone");
    relay_abort (r);
    close (x[0]), close (y[1]);
  }

  /* A reset on one side ends the relay with an error naming that side. */
  socketpair (AF_UNIX, SOCK_STREAM, 0, x);
  tcp_pair (y);
  nonblock (x[1]), nonblock (y[0]);
  {
    struct linger lg = { 1, 0 };
    setsockopt (y[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close (y[1]); /* RST */
  }
  got_n = 0;
  o.idle_ms = 5000;
  r = relay_start (l, x[1], y[0], NULL, 0, NULL, 0, &o, on_done, l);
  ev_run (l);
  tap_ok (r && got_n == 1 && got.err == ECONNRESET && got.err_side == 'b',
          "relay: reset of b is ECONNRESET on side b (err %d side %c)", got.err,
          got.err_side ? got.err_side : '-');
  close (x[0]);

  errno = 0;
  socketpair (AF_UNIX, SOCK_STREAM, 0, x);
  {
    static char huge[RELAY_DIR_BYTES + 1];
    tap_ok (relay_start (l, x[0], x[1], huge, sizeof huge, NULL, 0, NULL, NULL, NULL) == NULL
              && errno == EMSGSIZE && fcntl (x[0], F_GETFD) < 0,
            "relay: too much pre-data is refused, descriptors closed");
  }
  ev_loop_free (l);
}

int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  test_request_heads ();
  test_response_heads ();
  test_chunked ();
  test_writer ();
  test_forward_head ();
  relay_roundtrip ("relay unix splice", 0, 0, 8u << 20);
  relay_roundtrip ("relay unix buffers", 0, 1, 8u << 20);
  relay_roundtrip ("relay tcp splice", 1, 0, 8u << 20);
  relay_roundtrip ("relay tcp small", 1, 0, 1);
  relay_roundtrip ("relay empty", 0, 0, 0);
  test_relay_misc ();
  return tap_done ();
}
