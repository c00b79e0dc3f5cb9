/* Layer streams: compression detected by magic, DiffID and blob digest verified,
 * the chained tar reader lists the entries. */
#include "config.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <enclaver/image.h>
#include "tests/tap.h"

static char tmpdir[] = "/tmp/enclaver-layer-XXXXXX";

static void
sha (const void *buf, size_t len, char out[72])
{
  unsigned char md[32];
  unsigned n;
  EVP_Digest (buf, len, md, &n, EVP_sha256 (), NULL);
  strcpy (out, "sha256:");
  for (int i = 0; i < 32; i++)
    sprintf (out + 7 + 2 * i, "%02x", md[i]);
}

/* Build a tar (filter: 0 none, 1 gzip, 2 zstd, 3 bzip2) into a malloc'd buffer. */
static unsigned char *
make_layer (int filter, size_t *len)
{
  size_t cap = 1 << 20;
  unsigned char *buf = malloc (cap);
  struct archive *a = archive_write_new ();
  archive_write_set_format_pax_restricted (a);
  if (filter == 1)
    archive_write_add_filter_gzip (a);
  else if (filter == 2)
    archive_write_add_filter_zstd (a);
  else if (filter == 3)
    archive_write_add_filter_bzip2 (a);
  archive_write_set_bytes_in_last_block (a, 1);
  archive_write_open_memory (a, buf, cap, len);
  static const char *names[] = { "etc/", "etc/hello", "bin/app" };
  for (int i = 0; i < 3; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, names[i]);
      int dir = names[i][strlen (names[i]) - 1] == '/';
      archive_entry_set_filetype (e, dir ? AE_IFDIR : AE_IFREG);
      archive_entry_set_perm (e, 0755);
      const char *data = "hello layer\n";
      archive_entry_set_size (e, dir ? 0 : (la_int64_t) strlen (data));
      archive_write_header (a, e);
      if (!dir)
        archive_write_data (a, data, strlen (data));
      archive_entry_free (e);
    }
  archive_write_close (a);
  archive_write_free (a);
  return buf;
}

static char *
write_tmp (const char *name, const void *buf, size_t len)
{
  char *p = malloc (strlen (tmpdir) + strlen (name) + 2);
  sprintf (p, "%s/%s", tmpdir, name);
  int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (write (fd, buf, len) != (ssize_t) len)
    abort ();
  close (fd);
  return p;
}

static void
check_layer (int filter, const char *label, int want_comp)
{
  size_t len = 0, rawlen = 0;
  unsigned char *blob = make_layer (filter, &len);
  unsigned char *raw = make_layer (0, &rawlen);
  char bd[72], dd[72], got[72];
  sha (blob, len, bd);
  sha (raw, rawlen, dd);
  char *p = write_tmp (label, blob, len);
  enclaver_error_t err = NULL;

  TAP_INT_EQ (enclaver_detect_compression (blob, len, &err), want_comp, "%s: detected by magic", label);
  enclaver_layer_stream_t *s = enclaver_layer_open_path (p, bd, dd, label, &err);
  if (!tap_ok (s != NULL, "%s: open", label))
    {
      tap_diag ("%s", err ? err->msg : "?");
      enclaver_error_release (&err);
      return;
    }
  struct archive *a = enclaver_layer_archive (s, &err);
  struct archive_entry *e;
  char names[256] = "";
  int r;
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      strcat (names, archive_entry_pathname (e));
      strcat (names, ";");
    }
  TAP_INT_EQ (r, ARCHIVE_EOF, "%s: tar reader reaches the end", label);
  TAP_STR_EQ (names, "etc/;etc/hello;bin/app;", "%s: entries", label);
  archive_read_free (a);
  TAP_INT_EQ (enclaver_layer_finish (s, got, &err), 0, "%s: digests verified", label);
  TAP_STR_EQ (got, dd, "%s: DiffID is the sha256 of the uncompressed tar", label);
  enclaver_layer_close (s);

  /* Wrong DiffID. */
  char wrong[72];
  strcpy (wrong, dd);
  wrong[70] = wrong[70] == '0' ? '1' : '0';
  s = enclaver_layer_open_path (p, bd, wrong, label, &err);
  TAP_INT_EQ (enclaver_layer_finish (s, NULL, &err), -1, "%s: wrong DiffID detected", label);
  TAP_CONTAINS (err ? err->msg : NULL, "DiffID mismatch", "%s: says DiffID mismatch", label);
  enclaver_error_release (&err);
  enclaver_layer_close (s);

  /* Trailing bytes after a gzip stream still count for the blob digest (generators
   * append NULs); after a zstd frame they are an error. */
  if (filter != 0)
    {
      unsigned char *more = malloc (len + 4);
      memcpy (more, blob, len);
      memcpy (more + len, "\0\0\0\0", 4);
      char *p2 = write_tmp ("trailing", more, len + 4);
      char td[72];
      sha (more, len + 4, td);
      if (filter == 1)
        {
          s = enclaver_layer_open_path (p2, bd, dd, label, &err);
          TAP_INT_EQ (s ? enclaver_layer_finish (s, NULL, &err) : 0, -1, "%s: trailing bytes change the blob digest",
                      label);
          TAP_CONTAINS (err ? err->msg : NULL, "blob digest mismatch", "%s: says blob digest mismatch", label);
          enclaver_error_release (&err);
          enclaver_layer_close (s);
          s = enclaver_layer_open_path (p2, td, dd, label, &err);
          TAP_INT_EQ (s ? enclaver_layer_finish (s, NULL, &err) : -1, 0,
                      "%s: trailing bytes hashed, DiffID unchanged", label);
        }
      else
        {
          s = enclaver_layer_open_path (p2, td, dd, label, &err);
          int rc = s ? enclaver_layer_finish (s, NULL, &err) : -1;
          TAP_INT_EQ (rc, -1, "%s: trailing garbage after the frame is an error", label);
          TAP_CONTAINS (err ? err->msg : NULL, label, "%s: error names the layer", label);
        }
      enclaver_error_release (&err);
      enclaver_layer_close (s);
      unlink (p2);
      free (p2);
      free (more);
    }
  unlink (p);
  free (p);
  free (blob);
  free (raw);
}

int
main (void)
{
  if (mkdtemp (tmpdir) == NULL)
    tap_skip_all ("no temporary directory");
  check_layer (0, "tar", ENCLAVER_COMPRESSION_NONE);
  check_layer (1, "gzip", ENCLAVER_COMPRESSION_GZIP);
  check_layer (2, "zstd", ENCLAVER_COMPRESSION_ZSTD);

  enclaver_error_t err = NULL;
  size_t len;
  unsigned char *bz = make_layer (3, &len);
  tap_ok (enclaver_detect_compression (bz, len, &err) < 0, "bzip2 refused");
  TAP_CONTAINS (err ? err->msg : NULL, "bzip2", "bzip2 named");
  enclaver_error_release (&err);
  char *p = write_tmp ("bz", bz, len);
  tap_ok (enclaver_layer_open_path (p, NULL, NULL, "bz", &err) == NULL, "bzip2 layer cannot be opened");
  enclaver_error_release (&err);
  unlink (p);
  free (p);
  free (bz);
  static const unsigned char junk[] = "this is not a layer at all, just text";
  tap_ok (enclaver_detect_compression (junk, sizeof junk, &err) < 0, "text refused");
  TAP_CONTAINS (err ? err->msg : NULL, "74 68 69 73", "first bytes shown");
  enclaver_error_release (&err);
  unsigned char skippable[16] = { 0x50, 0x2a, 0x4d, 0x18 };
  TAP_INT_EQ (enclaver_detect_compression (skippable, sizeof skippable, &err), ENCLAVER_COMPRESSION_ZSTD,
              "zstd skippable frame first");
  unsigned char zeros[1024] = { 0 };
  TAP_INT_EQ (enclaver_detect_compression (zeros, sizeof zeros, &err), ENCLAVER_COMPRESSION_NONE, "empty tar");
  tap_ok (enclaver_layer_open_path ("/nonexistent/x", NULL, NULL, "x", &err) == NULL, "missing file");
  TAP_CONTAINS (err ? err->msg : NULL, "/nonexistent/x", "path named");
  enclaver_error_release (&err);
  rmdir (tmpdir);
  return tap_done ();
}
