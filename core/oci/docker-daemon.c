/* enclaver: the docker-daemon: transport — an image exported by a Docker Engine API server
 * (dockerd, or `podman system service`) with GET /images/{name}/get, which answers with
 * the image as a docker save tarball.  The stream goes into a cache temporary file
 * (a sink, so the cache's clean-up rules apply) that the archive reader then reads and
 * verifies like any docker-archive:; the temporary is removed afterwards.
 *
 * The Engine is found at $DOCKER_HOST (unix:///path/to/socket or tcp://host:port, plain
 * HTTP only) or /var/run/docker.sock.  Proxies are never used for it. */
#include "config.h"
#include <errno.h>
#include <string.h>
#include <curl/curl.h>
#include "oci/oci.h"

#define DEFAULT_SOCKET "/var/run/docker.sock"

struct export
{
  CURL *c;
  struct oci_sink *sink;
  long status;
  char ebody[4096];
  size_t ebody_len;
  int write_failed;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

static size_t
write_cb (char *buf, size_t size, size_t nitems, void *ud)
{
  struct export *x = ud;
  size_t n = size * nitems;
  if (x->status == 0)
    curl_easy_getinfo (x->c, CURLINFO_RESPONSE_CODE, &x->status);
  if (x->status != 200)
    {
      size_t room = sizeof x->ebody - 1 - x->ebody_len;
      size_t k = n < room ? n : room;
      memcpy (x->ebody + x->ebody_len, buf, k);
      x->ebody_len += k;
      x->ebody[x->ebody_len] = '\0';
      return n;
    }
  if (oci_sink_write (x->sink, buf, n) < 0)
    {
      x->write_failed = 1;
      return 0;
    }
  return n;
}

/* Where the Engine listens: *socket (unix) or *base ("http://host:port"); *display for messages. */
static int
engine_endpoint (char **socket, char **base, char **display, enclaver_error_t *err)
{
  const char *h = getenv ("DOCKER_HOST");
  *socket = *base = *display = NULL;
  if (h == NULL || *h == '\0')
    {
      *socket = xstrdup (DEFAULT_SOCKET);
      *display = xstrdup ("unix://" DEFAULT_SOCKET);
      return 0;
    }
  if (strncmp (h, "unix://", 7) == 0 && h[7] != '\0')
    {
      *socket = xstrdup (h + 7);
      *display = xstrdup (h);
      return 0;
    }
  if (strncmp (h, "tcp://", 6) == 0 && h[6] != '\0')
    {
      const char *tls = getenv ("DOCKER_TLS_VERIFY");
      if (tls && *tls && strcmp (tls, "0") != 0)
        return enclaver_make_error (err, ENOTSUP,
                                    "DOCKER_HOST=%s with DOCKER_TLS_VERIFY: TLS to the Docker Engine is not supported; "
                                    "use its Unix socket (DOCKER_HOST=unix:///path)", h);
      cleanup_free char *hp = xstrdup (h + 6);
      hp[strcspn (hp, "/")] = '\0';
      *base = xasprintf ("http://%s", hp);
      *display = xstrdup (h);
      return 0;
    }
  return enclaver_make_error (err, EINVAL, "DOCKER_HOST=%s: expected unix:///path or tcp://host:port", h);
}

/* The Engine's error body is {"message": "..."}; fall back to the raw text. */
static char *
engine_message (const char *body, size_t len)
{
  json_error_t je;
  json_t *j = len ? json_loadb (body, len, 0, &je) : NULL;
  const char *m = j ? json_string_value (json_object_get (j, "message")) : NULL;
  char *out = m ? xstrdup (m) : xstrndup (body, len);
  json_decref (j);
  out[strcspn (out, "\r\n")] = '\0';
  return out;
}

/* Characters an image name may carry through unescaped in the URL path. */
static char *
escape_name (const char *name)
{
  size_t n = strlen (name);
  char *out = xmalloc (n * 3 + 1), *p = out;
  for (size_t i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char) name[i];
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr ("-._~/:@", ch))
        *p++ = (char) ch;
      else
        p += sprintf (p, "%%%02X", ch);
    }
  *p = '\0';
  return out;
}

int
oci_daemon_export (const char *name, const char *label, struct oci_sink *sink, enclaver_error_t *err)
{
  cleanup_free char *socket = NULL, *base = NULL, *display = NULL, *ename = escape_name (name);
  struct export x = { 0 };
  int rc = -1;
  if (engine_endpoint (&socket, &base, &display, err) < 0)
    return -1;
  cleanup_free char *url = xasprintf ("%s/images/%s/get", base ? base : "http://localhost", ename);
  pthread_once (&curl_once, curl_init_once);
  x.c = curl_easy_init ();
  if (x.c == NULL)
    xoom ();
  x.sink = sink;
  curl_easy_setopt (x.c, CURLOPT_URL, url);
  if (socket)
    curl_easy_setopt (x.c, CURLOPT_UNIX_SOCKET_PATH, socket);
  curl_easy_setopt (x.c, CURLOPT_PROXY, "");
  curl_easy_setopt (x.c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (x.c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (x.c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt (x.c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (x.c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (x.c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (x.c, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt (x.c, CURLOPT_USERAGENT, "enclaver/" PACKAGE_VERSION);
  curl_easy_setopt (x.c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (x.c, CURLOPT_WRITEDATA, &x);
  CURLcode cc = curl_easy_perform (x.c);
  if (x.status == 0)
    curl_easy_getinfo (x.c, CURLINFO_RESPONSE_CODE, &x.status);
  if (x.write_failed)
    enclaver_make_error (err, x.sink->write_errno ? x.sink->write_errno : EIO,
                         "%s: writing the export to the cache failed: %s", label,
                         strerror (x.sink->write_errno ? x.sink->write_errno : EIO));
  else if (cc != CURLE_OK && x.status == 0)
    enclaver_make_error (err, EIO, "%s: cannot reach the Docker Engine at %s: %s (is dockerd or `podman system "
                                   "service` running there? DOCKER_HOST chooses the socket)",
                         label, display, curl_easy_strerror (cc));
  else if (x.status != 200)
    {
      cleanup_free char *m = engine_message (x.ebody, x.ebody_len);
      enclaver_make_error (err, x.status == 404 ? ENOENT : EIO, "%s: the Docker Engine at %s answered %ld to GET %s%s%s",
                           label, display, x.status, url + strlen (base ? base : "http://localhost"), *m ? ": " : "",
                           m);
    }
  else if (cc != CURLE_OK)
    enclaver_make_error (err, EIO, "%s: the export from the Docker Engine at %s broke off after %llu bytes: %s", label,
                         display, (unsigned long long) x.sink->n, curl_easy_strerror (cc));
  else if (x.sink->n == 0)
    enclaver_make_error (err, EIO, "%s: the Docker Engine at %s sent an empty export", label, display);
  else
    rc = 0;
  curl_easy_cleanup (x.c);
  return rc;
}
