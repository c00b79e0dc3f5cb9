/* enclaver: enclaver_image_fetch — resolve a source to a verified manifest, config
 * and layer blobs in the cache (docs/image.md). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "oci/oci.h"
#include <enclaver/log.h>

struct fetch
{
  const struct enclaver_image_options *o;
  struct oci_cache cache;
  struct enclaver_image_ref *ref;
  struct enclaver_platform want;
  int want_explicit;
  char *label;               /* the source as shown in messages */
  int kind;                  /* how it is read: the transport, docker-daemon: read as docker-archive: */
  const char *src;           /* local transports: the file or directory read */
  const char *where;         /* ... as named in messages */
  char *dir_root;            /* dir: the digest of manifest.json */
  const char *select;        /* archives and layouts: the :REF to pick (NULL = the only one) */
  struct oci_archive ar;
  int have_ar;
  struct oci_registry *reg;
  /* parallel layer fetch */
  pthread_mutex_t lock;
  size_t next;
  int failed;
  enclaver_error_t first_err;
  struct enclaver_image *img;
};

void
enclaver_image_options_init (struct enclaver_image_options *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->jobs = 4;
  opts->progress = -1;
}

static void
strv_free (char **v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
enclaver_image_free (struct enclaver_image *img)
{
  if (img == NULL)
    return;
  free (img->source);
  free (img->name);
  free (img->digest);
  free (img->media_type);
  free (img->index_digest);
  free (img->platform);
  free (img->cache_dir);
  free (img->config_digest);
  free (img->config_media_type);
  free (img->config_path);
  free (img->os);
  free (img->architecture);
  free (img->variant);
  free (img->created);
  strv_free (img->entrypoint, img->n_entrypoint);
  strv_free (img->cmd, img->n_cmd);
  strv_free (img->env, img->n_env);
  free (img->working_dir);
  free (img->user);
  strv_free (img->exposed_ports, img->n_exposed_ports);
  strv_free (img->volumes, img->n_volumes);
  strv_free (img->labels, img->n_labels);
  free (img->stop_signal);
  strv_free (img->diff_ids, img->n_diff_ids);
  for (size_t i = 0; i < img->n_layers; i++)
    {
      free (img->layers[i].digest);
      free (img->layers[i].media_type);
      free (img->layers[i].diff_id);
      free (img->layers[i].path);
    }
  free (img->layers);
  free (img);
}

void
enclaver_image_free_void (void *img)
{
  enclaver_image_free (img);
}

/* ------------------------------------------------------------------ blobs */

static char *local_blob_path (const struct fetch *f, const char *digest, int is_manifest);

static int
copy_file_blob (struct fetch *f, const char *digest, int64_t size, int is_manifest, const char *what,
                enclaver_error_t *err)
{
  cleanup_free char *p = local_blob_path (f, digest, is_manifest);
  enclaver_error_t oe = NULL;
  cleanup_close int fd = enclaver_open_file (p, O_NOFOLLOW, &oe);
  char buf[65536];
  if (fd < 0)
    {
      if (oe->status == ENOENT)
        {
          enclaver_error_release (&oe);
          return enclaver_make_error (err, ENOENT, "%s: blob %s is missing from %s %s", what, digest,
                                      f->kind == ENCLAVER_TRANSPORT_DIR ? "the directory" : "the layout", f->where);
        }
      enclaver_error_move (err, &oe);
      return enclaver_error_wrap (err, "%s", what);
    }
  struct oci_sink s;
  if (oci_sink_open (&s, &f->cache, size, what, err) < 0)
    return -1;
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          oci_sink_abort (&s);
          return enclaver_make_errno (err, e, "%s: read %s", what, p);
        }
      if (n == 0)
        break;
      if (oci_sink_write (&s, buf, (size_t) n) < 0)
        break;
    }
  return oci_sink_commit (&s, digest, size, NULL, err);
}

/* Make sure digest is in the cache.  is_manifest: fetch through the manifests endpoint.
 * *declared (may be NULL) receives the Content-Type a registry gave. */
static int
ensure_blob (struct fetch *f, const char *digest, int64_t size, int is_manifest, const char *what, char **declared,
             enclaver_error_t *err)
{
  if (declared)
    *declared = NULL;
  if (oci_digest_check (digest, what, err) < 0)
    return -1;
  int fresh = f->o->pull && !f->o->offline && f->kind != ENCLAVER_TRANSPORT_OCI_ARCHIVE
              && f->kind != ENCLAVER_TRANSPORT_DOCKER_ARCHIVE;
  if (!fresh && oci_cache_has (&f->cache, digest, size))
    return 0;
  switch (f->kind)
    {
    case ENCLAVER_TRANSPORT_OCI:
    case ENCLAVER_TRANSPORT_DIR:
      return copy_file_blob (f, digest, size, is_manifest, what, err);
    case ENCLAVER_TRANSPORT_OCI_ARCHIVE:
    case ENCLAVER_TRANSPORT_DOCKER_ARCHIVE:
      return enclaver_make_error (err, ENOENT, "%s: blob %s is not in the archive %s", what, digest, f->where);
    default:
      break;
    }
  if (f->o->offline)
    return enclaver_make_error (err, ENOENT, "%s: %s is not in the cache %s and --offline forbids the network", what,
                                digest, f->cache.root);
  if (is_manifest)
    {
      cleanup_free char *body = NULL, *ct = NULL, *dd = NULL;
      size_t len;
      if (oci_registry_get_manifest (f->reg, f->ref->path, digest, &body, &len, &ct, &dd, err) < 0)
        return -1;
      if (size >= 0 && (int64_t) len != size)
        return enclaver_make_error (err, EINVAL, "%s: size mismatch: registry sent %zu bytes, descriptor says %lld",
                                    what, len, (long long) size);
      if (oci_cache_put (&f->cache, body, len, digest, NULL, err) < 0)
        return enclaver_error_wrap (err, "%s", what);
      if (declared)
        {
          *declared = ct;
          ct = NULL;
        }
      return 0;
    }
  struct oci_sink s;
  if (oci_sink_open (&s, &f->cache, size, what, err) < 0)
    return -1;
  if (oci_registry_get_blob (f->reg, f->ref->path, digest, size, &s, err) < 0)
    {
      oci_sink_abort (&s);
      return -1;
    }
  return oci_sink_commit (&s, digest, size, NULL, err);
}

/* Layers read in place from an oci: layout or a dir: (enclaver_image_options.layers_in_place). */
static int
in_place (const struct fetch *f)
{
  return f->o->layers_in_place && (f->kind == ENCLAVER_TRANSPORT_OCI || f->kind == ENCLAVER_TRANSPORT_DIR);
}

static char *
local_blob_path (const struct fetch *f, const char *digest, int is_manifest)
{
  if (f->kind == ENCLAVER_TRANSPORT_DIR)
    return oci_dir_blob_path (f->src, digest, is_manifest, f->dir_root);
  return xasprintf ("%s/blobs/sha256/%s", f->src, digest + 7);
}

static char *
layout_blob_path (const struct fetch *f, const char *digest)
{
  return local_blob_path (f, digest, 0);
}

/* The blob must be a regular file of the declared size; its digest is checked by
 * whoever reads it. */
static int
layout_blob_check (struct fetch *f, const char *digest, int64_t size, const char *what, enclaver_error_t *err)
{
  cleanup_free char *p = NULL;
  struct stat st;
  if (oci_digest_check (digest, what, err) < 0)
    return -1;
  p = layout_blob_path (f, digest);
  if (lstat (p, &st) < 0)
    return enclaver_make_errno (err, errno, "%s: %s", what, p);
  if (!S_ISREG (st.st_mode))
    return enclaver_make_error (err, EINVAL, "%s: %s is not a regular file", what, p);
  if (size >= 0 && st.st_size != size)
    return enclaver_make_error (err, EINVAL, "%s: size mismatch: %s has %lld bytes, descriptor says %lld", what, p,
                                (long long) st.st_size, (long long) size);
  return 0;
}

static int
read_doc (struct fetch *f, const char *digest, int64_t size, int is_manifest, const char *what, char **out,
          size_t *len, char **declared, enclaver_error_t *err)
{
  if (size > (int64_t) OCI_MAX_DOC)
    return enclaver_make_error (err, EFBIG, "%s: %lld bytes exceeds the %u byte limit for JSON documents", what,
                                (long long) size, OCI_MAX_DOC);
  if (ensure_blob (f, digest, size, is_manifest, what, declared, err) < 0)
    return -1;
  if (oci_cache_read (&f->cache, digest, OCI_MAX_DOC, out, len, err) == 0)
    return 0;
  if ((*err)->status != EBADMSG)
    return -1;
  /* A damaged cache entry (removed by oci_cache_read): fetched again from the source
   * when there is one to fetch it from. */
  enclaver_log_warning ("%s: %s", what, (*err)->msg);
  enclaver_error_release (err);
  if (declared)
    {
      free (*declared);
      *declared = NULL;
    }
  if (ensure_blob (f, digest, size, is_manifest, what, declared, err) < 0)
    return enclaver_error_wrap (err, "%s: the cached copy was damaged and is removed; fetching it again failed "
                                "(run again when the source is reachable)", what);
  return oci_cache_read (&f->cache, digest, OCI_MAX_DOC, out, len, err);
}

/* ------------------------------------------------------------------ local layouts */

static int
check_layout_header (const char *buf, size_t len, const char *what, enclaver_error_t *err)
{
  json_t *j = oci_json_load (buf, len, what, err);
  if (j == NULL)
    return -1;
  json_t *v = json_object_get (j, "imageLayoutVersion");
  int ok = json_is_string (v) && strcmp (json_string_value (v), "1.0.0") == 0;
  json_decref (j);
  if (!ok)
    return enclaver_make_error (err, ENOTSUP, "%s: imageLayoutVersion must be \"1.0.0\"", what);
  return 0;
}

static int
name_matches (const char *want, const char *have)
{
  if (have == NULL)
    return 0;
  if (strcmp (want, have) == 0)
    return 1;
  /* Compare as normalised registry references (busybox:latest == docker.io/library/busybox:latest). */
  enclaver_error_t e = NULL;
  struct enclaver_image_ref *a = enclaver_image_ref_parse (want, &e);
  enclaver_error_release (&e);
  struct enclaver_image_ref *b = enclaver_image_ref_parse (have, &e);
  enclaver_error_release (&e);
  int same = 0;
  if (a && b && a->transport == ENCLAVER_TRANSPORT_REGISTRY && b->transport == ENCLAVER_TRANSPORT_REGISTRY)
    {
      cleanup_free char *sa = enclaver_image_ref_string (a), *sb = enclaver_image_ref_string (b);
      same = strcmp (sa, sb) == 0;
    }
  enclaver_image_ref_free (a);
  enclaver_image_ref_free (b);
  return same;
}

/* Choose from index.json.  Returns the entry, -2 when the whole index.json should be
 * treated as a platform index, -3 when it is empty (docker save fallback), -1 error. */
static int
select_in_layout (struct fetch *f, const struct oci_index *ix, const char *what, enclaver_error_t *err)
{
  const char *want = f->select;
  if (want && want[0] == '@')
    {
      long n = strtol (want + 1, NULL, 10);
      if (n < 0 || (size_t) n >= ix->n)
        return enclaver_make_error (err, ENOENT, "%s: no manifest number %ld (it lists %zu)", what, n, ix->n);
      return (int) n;
    }
  if (want)
    {
      for (size_t i = 0; i < ix->n; i++)
        if (name_matches (want, ix->m[i].ref_name) || name_matches (want, ix->m[i].image_name))
          return (int) i;
      if (f->kind == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE)
        return -3; /* try manifest.json RepoTags */
    }
  else
    {
      if (ix->n == 1)
        return 0;
      if (ix->n == 0)
        return -3;
      {
        /* Referrer artifacts beside the image (an SBOM with artifactType, docs/plugins/
         * sbom.md) are not images: one image among them is the one meant. */
        size_t n_img = 0, pick = 0;
        for (size_t i = 0; i < ix->n; i++)
          if (ix->m[i].artifact_type == NULL && !ix->m[i].attestation)
            {
              n_img++;
              pick = i;
            }
        if (n_img == 1 && !ix->m[pick].has_platform)
          return (int) pick;
      }
      int all_platforms = 1;
      for (size_t i = 0; i < ix->n; i++)
        if (!ix->m[i].has_platform && !ix->m[i].attestation && ix->m[i].artifact_type == NULL)
          all_platforms = 0;
      if (all_platforms)
        return -2;
    }
  /* error listing the names */
  size_t cap = 64, len = 0;
  cleanup_free char *names = xmalloc (cap);
  names[0] = '\0';
  for (size_t i = 0; i < ix->n; i++)
    {
      const char *nm = ix->m[i].ref_name ? ix->m[i].ref_name : ix->m[i].image_name;
      cleanup_free char *t = nm ? xasprintf ("%s (@%zu)", nm, i) : xasprintf ("@%zu", i);
      if (len + strlen (t) + 3 > cap)
        {
          cap = (len + strlen (t) + 3) * 2;
          names = xrealloc (names, cap);
        }
      len += (size_t) sprintf (names + len, "%s%s", len ? ", " : "", t);
    }
  if (want)
    return enclaver_make_error (err, ENOENT, "%s: no image named '%s'; it has: %s", what, want,
                                len ? names : "nothing");
  return enclaver_make_error (err, EINVAL, "%s: holds %zu images, choose one with :REF or :@N: %s", what, ix->n,
                              names);
}

/* docker save manifest.json (legacy, crane, or the Docker >= 25 copy). */
static int
legacy_root (struct fetch *f, struct oci_desc *root, enclaver_error_t *err)
{
  const struct oci_member *mj = oci_archive_find (&f->ar, "manifest.json");
  json_t *j = NULL, *entry = NULL, *out = NULL;
  int rc = -1;
  cleanup_free char *what = xasprintf ("%s: manifest.json", f->where);
  cleanup_free char *body = NULL;
  if (mj == NULL || mj->data == NULL)
    return enclaver_make_error (err, EINVAL, "%s: not a docker save archive (no manifest.json, no usable index.json)",
                                f->where);
  if ((j = oci_json_load (mj->data, mj->data_len, what, err)) == NULL)
    return -1;
  if (!json_is_array (j) || json_array_size (j) == 0)
    {
      enclaver_make_error (err, EINVAL, "%s: must be a non-empty array", what);
      goto out;
    }
  const char *want = f->select;
  size_t n = json_array_size (j);
  if (want && want[0] == '@')
    {
      long k = strtol (want + 1, NULL, 10);
      if (k < 0 || (size_t) k >= n)
        {
          enclaver_make_error (err, ENOENT, "%s: no image number %ld (it has %zu)", what, k, n);
          goto out;
        }
      entry = json_array_get (j, (size_t) k);
    }
  else if (want)
    {
      for (size_t i = 0; i < n && !entry; i++)
        {
          json_t *tags = json_object_get (json_array_get (j, i), "RepoTags"), *t;
          size_t k;
          json_array_foreach (tags, k, t)
            if (json_is_string (t) && name_matches (want, json_string_value (t)))
              entry = json_array_get (j, i);
        }
      if (!entry)
        {
          enclaver_make_error (err, ENOENT, "%s: no image tagged '%s'", what, want);
          goto out;
        }
    }
  else if (n == 1)
    entry = json_array_get (j, 0);
  else
    {
      enclaver_make_error (err, EINVAL, "%s: holds %zu images, choose one with :NAME:TAG or :@N", what, n);
      goto out;
    }
  json_t *cfg = json_object_get (entry, "Config"), *layers = json_object_get (entry, "Layers");
  if (!json_is_string (cfg) || !json_is_array (layers))
    {
      enclaver_make_error (err, EINVAL, "%s: entry needs a 'Config' string and a 'Layers' array", what);
      goto out;
    }
  if (json_array_size (layers) > OCI_MAX_LAYERS)
    {
      enclaver_make_error (err, E2BIG, "%s: too many layers", what);
      goto out;
    }
  const struct oci_member *cm = oci_archive_find (&f->ar, json_string_value (cfg));
  if (cm == NULL || cm->digest == NULL)
    {
      enclaver_make_error (err, ENOENT, "%s: config member '%s' is missing", what, json_string_value (cfg));
      goto out;
    }
  /* Synthesise a Docker v2 schema 2 manifest for the image. */
  out = json_object ();
  json_object_set_new (out, "schemaVersion", json_integer (2));
  json_object_set_new (out, "mediaType", json_string (ENCLAVER_MT_DOCKER_MANIFEST));
  json_object_set_new (out, "config", json_pack ("{s:s,s:I,s:s}", "mediaType", ENCLAVER_MT_DOCKER_CONFIG, "size",
                                                 (json_int_t) cm->size, "digest", cm->digest));
  json_t *la = json_array ();
  json_object_set_new (out, "layers", la);
  size_t k;
  json_t *lv;
  json_array_foreach (layers, k, lv)
  {
    const struct oci_member *lm = json_is_string (lv) ? oci_archive_find (&f->ar, json_string_value (lv)) : NULL;
    if (lm == NULL || lm->digest == NULL)
      {
        enclaver_make_error (err, ENOENT, "%s: layer %zu of %zu: member '%s' is missing", what, k + 1,
                             json_array_size (layers),
                             json_is_string (lv) ? json_string_value (lv) : "?");
        goto out;
      }
    /* Compression by magic (crane writes .tar.gz members). */
    unsigned char magic[512];
    ssize_t got = 0;
    {
      cleanup_free char *p = oci_cache_blob_path (&f->cache, lm->digest);
      enclaver_error_t oe = NULL;
      cleanup_close int fd = enclaver_open_file (p, O_NOFOLLOW, &oe);
      if (fd >= 0)
        got = pread (fd, magic, sizeof magic, 0);
      enclaver_error_release (&oe);
    }
    enclaver_error_t e = NULL;
    int comp = enclaver_detect_compression (magic, got > 0 ? (size_t) got : 0, &e);
    if (comp < 0)
      {
        enclaver_make_error (err, EINVAL, "%s: layer %zu of %zu ('%s'): %s", what, k + 1, json_array_size (layers),
                             lm->name, e->msg);
        enclaver_error_set_field (err, "layer", lm->name);
        enclaver_error_set_field (err, "digest", lm->digest);
        enclaver_error_release (&e);
        goto out;
      }
    const char *mt = comp == ENCLAVER_COMPRESSION_GZIP   ? ENCLAVER_MT_DOCKER_LAYER_GZIP
                     : comp == ENCLAVER_COMPRESSION_ZSTD ? ENCLAVER_MT_DOCKER_LAYER_ZSTD
                                                         : ENCLAVER_MT_DOCKER_LAYER;
    json_array_append_new (la, json_pack ("{s:s,s:I,s:s}", "mediaType", mt, "size", (json_int_t) lm->size, "digest",
                                          lm->digest));
  }
  body = json_dumps (out, JSON_INDENT (3) | JSON_PRESERVE_ORDER);
  if (body == NULL)
    xoom ();
  char dg[OCI_DIGEST_LEN + 1];
  if (oci_cache_put (&f->cache, body, strlen (body), NULL, dg, err) < 0)
    goto out;
  memset (root, 0, sizeof *root);
  root->digest = xstrdup (dg);
  root->size = (int64_t) strlen (body);
  root->media_type = xstrdup (ENCLAVER_MT_DOCKER_MANIFEST);
  rc = 0;
out:
  json_decref (j);
  json_decref (out);
  return rc;
}

/* Root for oci:/oci-archive:/docker-archive:.  *whole_index receives index.json when
 * it is itself to be used as the platform index. */
static int
layout_root (struct fetch *f, struct oci_desc *root, struct oci_index *whole_index, enclaver_error_t *err)
{
  cleanup_free char *hdr = NULL, *idx = NULL;
  size_t hdr_len = 0, idx_len = 0;
  cleanup_free char *what = xasprintf ("%s: index.json", f->where);
  int is_dir = f->kind == ENCLAVER_TRANSPORT_OCI;
  memset (whole_index, 0, sizeof *whole_index);
  if (is_dir)
    {
      cleanup_free char *p1 = xasprintf ("%s/oci-layout", f->src), *p2 = xasprintf ("%s/index.json", f->src);
      struct stat st;
      if (stat (f->src, &st) < 0)
        return enclaver_make_errno (err, errno, "oci layout %s", f->where);
      if (!S_ISDIR (st.st_mode))
        return enclaver_make_error (err, ENOTDIR, "oci layout %s: not a directory", f->where);
      if (enclaver_read_file (p1, OCI_MAX_DOC, &hdr, &hdr_len, err) < 0)
        return enclaver_error_wrap (err, "oci layout %s: not an OCI image layout", f->where);
      if (enclaver_read_file (p2, OCI_MAX_DOC, &idx, &idx_len, err) < 0)
        return enclaver_error_wrap (err, "oci layout %s", f->where);
    }
  else
    {
      const struct oci_member *h = oci_archive_find (&f->ar, "oci-layout");
      const struct oci_member *i = oci_archive_find (&f->ar, "index.json");
      if (h == NULL || i == NULL || h->data == NULL || i->data == NULL)
        {
          if (f->kind == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE)
            return legacy_root (f, root, err);
          return enclaver_make_error (err, EINVAL, "%s: not an OCI archive (no oci-layout or index.json member)",
                                      f->where);
        }
      hdr = xstrndup (h->data, h->data_len);
      hdr_len = h->data_len;
      idx = xstrndup (i->data, i->data_len);
      idx_len = i->data_len;
    }
  cleanup_free char *hw = xasprintf ("%s: oci-layout", f->where);
  if (check_layout_header (hdr, hdr_len, hw, err) < 0)
    return -1;
  json_t *j = oci_json_load (idx, idx_len, what, err);
  if (j == NULL)
    return -1;
  cleanup_free char *mt = NULL;
  int kind = oci_doc_kind (j, NULL, what, &mt, err);
  struct oci_index ix;
  if (kind < 0 || (kind != OCI_DOC_INDEX && enclaver_make_error (err, EINVAL, "%s: must be an image index", what))
      || oci_index_parse (j, mt, what, &ix, err) < 0)
    {
      json_decref (j);
      return -1;
    }
  json_decref (j);
  int sel = select_in_layout (f, &ix, what, err);
  if (sel == -3 && f->kind == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE)
    {
      oci_index_free (&ix);
      return legacy_root (f, root, err);
    }
  if (sel == -3)
    {
      oci_index_free (&ix);
      return enclaver_make_error (err, ENOENT, "%s: lists no manifests", what);
    }
  if (sel == -2)
    {
      *whole_index = ix;
      return 0;
    }
  if (sel < 0)
    {
      oci_index_free (&ix);
      return -1;
    }
  oci_desc_copy (root, &ix.m[sel]);
  oci_index_free (&ix);
  return 0;
}

/* ------------------------------------------------------------------ registry root */

static char *
strip_params (const char *ct)
{
  if (ct == NULL)
    return NULL;
  size_t n = strcspn (ct, ";");
  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
    n--;
  return xstrndup (ct, n);
}

static int
registry_root (struct fetch *f, struct oci_desc *root, enclaver_error_t *err)
{
  struct enclaver_image_ref *r = f->ref;
  memset (root, 0, sizeof *root);
  root->size = -1;
  if (r->digest)
    {
      root->digest = xstrdup (r->digest);
      return 0;
    }
  if (f->o->offline)
    {
      char *d = NULL, *mt = NULL;
      if (!oci_cache_ref_get (&f->cache, r->domain, r->path, r->tag, &d, &mt))
        return enclaver_make_error (err, ENOENT,
                                    "%s: --offline, and the tag '%s' was never resolved into the cache %s "
                                    "(pin a digest or fetch once online)",
                                    f->label, r->tag, f->cache.root);
      root->digest = d;
      root->media_type = mt;
      return 0;
    }
  if (!f->o->pull)
    {
      /* Resolve the tag with HEAD: a manifest the cache has (verified by its digest when
       * it was stored) is not fetched again. */
      char *hd = NULL, *hct = NULL;
      enclaver_error_t e = NULL;
      int hr = oci_registry_head_manifest (f->reg, r->path, r->tag, &hd, &hct, &e);
      if (hr == -2)
        {
          *err = e;
          return -1;
        }
      if (hr == 0 && hd && oci_cache_has (&f->cache, hd, -1))
        {
          root->digest = hd;
          root->media_type = strip_params (hct);
          free (hct);
          oci_cache_ref_set (&f->cache, r->domain, r->path, r->tag, root->digest, root->media_type);
          return 0;
        }
      free (hd);
      free (hct);
      enclaver_error_release (&e); /* a registry without HEAD support is asked with GET */
    }
  cleanup_free char *body = NULL, *ct = NULL, *dd = NULL;
  size_t len;
  if (oci_registry_get_manifest (f->reg, r->path, r->tag, &body, &len, &ct, &dd, err) < 0)
    return -1;
  char dg[OCI_DIGEST_LEN + 1];
  oci_sha256_buf (body, len, dg);
  if (dd && strcmp (dd, dg) != 0)
    return enclaver_make_error (err, EINVAL,
                                "%s: manifest digest mismatch: Docker-Content-Digest says %s, content is %s", f->label,
                                dd, dg);
  if (oci_cache_put (&f->cache, body, len, dg, NULL, err) < 0)
    return -1;
  root->digest = xstrdup (dg);
  root->size = (int64_t) len;
  root->media_type = strip_params (ct);
  oci_cache_ref_set (&f->cache, r->domain, r->path, r->tag, dg, root->media_type);
  return 0;
}

/* ------------------------------------------------------------------ layers */

static void *
layer_worker (void *arg)
{
  struct fetch *f = arg;
  for (;;)
    {
      pthread_mutex_lock (&f->lock);
      size_t i = f->next++;
      int stop = f->failed;
      pthread_mutex_unlock (&f->lock);
      if (stop || i >= f->img->n_layers)
        return NULL;
      struct enclaver_image_layer *l = &f->img->layers[i];
      enclaver_error_t e = NULL;
      cleanup_free char *what = xasprintf ("%s: layer %zu of %zu (%s)", f->label, i + 1, f->img->n_layers, l->digest);
      if (in_place (f) ? layout_blob_check (f, l->digest, (int64_t) l->size, what, &e)
                       : ensure_blob (f, l->digest, (int64_t) l->size, 0, what, NULL, &e))
        {
          pthread_mutex_lock (&f->lock);
          if (!f->failed)
            {
              f->failed = 1;
              f->first_err = e;
              e = NULL;
            }
          pthread_mutex_unlock (&f->lock);
          enclaver_error_release (&e);
          return NULL;
        }
    }
}

static int
fetch_layers (struct fetch *f, enclaver_error_t *err)
{
  struct enclaver_image *img = f->img;
  unsigned jobs = f->o->jobs ? f->o->jobs : 4;
  if (jobs > 32)
    jobs = 32;
  if (jobs > img->n_layers)
    jobs = (unsigned) img->n_layers;
  pthread_t th[32];
  unsigned started = 0;
  f->next = 0;
  f->failed = 0;
  f->first_err = NULL;
  oci_progress_begin (f->ref->transport == ENCLAVER_TRANSPORT_REGISTRY ? f->o->progress : 0, img->n_layers, 0);
  for (unsigned i = 1; i < jobs; i++)
    if (pthread_create (&th[started], NULL, layer_worker, f) == 0)
      started++;
  layer_worker (f);
  for (unsigned i = 0; i < started; i++)
    pthread_join (th[i], NULL);
  oci_progress_end ();
  if (f->failed)
    {
      *err = f->first_err;
      return -1;
    }
  for (size_t i = 0; i < img->n_layers; i++)
    {
      struct enclaver_image_layer *l = &img->layers[i];
      l->path = in_place (f) ? layout_blob_path (f, l->digest) : oci_cache_blob_path (&f->cache, l->digest);
      unsigned char magic[512];
      enclaver_error_t e = NULL;
      cleanup_close int fd = enclaver_open_file (l->path, 0, err);
      if (fd < 0)
        return enclaver_error_wrap (err, "%s: layer %zu of %zu (%s)", f->label, i + 1, img->n_layers, l->digest);
      ssize_t got = pread (fd, magic, sizeof magic, 0);
      int comp = enclaver_detect_compression (magic, got > 0 ? (size_t) got : 0, &e);
      if (comp < 0)
        {
          enclaver_make_error (err, EINVAL, "%s: layer %zu of %zu (%s): %s", f->label, i + 1, img->n_layers, l->digest,
                               e->msg);
          enclaver_error_set_field (err, "layer", l->digest);
          enclaver_error_set_field (err, "digest", l->digest);
          enclaver_error_release (&e);
          return -1;
        }
      l->compression = comp;
      const char *mt = l->media_type;
      int says_gzip = strstr (mt, "gzip") != NULL, says_zstd = strstr (mt, "zstd") != NULL;
      if ((says_gzip && comp != ENCLAVER_COMPRESSION_GZIP) || (says_zstd && comp != ENCLAVER_COMPRESSION_ZSTD)
          || (!says_gzip && !says_zstd && comp != ENCLAVER_COMPRESSION_NONE))
        {
          struct enclaver_field lf[] = { ENCLAVER_FIELD_STR ("layer", l->digest),
                                         ENCLAVER_FIELD_STR ("digest", l->digest) };
          enclaver_log_fields (ENCLAVER_LOG_WARNING, NULL, lf, 2,
                               "%s: layer %zu of %zu (%s) is labelled %s but its bytes are %s", f->label, i + 1, img->n_layers,
                               l->digest, mt,
                               comp == ENCLAVER_COMPRESSION_GZIP   ? "gzip"
                               : comp == ENCLAVER_COMPRESSION_ZSTD ? "zstd"
                                                                   : "an uncompressed tar");
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ main entry */

struct enclaver_image *
enclaver_image_fetch (const char *source, const struct enclaver_image_options *opts, enclaver_error_t *err)
{
  struct enclaver_image_options defaults;
  struct fetch F, *f = &F;
  struct enclaver_image *img = NULL;
  struct oci_desc root = { 0 }, cur = { 0 };
  struct oci_index whole = { 0 };
  struct oci_manifest man = { 0 };
  char *index_digest = NULL;
  int ok = 0;

  if (opts == NULL)
    {
      enclaver_image_options_init (&defaults);
      opts = &defaults;
    }
  memset (f, 0, sizeof *f);
  pthread_mutex_init (&f->lock, NULL);
  f->o = opts;
  if ((f->ref = enclaver_image_source_resolve (source, err)) == NULL)
    goto out;
  if (f->ref->transport == ENCLAVER_TRANSPORT_EIF)
    {
      enclaver_make_error (err, EINVAL, "%s is an EIF, not a container image (give the image it was built from)",
                           f->ref->file);
      goto out;
    }
  f->label = enclaver_image_ref_string (f->ref);
  f->kind = f->ref->transport;
  f->src = f->where = f->ref->file;
  f->select = f->kind == ENCLAVER_TRANSPORT_DOCKER_DAEMON ? NULL : f->ref->image; /* an export holds one image */
  if (opts->platform)
    {
      if (enclaver_platform_parse (opts->platform, &f->want, err) < 0)
        goto out;
      f->want_explicit = 1;
    }
  else
    enclaver_platform_host (&f->want);
  if (oci_cache_open (&f->cache, opts->cache_dir, err) < 0)
    goto out;

  switch (f->ref->transport)
    {
    case ENCLAVER_TRANSPORT_OCI:
      if (layout_root (f, &root, &whole, err) < 0)
        goto out;
      break;
    case ENCLAVER_TRANSPORT_DIR:
      if (oci_dir_root (f->src, &f->cache, &root, err) < 0)
        goto out;
      f->dir_root = xstrdup (root.digest);
      break;
    case ENCLAVER_TRANSPORT_OCI_ARCHIVE:
    case ENCLAVER_TRANSPORT_DOCKER_ARCHIVE:
      if (oci_archive_load (f->src, &f->cache, &f->ar, err) < 0)
        goto out;
      f->have_ar = 1;
      if (layout_root (f, &root, &whole, err) < 0)
        goto out;
      break;
    case ENCLAVER_TRANSPORT_DOCKER_DAEMON:
      {
        /* The export is a docker save tarball: from here on it is read as one. */
        struct oci_sink sink;
        cleanup_free char *what = xasprintf ("%s: export", f->label);
        if (oci_sink_open (&sink, &f->cache, -1, what, err) < 0)
          goto out;
        int r = oci_daemon_export (f->ref->image, f->label, &sink, err);
        if (r == 0)
          r = oci_archive_load_as (sink.tmp_path, f->label, &f->cache, &f->ar, err);
        oci_sink_abort (&sink);
        if (r < 0)
          goto out;
        f->have_ar = 1;
        f->kind = ENCLAVER_TRANSPORT_DOCKER_ARCHIVE;
        f->where = f->label;
        if (layout_root (f, &root, &whole, err) < 0)
          goto out;
        break;
      }
    default:
      {
        struct oci_registry_options ro = { opts->insecure_registries, opts->ca_cert, opts->progress,
                                           opts->cert_dir, opts->creds, opts->blob_timeout };
        if (!opts->offline && (f->reg = oci_registry_new (f->ref->api_host, f->ref->domain, &ro, err)) == NULL)
          goto out;
        if (registry_root (f, &root, err) < 0)
          goto out;
      }
    }

  /* Walk index -> manifest. */
  if (whole.m)
    {
      cleanup_free char *w = xasprintf ("%s: index.json", f->label);
      int sel = oci_index_select (&whole, &f->want, w, err);
      if (sel < 0)
        goto out;
      oci_desc_copy (&cur, &whole.m[sel]);
    }
  else
    oci_desc_copy (&cur, &root);
  for (int depth = 0;; depth++)
    {
      cleanup_free char *what = xasprintf ("%s: %s", f->label, cur.digest);
      cleanup_free char *body = NULL, *declared = NULL, *mt = NULL;
      size_t len;
      if (depth > OCI_MAX_INDEX_DEPTH)
        {
          enclaver_make_error (err, ELOOP, "%s: indexes nested deeper than %d", what, OCI_MAX_INDEX_DEPTH);
          goto out;
        }
      if (read_doc (f, cur.digest, cur.size, 1, what, &body, &len, &declared, err) < 0)
        goto out;
      json_t *j = oci_json_load (body, len, what, err);
      if (j == NULL)
        goto out;
      cleanup_free char *decl = strip_params (declared);
      int kind = oci_doc_kind (j, cur.media_type ? cur.media_type : decl, what, &mt, err);
      if (kind == OCI_DOC_INDEX)
        {
          struct oci_index ix;
          if (oci_index_parse (j, mt, what, &ix, err) < 0)
            {
              json_decref (j);
              goto out;
            }
          json_decref (j);
          cleanup_free char *iw = xasprintf ("%s: index %s", f->label, cur.digest);
          int sel = oci_index_select (&ix, &f->want, iw, err);
          if (sel < 0)
            {
              oci_index_free (&ix);
              goto out;
            }
          if (index_digest == NULL)
            index_digest = xstrdup (cur.digest);
          oci_desc_clear (&cur);
          oci_desc_copy (&cur, &ix.m[sel]);
          oci_index_free (&ix);
          continue;
        }
      if (kind == OCI_DOC_MANIFEST)
        {
          int r = oci_manifest_parse (j, mt, what, &man, err);
          json_decref (j);
          if (r < 0)
            goto out;
          if (cur.size < 0)
            cur.size = (int64_t) len;
          break;
        }
      json_decref (j);
      goto out;
    }

  img = xmalloc0 (sizeof *img);
  f->img = img;
  img->source = xstrdup (source);
  img->transport = f->ref->transport;
  img->name = xstrdup (f->label);
  img->digest = xstrdup (cur.digest);
  img->media_type = xstrdup (man.media_type);
  img->manifest_size = (uint64_t) cur.size;
  img->index_digest = index_digest;
  index_digest = NULL;
  img->cache_dir = xstrdup (f->cache.root);

  /* Config. */
  {
    cleanup_free char *what = xasprintf ("%s: config %s", f->label, man.config.digest);
    cleanup_free char *body = NULL;
    size_t len;
    if (read_doc (f, man.config.digest, man.config.size, 0, what, &body, &len, NULL, err) < 0)
      goto out;
    if (oci_config_parse (body, len, what, img, err) < 0)
      goto out;
    img->config_digest = xstrdup (man.config.digest);
    img->config_size = (uint64_t) man.config.size;
    img->config_media_type = xstrdup (man.config.media_type);
    img->config_path = oci_cache_blob_path (&f->cache, man.config.digest);
    char pbuf[96];
    struct enclaver_platform have;
    cleanup_free char *ptxt = xasprintf ("%s/%s%s%s", img->os, img->architecture, img->variant ? "/" : "",
                                         img->variant ? img->variant : "");
    enclaver_error_t e = NULL;
    if (enclaver_platform_parse (ptxt, &have, &e) < 0)
      {
        enclaver_error_release (&e);
        img->platform = xstrdup (ptxt);
        if (f->want_explicit || !opts->only_metadata)
          {
            enclaver_make_error (err, EINVAL, "%s: unsupported platform '%s'", what, ptxt);
            goto out;
          }
      }
    else
      {
        img->platform = xstrdup (enclaver_platform_format (&have, pbuf, sizeof pbuf));
        /* An index already chose by platform; a bare manifest is cross-checked here. */
        if ((f->want_explicit || !opts->only_metadata) && !oci_platform_match (&have, &f->want))
          {
            char wbuf[96];
            enclaver_make_error (err, EINVAL, "%s is %s, but %s was requested (use --platform %s to take it)",
                                 f->label, img->platform, enclaver_platform_format (&f->want, wbuf, sizeof wbuf),
                                 img->platform);
            goto out;
          }
      }
  }
  if (img->n_diff_ids != man.n_layers)
    {
      enclaver_make_error (err, EINVAL, "%s: the config lists %zu diff_ids but the manifest has %zu layers", f->label,
                           img->n_diff_ids, man.n_layers);
      goto out;
    }
  img->layers = xmalloc0 ((man.n_layers ? man.n_layers : 1) * sizeof *img->layers);
  img->n_layers = man.n_layers;
  for (size_t i = 0; i < man.n_layers; i++)
    {
      img->layers[i].digest = xstrdup (man.layers[i].digest);
      img->layers[i].size = (uint64_t) man.layers[i].size;
      img->layers[i].media_type = xstrdup (man.layers[i].media_type);
      img->layers[i].diff_id = xstrdup (img->diff_ids[i]);
    }
  if (!opts->only_metadata && fetch_layers (f, err) < 0)
    goto out;
  ok = 1;

out:
  if (!ok)
    {
      enclaver_image_free (img);
      img = NULL;
    }
  free (index_digest);
  oci_desc_clear (&root);
  oci_desc_clear (&cur);
  oci_index_free (&whole);
  oci_manifest_free (&man);
  if (f->have_ar)
    oci_archive_free (&f->ar);
  oci_registry_free (f->reg);
  oci_cache_close (&f->cache);
  enclaver_image_ref_free (f->ref);
  free (f->label);
  free (f->dir_root);
  pthread_mutex_destroy (&f->lock);
  return img;
}

/* ------------------------------------------------------------------ JSON */

int
enclaver_image_repair_layer (const struct enclaver_image *img, size_t index, const struct enclaver_image_options *opts,
                             enclaver_error_t *err)
{
  struct oci_cache c;
  int rc = 0;
  if (img == NULL || index >= img->n_layers || img->layers[index].path == NULL || img->cache_dir == NULL)
    return 0;
  const struct enclaver_image_layer *l = &img->layers[index];
  if (oci_cache_open (&c, img->cache_dir, err) < 0)
    return -1;
  cleanup_free char *p = oci_cache_blob_path (&c, l->digest);
  cleanup_free char *detail = NULL;
  if (strcmp (p, l->path) != 0) /* read in place from a layout: not ours to repair */
    goto out;
  rc = oci_cache_blob_damaged (&c, l->digest, &detail, err);
  if (rc <= 0)
    goto out;
  if (unlink (p) < 0 && errno != ENOENT)
    {
      rc = enclaver_make_errno (err, errno, "cache: layer %zu of %zu: remove the damaged %s", index + 1,
                                img->n_layers, p);
      goto out;
    }
  enclaver_log_warning ("cache: %s (layer %zu of %zu of %s) is damaged (%s): removed it", p, index + 1, img->n_layers,
                        img->name, detail);
  if (opts && opts->offline)
    {
      rc = enclaver_make_error (err, EBADMSG,
                                "cache: %s (layer %zu of %zu of %s) was damaged (%s) and is removed; --offline: "
                                "nothing to fetch it from: run without --offline to fetch it again "
                                "(`enclaver image cache verify` checks every cached blob)",
                                p, index + 1, img->n_layers, img->name, detail);
      goto out;
    }
  {
    struct enclaver_image_options o;
    if (opts)
      o = *opts;
    else
      enclaver_image_options_init (&o);
    o.platform = img->platform;
    o.cache_dir = img->cache_dir;
    o.only_metadata = 0;
    enclaver_log_info ("cache: fetching layer %zu of %zu (%s) again from %s", index + 1, img->n_layers, l->digest,
                       img->source);
    struct enclaver_image *again = enclaver_image_fetch (img->source, &o, err);
    if (again == NULL)
      {
        rc = enclaver_error_wrap (err, "cache: %s (layer %zu of %zu of %s) was damaged (%s) and is removed; "
                                  "fetching it again from %s failed (run again when the source is reachable, or "
                                  "`enclaver image pull --pull %s`)",
                                  p, index + 1, img->n_layers, img->name, detail, img->source, img->source);
        goto out;
      }
    int same = again->n_layers == img->n_layers && again->layers[index].path
               && strcmp (again->layers[index].digest, l->digest) == 0 && access (p, F_OK) == 0;
    enclaver_image_free (again);
    if (!same)
      {
        rc = enclaver_make_error (err, EBADMSG,
                                  "cache: %s (layer %zu of %zu of %s) was damaged and is removed; %s no longer "
                                  "gives that layer (the tag moved?): build again",
                                  p, index + 1, img->n_layers, img->name, img->source);
        goto out;
      }
    rc = 1;
  }
out:
  oci_cache_close (&c);
  return rc;
}

static json_t *
strv_json (char **v, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
str_or_null (const char *s)
{
  return s ? json_string (s) : json_null ();
}

char *
enclaver_image_to_json (const struct enclaver_image *img, enclaver_error_t *err)
{
  json_t *o = json_object ();
  static const char *const transports[] = { "", "docker", "oci", "oci-archive", "docker-archive", "docker-daemon",
                                            "dir" };
  json_object_set_new (o, "Name", json_string (img->name));
  json_object_set_new (o, "Transport",
                       json_string (img->transport >= 1 && img->transport <= 6 ? transports[img->transport] : "?"));
  json_object_set_new (o, "Digest", json_string (img->digest));
  json_object_set_new (o, "MediaType", json_string (img->media_type));
  json_object_set_new (o, "Size", json_integer ((json_int_t) img->manifest_size));
  json_object_set_new (o, "Index", str_or_null (img->index_digest));
  json_object_set_new (o, "Platform", json_string (img->platform));
  json_t *c = json_object ();
  json_object_set_new (c, "Digest", json_string (img->config_digest));
  json_object_set_new (c, "MediaType", json_string (img->config_media_type));
  json_object_set_new (c, "Size", json_integer ((json_int_t) img->config_size));
  json_object_set_new (c, "Architecture", json_string (img->architecture));
  json_object_set_new (c, "Os", json_string (img->os));
  json_object_set_new (c, "Variant", str_or_null (img->variant));
  json_object_set_new (c, "Created", str_or_null (img->created));
  json_object_set_new (c, "Entrypoint", img->has_entrypoint ? strv_json (img->entrypoint, img->n_entrypoint) : json_null ());
  json_object_set_new (c, "Cmd", img->has_cmd ? strv_json (img->cmd, img->n_cmd) : json_null ());
  json_object_set_new (c, "Env", strv_json (img->env, img->n_env));
  json_object_set_new (c, "WorkingDir", str_or_null (img->working_dir));
  json_object_set_new (c, "User", str_or_null (img->user));
  json_object_set_new (c, "ExposedPorts", strv_json (img->exposed_ports, img->n_exposed_ports));
  json_object_set_new (c, "Volumes", strv_json (img->volumes, img->n_volumes));
  json_t *labels = json_object ();
  for (size_t i = 0; i < img->n_labels; i++)
    {
      char *eq = strchr (img->labels[i], '=');
      cleanup_free char *k = xstrndup (img->labels[i], (size_t) (eq - img->labels[i]));
      json_object_set_new (labels, k, json_string (eq + 1));
    }
  json_object_set_new (c, "Labels", labels);
  json_object_set_new (c, "StopSignal", str_or_null (img->stop_signal));
  json_object_set_new (c, "DiffIDs", strv_json (img->diff_ids, img->n_diff_ids));
  json_object_set_new (o, "Config", c);
  json_t *la = json_array ();
  for (size_t i = 0; i < img->n_layers; i++)
    {
      const struct enclaver_image_layer *l = &img->layers[i];
      json_t *lo = json_pack ("{s:s,s:I,s:s,s:s}", "Digest", l->digest, "Size", (json_int_t) l->size, "MediaType",
                              l->media_type, "DiffID", l->diff_id ? l->diff_id : "");
      if (l->path)
        {
          static const char *const comp[] = { "unknown", "none", "gzip", "zstd" };
          json_object_set_new (lo, "Path", json_string (l->path));
          json_object_set_new (lo, "Compression", json_string (comp[l->compression & 3]));
        }
      json_array_append_new (la, lo);
    }
  json_object_set_new (o, "Layers", la);
  char *s = json_dumps (o, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (s == NULL)
    enclaver_make_error (err, ENOMEM, "cannot serialise image JSON");
  return s;
}
