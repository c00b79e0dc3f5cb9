/* The layer pipeline of core/tree/layer-file.c (inflate thread, blob digest and DiffID
 * threads with bounded queues, the tar reader on the caller) on layers many times the
 * size of its rings (8 pieces of 256 KiB each way): every file's content arrives
 * intact and in order, the DiffID covers every byte of the stream (also megabytes after
 * the tar end marker), the blob digest every byte of the file, and errors found by the
 * tar reader early (while the inflate thread runs ahead) or by the inflater late (after
 * the tar reader took many pieces) stop the pipeline and name the layer.  Expected
 * digests are computed here with OpenSSL over the bytes this test generated; each case
 * runs with the default inflater (ISA-L when built with it) and ENCLAVER_INFLATE=zlib. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"

static struct enclaver_apply_options OPTS;

static void
sha256_hex (const void *p, size_t n, char out[80])
{
  unsigned char d[32];
  unsigned int dl;
  EVP_Digest (p, n, d, &dl, EVP_sha256 (), NULL);
  strcpy (out, "sha256:");
  for (unsigned i = 0; i < dl; i++)
    sprintf (out + 7 + 2 * i, "%02x", d[i]);
}

/* data[0..n) as one gzip member at level (zlib), appended to out. */
static void
gzip_into (struct lg *out, const void *data, size_t n, int level)
{
  z_stream z;
  memset (&z, 0, sizeof z);
  if (deflateInit2 (&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort ();
  z.next_in = (unsigned char *) (uintptr_t) data;
  z.avail_in = (uInt) n;
  unsigned char buf[65536];
  int r;
  do
    {
      z.next_out = buf;
      z.avail_out = sizeof buf;
      r = deflate (&z, Z_FINISH);
      lg_put (out, buf, sizeof buf - z.avail_out);
    }
  while (r == Z_OK);
  if (r != Z_STREAM_END)
    abort ();
  deflateEnd (&z);
}

static char *
write_file (const void *p, size_t n, const char *tag)
{
  static int seq;
  char *path = malloc (4300);
  if (!lg_dir_tmp[0])
    {
      struct lg g = { 0 };
      free (lg_write (&g, "none", NULL)); /* creates the temp directory */
    }
  snprintf (path, 4300, "%s/pipeline-%d-%s", lg_dir_tmp, ++seq, tag);
  FILE *f = fopen (path, "wb");
  if (!f || (n && fwrite (p, 1, n, f) != n) || fclose (f) != 0)
    abort ();
  return path;
}

static uint32_t rng_state = 2463534242u;

static uint32_t
rng (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* The generated files, to compare the tree against. */
#define NFILES 40
static char *NAME[NFILES];
static char *DATA[NFILES];

/* A tar of NFILES files: small and large, text (compressible) and random bytes
 * (incompressible), about 24 MiB in all, so the stream wraps both rings many times
 * and pieces end inside headers and inside file data. */
static void
make_tar (struct lg *g)
{
  lg_dir (g, "data/", 0755);
  for (int i = 0; i < NFILES; i++)
    {
      size_t n = i % 5 == 0 ? (size_t) (3u << 20) + rng () % 4096 : (size_t) (rng () % 200000) + 1;
      char *d = malloc (n + 1);
      for (size_t k = 0; k < n; k++)
        d[k] = i % 2 ? (char) (1 + rng () % 255) : (char) ('a' + (k / 7 + (size_t) i) % 26);
      d[n] = '\0';
      NAME[i] = malloc (64);
      snprintf (NAME[i], 64, "data/file-%02d", i);
      DATA[i] = d;
      lg_file (g, NAME[i], d);
    }
  lg_end (g);
}

/* Every generated file is in the tree with its content. */
static int
tree_matches (enclaver_tree_t *t)
{
  static unsigned char buf[1 << 16];
  for (int i = 0; i < NFILES; i++)
    {
      const enclaver_tree_node_t *n = enclaver_tree_lookup (t, NAME[i], 0, NULL);
      size_t len = strlen (DATA[i]), off = 0;
      if (n == NULL)
        return tap_diag ("%s missing", NAME[i]), 0;
      for (;;)
        {
          ssize_t k = enclaver_tree_node_read (t, n, off, buf, sizeof buf, NULL);
          if (k < 0)
            return tap_diag ("%s: read failed", NAME[i]), 0;
          if (k == 0)
            break;
          if (off + (size_t) k > len || memcmp (buf, DATA[i] + off, (size_t) k) != 0)
            return tap_diag ("%s: content differs at or after %zu", NAME[i], off), 0;
          off += (size_t) k;
        }
      if (off != len)
        return tap_diag ("%s: %zu bytes, want %zu", NAME[i], off, len), 0;
    }
  return 1;
}

struct outcome
{
  int rc;
  int matches;
  char diff_id[80];
  char msg[2048];
};

static void
run (const char *path, const char *digest, const char *diff_id, int zlib, struct outcome *out)
{
  memset (out, 0, sizeof *out);
  if (zlib)
    setenv ("ENCLAVER_INFLATE", "zlib", 1);
  else
    unsetenv ("ENCLAVER_INFLATE");
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  if (!t)
    abort ();
  out->rc = enclaver_tree_apply_layer_file (t, path, digest, diff_id, &OPTS, out->diff_id, &err);
  if (out->rc == 0)
    out->matches = tree_matches (t);
  else
    snprintf (out->msg, sizeof out->msg, "%s", err ? err->msg : "(no message)");
  enclaver_error_release (&err);
  enclaver_tree_free (t);
  unsetenv ("ENCLAVER_INFLATE");
}

static const char *const INFLATER[2] = { "default inflater", "ENCLAVER_INFLATE=zlib" };

int
main (void)
{
  enclaver_apply_options_init (&OPTS);
  struct lg tar = { 0 };
  make_tar (&tar);
  char tar_id[80];
  sha256_hex (tar.b, tar.len, tar_id);
  tap_diag ("tar of %zu bytes (%zu pieces of 256 KiB)", tar.len, tar.len / (256 * 1024));

  /* 1. a good gzip layer, level 1 and level 9 */
  for (int level = 1; level <= 9; level += 8)
    {
      struct lg gz = { 0 };
      gzip_into (&gz, tar.b, tar.len, level);
      char digest[80], wrong[80];
      sha256_hex (gz.b, gz.len, digest);
      sha256_hex (gz.b, gz.len - 1, wrong);
      char *path = write_file (gz.b, gz.len, "good.gz");
      for (int z = 0; z < 2; z++)
        {
          struct outcome o;
          run (path, digest, tar_id, z, &o);
          if (!tap_ok (o.rc == 0, "gzip -%d layer of %zu MB applies (%s)", level, tar.len >> 20, INFLATER[z]))
            tap_diag ("%s", o.msg);
          TAP_STR_EQ (o.diff_id, tar_id, "gzip -%d: the DiffID is the tar's SHA-256 (%s)", level, INFLATER[z]);
          tap_ok (o.matches, "gzip -%d: every file's content arrives intact (%s)", level, INFLATER[z]);
          run (path, wrong, tar_id, z, &o);
          tap_ok (o.rc < 0 && strstr (o.msg, "digest mismatch") && strstr (o.msg, wrong),
                  "gzip -%d: a wrong blob digest is rejected, naming the layer (%s)", level, INFLATER[z]);
          run (path, digest, "sha256:0000000000000000000000000000000000000000000000000000000000000000", z, &o);
          tap_ok (o.rc < 0 && strstr (o.msg, "diff_id mismatch") && strstr (o.msg, digest),
                  "gzip -%d: a wrong diff_id is rejected, naming the layer (%s)", level, INFLATER[z]);
        }
      free (path);
      free (gz.b);
    }

  /* 2. 5 MiB of zeros after the tar end marker (20 pieces the tar reader never asks
   * for): the DiffID covers them */
  {
    struct lg s = { 0 };
    lg_put (&s, tar.b, tar.len);
    unsigned char *z = calloc (1, 5u << 20);
    lg_put (&s, z, 5u << 20);
    free (z);
    char want[80], digest[80];
    sha256_hex (s.b, s.len, want);
    struct lg gz = { 0 };
    gzip_into (&gz, s.b, s.len, 1);
    sha256_hex (gz.b, gz.len, digest);
    char *path = write_file (gz.b, gz.len, "tail.gz");
    for (int zl = 0; zl < 2; zl++)
      {
        struct outcome o;
        run (path, digest, NULL, zl, &o);
        if (!tap_ok (o.rc == 0, "5 MiB after the tar end: applies (%s)", INFLATER[zl]))
          tap_diag ("%s", o.msg);
        TAP_STR_EQ (o.diff_id, want, "5 MiB after the tar end: in the DiffID (%s)", INFLATER[zl]);
        tap_ok (o.matches, "5 MiB after the tar end: the files intact (%s)", INFLATER[zl]);
      }
    free (path);
    free (gz.b);
    free (s.b);
  }

  /* 3. the tar reader fails at once (the first header's checksum broken) while 24 MB
   * of stream wait to be inflated: the inflate thread is stopped, the error names the
   * layer */
  {
    struct lg s = { 0 };
    lg_put (&s, tar.b, tar.len);
    s.b[148] ^= 0x01; /* checksum field of the first header */
    struct lg gz = { 0 };
    gzip_into (&gz, s.b, s.len, 1);
    char digest[80];
    sha256_hex (gz.b, gz.len, digest);
    char *path = write_file (gz.b, gz.len, "badhdr.gz");
    for (int zl = 0; zl < 2; zl++)
      {
        struct outcome o;
        run (path, digest, NULL, zl, &o);
        tap_ok (o.rc < 0, "a broken first tar header fails (%s)", INFLATER[zl]);
        TAP_CONTAINS (o.msg, digest, "the error names the layer (%s)", INFLATER[zl]);
      }
    free (path);
    free (gz.b);
    free (s.b);
  }

  /* 4. the inflater fails late: a gzip layer cut at 70 % (inside file data, after the
   * tar reader took dozens of pieces); and the same stream with its deflate data
   * corrupted there */
  {
    struct lg gz = { 0 };
    gzip_into (&gz, tar.b, tar.len, 1);
    for (int kind = 0; kind < 2; kind++)
      {
        struct lg b = { 0 };
        size_t cut = gz.len * 7 / 10;
        if (kind == 0)
          lg_put (&b, gz.b, cut);
        else
          {
            lg_put (&b, gz.b, gz.len);
            for (size_t k = cut; k < cut + 64; k++)
              b.b[k] ^= 0x5a;
          }
        char digest[80];
        sha256_hex (b.b, b.len, digest);
        char *path = write_file (b.b, b.len, kind ? "corrupt.gz" : "cut.gz");
        for (int zl = 0; zl < 2; zl++)
          {
            struct outcome o;
            run (path, digest, tar_id, zl, &o);
            tap_ok (o.rc < 0, "%s at 70 %% fails (%s)", kind ? "deflate data corrupted" : "gzip layer cut",
                    INFLATER[zl]);
            TAP_CONTAINS (o.msg, digest, "%s: the error names the layer (%s)", kind ? "corrupted" : "cut",
                          INFLATER[zl]);
            tap_ok (strstr (o.msg, "decompression failed") || strstr (o.msg, "truncated")
                        || strstr (o.msg, "diff_id mismatch"),
                    "%s: the error says what failed (%s): %s", kind ? "corrupted" : "cut", INFLATER[zl], o.msg);
          }
        free (path);
        free (b.b);
      }
    free (gz.b);
  }

  /* 5. an uncompressed tar layer (libarchive's raw reader on the inflate thread) */
  {
    char digest[80];
    sha256_hex (tar.b, tar.len, digest);
    char *path = write_file (tar.b, tar.len, "plain.tar");
    struct outcome o;
    run (path, digest, tar_id, 0, &o);
    if (!tap_ok (o.rc == 0, "an uncompressed %zu MB tar applies", tar.len >> 20))
      tap_diag ("%s", o.msg);
    TAP_STR_EQ (o.diff_id, tar_id, "uncompressed: the DiffID is the tar's SHA-256");
    tap_ok (o.matches, "uncompressed: every file's content arrives intact");
    free (path);
  }

  free (tar.b);
  for (int i = 0; i < NFILES; i++)
    {
      free (NAME[i]);
      free (DATA[i]);
    }
  lg_cleanup ();
  return tap_done ();
}
