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
#include "net.h"
#include "net/http.h"
#include "net/relay.h"
#include "nsm.h"
#include "rtutil.h"
#include "transport.h"

#define KMS_HEAD_MAX 16384
#define KMS_BODY_MAX (1024 * 1024)        /* a request body from the app */
#define KMS_RESP_MAX (2 * 1024 * 1024)    /* an answer of KMS or IMDS, head included */
#define KMS_MAX_WORKERS 16
#define KMS_TIMEOUT_MS 30000
#define KMS_IMDS_DEFAULT "169.254.169.254:80"
#define KMS_TOKEN_TTL 21600
#define KMS_CA_DEFAULT "/etc/ssl/certs/ca-certificates.crt"

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

struct kms
{
  struct sv_net *net;
  struct ev_loop *loop;
  int lfd;
  char listen_addr[160];
  char egress_addr[160];      /* the enclave's egress proxy, where requests go out */
  char imds_host[256];
  unsigned imds_port;
  char ca_file[PATH_MAX];
  json_t *endpoints;          /* manifest kms_proxy.endpoints (region -> HOST[:PORT]) */
  int timeout_ms;
  int token_ttl;
  EVP_PKEY *key;              /* the proxy's RSA-2048 recipient key */
  unsigned char *spki;        /* its DER SubjectPublicKeyInfo */
  size_t spki_len;
  SSL_CTX *ssl;
  struct enclaver_nsm *nsm;
  char nsm_error[512];
  pthread_mutex_t nsm_lock;   /* one NSM call at a time */

  pthread_mutex_t lock;       /* protects what follows */
  pthread_cond_t idle;
  char token[512];            /* the IMDSv2 session token, "" when none */
  struct timespec token_until;
  size_t workers;             /* requests in flight */
};

struct kreq
{
  struct kms *k;
  int fd;
  char peer[64];
  struct timespec deadline;
};

/* ---- time and bounded blocking I/O ---- */

static void
deadline_in (struct timespec *t, int ms)
{
  clock_gettime (CLOCK_MONOTONIC, t);
  t->tv_sec += ms / 1000;
  t->tv_nsec += (long) (ms % 1000) * 1000000L;
  if (t->tv_nsec >= 1000000000L)
    {
      t->tv_sec++;
      t->tv_nsec -= 1000000000L;
    }
}

static long long
ms_left (const struct timespec *t)
{
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  return (long long) (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Bound the next blocking call on fd by the time left; 0, or -1 (ETIMEDOUT) when none is. */
static int
arm (int fd, const struct timespec *deadline)
{
  long long left = ms_left (deadline);
  struct timeval tv;
  if (left <= 0)
    {
      errno = ETIMEDOUT;
      return -1;
    }
  tv.tv_sec = (time_t) (left / 1000);
  tv.tv_usec = (suseconds_t) (left % 1000) * 1000;
  if (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0
      || setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
    return -1;
  return 0;
}

static ssize_t
t_recv (int fd, void *buf, size_t len, const struct timespec *deadline)
{
  for (;;)
    {
      ssize_t r;
      if (arm (fd, deadline) < 0)
        return -1;
      r = recv (fd, buf, len, 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        errno = ETIMEDOUT;
      return r;
    }
}

static int
t_send_all (int fd, const void *buf, size_t len, const struct timespec *deadline)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t r;
      if (arm (fd, deadline) < 0)
        return -1;
      r = send (fd, p, len, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        errno = ETIMEDOUT;
      if (r <= 0)
        return -1;
      p += r;
      len -= (size_t) r;
    }
  return 0;
}

/* ---- an upstream connection: the egress proxy, then plain or TLS ---- */

struct up
{
  int fd;
  SSL *ssl;
  const struct timespec *deadline;
};

static void
ssl_why (char *buf, size_t len)
{
  unsigned long e = ERR_get_error ();
  if (e == 0)
    snprintf (buf, len, "%s", errno ? strerror (errno) : "the connection ended");
  else
    ERR_error_string_n (e, buf, len);
  ERR_clear_error ();
}

static int
up_write (struct up *u, const void *buf, size_t len)
{
  const char *p = buf;
  if (u->ssl == NULL)
    return t_send_all (u->fd, buf, len, u->deadline);
  while (len > 0)
    {
      int r;
      if (arm (u->fd, u->deadline) < 0)
        return -1;
      r = SSL_write (u->ssl, p, len > INT_MAX ? INT_MAX : (int) len);
      if (r <= 0)
        return -1;
      p += r;
      len -= (size_t) r;
    }
  return 0;
}

static ssize_t
up_read (struct up *u, void *buf, size_t len)
{
  int r;
  if (u->ssl == NULL)
    return t_recv (u->fd, buf, len, u->deadline);
  if (arm (u->fd, u->deadline) < 0)
    return -1;
  r = SSL_read (u->ssl, buf, len > INT_MAX ? INT_MAX : (int) len);
  if (r > 0)
    return r;
  if (SSL_get_error (u->ssl, r) == SSL_ERROR_ZERO_RETURN)
    return 0;
  /* A peer that closes without close_notify: the framing of the body says whether the
   * answer was complete. */
  if (SSL_get_error (u->ssl, r) == SSL_ERROR_SYSCALL && ERR_peek_error () == 0 && errno == 0)
    return 0;
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    errno = ETIMEDOUT;
  return -1;
}

static void
up_close (struct up *u)
{
  if (u->ssl)
    {
      SSL_shutdown (u->ssl);
      SSL_free (u->ssl);
      u->ssl = NULL;
    }
  if (u->fd >= 0)
    close (u->fd);
  u->fd = -1;
}

/* A parsed answer: the head parsed in buf, the (de-chunked) body in body. */
struct answer
{
  char *buf;
  size_t len;
  struct http_head h;
  char *body;
  size_t body_len;
};

static void
answer_free (struct answer *a)
{
  free (a->buf);
  free (a->body);
  memset (a, 0, sizeof *a);
}

/* Decode a complete chunked body; -1 when its framing is bad. */
static int
dechunk (const char *p, size_t len, char **out, size_t *outlen)
{
  size_t i = 0, n = 0;
  char *o = xmalloc (len + 1);
  for (;;)
    {
      unsigned long long sz = 0;
      int digits = 0;
      while (i < len && strchr ("0123456789abcdefABCDEF", p[i]) && p[i])
        {
          int c = p[i++];
          sz = sz * 16 + (unsigned) (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
          if (++digits > 12)
            goto bad;
        }
      if (digits == 0)
        goto bad;
      while (i < len && p[i] != '\n') /* chunk extensions */
        i++;
      if (i >= len)
        goto bad;
      i++;
      if (sz == 0)
        break;
      if (sz > len - i)
        goto bad;
      memcpy (o + n, p + i, sz);
      n += sz;
      i += sz;
      if (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n')
        i += 2;
      else if (i < len && p[i] == '\n')
        i++;
      else
        goto bad;
    }
  o[n] = '\0';
  *out = o;
  *outlen = n;
  return 0;
bad:
  free (o);
  return -1;
}

/* Read one answer (head and body) of at most KMS_RESP_MAX bytes. */
static int
read_answer (struct up *u, struct http_str method, struct answer *a, char *err, size_t errlen)
{
  size_t cap = 16384;
  struct http_body fr;
  int head_done = 0;
  size_t body_start = 0, body_end = 0;
  memset (a, 0, sizeof *a);
  a->buf = xmalloc (cap);
  for (;;)
    {
      ssize_t r;
      if (a->len == cap)
        {
          if (cap >= KMS_RESP_MAX)
            return rt_err (err, errlen, "the answer is larger than %d bytes", KMS_RESP_MAX);
          cap *= 2;
          a->buf = xrealloc (a->buf, cap);
        }
      r = up_read (u, a->buf + a->len, cap - a->len);
      if (r < 0)
        return rt_err (err, errlen, "reading the answer: %s",
                       errno == ETIMEDOUT ? "timed out" : strerror (errno));
      if (r > 0 && !head_done)
        a->len += (size_t) r;
      if (!head_done)
        {
          enum http_result hr = http_parse_response (a->buf, a->len, KMS_HEAD_MAX, &a->h);
          if (hr == HTTP_BAD)
            return rt_err (err, errlen, "a malformed answer: %s", a->h.error ? a->h.error : "bad head");
          if (hr == HTTP_DONE && a->h.status >= 100 && a->h.status < 200)
            {
              /* 100 Continue and friends: drop that head, read the next. */
              memmove (a->buf, a->buf + a->h.head_len, a->len - a->h.head_len);
              a->len -= a->h.head_len;
              continue;
            }
          if (hr == HTTP_DONE)
            {
              head_done = 1;
              body_start = body_end = a->h.head_len;
              http_body_init_response (&fr, &a->h, method);
              r = (ssize_t) (a->len - body_start);
              a->len = body_start;
            }
          else if (r == 0)
            return rt_err (err, errlen, "the connection closed before the answer's head was complete");
          else
            continue;
        }
      if (r == 0 && !fr.done)
        {
          if (!http_body_until_close (&fr))
            return rt_err (err, errlen, "the connection closed before the answer's body was complete");
          break;
        }
      {
        size_t used = http_body_feed (&fr, a->buf + a->len, (size_t) r);
        if (fr.bad)
          return rt_err (err, errlen, "bad chunked framing in the answer");
        a->len += used;
        body_end = a->len;
      }
      if (fr.done)
        break;
    }
  if (a->h.chunked)
    {
      if (dechunk (a->buf + body_start, body_end - body_start, &a->body, &a->body_len) < 0)
        return rt_err (err, errlen, "bad chunked framing in the answer");
    }
  else
    {
      a->body_len = body_end - body_start;
      a->body = xmalloc (a->body_len + 1);
      memcpy (a->body, a->buf + body_start, a->body_len);
      a->body[a->body_len] = '\0';
    }
  return 0;
}

/* Connect to the egress proxy. */
static int
up_open (struct kms *k, struct up *u, const struct timespec *deadline, char *err, size_t errlen)
{
  char e[256];
  u->ssl = NULL;
  u->deadline = deadline;
  u->fd = enclaver_transport_connect (k->egress_addr, e, sizeof e);
  if (u->fd < 0)
    return rt_err (err, errlen, "cannot reach the enclave's egress proxy at %s: %s", k->egress_addr, e);
  net_set_nodelay (u->fd);
  return 0;
}

/* Through the egress proxy's CONNECT to host:port, then TLS with the server's name
 * checked. */
static int
up_open_tls (struct kms *k, struct up *u, const char *host, unsigned port,
             const struct timespec *deadline, char *err, size_t errlen)
{
  char req[600], e[256];
  struct answer a;
  int n;
  if (up_open (k, u, deadline, err, errlen) < 0)
    return -1;
  n = snprintf (req, sizeof req, "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", host, port, host, port);
  if (up_write (u, req, (size_t) n) < 0)
    {
      up_close (u);
      return rt_err (err, errlen, "sending CONNECT to the egress proxy: %s", strerror (errno));
    }
  /* The proxy answers CONNECT with a head and no body (a refusal has one: read it). */
  memset (&a, 0, sizeof a);
  {
    size_t cap = 8192;
    a.buf = xmalloc (cap);
    for (;;)
      {
        ssize_t r = up_read (u, a.buf + a.len, cap - a.len);
        enum http_result hr;
        if (r <= 0)
          {
            answer_free (&a);
            up_close (u);
            return rt_err (err, errlen, "the egress proxy did not answer CONNECT %s:%u: %s", host, port,
                           r < 0 ? strerror (errno) : "it closed the connection");
          }
        a.len += (size_t) r;
        hr = http_parse_response (a.buf, a.len, cap, &a.h);
        if (hr == HTTP_DONE)
          break;
        if (hr == HTTP_BAD || a.len == cap)
          {
            answer_free (&a);
            up_close (u);
            return rt_err (err, errlen, "the egress proxy's answer to CONNECT %s:%u is malformed", host, port);
          }
      }
  }
  if (a.h.status != 200)
    {
      /* Its body says why (the policy's rule, the host's error): read what is there. */
      size_t have = a.len - a.h.head_len;
      char why[400];
      snprintf (why, sizeof why, "%.*s", (int) (have > 300 ? 300 : have), a.buf + a.h.head_len);
      for (char *p = why; *p; p++)
        if (*p == '\r' || *p == '\n')
          *p = ' ';
      n = a.h.status;
      answer_free (&a);
      up_close (u);
      return rt_err (err, errlen, "the egress proxy refused CONNECT %s:%u: %d %s", host, port, n, why);
    }
  if (a.len != a.h.head_len)
    {
      answer_free (&a);
      up_close (u);
      return rt_err (err, errlen, "the egress proxy sent bytes after its CONNECT answer");
    }
  answer_free (&a);
  u->ssl = SSL_new (k->ssl);
  if (u->ssl == NULL || SSL_set_fd (u->ssl, u->fd) != 1 || SSL_set_tlsext_host_name (u->ssl, host) != 1
      || SSL_set1_host (u->ssl, host) != 1)
    {
      ssl_why (e, sizeof e);
      up_close (u);
      return rt_err (err, errlen, "TLS setup for %s: %s", host, e);
    }
  if (arm (u->fd, deadline) < 0 || SSL_connect (u->ssl) != 1)
    {
      long vr = SSL_get_verify_result (u->ssl);
      if (vr != X509_V_OK)
        snprintf (e, sizeof e, "the server certificate is not trusted: %s (CA bundle %.150s)",
                  X509_verify_cert_error_string (vr), k->ca_file);
      else
        ssl_why (e, sizeof e);
      up_close (u);
      return rt_err (err, errlen, "TLS with %s:%u: %s", host, port, e);
    }
  return 0;
}

/* ---- IMDSv2 ---- */

/* One IMDS exchange through the egress proxy (absolute-form HTTP). */
static int
imds_call (struct kms *k, const char *method, const char *path, const char *extra,
           const struct timespec *deadline, struct answer *a, char *err, size_t errlen)
{
  struct up u;
  char *req;
  struct http_str m = { method, strlen (method) };
  int rc;
  if (up_open (k, &u, deadline, err, errlen) < 0)
    return -1;
  req = xasprintf ("%s http://%s:%u%s HTTP/1.1\r\nHost: %s:%u\r\n%sContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n",
                   method, k->imds_host, k->imds_port, path, k->imds_host, k->imds_port, extra);
  rc = up_write (&u, req, strlen (req));
  free (req);
  if (rc < 0)
    {
      up_close (&u);
      return rt_err (err, errlen, "IMDS %s %s: sending: %s", method, path, strerror (errno));
    }
  {
    char e[400];
    rc = read_answer (&u, m, a, e, sizeof e);
    up_close (&u);
    if (rc < 0)
      {
        answer_free (a);
        return rt_err (err, errlen, "IMDS %s %s: %s", method, path, e);
      }
  }
  return 0;
}

/* The session token (cached; a new one when force or when it ran out). */
static int
imds_token (struct kms *k, int force, const struct timespec *deadline, char *tok, size_t toklen,
            char *err, size_t errlen)
{
  struct answer a;
  char extra[128];
  long long ttl = k->token_ttl;
  const struct http_header *th;
  pthread_mutex_lock (&k->lock);
  if (!force && k->token[0] && ms_left (&k->token_until) > 0)
    {
      snprintf (tok, toklen, "%s", k->token);
      pthread_mutex_unlock (&k->lock);
      return 0;
    }
  pthread_mutex_unlock (&k->lock);
  snprintf (extra, sizeof extra, "X-aws-ec2-metadata-token-ttl-seconds: %d\r\n", k->token_ttl);
  if (imds_call (k, "PUT", "/latest/api/token", extra, deadline, &a, err, errlen) < 0)
    return -1;
  if (a.h.status != 200 || a.body_len == 0 || a.body_len >= toklen || a.body_len >= sizeof k->token
      || memchr (a.body, '\r', a.body_len) || memchr (a.body, '\n', a.body_len))
    {
      rt_err (err, errlen, "IMDS PUT /latest/api/token answered %d%s (is IMDSv2 enabled, and the "
              "hop limit at least 2?)", a.h.status, a.h.status == 200 ? " with an unusable token" : "");
      answer_free (&a);
      return -1;
    }
  memcpy (tok, a.body, a.body_len);
  tok[a.body_len] = '\0';
  /* The answer says the TTL it granted; keep a margin so a token is never sent stale. */
  th = http_find_header (&a.h, "X-aws-ec2-metadata-token-ttl-seconds");
  if (th && th->value.len > 0 && th->value.len < 10)
    {
      char v[16];
      memcpy (v, th->value.p, th->value.len);
      v[th->value.len] = '\0';
      ttl = atoll (v);
    }
  pthread_mutex_lock (&k->lock);
  snprintf (k->token, sizeof k->token, "%s", tok);
  {
    long long ms = ttl * 1000 - (ttl >= 240 ? 60000 : ttl * 250);
    deadline_in (&k->token_until, ms > 0 ? (int) (ms > INT_MAX ? INT_MAX : ms) : 0);
  }
  pthread_mutex_unlock (&k->lock);
  answer_free (&a);
  return 0;
}

/* GET path with the session token; a 401 (expired or revoked token) gets one new token
 * and one more try. */
static int
imds_get (struct kms *k, const char *path, const struct timespec *deadline, struct answer *a,
          char *err, size_t errlen)
{
  for (int attempt = 0; attempt < 2; attempt++)
    {
      char tok[512], extra[600];
      if (imds_token (k, attempt > 0, deadline, tok, sizeof tok, err, errlen) < 0)
        return -1;
      snprintf (extra, sizeof extra, "X-aws-ec2-metadata-token: %s\r\n", tok);
      if (imds_call (k, "GET", path, extra, deadline, a, err, errlen) < 0)
        return -1;
      if (a->h.status != 401)
        break;
      if (attempt == 0)
        sv_net_log (k->net, "kms: IMDS refused the session token (401): fetching a new one");
      answer_free (a);
    }
  if (a->buf == NULL)
    return rt_err (err, errlen, "IMDS GET %s: 401 with a new session token too", path);
  if (a->h.status != 200)
    {
      rt_err (err, errlen, "IMDS GET %s answered %d%s", path, a->h.status,
              a->h.status == 404 && strstr (path, "security-credentials")
                ? " (does the instance have an IAM role?)" : "");
      answer_free (a);
      return -1;
    }
  return 0;
}

struct creds
{
  char akid[256], secret[256], token[4096];
};

static int
json_str (json_t *o, const char *key, char *out, size_t outlen)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_string (v) || json_string_length (v) == 0 || json_string_length (v) >= outlen)
    return -1;
  memcpy (out, json_string_value (v), json_string_length (v) + 1);
  return 0;
}

static int
imds_credentials (struct kms *k, const struct timespec *deadline, struct creds *c, char *err,
                  size_t errlen)
{
  struct answer a;
  char role[256], path[400];
  size_t n;
  json_t *j;
  json_error_t je;
  int rc = -1;
  if (imds_get (k, "/latest/meta-data/iam/security-credentials/", deadline, &a, err, errlen) < 0)
    return -1;
  n = strcspn (a.body, "\r\n");
  if (n == 0 || n >= sizeof role || strspn (a.body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                     "0123456789+=,.@_-") < n)
    {
      answer_free (&a);
      return rt_err (err, errlen, "IMDS names no usable IAM role (does the instance have one?)");
    }
  memcpy (role, a.body, n);
  role[n] = '\0';
  answer_free (&a);
  snprintf (path, sizeof path, "/latest/meta-data/iam/security-credentials/%s", role);
  if (imds_get (k, path, deadline, &a, err, errlen) < 0)
    return -1;
  j = json_loadb (a.body, a.body_len, 0, &je);
  if (j == NULL || !json_is_object (j))
    rt_err (err, errlen, "IMDS credentials of role %s are not a JSON object", role);
  else if (!json_is_string (json_object_get (j, "Code"))
           || strcmp (json_string_value (json_object_get (j, "Code")), "Success") != 0)
    rt_err (err, errlen, "IMDS credentials of role %s: Code is not \"Success\"", role);
  else if (json_str (j, "AccessKeyId", c->akid, sizeof c->akid) < 0
           || json_str (j, "SecretAccessKey", c->secret, sizeof c->secret) < 0
           || json_str (j, "Token", c->token, sizeof c->token) < 0)
    rt_err (err, errlen, "IMDS credentials of role %s lack AccessKeyId, SecretAccessKey or Token", role);
  else
    rc = 0;
  json_decref (j);
  answer_free (&a);
  return rc;
}

static int
imds_region (struct kms *k, const struct timespec *deadline, char *region, size_t len, char *err,
             size_t errlen)
{
  struct answer a;
  size_t n;
  if (imds_get (k, "/latest/meta-data/placement/region", deadline, &a, err, errlen) < 0)
    return -1;
  n = strspn (a.body, "abcdefghijklmnopqrstuvwxyz0123456789-");
  if (n == 0 || n >= len || n != a.body_len)
    {
      answer_free (&a);
      return rt_err (err, errlen, "IMDS gave no usable region");
    }
  memcpy (region, a.body, n);
  region[n] = '\0';
  answer_free (&a);
  return 0;
}

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
    (void) t_send_all (r->fd, out, (size_t) n, &r->deadline);
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
      n = t_recv (r->fd, *buf + *len, cap - *len, &r->deadline);
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
              if (t_send_all (r->fd, cont, sizeof cont - 1, &r->deadline) < 0)
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
  if (imds_credentials (k, &r->deadline, &cr, e, sizeof e) < 0
      || (region[0] == '\0' && imds_region (k, &r->deadline, region, sizeof region, e, sizeof e) < 0))
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
  if (up_open_tls (k, &u, host, port, &r->deadline, e, sizeof e) < 0)
    {
      reply_error (r, 502, "EnclaverKmsProxyException", what, "%s", e);
      goto out;
    }
  if (up_write (&u, req, strlen (req)) < 0 || up_write (&u, body, blen) < 0)
    {
      ssl_why (e, sizeof e);
      reply_error (r, 502, "EnclaverKmsProxyException", what, "sending to %s: %s", host, e);
      goto out;
    }
  {
    struct http_str m = { "POST", 4 };
    if (read_answer (&u, m, &a, e, sizeof e) < 0)
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
  up_close (&u);
  answer_free (&a);
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
      deadline_in (&r->deadline, k->timeout_ms);
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
      kms_free (k);
      return rt_err (err, errlen, "kms_proxy: the recipient key: %s", k->key ? "cannot encode it" : e);
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
