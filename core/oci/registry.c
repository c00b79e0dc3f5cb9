/* enclaver: the registry HTTP API v2 client (libcurl) — OCI.md §2.
 *
 * Every request runs through do_request(): it adds the Authorization header we hold
 * for the repository scope, answers 401 challenges (Bearer token flow with a token
 * cache per scope, or Basic), retries transport errors, 408/429/5xx with backoff
 * (Retry-After honoured), and resumes blob downloads with Range.  Redirects are
 * followed, and libcurl never forwards our Authorization header to another host. */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include "oci/oci.h"
#include "oci/registry-internal.h"
#include <enclaver/log.h>


struct token_entry
{
  char *scope;
  char *token;
  time_t expires;
  struct token_entry *next;
};

struct oci_registry
{
  char *host;    /* API host[:port] */
  char *display; /* registry name as the user wrote it; credentials key */
  char *scheme;  /* "https"/"http" once known */
  int http_ok;   /* plain http allowed (loopback or --insecure-registry) */
  char *ca_cert;
  char *client_cert, *client_key; /* from certs.d */
  pthread_mutex_t lock;
  struct oci_creds creds;
  int creds_state; /* 0 not looked up, 1 found, 2 none */
  int basic;       /* the registry asked for Basic */
  struct token_entry *tokens;
  /* One connection cache (and DNS and TLS session cache) for every request to this
   * registry, so requests reuse kept-alive connections instead of a handshake each. */
  CURLSH *share;
  pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
  long retry_ms;
  int max_attempts;
  long deadline_ms; /* one request (a blob or manifest) with all its retries */
  long stall_s;     /* the first attempt's stall time; halved at each retry */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------ registry object */

int
oci_host_is_loopback (const char *hostport)
{
  cleanup_free char *h = NULL;
  if (hostport[0] == '[')
    {
      const char *e = strchr (hostport, ']');
      h = e ? xstrndup (hostport + 1, (size_t) (e - hostport - 1)) : xstrdup (hostport);
    }
  else
    h = xstrndup (hostport, strcspn (hostport, ":"));
  if (strcasecmp (h, "localhost") == 0)
    return 1;
  size_t n = strlen (h);
  if (n > 10 && strcasecmp (h + n - 10, ".localhost") == 0)
    return 1;
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton (AF_INET, h, &a4) == 1)
    return (ntohl (a4.s_addr) >> 24) == 127;
  if (inet_pton (AF_INET6, h, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK (&a6);
  return 0;
}

/* TLS settings of a registry from a certs.d directory (containers-certs.d(5), Docker's
 * /etc/docker/certs.d): DIR/HOST[:PORT]/ with *.crt (CA certificates; the first by
 * name) and NAME.cert + NAME.key (a client certificate).  A .cert without its .key is an
 * error naming both. */
static int
certs_d (struct oci_registry *r, const char *cert_dir, enclaver_error_t *err)
{
  const char *roots[] = { cert_dir, cert_dir ? NULL : "/etc/containers/certs.d", cert_dir ? NULL : "/etc/docker/certs.d" };
  for (size_t i = 0; i < 3; i++)
    {
      if (roots[i] == NULL)
        continue;
      cleanup_free char *d = xasprintf ("%s/%s", roots[i], r->display);
      cleanup_dir DIR *dir = opendir (d);
      struct dirent *de;
      cleanup_free char *ca = NULL, *cert = NULL;
      if (dir == NULL)
        continue;
      while ((de = readdir (dir)) != NULL)
        {
          size_t n = strlen (de->d_name);
          if (n > 4 && strcmp (de->d_name + n - 4, ".crt") == 0 && (ca == NULL || strcmp (de->d_name, ca) < 0))
            {
              free (ca);
              ca = xstrdup (de->d_name);
            }
          else if (n > 5 && strcmp (de->d_name + n - 5, ".cert") == 0 && (cert == NULL || strcmp (de->d_name, cert) < 0))
            {
              free (cert);
              cert = xstrdup (de->d_name);
            }
        }
      if (ca)
        r->ca_cert = xasprintf ("%s/%s", d, ca);
      if (cert)
        {
          r->client_cert = xasprintf ("%s/%s", d, cert);
          r->client_key = xasprintf ("%s/%.*s.key", d, (int) (strlen (cert) - 5), cert);
          if (access (r->client_key, R_OK) != 0)
            return enclaver_make_errno (err, errno, "registry %s: client certificate %s has no key %s",
                                        r->display, r->client_cert, r->client_key);
        }
      if (ca || cert)
        enclaver_log_debug ("registry %s: TLS settings from %s", r->display, d);
      return 0;
    }
  return 0;
}

static void
share_lock (CURL *c, curl_lock_data data, curl_lock_access access, void *ud)
{
  struct oci_registry *r = ud;
  (void) c, (void) access;
  pthread_mutex_lock (&r->share_lock[data]);
}

static void
share_unlock (CURL *c, curl_lock_data data, void *ud)
{
  struct oci_registry *r = ud;
  (void) c;
  pthread_mutex_unlock (&r->share_lock[data]);
}

struct oci_registry *
oci_registry_new (const char *host, const char *display, const struct oci_registry_options *o, enclaver_error_t *err)
{
  pthread_once (&curl_once, curl_init_once);
  struct oci_registry *r = xmalloc0 (sizeof *r);
  r->host = xstrdup (host);
  r->display = xstrdup (display ? display : host);
  pthread_mutex_init (&r->lock, NULL);
  for (size_t i = 0; i < ARRAY_SIZE (r->share_lock); i++)
    pthread_mutex_init (&r->share_lock[i], NULL);
  r->share = curl_share_init ();
  if (r->share == NULL)
    xoom ();
  curl_share_setopt (r->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (r->share, CURLSHOPT_USERDATA, r);
  curl_share_setopt (r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt (r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  r->http_ok = oci_host_is_loopback (host);
  for (const char *const *p = o ? o->insecure : NULL; p && *p; p++)
    if (strcmp (*p, host) == 0 || strcmp (*p, r->display) == 0)
      r->http_ok = 1;
  const char *ca = o && o->ca_cert ? o->ca_cert : NULL;
  if (ca == NULL && certs_d (r, o ? o->cert_dir : NULL, err) < 0)
    {
      oci_registry_free (r);
      return NULL;
    }
  if (ca == NULL && r->ca_cert == NULL)
    ca = getenv ("SSL_CERT_FILE");
  if (ca && *ca)
    {
      free (r->ca_cert);
      r->ca_cert = xstrdup (ca);
    }
  /* libcurl opens these itself, with a blocking open: a FIFO there would hang it. */
  const char *tls_files[] = { r->ca_cert, r->client_cert, r->client_key };
  for (size_t i = 0; i < ARRAY_SIZE (tls_files); i++)
    {
      int fd = tls_files[i] ? enclaver_open_file (tls_files[i], 0, err) : -2;
      if (fd == -1)
        {
          enclaver_error_wrap (err, "registry %s: TLS file", r->display);
          oci_registry_free (r);
          return NULL;
        }
      if (fd >= 0)
        close (fd);
    }
  if (o && o->creds)
    {
      const char *colon = strchr (o->creds, ':');
      if (colon == NULL || colon == o->creds)
        {
          enclaver_make_error (err, EINVAL, "--creds: give USER:PASSWORD");
          oci_registry_free (r);
          return NULL;
        }
      r->creds.username = xstrndup (o->creds, (size_t) (colon - o->creds));
      r->creds.password = xstrdup (colon + 1);
      r->creds.from = xstrdup ("--creds");
      r->creds_state = 1;
    }
  if (!r->http_ok)
    r->scheme = xstrdup ("https");
  const char *e = getenv ("ENCLAVER_RETRY_DELAY_MS");
  r->retry_ms = e ? strtol (e, NULL, 10) : 500;
  if (r->retry_ms < 0 || r->retry_ms > 60000)
    r->retry_ms = 500;
  r->max_attempts = 5;
  long t = o ? o->blob_timeout : 0;
  if (t <= 0 && (e = getenv ("ENCLAVER_BLOB_TIMEOUT")) && *e)
    {
      char *end;
      errno = 0;
      t = strtol (e, &end, 10);
      if (errno || *end || t < 1 || t > OCI_BLOB_TIMEOUT_MAX)
        {
          enclaver_make_error (err, EINVAL, "ENCLAVER_BLOB_TIMEOUT='%s' is not a number of seconds from 1 to %d", e,
                               OCI_BLOB_TIMEOUT_MAX);
          oci_registry_free (r);
          return NULL;
        }
    }
  r->deadline_ms = 1000L * (t > 0 ? t : OCI_BLOB_TIMEOUT_DEFAULT);
  /* for tests: a short stall time, so a stalled response is cut and resumed at once */
  e = getenv ("ENCLAVER_STALL_TIMEOUT");
  r->stall_s = e ? strtol (e, NULL, 10) : OCI_STALL_S;
  if (r->stall_s < 1 || r->stall_s > 600)
    r->stall_s = OCI_STALL_S;
  return r;
}

void
oci_registry_free (struct oci_registry *r)
{
  if (r == NULL)
    return;
  for (struct token_entry *t = r->tokens, *n; t; t = n)
    {
      n = t->next;
      explicit_bzero (t->token, strlen (t->token));
      free (t->token);
      free (t->scope);
      free (t);
    }
  oci_creds_clear (&r->creds);
  free (r->host);
  free (r->display);
  free (r->scheme);
  free (r->ca_cert);
  free (r->client_cert);
  free (r->client_key);
  if (r->share)
    curl_share_cleanup (r->share);
  for (size_t i = 0; i < ARRAY_SIZE (r->share_lock); i++)
    pthread_mutex_destroy (&r->share_lock[i]);
  pthread_mutex_destroy (&r->lock);
  free (r);
}

/* ------------------------------------------------------------------ one HTTP exchange */

static void
xfer_reset_response (struct xfer *x)
{
  x->status = 0;
  free (x->content_type);
  free (x->docker_digest);
  free (x->content_range);
  free (x->retry_after);
  free (x->www);
  free (x->location);
  free (x->range);
  x->content_type = x->docker_digest = x->content_range = x->retry_after = x->www = NULL;
  x->location = x->range = NULL;
  x->www_len = 0;
  x->content_length = -1;
  x->ebody_len = 0;
}

void
oci_xfer_clear (struct xfer *x)
{
  xfer_reset_response (x);
  free (x->abort_msg);
  x->abort_msg = NULL;
}

static char *
trimmed (const char *v, size_t n)
{
  while (n && (v[0] == ' ' || v[0] == '\t'))
    v++, n--;
  while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  return xstrndup (v, n);
}

static size_t
header_cb (char *buf, size_t size, size_t nitems, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nitems;
  if (n >= 5 && strncmp (buf, "HTTP/", 5) == 0)
    {
      xfer_reset_response (x);
      const char *sp = memchr (buf, ' ', n);
      if (sp)
        x->status = strtol (sp + 1, NULL, 10);
      return n;
    }
  const char *colon = memchr (buf, ':', n);
  if (colon == NULL)
    return n;
  size_t kl = (size_t) (colon - buf);
  char *v = trimmed (colon + 1, n - kl - 1);
#define IS(k) (kl == strlen (k) && strncasecmp (buf, k, kl) == 0)
  if (IS ("content-type"))
    {
      free (x->content_type);
      x->content_type = v;
    }
  else if (IS ("docker-content-digest"))
    {
      free (x->docker_digest);
      x->docker_digest = v;
    }
  else if (IS ("content-range"))
    {
      free (x->content_range);
      x->content_range = v;
    }
  else if (IS ("location"))
    {
      free (x->location);
      x->location = v;
    }
  else if (IS ("range"))
    {
      free (x->range);
      x->range = v;
    }
  else if (IS ("retry-after"))
    {
      free (x->retry_after);
      x->retry_after = v;
    }
  else if (IS ("content-length"))
    {
      x->content_length = strtoll (v, NULL, 10);
      free (v);
    }
  else if (IS ("www-authenticate"))
    {
      size_t vl = strlen (v);
      if (x->www_len + vl + 2 < 65536)
        {
          x->www = xrealloc (x->www, x->www_len + vl + 2);
          memcpy (x->www + x->www_len, v, vl + 1);
          x->www_len += vl + 1;
          x->www[x->www_len] = '\0';
        }
      free (v);
    }
  else if (IS ("warning"))
    {
      enclaver_log_warning ("registry warning: %s", v);
      free (v);
    }
  else
    free (v);
#undef IS
  return n;
}

static size_t
abort_xfer (struct xfer *x, char *msg)
{
  free (x->abort_msg);
  x->abort_msg = msg;
  return 0;
}

static size_t
write_cb (char *buf, size_t size, size_t nitems, void *ud)
{
  struct xfer *x = ud;
  size_t n = size * nitems;
  if (x->status < 200 || x->status >= 300)
    {
      size_t room = sizeof x->ebody - 1 - x->ebody_len;
      size_t c = n < room ? n : room;
      memcpy (x->ebody + x->ebody_len, buf, c);
      x->ebody_len += c;
      x->ebody[x->ebody_len] = '\0';
      return n;
    }
  if (!x->started)
    {
      x->started = 1;
      if (x->sink)
        {
          if (x->range_from > 0 && x->status == 200)
            {
              /* The server ignored Range: start over. */
              if (oci_sink_restart (x->sink) < 0)
                return abort_xfer (x, xasprintf ("cannot restart the download"));
              x->range_from = 0;
            }
          else if (x->range_from > 0 && x->status == 206)
            {
              unsigned long long a = 0;
              if (x->content_range == NULL || sscanf (x->content_range, "bytes %llu-", &a) != 1
                  || a != x->range_from)
                return abort_xfer (x, xasprintf ("resume answered with Content-Range '%s', expected bytes %llu-",
                                                 x->content_range ? x->content_range : "(none)",
                                                 (unsigned long long) x->range_from));
            }
          if (x->expect_size >= 0 && x->content_length >= 0
              && (uint64_t) x->content_length + x->range_from != (uint64_t) x->expect_size)
            return abort_xfer (x, xasprintf ("size mismatch: Content-Length %lld, descriptor says %lld",
                                             (long long) (x->content_length + (int64_t) x->range_from),
                                             (long long) x->expect_size));
        }
    }
  if (x->sink)
    {
      if (oci_sink_write (x->sink, buf, n) < 0)
        {
          if (x->sink->overflow)
            return abort_xfer (x, xasprintf ("size mismatch: more than the %lld bytes the descriptor declares",
                                             (long long) x->expect_size));
          return abort_xfer (x, xasprintf ("write to cache failed: %s", strerror (x->sink->write_errno)));
        }
      oci_progress_blob_at (x->prog_slot, x->sink->n);
      return n;
    }
  if (x->mem_len + n > x->mem_max)
    {
      x->mem_overflow = 1;
      return abort_xfer (x, xasprintf ("response larger than %zu bytes", x->mem_max));
    }
  x->mem = xrealloc (x->mem, x->mem_len + n + 1);
  memcpy (x->mem + x->mem_len, buf, n);
  x->mem_len += n;
  x->mem[x->mem_len] = '\0';
  return n;
}

/* The request body of an upload: a range of a file, or memory. */
static size_t
read_cb (char *buf, size_t size, size_t nitems, void *ud)
{
  struct xfer *x = ud;
  size_t want = size * nitems;
  uint64_t left = x->up_len - x->up_pos;
  if (want > left)
    want = (size_t) left;
  if (want == 0)
    return 0;
  if (x->up_mem)
    memcpy (buf, x->up_mem + x->up_pos, want);
  else
    {
      ssize_t got = pread (x->up_fd, buf, want, (off_t) (x->up_off + x->up_pos));
      if (got <= 0)
        return CURL_READFUNC_ABORT;
      want = (size_t) got;
    }
  x->up_pos += want;
  if (!x->up_mem)
    oci_progress_blob_at (x->prog_slot, x->up_off + x->up_pos);
  return want;
}

/* libcurl rewinds the body when it sends the request again on a new connection (a
 * kept-alive one the server had closed). */
static int
seek_cb (void *ud, curl_off_t offset, int origin)
{
  struct xfer *x = ud;
  if (origin != SEEK_SET || offset < 0 || (uint64_t) offset > x->up_len)
    return CURL_SEEKFUNC_FAIL;
  x->up_pos = (uint64_t) offset;
  return CURL_SEEKFUNC_OK;
}

const char *
oci_registry_display (const struct oci_registry *r)
{
  return r->display;
}

static void
common_opts (struct oci_registry *r, CURL *c, int allow_http, long stall_s)
{
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, allow_http ? "http,https" : "https");
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, allow_http ? "http,https" : "https");
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, stall_s);
  curl_easy_setopt (c, CURLOPT_USERAGENT, "enclaver/" PACKAGE_VERSION);
  curl_easy_setopt (c, CURLOPT_SHARE, r->share);
  /* HTTP/2 where the registry offers it over TLS (ALPN), HTTP/1.1 otherwise. */
  curl_easy_setopt (c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
  if (r->ca_cert)
    curl_easy_setopt (c, CURLOPT_CAINFO, r->ca_cert);
  if (r->client_cert)
    {
      curl_easy_setopt (c, CURLOPT_SSLCERT, r->client_cert);
      curl_easy_setopt (c, CURLOPT_SSLKEY, r->client_key);
    }
}

/* ------------------------------------------------------------------ auth */

static const char *
creds_get (struct oci_registry *r, enclaver_error_t *err)
{
  /* called with r->lock held */
  if (r->creds_state == 0)
    {
      int rc = oci_creds_lookup (r->display, &r->creds, err);
      if (rc < 0)
        return NULL;
      r->creds_state = rc == 1 ? 1 : 2;
    }
  return r->creds_state == 1 ? "yes" : "";
}

static char *
auth_header (struct oci_registry *r, const char *scope)
{
  char *h = NULL;
  time_t now = time (NULL);
  pthread_mutex_lock (&r->lock);
  for (struct token_entry *t = r->tokens; t; t = t->next)
    if (strcmp (t->scope, scope) == 0 && t->expires > now + 5)
      {
        h = xasprintf ("Authorization: Bearer %s", t->token);
        break;
      }
  if (h == NULL && r->basic && r->creds_state == 1 && r->creds.username)
    {
      cleanup_free char *up = xasprintf ("%s:%s", r->creds.username, r->creds.password);
      cleanup_free char *b = oci_base64 (up, strlen (up));
      h = xasprintf ("Authorization: Basic %s", b);
      explicit_bzero (up, strlen (up));
    }
  pthread_mutex_unlock (&r->lock);
  return h;
}

static char *
registry_error_text (const char *body)
{
  json_error_t je;
  json_t *j = body && *body ? json_loads (body, 0, &je) : NULL;
  json_t *errs = json_object_get (j, "errors");
  char *out = NULL;
  if (json_is_array (errs) && json_array_size (errs) > 0)
    {
      json_t *e0 = json_array_get (errs, 0);
      const char *code = json_string_value (json_object_get (e0, "code"));
      const char *msg = json_string_value (json_object_get (e0, "message"));
      out = xasprintf ("%s%s%s%s", msg ? msg : "", code ? " (" : "", code ? code : "", code ? ")" : "");
    }
  json_decref (j);
  return out;
}

static int
fetch_token (struct oci_registry *r, const struct oci_challenge *ch, const char *scope, enclaver_error_t *err)
{
  if (ch->realm == NULL || *ch->realm == '\0')
    return enclaver_make_error (err, EPROTO, "registry %s: Bearer challenge without a realm", r->display);
  int realm_http = strncasecmp (ch->realm, "http://", 7) == 0;
  if (!realm_http && strncasecmp (ch->realm, "https://", 8) != 0)
    return enclaver_make_error (err, EPROTO, "registry %s: token realm '%s' is not an http(s) URL", r->display, ch->realm);
  if (realm_http && !(r->scheme && strcmp (r->scheme, "http") == 0))
    return enclaver_make_error (err, EPROTO,
                                "registry %s: refusing token realm '%s' over plain http for a TLS registry",
                                r->display, ch->realm);
  enclaver_error_t ce = NULL;
  pthread_mutex_lock (&r->lock);
  const char *have = creds_get (r, &ce);
  pthread_mutex_unlock (&r->lock);
  if (have == NULL)
    {
      *err = ce;
      return -1;
    }
  CURL *c = curl_easy_init ();
  if (c == NULL)
    xoom ();
  const char *use_scope = ch->scope && *ch->scope ? ch->scope : scope;
  char *esc_service = curl_easy_escape (c, ch->service ? ch->service : "", 0);
  char *esc_scope = curl_easy_escape (c, use_scope, 0);
  cleanup_free char *url = xasprintf ("%s%sservice=%s&scope=%s", ch->realm, strchr (ch->realm, '?') ? "&" : "?",
                                      esc_service, esc_scope);
  struct xfer x = { 0 };
  x.content_length = -1;
  x.mem_max = OCI_MAX_TOKEN;
  x.expect_size = -1;
  common_opts (r, c, realm_http, OCI_STALL_S);
  curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, r->deadline_ms);
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, &x);
  cleanup_free char *form = NULL;
  if (*have && r->creds.identity_token)
    {
      char *esc_tok = curl_easy_escape (c, r->creds.identity_token, 0);
      form = xasprintf ("grant_type=refresh_token&refresh_token=%s&service=%s&client_id=enclaver&scope=%s", esc_tok,
                        esc_service, esc_scope);
      explicit_bzero (esc_tok, strlen (esc_tok));
      curl_free (esc_tok);
      curl_easy_setopt (c, CURLOPT_URL, ch->realm);
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, form);
    }
  else if (*have && r->creds.username)
    {
      curl_easy_setopt (c, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
      curl_easy_setopt (c, CURLOPT_USERNAME, r->creds.username);
      curl_easy_setopt (c, CURLOPT_PASSWORD, r->creds.password);
    }
  curl_free (esc_service);
  curl_free (esc_scope);
  CURLcode cc = curl_easy_perform (c);
  curl_easy_cleanup (c);
  if (form)
    explicit_bzero (form, strlen (form));
  int rc = -1;
  if (cc != CURLE_OK)
    {
      enclaver_make_error (err, EIO, "registry %s: token request to %s failed: %s", r->display, ch->realm,
                           x.abort_msg ? x.abort_msg : curl_easy_strerror (cc));
      goto out;
    }
  if (x.status == 401 || x.status == 403)
    {
      enclaver_make_error (err, EACCES, "registry %s: token server %s refused %s (HTTP %ld)", r->display, ch->realm,
                           *have ? r->creds.from : "anonymous access", x.status);
      goto out;
    }
  if (x.status != 200)
    {
      enclaver_make_error (err, EIO, "registry %s: token server %s answered HTTP %ld", r->display, ch->realm, x.status);
      goto out;
    }
  long long exp = 0;
  char *tok = oci_token_response_parse (x.mem, x.mem_len, &exp);
  if (tok == NULL)
    {
      enclaver_make_error (err, EPROTO, "registry %s: token server %s returned no usable token", r->display, ch->realm);
      goto out;
    }
  struct token_entry *t = xmalloc0 (sizeof *t);
  t->scope = xstrdup (scope);
  t->token = tok;
  t->expires = time (NULL) + (time_t) exp;
  pthread_mutex_lock (&r->lock);
  t->next = r->tokens;
  r->tokens = t;
  pthread_mutex_unlock (&r->lock);
  rc = 0;
out:
  if (x.mem)
    explicit_bzero (x.mem, x.mem_len);
  free (x.mem);
  oci_xfer_clear (&x);
  return rc;
}

static int
answer_challenge (struct oci_registry *r, struct xfer *x, const char *scope, enclaver_error_t *err)
{
  struct oci_challenge ch[8];
  int n = oci_www_authenticate_parse (x->www, ch, 8);
  int rc = -1;
  if (n < 0)
    return enclaver_make_error (err, EPROTO, "registry %s: malformed WWW-Authenticate header", r->display);
  int bearer = -1, basic = -1;
  for (int i = 0; i < n; i++)
    {
      if (strcmp (ch[i].scheme, "bearer") == 0 && bearer < 0)
        bearer = i;
      if (strcmp (ch[i].scheme, "basic") == 0 && basic < 0)
        basic = i;
    }
  if (bearer >= 0)
    rc = fetch_token (r, &ch[bearer], scope, err);
  else if (basic >= 0)
    {
      enclaver_error_t ce = NULL;
      pthread_mutex_lock (&r->lock);
      const char *have = creds_get (r, &ce);
      if (have && *have && r->creds.username)
        {
          r->basic = 1;
          rc = 0;
        }
      pthread_mutex_unlock (&r->lock);
      if (have == NULL)
        *err = ce;
      else if (rc < 0)
        enclaver_make_error (err, EACCES,
                             "registry %s requires authentication (Basic) and no credentials were found "
                             "(looked in $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json, "
                             "containers auth.json)",
                             r->display);
    }
  else
    enclaver_make_error (err, EACCES, "registry %s: unauthorized, and no Bearer or Basic challenge to answer",
                         r->display);
  for (int i = 0; i < n; i++)
    oci_challenge_clear (&ch[i]);
  return rc;
}

/* ------------------------------------------------------------------ request loop */

/* Whether libcurl's error text is a TLS alert the server sent about the client's
 * certificate (OpenSSL's names: "certificate required" when none was sent, "bad
 * certificate", "unknown ca", "certificate unknown", ... when it was refused). */
static int
client_cert_alert (const char *ebuf)
{
  static const char *const alerts[] = { "alert certificate required", "alert bad certificate", "alert unknown ca",
                                        "alert certificate unknown", "alert certificate expired",
                                        "alert certificate revoked", "alert unsupported certificate" };
  for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
    if (strstr (ebuf, alerts[i]))
      return 1;
  return 0;
}

static int
retryable_status (long s)
{
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static int
retryable_curl (CURLcode c)
{
  switch (c)
    {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_HOST:
      return 1;
    default:
      return 0;
    }
}

/* The wait before retry number n + 1 (n = 0 for the first retry): the base delay
 * (0.5 s) doubling, at most 8 s; a Retry-After (seconds or an HTTP-date; at most 30 s)
 * when longer. */
static long
backoff_ms (struct oci_registry *r, int n, const char *retry_after)
{
  long ms = r->retry_ms << (n < 5 ? n : 5);
  if (ms > 8000)
    ms = 8000;
  if (retry_after && *retry_after)
    {
      /* delta-seconds, or an HTTP-date (RFC 9110 §10.2.3) */
      long s = isdigit ((unsigned char) retry_after[0]) ? strtol (retry_after, NULL, 10) : -1;
      if (s < 0)
        {
          time_t t = curl_getdate (retry_after, NULL);
          s = t > 0 ? (long) (t - time (NULL)) : 0;
          if (s < 0)
            s = 0;
        }
      if (s > 30)
        s = 30;
      if (s * 1000 > ms)
        ms = s * 1000;
    }
  return ms;
}

/* Say that we retry (at normal verbosity: a silent wait looks like a hang), then wait;
 * -1 with *err, without waiting, when the retry would start after the deadline END. */
static int
retry_wait (struct oci_registry *r, const struct xfer *x, const char *how, long ms, const char *why, double end,
            enclaver_error_t *err)
{
  if (oci_now_s () + (double) ms / 1000.0 >= end)
    return enclaver_make_error (err, ETIMEDOUT,
                                "registry %s: %s: %s, and a retry in %g s would pass its deadline of %ld s "
                                "(--blob-timeout SECONDS or ENCLAVER_BLOB_TIMEOUT raise it)",
                                r->display, x->what, why, (double) ms / 1000.0, r->deadline_ms / 1000);
  enclaver_log_info ("registry %s: %s: %s in %g s: %s", r->display, x->what, how, (double) ms / 1000.0, why);
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
  return 0;
}

/* The error of a request that ran out of time. */
static int
deadline_error (struct oci_registry *r, const struct xfer *x, int attempt, enclaver_error_t *err)
{
  return enclaver_make_error (err, ETIMEDOUT,
                              "registry %s: %s: not done within its deadline of %ld s (attempt %d of %d; "
                              "--blob-timeout SECONDS or ENCLAVER_BLOB_TIMEOUT raise it)",
                              r->display, x->what, r->deadline_ms / 1000, attempt + 1, r->max_attempts);
}

/* Perform path (e.g. "/v2/x/manifests/tag") on the registry.  x carries the body target. */
int
oci_registry_request (struct oci_registry *r, const char *path, const char *accept, const char *scope,
                      struct xfer *x, enclaver_error_t *err)
{
  /* attempt: retries so far, of every kind (a resume included): at most
   * max_attempts requests in all, within one deadline. */
  int attempt = 0, auth_rounds = 0;
  double end = oci_now_s () + (double) r->deadline_ms / 1000.0;
  for (;;)
    {
      long left_ms = (long) ((end - oci_now_s ()) * 1000.0);
      if (left_ms <= 0)
        return deadline_error (r, x, attempt, err);
      /* A response that moves no byte for this long is cut: 60 s, halved at each retry
       * of a download (an upload keeps it: the registry may take that long to hash
       * what it was sent before it answers). */
      int shift = x->has_body ? 0 : attempt < 8 ? attempt : 8;
      long stall_s = r->stall_s >> shift;
      if (stall_s < OCI_STALL_MIN_S)
        stall_s = r->stall_s < OCI_STALL_MIN_S ? r->stall_s : OCI_STALL_MIN_S;
      pthread_mutex_lock (&r->lock);
      cleanup_free char *scheme = r->scheme ? xstrdup (r->scheme) : NULL;
      pthread_mutex_unlock (&r->lock);
      const char *try_scheme = scheme ? scheme : "https";
      int absolute = strncmp (path, "http://", 7) == 0 || strncmp (path, "https://", 8) == 0;
      cleanup_free char *url = absolute ? xstrdup (path) : xasprintf ("%s://%s%s", try_scheme, r->host, path);
      cleanup_free char *self = xasprintf ("://%s/", r->host);
      /* Our credentials go to the registry's own host only, not to another one an
       * upload Location may name. */
      cleanup_free char *auth = !absolute || strstr (url, self) == strchr (url, ':') ? auth_header (r, scope) : NULL;
      cleanup_free char *range = x->sink && x->sink->n > 0 ? xasprintf ("Range: bytes=%llu-", (unsigned long long) x->sink->n) : NULL;
      x->range_from = x->sink ? x->sink->n : 0;
      x->started = 0;
      if (x->mem)
        {
          free (x->mem);
          x->mem = NULL;
          x->mem_len = 0;
        }
      free (x->abort_msg);
      x->abort_msg = NULL;
      xfer_reset_response (x);

      CURL *c = curl_easy_init ();
      if (c == NULL)
        xoom ();
      struct curl_slist *hdrs = NULL;
      if (accept)
        hdrs = curl_slist_append (hdrs, accept);
      if (auth)
        hdrs = curl_slist_append (hdrs, auth);
      if (range)
        hdrs = curl_slist_append (hdrs, range);
      for (struct curl_slist *e = x->extra; e; e = e->next)
        hdrs = curl_slist_append (hdrs, e->data);
      x->up_pos = 0;
      x->transport_failed = 0;
      if (x->method && strcmp (x->method, "HEAD") == 0)
        curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
      else if (x->method && strcmp (x->method, "GET") != 0)
        {
          /* A body always (POST and PUT of nothing included), and no 100-continue wait. */
          hdrs = curl_slist_append (hdrs, "Expect:");
          curl_easy_setopt (c, CURLOPT_UPLOAD, 1L);
          curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, x->method);
          curl_easy_setopt (c, CURLOPT_READFUNCTION, read_cb);
          curl_easy_setopt (c, CURLOPT_READDATA, x);
          curl_easy_setopt (c, CURLOPT_SEEKFUNCTION, seek_cb);
          curl_easy_setopt (c, CURLOPT_SEEKDATA, x);
          curl_easy_setopt (c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) (x->has_body ? x->up_len : 0));
        }
      common_opts (r, c, r->http_ok, stall_s);
      curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, left_ms);
      if (left_ms < 30000)
        curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, left_ms);
      curl_easy_setopt (c, CURLOPT_URL, url);
      curl_easy_setopt (c, CURLOPT_HTTPHEADER, hdrs);
      curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, header_cb);
      curl_easy_setopt (c, CURLOPT_HEADERDATA, x);
      curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write_cb);
      curl_easy_setopt (c, CURLOPT_WRITEDATA, x);
      char ebuf[CURL_ERROR_SIZE];
      ebuf[0] = '\0';
      curl_easy_setopt (c, CURLOPT_ERRORBUFFER, ebuf);
      uint64_t before = x->sink ? x->sink->n : 0;
      CURLcode cc = curl_easy_perform (c);
      long os_errno = 0;
      if (cc != CURLE_OK)
        curl_easy_getinfo (c, CURLINFO_OS_ERRNO, &os_errno);
      curl_easy_cleanup (c);
      curl_slist_free_all (hdrs);
      if (auth)
        explicit_bzero (auth, strlen (auth));

      if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->abort_msg == NULL))
        {
          if (scheme == NULL)
            {
              pthread_mutex_lock (&r->lock);
              if (r->scheme == NULL)
                r->scheme = xstrdup (try_scheme);
              pthread_mutex_unlock (&r->lock);
            }
          if (x->status >= 200 && x->status < 300)
            return 0;
          if ((x->status == 401 || x->status == 403) && x->www && auth_rounds < 2)
            {
              auth_rounds++;
              if (answer_challenge (r, x, scope, err) < 0)
                return -1;
              continue;
            }
          if (x->status == 401 || x->status == 403)
            {
              cleanup_free char *why = registry_error_text (x->ebody);
              pthread_mutex_lock (&r->lock);
              int had = r->creds_state == 1;
              cleanup_free char *from = had ? xstrdup (r->creds.from) : NULL;
              pthread_mutex_unlock (&r->lock);
              return enclaver_make_error (err, EACCES, "registry %s: %s denied (HTTP %ld)%s%s%s%s", r->display,
                                          x->what, x->status, had ? " with the credentials from " : "",
                                          had ? from : ", no credentials found", why ? ": " : "", why ? why : "");
            }
          if (!retryable_status (x->status))
            {
              cleanup_free char *why = registry_error_text (x->ebody);
              return enclaver_make_error (err, x->status == 404 ? ENOENT : EIO, "registry %s: %s: HTTP %ld%s%s",
                                          r->display, x->what, x->status, why ? ": " : "", why ? why : "");
            }
          attempt++;
          if (attempt >= r->max_attempts)
            return enclaver_make_error (err, EIO, "registry %s: %s: HTTP %ld after %d attempts", r->display, x->what,
                                        x->status, attempt);
          {
            char how[48], why[32];
            snprintf (how, sizeof how, "retrying (%d/%d)", attempt + 1, r->max_attempts);
            snprintf (why, sizeof why, "HTTP %ld", x->status);
            if (retry_wait (r, x, how, backoff_ms (r, attempt - 1, x->retry_after), why, end, err) < 0)
              return -1;
          }
          continue;
        }
      if (x->abort_msg)
        return enclaver_make_error (err, EIO, "registry %s: %s: %s", r->display, x->what, x->abort_msg);
      if (scheme == NULL && cc == CURLE_SSL_CONNECT_ERROR)
        {
          /* No TLS on a registry where plain http is allowed (loopback or --insecure-registry). */
          pthread_mutex_lock (&r->lock);
          if (r->scheme == NULL)
            r->scheme = xstrdup ("http");
          pthread_mutex_unlock (&r->lock);
          continue;
        }
      if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
        return enclaver_make_error (err, EIO, "registry %s: TLS verification failed: %s (use --ca-cert FILE)",
                                    r->display, curl_easy_strerror (cc));
      if (client_cert_alert (ebuf))
        {
          /* The registry's TLS alert about our certificate (TLS 1.3 sends it after the
           * handshake: libcurl reports a failed read, which retrying does not mend). */
          if (r->client_cert == NULL)
            return enclaver_make_error (err, EACCES,
                                        "registry %s: it asks for a client certificate (%s): put client.cert and "
                                        "client.key in its certs.d directory (/etc/containers/certs.d/%s/, or "
                                        "--cert-dir DIR)", r->display, ebuf, r->host);
          return enclaver_make_error (err, EACCES, "registry %s: it refused the client certificate %s (%s)",
                                      r->display, r->client_cert, ebuf);
        }
      if (!retryable_curl (cc) || x->no_transport_retry)
        {
          x->transport_failed = retryable_curl (cc);
          return enclaver_make_error (err, EIO, "registry %s: %s: %s", r->display, x->what, curl_easy_strerror (cc));
        }
      uint64_t after = x->sink ? x->sink->n : 0;
      if (cc == CURLE_OPERATION_TIMEDOUT && oci_now_s () >= end - 0.05)
        return deadline_error (r, x, attempt, err);
      attempt++;
      if (attempt >= r->max_attempts)
        return enclaver_make_error (err, EIO, "registry %s: %s: %s (gave up after %d attempts%s)", r->display, x->what,
                                    curl_easy_strerror (cc), attempt, after > 0 ? ", resumed each time" : "");
      {
        /* The system's reason ("connection refused") says more than libcurl's. */
        char how[96], why[128];
        if (os_errno > 0)
          {
            snprintf (why, sizeof why, "%s", strerror ((int) os_errno));
            why[0] = (char) tolower ((unsigned char) why[0]);
          }
        else
          snprintf (why, sizeof why, "%s", curl_easy_strerror (cc));
        if (after > before)
          snprintf (how, sizeof how, "resuming at byte %llu (%d/%d)", (unsigned long long) after, attempt + 1,
                    r->max_attempts);
        else
          snprintf (how, sizeof how, "retrying (%d/%d)", attempt + 1, r->max_attempts);
        /* a cut that made progress is resumed after the base delay; none backs off */
        if (retry_wait (r, x, how, backoff_ms (r, after > before ? 0 : attempt - 1, NULL), why, end, err) < 0)
          return -1;
      }
    }
}

int
oci_registry_get_manifest (struct oci_registry *r, const char *repo, const char *ref, char **body, size_t *len,
                           char **content_type, char **docker_digest, enclaver_error_t *err)
{
  struct xfer x = { 0 };
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", repo, ref);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", repo);
  cleanup_free char *what = xasprintf ("manifest %s%s%s", repo, strncmp (ref, "sha256:", 7) == 0 ? "@" : ":", ref);
  x.what = what;
  x.mem_max = OCI_MAX_DOC;
  x.expect_size = -1;
  x.content_length = -1;
  if (oci_registry_request (r, path, OCI_ACCEPT_MANIFESTS, scope, &x, err) < 0)
    {
      free (x.mem);
      oci_xfer_clear (&x);
      return -1;
    }
  *body = x.mem ? x.mem : xstrdup ("");
  *len = x.mem_len;
  *content_type = x.content_type;
  *docker_digest = x.docker_digest;
  x.content_type = x.docker_digest = NULL;
  oci_xfer_clear (&x);
  return 0;
}

int
oci_registry_get_blob (struct oci_registry *r, const char *repo, const char *digest, int64_t size,
                       struct oci_sink *sink, enclaver_error_t *err)
{
  struct xfer x = { 0 };
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", repo, digest);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", repo);
  cleanup_free char *what = xasprintf ("blob %s", digest);
  x.what = what;
  x.sink = sink;
  x.expect_size = size;
  x.content_length = -1;
  x.prog_slot = oci_progress_blob_start (digest, size > 0 ? (uint64_t) size : 0);
  int rc = oci_registry_request (r, path, NULL, scope, &x, err);
  oci_progress_blob_done (x.prog_slot, digest, sink->n, rc == 0);
  free (x.mem);
  oci_xfer_clear (&x);
  return rc;
}
