/* gzip layers: the ISA-L inflater (when built with it) against libarchive's gzip
 * filter (ENCLAVER_INFLATE=zlib).  Every blob is built here from a generated tar:
 * gzip members written with zlib at levels 0, 1 and 9, with and without optional
 * header fields, concatenated members, empty members, trailing bytes, and `gzip -1` /
 * `gzip -9` output; then broken copies (truncated, bad CRC32, bad ISIZE, corrupt
 * deflate data).  Both paths must give the same tree, the same DiffID and the same
 * blob digest verification, and reject the broken blobs alike (the trailer checks are
 * the one documented difference: libarchive does not look at the trailer). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"

static struct enclaver_apply_options OPTS;

/* ------------------------------------------------------------------ helpers */

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

/* One gzip member of data[0..n) at level (zlib's gzip wrapper), hdr = optional
 * header fields. */
static void
gz_member (struct lg *out, const void *data, size_t n, int level, gz_header *hdr)
{
  z_stream z;
  memset (&z, 0, sizeof z);
  if (deflateInit2 (&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort ();
  if (hdr && deflateSetHeader (&z, hdr) != Z_OK)
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
write_blob (const void *p, size_t n, const char *tag)
{
  static int seq;
  char *path = malloc (4300);
  snprintf (path, 4300, "%s/inflate-%d-%s.gz", lg_dir_tmp, ++seq, tag);
  FILE *f = fopen (path, "wb");
  if (!f || (n && fwrite (p, 1, n, f) != n) || fclose (f) != 0)
    abort ();
  return path;
}

static unsigned char *
slurp (const char *path, size_t *n)
{
  FILE *f = fopen (path, "rb");
  if (!f)
    return NULL;
  struct lg g = { 0 };
  unsigned char buf[65536];
  size_t k;
  while ((k = fread (buf, 1, sizeof buf, f)) > 0)
    lg_put (&g, buf, k);
  fclose (f);
  *n = g.len;
  return g.b;
}

/* Fingerprint of a tree: every node's path, type, mode, owner, mtime, size, link
 * target, link count and content, in walk order, into one SHA-256. */
static int
fp_cb (const enclaver_tree_t *t, const enclaver_tree_node_t *n, const char *path, size_t len,
       const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  EVP_MD_CTX *md = ud;
  char line[512];
  int k = snprintf (line, sizeof line, "|%d|%o|%u|%u|%lld|%llu|%s|%u|", st->type, st->mode, st->uid, st->gid,
                    (long long) st->mtime, (unsigned long long) st->size, st->link_target ? st->link_target : "-",
                    st->type == ENCLAVER_NODE_DIR ? 0 : st->nlink);
  EVP_DigestUpdate (md, path, len);
  EVP_DigestUpdate (md, line, (size_t) k);
  if (st->type == ENCLAVER_NODE_REG)
    return lg_hash_node (t, n, md, err);
  return 0;
}

static void
fingerprint (enclaver_tree_t *t, char out[80])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
  enclaver_error_t err = NULL;
  if (enclaver_tree_walk (t, NULL, ENCLAVER_TREE_WALK_ROOT, fp_cb, md, &err) < 0)
    {
      tap_diag ("walk: %s", err->msg);
      enclaver_error_release (&err);
    }
  unsigned char d[32];
  EVP_DigestFinal_ex (md, d, NULL);
  EVP_MD_CTX_free (md);
  strcpy (out, "tree:");
  for (int i = 0; i < 32; i++)
    sprintf (out + 5 + 2 * i, "%02x", d[i]);
}

struct outcome
{
  int rc;
  char diff_id[80];
  char fp[80];
  char msg[2048];
};

/* Apply the blob at path to a fresh tree with the default inflater (zlib = 0) or
 * with ENCLAVER_INFLATE=zlib. */
static void
run (const char *path, const char *digest, const char *diff_id, const struct enclaver_apply_options *o, int zlib,
     struct outcome *out)
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
  out->rc = enclaver_tree_apply_layer_file (t, path, digest, diff_id, o ? o : &OPTS, out->diff_id, &err);
  if (out->rc == 0)
    fingerprint (t, out->fp);
  else
    snprintf (out->msg, sizeof out->msg, "%s", err ? err->msg : "(no message)");
  enclaver_error_release (&err);
  enclaver_tree_free (t);
  unsetenv ("ENCLAVER_INFLATE");
}

/* The reference: the generated tar, its DiffID and its tree. */
static unsigned char *TAR;
static size_t TAR_LEN;
static char TAR_DIFF_ID[80], TAR_FP[80];

static uint32_t rng_state = 12345;

static uint32_t
rng (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static void
make_tar (void)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file_full (&g, "etc/passwd", 0644, 0, 0, 1234, "root:x:0:0::/root:/bin/sh\n");
  lg_file (&g, "empty", "");
  /* compressible text, a few hundred KiB */
  size_t n = 300000;
  char *text = malloc (n + 1);
  size_t k = 0;
  for (unsigned i = 0; k + 64 < n; i++)
    k += (size_t) sprintf (text + k, "line %u: the quick brown fox %u jumps over %u\n", i, i * 7, i % 13);
  text[k] = '\0';
  lg_file (&g, "usr/share/doc/text", text);
  free (text);
  /* incompressible bytes (no NUL: lg_file takes a string) */
  n = 200000;
  char *rnd = malloc (n + 1);
  for (size_t i = 0; i < n; i++)
    rnd[i] = (char) (1 + rng () % 255);
  rnd[n] = '\0';
  lg_file_full (&g, "usr/lib/random.bin", 0755, 0, 0, 5678, rnd);
  free (rnd);
  lg_symlink (&g, "bin", "usr/bin");
  lg_hardlink (&g, "etc/passwd-", "etc/passwd");
  lg_end (&g);
  /* tar writers pad to a 10 KiB record: bytes after the end marker */
  static const unsigned char pad[8192];
  lg_put (&g, pad, sizeof pad);
  char *p = lg_write (&g, "none", TAR_DIFF_ID);
  TAR = slurp (p, &TAR_LEN);
  struct outcome o;
  run (p, NULL, TAR_DIFF_ID, NULL, 0, &o);
  if (!tap_ok (o.rc == 0, "the plain tar applies"))
    tap_diag ("%s", o.msg);
  strcpy (TAR_FP, o.fp);
  free (p);
}

/* ------------------------------------------------------------------ checks */

/* A good blob whose decompressed stream is stream[0..sn): both paths apply it, with
 * the stream's DiffID, the reference tree and the blob digest verified. */
static void
expect_ok (const char *what, const struct lg *blob, const void *stream, size_t sn)
{
  char digest[80], want[80];
  sha256_hex (blob->b, blob->len, digest);
  sha256_hex (stream, sn, want);
  char *path = write_blob (blob->b, blob->len, "ok");
  struct outcome a, b;
  run (path, digest, NULL, NULL, 0, &a);
  run (path, digest, NULL, NULL, 1, &b);
  if (!tap_ok (a.rc == 0, "%s: applies (default inflater)", what))
    tap_diag ("%s", a.msg);
  if (!tap_ok (b.rc == 0, "%s: applies (ENCLAVER_INFLATE=zlib)", what))
    tap_diag ("%s", b.msg);
  TAP_STR_EQ (a.diff_id, want, "%s: DiffID of the decompressed stream (default)", what);
  TAP_STR_EQ (b.diff_id, want, "%s: DiffID of the decompressed stream (zlib)", what);
  TAP_STR_EQ (a.fp, TAR_FP, "%s: the tar's tree (default)", what);
  TAP_STR_EQ (b.fp, TAR_FP, "%s: the tar's tree (zlib)", what);
  /* the blob digest covers every byte of the file, trailing bytes included */
  char wrong[80];
  sha256_hex (blob->b, blob->len - 1, wrong);
  run (path, wrong, NULL, NULL, 0, &a);
  run (path, wrong, NULL, NULL, 1, &b);
  tap_ok (a.rc < 0 && strstr (a.msg, "digest mismatch") && b.rc < 0 && strstr (b.msg, "digest mismatch"),
          "%s: a wrong blob digest is rejected on both paths", what);
  free (path);
}

/* A broken blob: both paths reject it (the DiffID of the good stream is given, so
 * nothing wrong can pass silently), naming the layer; with needle, both messages
 * contain it.  Returns the default path's message through *msg_a if wanted. */
static void
expect_fail (const char *what, const struct lg *blob, const char *needle, const char *isal_needle)
{
  char digest[80];
  sha256_hex (blob->b, blob->len, digest);
  char *path = write_blob (blob->b, blob->len, "bad");
  struct outcome a, b;
  run (path, digest, TAR_DIFF_ID, NULL, 0, &a);
  run (path, digest, TAR_DIFF_ID, NULL, 1, &b);
  tap_ok (a.rc < 0, "%s: rejected (default inflater)", what);
  tap_ok (b.rc < 0, "%s: rejected (ENCLAVER_INFLATE=zlib)", what);
  tap_diag ("%s: default: %s", what, a.msg);
  tap_diag ("%s: zlib: %s", what, b.msg);
  TAP_CONTAINS (a.msg, digest, "%s: the error names the layer (default)", what);
  TAP_CONTAINS (b.msg, digest, "%s: the error names the layer (zlib)", what);
  if (needle)
    {
      TAP_CONTAINS (a.msg, needle, "%s: same class of error (default)", what);
      TAP_CONTAINS (b.msg, needle, "%s: same class of error (zlib)", what);
    }
#ifdef HAVE_ISAL
  if (isal_needle)
    TAP_CONTAINS (a.msg, isal_needle, "%s: ISA-L's reason", what);
#else
  (void) isal_needle;
#endif
  free (path);
}

/* A bad trailer (CRC32 or ISIZE): ISA-L rejects it; libarchive does not check the
 * trailer, so the zlib path either rejects it too or gives exactly the good tree. */
static void
expect_bad_trailer (const char *what, const struct lg *blob, const char *member)
{
  char digest[80];
  sha256_hex (blob->b, blob->len, digest);
  char *path = write_blob (blob->b, blob->len, "trailer");
  struct outcome a, b;
  run (path, digest, NULL, NULL, 0, &a);
  run (path, digest, NULL, NULL, 1, &b);
#ifdef HAVE_ISAL
  tap_ok (a.rc < 0, "%s: rejected by ISA-L", what);
  TAP_CONTAINS (a.msg, "trailer does not match", "%s: the error says the trailer is wrong", what);
  TAP_CONTAINS (a.msg, member, "%s: the error names the member", what);
  TAP_CONTAINS (a.msg, digest, "%s: the error names the layer", what);
  tap_diag ("%s: default: %s", what, a.msg);
#else
  tap_ok (a.rc < 0 || (strcmp (a.fp, TAR_FP) == 0 && strcmp (a.diff_id, TAR_DIFF_ID) == 0),
          "%s: rejected or the exact tree (no ISA-L)", what);
#endif
  tap_ok (b.rc < 0 || (strcmp (b.fp, TAR_FP) == 0 && strcmp (b.diff_id, TAR_DIFF_ID) == 0),
          "%s: ENCLAVER_INFLATE=zlib rejects it or gives the exact tree", what);
  tap_diag ("%s: zlib: %s", what, b.rc < 0 ? b.msg : "accepted (libarchive does not check the trailer)");
  free (path);
}

/* ------------------------------------------------------------------ cases */

static void
test_good (void)
{
  struct lg blob = { 0 };
  static const int levels[] = { 9, 1, 0 };
  for (int i = 0; i < 3; i++)
    {
      char what[64];
      snprintf (what, sizeof what, "zlib level %d%s", levels[i], levels[i] == 0 ? " (stored blocks)" : "");
      gz_member (&blob, TAR, TAR_LEN, levels[i], NULL);
      expect_ok (what, &blob, TAR, TAR_LEN);
      free (blob.b);
      memset (&blob, 0, sizeof blob);
    }

  /* every optional header field: extra, name, comment, header CRC */
  {
    unsigned char extra[300];
    for (size_t i = 0; i < sizeof extra; i++)
      extra[i] = (unsigned char) i;
    gz_header h;
    memset (&h, 0, sizeof h);
    h.extra = extra;
    h.extra_len = sizeof extra;
    h.name = (Bytef *) "layer.tar";
    h.comment = (Bytef *) "a comment";
    h.hcrc = 1;
    h.time = 1234567;
    h.os = 3;
    gz_member (&blob, TAR, TAR_LEN, 6, &h);
    tap_ok (blob.b[3] == 0x1e, "header fields: FEXTRA, FNAME, FCOMMENT and FHCRC set (flags %02x)", blob.b[3]);
    expect_ok ("header fields", &blob, TAR, TAR_LEN);
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }

  /* concatenated members, split at odd offsets, mixed levels, the second with header
   * fields */
  {
    size_t cut1 = 1000, cut2 = 70001;
    gz_member (&blob, TAR, cut1, 9, NULL);
    gz_header h;
    memset (&h, 0, sizeof h);
    unsigned char extra[4] = { 'A', 'B', 2, 0 };
    h.extra = extra;
    h.extra_len = 4;
    h.name = (Bytef *) "part2";
    h.hcrc = 1;
    gz_member (&blob, TAR + cut1, cut2 - cut1, 0, &h);
    gz_member (&blob, TAR + cut2, TAR_LEN - cut2, 1, NULL);
    expect_ok ("3 concatenated members", &blob, TAR, TAR_LEN);
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }

  /* empty members at the start, in the middle and at the end */
  {
    gz_member (&blob, "", 0, 6, NULL);
    gz_member (&blob, TAR, TAR_LEN / 2, 6, NULL);
    gz_member (&blob, "", 0, 0, NULL);
    gz_member (&blob, "", 0, 9, NULL);
    gz_member (&blob, TAR + TAR_LEN / 2, TAR_LEN - TAR_LEN / 2, 6, NULL);
    gz_member (&blob, "", 0, 1, NULL);
    expect_ok ("empty members", &blob, TAR, TAR_LEN);
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }

  /* many small members: member ends fall everywhere in the 64 KiB input buffers */
  {
    for (size_t off = 0; off < TAR_LEN; off += 3001)
      gz_member (&blob, TAR + off, TAR_LEN - off < 3001 ? TAR_LEN - off : 3001, (int) (off / 3001 % 10), NULL);
    expect_ok ("many small members", &blob, TAR, TAR_LEN);
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }

  /* bytes after the last member that do not start a member are ignored (and hashed) */
  static const struct
  {
    const char *what;
    const char *bytes;
    size_t n;
  } tails[] = {
    { "trailing text", "this is not gzip\n", 17 },
    { "trailing zeros", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32 },
    { "trailing partial gzip header", "\x1f\x8b\x08\x00", 4 },
    { "trailing 9 bytes of a gzip header", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00", 9 },
    { "trailing header with a reserved flag", "\x1f\x8b\x08\x20\x00\x00\x00\x00\x00\x03garbage", 17 },
    { "trailing header with method 7", "\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\x03garbage", 17 },
    { "trailing header whose name never ends", "\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03no-terminator", 23 },
    { "trailing header whose comment never ends", "\x1f\x8b\x08\x10\x00\x00\x00\x00\x00\x03xyz", 13 },
    { "trailing header cut in its header CRC", "\x1f\x8b\x08\x02\x00\x00\x00\x00\x00\x03\x12", 11 },
    { "trailing header with extra and name cut in the extra", "\x1f\x8b\x08\x0c\x00\x00\x00\x00\x00\x03\x10\x00xy",
      14 },
    { "trailing header cut in XLEN", "\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\x03\x10", 11 },
  };
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
    {
      gz_member (&blob, TAR, TAR_LEN, 6, NULL);
      lg_put (&blob, tails[i].bytes, tails[i].n);
      expect_ok (tails[i].what, &blob, TAR, TAR_LEN);
      free (blob.b);
      memset (&blob, 0, sizeof blob);
    }

  /* a second member that decompresses to bytes after the tar (they are in the DiffID) */
  {
    gz_member (&blob, TAR, TAR_LEN, 6, NULL);
    static const unsigned char more[20000];
    gz_member (&blob, more, sizeof more, 6, NULL);
    unsigned char *stream = malloc (TAR_LEN + sizeof more);
    memcpy (stream, TAR, TAR_LEN);
    memcpy (stream + TAR_LEN, more, sizeof more);
    expect_ok ("a member of zeros after the tar", &blob, stream, TAR_LEN + sizeof more);
    free (stream);
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }
}

/* Real gzip(1) output, with the original name in the header (no -n). */
static void
test_gzip_cli (void)
{
  if (system ("command -v gzip >/dev/null 2>&1") != 0)
    {
      tap_diag ("gzip(1) not installed: the gzip -1/-9 cases are not run");
      return;
    }
  char *plain = write_blob (TAR, TAR_LEN, "plain.tar");
  static const char *levels[] = { "-1", "-9" };
  for (int i = 0; i < 2; i++)
    {
      char cmd[9000], out[4400];
      snprintf (out, sizeof out, "%s/cli%s.tar.gz", lg_dir_tmp, levels[i]);
      snprintf (cmd, sizeof cmd, "gzip %s -c '%s' > '%s'", levels[i], plain, out);
      if (!tap_ok (system (cmd) == 0, "gzip %s ran", levels[i]))
        continue;
      struct lg blob = { 0 };
      blob.b = slurp (out, &blob.len);
      tap_ok (blob.len > 10 && (blob.b[3] & 0x08), "gzip %s: the header carries the file name", levels[i]);
      char what[32];
      snprintf (what, sizeof what, "gzip %s", levels[i]);
      expect_ok (what, &blob, TAR, TAR_LEN);
      /* gzip -c twice, concatenated: what `cat a.gz b.gz` gives */
      struct lg two = { 0 };
      lg_put (&two, blob.b, blob.len);
      lg_put (&two, blob.b, blob.len);
      unsigned char *stream = malloc (2 * TAR_LEN);
      memcpy (stream, TAR, TAR_LEN);
      memcpy (stream + TAR_LEN, TAR, TAR_LEN);
      snprintf (what, sizeof what, "gzip %s, twice", levels[i]);
      expect_ok (what, &two, stream, 2 * TAR_LEN);
      free (stream);
      free (two.b);
      free (blob.b);
    }
  free (plain);
}

static void
test_edge_outcomes (void)
{
  /* blobs whose outcome is not obvious: both paths must agree on it */
  struct
  {
    const char *what;
    struct lg blob;
  } cases[3];
  memset (cases, 0, sizeof cases);
  cases[0].what = "only an empty member";
  gz_member (&cases[0].blob, "", 0, 6, NULL);
  cases[1].what = "only empty members";
  gz_member (&cases[1].blob, "", 0, 6, NULL);
  gz_member (&cases[1].blob, "", 0, 0, NULL);
  cases[2].what = "gzip of an empty tar (end marker only)";
  static const unsigned char endmark[1024];
  gz_member (&cases[2].blob, endmark, sizeof endmark, 9, NULL);
  for (int i = 0; i < 3; i++)
    {
      char digest[80];
      sha256_hex (cases[i].blob.b, cases[i].blob.len, digest);
      char *path = write_blob (cases[i].blob.b, cases[i].blob.len, "edge");
      struct outcome a, b;
      run (path, digest, NULL, NULL, 0, &a);
      run (path, digest, NULL, NULL, 1, &b);
      tap_diag ("%s: default rc %d %s; zlib rc %d %s", cases[i].what, a.rc, a.rc ? a.msg : a.diff_id, b.rc,
                b.rc ? b.msg : b.diff_id);
      tap_ok ((a.rc < 0) == (b.rc < 0), "%s: same outcome on both paths", cases[i].what);
      if (a.rc == 0 && b.rc == 0)
        tap_ok (strcmp (a.diff_id, b.diff_id) == 0 && strcmp (a.fp, b.fp) == 0, "%s: same DiffID and tree",
                cases[i].what);
      free (path);
      free (cases[i].blob.b);
    }
}

static void
test_bad (void)
{
  struct lg good = { 0 };
  gz_member (&good, TAR, TAR_LEN, 9, NULL);
  struct lg blob = { 0 };
  const char *df = "decompression failed";

  /* truncations */
  static const struct
  {
    const char *what;
    size_t cut; /* bytes removed from the end; 0 = keep half */
  } cuts[] = {
    { "truncated in the middle", 0 },
    { "truncated: last byte missing", 1 },
    { "truncated inside the trailer", 4 },
    { "truncated: no trailer", 8 },
    { "truncated: only the last deflate byte and the trailer missing", 9 },
  };
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
    {
      lg_put (&blob, good.b, cuts[i].cut ? good.len - cuts[i].cut : good.len / 2);
      expect_fail (cuts[i].what, &blob, df, "truncated gzip input");
      free (blob.b);
      memset (&blob, 0, sizeof blob);
    }
  /* a second member cut short */
  lg_put (&blob, good.b, good.len);
  gz_member (&blob, TAR, TAR_LEN, 1, NULL);
  blob.len -= 3000;
  expect_fail ("second member truncated", &blob, df, "member 2");
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  /* a second member whose header has only an extra field, cut inside it: libarchive
   * takes the header and then runs out of data */
  lg_put (&blob, good.b, good.len);
  lg_put (&blob, "\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\x03\x10\x00xy", 14);
  expect_fail ("second header cut inside its extra field", &blob, df, "truncated gzip input");
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  /* a complete header after the last member, and nothing after it */
  lg_put (&blob, good.b, good.len);
  lg_put (&blob, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  expect_fail ("a header with no data after the last member", &blob, df, "truncated gzip input");
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  /* the first header cut inside its name */
  {
    gz_header h;
    memset (&h, 0, sizeof h);
    h.name = (Bytef *) "a-long-file-name.tar";
    gz_member (&blob, TAR, TAR_LEN, 6, &h);
    blob.len = 15;
    expect_fail ("first header cut inside its name", &blob, NULL, "truncated gzip input");
    free (blob.b);
    memset (&blob, 0, sizeof blob);
  }

  /* corrupt deflate data */
  lg_put (&blob, good.b, good.len);
  blob.b[10] |= 0x06; /* BTYPE 11, reserved */
  expect_fail ("reserved deflate block type", &blob, df, "invalid deflate block");
  free (blob.b);
  memset (&blob, 0, sizeof blob);

  gz_member (&blob, TAR, TAR_LEN, 0, NULL);
  tap_ok ((blob.b[10] & 0x06) == 0, "level 0 starts with a stored block");
  blob.b[13] ^= 0x01; /* NLEN no longer the complement of LEN */
  expect_fail ("stored block LEN/NLEN mismatch", &blob, df, "invalid deflate block");
  free (blob.b);
  memset (&blob, 0, sizeof blob);

  for (int k = 0; k < 4; k++)
    {
      lg_put (&blob, good.b, good.len);
      size_t at = 10 + (good.len - 18) * (size_t) (k + 1) / 5;
      blob.b[at] ^= (unsigned char) (0x55 << (k & 1));
      char what[64];
      snprintf (what, sizeof what, "deflate byte %zu flipped", at);
      expect_fail (what, &blob, NULL, NULL);
      free (blob.b);
      memset (&blob, 0, sizeof blob);
    }

  /* trailers */
  lg_put (&blob, good.b, good.len);
  blob.b[good.len - 8] ^= 0x01;
  expect_bad_trailer ("CRC32 byte flipped", &blob, "member 1");
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  lg_put (&blob, good.b, good.len);
  blob.b[good.len - 1] ^= 0x80;
  expect_bad_trailer ("ISIZE byte flipped", &blob, "member 1");
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  gz_member (&blob, TAR, 5000, 6, NULL);
  gz_member (&blob, TAR + 5000, 5000, 6, NULL);
  blob.b[blob.len - 6] ^= 0x10; /* CRC32 of member 2 */
  gz_member (&blob, TAR + 10000, TAR_LEN - 10000, 6, NULL);
  expect_bad_trailer ("CRC32 of the second of three members", &blob, "member 2");
  free (blob.b);
  memset (&blob, 0, sizeof blob);

  /* not gzip after all: a header libarchive does not take goes to libarchive */
  lg_put (&blob, good.b, good.len);
  blob.b[2] = 9;
  expect_fail ("gzip magic with method 9", &blob, NULL, NULL);
  free (blob.b);
  memset (&blob, 0, sizeof blob);
  lg_put (&blob, good.b, good.len);
  blob.b[3] = 0x80;
  expect_fail ("gzip magic with a reserved flag bit", &blob, NULL, NULL);
  free (blob.b);
  free (good.b);
}

/* The uncompressed stream is limited to max-bytes + 1 GiB, whether the tar reader
 * consumes it (the data of a whiteout entry, which is skipped, not stored) or it
 * comes after the tar's end.  The blob is small: 1 MiB deflate chunks of zeros,
 * each ending with a full flush, repeated. */
static void
test_stream_limit (void)
{
  const size_t chunk = 1u << 20;
  const unsigned nchunks = 1026; /* 1 GiB + 2 MiB */
  unsigned char *zeros = calloc (1, chunk);
  for (int where = 0; where < 2; where++)
    {
      struct lg tar = { 0 };
      uint64_t stream_len = 0;
      if (where == 0)
        {
          lg_file (&tar, "a", "x");
          lg_hdr (&tar, ".wh.big", '0', 0644, 0, 0, (unsigned long long) nchunks * chunk, 0, NULL, 0, 0);
        }
      else
        {
          lg_file (&tar, "a", "x");
          lg_end (&tar);
        }
      z_stream z;
      memset (&z, 0, sizeof z);
      if (deflateInit2 (&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort ();
      struct lg blob = { 0 };
      lg_put (&blob, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
      unsigned char buf[1 << 16];
      z.next_in = tar.b;
      z.avail_in = (uInt) tar.len;
      do
        {
          z.next_out = buf;
          z.avail_out = sizeof buf;
          deflate (&z, Z_FULL_FLUSH);
          lg_put (&blob, buf, sizeof buf - z.avail_out);
        }
      while (z.avail_out == 0);
      uLong crc = crc32 (0, tar.b, (uInt) tar.len);
      stream_len += tar.len;
      struct lg c = { 0 };
      z.next_in = zeros;
      z.avail_in = (uInt) chunk;
      do
        {
          z.next_out = buf;
          z.avail_out = sizeof buf;
          deflate (&z, Z_FULL_FLUSH);
          lg_put (&c, buf, sizeof buf - z.avail_out);
        }
      while (z.avail_out == 0);
      uLong zcrc = crc32 (0, zeros, (uInt) chunk);
      for (unsigned i = 0; i < nchunks; i++)
        {
          lg_put (&blob, c.b, c.len);
          crc = crc32_combine (crc, zcrc, (z_off_t) chunk);
          stream_len += chunk;
        }
      z.avail_in = 0;
      z.next_out = buf;
      z.avail_out = sizeof buf;
      if (deflate (&z, Z_FINISH) != Z_STREAM_END)
        abort ();
      lg_put (&blob, buf, sizeof buf - z.avail_out);
      deflateEnd (&z);
      unsigned char tr[8];
      for (int i = 0; i < 4; i++)
        {
          tr[i] = (unsigned char) (crc >> (8 * i));
          tr[4 + i] = (unsigned char) (stream_len >> (8 * i));
        }
      lg_put (&blob, tr, 8);
      char digest[80];
      sha256_hex (blob.b, blob.len, digest);
      char *path = write_blob (blob.b, blob.len, "limit");
      struct enclaver_apply_options o = OPTS;
      o.max_bytes = 1 << 20;
      const char *what = where == 0 ? "stream limit in the tar" : "stream limit after the tar end";
      for (int zl = 0; zl < 2; zl++)
        {
          struct outcome r;
          run (path, digest, NULL, &o, zl, &r);
          tap_ok (r.rc < 0, "%s (%s): rejected", what, zl ? "zlib" : "default");
          TAP_CONTAINS (r.msg, "uncompressed stream larger than", "%s (%s): the error names the limit", what,
                        zl ? "zlib" : "default");
          TAP_CONTAINS (r.msg, digest, "%s (%s): the error names the layer", what, zl ? "zlib" : "default");
          if (where == 0)
            TAP_CONTAINS (r.msg, "max-bytes + 1 GiB", "%s (%s): the error says how the limit is set", what,
                          zl ? "zlib" : "default");
        }
      free (path);
      free (c.b);
      free (blob.b);
      free (tar.b);
    }
  free (zeros);
}

/* Where a member ends relative to the 64 KiB output buffers: the tar, then n bytes of
 * text after its end, for many n, each in one member (nothing after its trailer, so
 * the end of the file comes right after ISA-L has taken the last input). */
static void
test_stream_ends (void)
{
  struct lg tar = { 0 };
  lg_file (&tar, "a", "x");
  lg_end (&tar);
  size_t max = 3 * 65536 + 4096;
  unsigned char *s = malloc (tar.len + max);
  memcpy (s, tar.b, tar.len);
  rng_state = 777;
  for (size_t i = 0; i < max; i++)
    s[tar.len + i] = (unsigned char) "abcdefgh\n"[rng () % (rng () % 8 ? 3 : 9)];
  int bad = 0, runs = 0;
  for (size_t n = 65536 - 2 * 1024; n < max && bad < 5; n += 4999)
    for (int level = 1; level <= 6; level += 5)
      {
        struct lg blob = { 0 };
        gz_member (&blob, s, tar.len + n, level, NULL);
        char want[80], digest[80];
        sha256_hex (s, tar.len + n, want);
        sha256_hex (blob.b, blob.len, digest);
        char *path = write_blob (blob.b, blob.len, "end");
        struct outcome a;
        run (path, digest, want, NULL, 0, &a);
        runs++;
        if (a.rc != 0)
          {
            bad++;
            tap_diag ("stream of %zu bytes, level %d: %s", tar.len + n, level, a.msg);
          }
        unlink (path);
        free (path);
        free (blob.b);
      }
  tap_ok (bad == 0, "%d streams ending at different points of the output buffers all apply", runs);
  free (s);
  free (tar.b);
}

/* The switch really switches: libarchive's messages never mention ISA-L. */
static void
test_switch (void)
{
  struct lg blob = { 0 };
  gz_member (&blob, TAR, TAR_LEN, 9, NULL);
  blob.b[10] |= 0x06;
  char digest[80];
  sha256_hex (blob.b, blob.len, digest);
  char *path = write_blob (blob.b, blob.len, "switch");
  struct outcome a, b;
  run (path, digest, NULL, NULL, 0, &a);
  run (path, digest, NULL, NULL, 1, &b);
#ifdef HAVE_ISAL
  TAP_CONTAINS (a.msg, "ISA-L", "without ENCLAVER_INFLATE, ISA-L inflates gzip layers");
#endif
  tap_ok (b.rc < 0 && strstr (b.msg, "ISA-L") == NULL, "ENCLAVER_INFLATE=zlib: libarchive inflates (%s)", b.msg);
  setenv ("ENCLAVER_INFLATE", "isal", 1);
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  int r = enclaver_tree_apply_layer_file (t, path, digest, NULL, &OPTS, NULL, &err);
  tap_ok (r < 0 && strcmp (err->msg, a.msg) == 0, "ENCLAVER_INFLATE=isal is the default");
  enclaver_error_release (&err);
  enclaver_tree_free (t);
  unsetenv ("ENCLAVER_INFLATE");
  free (path);
  free (blob.b);
}

int
main (void)
{
  enclaver_apply_options_init (&OPTS);
  unsetenv ("ENCLAVER_INFLATE");
#ifdef HAVE_ISAL
  tap_diag ("built with ISA-L: default inflater ISA-L, compared with ENCLAVER_INFLATE=zlib");
#else
  tap_diag ("built without ISA-L: both runs use libarchive");
#endif
  make_tar ();
  test_good ();
  test_gzip_cli ();
  test_edge_outcomes ();
  test_bad ();
  test_stream_ends ();
  test_switch ();
  test_stream_limit ();
  free (TAR);
  lg_cleanup ();
  return tap_done ();
}
