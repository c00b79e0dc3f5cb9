/* enclaver: OCI / Docker manifest, index and config documents (OCI.md §1.5, §1.7, §4.5).
 * Strict: duplicate keys are rejected, and so are keys that collide case-insensitively
 * with a field we read (Go's encoding/json would match them). */
#include "config.h"
#include <strings.h>
#include <string.h>
#include "oci/oci.h"

#define MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

json_t *
oci_json_load (const char *buf, size_t len, const char *what, enclaver_error_t *err)
{
  json_error_t je;
  if (len > OCI_MAX_DOC)
    {
      enclaver_make_error (err, EFBIG, "%s: document of %zu bytes exceeds the %u byte limit", what, len, OCI_MAX_DOC);
      return NULL;
    }
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    {
      enclaver_make_error (err, EINVAL, "%s: invalid JSON at line %d column %d: %s", what, je.line, je.column, je.text);
      return NULL;
    }
  return j;
}

/* Get obj[key]; error when another key equals it case-insensitively.  NULL value when
 * absent or JSON null. */
static int
get (json_t *obj, const char *key, const char *what, json_t **out, enclaver_error_t *err)
{
  const char *k;
  json_t *v;
  *out = NULL;
  if (!json_is_object (obj))
    return 0;
  json_object_foreach (obj, k, v)
  {
    if (strcasecmp (k, key) == 0 && strcmp (k, key) != 0)
      return enclaver_make_error (err, EINVAL, "%s: key '%s' collides with '%s' (keys differing only in case are refused)",
                                  what, k, key);
  }
  v = json_object_get (obj, key);
  if (v && !json_is_null (v))
    *out = v;
  return 0;
}

static int
get_string (json_t *obj, const char *key, const char *what, char **out, enclaver_error_t *err)
{
  json_t *v;
  *out = NULL;
  if (get (obj, key, what, &v, err) < 0)
    return -1;
  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return enclaver_make_error (err, EINVAL, "%s: '%s' must be a string", what, key);
  *out = xstrndup (json_string_value (v), json_string_length (v));
  return 0;
}

static int
get_strv (json_t *obj, const char *key, const char *what, char ***out, size_t *n, int *present,
          enclaver_error_t *err)
{
  json_t *v;
  *out = NULL;
  *n = 0;
  if (present)
    *present = 0;
  if (get (obj, key, what, &v, err) < 0)
    return -1;
  if (v == NULL)
    return 0;
  if (!json_is_array (v))
    return enclaver_make_error (err, EINVAL, "%s: '%s' must be an array of strings", what, key);
  size_t cnt = json_array_size (v);
  char **arr = xmalloc0 ((cnt + 1) * sizeof *arr);
  for (size_t i = 0; i < cnt; i++)
    {
      json_t *s = json_array_get (v, i);
      if (!json_is_string (s))
        {
          for (size_t j = 0; j < i; j++)
            free (arr[j]);
          free (arr);
          return enclaver_make_error (err, EINVAL, "%s: '%s'[%zu] must be a string", what, key, i);
        }
      arr[i] = xstrdup (json_string_value (s));
    }
  *out = arr;
  *n = cnt;
  if (present)
    *present = 1;
  return 0;
}

/* Object keys as a string vector (ExposedPorts, Volumes) or key=value (Labels). */
static int
get_keys (json_t *obj, const char *key, const char *what, int with_values, char ***out, size_t *n,
          enclaver_error_t *err)
{
  json_t *v, *val;
  const char *k;
  *out = NULL;
  *n = 0;
  if (get (obj, key, what, &v, err) < 0)
    return -1;
  if (v == NULL)
    return 0;
  if (!json_is_object (v))
    return enclaver_make_error (err, EINVAL, "%s: '%s' must be an object", what, key);
  size_t cnt = json_object_size (v), i = 0;
  char **arr = xmalloc0 ((cnt + 1) * sizeof *arr);
  json_object_foreach (v, k, val)
  {
    if (with_values)
      {
        if (!json_is_string (val))
          {
            for (size_t j = 0; j < i; j++)
              free (arr[j]);
            free (arr);
            return enclaver_make_error (err, EINVAL, "%s: '%s.%s' must be a string", what, key, k);
          }
        arr[i++] = xasprintf ("%s=%s", k, json_string_value (val));
      }
    else
      arr[i++] = xstrdup (k);
  }
  *out = arr;
  *n = i;
  return 0;
}

void
oci_desc_clear (struct oci_desc *d)
{
  free (d->media_type);
  free (d->digest);
  free (d->artifact_type);
  free (d->platform_text);
  free (d->ref_name);
  free (d->image_name);
  memset (d, 0, sizeof *d);
}

static char *
dup0 (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

void
oci_desc_copy (struct oci_desc *dst, const struct oci_desc *src)
{
  *dst = *src;
  dst->media_type = dup0 (src->media_type);
  dst->digest = dup0 (src->digest);
  dst->artifact_type = dup0 (src->artifact_type);
  dst->platform_text = dup0 (src->platform_text);
  dst->ref_name = dup0 (src->ref_name);
  dst->image_name = dup0 (src->image_name);
}

void
oci_index_free (struct oci_index *ix)
{
  for (size_t i = 0; i < ix->n; i++)
    oci_desc_clear (&ix->m[i]);
  free (ix->m);
  free (ix->media_type);
  memset (ix, 0, sizeof *ix);
}

void
oci_manifest_free (struct oci_manifest *m)
{
  oci_desc_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    oci_desc_clear (&m->layers[i]);
  free (m->layers);
  free (m->media_type);
  memset (m, 0, sizeof *m);
}

static int
parse_desc (json_t *o, const char *what, struct oci_desc *d, enclaver_error_t *err)
{
  json_t *v, *ann, *plat;
  memset (d, 0, sizeof *d);
  d->size = -1;
  if (!json_is_object (o))
    return enclaver_make_error (err, EINVAL, "%s: descriptor must be an object", what);
  if (get_string (o, "mediaType", what, &d->media_type, err) < 0 || get_string (o, "digest", what, &d->digest, err) < 0
      || get_string (o, "artifactType", what, &d->artifact_type, err) < 0 || get (o, "size", what, &v, err) < 0)
    goto fail;
  if (oci_digest_check (d->digest, what, err) < 0)
    goto fail;
  if (v == NULL || !json_is_integer (v) || json_integer_value (v) < 0)
    {
      enclaver_make_error (err, EINVAL, "%s: 'size' must be a non-negative integer", what);
      goto fail;
    }
  d->size = (int64_t) json_integer_value (v);
  if (get (o, "annotations", what, &ann, err) < 0)
    goto fail;
  if (ann && json_is_object (ann))
    {
      json_t *r = json_object_get (ann, "org.opencontainers.image.ref.name");
      if (json_is_string (r))
        d->ref_name = xstrdup (json_string_value (r));
      r = json_object_get (ann, "io.containerd.image.name");
      if (json_is_string (r))
        d->image_name = xstrdup (json_string_value (r));
      r = json_object_get (ann, "vnd.docker.reference.type");
      if (json_is_string (r) && strcmp (json_string_value (r), "attestation-manifest") == 0)
        d->attestation = 1;
    }
  if (get (o, "platform", what, &plat, err) < 0)
    goto fail;
  if (plat)
    {
      cleanup_free char *os = NULL, *arch = NULL, *variant = NULL;
      if (get_string (plat, "os", what, &os, err) < 0 || get_string (plat, "architecture", what, &arch, err) < 0
          || get_string (plat, "variant", what, &variant, err) < 0)
        goto fail;
      if (os && arch)
        {
          d->platform_text = xasprintf ("%s/%s%s%s", os, arch, variant ? "/" : "", variant ? variant : "");
          if (strcmp (os, "unknown") == 0 && strcmp (arch, "unknown") == 0)
            d->attestation = 1;
          else
            {
              enclaver_error_t e = NULL;
              if (enclaver_platform_parse (d->platform_text, &d->platform, &e) == 0)
                d->has_platform = 1;
              else
                enclaver_error_release (&e); /* exotic platform: never matches */
            }
        }
    }
  return 0;
fail:
  oci_desc_clear (d);
  return -1;
}

static int
is_index_type (const char *mt)
{
  return strcmp (mt, ENCLAVER_MT_OCI_INDEX) == 0 || strcmp (mt, ENCLAVER_MT_DOCKER_LIST) == 0;
}

static int
is_manifest_type (const char *mt)
{
  return strcmp (mt, ENCLAVER_MT_OCI_MANIFEST) == 0 || strcmp (mt, ENCLAVER_MT_DOCKER_MANIFEST) == 0;
}

int
oci_doc_kind (json_t *root, const char *declared, const char *what, char **media_type_out,
              enclaver_error_t *err)
{
  json_t *sv, *v;
  cleanup_free char *body_mt = NULL;
  *media_type_out = NULL;
  if (!json_is_object (root))
    return enclaver_make_error (err, EINVAL, "%s: not a JSON object", what);
  if (declared && (strcmp (declared, MT_SCHEMA1) == 0 || strcmp (declared, MT_SCHEMA1_SIGNED) == 0))
    goto schema1;
  if (get (root, "schemaVersion", what, &sv, err) < 0 || get_string (root, "mediaType", what, &body_mt, err) < 0)
    return -1;
  if (sv && json_is_integer (sv) && json_integer_value (sv) == 1)
    goto schema1;
  if (body_mt && (strcmp (body_mt, MT_SCHEMA1) == 0 || strcmp (body_mt, MT_SCHEMA1_SIGNED) == 0))
    goto schema1;
  if (sv && (!json_is_integer (sv) || json_integer_value (sv) != 2))
    return enclaver_make_error (err, EINVAL, "%s: unsupported schemaVersion (expected 2)", what);

  int has_manifests = 0, has_layers = 0;
  if (get (root, "manifests", what, &v, err) < 0)
    return -1;
  has_manifests = v != NULL;
  if (get (root, "layers", what, &v, err) < 0)
    return -1;
  has_layers = v != NULL;
  if (get (root, "config", what, &v, err) < 0)
    return -1;
  has_layers |= v != NULL;
  if (has_manifests && has_layers)
    return enclaver_make_error (err, EINVAL,
                                "%s: document has both 'manifests' and 'layers'/'config' (ambiguous type, refused)", what);

  const char *decl = declared;
  if (decl && !is_index_type (decl) && !is_manifest_type (decl))
    {
      /* A descriptor or Content-Type that names something else entirely. */
      if (strncmp (decl, "application/vnd.oci.", 20) == 0 || strncmp (decl, "application/vnd.docker.", 23) == 0)
        return enclaver_make_error (err, ENOTSUP, "%s: unsupported manifest media type '%s'", what, decl);
      decl = NULL; /* e.g. application/json from a plain web server */
    }
  if (decl && body_mt && strcmp (decl, body_mt) != 0)
    return enclaver_make_error (err, EINVAL, "%s: mediaType '%s' in the document disagrees with '%s'", what, body_mt,
                                decl);
  const char *mt = decl ? decl : body_mt;
  if (mt == NULL)
    mt = has_manifests ? ENCLAVER_MT_OCI_INDEX : has_layers ? ENCLAVER_MT_OCI_MANIFEST : NULL;
  if (mt == NULL)
    return enclaver_make_error (err, EINVAL, "%s: neither an image index nor an image manifest", what);
  if (is_index_type (mt))
    {
      if (has_layers)
        return enclaver_make_error (err, EINVAL, "%s: index document carries 'layers'/'config'", what);
      *media_type_out = xstrdup (mt);
      return OCI_DOC_INDEX;
    }
  if (is_manifest_type (mt))
    {
      if (has_manifests)
        return enclaver_make_error (err, EINVAL, "%s: manifest document carries 'manifests'", what);
      *media_type_out = xstrdup (mt);
      return OCI_DOC_MANIFEST;
    }
  return enclaver_make_error (err, ENOTSUP, "%s: unsupported manifest media type '%s'", what, mt);
schema1:
  return enclaver_make_error (err, ENOTSUP,
                              "%s: Docker schema 1 manifests are not supported (deprecated format); "
                              "re-push the image with a current docker or skopeo",
                              what);
}

int
oci_index_parse (json_t *root, const char *media_type, const char *what, struct oci_index *out,
                 enclaver_error_t *err)
{
  json_t *arr;
  memset (out, 0, sizeof *out);
  if (get (root, "manifests", what, &arr, err) < 0)
    return -1;
  out->media_type = xstrdup (media_type);
  if (arr == NULL)
    return 0; /* Docker 25.0.0-25.0.2 wrote "manifests": null */
  if (!json_is_array (arr))
    {
      oci_index_free (out);
      return enclaver_make_error (err, EINVAL, "%s: 'manifests' must be an array", what);
    }
  size_t n = json_array_size (arr);
  if (n > 4096)
    {
      oci_index_free (out);
      return enclaver_make_error (err, E2BIG, "%s: %zu manifests (limit 4096)", what, n);
    }
  out->m = xmalloc0 ((n ? n : 1) * sizeof *out->m);
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *w = xasprintf ("%s: manifests[%zu]", what, i);
      if (parse_desc (json_array_get (arr, i), w, &out->m[i], err) < 0)
        {
          oci_index_free (out);
          return -1;
        }
      out->n++;
    }
  return 0;
}

int
oci_layer_media_type_ok (const char *mt)
{
  static const char *const ok[] = {
    ENCLAVER_MT_OCI_LAYER,
    ENCLAVER_MT_OCI_LAYER_GZIP,
    ENCLAVER_MT_OCI_LAYER_ZSTD,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    ENCLAVER_MT_DOCKER_LAYER,
    ENCLAVER_MT_DOCKER_LAYER_GZIP,
    ENCLAVER_MT_DOCKER_LAYER_ZSTD,
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  if (mt == NULL)
    return 0;
  for (size_t i = 0; i < ARRAY_SIZE (ok); i++)
    if (strcmp (mt, ok[i]) == 0)
      return 1;
  return 0;
}

int
oci_manifest_parse (json_t *root, const char *media_type, const char *what, struct oci_manifest *out,
                    enclaver_error_t *err)
{
  json_t *cfg, *layers;
  cleanup_free char *artifact = NULL;
  cleanup_free char *cw = xasprintf ("%s: config", what);
  memset (out, 0, sizeof *out);
  out->media_type = xstrdup (media_type);
  if (get_string (root, "artifactType", what, &artifact, err) < 0 || get (root, "config", what, &cfg, err) < 0
      || get (root, "layers", what, &layers, err) < 0)
    goto fail;
  if (cfg == NULL)
    {
      enclaver_make_error (err, EINVAL, "%s: manifest has no 'config'", what);
      goto fail;
    }
  if (parse_desc (cfg, cw, &out->config, err) < 0)
    goto fail;
  const char *cmt = out->config.media_type;
  if (artifact || cmt == NULL
      || (strcmp (cmt, ENCLAVER_MT_OCI_CONFIG) != 0 && strcmp (cmt, ENCLAVER_MT_DOCKER_CONFIG) != 0))
    {
      enclaver_make_error (err, ENOTSUP, "%s: this is an artifact (%s '%s'), not a runnable container image", what,
                           artifact ? "artifactType" : "config media type",
                           artifact ? artifact : cmt ? cmt : "(none)");
      goto fail;
    }
  if (layers == NULL || !json_is_array (layers))
    {
      enclaver_make_error (err, EINVAL, "%s: 'layers' must be an array", what);
      goto fail;
    }
  size_t n = json_array_size (layers);
  if (n > OCI_MAX_LAYERS)
    {
      enclaver_make_error (err, E2BIG, "%s: %zu layers (limit %d)", what, n, OCI_MAX_LAYERS);
      goto fail;
    }
  out->layers = xmalloc0 ((n ? n : 1) * sizeof *out->layers);
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *w = xasprintf ("%s: layers[%zu]", what, i);
      if (parse_desc (json_array_get (layers, i), w, &out->layers[i], err) < 0)
        goto fail;
      out->n_layers++;
      if (!oci_layer_media_type_ok (out->layers[i].media_type))
        {
          enclaver_make_error (err, ENOTSUP, "%s: unsupported layer media type '%s' (%s)", w,
                               out->layers[i].media_type ? out->layers[i].media_type : "(none)",
                               out->layers[i].digest);
          goto fail;
        }
    }
  return 0;
fail:
  oci_manifest_free (out);
  return -1;
}

int
oci_config_parse (const char *buf, size_t len, const char *what, struct enclaver_image *img, enclaver_error_t *err)
{
  json_t *root = oci_json_load (buf, len, what, err), *c, *rootfs;
  cleanup_free char *rtype = NULL;
  cleanup_free char *cw = xasprintf ("%s: config", what);
  cleanup_free char *rw = xasprintf ("%s: rootfs", what);
  int rc = -1;
  if (root == NULL)
    return -1;
  if (!json_is_object (root))
    {
      enclaver_make_error (err, EINVAL, "%s: not a JSON object", what);
      goto out;
    }
  if (get_string (root, "architecture", what, &img->architecture, err) < 0
      || get_string (root, "os", what, &img->os, err) < 0 || get_string (root, "variant", what, &img->variant, err) < 0
      || get_string (root, "created", what, &img->created, err) < 0 || get (root, "config", what, &c, err) < 0
      || get (root, "rootfs", what, &rootfs, err) < 0)
    goto out;
  if (img->architecture == NULL || img->os == NULL)
    {
      enclaver_make_error (err, EINVAL, "%s: 'architecture' and 'os' are required", what);
      goto out;
    }
  if (c && !json_is_object (c))
    {
      enclaver_make_error (err, EINVAL, "%s: 'config' must be an object", what);
      goto out;
    }
  if (c
      && (get_strv (c, "Entrypoint", cw, &img->entrypoint, &img->n_entrypoint, &img->has_entrypoint, err) < 0
          || get_strv (c, "Cmd", cw, &img->cmd, &img->n_cmd, &img->has_cmd, err) < 0
          || get_strv (c, "Env", cw, &img->env, &img->n_env, NULL, err) < 0
          || get_string (c, "WorkingDir", cw, &img->working_dir, err) < 0
          || get_string (c, "User", cw, &img->user, err) < 0
          || get_keys (c, "ExposedPorts", cw, 0, &img->exposed_ports, &img->n_exposed_ports, err) < 0
          || get_keys (c, "Volumes", cw, 0, &img->volumes, &img->n_volumes, err) < 0
          || get_keys (c, "Labels", cw, 1, &img->labels, &img->n_labels, err) < 0
          || get_string (c, "StopSignal", cw, &img->stop_signal, err) < 0))
    goto out;
  if (rootfs == NULL || !json_is_object (rootfs))
    {
      enclaver_make_error (err, EINVAL, "%s: 'rootfs' is required", what);
      goto out;
    }
  if (get_string (rootfs, "type", rw, &rtype, err) < 0
      || get_strv (rootfs, "diff_ids", rw, &img->diff_ids, &img->n_diff_ids, NULL, err) < 0)
    goto out;
  if (rtype == NULL || strcmp (rtype, "layers") != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: rootfs.type must be \"layers\"", what);
      goto out;
    }
  for (size_t i = 0; i < img->n_diff_ids; i++)
    {
      cleanup_free char *w = xasprintf ("%s: rootfs.diff_ids[%zu]", what, i);
      if (oci_digest_check (img->diff_ids[i], w, err) < 0)
        goto out;
    }
  rc = 0;
out:
  json_decref (root);
  return rc;
}
