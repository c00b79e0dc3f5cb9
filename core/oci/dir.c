/* enclaver: the dir: transport, a directory as `skopeo copy ... dir:DIR` writes it
 * (containers/image directory transport):
 *   DIR/version          "Directory Transport Version: 1.1\n" (1.0 is read too)
 *   DIR/manifest.json    the image's manifest (or an index, with --all)
 *   DIR/<hex>            every blob (config, layers), named by its sha256 without "sha256:"
 *   DIR/<hex>.manifest.json   the manifests an index lists (version 1.1, --all)
 *   DIR/signature-N      signatures (ignored)
 * The manifest's digest is the sha256 of manifest.json as stored. */
#include "config.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "oci/oci.h"

#define DIR_VERSION_PREFIX "Directory Transport Version: "

static int
check_version (const char *dir, enclaver_error_t *err)
{
  cleanup_free char *p = xasprintf ("%s/version", dir), *buf = NULL;
  size_t len;
  if (enclaver_read_file (p, 256, &buf, &len, err) < 0)
    return enclaver_error_wrap (err, "dir:%s: not a skopeo directory", dir);
  size_t n = strlen (DIR_VERSION_PREFIX);
  if (len < n || memcmp (buf, DIR_VERSION_PREFIX, n) != 0)
    return enclaver_make_error (err, EINVAL, "dir:%s: version: does not start with \"%s\"", dir, DIR_VERSION_PREFIX);
  cleanup_free char *v = xstrndup (buf + n, len - n);
  v[strcspn (v, "\r\n")] = '\0';
  if (strcmp (v, "1.0") != 0 && strcmp (v, "1.1") != 0)
    return enclaver_make_error (err, ENOTSUP, "dir:%s: version: directory transport version '%s' is not 1.0 or 1.1",
                                dir, v);
  return 0;
}

int
oci_dir_root (const char *dir, struct oci_cache *c, struct oci_desc *root, enclaver_error_t *err)
{
  struct stat st;
  memset (root, 0, sizeof *root);
  if (stat (dir, &st) < 0)
    return enclaver_make_errno (err, errno, "dir:%s", dir);
  if (!S_ISDIR (st.st_mode))
    return enclaver_make_error (err, ENOTDIR, "dir:%s: not a directory", dir);
  if (check_version (dir, err) < 0)
    return -1;
  cleanup_free char *p = xasprintf ("%s/manifest.json", dir), *body = NULL;
  size_t len;
  if (enclaver_read_file (p, OCI_MAX_DOC, &body, &len, err) < 0)
    return enclaver_error_wrap (err, "dir:%s", dir);
  char dg[OCI_DIGEST_LEN + 1];
  if (oci_cache_put (c, body, len, NULL, dg, err) < 0)
    return enclaver_error_wrap (err, "dir:%s: manifest.json", dir);
  root->digest = xstrdup (dg);
  root->size = (int64_t) len;
  return 0;
}

char *
oci_dir_blob_path (const char *dir, const char *digest, int is_manifest, const char *root_digest)
{
  if (is_manifest && root_digest && strcmp (digest, root_digest) == 0)
    return xasprintf ("%s/manifest.json", dir);
  if (is_manifest)
    return xasprintf ("%s/%s.manifest.json", dir, digest + 7);
  return xasprintf ("%s/%s", dir, digest + 7);
}
