/* enclaver: copying an image to a registry, an OCI layout or an archive (`enclaver image
 * copy`, `enclaver build --push`; docs/image.md "Copy and push"; archives: copy-archive.c).
 *
 * The source is fetched and verified like any other (enclaver_image_fetch: every
 * transport we read, through the cache), then its blobs go out unchanged, so the
 * destination's manifest digest is the source's -- unless --format asks for the other
 * family of media types, which rewrites the manifest (the config and layers stay the
 * same bytes).  Pushes are remembered per registry in CACHE/pushed/HOST/, so that the
 * next push of a blob to another repository of that registry mounts it instead of
 * uploading it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "oci/oci.h"
#include <enclaver/log.h>
#include <enclaver/tempfiles.h>

void
enclaver_image_copy_result_clear (struct enclaver_image_copy_result *res)
{
  free (res->digest);
  free (res->destination);
  memset (res, 0, sizeof *res);
}

/* ---------------------------------------------------------------- media types */

static const char *const mt_pairs[][2] = {
  { ENCLAVER_MT_OCI_MANIFEST, ENCLAVER_MT_DOCKER_MANIFEST },
  { ENCLAVER_MT_OCI_CONFIG, ENCLAVER_MT_DOCKER_CONFIG },
  { ENCLAVER_MT_OCI_LAYER, ENCLAVER_MT_DOCKER_LAYER },
  { ENCLAVER_MT_OCI_LAYER_GZIP, ENCLAVER_MT_DOCKER_LAYER_GZIP },
};

/* The media type of the other family (docker = 1: to Docker's), or NULL. */
static const char *
mt_convert (const char *mt, int docker)
{
  for (size_t i = 0; i < ARRAY_SIZE (mt_pairs); i++)
    if (strcmp (mt, mt_pairs[i][!docker]) == 0 || strcmp (mt, mt_pairs[i][docker]) == 0)
      return mt_pairs[i][docker];
  return NULL;
}

/* Rewrite manifest *body to format ("oci" or "docker"); *mt follows. */
static int
convert_manifest (char **body, size_t *len, char **mt, const char *format, enclaver_error_t *err)
{
  int docker = strcmp (format, "docker") == 0;
  json_error_t je;
  json_t *m = json_loadb (*body, *len, 0, &je), *cfg, *layers, *l;
  const char *want = docker ? ENCLAVER_MT_DOCKER_MANIFEST : ENCLAVER_MT_OCI_MANIFEST, *t;
  size_t i;
  char *out;

  if (strcmp (*mt, want) == 0)
    {
      json_decref (m);
      return 0;
    }
  if (m == NULL || (cfg = json_object_get (m, "config")) == NULL || !json_is_array (layers = json_object_get (m, "layers")))
    {
      json_decref (m);
      return enclaver_make_error (err, EINVAL, "the image's manifest (%s) cannot be converted to %s", *mt, format);
    }
  json_object_set_new (m, "mediaType", json_string (want));
  t = mt_convert (json_string_value (json_object_get (cfg, "mediaType")) ?: "", docker);
  if (t == NULL)
    goto bad;
  json_object_set_new (cfg, "mediaType", json_string (t));
  json_array_foreach (layers, i, l)
  {
    const char *lt = json_string_value (json_object_get (l, "mediaType")) ?: "";
    t = mt_convert (lt, docker);
    if (t == NULL)
      {
        /* the message first: lt belongs to m */
        enclaver_make_error (err, EINVAL, "layer %zu has media type %s, which the %s format has no name for%s", i + 1,
                             lt, format,
                             strstr (lt, "zstd") ? " (Docker schema 2 has no zstd layers: keep --format oci)" : "");
        json_decref (m);
        return -1;
      }
    json_object_set_new (l, "mediaType", json_string (t));
  }
  if (docker)
    json_object_del (m, "artifactType");
  out = json_dumps (m, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (m);
  if (out == NULL)
    xoom ();
  free (*body);
  *body = out;
  *len = strlen (out);
  free (*mt);
  *mt = xstrdup (want);
  return 0;
bad:
  json_decref (m);
  return enclaver_make_error (err, EINVAL, "the image's config media type cannot be converted to %s", format);
}

/* ---------------------------------------------------------------- push records */

static char *
record_path (const struct oci_cache *c, const char *host, const char *digest)
{
  return xasprintf ("%s/pushed/%s/%s", c->root, host, digest + 7);
}

/* The repository of host a blob was last pushed to or seen in, or NULL. */
static char *
record_get (const struct oci_cache *c, const char *host, const char *digest)
{
  cleanup_free char *p = record_path (c, host, digest);
  char buf[512];
  cleanup_close int fd = open (p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  ssize_t n;
  if (fd < 0)
    return NULL;
  n = read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  return *buf ? xstrdup (buf) : NULL;
}

static void
record_set (const struct oci_cache *c, const char *host, const char *digest, const char *repo)
{
  cleanup_free char *dir = xasprintf ("%s/pushed", c->root), *hd = xasprintf ("%s/pushed/%s", c->root, host);
  cleanup_free char *p = record_path (c, host, digest);
  enclaver_error_t e = NULL;
  mkdir (dir, 0755);
  mkdir (hd, 0755);
  /* a hint only: without it the next push uploads instead of mounting */
  if (enclaver_write_file_atomic (p, repo, strlen (repo), 0644, &e) < 0)
    enclaver_error_release (&e);
}

/* ---------------------------------------------------------------- destinations */

static int
copy_file (const char *from, const char *to, enclaver_error_t *err)
{
  /* A temporary of the project's registry (enclaver/tempfiles.h): a signal removes it. */
  cleanup_free char *tmp = xasprintf ("%s.tmp.XXXXXX", to);
  cleanup_close int in = enclaver_open_file (from, 0, err);
  int out;
  char buf[1 << 16];
  ssize_t n;
  if (in < 0)
    return -1;
  out = enclaver_temp_mkostemp (tmp, O_CLOEXEC);
  if (out < 0)
    return enclaver_make_errno (err, errno, "create a temporary file for %s", to);
  while ((n = read (in, buf, sizeof buf)) > 0)
    if (enclaver_write_all (out, buf, (size_t) n) < 0)
      break;
  int ok = n == 0 && fchmod (out, 0644) == 0, e = errno;
  if (close (out) < 0 && ok)
    ok = 0, e = errno;
  if (ok && rename (tmp, to) < 0)
    ok = 0, e = errno;
  if (!ok)
    {
      enclaver_temp_unlink (tmp);
      return enclaver_make_errno (err, e, "write %s", to);
    }
  enclaver_temp_forget (tmp);
  return 0;
}

/* oci:DIR[:NAME]: the blobs, then index.json naming the manifest (an entry of the same
 * name is replaced; other images of the layout stay). */
static int
to_layout (const struct enclaver_image *img, const char *mbody, size_t mlen, const char *mt, const char *digest,
           const struct enclaver_image_ref *ref, enclaver_error_t *err)
{
  const char *dir = ref->file, *name = ref->image;
  cleanup_free char *blobs = xasprintf ("%s/blobs/sha256", dir), *b1 = xasprintf ("%s/blobs", dir);
  cleanup_free char *ip = xasprintf ("%s/index.json", dir), *lp = xasprintf ("%s/oci-layout", dir);
  json_t *index = NULL, *mans, *e;
  size_t i;
  char *s;
  int rc = -1;

  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    return enclaver_make_errno (err, errno, "create %s", dir);
  mkdir (b1, 0755);
  if (mkdir (blobs, 0755) < 0 && errno != EEXIST)
    return enclaver_make_errno (err, errno, "create %s", blobs);
  for (size_t k = 0; k <= img->n_layers; k++)
    {
      const char *d = k < img->n_layers ? img->layers[k].digest : img->config_digest;
      const char *p = k < img->n_layers ? img->layers[k].path : img->config_path;
      cleanup_free char *to = xasprintf ("%s/%s", blobs, d + 7);
      if (access (to, F_OK) == 0)
        continue;
      if (copy_file (p, to, err) < 0)
        return -1;
    }
  {
    cleanup_free char *to = xasprintf ("%s/%s", blobs, digest + 7);
    if (enclaver_write_file_atomic (to, mbody, mlen, 0644, err) < 0)
      return -1;
  }
  if (access (ip, F_OK) == 0)
    {
      json_error_t je;
      cleanup_free char *text = NULL;
      size_t len;
      if (enclaver_read_file (ip, OCI_MAX_DOC, &text, &len, err) < 0)
        return enclaver_error_wrap (err, "the destination layout");
      index = json_loadb (text, len, 0, &je);
      if (index == NULL || !json_is_array (json_object_get (index, "manifests")))
        {
          json_decref (index);
          return enclaver_make_error (err, EINVAL, "%s: not an OCI index (%s); give a new directory", ip, je.text);
        }
    }
  else
    index = json_pack ("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", ENCLAVER_MT_OCI_INDEX, "manifests");
  mans = json_object_get (index, "manifests");
  for (i = 0; i < json_array_size (mans);)
    {
      const char *n = json_string_value (json_object_get (json_object_get (json_array_get (mans, i), "annotations"),
                                                          "org.opencontainers.image.ref.name"));
      if ((name && n && strcmp (n, name) == 0) || (name == NULL && n == NULL))
        json_array_remove (mans, i);
      else
        i++;
    }
  e = json_pack ("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t) mlen);
  if (name)
    json_object_set_new (e, "annotations", json_pack ("{s:s}", "org.opencontainers.image.ref.name", name));
  json_array_append_new (mans, e);
  s = json_dumps (index, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (s && enclaver_write_file_atomic (lp, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, err) == 0
      && enclaver_write_file_atomic (ip, s, strlen (s), 0644, err) == 0)
    rc = 0;
  free (s);
  json_decref (index);
  return rc;
}

static int
to_registry (const struct enclaver_image *img, const struct oci_cache *c, const struct enclaver_image_ref *src,
             const char *mbody, size_t mlen,
             const char *mt, const char *digest, const struct enclaver_image_ref *ref,
             const struct enclaver_image_copy_options *o, struct enclaver_image_copy_result *res, enclaver_error_t *err)
{
  struct oci_registry_options ro = { o->src.insecure_registries, o->src.ca_cert, o->src.progress, o->src.cert_dir,
                                     o->dest_creds ? o->dest_creds : o->src.creds, o->src.blob_timeout };
  struct oci_registry *r = oci_registry_new (ref->api_host, ref->domain, &ro, err);
  struct oci_push_stats st = { 0 };
  const char *same_src = src && src->transport == ENCLAVER_TRANSPORT_REGISTRY && strcmp (src->domain, ref->domain) == 0
                           ? src->path : NULL;
  int rc = -1;

  if (r == NULL)
    return -1;
  if (ref->digest && strcmp (ref->digest, digest) != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: the destination names digest %s, but the manifest to push is %s",
                           ref->path, ref->digest, digest);
      goto out;
    }
  oci_progress_begin (o->src.progress, img->n_layers + 1, 1);
  for (size_t k = 0; k <= img->n_layers; k++)
    {
      const char *d = k < img->n_layers ? img->layers[k].digest : img->config_digest;
      const char *p = k < img->n_layers ? img->layers[k].path : img->config_path;
      uint64_t size = k < img->n_layers ? img->layers[k].size : img->config_size;
      cleanup_free char *from = same_src ? xstrdup (same_src) : record_get (c, ref->domain, d);
      if (oci_registry_push_blob (r, ref->path, d, size, p, from, &st, err) < 0)
        {
          if (k < img->n_layers)
            enclaver_error_wrap (err, "layer %zu of %zu", k + 1, img->n_layers);
          else
            enclaver_error_wrap (err, "the config");
          oci_progress_end ();
          goto out;
        }
      record_set (c, ref->domain, d, ref->path);
    }
  oci_progress_end ();
  if (oci_registry_put_manifest (r, ref->path, ref->digest ? ref->digest : ref->tag ? ref->tag : "latest", mt, mbody,
                                 mlen, NULL, err) < 0)
    goto out;
  res->blobs_present = st.blobs_present;
  res->blobs_mounted = st.blobs_mounted;
  res->blobs_uploaded = st.blobs_uploaded;
  res->resumes = st.resumes;
  res->bytes_uploaded = st.bytes_uploaded;
  rc = 0;
out:
  oci_registry_free (r);
  return rc;
}

int
enclaver_image_copy (const char *source, const char *dest, const struct enclaver_image_copy_options *o,
                     struct enclaver_image_copy_result *res, enclaver_error_t *err)
{
  struct enclaver_image_options so = o->src;
  struct enclaver_image *img = NULL;
  struct enclaver_image_ref *ref = NULL, *src = NULL;
  struct oci_cache c = { 0 };
  cleanup_free char *mbody = NULL, *mt = NULL, *archive_name = NULL;
  char digest[OCI_DIGEST_LEN + 1];
  size_t mlen = 0;
  int rc = -1, archive;

  memset (res, 0, sizeof *res);
  if (o->format && strcmp (o->format, "oci") != 0 && strcmp (o->format, "docker") != 0)
    return enclaver_make_error (err, EINVAL, "--format: '%s' is not oci or docker", o->format);
  ref = enclaver_image_ref_parse (dest, err);
  if (ref == NULL)
    return -1;
  archive = ref->transport == ENCLAVER_TRANSPORT_OCI_ARCHIVE || ref->transport == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE;
  if (ref->transport != ENCLAVER_TRANSPORT_REGISTRY && ref->transport != ENCLAVER_TRANSPORT_OCI && !archive)
    {
      enclaver_make_error (err, ENOTSUP, "%s: copies go to a registry (docker://HOST/REPO[:TAG]), an OCI layout "
                                         "(oci:DIR[:NAME]) or an archive (oci-archive:FILE[:NAME], "
                                         "docker-archive:FILE[:NAME:TAG])", dest);
      goto out;
    }
  if (archive && oci_copy_archive_check (ref, &archive_name, err) < 0)
    goto out;
  so.only_metadata = 0;
  so.layers_in_place = 0;
  img = enclaver_image_fetch (source, &so, err);
  if (img == NULL)
    goto out;
  {
    enclaver_error_t e = NULL;
    src = enclaver_image_source_resolve (source, &e);
    enclaver_error_release (&e);
  }
  if (oci_cache_open (&c, img->cache_dir, err) < 0 || oci_cache_read (&c, img->digest, OCI_MAX_DOC, &mbody, &mlen, err) < 0)
    goto out;
  mt = xstrdup (img->media_type);
  if (o->format && convert_manifest (&mbody, &mlen, &mt, o->format, err) < 0)
    goto out;
  oci_sha256_buf (mbody, mlen, digest);
  if (ref->transport == ENCLAVER_TRANSPORT_OCI)
    rc = to_layout (img, mbody, mlen, mt, digest, ref, err);
  else if (archive)
    rc = oci_copy_to_archive (img, &c, mbody, mlen, mt, ref, archive_name, digest, err);
  else
    rc = to_registry (img, &c, src, mbody, mlen, mt, digest, ref, o, res, err);
  if (rc == 0)
    {
      res->digest = xstrdup (digest);
      res->destination = enclaver_image_ref_string (ref);
    }
out:
  if (c.root)
    oci_cache_close (&c);
  enclaver_image_free (img);
  enclaver_image_ref_free (ref);
  enclaver_image_ref_free (src);
  return rc;
}
