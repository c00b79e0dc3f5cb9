/* enclaver host launcher: the Nitro Enclaves backend (runtime/host/ne.c) against the
 * fake device (fake-ne.c): the rules of the driver, the launch sequence, the EIF bytes
 * in the donated regions, the region plan, the heartbeat, the pre-flight checks and the
 * message of every failure. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/tap.h"
#include "fake-ne.h"
#include "launcher.h"
#include "ne.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static char tmpdir[64], hb_addr[128], vector1[512];

/* ---- helpers ------------------------------------------------------------------------ */

static long
idx_of (uint64_t size)
{
  int i;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    if (ne_page_sizes[i] == size)
      return i;
  abort ();
}

/* 4 cores x 2 threads: CPU c and c+4 are siblings; the pool is cores 1-3. */
static struct fake_ne_config
base_config (void)
{
  struct fake_ne_config c;
  int i;
  memset (&c, 0, sizeof c);
  c.n_cores = 4;
  c.threads_per_core = 2;
  c.pool = (1u << 1) | (1u << 5) | (1u << 2) | (1u << 6) | (1u << 3) | (1u << 7);
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    c.free_pages[i] = -1;
  c.free_pages[idx_of (2 * MiB)] = 1024;
  c.free_pages[idx_of (GiB)] = 0;
  c.heartbeat_addr = hb_addr;
  return c;
}

static struct ne_launch_params
base_params (const char *eif)
{
  struct ne_launch_params p;
  memset (&p, 0, sizeof p);
  p.eif_path = eif;
  p.memory_mib = 128;
  p.cpu_count = 2;
  p.heartbeat_addr = hb_addr;
  p.heartbeat_timeout_ms = 5000;
  return p;
}

static struct fake_ne *
new_fake (const struct fake_ne_config *c)
{
  char err[256];
  struct fake_ne *f = fake_ne_new (c, err, sizeof err);
  if (f == NULL)
    {
      tap_diag ("fake: %s", err);
      abort ();
    }
  return f;
}

/* Write a file of size bytes of a fixed pseudo-random sequence. */
static void
make_file (const char *path, uint64_t size)
{
  uint64_t x = 0x9E3779B97F4A7C15ull, done = 0;
  static unsigned char buf[1 << 16];
  FILE *fp = fopen (path, "wb");
  if (fp == NULL)
    abort ();
  while (done < size)
    {
      size_t n = size - done > sizeof buf ? sizeof buf : (size_t) (size - done), i;
      for (i = 0; i < n; i++)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          buf[i] = (unsigned char) x;
        }
      if (fwrite (buf, 1, n, fp) != n)
        abort ();
      done += n;
    }
  fclose (fp);
}

/* The bytes at NE_EIF_LOAD_OFFSET across the donated regions (one contiguous space)
 * against the file: 1 when equal. */
static int
regions_hold_file (const struct ne_region *r, size_t n, const char *path)
{
  FILE *fp = fopen (path, "rb");
  uint64_t pos = 0, base = 0;
  size_t i;
  int c, ok = 1;
  if (fp == NULL)
    return 0;
  for (i = 0; i < n && ok; i++)
    {
      for (; pos < base + r[i].size && ok; pos++)
        {
          if (pos < NE_EIF_LOAD_OFFSET)
            continue;
          c = fgetc (fp);
          if (c == EOF)
            goto done;
          if (((unsigned char *) r[i].addr)[pos - base] != (unsigned char) c)
            ok = 0;
        }
      base += r[i].size;
    }
  if (ok && fgetc (fp) != EOF)
    ok = 0; /* the regions ended before the file */
done:
  fclose (fp);
  return ok;
}

/* Launch expected to fail with code in the message; checks nothing is left behind. */
static void
expect_launch_error (struct fake_ne *f, const struct ne_launch_params *p, int code, const char *step,
                     const char *name)
{
  struct ne_enclave e;
  enclaver_error_t err = NULL;
  long free2m = fake_ne_free_pages (f, 2 * MiB);
  int rc = ne_launch (fake_ne_dev (f), p, &e, &err);
  TAP_INT_EQ (rc, -1, "%s: ne_launch fails", name);
  if (err)
    {
      if (code)
        {
          TAP_CONTAINS (err->msg, ne_strerror (code), "%s: the message gives the driver's cause",
                        name);
          TAP_INT_EQ (err->status, code, "%s: status is the NE_ERR code", name);
        }
      if (step)
        TAP_CONTAINS (err->msg, step, "%s: the message names the step", name);
    }
  else
    tap_ok (0, "%s: an error is set", name);
  TAP_INT_EQ (fake_ne_live_mappings (f), 0, "%s: no hugepage mapping left", name);
  TAP_INT_EQ (fake_ne_open_fds (f), 0, "%s: no device or enclave fd left open", name);
  TAP_INT_EQ (fake_ne_free_pages (f, 2 * MiB), free2m, "%s: the hugepages given back", name);
  if (fake_ne_record (f)->created)
    TAP_INT_EQ (fake_ne_record (f)->enclave_closed, 1, "%s: the enclave fd was closed", name);
  enclaver_error_release (&err);
}

/* ---- the NE_ERR table and the timeout --------------------------------------------- */

static void
test_strerror (void)
{
  static const char *names[] = {
    "VCPU_ALREADY_USED",        "VCPU_NOT_IN_CPU_POOL",    "VCPU_INVALID_CPU_CORE",
    "INVALID_MEM_REGION_SIZE",  "INVALID_MEM_REGION_ADDR", "UNALIGNED_MEM_REGION_ADDR",
    "MEM_REGION_ALREADY_USED",  "MEM_NOT_HUGE_PAGE",       "MEM_DIFFERENT_NUMA_NODE",
    "MEM_MAX_REGIONS",          "NO_MEM_REGIONS_ADDED",    "NO_VCPUS_ADDED",
    "ENCLAVE_MEM_MIN_SIZE",     "FULL_CORES_NOT_USED",     "NOT_IN_INIT_STATE",
    "INVALID_VCPU",             "NO_CPUS_AVAIL_IN_POOL",   "INVALID_PAGE_SIZE",
    "INVALID_FLAG_VALUE",       "INVALID_ENCLAVE_CID",
  };
  int code, all = 1, distinct = 1, j;
  char want[64];
  for (code = 256; code <= 275; code++)
    {
      const char *s = ne_strerror (code);
      snprintf (want, sizeof want, "NE_ERR_%s: ", names[code - 256]);
      if (s == NULL || strncmp (s, want, strlen (want)) != 0 || strlen (s) < strlen (want) + 30)
        {
          tap_diag ("code %d: %s", code, s ? s : "(null)");
          all = 0;
        }
      for (j = 256; j < code && s; j++)
        if (ne_strerror (j) && strcmp (ne_strerror (j), s) == 0)
          distinct = 0;
    }
  tap_ok (all, "every NE_ERR_* code 256-275 has a sentence that starts with its name");
  tap_ok (distinct, "the 20 sentences are distinct");
  tap_ok (ne_strerror (255) == NULL && ne_strerror (276) == NULL && ne_strerror (EINVAL) == NULL,
          "other values have no NE sentence");
  TAP_CONTAINS (ne_strerror (NE_ERR_INVALID_ENCLAVE_CID), "--enclave-cid",
                "the CID sentence says which option to change");
  TAP_CONTAINS (ne_strerror (NE_ERR_NO_CPUS_AVAIL_IN_POOL), "allocator",
                "the pool sentence says how to fill the pool");
}

static void
test_timeout (void)
{
  TAP_INT_EQ (ne_heartbeat_timeout_ms (1, 4096), 180000, "timeout: 1 B EIF, 4 GiB: 90 s + 90 s");
  TAP_INT_EQ (ne_heartbeat_timeout_ms (6 * GiB, 4096), 180000, "timeout: 6 GiB EIF is one unit");
  TAP_INT_EQ (ne_heartbeat_timeout_ms (6 * GiB + 1, 4096), 270000, "timeout: 6 GiB + 1 B is two units");
  TAP_INT_EQ (ne_heartbeat_timeout_ms (MiB, 102400), 180000, "timeout: 100 GiB of memory is one unit");
  TAP_INT_EQ (ne_heartbeat_timeout_ms (MiB, 102401), 270000, "timeout: 100 GiB + 1 MiB is two units");
  TAP_INT_EQ (ne_heartbeat_timeout_ms (10 * GiB, 204800), 360000, "timeout: 10 GiB EIF, 200 GiB");
}

/* ---- the region plan ---------------------------------------------------------------- */

struct counts
{
  long n[NE_N_PAGE_SIZES];
  int released[NE_N_PAGE_SIZES];
};

static int
c_alloc (void *ctx, uint64_t size, void **addr)
{
  struct counts *c = ctx;
  long i = idx_of (size);
  *addr = NULL;
  if (c->n[i] <= 0)
    return -1;
  c->n[i]--;
  return 0;
}

static void
c_release (void *ctx, void *addr, uint64_t size)
{
  struct counts *c = ctx;
  (void) addr;
  c->n[idx_of (size)]++;
  c->released[idx_of (size)]++;
}

/* Plan mem with n2m 2 MiB, n16m 16 MiB and n1g 1 GiB pages free; describe the result as
 * "AxSIZE,BxSIZE" in runs of equal sizes, in order. */
static int
plan (uint64_t mem, long n2m, long n16m, long n1g, char *desc, size_t len, uint64_t *missing,
      struct counts *c)
{
  struct ne_region *r;
  size_t n, i, off = 0;
  int rc;
  memset (c, 0, sizeof *c);
  c->n[idx_of (2 * MiB)] = n2m;
  c->n[idx_of (16 * MiB)] = n16m;
  c->n[idx_of (GiB)] = n1g;
  rc = ne_plan_regions (mem, c_alloc, c_release, c, &r, &n, missing);
  desc[0] = '\0';
  for (i = 0; rc == 0 && i < n;)
    {
      size_t j = i;
      while (j < n && r[j].size == r[i].size)
        j++;
      off += (size_t) snprintf (desc + off, len - off, "%s%zux%lluM", off ? "," : "", j - i,
                                (unsigned long long) (r[i].size / MiB));
      i = j;
    }
  if (rc == 0)
    free (r);
  return rc;
}

static void
test_plan (void)
{
  char d[128];
  uint64_t missing = 0;
  struct counts c;

  plan (256 * MiB, 512, 0, 0, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "128x2M", "plan 256 MiB from 2 MiB pages: 128 pages");
  plan (4096 * MiB, 512, 0, 4, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "4x1024M", "plan 4 GiB with four 1 GiB pages free: the 1 GiB pages only");
  plan (1536 * MiB, 1000, 0, 2, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "1x1024M,256x2M", "plan 1.5 GiB: one 1 GiB page, then 2 MiB pages");
  plan (64 * MiB, 100, 2, 0, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "2x16M,16x2M", "plan 64 MiB: 16 MiB pages before 2 MiB ones");
  plan (512 * MiB, 0, 0, 1, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "1x1024M", "plan 512 MiB with only a 1 GiB page: topped up with it (nitro-cli)");
  plan (1030 * MiB, 1, 0, 2, d, sizeof d, &missing, &c);
  TAP_STR_EQ (d, "2x1024M", "plan 1030 MiB: two 1 GiB pages, the surplus 2 MiB page trimmed");
  TAP_INT_EQ (c.released[idx_of (2 * MiB)], 1, "the trimmed 2 MiB page was given back");
  TAP_INT_EQ (c.n[idx_of (2 * MiB)], 1, "the trimmed page is free again");
  TAP_INT_EQ (plan (100 * MiB, 10, 0, 0, d, sizeof d, &missing, &c), -1,
              "plan 100 MiB from ten 2 MiB pages fails");
  TAP_INT_EQ (missing, 80 * MiB, "the shortage is 80 MiB");
  TAP_INT_EQ (c.n[idx_of (2 * MiB)], 10, "the failed plan gave every page back");
}

/* ---- checks without the device ------------------------------------------------------ */

static void
check_msg (const struct ne_launch_params *p, const char *arch, const char *want, const char *notwant,
           const char *name)
{
  enclaver_error_t err = NULL;
  int rc = ne_check_params (p, arch, &err);
  TAP_INT_EQ (rc, -1, "%s: refused", name);
  if (err)
    {
      TAP_CONTAINS (err->msg, want, "%s: the message says what to change", name);
      if (notwant)
        tap_ok (strstr (err->msg, notwant) == NULL, "%s: the message is not about %s", name,
                notwant);
    }
  enclaver_error_release (&err);
}

static void
test_check_params (void)
{
  struct ne_launch_params p = base_params ("app.eif");
  enclaver_error_t err = NULL;
  uint32_t odd_ids[] = { 1, 5, 2 }, zero_ids[] = { 0, 4 }, dup_ids[] = { 1, 1 }, ok_ids[] = { 1, 5 };

  p.eif_size = 10 * MiB;
  p.memory_mib = 4096;
  TAP_INT_EQ (ne_check_params (&p, "x86_64", &err), 0, "2 CPUs, 4 GiB, 10 MiB EIF: accepted");
  p.cpu_count = 3;
  check_msg (&p, "x86_64", "CPU count 3 is odd", "memory", "x86_64, 3 CPUs");
  check_msg (&p, "x86_64", "--cpu-count 2 or 4", NULL, "x86_64, 3 CPUs, the fix");
  TAP_INT_EQ (ne_check_params (&p, "aarch64", &err), 0, "aarch64: 3 CPUs accepted");
  p.cpu_count = 0;
  check_msg (&p, "x86_64", "no CPUs requested", NULL, "0 CPUs");
  p.cpu_count = 2;
  p.cpu_ids = odd_ids;
  p.n_cpu_ids = 3;
  check_msg (&p, "x86_64", "--cpu-ids lists 3 CPUs, an odd count", "memory", "x86_64, 3 CPU ids");
  p.cpu_ids = zero_ids;
  p.n_cpu_ids = 2;
  check_msg (&p, "x86_64", "CPU 0", NULL, "CPU 0 in --cpu-ids");
  p.cpu_ids = dup_ids;
  check_msg (&p, "x86_64", "CPU 1 twice", NULL, "a CPU twice");
  p.cpu_ids = ok_ids;
  TAP_INT_EQ (ne_check_params (&p, "x86_64", &err), 0, "--cpu-ids 1,5 accepted");
  p.cpu_ids = NULL;
  p.n_cpu_ids = 0;
  p.memory_mib = 48;
  p.eif_size = MiB;
  check_msg (&p, "x86_64", "below the Nitro minimum of 64 MiB", NULL, "48 MiB");
  p.memory_mib = 100;
  p.eif_size = 30 * MiB;
  check_msg (&p, "x86_64", "less than 4 times the EIF size", "CPU", "100 MiB for a 30 MiB EIF");
  check_msg (&p, "x86_64", "at least 120", NULL, "100 MiB for a 30 MiB EIF, the fix");
  p.memory_mib = 120;
  TAP_INT_EQ (ne_check_params (&p, "x86_64", &err), 0, "120 MiB for a 30 MiB EIF accepted");
  p.cpu_count = 3;
  p.memory_mib = 100;
  check_msg (&p, "x86_64", "CPU count 3 is odd", "memory", "odd CPUs and low memory: CPUs first");
}

/* ---- pre-flight ---------------------------------------------------------------------- */

static void
preflight_msg (const struct fake_ne_config *c, const struct ne_launch_params *p, const char *want,
               const char *name)
{
  struct fake_ne *f = new_fake (c);
  enclaver_error_t err = NULL;
  TAP_INT_EQ (ne_preflight (fake_ne_dev (f), p, &err), -1, "%s: pre-flight refuses", name);
  if (err)
    TAP_CONTAINS (err->msg, want, "%s: %s", name, want);
  TAP_INT_EQ (fake_ne_open_fds (f), 0, "%s: no fd left open", name);
  TAP_INT_EQ (fake_ne_record (f)->n_log, 0, "%s: no ioctl issued", name);
  enclaver_error_release (&err);
  fake_ne_free (f);
}

static void
test_preflight (void)
{
  struct fake_ne_config c = base_config ();
  struct ne_launch_params p = base_params (vector1);
  struct fake_ne *f;
  enclaver_error_t err = NULL;

  f = new_fake (&c);
  TAP_INT_EQ (ne_preflight (fake_ne_dev (f), &p, &err), 0, "pre-flight passes with the device and 2 MiB pages");
  TAP_INT_EQ (fake_ne_open_fds (f), 0, "pre-flight closes the device again");
  fake_ne_free (f);

  c.open_errno = ENOENT;
  preflight_msg (&c, &p, "/dev/nitro_enclaves does not exist", "device missing");
  preflight_msg (&c, &p, "aws-nitro-enclaves-cli", "device missing, what to install");
  preflight_msg (&c, &p, "modprobe nitro_enclaves", "device missing, the driver");
  c.open_errno = EACCES;
  preflight_msg (&c, &p, "add the user to the `ne` group", "device not accessible");
  preflight_msg (&c, &p, "run as root", "device not accessible, or root");
  c.open_errno = 0;

  c.free_pages[idx_of (2 * MiB)] = 50;
  p.memory_mib = 256;
  preflight_msg (&c, &p, "not enough free hugepages for 256 MiB of enclave memory (156 MiB short)",
                 "50 free 2 MiB pages for 256 MiB");
  preflight_msg (&c, &p, "78 more 2 MiB pages (hugepages-2048kB)", "how many of which size");
  preflight_msg (&c, &p, "1 more 1 GiB page (hugepages-1048576kB)", "or of the larger size");
  preflight_msg (&c, &p, "free now: 0 x 1 GiB, 50 x 2 MiB", "what is free");
  preflight_msg (&c, &p, "/proc/sys/vm/nr_hugepages", "how to reserve them");
  preflight_msg (&c, &p, "nitro-enclaves-allocator.service", "or the allocator");
  c.free_pages[idx_of (GiB)] = 1;
  f = new_fake (&c);
  TAP_INT_EQ (ne_preflight (fake_ne_dev (f), &p, &err), 0,
              "pre-flight passes once a 1 GiB page covers the rest");
  fake_ne_free (f);
  enclaver_error_release (&err);
}

/* ---- a good launch ------------------------------------------------------------------ */

static void
test_launch_ok (void)
{
  struct fake_ne_config c = base_config ();
  struct ne_launch_params p = base_params (vector1);
  struct fake_ne *f = new_fake (&c);
  const struct fake_ne_record *r = fake_ne_record (f);
  struct ne_enclave e;
  enclaver_error_t err = NULL;
  size_t i, n_set = 0, n_add = 0;
  int order = 1, rc;

  rc = ne_launch (fake_ne_dev (f), &p, &e, &err);
  TAP_INT_EQ (rc, 0, "vector1.eif, 128 MiB, 2 CPUs: launched");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  TAP_INT_EQ (r->started, 1, "the enclave was started");
  TAP_INT_EQ (r->heartbeat_refused, 0, "the heartbeat listener existed at NE_START_ENCLAVE");
  TAP_INT_EQ (fake_ne_heartbeat_reply (f), NE_HEARTBEAT_BYTE, "the heartbeat 0xB7 was echoed");
  TAP_INT_EQ (e.cid, 16, "the CID the driver assigned is returned");
  TAP_INT_EQ (r->start_flags, NE_ENCLAVE_PRODUCTION_MODE, "production mode by default");
  TAP_INT_EQ (r->n_regions, 64, "128 MiB donated as 64 regions of 2 MiB");
  TAP_INT_EQ (r->mem_size, 128 * MiB, "the driver got 128 MiB");
  TAP_INT_EQ (e.n_regions, 64, "the enclave owns the 64 regions");
  tap_ok (r->n_cpus == 2 && r->cpus[0] == 1 && r->cpus[1] == 5,
          "2 CPUs from the pool: one whole core (1 and its sibling 5)");
  tap_ok (e.n_cpus == 2 && e.cpus[0] == 1 && e.cpus[1] == 5, "the CPU ids the driver gave are kept");
  tap_ok (rc == 0 && regions_hold_file (r->regions, r->n_regions, vector1),
          "the bytes at 8 MiB across the donated regions are vector1.eif");
  /* The order of EIF.md §7: CREATE_VM, GET_IMAGE_LOAD_INFO, SET_USER_MEMORY_REGION...,
   * ADD_VCPU..., START_ENCLAVE, each succeeding. */
  if (r->n_log < 4 || r->log[0] != NE_CREATE_VM || r->log[1] != NE_GET_IMAGE_LOAD_INFO)
    order = 0;
  for (i = 2; order && i < r->n_log && r->log[i] == NE_SET_USER_MEMORY_REGION; i++)
    n_set++;
  for (; order && i < r->n_log && r->log[i] == NE_ADD_VCPU; i++)
    n_add++;
  if (i + 1 != r->n_log || r->log[i] != NE_START_ENCLAVE)
    order = 0;
  for (i = 0; i < r->n_log; i++)
    if (r->log_rc[i] != 0)
      order = 0;
  tap_ok (order && n_set == 64 && n_add == 2,
          "ioctls in order: CREATE_VM, GET_IMAGE_LOAD_INFO, 64 x SET_USER_MEMORY_REGION, 2 x ADD_VCPU, START");
  for (i = 1; i < r->n_regions; i++)
    if ((uintptr_t) r->regions[i].addr == (uintptr_t) r->regions[i - 1].addr)
      order = 0;
  ne_enclave_close (&e);
  TAP_INT_EQ (r->enclave_closed, 1, "ne_enclave_close closes the enclave fd");
  TAP_INT_EQ (fake_ne_live_mappings (f), 0, "ne_enclave_close unmaps the regions");
  TAP_INT_EQ (fake_ne_open_fds (f), 0, "ne_enclave_close closes the device fd");
  TAP_INT_EQ (fake_ne_free_pages (f, 2 * MiB), 1024, "the hugepages are free again");
  ne_enclave_close (&e);
  tap_ok (1, "ne_enclave_close twice is harmless");
  fake_ne_free (f);

  /* Debug mode, an explicit CID and explicit CPUs. */
  {
    uint32_t ids[] = { 6, 2 };
    f = new_fake (&c);
    r = fake_ne_record (f);
    p.debug_mode = 1;
    p.enclave_cid = 4;
    p.cpu_ids = ids;
    p.n_cpu_ids = 2;
    rc = ne_launch (fake_ne_dev (f), &p, &e, &err);
    TAP_INT_EQ (rc, 0, "debug mode, CID 4, --cpu-ids 6,2: launched");
    enclaver_error_release (&err);
    TAP_INT_EQ (r->start_flags, NE_ENCLAVE_DEBUG_MODE, "the debug flag reached NE_START_ENCLAVE");
    TAP_INT_EQ (e.cid, 4, "CID 4 as asked");
    tap_ok (r->n_cpus == 2 && r->cpus[0] == 6 && r->cpus[1] == 2, "the explicit CPU ids, in order");
    ne_enclave_close (&e);
    fake_ne_free (f);
  }
}

/* A bigger generated EIF across regions of several sizes. */
static void
test_launch_big (void)
{
  struct fake_ne_config c = base_config ();
  struct ne_launch_params p;
  struct fake_ne *f;
  const struct fake_ne_record *r;
  struct ne_enclave e;
  enclaver_error_t err = NULL;
  char path[128];
  int rc;

  snprintf (path, sizeof path, "%s/big.eif", tmpdir);
  make_file (path, 45 * MiB + 777);
  p = base_params (path);
  p.memory_mib = 192;
  c.free_pages[idx_of (16 * MiB)] = 3;
  c.free_pages[idx_of (32 * MiB)] = 2;
  f = new_fake (&c);
  r = fake_ne_record (f);
  rc = ne_launch (fake_ne_dev (f), &p, &e, &err);
  TAP_INT_EQ (rc, 0, "a 45 MiB generated EIF in 192 MiB of 32/16/2 MiB pages: launched");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  tap_ok (rc == 0 && r->n_regions == 2 + 3 + 40 && r->regions[0].size == 32 * MiB && r->regions[1].size == 32 * MiB
            && r->regions[2].size == 16 * MiB && r->regions[5].size == 2 * MiB,
          "regions 2 x 32 MiB, 3 x 16 MiB, 40 x 2 MiB, largest first (%zu)", r->n_regions);
  tap_ok (rc == 0 && regions_hold_file (r->regions, r->n_regions, path),
          "the bytes at 8 MiB across 32, 16 and 2 MiB regions are the generated EIF");
  ne_enclave_close (&e);
  fake_ne_free (f);
  unlink (path);

  /* An EIF that does not fit at the load offset. */
  snprintf (path, sizeof path, "%s/toobig.eif", tmpdir);
  make_file (path, 60 * MiB);
  p = base_params (path);
  p.memory_mib = 64;
  c = base_config ();
  f = new_fake (&c);
  expect_launch_error (f, &p, 0, "does not fit in the enclave memory", "EIF larger than the memory");
  fake_ne_free (f);
  unlink (path);
}

/* ---- failures through ne_launch ---------------------------------------------------- */

static void
launch_error (struct fake_ne_config *c, struct ne_launch_params *p, int code, const char *step,
              const char *name)
{
  struct fake_ne *f = new_fake (c);
  expect_launch_error (f, p, code, step, name);
  fake_ne_free (f);
}

static void
test_launch_errors (void)
{
  struct fake_ne_config c = base_config ();
  struct ne_launch_params p = base_params (vector1);
  uint64_t bad_cids[] = { 1, 2, 3, 0xFFFFFFFFull, 0x100000000ull };
  uint32_t half_core[] = { 1 }, sibling0[] = { 1, 4 }, twice[] = { 1, 1 }, beyond[] = { 1, 9 };
  size_t i;
  char name[64];

  for (i = 0; i < sizeof bad_cids / sizeof bad_cids[0]; i++)
    {
      snprintf (name, sizeof name, "CID %llu", (unsigned long long) bad_cids[i]);
      p.enclave_cid = bad_cids[i];
      launch_error (&c, &p, NE_ERR_INVALID_ENCLAVE_CID, "NE_START_ENCLAVE (CID", name);
    }
  p.enclave_cid = 0;

  p.cpu_ids = half_core;
  p.n_cpu_ids = 1;
  launch_error (&c, &p, NE_ERR_FULL_CORES_NOT_USED, "NE_START_ENCLAVE", "half a core");
  p.cpu_ids = sibling0;
  p.n_cpu_ids = 2;
  launch_error (&c, &p, NE_ERR_VCPU_NOT_IN_CPU_POOL, "NE_ADD_VCPU (CPU 4)", "CPU 0's sibling");
  p.cpu_ids = twice;
  launch_error (&c, &p, NE_ERR_VCPU_ALREADY_USED, "NE_ADD_VCPU (CPU 1)", "a CPU twice");
  p.cpu_ids = beyond;
  launch_error (&c, &p, NE_ERR_INVALID_VCPU, "NE_ADD_VCPU (CPU 9)", "a CPU beyond the instance");
  p.cpu_ids = NULL;
  p.n_cpu_ids = 0;
  p.cpu_count = 8;
  launch_error (&c, &p, NE_ERR_NO_CPUS_AVAIL_IN_POOL, "NE_ADD_VCPU (CPU 7 of 8, from the pool)",
                "more CPUs than the pool");
  p.cpu_count = 0;
  launch_error (&c, &p, NE_ERR_NO_VCPUS_ADDED, "NE_START_ENCLAVE", "no CPUs");
  p.cpu_count = 2;

  c.pool = 0;
  launch_error (&c, &p, NE_ERR_NO_CPUS_AVAIL_IN_POOL, "NE_CREATE_VM", "an empty CPU pool");
  c = base_config ();

  c.max_mem_regions = 4;
  launch_error (&c, &p, NE_ERR_MEM_MAX_REGIONS, "NE_SET_USER_MEMORY_REGION (region 5 of 64)",
                "more regions than the device takes");
  c = base_config ();

  p.memory_mib = 32;
  launch_error (&c, &p, NE_ERR_ENCLAVE_MEM_MIN_SIZE, "NE_START_ENCLAVE", "32 MiB of memory");
  p.memory_mib = 128;

  c.free_pages[idx_of (2 * MiB)] = 10;
  launch_error (&c, &p, 0, "not enough free hugepages for 128 MiB", "too few hugepages");
  c = base_config ();

  c.open_errno = EACCES;
  launch_error (&c, &p, 0, "`ne` group", "an inaccessible device");
  c = base_config ();

  p.eif_path = "/nonexistent/app.eif";
  launch_error (&c, &p, 0, "cannot open /nonexistent/app.eif", "a missing EIF");
  p.eif_path = vector1;
  p.eif_size = 12345;
  launch_error (&c, &p, 0, "changed size", "an EIF whose size changed");
  p.eif_size = 0;

  /* The heartbeat paths: the enclave is terminated and the status says so. */
  {
    static const struct
    {
      enum fake_ne_heartbeat mode;
      const char *why, *name;
    } hb[] = {
      { FAKE_NE_HB_NEVER, "no heartbeat connection from the enclave within 300 ms", "heartbeat never comes" },
      { FAKE_NE_HB_WRONG, "sent heartbeat byte 0x42, not 0xb7", "a wrong heartbeat byte" },
      { FAKE_NE_HB_SILENT, "connected but sent no heartbeat byte within 300 ms", "a silent heartbeat" },
      { FAKE_NE_HB_CLOSE, "closed the heartbeat connection without sending", "a closed heartbeat" },
    };
    for (i = 0; i < sizeof hb / sizeof hb[0]; i++)
      {
        struct fake_ne *f;
        struct ne_enclave e;
        enclaver_error_t err = NULL;
        c.heartbeat = hb[i].mode;
        p.heartbeat_timeout_ms = 300;
        f = new_fake (&c);
        TAP_INT_EQ (ne_launch (fake_ne_dev (f), &p, &e, &err), -1, "%s: fails", hb[i].name);
        TAP_INT_EQ (fake_ne_record (f)->started, 1, "%s: the enclave had been started", hb[i].name);
        TAP_INT_EQ (fake_ne_record (f)->enclave_closed, 1, "%s: the enclave fd was closed", hb[i].name);
        TAP_INT_EQ (fake_ne_live_mappings (f), 0, "%s: the regions were unmapped", hb[i].name);
        TAP_INT_EQ (fake_ne_open_fds (f), 0, "%s: no fd left open", hb[i].name);
        if (err)
          {
            TAP_INT_EQ (err->status, NE_STATUS_HEARTBEAT, "%s: status NE_STATUS_HEARTBEAT (exit 108)",
                        hb[i].name);
            TAP_CONTAINS (err->msg, hb[i].why, "%s: the message gives the cause", hb[i].name);
            TAP_CONTAINS (err->msg, "the enclave was terminated", "%s: the message says it was ended",
                          hb[i].name);
          }
        enclaver_error_release (&err);
        fake_ne_free (f);
      }
    c.heartbeat = FAKE_NE_HB_OK;
    p.heartbeat_timeout_ms = 5000;
  }

  /* A listener that cannot be bound. */
  p.heartbeat_addr = "unix:/nonexistent/dir/hb.sock";
  launch_error (&c, &p, 0, "heartbeat listener", "an unbindable heartbeat address");
}

/* ---- the fake itself: the driver's rules, one by one ------------------------------- */

static void *
huge (const struct ne_dev *d, uint64_t len, uint64_t page)
{
  return d->mmap (d->ud, (size_t) len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | ne_map_huge_flags (page));
}

static int
set_region (const struct ne_dev *d, int efd, void *addr, uint64_t size, uint64_t flags)
{
  struct ne_user_memory_region r = { flags, size, (uint64_t) (uintptr_t) addr };
  return d->ioctl (d->ud, efd, NE_SET_USER_MEMORY_REGION, &r) < 0 ? errno : 0;
}

static void
test_fake_rules (void)
{
  struct fake_ne_config c = base_config ();
  struct fake_ne *f;
  const struct ne_dev *d;
  char err[256], *m, *m2, *m64k;
  void *plain, *plain_base;
  int dfd, efd, dfd2;
  uint64_t slot;
  uint32_t cpu;
  struct ne_image_load_info li;
  struct ne_enclave_start_info si;

  c.pool = 1u << 4 | 1u << 1 | 1u << 5;
  tap_ok (fake_ne_new (&c, err, sizeof err) == NULL, "fake: a pool with CPU 0's sibling is refused");
  c.pool = 1u << 1;
  tap_ok (fake_ne_new (&c, err, sizeof err) == NULL, "fake: a pool with half a core is refused");
  c = base_config ();
  c.heartbeat = FAKE_NE_HB_NEVER;
  f = new_fake (&c);
  d = fake_ne_dev (f);

  tap_ok (d->open (d->ud, "/dev/other", O_RDWR) < 0 && errno == ENOENT, "fake: only %s exists",
          NE_DEVICE_PATH);
  dfd = d->open (d->ud, NE_DEVICE_PATH, O_RDWR);
  cpu = 0;
  TAP_INT_EQ (d->ioctl (d->ud, dfd, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, ENOTTY,
              "fake: NE_ADD_VCPU on the device fd: ENOTTY");
  efd = d->ioctl (d->ud, dfd, NE_CREATE_VM, &slot);
  tap_ok (efd >= 0 && slot != 0, "fake: NE_CREATE_VM gives an enclave fd and a slot");
  TAP_INT_EQ (d->ioctl (d->ud, dfd, NE_CREATE_VM, &slot) < 0 ? errno : 0, EEXIST,
              "fake: a second NE_CREATE_VM on the same device fd: EEXIST");
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_CREATE_VM, &slot) < 0 ? errno : 0, ENOTTY,
              "fake: NE_CREATE_VM on the enclave fd: ENOTTY");

  li.flags = 0;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_GET_IMAGE_LOAD_INFO, &li) < 0 ? errno : 0,
              NE_ERR_INVALID_FLAG_VALUE, "fake: image load flags 0: INVALID_FLAG_VALUE");
  li.flags = 2;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_GET_IMAGE_LOAD_INFO, &li) < 0 ? errno : 0,
              NE_ERR_INVALID_FLAG_VALUE, "fake: image load flags 2: INVALID_FLAG_VALUE");
  li.flags = NE_EIF_IMAGE;
  li.memory_offset = 0;
  tap_ok (d->ioctl (d->ud, efd, NE_GET_IMAGE_LOAD_INFO, &li) == 0 && li.memory_offset == 8 * MiB,
          "fake: NE_EIF_IMAGE loads at 8 MiB");

  si.flags = 0;
  si.enclave_cid = 0;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_NO_MEM_REGIONS_ADDED,
              "fake: START without memory: NO_MEM_REGIONS_ADDED");

  m = huge (d, 64 * MiB, 2 * MiB);
  m2 = huge (d, 2 * MiB, 2 * MiB);
  tap_ok (m != MAP_FAILED && (uintptr_t) m % (2 * MiB) == 0, "fake: hugepage mappings are 2 MiB aligned");
  TAP_INT_EQ (set_region (d, efd, m + 4096, 2 * MiB, 0), NE_ERR_UNALIGNED_MEM_REGION_ADDR,
              "fake: a region 4 KiB off a 2 MiB boundary: UNALIGNED_MEM_REGION_ADDR");
  TAP_INT_EQ (set_region (d, efd, m, 3 * MiB, 0), NE_ERR_INVALID_MEM_REGION_SIZE,
              "fake: a 3 MiB region: INVALID_MEM_REGION_SIZE");
  TAP_INT_EQ (set_region (d, efd, m, 2 * MiB, 1), NE_ERR_INVALID_FLAG_VALUE,
              "fake: region flags 1: INVALID_FLAG_VALUE");
  TAP_INT_EQ (set_region (d, efd, (void *) (uintptr_t) (1ull << 47), 2 * MiB, 0),
              NE_ERR_INVALID_MEM_REGION_ADDR, "fake: a region beyond user space: INVALID_MEM_REGION_ADDR");
  plain_base = mmap (NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  plain = (void *) (((uintptr_t) plain_base + 2 * MiB - 1) & ~(uintptr_t) (2 * MiB - 1));
  TAP_INT_EQ (set_region (d, efd, plain, 2 * MiB, 0), NE_ERR_MEM_NOT_HUGE_PAGE,
              "fake: ordinary memory: MEM_NOT_HUGE_PAGE");
  munmap (plain_base, 4 * MiB);
  m64k = huge (d, 4 * MiB, 64 << 10); /* aligned to 64 KiB only: use its 2 MiB-aligned part */
  TAP_INT_EQ (set_region (d, efd,
                          (void *) (((uintptr_t) m64k + 2 * MiB - 1) & ~(uintptr_t) (2 * MiB - 1)),
                          2 * MiB, 0),
              NE_ERR_INVALID_PAGE_SIZE,
              "fake: 64 KiB hugepages: INVALID_PAGE_SIZE");
  TAP_INT_EQ (set_region (d, efd, m, 64 * MiB + 2 * MiB, 0), NE_ERR_MEM_NOT_HUGE_PAGE,
              "fake: a region running past its mapping: MEM_NOT_HUGE_PAGE");
  TAP_INT_EQ (set_region (d, efd, m, 32 * MiB, 0), 0, "fake: 32 MiB of 2 MiB pages accepted");
  TAP_INT_EQ (set_region (d, efd, m, 32 * MiB, 0), NE_ERR_MEM_REGION_ALREADY_USED,
              "fake: the same region twice: MEM_REGION_ALREADY_USED");
  TAP_INT_EQ (set_region (d, efd, m + 30 * MiB, 4 * MiB, 0), NE_ERR_MEM_REGION_ALREADY_USED,
              "fake: an overlapping region: MEM_REGION_ALREADY_USED");
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_ENCLAVE_MEM_MIN_SIZE,
              "fake: START with 32 MiB: ENCLAVE_MEM_MIN_SIZE");
  TAP_INT_EQ (set_region (d, efd, m + 32 * MiB, 32 * MiB, 0), 0, "fake: the next 32 MiB accepted");
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_NO_VCPUS_ADDED,
              "fake: START without CPUs: NO_VCPUS_ADDED");

  cpu = 0;
  tap_ok (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) == 0 && cpu == 1, "fake: CPU 0 = pick: the pool gives CPU 1");
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_FULL_CORES_NOT_USED,
              "fake: START with half a core: FULL_CORES_NOT_USED");
  cpu = 1;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, NE_ERR_VCPU_ALREADY_USED,
              "fake: CPU 1 again: VCPU_ALREADY_USED");
  cpu = 4;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, NE_ERR_VCPU_NOT_IN_CPU_POOL,
              "fake: CPU 4 (CPU 0's sibling): VCPU_NOT_IN_CPU_POOL");
  cpu = 8;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, NE_ERR_INVALID_VCPU,
              "fake: CPU 8 of an 8-CPU instance: INVALID_VCPU");
  cpu = 0;
  tap_ok (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) == 0 && cpu == 5,
          "fake: the next pick is CPU 1's sibling, 5");

  /* A second enclave on another device fd competes for the same pool. */
  dfd2 = d->open (d->ud, NE_DEVICE_PATH, O_RDWR);
  {
    int efd2 = d->ioctl (d->ud, dfd2, NE_CREATE_VM, &slot);
    cpu = 5;
    TAP_INT_EQ (d->ioctl (d->ud, efd2, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, NE_ERR_VCPU_NOT_IN_CPU_POOL,
                "fake: another enclave's CPU: VCPU_NOT_IN_CPU_POOL");
    d->close (d->ud, efd2);
  }
  d->close (d->ud, dfd2);

  si.flags = 2;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_INVALID_FLAG_VALUE,
              "fake: start flags 2: INVALID_FLAG_VALUE");
  si.flags = 0;
  si.enclave_cid = 3;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_INVALID_ENCLAVE_CID,
              "fake: CID 3 (the parent): INVALID_ENCLAVE_CID");
  si.enclave_cid = 0;
  tap_ok (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) == 0 && si.enclave_cid == 16,
          "fake: START with 64 MiB and a whole core: CID 16 assigned");
  TAP_INT_EQ (fake_ne_record (f)->heartbeat_refused, 0, "fake: no heartbeat attempted in NEVER mode");
  cpu = 0;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu) < 0 ? errno : 0, NE_ERR_NOT_IN_INIT_STATE,
              "fake: ADD_VCPU after START: NOT_IN_INIT_STATE");
  TAP_INT_EQ (set_region (d, efd, m2, 2 * MiB, 0), NE_ERR_NOT_IN_INIT_STATE,
              "fake: SET_USER_MEMORY_REGION after START: NOT_IN_INIT_STATE");
  li.flags = NE_EIF_IMAGE;
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_GET_IMAGE_LOAD_INFO, &li) < 0 ? errno : 0, NE_ERR_NOT_IN_INIT_STATE,
              "fake: GET_IMAGE_LOAD_INFO after START: NOT_IN_INIT_STATE");
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, NE_ERR_NOT_IN_INIT_STATE,
              "fake: START twice: NOT_IN_INIT_STATE");
  d->close (d->ud, efd);
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si) < 0 ? errno : 0, EBADF,
              "fake: a closed enclave fd: EBADF");
  d->munmap (d->ud, m, 64 * MiB);
  d->munmap (d->ud, m2, 2 * MiB);
  d->munmap (d->ud, m64k, 4 * MiB);
  d->close (d->ud, dfd);
  TAP_INT_EQ (fake_ne_live_mappings (f), 0, "fake: every mapping given back");
  fake_ne_free (f);

  /* Without a listener, the enclave's heartbeat connect is refused (what binding late
   * would do to a real enclave's init). */
  c = base_config ();
  f = new_fake (&c);
  d = fake_ne_dev (f);
  dfd = d->open (d->ud, NE_DEVICE_PATH, O_RDWR);
  efd = d->ioctl (d->ud, dfd, NE_CREATE_VM, &slot);
  m = huge (d, 64 * MiB, 2 * MiB);
  set_region (d, efd, m, 64 * MiB, 0);
  cpu = 0;
  d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu);
  cpu = 0;
  d->ioctl (d->ud, efd, NE_ADD_VCPU, &cpu);
  si.flags = 0;
  si.enclave_cid = 0;
  unlink (hb_addr + 5);
  TAP_INT_EQ (d->ioctl (d->ud, efd, NE_START_ENCLAVE, &si), 0, "fake: START without a listener");
  TAP_INT_EQ (fake_ne_record (f)->heartbeat_refused, 1, "fake: the enclave's heartbeat was refused");
  fake_ne_free (f);

  /* Hugepage counts. */
  c = base_config ();
  c.free_pages[idx_of (2 * MiB)] = 2;
  f = new_fake (&c);
  d = fake_ne_dev (f);
  tap_ok (huge (d, 6 * MiB, 2 * MiB) == MAP_FAILED && errno == ENOMEM,
          "fake: 3 pages from 2 free: ENOMEM");
  tap_ok (huge (d, GiB, GiB) == MAP_FAILED && errno == ENOMEM, "fake: no 1 GiB page free: ENOMEM");
  tap_ok (huge (d, 16 * MiB, 16 * MiB) == MAP_FAILED && errno == EINVAL,
          "fake: a size the host lacks: EINVAL");
  fake_ne_free (f);
}

/* ---- the real device's helpers on this machine --------------------------------------- */

static void
test_real_dev (void)
{
  struct ne_launch_params p = base_params (vector1);
  enclaver_error_t err = NULL;
  struct stat st;
  long n;

  /* The uapi's MAP_HUGE_2MB and MAP_HUGE_1GB: log2 of the size, shifted by 26. */
  TAP_INT_EQ (ne_map_huge_flags (2 * MiB), MAP_HUGETLB | (21 << 26), "MAP_HUGE_2MB for 2 MiB pages");
  TAP_INT_EQ (ne_map_huge_flags (GiB), MAP_HUGETLB | (30 << 26), "MAP_HUGE_1GB for 1 GiB pages");
  TAP_INT_EQ (ne_map_huge_size (ne_map_huge_flags (16ull * GiB)), 16ull * GiB,
              "the page size comes back from the flags");
  n = ne_dev_real.free_hugepages (NULL, 2 * MiB);
  if (stat ("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", &st) == 0)
    tap_ok (n >= 0, "real: free 2 MiB hugepages read from sysfs (%ld)", n);
  else
    TAP_INT_EQ (n, -1, "real: no sysfs count for 2 MiB pages: unknown");
  TAP_INT_EQ (ne_dev_real.free_hugepages (NULL, 16ull * GiB), -1, "real: 16 GiB pages unknown here");
  if (stat (NE_DEVICE_PATH, &st) != 0)
    {
      TAP_INT_EQ (ne_preflight (&ne_dev_real, &p, &err), -1, "real: pre-flight without the device fails");
      if (err)
        TAP_CONTAINS (err->msg, "/dev/nitro_enclaves does not exist", "real: it says the device is missing");
      enclaver_error_release (&err);
    }
}

/* ---- the "nitro" host_backend over the fake ------------------------------------------ */

static void
test_backend (void)
{
  struct fake_ne_config c = base_config ();
  struct fake_ne *f = new_fake (&c);
  struct host_backend *b = host_backend_nitro_new (fake_ne_dev (f), hb_addr);
  struct host_run_config rc;
  struct host_enclave e;
  enclaver_error_t err = NULL;
  struct stat st;
  char addr[64];

  memset (&rc, 0, sizeof rc);
  memset (&e, 0, sizeof e);
  stat (vector1, &st);
  rc.eif_path = vector1;
  rc.eif_size = (uint64_t) st.st_size;
  rc.arch = "x86_64";
  rc.memory_mib = 128;
  rc.cpu_count = 3;
  TAP_STR_EQ (b->name, "nitro", "backend: named nitro");
  TAP_INT_EQ (b->check (b, &rc, &err), -1, "backend: check refuses 3 CPUs on x86_64");
  if (err)
    TAP_CONTAINS (err->msg, "CPU count 3 is odd", "backend: with the CPU message");
  enclaver_error_release (&err);
  rc.cpu_count = 2;
  TAP_INT_EQ (b->check (b, &rc, &err), 0, "backend: check passes 2 CPUs, 128 MiB");
  TAP_INT_EQ (fake_ne_record (f)->n_log, 0, "backend: check issues no ioctl");
  TAP_INT_EQ (b->start (b, &rc, &e, &err), 0, "backend: start launches the enclave");
  enclaver_error_release (&err);
  TAP_INT_EQ (e.cid, 16, "backend: the CID");
  TAP_CONTAINS (e.id, "-enc0000000000001001", "backend: the ID ends in -enc and the slot");
  TAP_INT_EQ (e.pid, getpid (), "backend: the launcher holds the enclave");
  b->enclave_addr (b, &e, 17000, addr, sizeof addr);
  TAP_STR_EQ (addr, "vsock:16:17000", "backend: the enclave's status port");
  b->host_addr (b, &e, 17002, addr, sizeof addr);
  TAP_STR_EQ (addr, "vsock:any:17002", "backend: the host's egress listener");
  tap_ok (b->event_fd (b, &e) >= 0, "backend: the enclave fd is the event fd");
  TAP_INT_EQ (b->on_event (b, &e), 0, "backend: a running enclave has not ended");
  b->terminate (b, &e);
  TAP_INT_EQ (fake_ne_record (f)->enclave_closed, 1, "backend: terminate closes the enclave fd");
  TAP_INT_EQ (fake_ne_live_mappings (f), 0, "backend: terminate unmaps the regions");
  b->terminate (b, &e);
  TAP_INT_EQ (b->event_fd (b, &e), -1, "backend: terminate twice is harmless");
  b->destroy (b);
  fake_ne_free (f);
}

/* ---- the debug console (EIF.md §6), played by a unix socket --------------------------- */

static int
unix_listen (const char *path)
{
  struct sockaddr_un a;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  memset (&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (strlen (path) >= sizeof a.sun_path)
    abort ();
  memcpy (a.sun_path, path, strlen (path) + 1);
  unlink (path);
  if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || listen (fd, 4) < 0)
    abort ();
  return fd;
}

/* stderr into a file for the length of a test; returns the saved fd. */
static int
stderr_to (const char *path)
{
  int saved = dup (2), fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  fflush (stderr);
  if (saved < 0 || fd < 0 || dup2 (fd, 2) < 0)
    abort ();
  close (fd);
  return saved;
}

static void
stderr_back (int saved)
{
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
}

static void
slurp (const char *path, char *buf, size_t len)
{
  FILE *fp = fopen (path, "rb");
  size_t n = 0;
  if (fp != NULL)
    {
      n = fread (buf, 1, len - 1, fp);
      fclose (fp);
    }
  buf[n] = '\0';
}

static struct host_backend *
console_backend (struct fake_ne **f, struct host_run_config *rc, const char *tmpl)
{
  struct fake_ne_config c = base_config ();
  struct host_backend *b;
  struct stat st;
  *f = new_fake (&c);
  b = host_backend_nitro_new (fake_ne_dev (*f), hb_addr);
  host_backend_nitro_set_console (b, tmpl);
  memset (rc, 0, sizeof *rc);
  stat (vector1, &st);
  rc->eif_path = vector1;
  rc->eif_size = (uint64_t) st.st_size;
  rc->arch = "x86_64";
  rc->memory_mib = 128;
  rc->cpu_count = 2;
  return b;
}

static void
test_console (void)
{
  static const char lines[] = "hello \033[1;32mgreen\033[0m world\r\n\033]0;title\007second line\nlast, no newline";
  char tmpl[128], sock[128], errfile[128], out[4096];
  struct host_run_config rc;
  struct host_enclave e;
  struct fake_ne *f;
  struct host_backend *b;
  enclaver_error_t err = NULL;
  struct pollfd pfd;
  int lfd, cfd, saved, n;

  snprintf (tmpl, sizeof tmpl, "unix:%s/console-%%u.sock", tmpdir);
  snprintf (sock, sizeof sock, "%s/console-10016.sock", tmpdir); /* CID 16 + 10000 */
  snprintf (errfile, sizeof errfile, "%s/stderr.txt", tmpdir);
  lfd = unix_listen (sock);

  /* Debug mode: the backend connects, the console's lines reach stderr without escapes. */
  b = console_backend (&f, &rc, tmpl);
  rc.debug_mode = 1;
  memset (&e, 0, sizeof e);
  saved = stderr_to (errfile);
  n = b->start (b, &rc, &e, &err);
  cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (cfd >= 0)
    {
      if (write (cfd, lines, sizeof lines - 1) != (ssize_t) (sizeof lines - 1))
        abort ();
      close (cfd);
    }
  pfd.fd = b->event_fd (b, &e);
  pfd.events = POLLIN;
  pfd.revents = 0;
  poll (&pfd, 1, 5000);
  TAP_INT_EQ (b->on_event (b, &e), 0, "console: the console's end is not the enclave's end");
  stderr_back (saved);
  TAP_INT_EQ (n, 0, "console: debug-mode start launches the enclave");
  enclaver_error_release (&err);
  tap_ok (cfd >= 0, "console: the backend connected to the console address (CID + 10000)");
  tap_ok (pfd.fd >= 0 && (pfd.revents & POLLIN), "console: the event fd wakes for the console");
  slurp (errfile, out, sizeof out);
  TAP_CONTAINS (out, "hello green world\nsecond line\nlast, no newline\n", "console: lines on stderr, escapes and CRs removed");
  tap_ok (strchr (out, '\033') == NULL, "console: no escape byte reaches stderr");
  saved = stderr_to (errfile);
  b->terminate (b, &e);
  stderr_back (saved);
  slurp (errfile, out, sizeof out);
  TAP_STR_EQ (out, "", "console: the last partial line was already flushed at the console's end");
  TAP_INT_EQ (fake_ne_record (f)->enclave_closed, 1, "console: terminate still closes the enclave fd");
  b->destroy (b);
  fake_ne_free (f);

  /* Without debug mode nothing connects and the event fd is the enclave's. */
  b = console_backend (&f, &rc, tmpl);
  memset (&e, 0, sizeof e);
  TAP_INT_EQ (b->start (b, &rc, &e, &err), 0, "console: a production-mode start");
  enclaver_error_release (&err);
  cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  TAP_INT_EQ (cfd, -1, "console: without debug mode nothing connects to the console");
  if (cfd >= 0)
    close (cfd);
  TAP_INT_EQ (b->on_event (b, &e), 0, "console: the enclave runs");
  b->terminate (b, &e);
  b->destroy (b);
  fake_ne_free (f);
  close (lfd);
  unlink (sock);

  /* A console that never opens: a warning, and the enclave runs. */
  b = console_backend (&f, &rc, tmpl);
  rc.debug_mode = 1;
  memset (&e, 0, sizeof e);
  saved = stderr_to (errfile);
  n = b->start (b, &rc, &e, &err);
  stderr_back (saved);
  TAP_INT_EQ (n, 0, "console: a console that never opens does not fail the start");
  enclaver_error_release (&err);
  slurp (errfile, out, sizeof out);
  TAP_CONTAINS (out, "no console at unix:", "console: ... it is a warning naming the address");
  TAP_CONTAINS (out, "after 6 attempts", "console: ... after the retries");
  TAP_INT_EQ (b->on_event (b, &e), 0, "console: the enclave runs without its console");
  b->terminate (b, &e);
  b->destroy (b);
  fake_ne_free (f);
  unlink (errfile);
}

int
main (void)
{
  char *t;
  snprintf (tmpdir, sizeof tmpdir, "/tmp/enclaver-test-ne-XXXXXX");
  t = mkdtemp (tmpdir);
  if (t == NULL)
    tap_skip_all ("mkdtemp failed");
  snprintf (hb_addr, sizeof hb_addr, "unix:%s/hb.sock", tmpdir);
  snprintf (vector1, sizeof vector1, "%s/golden/eif/vector1.eif", TOP_SRCDIR);

  test_strerror ();
  test_timeout ();
  test_plan ();
  test_check_params ();
  test_preflight ();
  test_launch_ok ();
  test_launch_big ();
  test_launch_errors ();
  test_fake_rules ();
  test_backend ();
  test_console ();
  test_real_dev ();

  unlink (hb_addr + 5);
  rmdir (tmpdir);
  return tap_done ();
}
