/* enclaver host launcher: the Nitro Enclaves device backend (see ne.h).
 *
 * One function per step of EIF.md §7.  Every step that can fail says which step and why;
 * a driver refusal is decoded with ne_strerror().  On failure ne_launch() undoes all it
 * did (ne_enclave_close on the partial enclave): nothing stays mapped or open. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ne.h"
#include "transport.h"

#define MiB ((uint64_t) 1 << 20)
#define GiB ((uint64_t) 1 << 30)
#define NE_DEFAULT_HEARTBEAT_ADDR "vsock:3:9000"
#define NE_PREAD_CHUNK (1ull << 30) /* Linux moves at most ~2 GiB per read anyway */

/* ---- the real device ---------------------------------------------------------------- */

static int
real_open (void *ud, const char *path, int flags)
{
  (void) ud;
  return open (path, flags);
}

static int
real_ioctl (void *ud, int fd, unsigned long request, void *arg)
{
  (void) ud;
  return ioctl (fd, request, arg);
}

static void *
real_mmap (void *ud, size_t len, int prot, int flags)
{
  (void) ud;
  return mmap (NULL, len, prot, flags, -1, 0);
}

static int
real_munmap (void *ud, void *addr, size_t len)
{
  (void) ud;
  return munmap (addr, len);
}

static int
real_close (void *ud, int fd)
{
  (void) ud;
  return close (fd);
}

static long
real_free_hugepages (void *ud, uint64_t page_size)
{
  char path[96], buf[32];
  ssize_t n;
  long v;
  char *end;
  int fd;
  (void) ud;
  snprintf (path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
            page_size >> 10);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  v = strtol (buf, &end, 10);
  if (end == buf || v < 0)
    return -1;
  return v;
}

const struct ne_dev ne_dev_real = {
  .ud = NULL,
  .open = real_open,
  .ioctl = real_ioctl,
  .mmap = real_mmap,
  .munmap = real_munmap,
  .close = real_close,
  .free_hugepages = real_free_hugepages,
};

/* ---- helpers ------------------------------------------------------------------------ */

static const char *
fmt_size (char *buf, size_t len, uint64_t bytes)
{
  if (bytes >= GiB && bytes % GiB == 0)
    snprintf (buf, len, "%" PRIu64 " GiB", bytes / GiB);
  else
    snprintf (buf, len, "%" PRIu64 " MiB", (bytes + MiB - 1) / MiB);
  return buf;
}

/* "WHAT failed: why", why being the driver's sentence for an NE_ERR_* code; the
 * error's status is the errno value the ioctl gave (the NE_ERR_* code itself). */
static int
ioctl_error (enclaver_error_t *err, int e, const char *what)
{
  const char *s = ne_strerror (e);
  return enclaver_make_error (err, e, "%s failed: %s", what, s != NULL ? s : strerror (e));
}

static const char *
host_arch (void)
{
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

/* ---- checks without the device ------------------------------------------------------ */

int
ne_check_params (const struct ne_launch_params *p, const char *arch, enclaver_error_t *err)
{
  uint32_t ncpu = p->n_cpu_ids ? (uint32_t) p->n_cpu_ids : p->cpu_count;
  uint64_t eif_mib = (p->eif_size + MiB - 1) / MiB, need;
  size_t i, j;

  if (arch == NULL)
    arch = host_arch ();
  /* CPUs first, and in words about CPUs (Enclaver's bug #16 reported an odd CPU count
   * as a memory problem). */
  if (ncpu == 0)
    return enclaver_make_error (err, EINVAL,
                                "no CPUs requested: an enclave needs at least one core; set "
                                "--cpu-count (defaults.cpu_count in enclaver.yaml) to %s",
                                strcmp (arch, "x86_64") == 0 ? "2" : "1 or more");
  for (i = 0; i < p->n_cpu_ids; i++)
    {
      if (p->cpu_ids[i] == 0)
        return enclaver_make_error (err, EINVAL,
                                    "--cpu-ids lists CPU 0, which stays with the parent instance "
                                    "(with its sibling threads): choose CPUs from "
                                    "/sys/module/nitro_enclaves/parameters/ne_cpus");
      for (j = 0; j < i; j++)
        if (p->cpu_ids[j] == p->cpu_ids[i])
          return enclaver_make_error (err, EINVAL, "--cpu-ids lists CPU %" PRIu32 " twice",
                                      p->cpu_ids[i]);
    }
  if (strcmp (arch, "x86_64") == 0 && ncpu % 2 != 0)
    {
      if (p->n_cpu_ids)
        return enclaver_make_error (
          err, EINVAL,
          "--cpu-ids lists %" PRIu32 " CPUs, an odd count: on x86_64 an enclave takes whole "
          "cores, two hyper-threads each, so list both threads of every core (the pairs are in "
          "/sys/devices/system/cpu/cpuN/topology/thread_siblings_list)",
          ncpu);
      return enclaver_make_error (
        err, EINVAL,
        "CPU count %" PRIu32 " is odd: on x86_64 an enclave takes whole cores, two hyper-threads "
        "each, so the CPU count must be even; use --cpu-count %" PRIu32 " or %" PRIu32
        " (defaults.cpu_count in enclaver.yaml)",
        ncpu, ncpu > 1 ? ncpu - 1 : 2, ncpu + 1);
    }
  if (p->memory_mib < NE_MIN_ENCLAVE_MEM_MIB)
    return enclaver_make_error (err, EINVAL,
                                "enclave memory %" PRIu64 " MiB is below the Nitro minimum of %d MiB: "
                                "raise --memory (defaults.memory_mb in enclaver.yaml) to at least %d",
                                p->memory_mib, NE_MIN_ENCLAVE_MEM_MIB, NE_MIN_ENCLAVE_MEM_MIB);
  need = NE_MEMORY_EIF_RATIO * eif_mib;
  if (p->memory_mib < need)
    return enclaver_make_error (
      err, EINVAL,
      "enclave memory %" PRIu64 " MiB is less than %d times the EIF size (%s is %" PRIu64
      " MiB; the enclave unpacks it in its own memory): raise --memory (defaults.memory_mb in "
      "enclaver.yaml) to at least %" PRIu64,
      p->memory_mib, NE_MEMORY_EIF_RATIO, p->eif_path ? p->eif_path : "the EIF", eif_mib, need);
  return 0;
}

/* ---- pre-flight: device and hugepages ---------------------------------------------- */

static int
open_device (const struct ne_dev *dev, enclaver_error_t *err)
{
  int fd = dev->open (dev->ud, NE_DEVICE_PATH, O_RDWR | O_CLOEXEC);
  int e = errno;
  if (fd >= 0)
    return fd;
  if (e == ENOENT || e == ENXIO || e == ENODEV)
    return enclaver_make_error (
      err, e,
      "%s does not exist: the Nitro Enclaves driver is not loaded. On an EC2 instance launched "
      "with enclaves enabled (--enclave-options Enabled=true), install aws-nitro-enclaves-cli "
      "(it sets up the driver and the allocator) or load it with `modprobe nitro_enclaves`",
      NE_DEVICE_PATH);
  if (e == EACCES || e == EPERM)
    return enclaver_make_error (err, e,
                                "%s is not accessible to this user: add the user to the `ne` "
                                "group (`sudo usermod -aG ne $USER`, then log in again) or run "
                                "as root",
                                NE_DEVICE_PATH);
  return enclaver_make_errno (err, e, "cannot open %s", NE_DEVICE_PATH);
}

struct count_ctx
{
  long free[NE_N_PAGE_SIZES];
};

static int
count_alloc (void *ctx, uint64_t page_size, void **addr)
{
  struct count_ctx *c = ctx;
  size_t i;
  *addr = NULL;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    if (ne_page_sizes[i] == page_size && c->free[i] > 0)
      {
        c->free[i]--;
        return 0;
      }
  return -1;
}

static void
count_release (void *ctx, void *addr, uint64_t page_size)
{
  struct count_ctx *c = ctx;
  size_t i;
  (void) addr;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    if (ne_page_sizes[i] == page_size)
      c->free[i]++;
}

/* The "reserve more" advice for missing bytes, given which sizes the host has. */
static void
hugepage_advice (char *buf, size_t len, const long *counts, uint64_t missing)
{
  char sz[32], list[256] = "", more[256] = "";
  size_t i, off = 0, moff = 0;
  int any = 0;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    if (counts[i] >= 0)
      {
        uint64_t pages = (missing + ne_page_sizes[i] - 1) / ne_page_sizes[i];
        fmt_size (sz, sizeof sz, ne_page_sizes[i]);
        if (off < sizeof list)
          off += (size_t) snprintf (list + off, sizeof list - off, "%s%ld x %s", any ? ", " : "",
                                    counts[i], sz);
        if (moff < sizeof more)
          moff += (size_t) snprintf (more + moff, sizeof more - moff,
                                     "%s%" PRIu64 " more %s page%s (hugepages-%" PRIu64 "kB)",
                                     any ? " or " : "", pages, sz, pages == 1 ? "" : "s",
                                     ne_page_sizes[i] >> 10);
        any = 1;
      }
  snprintf (buf, len,
            "free now: %s; reserve %s by raising /sys/kernel/mm/hugepages/hugepages-<size>kB/"
            "nr_hugepages (/proc/sys/vm/nr_hugepages for the default size), or set memory_mib in "
            "/etc/nitro_enclaves/allocator.yaml and restart nitro-enclaves-allocator.service",
            list, more);
}

static int
check_hugepages (const struct ne_dev *dev, uint64_t mem_bytes, enclaver_error_t *err)
{
  struct count_ctx c;
  struct ne_region *r = NULL;
  size_t n = 0, i;
  uint64_t missing = 0;
  int known = 0;
  char advice[768], sz[32], msz[32];

  if (dev->free_hugepages == NULL)
    return 0;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    {
      c.free[i] = dev->free_hugepages (dev->ud, ne_page_sizes[i]);
      if (c.free[i] >= 0)
        known = 1;
    }
  if (!known)
    return 0; /* no hugepage counts on this host: the allocation itself will tell */
  {
    long counts[NE_N_PAGE_SIZES];
    memcpy (counts, c.free, sizeof counts);
    for (i = 0; i < NE_N_PAGE_SIZES; i++)
      if (c.free[i] < 0)
        c.free[i] = 0;
    if (ne_plan_regions (mem_bytes, count_alloc, count_release, &c, &r, &n, &missing) == 0)
      {
        free (r);
        return 0;
      }
    hugepage_advice (advice, sizeof advice, counts, missing);
  }
  return enclaver_make_error (err, ENOMEM,
                              "not enough free hugepages for %s of enclave memory (%s short); %s",
                              fmt_size (sz, sizeof sz, mem_bytes),
                              fmt_size (msz, sizeof msz, missing), advice);
}

int
ne_preflight (const struct ne_dev *dev, const struct ne_launch_params *p, enclaver_error_t *err)
{
  int fd = open_device (dev, err);
  if (fd < 0)
    return -1;
  dev->close (dev->ud, fd);
  return check_hugepages (dev, p->memory_mib * MiB, err);
}

/* ---- the launch steps --------------------------------------------------------------- */

struct map_ctx
{
  const struct ne_dev *dev;
  int last_errno;
};

static int
map_alloc (void *ctx, uint64_t page_size, void **addr)
{
  struct map_ctx *m = ctx;
  void *a = m->dev->mmap (m->dev->ud, (size_t) page_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | ne_map_huge_flags (page_size));
  if (a == MAP_FAILED)
    {
      m->last_errno = errno;
      return -1;
    }
  *addr = a;
  return 0;
}

static void
map_release (void *ctx, void *addr, uint64_t page_size)
{
  struct map_ctx *m = ctx;
  m->dev->munmap (m->dev->ud, addr, (size_t) page_size);
}

static int
step_create_vm (struct ne_enclave *e, enclaver_error_t *err)
{
  uint64_t slot = 0;
  int fd = e->dev->ioctl (e->dev->ud, e->dev_fd, NE_CREATE_VM, &slot);
  if (fd < 0)
    return ioctl_error (err, errno, "NE_CREATE_VM");
  e->enclave_fd = fd;
  e->slot_uid = slot;
  return 0;
}

static int
step_alloc_memory (struct ne_enclave *e, uint64_t mem_bytes, enclaver_error_t *err)
{
  struct map_ctx m = { e->dev, 0 };
  uint64_t missing = 0;
  size_t i;
  char a[32], b[32];
  if (ne_plan_regions (mem_bytes, map_alloc, map_release, &m, &e->regions, &e->n_regions, &missing)
      < 0)
    return enclaver_make_error (err, ENOMEM,
                                "could not map %s of hugepages for the enclave (%s short; last "
                                "mmap error: %s): reserve more hugepages (nr_hugepages under "
                                "/sys/kernel/mm/hugepages/, or the nitro-enclaves-allocator "
                                "service) or lower --memory",
                                fmt_size (a, sizeof a, mem_bytes), fmt_size (b, sizeof b, missing),
                                m.last_errno ? strerror (m.last_errno) : "none");
  for (i = 0; i < e->n_regions; i++)
    e->mem_size += e->regions[i].size;
  return 0;
}

static int
step_image_load_info (struct ne_enclave *e, uint64_t *offset, enclaver_error_t *err)
{
  struct ne_image_load_info info = { .flags = NE_EIF_IMAGE, .memory_offset = 0 };
  if (e->dev->ioctl (e->dev->ud, e->enclave_fd, NE_GET_IMAGE_LOAD_INFO, &info) < 0)
    return ioctl_error (err, errno, "NE_GET_IMAGE_LOAD_INFO");
  *offset = info.memory_offset;
  return 0;
}

/* The EIF, byte for byte, at offset in the regions taken as one contiguous space: each
 * region's part read from the file straight into it (no buffer in between). */
static int
step_copy_eif (struct ne_enclave *e, int fd, const char *path, uint64_t eif_size, uint64_t offset,
               enclaver_error_t *err)
{
  uint64_t base = 0, end = offset + eif_size;
  size_t i;
  char a[32], b[32];

  if (end < offset || end > e->mem_size)
    return enclaver_make_error (err, EFBIG,
                                "%s (%s) does not fit in the enclave memory (%s) at the load "
                                "offset %" PRIu64 " MiB: raise --memory",
                                path, fmt_size (a, sizeof a, eif_size), fmt_size (b, sizeof b, e->mem_size),
                                offset / MiB);
  (void) posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (i = 0; i < e->n_regions && base < end; i++)
    {
      uint64_t rsize = e->regions[i].size;
      uint64_t lo = base > offset ? base : offset;
      uint64_t hi = base + rsize < end ? base + rsize : end;
      while (lo < hi)
        {
          uint64_t want = hi - lo > NE_PREAD_CHUNK ? NE_PREAD_CHUNK : hi - lo;
          ssize_t n = pread (fd, (char *) e->regions[i].addr + (lo - base), (size_t) want,
                             (off_t) (lo - offset));
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return enclaver_make_errno (err, errno, "reading %s into the enclave memory", path);
          if (n == 0)
            return enclaver_make_error (err, EIO,
                                        "%s ended at byte %" PRIu64 " of %" PRIu64
                                        " while loading it (was it changed meanwhile?)",
                                        path, lo - offset, eif_size);
          lo += (uint64_t) n;
        }
      base += rsize;
    }
  return 0;
}

static int
step_set_memory (struct ne_enclave *e, enclaver_error_t *err)
{
  size_t i;
  char what[96];
  for (i = 0; i < e->n_regions; i++)
    {
      struct ne_user_memory_region r = {
        .flags = NE_DEFAULT_MEMORY_REGION,
        .memory_size = e->regions[i].size,
        .userspace_addr = (uint64_t) (uintptr_t) e->regions[i].addr,
      };
      if (e->dev->ioctl (e->dev->ud, e->enclave_fd, NE_SET_USER_MEMORY_REGION, &r) < 0)
        {
          snprintf (what, sizeof what, "NE_SET_USER_MEMORY_REGION (region %zu of %zu)", i + 1,
                    e->n_regions);
          return ioctl_error (err, errno, what);
        }
    }
  return 0;
}

static int
step_add_vcpus (struct ne_enclave *e, const struct ne_launch_params *p, enclaver_error_t *err)
{
  size_t n = p->n_cpu_ids ? p->n_cpu_ids : p->cpu_count, i;
  char what[96];
  e->cpus = calloc (n ? n : 1, sizeof *e->cpus);
  if (e->cpus == NULL)
    abort ();
  for (i = 0; i < n; i++)
    {
      uint32_t id = p->n_cpu_ids ? p->cpu_ids[i] : 0;
      if (e->dev->ioctl (e->dev->ud, e->enclave_fd, NE_ADD_VCPU, &id) < 0)
        {
          if (p->n_cpu_ids)
            snprintf (what, sizeof what, "NE_ADD_VCPU (CPU %" PRIu32 ")", p->cpu_ids[i]);
          else
            snprintf (what, sizeof what, "NE_ADD_VCPU (CPU %zu of %zu, from the pool)", i + 1, n);
          return ioctl_error (err, errno, what);
        }
      e->cpus[e->n_cpus++] = id;
    }
  return 0;
}

static int
step_start (struct ne_enclave *e, const struct ne_launch_params *p, enclaver_error_t *err)
{
  struct ne_enclave_start_info info = {
    .flags = p->debug_mode ? NE_ENCLAVE_DEBUG_MODE : NE_ENCLAVE_PRODUCTION_MODE,
    .enclave_cid = p->enclave_cid,
  };
  char what[64];
  if (e->dev->ioctl (e->dev->ud, e->enclave_fd, NE_START_ENCLAVE, &info) < 0)
    {
      if (p->enclave_cid)
        snprintf (what, sizeof what, "NE_START_ENCLAVE (CID %" PRIu64 ")", p->enclave_cid);
      else
        snprintf (what, sizeof what, "NE_START_ENCLAVE");
      return ioctl_error (err, errno, what);
    }
  e->cid = info.enclave_cid;
  return 0;
}

int
ne_launch (const struct ne_dev *dev, const struct ne_launch_params *p, struct ne_enclave *out,
           enclaver_error_t *err)
{
  const char *hb_addr = p->heartbeat_addr ? p->heartbeat_addr : NE_DEFAULT_HEARTBEAT_ADDR;
  uint64_t mem_bytes = p->memory_mib * MiB, offset = 0, eif_size;
  int eif_fd = -1, lfd = -1, timeout_ms;
  char why[256];
  struct stat st;

  memset (out, 0, sizeof *out);
  out->dev = dev;
  out->dev_fd = out->enclave_fd = -1;

  eif_fd = open (p->eif_path, O_RDONLY | O_CLOEXEC);
  if (eif_fd < 0)
    return enclaver_make_errno (err, errno, "cannot open %s", p->eif_path);
  if (fstat (eif_fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      enclaver_make_error (err, EINVAL, "%s is not a regular file", p->eif_path);
      goto fail;
    }
  eif_size = (uint64_t) st.st_size;
  if (p->eif_size != 0 && p->eif_size != eif_size)
    {
      enclaver_make_error (err, EINVAL,
                           "%s changed size since it was checked (%" PRIu64 " bytes, now %" PRIu64 ")",
                           p->eif_path, p->eif_size, eif_size);
      goto fail;
    }

  /* Pre-flight: the hugepages, then the device itself. */
  if (check_hugepages (dev, mem_bytes, err) < 0)
    goto fail;
  out->dev_fd = open_device (dev, err);
  if (out->dev_fd < 0)
    goto fail;

  if (step_create_vm (out, err) < 0 || step_alloc_memory (out, mem_bytes, err) < 0
      || step_image_load_info (out, &offset, err) < 0
      || step_copy_eif (out, eif_fd, p->eif_path, eif_size, offset, err) < 0
      || step_set_memory (out, err) < 0 || step_add_vcpus (out, p, err) < 0)
    goto fail;

  /* The heartbeat listener exists before the enclave does, so its init's connect cannot
   * be refused. */
  lfd = enclaver_transport_listen (hb_addr, why, sizeof why);
  if (lfd < 0)
    {
      enclaver_make_error (err, errno ? errno : EIO, "heartbeat listener: %s", why);
      goto fail;
    }
  if (step_start (out, p, err) < 0)
    goto fail;

  timeout_ms = p->heartbeat_timeout_ms > 0 ? p->heartbeat_timeout_ms
                                           : ne_heartbeat_timeout_ms (eif_size, p->memory_mib);
  /* On vsock only the enclave just started may answer (several enclaves per host). */
  if (ne_heartbeat_wait (lfd, timeout_ms, strncmp (hb_addr, "vsock:", 6) == 0 ? out->cid : 0, why,
                         sizeof why)
      < 0)
    {
      enclaver_make_error (err, NE_STATUS_HEARTBEAT,
                           "the enclave (CID %" PRIu64 ") was started but its init gave no heartbeat "
                           "on %s: %s; the enclave was terminated (its enclave fd closed). The init "
                           "inside the EIF did not come up: check that the EIF was built for this "
                           "instance's architecture, and run with --debug-mode to see its console",
                           out->cid, hb_addr, why);
      goto fail;
    }
  close (lfd);
  close (eif_fd);
  return 0;

fail:
  if (lfd >= 0)
    close (lfd);
  close (eif_fd);
  ne_enclave_close (out);
  return -1;
}

void
ne_enclave_close (struct ne_enclave *e)
{
  size_t i;
  if (e->dev == NULL)
    return;
  /* The enclave first (closing its fd ends it), then the memory it was given. */
  if (e->enclave_fd >= 0)
    e->dev->close (e->dev->ud, e->enclave_fd);
  e->enclave_fd = -1;
  for (i = 0; i < e->n_regions; i++)
    e->dev->munmap (e->dev->ud, e->regions[i].addr, (size_t) e->regions[i].size);
  free (e->regions);
  e->regions = NULL;
  e->n_regions = 0;
  e->mem_size = 0;
  if (e->dev_fd >= 0)
    e->dev->close (e->dev->ud, e->dev_fd);
  e->dev_fd = -1;
  free (e->cpus);
  e->cpus = NULL;
  e->n_cpus = 0;
}
