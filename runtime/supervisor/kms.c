/* enclaver-supervisor: the KMS proxy (docs/attestation.md, "KMS proxy").
 *
 * With the manifest's kms_proxy.listen_port, a plain HTTP/1.1 server on 127.0.0.1:PORT
 * (AWS_KMS_ENDPOINT for the app) that takes AWS KMS requests as an AWS SDK sends them
 * and sends them on to KMS:
 *
 *   - the region comes from the request's SigV4 credential scope (the app may sign with
 *     any credentials: its signature is not checked, which is why this port must never
 *     be listed under ingress), else from IMDS;
 *   - for the five actions that take a Recipient (Decrypt, DeriveSharedSecret,
 *     GenerateDataKey, GenerateDataKeyPair, GenerateRandom) the body gets a Recipient:
 *     an NSM attestation document that binds the proxy's RSA-2048 key;
 *   - the request is re-signed with SigV4 with the parent instance's role credentials,
 *     read from IMDSv2 for every request (the session token is cached until its TTL
 *     runs out, and fetched again when IMDS says it expired);
 *   - IMDS and KMS are reached through the enclave's own egress proxy (plain HTTP for
 *     IMDS, CONNECT + TLS for KMS, the server certificate checked against the image's
 *     CA bundle and the endpoint's name);
 *   - a 200 answer to an attested action has its CiphertextForRecipient (CMS
 *     EnvelopedData) decrypted into the field the action's plaintext belongs in:
 *     Plaintext, SharedSecret (DeriveSharedSecret) or PrivateKeyPlaintext
 *     (GenerateDataKeyPair).  Every other answer is passed through.
 *
 * Each request is served by a thread of its own (at most KMS_MAX_WORKERS at once) with
 * blocking I/O under one deadline: the egress proxy the requests go through runs on the
 * network thread's loop, which must never wait for them.
 *
 * supervisor.json, for tests and emulation:
 *   "kms": {"listen": ADDR, "imds": "HOST:PORT", "ca_file": PATH, "timeout_ms": N,
 *           "imds_token_ttl": SECONDS, "egress": ADDR}
 *   "nsm": {"device": DEV}    (as for the attestation API) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/netpolicy.h"
#include "evloop.h"
#include "kms/cms.h"
#include "kms/sigv4.h"
#include "kms-upstream.h"
#include "net.h"
#include "net/http.h"
#include "net/relay.h"
#include "nsm.h"
#include "rtutil.h"
#include "transport.h"

/* The actions that take a Recipient, and the field their secret goes back in. */
static const struct
{
  const char *target, *field;
} attested[] = {
  { "TrentService.Decrypt", "Plaintext" },
  { "TrentService.DeriveSharedSecret", "SharedSecret" },
  { "TrentService.GenerateDataKey", "Plaintext" },
  { "TrentService.GenerateDataKeyPair", "PrivateKeyPlaintext" },
  { "TrentService.GenerateRandom", "Plaintext" },
};

struct kreq
{
  struct kms *k;
  int fd;
  char peer[64];
  struct timespec deadline;
};

/* ---- endpoints ---- */

static int
split_hostport (const char *s, char *host, size_t hostlen, unsigned *port, unsigned dflt)
{
  const char *why = NULL;
  if (strncmp (s, "https://", 8) == 0)
    s += 8;
  return http_split_authority (s, strcspn (s, "/"), dflt, host, hostlen, port, &why);
}

static void
endpoint_for (const struct kms *k, const char *region, char *host, size_t hostlen, unsigned *port)
{
  json_t *v = k->endpoints ? json_object_get (k->endpoints, region) : NULL;
  *port = 443;
  if (json_is_string (v) && split_hostport (json_string_value (v), host, hostlen, port, 443) == 0)
    return;
  /* The partitions' DNS suffixes (ATTESTATION.md §4.2). */
  snprintf (host, hostlen, "kms.%s.%s", region,
            strncmp (region, "cn-", 3) == 0     ? "amazonaws.com.cn"
            : strncmp (region, "eusc-", 5) == 0 ? "amazonaws.eu"
                                                : "amazonaws.com");
}

/* ---- serving one request ---- */

static void
reply (struct kreq *r, int status, const char *ctype, const char *extra, const void *body,
       size_t len)
{
  size_t cap = len + 1024 + (extra ? strlen (extra) : 0);
  char *out = xmalloc (cap);
  int n = http_format_response (out, cap, status, ctype, extra, body, len, 1);
  if (n > 0)
    (void) kms_t_send_all (r->fd, out, (size_t) n, &r->deadline);
  OPENSSL_cleanse (out, cap);
  free (out);
}

/* An error in the shape AWS SDKs read ({"__type", "message"}), and its log line. */
static void
reply_error (struct kreq *r, int status, const char *type, const char *what, const char *fmt, ...)
  __attribute__ ((format (printf, 5, 6)));

static void
reply_error (struct kreq *r, int status, const char *type, const char *what, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  json_t *o;
  char *s;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  for (char *p = msg; *p; p++)
    if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
      *p = '?';
  o = json_pack ("{s:s,s:s}", "__type", type, "message", msg);
  s = o ? json_dumps (o, JSON_COMPACT) : NULL;
  if (s)
    reply (r, status, "application/x-amz-json-1.1", NULL, s, strlen (s));
  sv_net_log (r->k->net, "kms: %s %s: %d %s: %s", r->peer, what, status, type, msg);
  free (s);
  json_decref (o);
}

/* Read the app's request: head and Content-Length body.  0, or -1 after answering (or
 * when the client went away). */
static int
read_request (struct kreq *r, char **buf, size_t *len, struct http_head *h)
{
  size_t cap = 8192, need = 0;
  int head_done = 0;
  *buf = xmalloc (cap);
  *len = 0;
  for (;;)
    {
      ssize_t n;
      if (*len == cap)
        {
          cap = cap * 2 > KMS_HEAD_MAX + KMS_BODY_MAX ? KMS_HEAD_MAX + KMS_BODY_MAX : cap * 2;
          *buf = xrealloc (*buf, cap);
        }
      n = kms_t_recv (r->fd, *buf + *len, cap - *len, &r->deadline);
      if (n <= 0)
        {
          if (n < 0 && errno == ETIMEDOUT)
            reply_error (r, 408, "RequestTimeoutException", "request",
                         "the request was not complete within %d ms", r->k->timeout_ms);
          return -1;
        }
      *len += (size_t) n;
      if (!head_done)
        {
          enum http_result hr = http_parse_request (*buf, *len, KMS_HEAD_MAX, h);
          if (hr == HTTP_INCOMPLETE)
            continue;
          if (hr == HTTP_BAD)
            {
              reply_error (r, h->error_status ? h->error_status : 400, "EnclaverKmsProxyException",
                           "request", "malformed request: %s", h->error ? h->error : "bad head");
              return -1;
            }
          head_done = 1;
          if (h->chunked)
            {
              reply_error (r, 411, "EnclaverKmsProxyException", "request",
                           "send the body with a Content-Length, not chunked");
              return -1;
            }
          if (h->content_length > KMS_BODY_MAX)
            {
              reply_error (r, 413, "EnclaverKmsProxyException", "request",
                           "the body of %lld bytes is over the limit of %d bytes",
                           (long long) h->content_length, KMS_BODY_MAX);
              return -1;
            }
          need = h->head_len + (size_t) (h->content_length > 0 ? h->content_length : 0);
          if (need > cap)
            {
              cap = need;
              *buf = xrealloc (*buf, cap);
            }
          if (h->expect_continue && *len < need)
            {
              static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
              if (kms_t_send_all (r->fd, cont, sizeof cont - 1, &r->deadline) < 0)
                return -1;
            }
        }
      if (*len >= need)
        {
          if (*len > need)
            {
              reply_error (r, 400, "EnclaverKmsProxyException", "request",
                           "more than one request on the connection");
              return -1;
            }
          return 0;
        }
    }
}

/* The attestation document that binds the proxy's key, base64. */
static char *
recipient_document (struct kms *k, char *err, size_t errlen)
{
  uint8_t *doc = NULL;
  size_t dl = 0;
  char *b;
  int rc;
  if (k->nsm == NULL)
    {
      rt_err (err, errlen, "no NSM: %s", k->nsm_error);
      return NULL;
    }
  pthread_mutex_lock (&k->nsm_lock);
  rc = enclaver_nsm_attestation (k->nsm, NULL, 0, NULL, 0, k->spki, k->spki_len, &doc, &dl, err, errlen);
  pthread_mutex_unlock (&k->nsm_lock);
  if (rc < 0)
    return NULL;
  b = rt_b64_encode (doc, dl);
  free (doc);
  return b;
}

/* Replace CiphertextForRecipient of a 200 answer by the decrypted secret in field. */
static int
open_recipient (struct kms *k, const struct answer *a, const char *field, char **out, size_t *outlen,
                char *err, size_t errlen)
{
  json_t *j, *c;
  json_error_t je;
  uint8_t *der = NULL, *plain = NULL;
  size_t pl = 0;
  long dl;
  const char *why = NULL;
  char e[512];
  int rc = -1;
  j = json_loadb (a->body, a->body_len, 0, &je);
  if (j == NULL || !json_is_object (j))
    {
      json_decref (j);
      return rt_err (err, errlen, "KMS answered 200 with a body that is not a JSON object");
    }
  c = json_object_get (j, "CiphertextForRecipient");
  if (!json_is_string (c))
    {
      rt_err (err, errlen, "KMS answered 200 without CiphertextForRecipient (did it take the Recipient?)");
      goto out;
    }
  der = xmalloc (json_string_length (c) * 3 / 4 + 3);
  dl = rt_b64_decode (json_string_value (c), json_string_length (c), der, &why);
  if (dl < 0)
    {
      rt_err (err, errlen, "CiphertextForRecipient is not valid base64: %s", why);
      goto out;
    }
  if (kms_cms_decrypt (k->key, der, (size_t) dl, &plain, &pl, e, sizeof e) < 0)
    {
      rt_err (err, errlen, "CiphertextForRecipient: %s", e);
      goto out;
    }
  {
    char *b = rt_b64_encode (plain, pl);
    json_object_del (j, "CiphertextForRecipient");
    json_object_set_new (j, field, json_string (b));
    OPENSSL_cleanse (b, strlen (b));
    free (b);
  }
  *out = json_dumps (j, JSON_COMPACT);
  if (*out == NULL)
    abort ();
  *outlen = strlen (*out);
  rc = 0;
out:
  if (plain)
    {
      OPENSSL_cleanse (plain, pl);
      free (plain);
    }
  free (der);
  json_decref (j);
  return rc;
}

static void
serve (struct kreq *r)
{
  struct kms *k = r->k;
  char *in = NULL, *body = NULL, *resp = NULL, target[128] = "", what[200];
  char region[80] = "", service[80] = "", host[256], e[1024], amz_date[17], auth[512];
  size_t inlen = 0, blen, resplen = 0;
  struct http_head h;
  const struct http_header *hd;
  const char *field = NULL;
  unsigned port;
  struct creds cr;
  struct up u = { .fd = -1 };
  struct answer a = { 0 };
  char *req = NULL;
  json_t *j = NULL;

  memset (&cr, 0, sizeof cr);
  if (read_request (r, &in, &inlen, &h) < 0)
    goto out;
  blen = inlen - h.head_len;
  hd = http_find_header (&h, "X-Amz-Target");
  if (hd && hd->value.len < sizeof target)
    {
      memcpy (target, hd->value.p, hd->value.len);
      target[hd->value.len] = '\0';
    }
  else if (hd)
    {
      reply_error (r, 400, "EnclaverKmsProxyException", "request", "X-Amz-Target is too long");
      goto out;
    }
  snprintf (what, sizeof what, "%.*s %s", (int) (h.method.len > 16 ? 16 : h.method.len), h.method.p,
            target[0] ? target : "(no X-Amz-Target)");
  /* Normalise the action once: the Recipient and the answer's field follow from it. */
  for (size_t i = 0; i < RT_ARRAY_SIZE (attested); i++)
    if (strcasecmp (target, attested[i].target) == 0)
      {
        snprintf (target, sizeof target, "%s", attested[i].target);
        field = attested[i].field;
      }
  if (field && !http_str_ieq (h.method, "POST"))
    field = NULL;
  hd = http_find_header (&h, "Authorization");
  if (hd)
    {
      char a2[2048];
      snprintf (a2, sizeof a2, "%.*s", (int) (hd->value.len > 2000 ? 2000 : hd->value.len), hd->value.p);
      if (sigv4_parse_scope (a2, region, sizeof region, service, sizeof service, e, sizeof e) < 0)
        {
          reply_error (r, 400, "IncompleteSignatureException", what, "Authorization: %s", e);
          goto out;
        }
      if (strcmp (service, "kms") != 0)
        {
          reply_error (r, 400, "EnclaverKmsProxyException", what,
                       "the request is signed for the service \"%s\"; this proxy only sends to kms", service);
          goto out;
        }
    }
  if (kms_imds_credentials (k, &r->deadline, &cr, e, sizeof e) < 0
      || (region[0] == '\0' && kms_imds_region (k, &r->deadline, region, sizeof region, e, sizeof e) < 0))
    {
      reply_error (r, 502, "EnclaverKmsProxyException", what, "credentials from IMDS: %s", e);
      goto out;
    }
  if (field)
    {
      json_error_t je;
      char *doc;
      j = json_loadb (in + h.head_len, blen, JSON_REJECT_DUPLICATES, &je);
      if (j == NULL || !json_is_object (j))
        {
          reply_error (r, 400, "SerializationException", what, "the body is not a JSON object%s%s",
                       j ? "" : ": ", j ? "" : je.text);
          goto out;
        }
      doc = recipient_document (k, e, sizeof e);
      if (doc == NULL)
        {
          reply_error (r, 503, "EnclaverKmsProxyException", what, "attestation document: %s", e);
          goto out;
        }
      /* A Recipient the app sent is replaced: only the proxy's key can open the answer. */
      json_object_set_new (j, "Recipient", json_pack ("{s:s,s:s}", "AttestationDocument", doc,
                                                      "KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256"));
      free (doc);
      body = json_dumps (j, JSON_COMPACT);
      if (body == NULL)
        abort ();
      blen = strlen (body);
    }
  else
    {
      body = xmalloc (blen + 1);
      memcpy (body, in + h.head_len, blen);
    }
  endpoint_for (k, region, host, sizeof host, &port);
  {
    char hosthdr[300], path[1024];
    const char *q, *meth;
    struct sigv4_header hs[5];
    size_t n = 0;
    size_t plen = h.target.len;
    if (plen == 0 || h.target.p[0] != '/')
      {
        reply_error (r, 400, "EnclaverKmsProxyException", what, "the request target must be a path");
        goto out;
      }
    q = memchr (h.target.p, '?', h.target.len);
    if (q)
      plen = (size_t) (q - h.target.p); /* the query is not sent on (as odyn) */
    if (plen >= sizeof path)
      {
        reply_error (r, 414, "EnclaverKmsProxyException", what, "the path is too long");
        goto out;
      }
    memcpy (path, h.target.p, plen);
    path[plen] = '\0';
    if (port == 443)
      snprintf (hosthdr, sizeof hosthdr, "%s", host);
    else
      snprintf (hosthdr, sizeof hosthdr, "%s:%u", host, port);
    sigv4_amz_date (time (NULL), amz_date);
    hs[n++] = (struct sigv4_header) { "content-type", "application/x-amz-json-1.1" };
    hs[n++] = (struct sigv4_header) { "host", hosthdr };
    hs[n++] = (struct sigv4_header) { "x-amz-date", amz_date };
    hs[n++] = (struct sigv4_header) { "x-amz-security-token", cr.token };
    if (target[0])
      hs[n++] = (struct sigv4_header) { "x-amz-target", target };
    if (!http_str_ieq (h.method, "POST") && !http_str_ieq (h.method, "GET"))
      {
        reply_error (r, 405, "EnclaverKmsProxyException", what, "KMS takes POST");
        goto out;
      }
    meth = http_str_ieq (h.method, "POST") ? "POST" : "GET";
    if (sigv4_authorization (meth, path, "", hs, n, body, blen, cr.akid, cr.secret, region, "kms",
                             amz_date, auth, sizeof auth, e, sizeof e)
        < 0)
      {
        reply_error (r, 500, "EnclaverKmsProxyException", what, "signing: %s", e);
        goto out;
      }
    req = xasprintf ("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     "X-Amz-Date: %s\r\nX-Amz-Security-Token: %s\r\n%s%s%sAuthorization: %s\r\n"
                     "User-Agent: enclaver-kms-proxy\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     meth, path, hosthdr, amz_date, cr.token,
                     target[0] ? "X-Amz-Target: " : "", target, target[0] ? "\r\n" : "", auth, blen);
  }
  if (kms_up_open_tls (k, &u, host, port, &r->deadline, e, sizeof e) < 0)
    {
      reply_error (r, 502, "EnclaverKmsProxyException", what, "%s", e);
      goto out;
    }
  if (kms_up_write (&u, req, strlen (req)) < 0 || kms_up_write (&u, body, blen) < 0)
    {
      kms_ssl_why (e, sizeof e);
      reply_error (r, 502, "EnclaverKmsProxyException", what, "sending to %s: %s", host, e);
      goto out;
    }
  {
    struct http_str m = { "POST", 4 };
    if (kms_read_answer (&u, m, &a, e, sizeof e) < 0)
      {
        reply_error (r, 502, "EnclaverKmsProxyException", what, "%s: %s", host, e);
        goto out;
      }
  }
  {
    const struct http_header *ct = http_find_header (&a.h, "Content-Type");
    const struct http_header *rid = http_find_header (&a.h, "x-amzn-RequestId");
    char ctype[128] = "application/x-amz-json-1.1", extra[200] = "";
    if (ct && ct->value.len < sizeof ctype)
      {
        memcpy (ctype, ct->value.p, ct->value.len);
        ctype[ct->value.len] = '\0';
      }
    if (rid && rid->value.len < 128)
      snprintf (extra, sizeof extra, "x-amzn-RequestId: %.*s\r\n", (int) rid->value.len, rid->value.p);
    if (field && a.h.status == 200)
      {
        if (open_recipient (k, &a, field, &resp, &resplen, e, sizeof e) < 0)
          {
            reply_error (r, 502, "EnclaverKmsProxyException", what, "%s", e);
            goto out;
          }
        reply (r, 200, ctype, extra[0] ? extra : NULL, resp, resplen);
        OPENSSL_cleanse (resp, resplen);
      }
    else
      reply (r, a.h.status, ctype, extra[0] ? extra : NULL, a.body, a.body_len);
    sv_net_log (k->net, "kms: %s %s region %s via %s: %d%s", r->peer, what, region, host, a.h.status,
                field ? (a.h.status == 200 ? " (attested; the secret opened into the answer's field)"
                                           : " (attested)")
                      : "");
  }
out:
  kms_up_close (&u);
  kms_answer_free (&a);
  json_decref (j);
  if (body)
    OPENSSL_cleanse (body, blen);
  free (body);
  if (in)
    OPENSSL_cleanse (in, inlen);
  free (in);
  free (req);
  free (resp);
  OPENSSL_cleanse (&cr, sizeof cr);
}

static void *
worker (void *arg)
{
  struct kreq *r = arg;
  struct kms *k = r->k;
  serve (r);
  close (r->fd);
  free (r);
  ERR_clear_error ();
  pthread_mutex_lock (&k->lock);
  k->workers--;
  pthread_cond_broadcast (&k->idle);
  pthread_mutex_unlock (&k->lock);
  OPENSSL_thread_stop ();
  return NULL;
}

static void
on_accept (struct ev_loop *loop, int lfd, void *data, int mask)
{
  struct kms *k = data;
  (void) loop;
  (void) mask;
  for (;;)
    {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      struct kreq *r;
      pthread_t t;
      pthread_attr_t at;
      int fd = accept4 (lfd, (struct sockaddr *) &ss, &sl, SOCK_CLOEXEC), busy;
      if (fd < 0)
        {
          if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            sv_net_log (k->net, "kms: accept on %s: %s", k->listen_addr, strerror (errno));
          return;
        }
      pthread_mutex_lock (&k->lock);
      busy = k->workers >= KMS_MAX_WORKERS;
      if (!busy)
        k->workers++;
      pthread_mutex_unlock (&k->lock);
      if (busy)
        {
          static const char full[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                     "application/x-amz-json-1.1\r\nContent-Length: 79\r\n"
                                     "Connection: close\r\n\r\n"
                                     "{\"__type\":\"ThrottlingException\",\"message\":\"the KMS proxy is busy\"}"
                                     "          ";
          (void) !send (fd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
          sv_net_log (k->net, "kms: %d requests in flight already; refusing one", KMS_MAX_WORKERS);
          close (fd);
          continue;
        }
      r = xcalloc (1, sizeof *r);
      r->k = k;
      r->fd = fd;
      net_set_nodelay (fd);
      kms_deadline_in (&r->deadline, k->timeout_ms);
      if (ss.ss_family == AF_INET)
        {
          const struct sockaddr_in *in = (const struct sockaddr_in *) &ss;
          char ip[INET_ADDRSTRLEN];
          inet_ntop (AF_INET, &in->sin_addr, ip, sizeof ip);
          snprintf (r->peer, sizeof r->peer, "%s:%u", ip, (unsigned) ntohs (in->sin_port));
        }
      else
        snprintf (r->peer, sizeof r->peer, "local client");
      pthread_attr_init (&at);
      pthread_attr_setdetachstate (&at, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize (&at, 256 * 1024);
      errno = pthread_create (&t, &at, worker, r);
      pthread_attr_destroy (&at);
      if (errno != 0)
        {
          sv_net_log (k->net, "kms: cannot start a thread for a request: %s", strerror (errno));
          close (fd);
          free (r);
          pthread_mutex_lock (&k->lock);
          k->workers--;
          pthread_mutex_unlock (&k->lock);
        }
    }
}

/* ---- the service ---- */

/* Does the egress policy let the proxy reach what it needs?  0, or -1 with err naming
 * what egress.allow lacks. */
static int
check_egress (struct kms *k, const json_t *eg, char *err, size_t errlen)
{
  const json_t *al = json_object_get (eg, "allow"), *dl = json_object_get (eg, "deny");
  const char **allow = NULL, **deny = NULL;
  size_t na = json_array_size (al), nd = json_array_size (dl), i;
  struct netpolicy *p;
  struct netpolicy_verdict v;
  char e[512], missing[1024] = "";
  int rc = 0;
  allow = xcalloc (na + 1, sizeof *allow);
  deny = xcalloc (nd + 1, sizeof *deny);
  for (i = 0; i < na; i++)
    allow[i] = json_string_value (json_array_get (al, i));
  for (i = 0; i < nd; i++)
    deny[i] = json_string_value (json_array_get (dl, i));
  p = netpolicy_new (allow, na, deny, nd, e, sizeof e);
  free (allow);
  free (deny);
  if (p == NULL)
    return rt_err (err, errlen, "kms_proxy: the egress policy: %s", e);
#define MISSING(...)                                                                                 \
  do                                                                                                 \
    {                                                                                                \
      size_t l_ = strlen (missing);                                                                  \
      snprintf (missing + l_, sizeof missing - l_, __VA_ARGS__);                                     \
    }                                                                                                \
  while (0)
  if (!netpolicy_check (p, k->imds_host, &v))
    MISSING ("%s\"%s\" (IMDS, for the instance role's credentials%s)", missing[0] ? ", " : "",
             k->imds_host, v.rule ? ", denied by the rule " : "");
  if (json_object_size (k->endpoints) > 0)
    {
      const char *region;
      json_t *val;
      json_object_foreach (k->endpoints, region, val)
        {
          char host[256];
          unsigned port;
          if (!json_is_string (val) || split_hostport (json_string_value (val), host, sizeof host, &port, 443) < 0)
            continue;
          if (!netpolicy_check (p, host, &v))
            MISSING ("%s\"%s\" (kms_proxy.endpoints.%s)", missing[0] ? ", " : "", host, region);
        }
    }
  else
    {
      /* The region is known only per request: some KMS endpoint must be allowed. */
      static const char *const regions[] = { "us-east-1", "us-east-2", "us-west-1", "us-west-2",
                                             "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1",
                                             "ap-south-1", "ap-southeast-1", "ap-southeast-2",
                                             "ap-northeast-1", "ca-central-1", "sa-east-1" };
      int any = 0;
      for (i = 0; i < RT_ARRAY_SIZE (regions) && !any; i++)
        {
          char host[64];
          unsigned port;
          endpoint_for (k, regions[i], host, sizeof host, &port);
          any = netpolicy_check (p, host, &v);
        }
      if (!any)
        MISSING ("%s\"kms.REGION.amazonaws.com\" (the KMS endpoint of your region, or "
                 "\"kms.*.amazonaws.com\")", missing[0] ? ", " : "");
    }
#undef MISSING
  netpolicy_free (p);
  if (missing[0])
    rc = rt_err (err, errlen, "kms_proxy: egress.allow must let the proxy reach %s", missing);
  return rc;
}

static void
kms_free (struct kms *k)
{
  if (k == NULL)
    return;
  if (k->lfd >= 0)
    close (k->lfd);
  json_decref (k->endpoints);
  EVP_PKEY_free (k->key);
  free (k->spki);
  SSL_CTX_free (k->ssl);
  enclaver_nsm_close (k->nsm);
  pthread_mutex_destroy (&k->nsm_lock);
  pthread_mutex_destroy (&k->lock);
  pthread_cond_destroy (&k->idle);
  free (k);
}

static const char *
cfg_str (const json_t *cfg, const char *key, const char *dflt, int *bad)
{
  json_t *v = json_object_get (cfg, key);
  if (v == NULL)
    return dflt;
  if (!json_is_string (v))
    {
      *bad = 1;
      return dflt;
    }
  return json_string_value (v);
}

static int
kms_start (const struct sv_net_ctx *ctx, void **state, char *err, size_t errlen)
{
  const json_t *m = ctx->manifest ? json_object_get (ctx->manifest, "kms_proxy") : NULL;
  const json_t *eg = ctx->manifest ? json_object_get (ctx->manifest, "egress") : NULL;
  const json_t *cfg = json_object_get (ctx->config, "kms");
  const json_t *ncfg = json_object_get (ctx->config, "nsm");
  const json_t *ecfg = json_object_get (ctx->config, "egress");
  const char *device = ENCLAVER_NSM_DEVICE, *s;
  json_t *port, *v;
  struct kms *k;
  char e[512];
  int bad = 0;
  unsigned eport = 10000;

  if (m == NULL || json_is_null (m))
    return 0;
  port = json_object_get (m, "listen_port");
  if (!json_is_object (m) || !json_is_integer (port) || json_integer_value (port) < 1
      || json_integer_value (port) > 65535)
    return rt_err (err, errlen, "manifest key \"kms_proxy.listen_port\" must be a port number 1-65535");
  if (cfg && !json_is_object (cfg))
    return rt_err (err, errlen, "supervisor.json key \"kms\" must be an object");
  if (eg == NULL || json_is_null (eg) || json_array_size (json_object_get (eg, "allow")) == 0)
    return rt_err (err, errlen,
                   "kms_proxy needs egress: configure egress.allow to reach the IMDS at "
                   "169.254.169.254 and the AWS KMS endpoint (e.g. kms.us-east-1.amazonaws.com)");
  k = xcalloc (1, sizeof *k);
  k->net = ctx->net;
  k->loop = ctx->loop;
  k->lfd = -1;
  pthread_mutex_init (&k->nsm_lock, NULL);
  pthread_mutex_init (&k->lock, NULL);
  pthread_cond_init (&k->idle, NULL);
  k->timeout_ms = KMS_TIMEOUT_MS;
  k->token_ttl = KMS_TOKEN_TTL;
  if (json_is_object (json_object_get (m, "endpoints")))
    k->endpoints = json_deep_copy (json_object_get (m, "endpoints"));
  if (json_is_integer (json_object_get (eg, "proxy_port")))
    eport = (unsigned) json_integer_value (json_object_get (eg, "proxy_port"));
  snprintf (k->egress_addr, sizeof k->egress_addr, "tcp:127.0.0.1:%u", eport);
  /* The egress proxy moved by supervisor.json (tests): follow it. */
  s = cfg_str (ecfg, "listen", NULL, &bad);
  if (s)
    snprintf (k->egress_addr, sizeof k->egress_addr, "%s", s);
  snprintf (k->listen_addr, sizeof k->listen_addr, "tcp:127.0.0.1:%lld", (long long) json_integer_value (port));
  s = cfg_str (cfg, "listen", NULL, &bad);
  if (s)
    snprintf (k->listen_addr, sizeof k->listen_addr, "%s", s);
  s = cfg_str (cfg, "egress", NULL, &bad);
  if (s)
    snprintf (k->egress_addr, sizeof k->egress_addr, "%s", s);
  s = cfg_str (cfg, "imds", KMS_IMDS_DEFAULT, &bad);
  if (split_hostport (s, k->imds_host, sizeof k->imds_host, &k->imds_port, 80) < 0)
    bad = 1;
  s = cfg_str (cfg, "ca_file", NULL, &bad);
  if (s)
    snprintf (k->ca_file, sizeof k->ca_file, "%s", s);
  else
    snprintf (k->ca_file, sizeof k->ca_file, "%s%s",
              ctx->rootfs && strcmp (ctx->rootfs, "/") != 0 ? ctx->rootfs : "", KMS_CA_DEFAULT);
  v = json_object_get (cfg, "timeout_ms");
  if (v && (!json_is_integer (v) || json_integer_value (v) < 100 || json_integer_value (v) > 600000))
    bad = 1;
  else if (v)
    k->timeout_ms = (int) json_integer_value (v);
  v = json_object_get (cfg, "imds_token_ttl");
  if (v && (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > 21600))
    bad = 1;
  else if (v)
    k->token_ttl = (int) json_integer_value (v);
  v = json_object_get (ncfg, "device");
  if (json_is_string (v))
    device = json_string_value (v);
  if (bad)
    {
      kms_free (k);
      return rt_err (err, errlen,
                     "supervisor.json key \"kms\": listen, egress, imds (HOST:PORT) and ca_file are "
                     "strings, timeout_ms 100-600000, imds_token_ttl 1-21600");
    }
  if (check_egress (k, eg, err, errlen) < 0)
    {
      kms_free (k);
      return -1;
    }
  k->ssl = SSL_CTX_new (TLS_client_method ());
  if (k->ssl == NULL)
    {
      kms_free (k);
      return rt_err (err, errlen, "kms_proxy: cannot set up TLS");
    }
  SSL_CTX_set_min_proto_version (k->ssl, TLS1_2_VERSION);
  SSL_CTX_set_verify (k->ssl, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations (k->ssl, k->ca_file, NULL) != 1)
    {
      ERR_clear_error ();
      rt_err (err, errlen,
              "kms_proxy: cannot read the CA bundle %s, needed to check the KMS endpoint's "
              "certificate: install ca-certificates in the image",
              k->ca_file);
      kms_free (k);
      return -1;
    }
  k->key = kms_rsa_generate (e, sizeof e);
  if (k->key == NULL || kms_spki_der (k->key, &k->spki, &k->spki_len) < 0)
    {
      /* The message first: kms_free frees k (and k->key). */
      rt_err (err, errlen, "kms_proxy: the recipient key: %s", k->key ? "cannot encode it" : e);
      kms_free (k);
      return -1;
    }
  k->nsm = enclaver_nsm_open (device, NULL, k->nsm_error, sizeof k->nsm_error);
  if (k->nsm == NULL)
    sv_net_log (k->net, "kms: warning: %s; the attested actions will answer 503", k->nsm_error);
  k->lfd = enclaver_transport_listen (k->listen_addr, e, sizeof e);
  if (k->lfd < 0)
    {
      rt_err (err, errlen, "cannot listen on %s for the KMS proxy (manifest kms_proxy.listen_port): %s",
              k->listen_addr, e);
      kms_free (k);
      return -1;
    }
  if (fcntl (k->lfd, F_SETFL, fcntl (k->lfd, F_GETFL) | O_NONBLOCK) < 0
      || ev_add_file (k->loop, k->lfd, EV_READABLE, on_accept, k) < 0)
    {
      rt_err (err, errlen, "KMS proxy: %s", strerror (errno));
      kms_free (k);
      return -1;
    }
  {
    char env[64];
    snprintf (env, sizeof env, "http://127.0.0.1:%lld", (long long) json_integer_value (port));
    sv_net_setenv (k->net, "AWS_KMS_ENDPOINT", env);
    /* What current AWS SDKs read on their own (botocore >= 1.31, the Go and Rust SDKs). */
    sv_net_setenv (k->net, "AWS_ENDPOINT_URL_KMS", env);
  }
  sv_net_log (k->net, "kms: KMS proxy on %s (out through %s; IMDS %s:%u; CA bundle %s)", k->listen_addr,
              k->egress_addr, k->imds_host, k->imds_port, k->ca_file);
  *state = k;
  return 0;
}

static void
kms_stop_accepting (void *state)
{
  struct kms *k = state;
  if (k->lfd >= 0)
    {
      ev_del_file (k->loop, k->lfd, EV_READABLE);
      close (k->lfd);
      k->lfd = -1;
    }
}

static size_t
kms_active (void *state)
{
  struct kms *k = state;
  size_t n;
  pthread_mutex_lock (&k->lock);
  n = k->workers;
  pthread_mutex_unlock (&k->lock);
  return n;
}

static void
kms_destroy (void *state)
{
  struct kms *k = state;
  kms_stop_accepting (k);
  /* The workers' deadlines bound this wait. */
  pthread_mutex_lock (&k->lock);
  while (k->workers > 0)
    pthread_cond_wait (&k->idle, &k->lock);
  pthread_mutex_unlock (&k->lock);
  kms_free (k);
}

const struct sv_service sv_kms_service = {
  .name = "kms",
  .start = kms_start,
  .stop_accepting = kms_stop_accepting,
  .active = kms_active,
  .destroy = kms_destroy,
};
