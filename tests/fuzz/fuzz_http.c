/* enclaver: libFuzzer target for the egress proxy's request parser: the bounded
 * HTTP/1.1 head parser and body framing (runtime/net/http.c) and what the proxy
 * (runtime/supervisor/egress.c) does with a parsed head: split the CONNECT target or
 * the absolute URL's authority, check the host against an egress policy, write the
 * origin-form head it forwards, frame the body; then the same for the response side.
 *
 * The proxy's own glue (handle_request) is a static function driven by its event loop
 * and sockets, so this target calls the same functions in the same order on the bytes
 * a client sent: the input.  The parser is incremental: on every prefix shorter than
 * the head it must say "incomplete", and on the head alone what it says on all. */
#include "config.h"

#include <strings.h>

#include "common/netpolicy.h"
#include "net/http.h"

#include "fuzz.h"

#define MAX_HEAD 8192

static struct netpolicy *pol;

static void
same_head (const struct http_head *a, const struct http_head *b)
{
  FUZZ_CHECK (a->head_len == b->head_len && a->nheaders == b->nheaders && a->chunked == b->chunked
              && a->content_length == b->content_length && a->keep_alive == b->keep_alive);
}

static void
authority (const char *p, size_t len, unsigned dflt)
{
  char host[256];
  unsigned port = 0;
  const char *why = NULL;
  struct netpolicy_verdict v;
  if (http_split_authority (p, len, dflt, host, sizeof host, &port, &why) < 0)
    {
      FUZZ_CHECK (why != NULL);
      return;
    }
  FUZZ_CHECK (port >= 1 && port <= 65535 && strlen (host) < sizeof host);
  int allowed = netpolicy_check (pol, host, &v);
  FUZZ_CHECK (allowed == v.allowed && (v.list == 0 || v.rule != NULL));
}

static void
request (const char *buf, size_t size)
{
  struct http_head h, h2;
  enum http_result r = http_parse_request (buf, size, MAX_HEAD, &h);
  FUZZ_CHECK (r == HTTP_DONE || r == HTTP_INCOMPLETE || r == HTTP_BAD);
  if (r == HTTP_BAD)
    FUZZ_CHECK (h.error_status >= 400 && h.error_status <= 599);
  if (r != HTTP_DONE)
    return;
  FUZZ_CHECK (h.head_len >= 4 && h.head_len <= size && h.head_len <= MAX_HEAD && h.nheaders <= HTTP_MAX_HEADERS);
  FUZZ_CHECK (memcmp (buf + h.head_len - 2, "\r\n", 2) == 0 || buf[h.head_len - 1] == '\n');
  /* incremental: the head alone parses the same, one byte less is incomplete */
  FUZZ_CHECK (http_parse_request (buf, h.head_len, MAX_HEAD, &h2) == HTTP_DONE);
  same_head (&h, &h2);
  FUZZ_CHECK (http_parse_request (buf, h.head_len - 1, MAX_HEAD, &h2) == HTTP_INCOMPLETE);

  if (http_str_ieq (h.method, "CONNECT"))
    {
      authority (h.target.p, h.target.len, 0);
      return;
    }
  const char *t = h.target.p, *auth, *pathp;
  size_t tl = h.target.len;
  if (tl < 7 || strncasecmp (t, "http://", 7) != 0)
    return;
  auth = t + 7;
  pathp = auth;
  while (pathp < t + tl && *pathp != '/' && *pathp != '?')
    pathp++;
  size_t al = (size_t) (pathp - auth), pl = (size_t) (t + tl - pathp);
  authority (auth, al, 80);
  if (!http_forward_fits (&h))
    return; /* the proxy answers 431 */
  const char *origin = pl ? pathp : "/";
  size_t olen = pl ? pl : 1;
  size_t need = http_forward_head_size (&h, olen, al);
  char *out = malloc (need);
  FUZZ_CHECK (out != NULL);
  size_t n = http_format_forward_head (out, need, &h, origin, olen, auth, al);
  FUZZ_CHECK (n > 0 && n <= need);
  /* what the proxy forwards is a head it would parse itself */
  struct http_head f;
  enum http_result fr = http_parse_request (out, n, need + 1, &f);
  FUZZ_CHECK (fr == HTTP_DONE && f.head_len == n);
  FUZZ_CHECK (http_find_header (&f, "Proxy-Connection") == NULL && http_find_header (&f, "Host") != NULL);
  free (out);

  struct http_body b;
  http_body_init_request (&b, &h);
  size_t used = http_body_feed (&b, buf + h.head_len, size - h.head_len);
  FUZZ_CHECK (b.bad || used <= size - h.head_len);
}

static void
response (const char *buf, size_t size)
{
  struct http_head h;
  static const struct http_str methods[] = { { "GET", 3 }, { "HEAD", 4 }, { "CONNECT", 7 } };
  enum http_result r = http_parse_response (buf, size, MAX_HEAD, &h);
  if (r != HTTP_DONE)
    return;
  FUZZ_CHECK (h.status >= 100 && h.status <= 999 && h.head_len <= size);
  for (size_t i = 0; i < 3; i++)
    {
      struct http_body b;
      http_body_init_response (&b, &h, methods[i]);
      size_t used = http_body_feed (&b, buf + h.head_len, size - h.head_len);
      FUZZ_CHECK (b.bad || used <= size - h.head_len);
      (void) http_body_until_close (&b);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (pol == NULL)
    {
      static const char *const allow[] = { "*.example.com", "10.0.0.0/8", "api.github.com", "[::1]" };
      static const char *const deny[] = { "169.254.169.254", "*.internal.example.com" };
      char err[256];
      pol = netpolicy_new (allow, 4, deny, 2, err, sizeof err);
      if (pol == NULL)
        {
          fprintf (stderr, "policy: %s\n", err);
          abort ();
        }
    }
  request ((const char *) data, size);
  response ((const char *) data, size);
  return 0;
}
