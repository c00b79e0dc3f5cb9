/* enclaver tests: the EIF writer and reader stream their data.
 *
 * Builds an EIF whose second ramdisk is 1 GiB (a sparse file) plus a 64 MiB ramdisk from
 * a callback, reads it back, and checks that the peak resident set size of this process
 * (getrusage ru_maxrss) stays below 64 MiB.  Skipped under AddressSanitizer, whose
 * shadow memory makes RSS meaningless. */
#include "config.h"

#include <sys/resource.h>

#include "tests/tap.h"
#include "tests/eif/eif-test-util.h"

#if defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define UNDER_ASAN 1
# endif
#endif
#if defined(__SANITIZE_ADDRESS__)
# define UNDER_ASAN 1
#endif

#define BIG (1024ULL * 1024 * 1024)
#define CB_SIZE (64ULL * 1024 * 1024)
#define RSS_LIMIT_KB (64L * 1024)

/* A whole-program skip.  The TAP driver (build-aux/tap-driver.sh, without
 * --ignore-exit) reports any non-zero exit status, 77 included, as an ERROR, so the
 * skip is expressed in TAP ("1..0 # SKIP") with exit status 0. */
__attribute__ ((noreturn)) static void
skip_all (const char *why)
{
  printf ("1..0 # SKIP %s\n", why);
  exit (0);
}

static long
max_rss_kb (void)
{
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) < 0)
    return -1;
  return ru.ru_maxrss;
}

struct pattern
{
  uint64_t left;
  uint64_t pos;
};

static ssize_t
pattern_cb (void *opaque, void *buf, size_t len)
{
  struct pattern *p = opaque;
  size_t n = len < p->left ? len : (size_t) p->left;
  for (size_t i = 0; i < n; i++)
    ((uint8_t *) buf)[i] = (uint8_t) ((p->pos + i) * 2654435761u >> 24);
  p->pos += n;
  p->left -= n;
  return (ssize_t) n;
}

int
main (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  struct enclaver_eif_info info;
  enclaver_eif_writer_t *w;
  struct enclaver_eif_metadata md = { .image_name = "big", .image_version = "1" };
  struct pattern pat = { CB_SIZE, 0 };
  char *dir, *big, *out;
  int fd, ok;
  long rss;

#ifdef UNDER_ASAN
  skip_all ("peak RSS is not meaningful under AddressSanitizer");
#endif
  dir = make_tmpdir ();
  if (asprintf (&big, "%s/big.cpio", dir) < 0 || asprintf (&out, "%s/big.eif", dir) < 0)
    abort ();
  fd = open (big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ok = fd >= 0 && ftruncate (fd, (off_t) BIG) == 0 && pwrite (fd, "070701", 6, 0) == 6
       && pwrite (fd, "TRAILER", 7, (off_t) BIG - 7) == 7;
  if (fd >= 0)
    close (fd);
  if (!ok)
    {
      rm_rf (dir);
      skip_all ("cannot create a 1 GiB sparse file");
    }
  tap_diag ("RSS before building: %ld KiB", max_rss_kb ());

  w = enclaver_eif_writer_new (out, &err);
  ok = w && enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_KERNEL, GOLDEN "kernel.bin", &err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "console=ttyS0", 13, &err) == 0
       && enclaver_eif_writer_add_metadata (w, &md, &err) == 0
       && enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_RAMDISK, pattern_cb, &pat, &err) == 0
       && enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_RAMDISK, big, &err) == 0
       && enclaver_eif_writer_finish (w, &m, &err) == 0;
  enclaver_eif_writer_free (w);
  tap_ok (ok, "build an EIF with a 64 MiB streamed ramdisk and a 1 GiB ramdisk");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  rss = max_rss_kb ();
  tap_ok (rss > 0 && rss < RSS_LIMIT_KB, "peak RSS after writing is %ld KiB (< %ld KiB)", rss, RSS_LIMIT_KB);

  ok = enclaver_eif_read (out, 0, &info, &err) == 0;
  tap_ok (ok, "read the big EIF back");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  if (ok)
    {
      uint8_t p2[ENCLAVER_PCR_SIZE];
      TAP_INT_EQ (info.sections[4].size, BIG, "1 GiB section size recorded");
      tap_ok (info.crc_ok, "CRC of the big image verifies");
      tap_ok (memcmp (info.measurements.pcr0, m.pcr0, 48) == 0 && memcmp (info.measurements.pcr1, m.pcr1, 48) == 0
                && memcmp (info.measurements.pcr2, m.pcr2, 48) == 0,
              "reader and writer agree on PCR0/1/2");
      tap_ok (enclaver_pcr_of_file (big, p2, &err) == 0 && memcmp (p2, m.pcr2, 48) == 0,
              "PCR2 equals the PCR of the 1 GiB ramdisk file alone");
      enclaver_error_release (&err);
      enclaver_eif_info_clear (&info);
    }
  rss = max_rss_kb ();
  tap_ok (rss > 0 && rss < RSS_LIMIT_KB, "peak RSS after reading is %ld KiB (< %ld KiB)", rss, RSS_LIMIT_KB);

  rm_rf (dir);
  free (big);
  free (out);
  free (dir);
  return tap_done ();
}
