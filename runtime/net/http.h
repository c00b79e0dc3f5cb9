/* enclaver runtime: a bounded HTTP/1.1 head parser and a response writer.
 *
 * Shared by the egress proxy, the ingress, the attestation API and the KMS proxy.  The
 * parser works on the bytes a connection has read so far: call it again after every
 * read with the whole buffer; it answers HTTP_INCOMPLETE until the blank line that ends
 * the head is there, HTTP_BAD as soon as the bytes cannot become a valid head (or the
 * head is longer than max_head), HTTP_DONE with the parsed head.  Nothing is copied:
 * the strings of struct http_head point into the caller's buffer (with lengths, not NUL
 * terminated), so the buffer must stay unchanged while the head is used.  Header names
 * and values keep their case and spelling; only the optional white space around values
 * is dropped.  The body is not touched: struct http_body follows a body's framing
 * (Content-Length, chunked, or until close) over bytes that pass through unchanged.
 *
 * No allocation, no I/O, libc only. */
#ifndef ENCLAVER_NET_HTTP_H
#define ENCLAVER_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64        /* more fields: HTTP_BAD with status 431 */
#define HTTP_DEFAULT_MAX_HEAD 16384 /* a sensible max_head for callers */

enum http_result
{
  HTTP_INCOMPLETE = 0, /* need more bytes */
  HTTP_DONE = 1,       /* head parsed; head_len bytes are the head */
  HTTP_BAD = -1        /* invalid: answer status (400, 431, 501, 505) and close */
};

struct http_str
{
  const char *p;
  size_t len;
};

struct http_header
{
  struct http_str name, value;
};

struct http_head
{
  /* Request: method, target (as sent: origin form, absolute form, authority or "*").
   * Response: status and reason. */
  struct http_str method, target;
  int status;
  struct http_str reason;
  int version_minor;            /* HTTP/1.<version_minor>: 0 or 1 */
  struct http_header headers[HTTP_MAX_HEADERS];
  size_t nheaders;
  size_t head_len;              /* bytes up to and including the blank line */
  /* Framing (RFC 9112 §6): chunked wins over Content-Length; a request with neither has
   * no body; a response with neither runs until the connection closes (body_until_close)
   * unless its status or the request method says it has none (see http_response_body). */
  int chunked;
  int64_t content_length;       /* -1 when absent */
  int keep_alive;               /* per version and Connection: close/keep-alive */
  int expect_continue;          /* request carried Expect: 100-continue */
  /* When HTTP_BAD: the status to answer and a short reason for the log. */
  int error_status;
  const char *error;
};

/* Parse a request head from buf[0, len).  max_head bounds the head (request line and
 * fields, blank line included). */
enum http_result http_parse_request (const char *buf, size_t len, size_t max_head,
                                     struct http_head *h);
/* Same for a response head.  A 1xx response is a complete head of its own (the final
 * one follows). */
enum http_result http_parse_response (const char *buf, size_t len, size_t max_head,
                                      struct http_head *h);

/* The first header named name (case-insensitive), or NULL. */
const struct http_header *http_find_header (const struct http_head *h, const char *name);
/* 1 when s equals the NUL-terminated t, ignoring ASCII case. */
int http_str_ieq (struct http_str s, const char *t);

/* Body framing over the bytes that follow a head. */
struct http_body
{
  int mode;                     /* internal: none, length, chunked, close */
  uint64_t remaining;           /* length mode: bytes left; chunked: of this chunk */
  int cstate;                   /* chunked parser state */
  size_t linelen;               /* chunked: bytes of the current size/trailer line */
  int done;                     /* the body (trailers included) is complete */
  int bad;                      /* chunked framing invalid */
};

void http_body_init_request (struct http_body *b, const struct http_head *req);
/* method: of the request this response answers (HEAD, CONNECT change the rules). */
void http_body_init_response (struct http_body *b, const struct http_head *resp,
                              struct http_str method);
/* Consume up to len bytes of body; returns how many belong to this body (the rest is
 * the next message).  Sets b->done at the end, b->bad on invalid chunk framing (then
 * the return value is meaningless: close the connection).  A body that runs until close
 * consumes everything and is never done. */
size_t http_body_feed (struct http_body *b, const char *buf, size_t len);
int http_body_until_close (const struct http_body *b);

/* The standard reason phrase of status ("Unknown" for others). */
const char *http_reason (int status);
/* Format a complete response into out: status line, Content-Type (when ctype), the
 * extra header lines (each ending in "\r\n", or NULL), Content-Length, Connection:
 * close when close_conn, the body.  Returns the length, or -1 when it does not fit. */
int http_format_response (char *out, size_t cap, int status, const char *ctype,
                          const char *extra_headers, const void *body, size_t body_len,
                          int close_conn);

/* Split "host:port", "[v6]:port" (a CONNECT target) or a URL's authority into host (NUL
 * terminated, brackets dropped) and port; default_port when the port is absent (0: the
 * port is required).  Credentials ("user@") are refused.  0, or -1 with *why set. */
int http_split_authority (const char *p, size_t len, unsigned default_port, char *host,
                          size_t hostcap, unsigned *port, const char **why);

/* A proxy's head for the origin server: "METHOD origin HTTP/1.x", the fields of h in
 * their order and spelling minus the proxy's hop-by-hop ones (Proxy-Connection,
 * Proxy-Authorization, Keep-Alive), Host replaced by authority (added when absent).
 * out must hold http_forward_head_size() bytes; returns the length written. */
size_t http_forward_head_size (const struct http_head *h, size_t olen, size_t alen);
/* Whether the forwarded head stays within HTTP_MAX_HEADERS fields: not when the request
 * already has that many, none of them hop-by-hop, and no Host, which forwarding adds.
 * The proxy answers such a request 431 rather than send what it would refuse itself. */
int http_forward_fits (const struct http_head *h);
size_t http_format_forward_head (char *out, size_t cap, const struct http_head *h,
                                 const char *origin, size_t olen, const char *authority,
                                 size_t alen);

#endif
