/* enclaver: the content-addressed blob cache.
 *
 *   ROOT/blobs/sha256/<hex>     verified blobs (written to ROOT/tmp, renamed in place)
 *   ROOT/tmp/                   partial downloads (same file system, so rename is atomic)
 *   ROOT/refs/<host>/<path>/<tag>   last digest a tag resolved to (for --offline)
 *
 * Two processes may fill the cache at once: each writes its own temporary file and
 * the rename of identical content is harmless.  A process holds an exclusive flock on
 * each temporary file it writes (and registers it for removal on a signal), so a
 * temporary that nobody holds was left by a process that died: opening the cache
 * removes those (only those), and `enclaver image cache prune` does too.  A shared
 * flock on tmp/ while a file is created and locked keeps the sweep (exclusive) from
 * seeing it in between. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <enclaver/cache.h>
#include <enclaver/log.h>
#include <enclaver/tempfiles.h>
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

char *
enclaver_image_cache_dir (const char *dir)
{
  return dir ? enclaver_path_join_abs (NULL, dir) : enclaver_image_default_cache_dir ();
}

static int
cache_paths (struct oci_cache *c, const char *dir, enclaver_error_t *err)
{
  memset (c, 0, sizeof *c);
  c->root = enclaver_image_cache_dir (dir);
  if (c->root == NULL)
    return enclaver_make_error (err, EINVAL, "cache directory '%s' is not usable", dir);
  c->blobs = xasprintf ("%s/blobs/sha256", c->root);
  c->tmp = xasprintf ("%s/tmp", c->root);
  return 0;
}

static void
report_add (struct enclaver_cache_report *r, const char *path, const char *kind, uint64_t size, char *detail)
{
  if (r == NULL)
    {
      free (detail);
      return;
    }
  r->items = xreallocarray (r->items, r->n_items + 1, sizeof *r->items);
  r->items[r->n_items].path = xstrdup (path);
  r->items[r->n_items].kind = xstrdup (kind);
  r->items[r->n_items].size = size;
  r->items[r->n_items].detail = detail;
  r->n_items++;
  r->bytes += size;
}

/* Remove the temporaries in tmp/ that no process holds a lock on.  Returns how many.
 * A writer holds a shared flock on tmp/ itself from before it creates its file until
 * it has locked the file; the sweep holds it exclusively, so it never sees a file in
 * between (created, not locked yet). */
static size_t
sweep_tmp (struct oci_cache *c, struct enclaver_cache_report *r, uint64_t *bytes)
{
  cleanup_dir DIR *d = opendir (c->tmp);
  struct dirent *de;
  size_t n = 0;
  if (d == NULL || flock (dirfd (d), LOCK_EX) < 0)
    return 0;
  while ((de = readdir (d)) != NULL)
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_close int fd = openat (dirfd (d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
        continue;
      /* A writer holds LOCK_EX for as long as the file is its temporary. */
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      if (unlinkat (dirfd (d), de->d_name, 0) < 0)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", c->tmp, de->d_name);
      enclaver_log_debug ("cache: removed the stale temporary %s (%" PRIu64 " bytes)", p, (uint64_t) st.st_size);
      report_add (r, p, "temporary", (uint64_t) st.st_size, NULL);
      if (bytes)
        *bytes += (uint64_t) st.st_size;
      n++;
    }
  return n;
}

int
oci_cache_open (struct oci_cache *c, const char *dir, enclaver_error_t *err)
{
  if (cache_paths (c, dir, err) < 0)
    return -1;
  if (mkdir_p (c->blobs, err) < 0 || mkdir_p (c->tmp, err) < 0)
    {
      enclaver_error_wrap (err, "cache %s", c->root);
      oci_cache_close (c);
      return -1;
    }
  uint64_t bytes = 0;
  size_t n = sweep_tmp (c, NULL, &bytes);
  if (n)
    enclaver_log_info ("cache: removed %zu stale temporary file%s (%" PRIu64 " bytes) left by an interrupted run",
                       n, n == 1 ? "" : "s", bytes);
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
  for (int tries = 0;; tries++)
    {
      struct stat st;
      /* Create and lock the file under a shared lock of tmp/ (see sweep_tmp). */
      cleanup_close int dfd = open (c->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || flock (dfd, LOCK_SH) < 0)
        return enclaver_make_errno (err, errno, "cache: open %s", c->tmp);
      s->tmp_path = xasprintf ("%s/blob-XXXXXX", c->tmp);
      s->fd = enclaver_temp_mkostemp (s->tmp_path, O_CLOEXEC);
      if (s->fd < 0)
        {
          int e = errno;
          free (s->tmp_path);
          s->tmp_path = NULL;
          return enclaver_make_errno (err, e, "cache: create temporary file in %s", c->tmp);
        }
      /* Hold it so that another process opening the cache does not take it for a
       * leftover.  (Should a sweep that does not know the tmp/ lock have removed it
       * meanwhile, st_nlink is 0: make another.) */
      if (flock (s->fd, LOCK_EX) == 0 && fstat (s->fd, &st) == 0 && st.st_nlink > 0)
        break;
      int e = errno;
      close (s->fd);
      s->fd = -1;
      enclaver_temp_forget (s->tmp_path);
      free (s->tmp_path);
      s->tmp_path = NULL;
      if (tries >= 8)
        return enclaver_make_errno (err, e ? e : EAGAIN, "cache: lock a temporary file in %s", c->tmp);
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
    enclaver_temp_unlink (s->tmp_path);
  free (s->tmp_path);
  s->tmp_path = NULL;
  if (s->h.md)
    oci_hasher_free (&s->h);
}

/* Make the sink's finished temporary durable and rename it to dst (while still locked,
 * then closed, which drops the lock), then release the sink.  On failure err is set and
 * the sink is left for oci_sink_abort. */
static int
sink_place (struct oci_sink *s, const char *dst, enclaver_error_t *err)
{
  const char *what = s->what ? s->what : "blob";
  if (fchmod (s->fd, 0644) < 0 || fsync (s->fd) < 0)
    return enclaver_make_errno (err, errno, "%s: cache file %s", what, s->tmp_path);
  if (rename (s->tmp_path, dst) < 0)
    return enclaver_make_errno (err, errno, "%s: rename into cache %s", what, dst);
  enclaver_temp_forget (s->tmp_path);
  close (s->fd);
  s->fd = -1;
  free (s->tmp_path);
  s->tmp_path = NULL;
  oci_hasher_free (&s->h);
  return 0;
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
  {
    cleanup_free char *dst = oci_cache_blob_path (s->cache, got);
    if (sink_place (s, dst, err) < 0)
      goto fail;
  }
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
  cleanup_close int fd = enclaver_open_file (p, O_NOFOLLOW, err);
  if (fd < 0)
    return enclaver_error_wrap (err, "cache");
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
      return enclaver_make_error (err, EBADMSG, "cache: %s is damaged (content is %s); removed it", p, got);
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
  struct oci_sink s;
  if (mkdir_p (dir, &e) < 0)
    {
      enclaver_error_release (&e);
      return -1;
    }
  /* The temporary is made in tmp/ like a blob's, so that a run killed before the rename
   * leaves it where the next run's sweep removes it (not beside the tag file). */
  if (oci_sink_open (&s, c, -1, "tag", &e) < 0)
    {
      enclaver_error_release (&e);
      return -1;
    }
  if (oci_sink_write (&s, body, strlen (body)) < 0 || sink_place (&s, p, &e) < 0)
    {
      enclaver_error_release (&e);
      oci_sink_abort (&s);
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

/* ------------------------------------------------------------------ maintenance */

void
enclaver_cache_report_clear (struct enclaver_cache_report *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n_items; i++)
    {
      free (r->items[i].path);
      free (r->items[i].kind);
      free (r->items[i].detail);
    }
  free (r->items);
  free (r->root);
  memset (r, 0, sizeof *r);
}

/* Open the cache for maintenance: no directory is created.  Returns 1 when it exists,
 * 0 when it does not, -1 on an error. */
static int
maint_open (struct oci_cache *c, const char *dir, struct enclaver_cache_report *out, enclaver_error_t *err)
{
  struct stat st;
  memset (out, 0, sizeof *out);
  if (cache_paths (c, dir, err) < 0)
    return -1;
  out->root = xstrdup (c->root);
  if (stat (c->root, &st) < 0)
    {
      if (errno == ENOENT)
        {
          oci_cache_close (c);
          return 0;
        }
      int rc = enclaver_make_errno (err, errno, "cache %s", c->root);
      oci_cache_close (c);
      return rc;
    }
  if (!S_ISDIR (st.st_mode))
    {
      enclaver_make_error (err, ENOTDIR, "cache %s is not a directory", c->root);
      oci_cache_close (c);
      return -1;
    }
  return 1;
}

/* A set of digests (small: the blobs of the images a cache remembers). */
struct digest_set
{
  char **v;
  size_t n;
};

static int
set_has (const struct digest_set *s, const char *d)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->v[i], d) == 0)
      return 1;
  return 0;
}

static void
set_add (struct digest_set *s, const char *d)
{
  if (d == NULL || !oci_digest_valid (d) || set_has (s, d))
    return;
  s->v = xreallocarray (s->v, s->n + 1, sizeof *s->v);
  s->v[s->n++] = xstrdup (d);
}

/* Every tag file under dir (refs/...): add the digest it names. */
static void
collect_refs (const char *dir, struct digest_set *s, int depth)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && depth < 32 && (de = readdir (d)) != NULL)
    {
      struct stat st;
      if (de->d_name[0] == '.')
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", dir, de->d_name);
      if (lstat (p, &st) < 0)
        continue;
      if (S_ISDIR (st.st_mode))
        collect_refs (p, s, depth + 1);
      else if (S_ISREG (st.st_mode) && st.st_size < 4096)
        {
          cleanup_free char *body = NULL;
          size_t len;
          enclaver_error_t e = NULL;
          if (enclaver_read_file (p, 4096, &body, &len, &e) < 0)
            {
              enclaver_error_release (&e);
              continue;
            }
          body[strcspn (body, " \n")] = '\0';
          set_add (s, body);
        }
    }
}

/* Walk from the remembered digests through indexes and manifests in the cache. */
static void
collect_reachable (struct oci_cache *c, struct digest_set *s)
{
  for (size_t i = 0; i < s->n; i++)
    {
      struct stat st;
      cleanup_free char *p = oci_cache_blob_path (c, s->v[i]);
      cleanup_free char *body = NULL;
      size_t len;
      enclaver_error_t e = NULL;
      if (lstat (p, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > (off_t) OCI_MAX_DOC)
        continue;
      if (enclaver_read_file (p, OCI_MAX_DOC, &body, &len, &e) < 0)
        {
          enclaver_error_release (&e);
          continue;
        }
      json_t *j = json_loadb (body, len, 0, NULL);
      if (!json_is_object (j))
        {
          json_decref (j);
          continue;
        }
      size_t k;
      json_t *v;
      json_array_foreach (json_object_get (j, "manifests"), k, v)
        set_add (s, json_string_value (json_object_get (v, "digest")));
      set_add (s, json_string_value (json_object_get (json_object_get (j, "config"), "digest")));
      json_array_foreach (json_object_get (j, "layers"), k, v)
        set_add (s, json_string_value (json_object_get (v, "digest")));
      json_decref (j);
    }
}

/* Remove regular files under dir (and the emptied directories below it). */
static void
remove_all_under (const char *dir, const char *kind, struct enclaver_cache_report *r, int depth)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while (d && depth < 32 && (de = readdir (d)) != NULL)
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", dir, de->d_name);
      if (lstat (p, &st) < 0)
        continue;
      if (S_ISDIR (st.st_mode))
        {
          remove_all_under (p, kind, r, depth + 1);
          rmdir (p);
        }
      else if (unlink (p) == 0)
        report_add (r, p, kind, S_ISREG (st.st_mode) ? (uint64_t) st.st_size : 0, NULL);
    }
}

int
enclaver_image_cache_prune (const char *dir, int mode, struct enclaver_cache_report *out, enclaver_error_t *err)
{
  struct oci_cache c;
  int have = maint_open (&c, dir, out, err);
  if (have <= 0)
    return have;
  sweep_tmp (&c, out, NULL);
  if (mode == ENCLAVER_CACHE_PRUNE_ALL)
    {
      cleanup_free char *refs = xasprintf ("%s/refs", c.root);
      remove_all_under (refs, "ref", out, 0);
      remove_all_under (c.blobs, "blob", out, 0);
    }
  else if (mode == ENCLAVER_CACHE_PRUNE_UNREFERENCED)
    {
      struct digest_set keep = { NULL, 0 };
      cleanup_free char *refs = xasprintf ("%s/refs", c.root);
      collect_refs (refs, &keep, 0);
      collect_reachable (&c, &keep);
      cleanup_dir DIR *d = opendir (c.blobs);
      struct dirent *de;
      while (d && (de = readdir (d)) != NULL)
        {
          struct stat st;
          if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
            continue;
          cleanup_free char *digest = xasprintf ("sha256:%s", de->d_name);
          cleanup_free char *p = xasprintf ("%s/%s", c.blobs, de->d_name);
          if (set_has (&keep, digest) || lstat (p, &st) < 0 || S_ISDIR (st.st_mode))
            continue;
          if (unlink (p) == 0)
            report_add (out, p, "blob", S_ISREG (st.st_mode) ? (uint64_t) st.st_size : 0, NULL);
        }
      enclaver_strv_free (keep.v, keep.n);
    }
  oci_cache_close (&c);
  return 0;
}

/* Hash one blob file; 0 when its content is its name, 1 when not (detail set), -1 on
 * a read error. */
static int
verify_one (int dfd, const char *name, uint64_t *size, char **detail, enclaver_error_t *err)
{
  struct stat st;
  char got[OCI_DIGEST_LEN + 1];
  cleanup_free char *want = xasprintf ("sha256:%s", name);
  mode_t kind;
  cleanup_close int fd = enclaver_open_regular (dfd, name, O_NOFOLLOW, &kind);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      if (errno == ELOOP)
        {
          *detail = xstrdup ("a symbolic link, not a blob");
          return 1;
        }
      if (fd < 0 && kind)
        {
          *size = 0;
          *detail = xasprintf ("%s, not a regular file", enclaver_file_kind (kind));
          return 1;
        }
      return enclaver_make_errno (err, errno, "cache: open blob %s", name);
    }
  *size = (uint64_t) st.st_size;
  if (strlen (name) != 64 || !oci_digest_valid (want))
    {
      *detail = xstrdup ("its name is not a sha256 digest");
      return 1;
    }
  struct oci_hasher h;
  cleanup_free char *buf = xmalloc (1 << 20);
  oci_hasher_init (&h);
  for (;;)
    {
      ssize_t n = read (fd, buf, 1 << 20);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          oci_hasher_free (&h);
          return enclaver_make_errno (err, e, "cache: read blob %s", name);
        }
      if (n == 0)
        break;
      oci_hasher_update (&h, buf, (size_t) n);
    }
  oci_hasher_final (&h, got);
  oci_hasher_free (&h);
  if (strcmp (got, want) != 0)
    {
      *detail = xasprintf ("content is %s", got);
      return 1;
    }
  return 0;
}

int
oci_cache_blob_damaged (const struct oci_cache *c, const char *digest, char **detail, enclaver_error_t *err)
{
  uint64_t size = 0;
  cleanup_close int dfd = open (c->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return enclaver_make_errno (err, errno, "cache: open %s", c->blobs);
  return verify_one (dfd, digest + 7, &size, detail, err);
}

int
enclaver_image_cache_verify (const char *dir, struct enclaver_cache_report *out, enclaver_error_t *err)
{
  struct oci_cache c;
  int have = maint_open (&c, dir, out, err);
  int corrupt = 0;
  if (have <= 0)
    return have;
  cleanup_dir DIR *d = opendir (c.blobs);
  struct dirent *de;
  if (d == NULL && errno != ENOENT)
    {
      enclaver_make_errno (err, errno, "cache: open %s", c.blobs);
      oci_cache_close (&c);
      return -1;
    }
  while (d && (de = readdir (d)) != NULL)
    {
      uint64_t size = 0;
      cleanup_free char *detail = NULL;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      int r = verify_one (dirfd (d), de->d_name, &size, &detail, err);
      if (r < 0)
        {
          if (errno == ENOENT || (*err && (*err)->status == ENOENT))
            {
              enclaver_error_release (err); /* removed meanwhile (a concurrent prune) */
              continue;
            }
          oci_cache_close (&c);
          return -1;
        }
      out->checked++;
      out->checked_bytes += size;
      if (r == 0)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", c.blobs, de->d_name);
      /* Dropped so that the next pull fetches it again (a directory stays: not ours). */
      if (unlinkat (dirfd (d), de->d_name, 0) < 0 && errno != ENOENT)
        {
          char *d2 = xasprintf ("%s; not removed: %s", detail, strerror (errno));
          free (detail);
          detail = d2;
        }
      report_add (out, p, "corrupt", size, detail);
      detail = NULL;
      corrupt++;
    }
  oci_cache_close (&c);
  return corrupt;
}
