/* enclaver runtime: the HTTP/1.1 head parser and response writer (see http.h).
 *
 * Line by line over the bytes read so far: each complete line is checked as it comes,
 * so garbage is refused after its first line instead of after max_head bytes.  The
 * grammar is RFC 9112's, strictly: CRLF line ends, no white space before the colon, no
 * obsolete line folding, a known HTTP/1 version.  A request carrying both
 * Transfer-Encoding and Content-Length is refused (request smuggling, RFC 9112 §6.1). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

#define HTTP_MAX_METHOD 32
#define HTTP_MAX_CHUNK_LINE 4096 /* a chunk-size line or trailer field */

static int
is_tchar (unsigned char c)
{
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
lower (int c)
{
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int
http_str_ieq (struct http_str s, const char *t)
{
  size_t n = strlen (t), i;
  if (s.len != n)
    return 0;
  for (i = 0; i < n; i++)
    if (lower ((unsigned char) s.p[i]) != lower ((unsigned char) t[i]))
      return 0;
  return 1;
}

const struct http_header *
http_find_header (const struct http_head *h, const char *name)
{
  size_t i;
  for (i = 0; i < h->nheaders; i++)
    if (http_str_ieq (h->headers[i].name, name))
      return &h->headers[i];
  return NULL;
}

static enum http_result
bad (struct http_head *h, int status, const char *why)
{
  h->error_status = status;
  h->error = why;
  return HTTP_BAD;
}

/* "HTTP/1.x" at p (8 bytes). 0 or 1 into *minor; -1 not HTTP at all, -2 another version */
static int
parse_version (const char *p, size_t len, int *minor)
{
  if (len != 8 || memcmp (p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.'
      || p[7] < '0' || p[7] > '9')
    return -1;
  if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
    return -2;
  *minor = p[7] - '0';
  return 0;
}

static enum http_result
parse_request_line (const char *p, size_t len, struct http_head *h)
{
  size_t i = 0, m, t;
  int v;
  while (i < len && is_tchar ((unsigned char) p[i]))
    i++;
  if (i == 0 || i >= len || p[i] != ' ')
    return bad (h, 400, "malformed request line");
  if (i > HTTP_MAX_METHOD)
    return bad (h, 501, "method too long");
  m = i++;
  t = i;
  while (i < len && (unsigned char) p[i] > 0x20 && (unsigned char) p[i] < 0x7f)
    i++;
  if (i == t || i >= len || p[i] != ' ')
    return bad (h, 400, "malformed request target");
  h->method.p = p, h->method.len = m;
  h->target.p = p + t, h->target.len = i - t;
  v = parse_version (p + i + 1, len - i - 1, &h->version_minor);
  if (v == -1)
    return bad (h, 400, "malformed HTTP version");
  if (v == -2)
    return bad (h, 505, "HTTP version not supported");
  return HTTP_DONE;
}

static enum http_result
parse_status_line (const char *p, size_t len, struct http_head *h)
{
  size_t i;
  int v;
  if (len < 12 || p[8] != ' ')
    return bad (h, 502, "malformed status line");
  v = parse_version (p, 8, &h->version_minor);
  if (v < 0)
    return bad (h, 502, "malformed HTTP version in status line");
  for (i = 9; i < 12; i++)
    if (p[i] < '0' || p[i] > '9')
      return bad (h, 502, "malformed status code");
  h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (h->status < 100)
    return bad (h, 502, "malformed status code");
  if (len > 12 && p[12] != ' ')
    return bad (h, 502, "malformed status line");
  h->reason.p = len > 13 ? p + 13 : p + len;
  h->reason.len = len > 13 ? len - 13 : 0;
  for (i = 0; i < h->reason.len; i++)
    {
      unsigned char c = (unsigned char) h->reason.p[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return bad (h, 502, "control character in reason phrase");
    }
  return HTTP_DONE;
}

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static int
list_has (struct http_str v, const char *tok)
{
  size_t i = 0;
  while (i < v.len)
    {
      size_t s, e;
      while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
        i++;
      s = i;
      while (i < v.len && v.p[i] != ',')
        i++;
      e = i;
      while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
        e--;
      if (e > s && http_str_ieq ((struct http_str){ v.p + s, e - s }, tok))
        return 1;
    }
  return 0;
}

/* The last element of the list v is tok? */
static int
list_last_is (struct http_str v, const char *tok)
{
  size_t e = v.len, s;
  while (e > 0 && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t' || v.p[e - 1] == ','))
    e--;
  s = e;
  while (s > 0 && v.p[s - 1] != ',')
    s--;
  while (s < e && (v.p[s] == ' ' || v.p[s] == '\t'))
    s++;
  return http_str_ieq ((struct http_str){ v.p + s, e - s }, tok);
}

static enum http_result
parse_field (const char *p, size_t len, struct http_head *h, int request)
{
  size_t i = 0, vs, ve, nlen;
  int err = request ? 400 : 502;
  struct http_header *f;
  if (p[0] == ' ' || p[0] == '\t')
    return bad (h, err, "obsolete line folding in header");
  while (i < len && is_tchar ((unsigned char) p[i]))
    i++;
  if (i == 0 || i >= len || p[i] != ':')
    return bad (h, err, "malformed header field");
  if (h->nheaders == HTTP_MAX_HEADERS)
    return bad (h, request ? 431 : 502, "too many header fields");
  nlen = i;
  vs = i + 1;
  while (vs < len && (p[vs] == ' ' || p[vs] == '\t'))
    vs++;
  ve = len;
  while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
    ve--;
  for (i = vs; i < ve; i++)
    {
      unsigned char c = (unsigned char) p[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return bad (h, err, "control character in header value");
    }
  f = &h->headers[h->nheaders++];
  f->name.p = p, f->name.len = nlen;
  f->value.p = p + vs, f->value.len = ve - vs;
  return HTTP_DONE;
}

/* Framing and connection semantics from the fields. */
static enum http_result
finish_head (struct http_head *h, int request)
{
  size_t i;
  int have_te = 0, close_tok = 0, ka_tok = 0;
  for (i = 0; i < h->nheaders; i++)
    {
      const struct http_header *f = &h->headers[i];
      if (http_str_ieq (f->name, "Content-Length"))
        {
          int64_t n = 0;
          size_t k;
          if (f->value.len == 0)
            return bad (h, request ? 400 : 502, "empty Content-Length");
          for (k = 0; k < f->value.len; k++)
            {
              char c = f->value.p[k];
              if (c < '0' || c > '9' || n > (INT64_MAX - 9) / 10)
                return bad (h, request ? 400 : 502, "invalid Content-Length");
              n = n * 10 + (c - '0');
            }
          if (h->content_length >= 0 && h->content_length != n)
            return bad (h, request ? 400 : 502, "conflicting Content-Length fields");
          h->content_length = n;
        }
      else if (http_str_ieq (f->name, "Transfer-Encoding"))
        {
          have_te = 1;
          /* Only the last coding matters for framing; a later field overrides. */
          h->chunked = list_last_is (f->value, "chunked");
        }
      else if (http_str_ieq (f->name, "Connection"))
        {
          close_tok |= list_has (f->value, "close");
          ka_tok |= list_has (f->value, "keep-alive");
        }
      else if (request && http_str_ieq (f->name, "Expect"))
        h->expect_continue = http_str_ieq (f->value, "100-continue");
    }
  if (request && have_te)
    {
      if (h->content_length >= 0)
        return bad (h, 400, "both Transfer-Encoding and Content-Length");
      if (!h->chunked)
        return bad (h, 501, "unsupported Transfer-Encoding");
      if (h->version_minor == 0)
        return bad (h, 400, "Transfer-Encoding in an HTTP/1.0 request");
    }
  if (have_te && !h->chunked)
    h->content_length = -1; /* response: until close */
  if (h->chunked)
    h->content_length = -1;
  h->keep_alive = h->version_minor >= 1 ? !close_tok : (ka_tok && !close_tok);
  return HTTP_DONE;
}

static enum http_result
parse_head (const char *buf, size_t len, size_t max_head, struct http_head *h, int request)
{
  size_t pos = 0, lim = len < max_head ? len : max_head;
  int first = 1;
  memset (h, 0, sizeof *h);
  h->content_length = -1;
  /* RFC 9112 §2.2: empty lines before a request line are ignored (some clients send an
   * extra CRLF after a body). */
  if (request)
    while (pos + 1 < lim && buf[pos] == '\r' && buf[pos + 1] == '\n')
      pos += 2;
  for (;;)
    {
      const char *nl = memchr (buf + pos, '\n', lim - pos);
      size_t l;
      enum http_result r;
      if (nl == NULL)
        {
          if (len >= max_head)
            return bad (h, request ? 431 : 502, "head too large");
          return HTTP_INCOMPLETE;
        }
      l = (size_t) (nl - (buf + pos));
      if (l == 0 || buf[pos + l - 1] != '\r')
        return bad (h, request ? 400 : 502, "line not ended by CRLF");
      l--;
      if (memchr (buf + pos, '\0', l) != NULL)
        return bad (h, request ? 400 : 502, "NUL byte in head");
      if (first)
        {
          r = request ? parse_request_line (buf + pos, l, h)
                      : parse_status_line (buf + pos, l, h);
          first = 0;
        }
      else if (l == 0)
        {
          h->head_len = pos + 2;
          return finish_head (h, request);
        }
      else
        r = parse_field (buf + pos, l, h, request);
      if (r != HTTP_DONE)
        return r;
      pos += l + 2;
    }
}

enum http_result
http_parse_request (const char *buf, size_t len, size_t max_head, struct http_head *h)
{
  return parse_head (buf, len, max_head, h, 1);
}

enum http_result
http_parse_response (const char *buf, size_t len, size_t max_head, struct http_head *h)
{
  return parse_head (buf, len, max_head, h, 0);
}

/* ---- bodies ---- */

enum
{
  BODY_NONE,
  BODY_LENGTH,
  BODY_CHUNKED,
  BODY_CLOSE
};

enum
{
  C_SIZE,
  C_EXT,
  C_SIZE_LF,
  C_DATA,
  C_DATA_CR,
  C_DATA_LF,
  C_TRAILER,
  C_TRAILER_LF
};

static void
body_setup (struct http_body *b, int chunked, int64_t clen, int until_close)
{
  memset (b, 0, sizeof *b);
  if (chunked)
    b->mode = BODY_CHUNKED, b->cstate = C_SIZE;
  else if (clen > 0)
    b->mode = BODY_LENGTH, b->remaining = (uint64_t) clen;
  else if (clen < 0 && until_close)
    b->mode = BODY_CLOSE;
  else
    b->mode = BODY_NONE, b->done = 1;
}

void
http_body_init_request (struct http_body *b, const struct http_head *req)
{
  body_setup (b, req->chunked, req->content_length, 0);
}

void
http_body_init_response (struct http_body *b, const struct http_head *resp,
                         struct http_str method)
{
  /* RFC 9112 §6.3: no body after HEAD, 1xx, 204, 304, or a 2xx answer to CONNECT. */
  if (http_str_ieq (method, "HEAD") || resp->status < 200 || resp->status == 204
      || resp->status == 304 || (http_str_ieq (method, "CONNECT") && resp->status < 300))
    body_setup (b, 0, 0, 0);
  else
    body_setup (b, resp->chunked, resp->content_length, 1);
}

int
http_body_until_close (const struct http_body *b)
{
  return b->mode == BODY_CLOSE;
}

static int
hexval (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower (c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

size_t
http_body_feed (struct http_body *b, const char *buf, size_t len)
{
  size_t i = 0;
  if (b->done || b->bad)
    return 0;
  if (b->mode == BODY_CLOSE)
    return len;
  if (b->mode == BODY_LENGTH)
    {
      size_t n = len < b->remaining ? len : (size_t) b->remaining;
      b->remaining -= n;
      if (b->remaining == 0)
        b->done = 1;
      return n;
    }
  while (i < len && !b->done)
    {
      int c = (unsigned char) buf[i];
      switch (b->cstate)
        {
        case C_SIZE:
          if (hexval (c) >= 0)
            {
              if (++b->linelen > 15) /* 60 bits */
                goto fail;
              b->remaining = b->remaining * 16 + (uint64_t) hexval (c);
              i++;
              break;
            }
          if (b->linelen == 0)
            goto fail;
          if (c == ';' || c == ' ' || c == '\t')
            b->cstate = C_EXT;
          else if (c == '\r')
            b->cstate = C_SIZE_LF;
          else
            goto fail;
          i++;
          break;
        case C_EXT:
          if (++b->linelen > HTTP_MAX_CHUNK_LINE)
            goto fail;
          if (c == '\r')
            b->cstate = C_SIZE_LF;
          else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
            goto fail;
          i++;
          break;
        case C_SIZE_LF:
          if (c != '\n')
            goto fail;
          i++;
          b->linelen = 0;
          b->cstate = b->remaining ? C_DATA : C_TRAILER;
          break;
        case C_DATA:
          {
            size_t n = len - i < b->remaining ? len - i : (size_t) b->remaining;
            b->remaining -= n;
            i += n;
            if (b->remaining == 0)
              b->cstate = C_DATA_CR;
            break;
          }
        case C_DATA_CR:
          if (c != '\r')
            goto fail;
          i++;
          b->cstate = C_DATA_LF;
          break;
        case C_DATA_LF:
          if (c != '\n')
            goto fail;
          i++;
          b->cstate = C_SIZE;
          break;
        case C_TRAILER:
          if (c == '\r')
            b->cstate = C_TRAILER_LF;
          else if (c == '\n' || ++b->linelen > HTTP_MAX_CHUNK_LINE)
            goto fail;
          i++;
          break;
        case C_TRAILER_LF:
          if (c != '\n')
            goto fail;
          i++;
          if (b->linelen == 0)
            b->done = 1;
          b->linelen = 0;
          b->cstate = C_TRAILER;
          break;
        }
    }
  return i;
fail:
  b->bad = 1;
  return i;
}

/* ---- writing ---- */

const char *
http_reason (int status)
{
  switch (status)
    {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int
http_format_response (char *out, size_t cap, int status, const char *ctype,
                      const char *extra_headers, const void *body, size_t body_len,
                      int close_conn)
{
  int n = snprintf (out, cap,
                    "HTTP/1.1 %03d %s\r\n%s%s%s%sContent-Length: %zu\r\n%s\r\n",
                    status, http_reason (status), ctype ? "Content-Type: " : "",
                    ctype ? ctype : "", ctype ? "\r\n" : "",
                    extra_headers ? extra_headers : "", body_len,
                    close_conn ? "Connection: close\r\n" : "");
  if (n < 0 || (size_t) n >= cap || cap - (size_t) n < body_len)
    return -1;
  if (body_len)
    memcpy (out + n, body, body_len);
  return n + (int) body_len;
}

/* ---- authorities and proxy heads ---- */

int
http_split_authority (const char *p, size_t len, unsigned default_port, char *host, size_t hostcap,
                      unsigned *port, const char **why)
{
  const char *hs = p, *he, *ps = NULL;
  size_t hl, i;
  unsigned long v = 0;
  if (len == 0)
    return *why = "empty host", -1;
  if (memchr (p, '@', len) != NULL)
    return *why = "credentials in the authority are not allowed", -1;
  if (p[0] == '[')
    {
      const char *rb = memchr (p, ']', len);
      if (rb == NULL)
        return *why = "unterminated IPv6 address", -1;
      hs = p + 1;
      he = rb;
      if ((size_t) (rb + 1 - p) < len)
        {
          if (rb[1] != ':')
            return *why = "junk after the IPv6 address", -1;
          ps = rb + 2;
        }
    }
  else
    {
      const char *colon = memchr (p, ':', len);
      he = colon ? colon : p + len;
      if (colon)
        ps = colon + 1;
    }
  hl = (size_t) (he - hs);
  if (hl == 0 || hl >= hostcap)
    return *why = "host empty or too long", -1;
  for (i = 0; i < hl; i++)
    if ((unsigned char) hs[i] <= ' ' || hs[i] == 0x7f || hs[i] == '/' || hs[i] == '\\')
      return *why = "invalid character in the host", -1;
  memcpy (host, hs, hl);
  host[hl] = '\0';
  if (ps == NULL)
    {
      if (default_port == 0)
        return *why = "the port is missing", -1;
      *port = default_port;
      return 0;
    }
  if (p + len - ps == 0 || p + len - ps > 5)
    return *why = "the port must be a number in 1..65535", -1;
  for (; ps < p + len; ps++)
    {
      if (*ps < '0' || *ps > '9')
        return *why = "the port must be a number in 1..65535", -1;
      v = v * 10 + (unsigned long) (*ps - '0');
    }
  if (v < 1 || v > 65535)
    return *why = "the port must be a number in 1..65535", -1;
  *port = (unsigned) v;
  return 0;
}

static int
hop_by_hop (struct http_str name)
{
  return http_str_ieq (name, "Proxy-Connection") || http_str_ieq (name, "Proxy-Authorization")
         || http_str_ieq (name, "Keep-Alive");
}

int
http_forward_fits (const struct http_head *h)
{
  size_t i, kept = 0;
  int host = 0;
  for (i = 0; i < h->nheaders; i++)
    {
      const struct http_header *f = &h->headers[i];
      if (hop_by_hop (f->name))
        continue;
      if (http_str_ieq (f->name, "Host"))
        {
          if (host)
            continue;
          host = 1;
        }
      kept++;
    }
  return kept + (host ? 0 : 1) <= HTTP_MAX_HEADERS;
}

size_t
http_forward_head_size (const struct http_head *h, size_t olen, size_t alen)
{
  /* a field written "name: value" may be one byte longer than sent ("name:value");
   * the request line and an added Host line fit in the rest */
  return h->head_len + olen + alen + HTTP_MAX_HEADERS + 64;
}

size_t
http_format_forward_head (char *o, size_t cap, const struct http_head *h, const char *origin, size_t olen,
                          const char *authority, size_t alen)
{
  size_t n = 0, i;
  int host_done = 0;
  /* Every byte written below comes from the head (its fields are at most head_len long
   * with their separators), origin, authority, or the fixed texts the spare bytes of
   * http_forward_head_size hold; the check keeps a wrong cap from writing past out. */
#define PUT(p, l)                                                                                                     \
  do                                                                                                                  \
    {                                                                                                                 \
      if (n + (l) > cap)                                                                                              \
        abort ();                                                                                                     \
      memcpy (o + n, (p), (l));                                                                                       \
      n += (l);                                                                                                       \
    }                                                                                                                 \
  while (0)
  PUT (h->method.p, h->method.len);
  PUT (" ", 1);
  PUT (origin, olen);
  PUT (h->version_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
  for (i = 0; i < h->nheaders; i++)
    {
      const struct http_header *f = &h->headers[i];
      int is_host = http_str_ieq (f->name, "Host");
      if (hop_by_hop (f->name) || (is_host && host_done))
        continue;
      PUT (f->name.p, f->name.len);
      PUT (": ", 2);
      if (is_host)
        {
          host_done = 1;
          PUT (authority, alen);
        }
      else
        PUT (f->value.p, f->value.len);
      PUT ("\r\n", 2);
    }
  if (!host_done)
    {
      PUT ("Host: ", 6);
      PUT (authority, alen);
      PUT ("\r\n", 2);
    }
  PUT ("\r\n", 2);
#undef PUT
  return n;
}
