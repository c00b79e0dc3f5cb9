/* enclaver tests: push-style sections (begin / write / end) and the writer's worker
 * threads.
 *
 * - vector1 rebuilt with every ramdisk pushed in pieces of awkward sizes (1 byte, odd
 *   sizes, exactly one and just over one internal buffer, several MiB at once) is
 *   byte-identical to the reference file;
 * - a 24 MiB pushed ramdisk: PCRs equal those computed here with OpenSSL over the same
 *   bytes, and the header CRC equals zlib's crc32 over the file (independent of the
 *   writer's CRC code, which may be ISA-L's);
 * - misuse is refused with a message (write with no open section, a second section while
 *   one is open, finish with a section open);
 * - the same, with ramdisk bytes handed over as (file, offset, length) by
 *   enclaver_eif_writer_write_file (hashed from a mapping, copied with copy_file_range)
 *   mixed with plain writes, from two files so the writer maps, unmaps and maps again:
 *   vector1 stays byte-identical, and a 24 MiB ramdisk has the PCRs and bytes computed
 *   here;
 * - a write error on the worker thread (RLIMIT_FSIZE) fails the section with the errno
 *   and the file name, and nothing is left in the output directory. */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>

#include "tests/tap.h"
#include "tests/eif/eif-test-util.h"

#define SLOT (256u * 1024) /* the writer's buffer size (EIF_IO_CHUNK) */

static char *dir;

static char *
tpath (const char *name)
{
  char *p;
  if (asprintf (&p, "%s/%s", dir, name) < 0)
    abort ();
  return p;
}

/* Push len bytes of data in pieces whose sizes cycle through `sizes`. */
static int
push (enclaver_eif_writer_t *w, const uint8_t *data, size_t len, const size_t *sizes, size_t n_sizes,
      enclaver_error_t *err)
{
  size_t off = 0, i = 0;
  while (off < len)
    {
      size_t n = sizes[i++ % n_sizes];
      if (n > len - off)
        n = len - off;
      if (enclaver_eif_writer_write (w, data + off, n, err) < 0)
        return -1;
      off += n;
    }
  return 0;
}

static int
push_file (enclaver_eif_writer_t *w, const char *path, const size_t *sizes, size_t n_sizes, enclaver_error_t *err)
{
  size_t len = 0;
  uint8_t *data = slurp (path, &len);
  int r = -1;
  if (data == NULL)
    return -1;
  if (enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, err) == 0
      && push (w, data, len, sizes, n_sizes, err) == 0 && enclaver_eif_writer_end_section (w, err) == 0)
    r = 0;
  free (data);
  return r;
}

static void
test_vector1_pushed (void)
{
  static const size_t odd[] = { 1, 7, 4093, SLOT - 1, 2, SLOT, SLOT + 1, 3 * SLOT + 17, 9 << 20 };
  static const size_t one[] = { 1 };
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  char *out = tpath ("pushed.eif");
  enclaver_eif_writer_t *w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  uint8_t *a, *b;
  size_t a_len = 0, b_len = 0;
  int ok = w && push_file (w, GOLDEN "ramdisk0.cpio", one, 1, &err) == 0
           && push_file (w, GOLDEN "ramdisk1.cpio", odd, ARRAY_SIZE (odd), &err) == 0
           && enclaver_eif_writer_finish (w, &m, &err) == 0;
  tap_ok (ok, "vector1 with both ramdisks pushed in pieces%s%s", err ? ": " : "", err ? err->msg : "");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  a = slurp (out, &a_len);
  b = slurp (GOLDEN "vector1.eif", &b_len);
  tap_ok (a && b && a_len == b_len && memcmp (a, b, a_len) == 0, "pushed vector1 is byte-identical to the reference");
  tap_ok (ok && pcr_is (m.pcr0, V1_PCR0) && pcr_is (m.pcr1, V1_PCR1) && pcr_is (m.pcr2, V1_PCR2),
          "pushed vector1 has the reference PCR0/1/2");
  free (a);
  free (b);
  free (out);
}

static void
sha384_extend (const uint8_t *const *parts, const size_t *lens, size_t n, uint8_t out[48])
{
  uint8_t buf[96] = { 0 };
  unsigned int dl;
  EVP_MD_CTX *c = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (c, EVP_sha384 (), NULL);
  for (size_t i = 0; i < n; i++)
    EVP_DigestUpdate (c, parts[i], lens[i]);
  EVP_DigestFinal_ex (c, buf + 48, &dl);
  EVP_MD_CTX_free (c);
  EVP_Digest (buf, sizeof buf, out, &dl, EVP_sha384 (), NULL);
}

static void
test_big_push (void)
{
  static const size_t sizes[] = { 65536, 110, 65536 + 5, 512, 3 << 20 };
  const size_t big_len = 24u << 20;
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  char *out = tpath ("big.eif");
  enclaver_eif_writer_t *w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  uint8_t *big = malloc (big_len), *k, *cl, *rd0, *file;
  size_t k_len = 0, cl_len = 0, rd0_len = 0, file_len = 0;
  uint8_t p0[48], p1[48], p2[48];
  int ok;

  if (big == NULL)
    abort ();
  for (size_t i = 0; i < big_len; i++)
    big[i] = (uint8_t) ((i * 2654435761u) >> 13);
  ok = w && push_file (w, GOLDEN "ramdisk0.cpio", sizes, 1, &err) == 0
       && enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err) == 0
       && push (w, big, big_len, sizes, ARRAY_SIZE (sizes), &err) == 0
       && enclaver_eif_writer_end_section (w, &err) == 0 && enclaver_eif_writer_finish (w, &m, &err) == 0;
  tap_ok (ok, "EIF with a 24 MiB pushed ramdisk%s%s", err ? ": " : "", err ? err->msg : "");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);

  k = slurp (GOLDEN "kernel.bin", &k_len);
  cl = slurp (GOLDEN "cmdline.txt", &cl_len);
  rd0 = slurp (GOLDEN "ramdisk0.cpio", &rd0_len);
  {
    const uint8_t *parts0[] = { k, cl, rd0, big };
    const size_t lens0[] = { k_len, cl_len, rd0_len, big_len };
    const uint8_t *parts2[] = { big };
    const size_t lens2[] = { big_len };
    sha384_extend (parts0, lens0, 4, p0);
    sha384_extend (parts0, lens0, 3, p1);
    sha384_extend (parts2, lens2, 1, p2);
  }
  tap_ok (ok && memcmp (m.pcr0, p0, 48) == 0, "PCR0 equals SHA-384 extend of kernel, cmdline and both ramdisks");
  tap_ok (ok && memcmp (m.pcr1, p1, 48) == 0, "PCR1 equals SHA-384 extend of kernel, cmdline and ramdisk 0");
  tap_ok (ok && memcmp (m.pcr2, p2, 48) == 0, "PCR2 equals SHA-384 extend of the pushed ramdisk");

  file = slurp (out, &file_len);
  if (file && file_len > ENCLAVER_EIF_HEADER_SIZE)
    {
      uLong c = crc32 (0, file, 544);
      c = crc32 (c, file + ENCLAVER_EIF_HEADER_SIZE, (uInt) (file_len - ENCLAVER_EIF_HEADER_SIZE));
      uint32_t stored = ((uint32_t) file[544] << 24) | ((uint32_t) file[545] << 16) | ((uint32_t) file[546] << 8)
                        | file[547];
      TAP_INT_EQ ((long long) stored, (long long) c, "header CRC equals zlib's crc32 over the file");
      /* the pushed bytes are in the file, in place: last section before the end */
      tap_ok (file_len >= big_len && memcmp (file + file_len - big_len, big, big_len) == 0,
              "the pushed ramdisk's bytes end the file unchanged");
    }
  else
    {
      tap_ok (0, "read the written EIF back");
      tap_ok (0, "the pushed ramdisk's bytes end the file unchanged");
    }
  free (file);
  free (k);
  free (cl);
  free (rd0);
  free (big);
  free (out);
}


/* A file in dir holding `pre` bytes of 0xee, then data[0..len). */
static int
file_with (const char *name, size_t pre, const uint8_t *data, size_t len, char **path_out)
{
  char *path = tpath (name);
  FILE *f = fopen (path, "wb");
  int fd;
  for (size_t i = 0; f && i < pre; i++)
    fputc (0xee, f);
  if (f == NULL || fwrite (data, 1, len, f) != len || fclose (f) != 0)
    abort ();
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    abort ();
  *path_out = path;
  return fd;
}

static void
test_vector1_by_file (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  char *out = tpath ("byfile.eif");
  enclaver_eif_writer_t *w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  size_t r1_len = 0, a_len = 0, b_len = 0;
  uint8_t *r1 = slurp (GOLDEN "ramdisk1.cpio", &r1_len), *a, *b;
  char *pa = NULL;
  int fd = r1 ? file_with ("r1.bin", 3, r1, r1_len, &pa) : -1;
  int ok = w && r1 && r1_len > 100 && push_file (w, GOLDEN "ramdisk0.cpio", &r1_len, 1, &err) == 0
           && enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err) == 0
           && enclaver_eif_writer_write (w, r1, 5, &err) == 0
           && enclaver_eif_writer_write_file (w, fd, 3 + 5, 90, &err) == 0
           && enclaver_eif_writer_write (w, r1 + 95, 1, &err) == 0
           && enclaver_eif_writer_write_file (w, fd, 3 + 96, r1_len - 96, &err) == 0
           && enclaver_eif_writer_end_section (w, &err) == 0 && enclaver_eif_writer_finish (w, &m, &err) == 0;
  tap_ok (ok, "vector1 with ramdisk 1 partly by file reference%s%s", err ? ": " : "", err ? err->msg : "");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  a = slurp (out, &a_len);
  b = slurp (GOLDEN "vector1.eif", &b_len);
  tap_ok (a && b && a_len == b_len && memcmp (a, b, a_len) == 0, "vector1 by reference is byte-identical to the reference");
  tap_ok (ok && pcr_is (m.pcr0, V1_PCR0) && pcr_is (m.pcr1, V1_PCR1) && pcr_is (m.pcr2, V1_PCR2),
          "vector1 by reference has the reference PCR0/1/2");
  if (fd >= 0)
    close (fd);
  free (a);
  free (b);
  free (r1);
  unlink (pa); /* test_misuse counts what is left in dir */
  unlink (out);
  free (pa);
  free (out);
}

static void
test_big_by_file (void)
{
  const size_t big_len = 24u << 20, cut1 = 3 * SLOT + 17, cut2 = cut1 + 4093, cut3 = cut2 + (5u << 20) + 1;
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  char *out = tpath ("bigfile.eif"), *pa = NULL, *pb = NULL;
  enclaver_eif_writer_t *w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  uint8_t *big = malloc (big_len), *k, *cl, *rd0, *file;
  size_t k_len = 0, cl_len = 0, rd0_len = 0, file_len = 0, one = 1024;
  uint8_t p0[48], p1[48], p2[48];
  int fa, fb, ok;

  if (big == NULL)
    abort ();
  for (size_t i = 0; i < big_len; i++)
    big[i] = (uint8_t) ((i * 2246822519u) >> 11);
  fa = file_with ("big-a.bin", 0, big, big_len, &pa);
  fb = file_with ("big-b.bin", 4097, big, big_len, &pb);
  /* A, plain bytes, B (another file: the writer drains and maps again), then A again */
  ok = w && push_file (w, GOLDEN "ramdisk0.cpio", &one, 1, &err) == 0
       && enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err) == 0
       && enclaver_eif_writer_write_file (w, fa, 0, cut1, &err) == 0
       && enclaver_eif_writer_write (w, big + cut1, cut2 - cut1, &err) == 0
       && enclaver_eif_writer_write_file (w, fb, 4097 + cut2, cut3 - cut2, &err) == 0
       && enclaver_eif_writer_write_file (w, fa, cut3, big_len - cut3, &err) == 0
       && enclaver_eif_writer_end_section (w, &err) == 0 && enclaver_eif_writer_finish (w, &m, &err) == 0;
  tap_ok (ok, "EIF with a 24 MiB ramdisk mostly by file reference%s%s", err ? ": " : "", err ? err->msg : "");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  close (fa);
  close (fb);

  k = slurp (GOLDEN "kernel.bin", &k_len);
  cl = slurp (GOLDEN "cmdline.txt", &cl_len);
  rd0 = slurp (GOLDEN "ramdisk0.cpio", &rd0_len);
  {
    const uint8_t *parts0[] = { k, cl, rd0, big };
    const size_t lens0[] = { k_len, cl_len, rd0_len, big_len };
    const uint8_t *parts2[] = { big };
    const size_t lens2[] = { big_len };
    sha384_extend (parts0, lens0, 4, p0);
    sha384_extend (parts0, lens0, 3, p1);
    sha384_extend (parts2, lens2, 1, p2);
  }
  tap_ok (ok && memcmp (m.pcr0, p0, 48) == 0 && memcmp (m.pcr1, p1, 48) == 0 && memcmp (m.pcr2, p2, 48) == 0,
          "by reference: PCR0/1/2 equal SHA-384 extends computed here");
  file = slurp (out, &file_len);
  if (file && file_len > ENCLAVER_EIF_HEADER_SIZE + big_len)
    {
      uLong c = crc32 (0, file, 544);
      c = crc32 (c, file + ENCLAVER_EIF_HEADER_SIZE, (uInt) (file_len - ENCLAVER_EIF_HEADER_SIZE));
      uint32_t stored = ((uint32_t) file[544] << 24) | ((uint32_t) file[545] << 16) | ((uint32_t) file[546] << 8)
                        | file[547];
      TAP_INT_EQ ((long long) stored, (long long) c, "by reference: header CRC equals zlib's crc32 over the file");
      tap_ok (memcmp (file + file_len - big_len, big, big_len) == 0, "by reference: the ramdisk's bytes end the file unchanged");
    }
  else
    {
      tap_ok (0, "read the written EIF back");
      tap_ok (0, "by reference: the ramdisk's bytes end the file unchanged");
    }
  free (file);
  free (k);
  free (cl);
  free (rd0);
  free (big);
  unlink (pa);
  unlink (pb);
  unlink (out);
  free (pa);
  free (pb);
  free (out);
}

static void
test_misuse (void)
{
  enclaver_error_t err = NULL;
  char *out = tpath ("misuse.eif");
  enclaver_eif_writer_t *w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  struct enclaver_eif_measurements m;
  int r;

  tap_ok (w != NULL, "writer started");
  if (w == NULL)
    return;
  r = enclaver_eif_writer_write (w, "x", 1, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "no section is open"), "write with no open section is refused: %s",
          err ? err->msg : "");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_end_section (w, &err) < 0 && err, "end with no open section is refused");
  enclaver_error_release (&err);
  r = enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_KERNEL, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "expected a ramdisk"), "a section out of order is refused: %s",
          err ? err->msg : "");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err) == 0, "open a ramdisk section");
  tap_ok (enclaver_eif_writer_write (w, "070701", 6, &err) == 0, "write into it");
  r = enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "still open"), "a second open section is refused: %s",
          err ? err->msg : "");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_RAMDISK, "a", 1, &err) < 0 && err,
          "add_buffer while a section is open is refused");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_finish (w, &m, &err) < 0 && err, "finish while a section is open is refused");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  tap_ok (access (out, F_OK) != 0 && count_dir_entries (dir) == 2, "nothing new is left behind (only the earlier EIFs)");
  free (out);
}

static void
test_write_error (void)
{
  enclaver_error_t err = NULL;
  char *sub = tpath ("full"), *out;
  struct rlimit old, lim;
  enclaver_eif_writer_t *w;
  uint8_t *data = calloc (1, 4u << 20);
  int r;

  if (data == NULL || mkdir (sub, 0755) < 0 || asprintf (&out, "%s/x.eif", sub) < 0)
    abort ();
  w = start_vector1 (out, NULL, NULL, ENCLAVER_EIF_ARCH_X86_64, &err);
  tap_ok (w != NULL, "writer for the write-error case started");
  if (w == NULL)
    return;
  /* From now on no file of this process may grow past 2 MiB: pwrite fails with EFBIG on
   * the writer's worker thread (SIGXFSZ ignored). */
  signal (SIGXFSZ, SIG_IGN);
  getrlimit (RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 2u << 20;
  setrlimit (RLIMIT_FSIZE, &lim);
  r = enclaver_eif_writer_begin_section (w, ENCLAVER_EIF_SECTION_RAMDISK, &err) == 0
      && enclaver_eif_writer_write (w, data, 4u << 20, &err) == 0 && enclaver_eif_writer_end_section (w, &err) == 0;
  setrlimit (RLIMIT_FSIZE, &old);
  tap_ok (!r && err && strstr (err->msg, "File too large") && strstr (err->msg, "x.eif"),
          "a failed write on the worker fails the section, naming the file and the error: %s",
          err ? err->msg : "(no error)");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_finish (w, NULL, &err) < 0 && err, "finish after the failure is refused");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  TAP_INT_EQ (count_dir_entries (sub), 0, "the temporary file is removed");
  rmdir (sub);
  free (sub);
  free (out);
  free (data);
}

int
main (void)
{
  dir = make_tmpdir ();
  test_vector1_pushed ();
  test_big_push ();
  test_vector1_by_file ();
  test_big_by_file ();
  test_misuse ();
  test_write_error ();
  rm_rf (dir);
  free (dir);
  return tap_done ();
}
