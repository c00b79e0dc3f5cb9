/* enclaver: `enclaver image copy` to oci-archive:FILE[:REF] and docker-archive:FILE[:REF]
 * (docs/image.md "Copy and push").
 *
 * oci-archive: the blobs and the manifest unchanged (the source's digest), REF the
 * index entry's org.opencontainers.image.ref.name.  docker-archive: docker load and skopeo
 * take a layer member for the uncompressed tar its diff_id names, so every compressed
 * layer is inflated into the cache (stored under its diff_id, checked against it) and the
 * manifest of the archive's OCI layout names those: the config, and so the image ID and
 * diff_ids, stay the same; REF (NAME[:TAG]) goes to RepoTags.  Either way the tar is
 * written to a temporary beside FILE and renamed over it when whole
 * (core/oci/archive-write.c writes it). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include <enclaver/build.h>
#include <enclaver/tempfiles.h>

int
oci_copy_archive_check (const struct enclaver_image_ref *ref, char **name, enclaver_error_t *err)
{
  const char *what = ref->transport == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE ? "the docker-archive" : "the oci-archive";
  *name = NULL;
  if (ref->image && ref->image[0] == '@')
    return enclaver_make_error (err, EINVAL, "%s:%s: a destination is named by a reference, not by a number",
                                ref->file, ref->image);
  if (ref->image && ref->transport == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE)
    {
      cleanup_free char *d = xasprintf ("docker://%s", ref->image);
      struct enclaver_image_ref *r = enclaver_image_ref_parse (d, err);
      const char *slash = strrchr (ref->image, '/'), *colon = strrchr (ref->image, ':');
      if (r == NULL)
        return enclaver_error_wrap (err, "docker-archive:%s:%s: the name for RepoTags", ref->file, ref->image);
      if (r->digest)
        {
          enclaver_image_ref_free (r);
          return enclaver_make_error (err, EINVAL, "docker-archive:%s:%s: RepoTags hold NAME:TAG, not a digest",
                                      ref->file, ref->image);
        }
      enclaver_image_ref_free (r);
      *name = colon && (slash == NULL || colon > slash) ? xstrdup (ref->image) : xasprintf ("%s:latest", ref->image);
    }
  else if (ref->image)
    *name = xstrdup (ref->image);
  /* Before anything is fetched: the directory exists and takes files. */
  return enclaver_build_check_output (ref->file, 0, what, err);
}

/* The uncompressed tar of layer i in the cache, stored under its diff_id: *path. */
static int
inflate_layer (const struct enclaver_image *img, size_t i, struct oci_cache *c, char **path, enclaver_error_t *err)
{
  const struct enclaver_image_layer *l = &img->layers[i];
  enclaver_layer_stream_t *ls;
  struct oci_sink s;
  char buf[1 << 16];
  ssize_t n;
  cleanup_free char *what = xasprintf ("layer %zu of %zu (%s), uncompressed", i + 1, img->n_layers, l->digest);

  if (l->diff_id == NULL || !oci_digest_valid (l->diff_id))
    return enclaver_make_error (err, EINVAL, "layer %zu of %zu (%s): the config gives it no diff_id", i + 1,
                                img->n_layers, l->digest);
  if (!oci_cache_has (c, l->diff_id, -1))
    {
      ls = enclaver_layer_open (img, i, err);
      if (ls == NULL)
        return -1;
      if (oci_sink_open (&s, c, -1, what, err) < 0)
        {
          enclaver_layer_close (ls);
          return -1;
        }
      while ((n = enclaver_layer_read (ls, buf, sizeof buf, err)) > 0)
        if (oci_sink_write (&s, buf, (size_t) n) < 0)
          {
            enclaver_make_errno (err, s.write_errno, "%s: write to the cache", what);
            n = -1;
            break;
          }
      /* finish checks the blob's digest and the diff_id; commit checks the copy */
      if (n < 0 || enclaver_layer_finish (ls, NULL, err) < 0)
        {
          oci_sink_abort (&s);
          enclaver_layer_close (ls);
          return -1;
        }
      enclaver_layer_close (ls);
      if (oci_sink_commit (&s, l->diff_id, -1, NULL, err) < 0)
        return -1;
    }
  *path = oci_cache_blob_path (c, l->diff_id);
  return 0;
}

/* The manifest of the docker-archive: each layer its uncompressed tar (digest = diff_id),
 * with the uncompressed media type of its family. */
static char *
docker_manifest (const char *mbody, size_t mlen, const struct enclaver_image *img, const uint64_t *sizes,
                 enclaver_error_t *err)
{
  json_t *m = oci_json_load (mbody, mlen, "the manifest", err), *layers, *l;
  size_t i;
  char *out;
  if (m == NULL)
    return NULL;
  layers = json_object_get (m, "layers");
  if (!json_is_array (layers) || json_array_size (layers) != img->n_layers)
    {
      json_decref (m);
      enclaver_make_error (err, EINVAL, "the manifest lists other layers than the image fetched");
      return NULL;
    }
  json_array_foreach (layers, i, l)
  {
    const char *mt = json_string_value (json_object_get (l, "mediaType")) ?: "";
    json_object_set_new (l, "mediaType", json_string (strncmp (mt, "application/vnd.docker.", 23) == 0
                                                        ? ENCLAVER_MT_DOCKER_LAYER
                                                        : ENCLAVER_MT_OCI_LAYER));
    json_object_set_new (l, "digest", json_string (img->layers[i].diff_id));
    json_object_set_new (l, "size", json_integer ((json_int_t) sizes[i]));
  }
  out = json_dumps (m, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (m);
  if (out == NULL)
    xoom ();
  return out;
}

static uint64_t
size_of (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 ? (uint64_t) st.st_size : 0;
}

int
oci_copy_to_archive (const struct enclaver_image *img, struct oci_cache *c, const char *mbody, size_t mlen,
                     const char *mt, const struct enclaver_image_ref *ref, const char *name,
                     char digest[OCI_DIGEST_LEN + 1], enclaver_error_t *err)
{
  int docker = ref->transport == ENCLAVER_TRANSPORT_DOCKER_ARCHIVE;
  struct enclaver_archive_image ai = { 0 };
  struct enclaver_archive_blob *lb = xmalloc0 (sizeof *lb * (img->n_layers + 1));
  char **paths = xmalloc0 (sizeof *paths * (img->n_layers + 1));
  uint64_t *sizes = xmalloc0 (sizeof *sizes * (img->n_layers + 1));
  cleanup_free char *dbody = NULL, *tmp = NULL;
  const char *slash, *colon;
  int fd = -1, rc = -1, e;
  size_t i;

  for (i = 0; i < img->n_layers; i++)
    {
      if (docker)
        {
          if (inflate_layer (img, i, c, &paths[i], err) < 0)
            goto out;
          sizes[i] = size_of (paths[i]);
          lb[i] = (struct enclaver_archive_blob) { img->layers[i].diff_id, sizes[i], paths[i], NULL };
        }
      else
        lb[i] = (struct enclaver_archive_blob) { img->layers[i].digest, img->layers[i].size, img->layers[i].path,
                                                 NULL };
    }
  if (docker)
    {
      dbody = docker_manifest (mbody, mlen, img, sizes, err);
      if (dbody == NULL)
        goto out;
      mbody = dbody;
      mlen = strlen (dbody);
    }
  oci_sha256_buf (mbody, mlen, digest);
  ai.format = docker ? ENCLAVER_ARCHIVE_DOCKER : ENCLAVER_ARCHIVE_OCI;
  ai.manifest_media_type = mt;
  ai.manifest = (struct enclaver_archive_blob) { digest, mlen, NULL, mbody };
  ai.config = (struct enclaver_archive_blob) { img->config_digest, img->config_size, img->config_path, NULL };
  ai.layers = lb;
  ai.n_layers = img->n_layers;
  /* docker save's index entry: the tag as ref.name, the whole name for containerd */
  slash = name ? strrchr (name, '/') : NULL;
  colon = name ? strrchr (name, ':') : NULL;
  ai.ref_name = docker && name ? (colon && (slash == NULL || colon > slash) ? colon + 1 : "latest") : name;
  ai.image_name = docker ? name : NULL;
  ai.mtime = 0; /* the bytes depend on the image only */

  tmp = xasprintf ("%s.tmp.XXXXXX", ref->file);
  fd = enclaver_temp_mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    {
      enclaver_make_errno (err, errno, "%s: create a temporary file beside it", ref->file);
      goto out;
    }
  if (enclaver_image_archive_write (fd, &ai, err) < 0)
    {
      enclaver_error_wrap (err, "write %s", ref->file);
      goto fail;
    }
  if (fchmod (fd, 0644) < 0 || fsync (fd) < 0)
    goto fail_errno;
  e = close (fd);
  fd = -1;
  if (e < 0 || rename (tmp, ref->file) < 0)
    goto fail_errno;
  enclaver_temp_forget (tmp);
  rc = 0;
  goto out;
fail_errno:
  enclaver_make_errno (err, errno, "write %s", ref->file);
fail:
  if (fd >= 0)
    close (fd);
  fd = -1;
  enclaver_temp_unlink (tmp);
out:
  for (i = 0; i < img->n_layers; i++)
    free (paths[i]);
  free (paths);
  free (lb);
  free (sizes);
  return rc;
}
