/* enclaver bench: the NE launch against the fake device (driven by bench/ne-launch.sh).
 *
 *   ne-launch-bench gen PATH BYTES      write a pseudo-random "EIF" of BYTES
 *   ne-launch-bench run PATH REPS       launch it REPS times, memcpy it REPS times
 *
 * run prints one line of key=value figures:
 *   launch_s    best time from the start of ne_launch() to the NE_START_ENCLAVE ioctl
 *               (pre-flight, NE_CREATE_VM, hugepage regions, the EIF copy, regions, vCPUs,
 *               heartbeat listener), at 4 x the EIF size of memory in 1 GiB fake pages;
 *   memcpy_s    best time of memcpy() of the same bytes from the page cache (the EIF
 *               mmap'd with MAP_POPULATE) into fresh anonymous memory, the destination
 *               faulted in as the fake's regions are;
 *   copy_s      of that, the EIF copy alone (NE_GET_IMAGE_LOAD_INFO to the first
 *               NE_SET_USER_MEMORY_REGION);
 *   ratio       memcpy_s / launch_s: the whole launch's bandwidth as a share of memcpy's;
 *   copy_warm_s, memcpy_warm_s, ratio_warm  the copy with the fake's regions faulted in
 *               beforehand (untimed), and memcpy again into its faulted-in destination:
 *               the two copies without page faults (on Nitro the regions are hugetlb
 *               pages, 2 MiB or 1 GiB per fault, where the fake has 4 KiB ones);
 *   hwm_kib     VmHWM at the START ioctl, peak RSS reset (/proc/self/clear_refs "5")
 *               just before ne_launch();
 *   regions_kib the resident bytes of the fake's regions at that moment (/proc/self/smaps);
 *   own_kib     hwm_kib - regions_kib: the launcher's own peak RSS without the donated
 *               memory (the regions only grow until START, so the peak is reached there);
 *   own_anon_kib, file_kib  at START: RssAnon minus the regions (heap, stacks), RssFile
 *               (the program's and shared libraries' pages).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake-ne.h"
#include "ne.h"

#define MiB ((uint64_t) 1 << 20)
#define GiB ((uint64_t) 1 << 30)

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static long
status_kib (const char *key)
{
  FILE *fp = fopen ("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen (key);
  if (fp == NULL)
    return -1;
  while (fgets (line, sizeof line, fp))
    if (strncmp (line, key, n) == 0 && line[n] == ':')
      v = strtol (line + n + 1, NULL, 10);
  fclose (fp);
  return v;
}

static void
reset_hwm (void)
{
  int fd = open ("/proc/self/clear_refs", O_WRONLY);
  if (fd >= 0)
    {
      if (write (fd, "5", 1) != 1)
        perror ("clear_refs");
      close (fd);
    }
}

struct at_start
{
  struct fake_ne *f;
  int warm;             /* fault the regions in before the copy (not timed) */
  double t, t_copy0, t_copy1;
  long hwm_kib, anon_kib, file_kib;
  uint64_t regions;
};

/* The fake calls this as each ioctl begins: the copy runs between NE_GET_IMAGE_LOAD_INFO
 * and the first NE_SET_USER_MEMORY_REGION; NE_START_ENCLAVE ends the timed part. */
static void
on_ioctl (void *arg, unsigned long request)
{
  struct at_start *s = arg;
  if (request == NE_GET_IMAGE_LOAD_INFO)
    {
      if (s->warm)
        fake_ne_touch (s->f);
      s->t_copy0 = now_s ();
    }
  else if (request == NE_SET_USER_MEMORY_REGION && s->t_copy1 == 0)
    s->t_copy1 = now_s ();
  else if (request == NE_START_ENCLAVE)
    {
      s->t = now_s ();
      s->hwm_kib = status_kib ("VmHWM");
      s->anon_kib = status_kib ("RssAnon");
      s->file_kib = status_kib ("RssFile");
      s->regions = fake_ne_resident_bytes (s->f);
    }
}

static int
gen (const char *path, uint64_t size)
{
  static unsigned char buf[1 << 20];
  uint64_t x = 0x2545F4914F6CDD1Dull, done = 0;
  char tmp[4096];
  FILE *fp;
  size_t i;
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fp = fopen (tmp, "wb");
  if (fp == NULL)
    {
      perror (tmp);
      return 1;
    }
  while (done < size)
    {
      size_t n = size - done > sizeof buf ? sizeof buf : (size_t) (size - done);
      for (i = 0; i + 8 <= n; i += 8)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          memcpy (buf + i, &x, 8);
        }
      for (; i < n; i++)
        buf[i] = (unsigned char) i;
      if (fwrite (buf, 1, n, fp) != n)
        {
          perror (tmp);
          fclose (fp);
          return 1;
        }
      done += n;
    }
  if (fclose (fp) != 0 || rename (tmp, path) != 0)
    {
      perror (path);
      return 1;
    }
  return 0;
}

static int
run (const char *path, int reps)
{
  struct stat st;
  char dir[] = "/tmp/enclaver-bench-ne-XXXXXX", hb[128];
  double best_launch = 1e9, best_memcpy = 1e9, best_warm = 1e9, best_copy = 1e9;
  double best_copy_warm = 1e9;
  long hwm = -1, anon = 0, file = 0;
  uint64_t regions = 0, size, mem_mib;
  int i, fd;

  if (stat (path, &st) < 0)
    {
      perror (path);
      return 1;
    }
  size = (uint64_t) st.st_size;
  mem_mib = 4 * ((size + MiB - 1) / MiB);
  if (mem_mib < 64)
    mem_mib = 64;
  if (mkdtemp (dir) == NULL)
    {
      perror ("mkdtemp");
      return 1;
    }
  snprintf (hb, sizeof hb, "unix:%s/hb.sock", dir);

  /* reps cold runs (timed, RSS), then reps warm ones (only the copy is of interest). */
  for (i = 0; i < 2 * reps; i++)
    {
      struct fake_ne_config c;
      struct at_start s;
      struct ne_launch_params p;
      struct ne_enclave e;
      enclaver_error_t err = NULL;
      char ferr[256];
      int k;
      double t0;

      memset (&c, 0, sizeof c);
      c.n_cores = 4;
      c.threads_per_core = 2;
      c.pool = 0xEE; /* cores 1-3 */
      for (k = 0; k < NE_N_PAGE_SIZES; k++)
        c.free_pages[k] = ne_page_sizes[k] == GiB ? (long) ((mem_mib * MiB + GiB - 1) / GiB)
                          : ne_page_sizes[k] == 2 * MiB ? 1024 : -1;
      c.heartbeat_addr = hb;
      c.on_ioctl = on_ioctl;
      c.on_ioctl_arg = &s;
      memset (&s, 0, sizeof s);
      s.warm = i >= reps;
      s.f = fake_ne_new (&c, ferr, sizeof ferr);
      if (s.f == NULL)
        {
          fprintf (stderr, "%s\n", ferr);
          return 1;
        }
      memset (&p, 0, sizeof p);
      p.eif_path = path;
      p.eif_size = size;
      p.memory_mib = mem_mib;
      p.cpu_count = 2;
      p.heartbeat_addr = hb;
      p.heartbeat_timeout_ms = 10000;
      reset_hwm ();
      t0 = now_s ();
      if (ne_launch (fake_ne_dev (s.f), &p, &e, &err) < 0)
        {
          fprintf (stderr, "ne_launch: %s\n", err->msg);
          enclaver_error_release (&err);
          return 1;
        }
      if (s.warm)
        {
          if (s.t_copy1 - s.t_copy0 < best_copy_warm)
            best_copy_warm = s.t_copy1 - s.t_copy0;
        }
      else
        {
          if (s.t - t0 < best_launch)
            best_launch = s.t - t0;
          if (s.t_copy1 - s.t_copy0 < best_copy)
            best_copy = s.t_copy1 - s.t_copy0;
        }
      if (!s.warm && (hwm < 0 || s.hwm_kib - (long) (s.regions >> 10) > hwm - (long) (regions >> 10)))
        {
          hwm = s.hwm_kib;
          regions = s.regions;
          anon = s.anon_kib;
          file = s.file_kib;
        }
      ne_enclave_close (&e);
      fake_ne_free (s.f);
    }

  fd = open (path, O_RDONLY);
  for (i = 0; fd >= 0 && i < reps; i++)
    {
      void *src = mmap (NULL, (size_t) size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      void *dst = mmap (NULL, (size_t) size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      double t0;
      if (src == MAP_FAILED || dst == MAP_FAILED)
        {
          perror ("mmap");
          return 1;
        }
      t0 = now_s ();
      memcpy (dst, src, (size_t) size);
      t0 = now_s () - t0;
      if (t0 < best_memcpy)
        best_memcpy = t0;
      /* Again into the now faulted-in destination: memcpy's bandwidth without page faults. */
      t0 = now_s ();
      memcpy (dst, src, (size_t) size);
      t0 = now_s () - t0;
      if (t0 < best_warm)
        best_warm = t0;
      if (((volatile unsigned char *) dst)[size / 2] != ((unsigned char *) src)[size / 2])
        abort ();
      munmap (src, (size_t) size);
      munmap (dst, (size_t) size);
    }
  if (fd >= 0)
    close (fd);
  snprintf (hb, sizeof hb, "%s/hb.sock", dir);
  unlink (hb);
  rmdir (dir);

  printf ("eif_bytes=%llu memory_mib=%llu launch_s=%.4f copy_s=%.4f memcpy_s=%.4f "
          "ratio=%.2f copy_warm_s=%.4f memcpy_warm_s=%.4f ratio_warm=%.2f hwm_kib=%ld "
          "regions_kib=%llu own_kib=%ld own_anon_kib=%ld file_kib=%ld\n",
          (unsigned long long) size, (unsigned long long) mem_mib, best_launch, best_copy,
          best_memcpy, best_memcpy / best_launch, best_copy_warm, best_warm,
          best_warm / best_copy_warm, hwm,
          (unsigned long long) (regions >> 10), hwm - (long) (regions >> 10),
          anon - (long) (regions >> 10), file);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "gen") == 0)
    return gen (argv[2], strtoull (argv[3], NULL, 10));
  if (argc == 4 && strcmp (argv[1], "run") == 0)
    return run (argv[2], atoi (argv[3]));
  fprintf (stderr, "usage: %s gen PATH BYTES | run PATH REPS\n", argv[0]);
  return 2;
}
