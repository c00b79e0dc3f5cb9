/* enclaver: pushing to a registry (OCI distribution spec, "Push"; OCI.md §2).
 *
 * A blob: HEAD first (nothing is sent for a blob the repository has); a cross-repository
 * mount when we know another repository of the same registry has it; else an upload
 * session (POST), then one PUT with the whole blob when it is small, or PATCH chunks and
 * a closing PUT when it is large.  A chunk cut by the network is resumed where the
 * registry says the session stands (GET on the session gives its Range), so a dropped
 * connection costs at most one chunk.  The registry's Docker-Content-Digest must be the
 * digest we pushed.  A manifest: PUT by tag or by digest, with its media type.  Also
 * the manifest HEAD that resolves a tag without fetching a manifest the cache has. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/registry-internal.h"
#include <enclaver/log.h>

/* Blobs up to this size go in one PUT; larger ones in chunks of this size.
 * ENCLAVER_PUSH_CHUNK_BYTES overrides it (the tests cut a push mid-blob with it). */
#define PUSH_CHUNK_DEFAULT (32u << 20)
#define PUSH_MAX_RESUMES 20

static uint64_t
chunk_size (void)
{
  const char *e = getenv ("ENCLAVER_PUSH_CHUNK_BYTES");
  char *end;
  unsigned long long v;
  if (e == NULL || *e == '\0')
    return PUSH_CHUNK_DEFAULT;
  v = strtoull (e, &end, 10);
  return *end == '\0' && v >= 4096 && v <= (1ull << 32) ? v : PUSH_CHUNK_DEFAULT;
}

int
oci_registry_blob_exists (struct oci_registry *r, const char *repo, const char *digest, enclaver_error_t *err)
{
  struct xfer x = { 0 };
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", repo, digest);
  cleanup_free char *scope = xasprintf ("repository:%s:pull,push", repo);
  cleanup_free char *what = xasprintf ("blob %s", digest);
  enclaver_error_t e = NULL;
  int rc;

  x.what = what;
  x.method = "HEAD";
  x.content_length = -1;
  x.expect_size = -1;
  rc = oci_registry_request (r, path, NULL, scope, &x, &e);
  if (rc == 0)
    rc = 1;
  else if (x.status == 404)
    {
      enclaver_error_release (&e);
      rc = 0;
    }
  else
    *err = e;
  oci_xfer_clear (&x);
  return rc;
}

int
oci_registry_head_manifest (struct oci_registry *r, const char *repo, const char *ref, char **digest,
                            char **content_type, enclaver_error_t *err)
{
  struct xfer x = { 0 };
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", repo, ref);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", repo);
  cleanup_free char *what = xasprintf ("manifest %s:%s", repo, ref);
  int rc;

  x.what = what;
  x.method = "HEAD";
  x.content_length = -1;
  x.expect_size = -1;
  *digest = *content_type = NULL;
  rc = oci_registry_request (r, path, OCI_ACCEPT_MANIFESTS, scope, &x, err);
  if (rc < 0 && (x.status == 0 || x.status == 408 || x.status == 429 || x.status >= 500))
    rc = -2; /* unreachable, or failing after the retries: a GET would only repeat them */
  if (rc == 0 && x.docker_digest && oci_digest_valid (x.docker_digest))
    {
      *digest = x.docker_digest;
      *content_type = x.content_type;
      x.docker_digest = x.content_type = NULL;
    }
  oci_xfer_clear (&x);
  return rc;
}

/* loc + "?digest=D" or "&digest=D" */
static char *
with_digest (const char *loc, const char *digest)
{
  return xasprintf ("%s%cdigest=%s", loc, strchr (loc, '?') ? '&' : '?', digest);
}

/* One request on an upload session; the new Location (when given) replaces *loc. */
static int
session_request (struct oci_registry *r, const char *scope, char **loc, const char *url, const char *method,
                 struct xfer *x, enclaver_error_t *err)
{
  x->method = method;
  x->content_length = -1;
  x->expect_size = -1;
  if (oci_registry_request (r, url, NULL, scope, x, err) < 0)
    return -1;
  if (x->location && *x->location)
    {
      free (*loc);
      *loc = xstrdup (x->location); /* absolute, or a path on the registry */
    }
  return 0;
}

/* Where the session stands: the registry's Range "0-N" means N + 1 bytes are in. */
static int
session_offset (struct oci_registry *r, const char *scope, char **loc, const char *what, uint64_t *off,
                enclaver_error_t *err)
{
  struct xfer x = { 0 };
  unsigned long long a, b;
  int rc;
  x.what = what;
  rc = session_request (r, scope, loc, *loc, "GET", &x, err);
  if (rc == 0)
    {
      if (x.range == NULL || *x.range == '\0')
        *off = 0;
      else if (sscanf (x.range, "%llu-%llu", &a, &b) == 2 && a == 0)
        *off = b + 1;
      else
        rc = enclaver_make_error (err, EPROTO, "registry %s: %s: upload status Range '%s' is not 0-N",
                                  oci_registry_display (r), what, x.range);
    }
  oci_xfer_clear (&x);
  return rc;
}

/* The registry's digest of what it stored, against ours. */
static int
check_digest (struct oci_registry *r, const struct xfer *x, const char *what, const char *digest,
              enclaver_error_t *err)
{
  if (x->docker_digest && *x->docker_digest && strcmp (x->docker_digest, digest) != 0)
    return enclaver_make_error (err, EIO, "registry %s: %s: the registry stored %s, not %s", oci_registry_display (r),
                                what, x->docker_digest, digest);
  return 0;
}

int
oci_registry_push_blob (struct oci_registry *r, const char *repo, const char *digest, uint64_t size,
                        const char *file, const char *mount_from, struct oci_push_stats *st, enclaver_error_t *err)
{
  cleanup_free char *scope = NULL, *what = xasprintf ("blob %s", digest), *loc = NULL, *url = NULL;
  cleanup_free char *url0 = NULL;
  cleanup_close int fd = -1;
  struct xfer x = { 0 };
  uint64_t chunk = chunk_size (), off = 0;
  int rc, resumes = 0, slot = 0;

  rc = oci_registry_blob_exists (r, repo, digest, err);
  if (rc != 0)
    {
      if (rc > 0 && st)
        st->blobs_present++;
      return rc < 0 ? -1 : 0;
    }
  if (mount_from && strcmp (mount_from, repo) != 0)
    scope = xasprintf ("repository:%s:pull,push repository:%s:pull", repo, mount_from);
  else
    scope = xasprintf ("repository:%s:pull,push", repo);

  /* Open the session; with ?mount=, 201 means the registry linked the blob. */
  x.what = what;
  x.has_body = 1;
  x.up_len = 0;
  url = mount_from && strcmp (mount_from, repo) != 0
          ? xasprintf ("/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, mount_from)
          : xasprintf ("/v2/%s/blobs/uploads/", repo);
  if (session_request (r, scope, &loc, url, "POST", &x, err) < 0)
    goto fail;
  if (x.status == 201)
    {
      rc = check_digest (r, &x, what, digest, err);
      oci_xfer_clear (&x);
      if (rc == 0 && st)
        st->blobs_mounted++;
      if (rc == 0)
        enclaver_log_info ("registry %s: %s mounted from %s", oci_registry_display (r), digest, mount_from);
      return rc;
    }
  oci_xfer_clear (&x);
  if (loc == NULL)
    {
      enclaver_make_error (err, EPROTO, "registry %s: %s: the upload session has no Location", oci_registry_display (r),
                           what);
      goto fail;
    }
  url0 = xasprintf ("/v2/%s/blobs/uploads/", repo);

  fd = enclaver_open_file (file, 0, err);
  if (fd < 0)
    goto fail;
  slot = oci_progress_blob_start (digest, size);
  if (size <= chunk)
    {
      /* Monolithic: the whole blob in the closing PUT. */
      free (url);
      url = with_digest (loc, digest);
      memset (&x, 0, sizeof x);
      x.what = what;
      x.has_body = 1;
      x.up_fd = fd;
      x.up_len = size;
      x.prog_slot = slot;
      x.extra = curl_slist_append (NULL, "Content-Type: application/octet-stream");
      rc = session_request (r, scope, &loc, url, "PUT", &x, err);
      curl_slist_free_all (x.extra);
      if (rc == 0)
        rc = check_digest (r, &x, what, digest, err);
      oci_xfer_clear (&x);
      if (rc < 0)
        goto fail;
    }
  else
    {
      while (off < size)
        {
          uint64_t n = size - off < chunk ? size - off : chunk;
          char cr[96];
          snprintf (cr, sizeof cr, "Content-Range: %llu-%llu", (unsigned long long) off,
                    (unsigned long long) (off + n - 1));
          memset (&x, 0, sizeof x);
          x.what = what;
          x.has_body = 1;
          x.up_fd = fd;
          x.up_off = off;
          x.up_len = n;
          x.prog_slot = slot;
          x.no_transport_retry = 1;
          x.extra = curl_slist_append (NULL, "Content-Type: application/octet-stream");
          x.extra = curl_slist_append (x.extra, cr);
          rc = session_request (r, scope, &loc, loc, "PATCH", &x, err);
          curl_slist_free_all (x.extra);
          if (rc == 0)
            {
              off += n;
              oci_xfer_clear (&x);
              continue;
            }
          /* A cut (or a session the registry no longer takes after one): resume. */
          if (!(x.transport_failed || x.status == 404 || x.status == 416)
              || ++resumes > PUSH_MAX_RESUMES)
            {
              oci_xfer_clear (&x);
              goto fail;
            }
          oci_xfer_clear (&x);
          enclaver_log_info ("registry %s: %s: %s; resuming the upload (%d/%d)", oci_registry_display (r), what,
                             (*err)->msg, resumes, PUSH_MAX_RESUMES);
          enclaver_error_release (err);
          /* Ask the session where it stands and go on from there.  A registry whose
           * session state moved on without us (the answer to a chunk it took was lost:
           * docker-registry then refuses the old session) gets a new session, from 0. */
          if (session_offset (r, scope, &loc, what, &off, err) < 0)
            {
              enclaver_log_info ("registry %s: %s: %s; starting the upload again", oci_registry_display (r), what,
                                 (*err)->msg);
              enclaver_error_release (err);
              free (loc);
              loc = NULL;
              memset (&x, 0, sizeof x);
              x.what = what;
              x.has_body = 1;
              if (session_request (r, scope, &loc, url0, "POST", &x, err) < 0)
                goto fail;
              oci_xfer_clear (&x);
              if (loc == NULL)
                {
                  enclaver_make_error (err, EPROTO, "registry %s: %s: the upload session has no Location",
                                       oci_registry_display (r), what);
                  goto fail;
                }
              off = 0;
            }
          if (off > size)
            {
              enclaver_make_error (err, EPROTO, "registry %s: %s: the session holds %llu bytes of a %llu byte blob",
                                   oci_registry_display (r), what, (unsigned long long) off,
                                   (unsigned long long) size);
              goto fail;
            }
          if (st)
            st->resumes++;
        }
      free (url);
      url = with_digest (loc, digest);
      memset (&x, 0, sizeof x);
      x.what = what;
      x.has_body = 1;
      rc = session_request (r, scope, &loc, url, "PUT", &x, err);
      if (rc == 0)
        rc = check_digest (r, &x, what, digest, err);
      oci_xfer_clear (&x);
      if (rc < 0)
        goto fail;
    }
  oci_progress_blob_done (slot, digest, size, 1);
  if (st)
    {
      st->blobs_uploaded++;
      st->bytes_uploaded += size;
    }
  return 0;

fail:
  oci_progress_blob_done (slot, digest, size, 0);
  oci_xfer_clear (&x);
  return -1;
}

int
oci_registry_put_manifest (struct oci_registry *r, const char *repo, const char *ref, const char *media_type,
                           const char *body, size_t len, char **digest_out, enclaver_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", repo, ref);
  cleanup_free char *scope = xasprintf ("repository:%s:pull,push", repo);
  cleanup_free char *what = xasprintf ("manifest %s%s%s", repo, strncmp (ref, "sha256:", 7) == 0 ? "@" : ":", ref);
  cleanup_free char *ct = xasprintf ("Content-Type: %s", media_type);
  char dg[OCI_DIGEST_LEN + 1];
  struct xfer x = { 0 };
  int rc;

  oci_sha256_buf (body, len, dg);
  x.what = what;
  x.method = "PUT";
  x.has_body = 1;
  x.up_mem = body;
  x.up_len = len;
  x.content_length = -1;
  x.expect_size = -1;
  x.extra = curl_slist_append (NULL, ct);
  rc = oci_registry_request (r, path, NULL, scope, &x, err);
  curl_slist_free_all (x.extra);
  if (rc == 0)
    rc = check_digest (r, &x, what, dg, err);
  oci_xfer_clear (&x);
  if (rc == 0 && digest_out)
    *digest_out = xstrdup (dg);
  return rc;
}
