/* enclaver: writing an image as an oci-archive or docker-archive tar (OCI.md §1.3, §1.4).
 *
 * The one writer of both formats: the emit-image stage writes the release image with it,
 * `enclaver image copy` its oci-archive: and docker-archive: destinations.  The tar is
 * ustar, uid/gid 0, every member dated img->mtime, the blobs sorted by name and each
 * written once, then index.json, manifest.json (docker), oci-layout and repositories
 * (docker, when the image has a name): the same image gives the same bytes.  A blob read
 * from a file is hashed as it is copied and must be the digest and size it is named by. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"

char *
enclaver_image_index_json (const char *manifest_media_type, const char *digest, uint64_t size, const char *ref_name,
                           const char *image_name)
{
  json_t *e = json_pack ("{s:s, s:s, s:I}", "mediaType", manifest_media_type, "digest", digest, "size",
                         (json_int_t) size);
  json_t *ix, *ann = json_object ();
  char *s;
  if (ref_name)
    json_object_set_new (ann, "org.opencontainers.image.ref.name", json_string (ref_name));
  if (image_name)
    json_object_set_new (ann, "io.containerd.image.name", json_string (image_name));
  if (json_object_size (ann) > 0)
    json_object_set_new (e, "annotations", ann);
  else
    json_decref (ann);
  ix = json_pack ("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", ENCLAVER_MT_OCI_INDEX, "manifests", e);
  s = json_dumps (ix, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (ix);
  if (s == NULL)
    xoom ();
  return s;
}

/* libarchive's client writer: straight to the fd. */
static la_ssize_t
fd_write (struct archive *a, void *ud, const void *buf, size_t len)
{
  if (enclaver_write_all (*(int *) ud, buf, len) < 0)
    {
      archive_set_error (a, errno, "write: %s", strerror (errno));
      return -1;
    }
  return (la_ssize_t) len;
}

static int
header (struct archive *a, const char *name, int dir, uint64_t size, int64_t mtime, enclaver_error_t *err)
{
  struct archive_entry *e = archive_entry_new ();
  int r = 0;
  if (e == NULL)
    xoom ();
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, dir ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm (e, dir ? 0755 : 0644);
  archive_entry_set_mtime (e, mtime, 0);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  archive_entry_set_size (e, dir ? 0 : (la_int64_t) size);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    r = enclaver_make_error (err, EIO, "tar member %s: %s", name, archive_error_string (a));
  archive_entry_free (e);
  return r;
}

static int
add_data (struct archive *a, const char *name, const void *data, size_t len, int64_t mtime, enclaver_error_t *err)
{
  if (header (a, name, 0, len, mtime, err) < 0)
    return -1;
  if (len > 0 && archive_write_data (a, data, len) != (la_ssize_t) len)
    return enclaver_make_error (err, EIO, "tar member %s: %s", name, archive_error_string (a));
  return 0;
}

/* A blob from its file, checked against its digest and size as it is copied. */
static int
add_file (struct archive *a, const char *name, const struct enclaver_archive_blob *b, int64_t mtime,
          enclaver_error_t *err)
{
  cleanup_close int fd = open (b->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct oci_hasher h;
  struct stat st;
  char buf[1 << 16], got[OCI_DIGEST_LEN + 1];
  uint64_t left = b->size;
  int r = 0;

  if (fd < 0)
    return enclaver_make_errno (err, errno, "blob %s: open %s", b->digest, b->path);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || (uint64_t) st.st_size != b->size)
    return enclaver_make_error (err, EINVAL, "blob %s: %s is not a file of %llu bytes", b->digest, b->path,
                                (unsigned long long) b->size);
  if (header (a, name, 0, b->size, mtime, err) < 0)
    return -1;
  oci_hasher_init (&h);
  while (r == 0 && left > 0)
    {
      ssize_t n = read (fd, buf, left < sizeof buf ? (size_t) left : sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        r = enclaver_make_errno (err, n < 0 ? errno : EIO, "blob %s: read %s", b->digest, b->path);
      else if (archive_write_data (a, buf, (size_t) n) != n)
        r = enclaver_make_error (err, EIO, "tar member %s: %s", name, archive_error_string (a));
      else
        {
          oci_hasher_update (&h, buf, (size_t) n);
          left -= (uint64_t) n;
        }
    }
  if (r == 0)
    {
      oci_hasher_final (&h, got);
      if (strcmp (got, b->digest) != 0)
        r = enclaver_make_error (err, EINVAL, "blob %s: %s changed after it was verified: it holds %s", b->digest,
                                 b->path, got);
    }
  oci_hasher_free (&h);
  return r;
}

static int
by_digest (const void *x, const void *y)
{
  return strcmp ((*(const struct enclaver_archive_blob *const *) x)->digest,
                 (*(const struct enclaver_archive_blob *const *) y)->digest);
}

/* docker save's manifest.json: the config and layers by member name. */
static char *
docker_manifest_json (const struct enclaver_archive_image *img)
{
  json_t *layers = json_array (), *tags = json_array (), *m;
  char *s;
  for (size_t i = 0; i < img->n_layers; i++)
    json_array_append_new (layers, json_sprintf ("blobs/sha256/%s", img->layers[i].digest + 7));
  if (img->image_name)
    json_array_append_new (tags, json_string (img->image_name));
  m = json_pack ("[{s:o, s:o, s:o}]", "Config", json_sprintf ("blobs/sha256/%s", img->config.digest + 7), "RepoTags",
                 tags, "Layers", layers);
  s = json_dumps (m, JSON_COMPACT);
  json_decref (m);
  if (s == NULL)
    xoom ();
  return s;
}

/* The legacy repositories file: {"NAME": {"TAG": "<top layer>"}}. */
static char *
repositories_json (const struct enclaver_archive_image *img)
{
  const char *n = img->image_name, *slash = strrchr (n, '/'), *colon = strrchr (n, ':');
  cleanup_free char *name = NULL;
  const char *tag = "latest";
  json_t *j;
  char *s;
  if (colon && (slash == NULL || colon > slash))
    {
      name = xstrndup (n, (size_t) (colon - n));
      tag = colon + 1;
    }
  else
    name = xstrdup (n);
  j = json_pack ("{s:{s:s}}", name, tag, img->layers[img->n_layers - 1].digest + 7);
  s = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (s == NULL)
    xoom ();
  return s;
}

int
enclaver_image_archive_write (int fd, const struct enclaver_archive_image *img, enclaver_error_t *err)
{
  int docker = img->format == ENCLAVER_ARCHIVE_DOCKER;
  size_t nb = 0, i;
  cleanup_free const struct enclaver_archive_blob **blobs = NULL;
  cleanup_free char *index = NULL, *dman = NULL, *repos = NULL;
  struct archive *a;
  int64_t t = img->mtime < 0 ? 0 : img->mtime;
  int r = 0;

  if (img->format != ENCLAVER_ARCHIVE_OCI && !docker)
    return enclaver_make_error (err, EINVAL, "archive format %d is not oci-archive or docker-archive", img->format);
  blobs = xmalloc (sizeof *blobs * (img->n_layers + 2));
  blobs[nb++] = &img->manifest;
  blobs[nb++] = &img->config;
  for (i = 0; i < img->n_layers; i++)
    blobs[nb++] = &img->layers[i];
  for (i = 0; i < nb; i++)
    {
      if (!oci_digest_valid (blobs[i]->digest))
        return enclaver_make_error (err, EINVAL, "blob digest '%s' is not sha256: and 64 hex digits", blobs[i]->digest);
      if (blobs[i]->path == NULL && blobs[i]->data == NULL && blobs[i]->size > 0)
        return enclaver_make_error (err, EINVAL, "blob %s: no bytes given", blobs[i]->digest);
    }
  qsort (blobs, nb, sizeof *blobs, by_digest);

  index = enclaver_image_index_json (img->manifest_media_type, img->manifest.digest, img->manifest.size,
                                     img->ref_name, img->image_name);
  if (docker)
    {
      dman = docker_manifest_json (img);
      if (img->image_name && img->n_layers > 0)
        repos = repositories_json (img);
    }

  a = archive_write_new ();
  if (a == NULL)
    xoom ();
  archive_write_set_format_ustar (a);
  archive_write_set_bytes_per_block (a, 10240);
  if (archive_write_open (a, &fd, NULL, fd_write, NULL) != ARCHIVE_OK)
    {
      r = enclaver_make_error (err, EIO, "tar: %s", archive_error_string (a));
      archive_write_free (a);
      return r;
    }
  r = header (a, "blobs/", 1, 0, t, err);
  if (r == 0)
    r = header (a, "blobs/sha256/", 1, 0, t, err);
  for (i = 0; r == 0 && i < nb; i++)
    {
      cleanup_free char *name = NULL;
      if (i > 0 && strcmp (blobs[i]->digest, blobs[i - 1]->digest) == 0)
        continue; /* a layer the image holds twice is one member */
      name = xasprintf ("blobs/sha256/%s", blobs[i]->digest + 7);
      if (blobs[i]->data || blobs[i]->size == 0)
        {
          char got[OCI_DIGEST_LEN + 1];
          oci_sha256_buf (blobs[i]->data ? blobs[i]->data : "", blobs[i]->size, got);
          if (strcmp (got, blobs[i]->digest) != 0)
            r = enclaver_make_error (err, EINVAL, "blob %s: the bytes given hash to %s", blobs[i]->digest, got);
          else
            r = add_data (a, name, blobs[i]->data, blobs[i]->size, t, err);
        }
      else
        r = add_file (a, name, blobs[i], t, err);
    }
  if (r == 0)
    r = add_data (a, "index.json", index, strlen (index), t, err);
  if (r == 0 && dman)
    r = add_data (a, "manifest.json", dman, strlen (dman), t, err);
  if (r == 0)
    r = add_data (a, "oci-layout", OCI_LAYOUT_JSON, strlen (OCI_LAYOUT_JSON), t, err);
  if (r == 0 && repos)
    r = add_data (a, "repositories", repos, strlen (repos), t, err);
  if (r == 0 && archive_write_close (a) != ARCHIVE_OK)
    r = enclaver_make_error (err, EIO, "tar: %s", archive_error_string (a));
  archive_write_free (a);
  return r;
}
