/* enclaver: the content-addressed blob cache.
 *
 *   ROOT/blobs/sha256/<hex>     verified blobs (written to ROOT/tmp, renamed in place)
 *   ROOT/tmp/                   partial downloads (same file system, so rename is atomic)
 *   ROOT/refs/<host>/<path>/<tag>   last digest a tag resolved to (for --offline)
 *
 * Two processes may fill the cache at once: each writes its own temporary file and
 * the rename of identical content is harmless. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include "oci/oci.h"

static int
mkdir_p (const char *path, enclaver_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/')
      {
        *s = '\0';
        if (mkdir (p, 0755) < 0 && errno != EEXIST)
          return enclaver_make_errno (err, errno, "mkdir %s", p);
        *s = '/';
      }
  if (mkdir (p, 0755) < 0 && errno != EEXIST)
    return enclaver_make_errno (err, errno, "mkdir %s", p);
  return 0;
}

char *
enclaver_image_default_cache_dir (void)
{
  const char *x = getenv ("XDG_CACHE_HOME");
  if (x && x[0] == '/')
    return xasprintf ("%s/enclaver", x);
  const char *h = getenv ("HOME");
  if (h && h[0] == '/')
    return xasprintf ("%s/.cache/enclaver", h);
  return xstrdup ("/tmp/enclaver-cache");
}

int
oci_cache_open (struct oci_cache *c, const char *dir, enclaver_error_t *err)
{
  memset (c, 0, sizeof *c);
  c->root = dir ? enclaver_path_join_abs (NULL, dir) : enclaver_image_default_cache_dir ();
  if (c->root == NULL)
    return enclaver_make_error (err, EINVAL, "cache directory '%s' is not usable", dir);
  c->blobs = xasprintf ("%s/blobs/sha256", c->root);
  c->tmp = xasprintf ("%s/tmp", c->root);
  if (mkdir_p (c->blobs, err) < 0 || mkdir_p (c->tmp, err) < 0)
    {
      enclaver_error_wrap (err, "cache %s", c->root);
      oci_cache_close (c);
      return -1;
    }
  return 0;
}

void
oci_cache_close (struct oci_cache *c)
{
  free (c->root);
  free (c->blobs);
  free (c->tmp);
  memset (c, 0, sizeof *c);
}

char *
oci_cache_blob_path (const struct oci_cache *c, const char *digest)
{
  return xasprintf ("%s/%s", c->blobs, digest + 7);
}

int
oci_cache_has (const struct oci_cache *c, const char *digest, int64_t size)
{
  struct stat st;
  if (!oci_digest_valid (digest))
    return 0;
  cleanup_free char *p = oci_cache_blob_path (c, digest);
  if (lstat (p, &st) < 0 || !S_ISREG (st.st_mode))
    return 0;
  if (size >= 0 && (int64_t) st.st_size != size)
    return 0;
  return 1;
}

int
oci_sink_open (struct oci_sink *s, struct oci_cache *c, int64_t expected_size, const char *what,
               enclaver_error_t *err)
{
  memset (s, 0, sizeof *s);
  s->fd = -1;
  s->cache = c;
  s->limit = expected_size;
  s->what = what;
  s->tmp_path = xasprintf ("%s/blob-XXXXXX", c->tmp);
  s->fd = mkostemp (s->tmp_path, O_CLOEXEC);
  if (s->fd < 0)
    {
      int e = errno;
      free (s->tmp_path);
      s->tmp_path = NULL;
      return enclaver_make_errno (err, e, "cache: create temporary file in %s", c->tmp);
    }
  oci_hasher_init (&s->h);
  return 0;
}

int
oci_sink_write (struct oci_sink *s, const void *buf, size_t len)
{
  if (s->limit >= 0 && s->n + len > (uint64_t) s->limit)
    {
      s->overflow = 1;
      return -1;
    }
  if (enclaver_write_all (s->fd, buf, len) < 0)
    {
      s->write_errno = errno ? errno : EIO;
      return -1;
    }
  oci_hasher_update (&s->h, buf, len);
  s->n += len;
  return 0;
}

int
oci_sink_restart (struct oci_sink *s)
{
  if (ftruncate (s->fd, 0) < 0 || lseek (s->fd, 0, SEEK_SET) < 0)
    {
      s->write_errno = errno;
      return -1;
    }
  oci_hasher_reset (&s->h);
  s->n = 0;
  s->overflow = 0;
  return 0;
}

void
oci_sink_abort (struct oci_sink *s)
{
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  if (s->tmp_path)
    unlink (s->tmp_path);
  free (s->tmp_path);
  s->tmp_path = NULL;
  if (s->h.md)
    oci_hasher_free (&s->h);
}

int
oci_sink_commit (struct oci_sink *s, const char *digest, int64_t size, char *computed_out, enclaver_error_t *err)
{
  char got[OCI_DIGEST_LEN + 1];
  const char *what = s->what ? s->what : "blob";
  if (s->write_errno)
    {
      enclaver_make_errno (err, s->write_errno, "%s: write to cache", what);
      goto fail;
    }
  if (s->overflow)
    {
      enclaver_make_error (err, EINVAL, "%s: size mismatch: more than the %lld bytes the descriptor declares", what,
                           (long long) s->limit);
      goto fail;
    }
  if (size >= 0 && s->n != (uint64_t) size)
    {
      enclaver_make_error (err, EINVAL, "%s: size mismatch: got %llu bytes, expected %lld", what,
                           (unsigned long long) s->n, (long long) size);
      goto fail;
    }
  oci_hasher_final (&s->h, got);
  if (digest && strcmp (got, digest) != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: digest mismatch: content is %s, expected %s", what, got, digest);
      goto fail;
    }
  if (computed_out)
    memcpy (computed_out, got, sizeof got);
  if (fchmod (s->fd, 0644) < 0 || fsync (s->fd) < 0)
    {
      enclaver_make_errno (err, errno, "%s: cache file %s", what, s->tmp_path);
      goto fail;
    }
  close (s->fd);
  s->fd = -1;
  {
    cleanup_free char *dst = oci_cache_blob_path (s->cache, got);
    if (rename (s->tmp_path, dst) < 0)
      {
        enclaver_make_errno (err, errno, "%s: rename into cache %s", what, dst);
        goto fail;
      }
  }
  free (s->tmp_path);
  s->tmp_path = NULL;
  oci_hasher_free (&s->h);
  return 0;
fail:
  enclaver_error_set_field (err, "digest", digest);
  oci_sink_abort (s);
  return -1;
}

int
oci_cache_put (struct oci_cache *c, const void *buf, size_t len, const char *digest, char *computed_out,
               enclaver_error_t *err)
{
  struct oci_sink s;
  if (oci_sink_open (&s, c, (int64_t) len, "blob", err) < 0)
    return -1;
  oci_sink_write (&s, buf, len);
  return oci_sink_commit (&s, digest, (int64_t) len, computed_out, err);
}

int
oci_cache_read (struct oci_cache *c, const char *digest, size_t max, char **out, size_t *len, enclaver_error_t *err)
{
  char got[OCI_DIGEST_LEN + 1];
  cleanup_free char *p = oci_cache_blob_path (c, digest);
  cleanup_close int fd = open (p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "cache: open %s", p);
  cleanup_file FILE *f = fdopen (fd, "rb");
  if (f == NULL)
    return enclaver_make_errno (err, errno, "cache: open %s", p);
  fd = -1;
  if (enclaver_read_stream (f, p, max, out, len, err) < 0)
    return -1;
  oci_sha256_buf (*out, *len, got);
  if (strcmp (got, digest) != 0)
    {
      free (*out);
      *out = NULL;
      unlink (p); /* a damaged cache entry: drop it so the next run fetches it again */
      return enclaver_make_error (err, EIO, "cache: %s is corrupt (content is %s); removed it, run again", p, got);
    }
  return 0;
}

static char *
ref_path (struct oci_cache *c, const char *host, const char *path, const char *tag)
{
  return xasprintf ("%s/refs/%s/%s/%s", c->root, host, path, tag);
}

int
oci_cache_ref_set (struct oci_cache *c, const char *host, const char *path, const char *tag, const char *digest,
                   const char *media_type)
{
  enclaver_error_t e = NULL;
  cleanup_free char *p = ref_path (c, host, path, tag);
  cleanup_free char *dir = xstrdup (p);
  *strrchr (dir, '/') = '\0';
  cleanup_free char *body = xasprintf ("%s %s\n", digest, media_type ? media_type : "-");
  if (mkdir_p (dir, &e) < 0 || enclaver_write_file_atomic (p, body, strlen (body), 0644, &e) < 0)
    {
      enclaver_error_release (&e);
      return -1;
    }
  return 0;
}

int
oci_cache_ref_get (struct oci_cache *c, const char *host, const char *path, const char *tag, char **digest,
                   char **media_type)
{
  enclaver_error_t e = NULL;
  cleanup_free char *p = ref_path (c, host, path, tag);
  cleanup_free char *body = NULL;
  size_t len;
  *digest = *media_type = NULL;
  if (enclaver_read_file (p, 4096, &body, &len, &e) < 0)
    {
      enclaver_error_release (&e);
      return 0;
    }
  char *sp = strchr (body, ' ');
  if (!sp)
    return 0;
  *sp = '\0';
  char *nl = strchr (sp + 1, '\n');
  if (nl)
    *nl = '\0';
  if (!oci_digest_valid (body))
    return 0;
  *digest = xstrdup (body);
  *media_type = strcmp (sp + 1, "-") ? xstrdup (sp + 1) : NULL;
  return 1;
}
