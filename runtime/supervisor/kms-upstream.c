/* enclaver-supervisor: the KMS proxy's way out (docs/attestation.md, "KMS proxy"):
 * blocking I/O bounded by one deadline per request, connections through the enclave's
 * egress proxy (plain HTTP for IMDS, CONNECT + TLS for KMS) and the IMDSv2 client that
 * reads the instance role's credentials.  kms.c serves the app's requests with them. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kms-upstream.h"
#include "net.h"
#include "net/relay.h"
#include "rtutil.h"
#include "transport.h"

/* ---- time and bounded blocking I/O ---- */

void
kms_deadline_in (struct timespec *t, int ms)
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

ssize_t
kms_t_recv (int fd, void *buf, size_t len, const struct timespec *deadline)
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

int
kms_t_send_all (int fd, const void *buf, size_t len, const struct timespec *deadline)
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

void
kms_ssl_why (char *buf, size_t len)
{
  unsigned long e = ERR_get_error ();
  if (e == 0)
    snprintf (buf, len, "%s", errno ? strerror (errno) : "the connection ended");
  else
    ERR_error_string_n (e, buf, len);
  ERR_clear_error ();
}

int
kms_up_write (struct up *u, const void *buf, size_t len)
{
  const char *p = buf;
  if (u->ssl == NULL)
    return kms_t_send_all (u->fd, buf, len, u->deadline);
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
    return kms_t_recv (u->fd, buf, len, u->deadline);
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

void
kms_up_close (struct up *u)
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

void
kms_answer_free (struct answer *a)
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
int
kms_read_answer (struct up *u, struct http_str method, struct answer *a, char *err, size_t errlen)
{
  size_t cap = 16384;
  struct http_body fr;
  int head_done = 0, eof;
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
      eof = r == 0;
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
      /* r is now the body's bytes in this read: none when the head just ended with it. */
      if (r > 0 && !fr.done)
        {
          size_t used = http_body_feed (&fr, a->buf + a->len, (size_t) r);
          if (fr.bad)
            return rt_err (err, errlen, "bad chunked framing in the answer");
          a->len += used;
          body_end = a->len;
        }
      if (fr.done)
        break;
      if (eof)
        {
          if (!http_body_until_close (&fr))
            return rt_err (err, errlen, "the connection closed before the answer's body was complete");
          break;
        }
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
int
kms_up_open_tls (struct kms *k, struct up *u, const char *host, unsigned port,
             const struct timespec *deadline, char *err, size_t errlen)
{
  char req[600], e[256];
  struct answer a;
  int n;
  if (up_open (k, u, deadline, err, errlen) < 0)
    return -1;
  n = snprintf (req, sizeof req, "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", host, port, host, port);
  if (kms_up_write (u, req, (size_t) n) < 0)
    {
      kms_up_close (u);
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
            kms_answer_free (&a);
            kms_up_close (u);
            return rt_err (err, errlen, "the egress proxy did not answer CONNECT %s:%u: %s", host, port,
                           r < 0 ? strerror (errno) : "it closed the connection");
          }
        a.len += (size_t) r;
        hr = http_parse_response (a.buf, a.len, cap, &a.h);
        if (hr == HTTP_DONE)
          break;
        if (hr == HTTP_BAD || a.len == cap)
          {
            kms_answer_free (&a);
            kms_up_close (u);
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
      kms_answer_free (&a);
      kms_up_close (u);
      return rt_err (err, errlen, "the egress proxy refused CONNECT %s:%u: %d %s", host, port, n, why);
    }
  if (a.len != a.h.head_len)
    {
      kms_answer_free (&a);
      kms_up_close (u);
      return rt_err (err, errlen, "the egress proxy sent bytes after its CONNECT answer");
    }
  kms_answer_free (&a);
  u->ssl = SSL_new (k->ssl);
  if (u->ssl == NULL || SSL_set_fd (u->ssl, u->fd) != 1 || SSL_set_tlsext_host_name (u->ssl, host) != 1
      || SSL_set1_host (u->ssl, host) != 1)
    {
      kms_ssl_why (e, sizeof e);
      kms_up_close (u);
      return rt_err (err, errlen, "TLS setup for %s: %s", host, e);
    }
  if (arm (u->fd, deadline) < 0 || SSL_connect (u->ssl) != 1)
    {
      long vr = SSL_get_verify_result (u->ssl);
      if (vr != X509_V_OK)
        snprintf (e, sizeof e, "the server certificate is not trusted: %s (CA bundle %.150s)",
                  X509_verify_cert_error_string (vr), k->ca_file);
      else
        kms_ssl_why (e, sizeof e);
      kms_up_close (u);
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
  rc = kms_up_write (&u, req, strlen (req));
  free (req);
  if (rc < 0)
    {
      kms_up_close (&u);
      return rt_err (err, errlen, "IMDS %s %s: sending: %s", method, path, strerror (errno));
    }
  {
    char e[400];
    rc = kms_read_answer (&u, m, a, e, sizeof e);
    kms_up_close (&u);
    if (rc < 0)
      {
        kms_answer_free (a);
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
      kms_answer_free (&a);
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
    kms_deadline_in (&k->token_until, ms > 0 ? (int) (ms > INT_MAX ? INT_MAX : ms) : 0);
  }
  pthread_mutex_unlock (&k->lock);
  kms_answer_free (&a);
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
      kms_answer_free (a);
    }
  if (a->buf == NULL)
    return rt_err (err, errlen, "IMDS GET %s: 401 with a new session token too", path);
  if (a->h.status != 200)
    {
      rt_err (err, errlen, "IMDS GET %s answered %d%s", path, a->h.status,
              a->h.status == 404 && strstr (path, "security-credentials")
                ? " (does the instance have an IAM role?)" : "");
      kms_answer_free (a);
      return -1;
    }
  return 0;
}

static int
json_str (json_t *o, const char *key, char *out, size_t outlen)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_string (v) || json_string_length (v) == 0 || json_string_length (v) >= outlen)
    return -1;
  memcpy (out, json_string_value (v), json_string_length (v) + 1);
  return 0;
}

int
kms_imds_credentials (struct kms *k, const struct timespec *deadline, struct creds *c, char *err,
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
      kms_answer_free (&a);
      return rt_err (err, errlen, "IMDS names no usable IAM role (does the instance have one?)");
    }
  memcpy (role, a.body, n);
  role[n] = '\0';
  kms_answer_free (&a);
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
  kms_answer_free (&a);
  return rc;
}

int
kms_imds_region (struct kms *k, const struct timespec *deadline, char *region, size_t len, char *err,
             size_t errlen)
{
  struct answer a;
  size_t n;
  if (imds_get (k, "/latest/meta-data/placement/region", deadline, &a, err, errlen) < 0)
    return -1;
  n = strspn (a.body, "abcdefghijklmnopqrstuvwxyz0123456789-");
  if (n == 0 || n >= len || n != a.body_len)
    {
      kms_answer_free (&a);
      return rt_err (err, errlen, "IMDS gave no usable region");
    }
  memcpy (region, a.body, n);
  region[n] = '\0';
  kms_answer_free (&a);
  return 0;
}
