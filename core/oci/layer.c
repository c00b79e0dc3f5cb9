/* enclaver: layer blobs as uncompressed tar streams (OCI.md §1.8, §1.9).
 * Reader A (libarchive "raw" format + exactly one filter chosen by magic bytes) yields
 * the uncompressed bytes; they are hashed for the DiffID while the raw blob bytes are
 * hashed again for the blob digest.  enclaver_layer_archive() chains a tar-only reader
 * on top. */
#include "config.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include "oci/oci.h"

int
enclaver_detect_compression (const unsigned char *b, size_t len, enclaver_error_t *err)
{
  if (len >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 0x08)
    return ENCLAVER_COMPRESSION_GZIP;
  if (len >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
    return ENCLAVER_COMPRESSION_ZSTD;
  if (len >= 4 && (b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18)
    return ENCLAVER_COMPRESSION_ZSTD; /* skippable frame first */
  if (len >= 262 && memcmp (b + 257, "ustar", 5) == 0)
    return ENCLAVER_COMPRESSION_NONE;
  if (len >= 512)
    {
      size_t i;
      for (i = 0; i < 512 && b[i] == 0; i++)
        ;
      if (i == 512)
        return ENCLAVER_COMPRESSION_NONE;
    }
  if (len == 0)
    return enclaver_make_error (err, EINVAL, "empty blob is not a layer");
  if (len >= 3 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h')
    return enclaver_make_error (err, ENOTSUP, "bzip2 layers are not supported (only gzip, zstd, uncompressed tar)");
  if (len >= 6 && memcmp (b, "\xfd" "7zXZ\0", 6) == 0)
    return enclaver_make_error (err, ENOTSUP, "xz layers are not supported (only gzip, zstd, uncompressed tar)");
  return enclaver_make_error (err, EINVAL,
                              "unrecognised layer format (first bytes %02x %02x %02x %02x): not gzip, zstd or tar",
                              b[0], len > 1 ? b[1] : 0, len > 2 ? b[2] : 0, len > 3 ? b[3] : 0);
}

struct enclaver_layer_stream
{
  char *name;
  char *digest, *diff_id;
  int fd;
  int comp;
  struct archive *a;        /* reader A (compressed) or NULL for plain tar */
  struct oci_hasher raw;    /* over blob bytes */
  struct oci_hasher tar;    /* over uncompressed bytes */
  char rbuf[65536];
  int eof;
  int failed;
  char *err_msg;
  /* buffer for enclaver_layer_archive */
  char abuf[65536];
};

static la_ssize_t
raw_read_cb (struct archive *a, void *ud, const void **buf)
{
  enclaver_layer_stream_t *s = ud;
  for (;;)
    {
      ssize_t n = read (s->fd, s->rbuf, sizeof s->rbuf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          archive_set_error (a, errno, "read %s", s->name);
          return -1;
        }
      oci_hasher_update (&s->raw, s->rbuf, (size_t) n);
      *buf = s->rbuf;
      return n;
    }
}

enclaver_layer_stream_t *
enclaver_layer_open_path (const char *path, const char *digest, const char *diff_id, const char *name,
                          enclaver_error_t *err)
{
  unsigned char magic[512];
  enclaver_layer_stream_t *s = xmalloc0 (sizeof *s);
  s->fd = -1;
  s->name = xstrdup (name ? name : path);
  s->digest = digest ? xstrdup (digest) : NULL;
  s->diff_id = diff_id ? xstrdup (diff_id) : NULL;
  oci_hasher_init (&s->raw);
  oci_hasher_init (&s->tar);
  s->fd = enclaver_open_file (path, O_NOFOLLOW, err);
  if (s->fd < 0)
    {
      enclaver_error_wrap (err, "%s", s->name);
      goto fail;
    }
  ssize_t got = pread (s->fd, magic, sizeof magic, 0);
  s->comp = enclaver_detect_compression (magic, got > 0 ? (size_t) got : 0, err);
  if (s->comp < 0)
    {
      enclaver_error_wrap (err, "%s", s->name);
      goto fail;
    }
  if (s->comp != ENCLAVER_COMPRESSION_NONE)
    {
      s->a = archive_read_new ();
      if (s->a == NULL)
        xoom ();
      archive_read_support_format_raw (s->a);
      if (s->comp == ENCLAVER_COMPRESSION_GZIP)
        archive_read_support_filter_gzip (s->a);
      else
        archive_read_support_filter_zstd (s->a);
      struct archive_entry *e;
      if (archive_read_open (s->a, s, NULL, raw_read_cb, NULL) != ARCHIVE_OK
          || archive_read_next_header (s->a, &e) != ARCHIVE_OK)
        {
          enclaver_make_error (err, EINVAL, "%s: cannot open %s stream: %s", s->name,
                               s->comp == ENCLAVER_COMPRESSION_GZIP ? "gzip" : "zstd", archive_error_string (s->a));
          goto fail;
        }
      if (archive_filter_code (s->a, 0) == ARCHIVE_FILTER_NONE)
        {
          enclaver_make_error (err, EINVAL, "%s: compressed stream not recognised by libarchive", s->name);
          goto fail;
        }
    }
  return s;
fail:
  enclaver_layer_close (s);
  return NULL;
}

enclaver_layer_stream_t *
enclaver_layer_open (const struct enclaver_image *img, size_t index, enclaver_error_t *err)
{
  if (img == NULL || index >= img->n_layers)
    {
      enclaver_make_error (err, EINVAL, "layer index %zu does not exist (the image has %zu layers)", index,
                           img ? img->n_layers : 0);
      return NULL;
    }
  const struct enclaver_image_layer *l = &img->layers[index];
  if (l->path == NULL)
    {
      enclaver_make_error (err, EINVAL, "layer %zu of %zu (%s) was not fetched", index + 1, img->n_layers, l->digest);
      return NULL;
    }
  cleanup_free char *name = xasprintf ("%s: layer %zu of %zu (%s)", img->name, index + 1, img->n_layers, l->digest);
  return enclaver_layer_open_path (l->path, l->digest, l->diff_id, name, err);
}

ssize_t
enclaver_layer_read (enclaver_layer_stream_t *s, void *buf, size_t len, enclaver_error_t *err)
{
  ssize_t n;
  if (s->failed)
    return enclaver_make_error (err, EIO, "%s: stream already failed", s->name);
  if (s->eof || len == 0)
    return 0;
  if (s->a)
    {
      n = archive_read_data (s->a, buf, len);
      if (n < 0)
        {
          s->failed = 1;
          return enclaver_make_error (err, EINVAL, "%s: decompression failed: %s", s->name,
                                      archive_error_string (s->a));
        }
    }
  else
    {
      do
        n = read (s->fd, buf, len);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        {
          s->failed = 1;
          return enclaver_make_errno (err, errno, "%s: read", s->name);
        }
      oci_hasher_update (&s->raw, buf, (size_t) n);
    }
  if (n == 0)
    s->eof = 1;
  oci_hasher_update (&s->tar, buf, (size_t) n);
  return n;
}

int
enclaver_layer_finish (enclaver_layer_stream_t *s, char *diff_id_out, enclaver_error_t *err)
{
  char buf[65536];
  char got[OCI_DIGEST_LEN + 1], raw[OCI_DIGEST_LEN + 1];
  ssize_t n;
  while ((n = enclaver_layer_read (s, buf, sizeof buf, err)) > 0)
    ;
  if (n < 0)
    return -1;
  /* Hash every raw byte, even past the end of the compressed stream (OCI.md §1.9). */
  if (s->a)
    for (;;)
      {
        const void *p;
        n = read (s->fd, s->rbuf, sizeof s->rbuf);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          break;
        p = s->rbuf;
        oci_hasher_update (&s->raw, p, (size_t) n);
      }
  oci_hasher_final (&s->tar, got);
  oci_hasher_final (&s->raw, raw);
  if (s->digest && strcmp (raw, s->digest) != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: blob digest mismatch: content is %s, expected %s", s->name, raw,
                           s->digest);
      return enclaver_error_set_field (err, "digest", s->digest);
    }
  if (s->diff_id && strcmp (got, s->diff_id) != 0)
    {
      enclaver_make_error (err, EINVAL, "%s: DiffID mismatch: uncompressed tar is %s, config says %s", s->name,
                           got, s->diff_id);
      return enclaver_error_set_field (err, "digest", s->digest);
    }
  if (diff_id_out)
    memcpy (diff_id_out, got, sizeof got);
  return 0;
}

void
enclaver_layer_close (enclaver_layer_stream_t *s)
{
  if (s == NULL)
    return;
  if (s->a)
    archive_read_free (s->a);
  if (s->fd >= 0)
    close (s->fd);
  oci_hasher_free (&s->raw);
  oci_hasher_free (&s->tar);
  free (s->name);
  free (s->digest);
  free (s->diff_id);
  free (s->err_msg);
  free (s);
}

static la_ssize_t
tar_read_cb (struct archive *a, void *ud, const void **buf)
{
  enclaver_layer_stream_t *s = ud;
  enclaver_error_t e = NULL;
  ssize_t n = enclaver_layer_read (s, s->abuf, sizeof s->abuf, &e);
  if (n < 0)
    {
      archive_set_error (a, EINVAL, "%s", e->msg);
      enclaver_error_release (&e);
      return -1;
    }
  *buf = s->abuf;
  return n;
}

void *
enclaver_layer_archive (enclaver_layer_stream_t *s, enclaver_error_t *err)
{
  struct archive *a = archive_read_new ();
  if (a == NULL)
    xoom ();
  archive_read_support_format_tar (a);
  if (archive_read_open (a, s, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
    {
      enclaver_make_error (err, EINVAL, "%s: not a tar stream: %s", s->name, archive_error_string (a));
      archive_read_free (a);
      return NULL;
    }
  return a;
}
