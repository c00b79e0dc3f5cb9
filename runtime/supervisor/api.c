/* enclaver-supervisor: the attestation API (docs/attestation.md, "Attestation API").
 *
 * With the manifest's api.listen_port, an HTTP/1.1 server on 127.0.0.1:PORT for the app:
 *   POST /v1/attestation   JSON {"nonce", "user_data": base64, "public_key": PEM SPKI or
 *                          base64 DER}, all optional -> the NSM's attestation document,
 *                          raw (application/cbor) or, with ?encoding=base64, as text;
 *   GET  /v1/pcrs          DescribePCR of PCRs 0-15 -> {"PCR0": hex, ...} (the shape
 *                          `enclaver verify --pcrs` reads), ?encoding=base64 for base64.
 * Everything else: 404, 405 with Allow, 400 with {"error": ...} for bad JSON, base64 or
 * PEM and for fields over the NSM's limits, 411 for a chunked body, 413 for a body over
 * API_BODY_MAX.  Each connection carries one request (Connection: close) and must send
 * it within the header timeout.  It runs on the supervisor's network thread (net.h);
 * NSM calls block that thread for the few milliseconds the device takes.
 *
 * supervisor.json, for tests and emulation:
 *   "api": {"listen": ADDR, "header_timeout_ms": N}   ADDR a transport address
 *                                                      (runtime/transport.h)
 *   "nsm": {"device": DEV}                             a device path or a transport
 *                                                      address (runtime/nsm.h) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evloop.h"
#include "net.h"
#include "net/http.h"
#include "nsm.h"
#include "rtutil.h"
#include "transport.h"

#define API_HEAD_MAX 8192
#define API_BODY_MAX 16384
#define API_MAX_CONNS 64
#define API_HEADER_TIMEOUT_MS 10000
#define API_LINGER_MS 2000
#define API_PCRS 16

struct api;

struct api_conn
{
  struct api *api;
  int fd;
  char peer[64];
  char in[API_HEAD_MAX + API_BODY_MAX];
  size_t inlen;
  int head_done;
  struct http_head h;
  size_t need;           /* head + body bytes once the head is parsed */
  long long timer;
  char *out;
  size_t outlen, outoff;
  int responded;         /* a response is being written (or was) */
  int lingering;         /* written and half-closed: reading to EOF */
  int peer_eof;          /* the client closed its side */
  struct api_conn *prev, *next;
};

struct api
{
  struct sv_net *net;
  struct ev_loop *loop;
  int lfd;
  char listen_addr[160];
  int header_timeout_ms;
  struct enclaver_nsm *nsm;
  char nsm_error[512];   /* why there is no NSM (nsm == NULL) */
  struct api_conn *conns;
  size_t nconns;
};

/* ---- connections ---- */

static void conn_close (struct api_conn *c);

static long long
conn_timeout (struct ev_loop *loop, long long id, void *data);

static void
conn_log (struct api_conn *c, int status, size_t body_len, const char *note)
{
  const struct http_head *h = &c->h;
  if (c->head_done)
    sv_net_log (c->api->net, "api: %s %.*s %.*s: %d, %zu bytes%s%s", c->peer,
                (int) (h->method.len > 16 ? 16 : h->method.len), h->method.p,
                (int) (h->target.len > 200 ? 200 : h->target.len), h->target.p, status, body_len,
                note ? ": " : "", note ? note : "");
  else
    sv_net_log (c->api->net, "api: %s: %d, %zu bytes%s%s", c->peer, status, body_len,
                note ? ": " : "", note ? note : "");
}

static void
on_write (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct api_conn *c = data;
  (void) loop;
  (void) mask;
  while (c->outoff < c->outlen)
    {
      ssize_t r = send (fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && errno == EAGAIN)
        return;
      if (r <= 0)
        {
          conn_close (c);
          return;
        }
      c->outoff += (size_t) r;
    }
  ev_del_file (c->api->loop, fd, EV_WRITABLE);
  if (c->peer_eof)
    {
      conn_close (c);
      return;
    }
  /* Half-close and read what the client still sends until it closes (bounded by the
   * linger timer): closing with unread input would reset the connection and could
   * destroy the response before the client read it (a 413 to a large body). */
  shutdown (fd, SHUT_WR);
  c->lingering = 1;
  ev_del_timer (c->api->loop, c->timer);
  c->timer = ev_add_timer (c->api->loop, API_LINGER_MS, conn_timeout, c);
}

/* Queue a complete response; the connection closes after it. */
static void
respond (struct api_conn *c, int status, const char *ctype, const char *extra, const void *body,
         size_t len, const char *note)
{
  size_t cap = len + 512 + (extra ? strlen (extra) : 0);
  int n;
  if (c->responded)
    return;
  c->responded = 1;
  c->out = xmalloc (cap);
  n = http_format_response (c->out, cap, status, ctype, extra, body, len, 1);
  if (n < 0)
    abort (); /* cap always fits the head */
  c->outlen = (size_t) n;
  c->outoff = 0;
  conn_log (c, status, len, note);
  /* On failure the timer closes the connection. */
  if (ev_add_file (c->api->loop, c->fd, EV_WRITABLE, on_write, c) < 0)
    c->outlen = 0;
}

static void
respond_error (struct api_conn *c, int status, const char *extra, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static void
respond_error (struct api_conn *c, int status, const char *extra, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  json_t *o;
  char *s;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  /* Messages quote client input: keep them printable ASCII (and valid JSON strings). */
  for (char *p = msg; *p; p++)
    if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
      *p = '?';
  o = json_pack ("{s:s}", "error", msg);
  s = o ? json_dumps (o, JSON_COMPACT) : NULL;
  if (s == NULL)
    abort ();
  respond (c, status, "application/json", extra, s, strlen (s), msg);
  free (s);
  json_decref (o);
}

static void
respond_json (struct api_conn *c, json_t *o)
{
  char *s = json_dumps (o, JSON_COMPACT);
  size_t n;
  if (s == NULL)
    abort ();
  n = strlen (s);
  s = xrealloc (s, n + 2);
  s[n++] = '\n';
  respond (c, 200, "application/json", NULL, s, n, NULL);
  free (s);
}

static long long
conn_timeout (struct ev_loop *loop, long long id, void *data)
{
  struct api_conn *c = data;
  (void) loop;
  (void) id;
  c->timer = 0;
  if (c->responded)
    {
      conn_close (c); /* the client did not close after its response */
      return EV_TIMER_DONE;
    }
  /* Slow or silent client: tell it, then close (bounded by the linger timer). */
  c->timer = 0;
  respond_error (c, 408, NULL, "the request was not complete within %d ms",
                 c->api->header_timeout_ms);
  ev_del_file (c->api->loop, c->fd, EV_READABLE);
  c->timer = ev_add_timer (c->api->loop, API_LINGER_MS, conn_timeout, c);
  return EV_TIMER_DONE;
}

static void
conn_close (struct api_conn *c)
{
  struct api *a = c->api;
  if (c->timer)
    ev_del_timer (a->loop, c->timer);
  ev_del_file (a->loop, c->fd, EV_READABLE | EV_WRITABLE);
  close (c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  a->nconns--;
  free (c->out);
  free (c);
}

/* ---- the endpoints ---- */

/* The query "encoding=VALUE" (or none): 0 default, 1 base64; -1 anything else. */
static int
parse_encoding (struct http_str q, const char *dflt)
{
  if (q.len == 0)
    return 0;
  if (q.len > 9 && memcmp (q.p, "encoding=", 9) == 0)
    {
      struct http_str v = { q.p + 9, q.len - 9 };
      if (http_str_ieq (v, "base64"))
        return 1;
      if (http_str_ieq (v, dflt))
        return 0;
    }
  return -1;
}

static void
handle_pcrs (struct api_conn *c, int b64)
{
  json_t *o = json_object ();
  for (unsigned i = 0; i < API_PCRS; i++)
    {
      struct enclaver_nsm_pcr p;
      char err[768], key[8], *v;
      if (enclaver_nsm_describe_pcr (c->api->nsm, (uint16_t) i, &p, err, sizeof err) < 0)
        {
          json_decref (o);
          respond_error (c, 502, NULL, "%s", err);
          return;
        }
      if (b64)
        v = rt_b64_encode (p.data, p.len);
      else
        {
          v = xmalloc (2 * p.len + 1);
          for (size_t k = 0; k < p.len; k++)
            sprintf (v + 2 * k, "%02x", p.data[k]);
        }
      snprintf (key, sizeof key, "PCR%u", i);
      json_object_set_new (o, key, json_string (v));
      free (v);
    }
  respond_json (c, o);
  json_decref (o);
}

/* A JSON string field that is base64 -> malloc'd bytes (*present 0 when absent/null).
 * 0, or -1 after answering 400. */
static int
b64_field (struct api_conn *c, json_t *body, const char *key, size_t max, uint8_t **out,
           size_t *len, int *present)
{
  json_t *v = json_object_get (body, key);
  const char *why = NULL;
  long n;
  *present = 0;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    {
      respond_error (c, 400, NULL, "\"%s\" must be a base64 string", key);
      return -1;
    }
  *out = xmalloc (json_string_length (v) * 3 / 4 + 3);
  n = rt_b64_decode (json_string_value (v), json_string_length (v), *out, &why);
  if (n < 0)
    {
      respond_error (c, 400, NULL, "\"%s\" is not valid base64: %s", key, why);
      return -1;
    }
  if ((size_t) n > max)
    {
      respond_error (c, 400, NULL, "\"%s\" is %ld bytes, more than the NSM's limit of %zu", key, n,
                     max);
      return -1;
    }
  *len = (size_t) n;
  *present = 1;
  return 0;
}

/* public_key: a PEM SubjectPublicKeyInfo or the base64 of its DER -> DER bytes. */
static int
public_key_field (struct api_conn *c, json_t *body, uint8_t **out, size_t *len, int *present)
{
  json_t *v = json_object_get (body, "public_key");
  const char *s;
  EVP_PKEY *pk = NULL;
  *present = 0;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    {
      respond_error (c, 400, NULL, "\"public_key\" must be a string (PEM or base64 DER)");
      return -1;
    }
  s = json_string_value (v);
  if (strstr (s, "-----BEGIN") != NULL)
    {
      BIO *bio = BIO_new_mem_buf (s, (int) json_string_length (v));
      unsigned char *der = NULL;
      int n;
      if (strstr (s, "-----BEGIN PUBLIC KEY-----") == NULL)
        {
          BIO_free (bio);
          respond_error (c, 400, NULL,
                         "\"public_key\": only a \"BEGIN PUBLIC KEY\" (SubjectPublicKeyInfo) PEM "
                         "block is accepted");
          return -1;
        }
      pk = bio ? PEM_read_bio_PUBKEY (bio, NULL, NULL, NULL) : NULL;
      BIO_free (bio);
      if (pk == NULL)
        {
          respond_error (c, 400, NULL, "\"public_key\" is not a valid PEM public key");
          return -1;
        }
      n = i2d_PUBKEY (pk, &der);
      EVP_PKEY_free (pk);
      if (n <= 0)
        {
          respond_error (c, 400, NULL, "\"public_key\" cannot be encoded as DER");
          return -1;
        }
      *out = xmalloc ((size_t) n);
      memcpy (*out, der, (size_t) n);
      OPENSSL_free (der);
      *len = (size_t) n;
    }
  else
    {
      int pres;
      const unsigned char *p;
      if (b64_field (c, body, "public_key", 64 * 1024, out, len, &pres) < 0)
        return -1;
      p = *out;
      pk = d2i_PUBKEY (NULL, &p, (long) *len);
      if (pk == NULL || p != *out + *len)
        {
          EVP_PKEY_free (pk);
          respond_error (c, 400, NULL,
                         "\"public_key\" is neither a PEM public key nor the base64 of a DER "
                         "SubjectPublicKeyInfo");
          return -1;
        }
      EVP_PKEY_free (pk);
    }
  if (*len > ENCLAVER_NSM_PUBLIC_KEY_MAX)
    {
      respond_error (c, 400, NULL, "\"public_key\" is %zu bytes of DER, more than the NSM's limit of %d",
                     *len, ENCLAVER_NSM_PUBLIC_KEY_MAX);
      return -1;
    }
  *present = 1;
  return 0;
}

static void
handle_attestation (struct api_conn *c, const char *body, size_t blen, int b64)
{
  static const char *const known[] = { "nonce", "user_data", "public_key" };
  uint8_t *nonce = NULL, *ud = NULL, *pk = NULL, *doc = NULL;
  size_t nl = 0, ul = 0, pl = 0, dl = 0;
  int hn, hu, hp;
  json_t *j = NULL, *v;
  json_error_t je;
  const char *key;
  char err[768];

  /* No body means no fields, like {}. */
  if (blen == 0)
    j = json_object ();
  else
    {
      j = json_loadb (body, blen, JSON_REJECT_DUPLICATES, &je);
      if (j == NULL)
        {
          respond_error (c, 400, NULL, "the body is not valid JSON: %s (line %d, column %d)", je.text,
                         je.line, je.column);
          return;
        }
      if (!json_is_object (j))
        {
          json_decref (j);
          respond_error (c, 400, NULL, "the body must be a JSON object");
          return;
        }
    }
  json_object_foreach (j, key, v)
    {
      size_t i;
      (void) v;
      for (i = 0; i < RT_ARRAY_SIZE (known); i++)
        if (strcmp (key, known[i]) == 0)
          break;
      if (i == RT_ARRAY_SIZE (known))
        {
          respond_error (c, 400, NULL, "unknown field \"%.64s\" (known: nonce, user_data, public_key)",
                         key);
          goto out;
        }
    }
  if (b64_field (c, j, "nonce", ENCLAVER_NSM_NONCE_MAX, &nonce, &nl, &hn) < 0
      || b64_field (c, j, "user_data", ENCLAVER_NSM_USER_DATA_MAX, &ud, &ul, &hu) < 0
      || public_key_field (c, j, &pk, &pl, &hp) < 0)
    goto out;
  if (enclaver_nsm_attestation (c->api->nsm, hu ? ud : NULL, ul, hn ? nonce : NULL, nl,
                                hp ? pk : NULL, pl, &doc, &dl, err, sizeof err)
      < 0)
    {
      respond_error (c, 502, NULL, "%s", err);
      goto out;
    }
  if (b64)
    {
      char *t = rt_b64_encode (doc, dl);
      size_t n = strlen (t);
      t = xrealloc (t, n + 2);
      t[n++] = '\n';
      respond (c, 200, "text/plain", NULL, t, n, NULL);
      free (t);
    }
  else
    respond (c, 200, "application/cbor", NULL, doc, dl, NULL);
out:
  free (nonce);
  free (ud);
  free (pk);
  free (doc);
  json_decref (j);
}

/* The head is complete: answer what can be answered from it, or wait for the body. */
static void
route (struct api_conn *c)
{
  struct http_head *h = &c->h;
  struct http_str path = h->target, query = { "", 0 };
  const char *q = memchr (h->target.p, '?', h->target.len);
  int is_att, is_pcrs, enc;

  if (q)
    {
      path.len = (size_t) (q - h->target.p);
      query.p = q + 1;
      query.len = h->target.len - path.len - 1;
    }
  is_att = path.len == 15 && memcmp (path.p, "/v1/attestation", 15) == 0;
  is_pcrs = path.len == 8 && memcmp (path.p, "/v1/pcrs", 8) == 0;
  if (!is_att && !is_pcrs)
    {
      respond_error (c, 404, NULL, "no such endpoint: %.*s (see /v1/attestation, /v1/pcrs)",
                     (int) (path.len > 200 ? 200 : path.len), path.p);
      return;
    }
  if (is_att && !http_str_ieq (h->method, "POST"))
    {
      respond_error (c, 405, "Allow: POST\r\n", "/v1/attestation takes POST");
      return;
    }
  if (is_pcrs && !http_str_ieq (h->method, "GET"))
    {
      respond_error (c, 405, "Allow: GET\r\n", "/v1/pcrs takes GET");
      return;
    }
  enc = parse_encoding (query, is_att ? "cbor" : "hex");
  if (enc < 0)
    {
      respond_error (c, 400, NULL, "unknown query \"%.*s\" (only encoding=base64 or encoding=%s)",
                     (int) (query.len > 100 ? 100 : query.len), query.p, is_att ? "cbor" : "hex");
      return;
    }
  if (c->api->nsm == NULL)
    {
      respond_error (c, 503, NULL, "no NSM: %s", c->api->nsm_error);
      return;
    }
  if (is_pcrs)
    {
      handle_pcrs (c, enc);
      return;
    }
  if (h->chunked)
    {
      respond_error (c, 411, NULL, "send the body with a Content-Length, not chunked");
      return;
    }
  if (h->content_length > API_BODY_MAX)
    {
      respond_error (c, 413, NULL, "the body of %lld bytes is over the limit of %d bytes",
                     (long long) h->content_length, API_BODY_MAX);
      return;
    }
  c->need = h->head_len + (size_t) (h->content_length > 0 ? h->content_length : 0);
  if (h->expect_continue && c->inlen < c->need)
    {
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      /* The socket's buffer is empty at this point: the write cannot be short; a
       * failure shows on the next read. */
      if (send (c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL) < 0)
        sv_net_log (c->api->net, "api: %s: 100 Continue: %s", c->peer, strerror (errno));
    }
}

static void
on_read (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct api_conn *c = data;
  (void) loop;
  (void) mask;
  for (;;)
    {
      char sink[4096];
      ssize_t r;
      if (c->lingering || c->responded)
        {
          r = recv (fd, sink, sizeof sink, 0);
          if (r < 0 && errno == EINTR)
            continue;
          if (r < 0 && errno == EAGAIN)
            return;
          if (r <= 0)
            {
              if (c->lingering || r < 0)
                conn_close (c);
              else
                {
                  c->peer_eof = 1; /* EOF before our reply is out */
                  ev_del_file (c->api->loop, fd, EV_READABLE);
                }
              return;
            }
          continue;
        }
      if (c->inlen == sizeof c->in)
        {
          /* Only bytes beyond one request fill the buffer (pipelining): not served. */
          respond_error (c, 400, NULL, "more than one request on the connection");
          return;
        }
      r = recv (fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && errno == EAGAIN)
        return;
      if (r <= 0)
        {
          if (c->inlen > 0 && r == 0)
            conn_log (c, 0, 0, "the client closed before its request was complete");
          conn_close (c);
          return;
        }
      c->inlen += (size_t) r;
      if (!c->head_done)
        {
          enum http_result hr = http_parse_request (c->in, c->inlen, API_HEAD_MAX, &c->h);
          if (hr == HTTP_INCOMPLETE)
            continue;
          if (hr == HTTP_BAD)
            {
              respond_error (c, c->h.error_status ? c->h.error_status : 400, NULL,
                             "malformed request: %s", c->h.error ? c->h.error : "bad head");
              return;
            }
          c->head_done = 1;
          route (c);
          if (c->responded || c->need == 0)
            {
              if (!c->responded)
                abort ();
              return;
            }
        }
      if (c->inlen >= c->need)
        {
          const struct http_head *h = &c->h;
          const char *q = memchr (h->target.p, '?', h->target.len);
          struct http_str query = { "", 0 };
          if (q)
            {
              query.p = q + 1;
              query.len = h->target.len - (size_t) (q - h->target.p) - 1;
            }
          handle_attestation (c, c->in + h->head_len, c->need - h->head_len,
                              parse_encoding (query, "cbor") == 1);
          return;
        }
    }
}

static void
on_accept (struct ev_loop *loop, int lfd, void *data, int mask)
{
  struct api *a = data;
  (void) mask;
  for (;;)
    {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      struct api_conn *c;
      int fd = accept4 (lfd, (struct sockaddr *) &ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            sv_net_log (a->net, "api: accept on %s: %s", a->listen_addr, strerror (errno));
          return;
        }
      if (a->nconns >= API_MAX_CONNS)
        {
          sv_net_log (a->net, "api: %d connections open already; refusing one", API_MAX_CONNS);
          close (fd);
          continue;
        }
      c = xcalloc (1, sizeof *c);
      c->api = a;
      c->fd = fd;
      if (ss.ss_family == AF_INET)
        {
          const struct sockaddr_in *in = (const struct sockaddr_in *) &ss;
          char ip[INET_ADDRSTRLEN];
          inet_ntop (AF_INET, &in->sin_addr, ip, sizeof ip);
          snprintf (c->peer, sizeof c->peer, "%s:%u", ip, (unsigned) ntohs (in->sin_port));
        }
      else
        snprintf (c->peer, sizeof c->peer, "local client");
      c->next = a->conns;
      if (a->conns)
        a->conns->prev = c;
      a->conns = c;
      a->nconns++;
      c->timer = ev_add_timer (loop, a->header_timeout_ms, conn_timeout, c);
      if (ev_add_file (loop, fd, EV_READABLE, on_read, c) < 0)
        conn_close (c);
    }
}

/* ---- the service ---- */

static int
api_start (const struct sv_net_ctx *ctx, void **state, char *err, size_t errlen)
{
  const json_t *m = ctx->manifest ? json_object_get (ctx->manifest, "api") : NULL;
  const json_t *cfg = json_object_get (ctx->config, "api");
  const json_t *ncfg = json_object_get (ctx->config, "nsm");
  const char *device = ENCLAVER_NSM_DEVICE;
  json_t *port, *v;
  struct api *a;
  char e[512];

  if (m == NULL || json_is_null (m))
    return 0;
  port = json_object_get (m, "listen_port");
  if (!json_is_object (m) || !json_is_integer (port) || json_integer_value (port) < 1
      || json_integer_value (port) > 65535)
    return rt_err (err, errlen, "manifest key \"api.listen_port\" must be a port number 1-65535");
  if (cfg && !json_is_object (cfg))
    return rt_err (err, errlen, "supervisor.json key \"api\" must be an object");
  if (ncfg && !json_is_object (ncfg))
    return rt_err (err, errlen, "supervisor.json key \"nsm\" must be an object");
  a = xcalloc (1, sizeof *a);
  a->net = ctx->net;
  a->loop = ctx->loop;
  a->lfd = -1;
  a->header_timeout_ms = API_HEADER_TIMEOUT_MS;
  snprintf (a->listen_addr, sizeof a->listen_addr, "tcp:127.0.0.1:%lld",
            (long long) json_integer_value (port));
  v = json_object_get (cfg, "listen");
  if (v && !json_is_string (v))
    {
      free (a);
      return rt_err (err, errlen, "supervisor.json key \"api.listen\" must be a transport address");
    }
  if (v)
    snprintf (a->listen_addr, sizeof a->listen_addr, "%s", json_string_value (v));
  v = json_object_get (cfg, "header_timeout_ms");
  if (v && (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > 600000))
    {
      free (a);
      return rt_err (err, errlen,
                     "supervisor.json key \"api.header_timeout_ms\" must be 1-600000 (milliseconds)");
    }
  if (v)
    a->header_timeout_ms = (int) json_integer_value (v);
  v = json_object_get (ncfg, "device");
  if (v && !json_is_string (v))
    {
      free (a);
      return rt_err (err, errlen,
                     "supervisor.json key \"nsm.device\" must be a device path or a transport address");
    }
  if (v)
    device = json_string_value (v);
  a->nsm = enclaver_nsm_open (device, NULL, a->nsm_error, sizeof a->nsm_error);
  if (a->nsm == NULL)
    sv_net_log (a->net, "api: warning: %s; /v1/attestation and /v1/pcrs will answer 503",
                a->nsm_error);
  a->lfd = enclaver_transport_listen (a->listen_addr, e, sizeof e);
  if (a->lfd < 0)
    {
      enclaver_nsm_close (a->nsm);
      free (a);
      return rt_err (err, errlen,
                     "cannot listen on %s for the attestation API (manifest api.listen_port): %s",
                     a->listen_addr, e);
    }
  if (fcntl (a->lfd, F_SETFL, fcntl (a->lfd, F_GETFL) | O_NONBLOCK) < 0
      || ev_add_file (a->loop, a->lfd, EV_READABLE, on_accept, a) < 0)
    {
      int en = errno;
      close (a->lfd);
      enclaver_nsm_close (a->nsm);
      free (a);
      return rt_err (err, errlen, "attestation API: %s", strerror (en));
    }
  sv_net_log (a->net, "api: attestation API on %s (NSM %s)", a->listen_addr, a->nsm ? enclaver_nsm_name (a->nsm) : device);
  *state = a;
  return 0;
}

static void
api_stop_accepting (void *state)
{
  struct api *a = state;
  if (a->lfd >= 0)
    {
      ev_del_file (a->loop, a->lfd, EV_READABLE);
      close (a->lfd);
      a->lfd = -1;
    }
}

static size_t
api_active (void *state)
{
  return ((struct api *) state)->nconns;
}

static void
api_destroy (void *state)
{
  struct api *a = state;
  api_stop_accepting (a);
  while (a->conns)
    conn_close (a->conns);
  enclaver_nsm_close (a->nsm);
  free (a);
}

const struct sv_service sv_api_service = {
  .name = "api",
  .start = api_start,
  .stop_accepting = api_stop_accepting,
  .active = api_active,
  .destroy = api_destroy,
};
