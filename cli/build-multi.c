/* `enclaver build --platform linux/amd64,linux/arm64` (docs/cross-arch.md): the CLI runs
 * the pipeline once per platform (cmd_build.c), each run naming its outputs with the
 * platform's suffix (the output-suffix parameter: hello-x86_64.eif, hello-image-aarch64),
 * then joins the single-platform release images into one multi-platform OCI layout: an
 * index.json naming one image index, whose manifests are the platforms' own, unchanged,
 * so each keeps its config and PCR labels and its digest. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/context.h>
#include <enclaver/image.h>
#include "cli/build-multi.h"
#include "util.h"

/* Index documents and manifests of enclaver's own images are small; configs too. */
#define DOC_MAX (4u << 20)

int
cli_platform_list (const char *arg, char ***list, size_t *n, enclaver_error_t *err)
{
  cleanup_free char *copy = xstrdup (arg);
  char *save = NULL, *t;
  size_t i;

  *list = xmalloc0 (sizeof **list);
  *n = 0;
  for (t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      struct enclaver_platform pl, other;
      if (enclaver_platform_parse (t, &pl, err) < 0)
        return enclaver_error_wrap (err, "'%s'", t);
      for (i = 0; i < *n; i++)
        if (enclaver_platform_parse ((*list)[i], &other, NULL) == 0 && strcmp (other.architecture, pl.architecture) == 0)
          return enclaver_make_error (err, EINVAL, "'%s' and '%s' are the same architecture: one EIF each", (*list)[i],
                                      t);
      *list = xreallocarray (*list, *n + 2, sizeof **list);
      (*list)[(*n)++] = xstrdup (t);
      (*list)[*n] = NULL;
    }
  if (*n == 0)
    return enclaver_make_error (err, EINVAL, "'%s' names no platform", arg);
  return 0;
}

void
cli_platform_list_free (char **list)
{
  for (size_t i = 0; list && list[i]; i++)
    free (list[i]);
  free (list);
}

char *
cli_platform_suffix (const char *platform)
{
  struct enclaver_platform pl;
  if (enclaver_platform_parse (platform, &pl, NULL) < 0)
    return xstrdup ("-unknown");
  if (strcmp (pl.architecture, "amd64") == 0)
    return xstrdup ("-x86_64");
  if (strcmp (pl.architecture, "arm64") == 0)
    return xstrdup ("-aarch64");
  return xasprintf ("-%s", pl.architecture);
}

static json_t *
load_json (const char *path, enclaver_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len;
  json_error_t je;
  json_t *j;
  if (enclaver_read_file (path, DOC_MAX, &buf, &len, err) < 0)
    return NULL;
  j = json_loadb (buf, len, 0, &je);
  if (j == NULL || !json_is_object (j))
    {
      json_decref (j);
      enclaver_make_error (err, EINVAL, "%s: not a JSON object (%s)", path, je.text);
    }
  return j;
}

/* LAYOUT/blobs/sha256/<hex of DIGEST>, for a digest of the form sha256:<64 hex>. */
static char *
blob_path (const char *layout, const char *digest, enclaver_error_t *err)
{
  if (digest == NULL || strncmp (digest, "sha256:", 7) != 0 || strlen (digest) != 71
      || strspn (digest + 7, "0123456789abcdef") != 64)
    {
      enclaver_make_error (err, EINVAL, "%s: '%s' is not a sha256 digest", layout, digest ? digest : "(none)");
      return NULL;
    }
  return xasprintf ("%s/blobs/sha256/%s", layout, digest + 7);
}

/* The descriptor of LAYOUT's one image for the platform index: its index.json entry with
 * the platform of its config and the manifest's dev.enclaver.* annotations.  *entry gets
 * index.json's entry (for the annotations of the new index.json). */
static json_t *
platform_descriptor (const char *layout, json_t **entry, enclaver_error_t *err)
{
  cleanup_free char *ip = xasprintf ("%s/index.json", layout), *mp = NULL, *cp = NULL;
  json_t *index = load_json (ip, err), *e, *man = NULL, *cfg = NULL, *d = NULL, *ann, *plat, *v;
  const char *key;

  *entry = NULL;
  if (index == NULL)
    return NULL;
  e = json_array_get (json_object_get (index, "manifests"), 0);
  if (json_array_size (json_object_get (index, "manifests")) != 1 || !json_is_object (e)
      || !json_is_string (json_object_get (e, "mediaType"))
      || strcmp (json_string_value (json_object_get (e, "mediaType")), ENCLAVER_MT_OCI_MANIFEST) != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: not the one OCI image manifest of a single-platform release image", ip);
      goto out;
    }
  if ((mp = blob_path (layout, json_string_value (json_object_get (e, "digest")), err)) == NULL
      || (man = load_json (mp, err)) == NULL
      || (cp = blob_path (layout, json_string_value (json_object_get (json_object_get (man, "config"), "digest")),
                          err)) == NULL
      || (cfg = load_json (cp, err)) == NULL)
    goto out;
  if (!json_is_string (json_object_get (cfg, "architecture")) || !json_is_string (json_object_get (cfg, "os")))
    {
      enclaver_make_error (err, EINVAL, "%s: the image config has no architecture and os", cp);
      goto out;
    }
  plat = json_pack ("{s:O, s:O}", "architecture", json_object_get (cfg, "architecture"), "os",
                    json_object_get (cfg, "os"));
  if (json_is_string (json_object_get (cfg, "variant")))
    json_object_set (plat, "variant", json_object_get (cfg, "variant"));
  d = json_pack ("{s:O, s:O, s:O, s:o}", "mediaType", json_object_get (e, "mediaType"), "digest",
                 json_object_get (e, "digest"), "size", json_object_get (e, "size"), "platform", plat);
  ann = json_object ();
  json_object_foreach (json_object_get (man, "annotations"), key, v)
    if (strncmp (key, "dev.enclaver.", 13) == 0)
      json_object_set (ann, key, v);
  if (json_object_size (ann))
    json_object_set_new (d, "annotations", ann);
  else
    json_decref (ann);
  *entry = json_incref (e);
out:
  json_decref (index);
  json_decref (man);
  json_decref (cfg);
  return d;
}

/* Hard-link every blob of LAYOUT into DIR/blobs/sha256: both are in the output directory
 * (DIR is DEST's temporary twin, LAYOUT is DEST plus a suffix), so on one file system. */
static int
take_blobs (const char *layout, const char *dir, enclaver_error_t *err)
{
  cleanup_free char *from = xasprintf ("%s/blobs/sha256", layout);
  cleanup_dir DIR *d = opendir (from);
  struct dirent *de;
  if (d == NULL)
    return enclaver_make_errno (err, errno, "open %s", from);
  while ((de = readdir (d)) != NULL)
    {
      cleanup_free char *src = NULL, *dst = NULL;
      if (de->d_name[0] == '.')
        continue;
      src = xasprintf ("%s/%s", from, de->d_name);
      dst = xasprintf ("%s/blobs/sha256/%s", dir, de->d_name);
      /* The same digest in two platforms' images is the same bytes. */
      if (link (src, dst) < 0 && errno != EEXIST)
        return enclaver_make_errno (err, errno, "link %s to %s", src, dst);
    }
  return 0;
}

/* J as compact JSON with sorted keys (the bytes are the digest's: reproducible) to PATH;
 * DIGEST_OUT (72 bytes) and *SIZE_OUT, when given, get its digest and size. */
static int
write_json (const char *path, json_t *j, char *digest_out, size_t *size_out, enclaver_error_t *err)
{
  cleanup_free char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (s == NULL)
    return enclaver_make_error (err, ENOMEM, "cannot serialise %s", path);
  if (size_out)
    *size_out = strlen (s);
  if (digest_out)
    {
      EVP_Digest (s, strlen (s), md, &mdlen, EVP_sha256 (), NULL);
      strcpy (digest_out, "sha256:");
      for (unsigned i = 0; i < mdlen; i++)
        snprintf (digest_out + 7 + 2 * i, 3, "%02x", md[i]);
    }
  return enclaver_write_file_atomic (path, s, strlen (s), 0644, err);
}

static int
by_platform (const void *a, const void *b)
{
  json_t *const *x = a, *const *y = b;
  const char *ax = json_string_value (json_object_get (json_object_get (*x, "platform"), "architecture"));
  const char *ay = json_string_value (json_object_get (json_object_get (*y, "platform"), "architecture"));
  return strcmp (ax ? ax : "", ay ? ay : "");
}

int
cli_write_platform_index (const char *dest, char *const *layouts, size_t n, char **digest, enclaver_error_t *err)
{
  enclaver_ctx_t *octx = enclaver_ctx_new ();
  json_t **descs = xmalloc0 (n * sizeof *descs), *first = NULL, *idx = NULL, *top = NULL, *mans;
  char dg[72] = "", *ipath = NULL;
  const char *dir;
  size_t i, size = 0;
  int r = -1;

  *digest = NULL;
  for (i = 0; i < n; i++)
    {
      json_t *entry = NULL;
      descs[i] = platform_descriptor (layouts[i], &entry, err);
      if (descs[i] == NULL)
        goto out;
      if (first == NULL)
        first = entry;
      else
        json_decref (entry);
    }
  qsort (descs, n, sizeof *descs, by_platform);
  /* The ctx's output directory: written under a temporary name, renamed over DEST. */
  if ((dir = enclaver_ctx_output_dir (octx, dest, err)) == NULL)
    goto out;
  {
    cleanup_free char *b = xasprintf ("%s/blobs", dir), *b2 = xasprintf ("%s/blobs/sha256", dir);
    if ((mkdir (b, 0755) < 0 && errno != EEXIST) || (mkdir (b2, 0755) < 0 && errno != EEXIST))
      {
        enclaver_make_errno (err, errno, "mkdir %s", b2);
        goto discard;
      }
  }
  for (i = 0; i < n; i++)
    if (take_blobs (layouts[i], dir, err) < 0)
      goto discard;
  mans = json_array ();
  for (i = 0; i < n; i++)
    json_array_append (mans, descs[i]);
  idx = json_pack ("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", ENCLAVER_MT_OCI_INDEX, "manifests", mans);
  {
    cleanup_free char *tmpname = xasprintf ("%s/blobs/sha256/index.tmp", dir);
    if (write_json (tmpname, idx, dg, &size, err) < 0)
      goto discard;
    ipath = xasprintf ("%s/blobs/sha256/%s", dir, dg + 7);
    if (rename (tmpname, ipath) < 0)
      {
        enclaver_make_errno (err, errno, "rename %s", tmpname);
        goto discard;
      }
  }
  /* index.json: the platform index under the tag the single-platform images had. */
  top = json_pack ("{s:i, s:s, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType", ENCLAVER_MT_OCI_INDEX,
                   "manifests", "mediaType", ENCLAVER_MT_OCI_INDEX, "digest", dg, "size", (json_int_t) size);
  if (json_is_object (json_object_get (first, "annotations")))
    json_object_set (json_array_get (json_object_get (top, "manifests"), 0), "annotations",
                     json_object_get (first, "annotations"));
  {
    cleanup_free char *p = xasprintf ("%s/index.json", dir), *l = xasprintf ("%s/oci-layout", dir);
    if (write_json (p, top, NULL, NULL, err) < 0
        || enclaver_write_file_atomic (l, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, err) < 0)
      goto discard;
  }
  if (enclaver_ctx_outputs_commit (octx, err) < 0)
    goto out;
  *digest = xstrdup (dg);
  r = 0;
  goto out;
discard:
  enclaver_ctx_outputs_discard (octx);
out:
  for (i = 0; i < n; i++)
    json_decref (descs[i]);
  free (descs);
  free (ipath);
  json_decref (first);
  json_decref (idx);
  json_decref (top);
  enclaver_ctx_free (octx);
  return r;
}
