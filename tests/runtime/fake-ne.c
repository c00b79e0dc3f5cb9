/* enclaver tests: a fake /dev/nitro_enclaves (see fake-ne.h).  The checks follow the
 * driver's order in ne_misc_dev.c, so a launcher bug gets the code the real driver
 * would give it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake-ne.h"
#include "transport.h"

#define MiB (1ull << 20)
#define FAKE_MAX_FDS 64
#define FAKE_MAX_MAPS 65536
#define FAKE_USER_TOP (1ull << 47)

enum fd_kind
{
  FD_NONE = 0,
  FD_DEV,
  FD_ENCLAVE,
};

enum enclave_state
{
  ST_INIT,
  ST_RUNNING,
};

struct fake_fd
{
  int fd;
  enum fd_kind kind;
  int created_vm;              /* FD_DEV: NE_CREATE_VM done on it */
  enum enclave_state state;    /* FD_ENCLAVE */
  uint64_t held[64];           /* FD_ENCLAVE: threads of each core taken from the pool */
  uint64_t vcpus;              /* FD_ENCLAVE: CPUs added */
  struct ne_region *regions;
  size_t n_regions;
  uint64_t mem_size;
};

struct fake_map
{
  char *addr;
  uint64_t len, page_size;
  void *base; /* what mmap returned (before alignment) */
  size_t base_len;
};

struct fake_ne
{
  struct fake_ne_config c;
  struct ne_dev dev;
  struct fake_ne_record rec;
  struct fake_fd fds[FAKE_MAX_FDS];
  struct fake_map *maps;
  size_t n_maps;
  uint64_t pool_avail[64]; /* per core: threads still in the pool */
  uint64_t next_slot, next_cid;
  int hb_fd;
};

static unsigned
n_cpus (const struct fake_ne *f)
{
  return f->c.n_cores * f->c.threads_per_core;
}

static unsigned
core_of (const struct fake_ne *f, unsigned cpu)
{
  return cpu % f->c.n_cores;
}

static uint64_t
core_mask (const struct fake_ne *f, unsigned core)
{
  uint64_t m = 0;
  unsigned t;
  for (t = 0; t < f->c.threads_per_core; t++)
    m |= 1ull << (t * f->c.n_cores + core);
  return m;
}

static int
page_index (uint64_t size)
{
  int i;
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    if (ne_page_sizes[i] == size)
      return i;
  return -1;
}

struct fake_ne *
fake_ne_new (const struct fake_ne_config *c, char *err, size_t errlen)
{
  struct fake_ne *f;
  unsigned cpu, core;
  if (c->n_cores == 0 || c->threads_per_core == 0 || c->n_cores * c->threads_per_core > 64)
    {
      snprintf (err, errlen, "fake NE: topology needs 1..64 CPUs");
      return NULL;
    }
  f = calloc (1, sizeof *f);
  if (f == NULL)
    abort ();
  f->c = *c;
  if (f->c.max_mem_regions == 0)
    f->c.max_mem_regions = 256;
  f->next_cid = c->first_auto_cid ? c->first_auto_cid : 16;
  f->next_slot = 0x1001;
  f->hb_fd = -1;
  /* The driver's pool rules (ne_setup_cpu_pool): not CPU 0 nor its siblings, whole cores. */
  if (c->pool & core_mask (f, 0))
    {
      snprintf (err, errlen, "fake NE: CPU 0 and its siblings cannot be in the pool");
      free (f);
      return NULL;
    }
  for (cpu = 0; cpu < n_cpus (f); cpu++)
    if ((c->pool >> cpu) & 1)
      {
        core = core_of (f, cpu);
        if ((c->pool & core_mask (f, core)) != core_mask (f, core))
          {
            snprintf (err, errlen, "fake NE: the pool holds part of core %u", core);
            free (f);
            return NULL;
          }
        f->pool_avail[core] |= 1ull << cpu;
      }
  f->maps = calloc (FAKE_MAX_MAPS, sizeof *f->maps);
  if (f->maps == NULL)
    abort ();
  f->dev.ud = f;
  return f;
}

static void
fd_release (struct fake_ne *f, struct fake_fd *d)
{
  unsigned core;
  if (d->kind == FD_ENCLAVE)
    {
      /* Closing the enclave fd ends the enclave and gives its cores back to the pool. */
      for (core = 0; core < f->c.n_cores; core++)
        f->pool_avail[core] |= d->held[core];
      free (d->regions);
      f->rec.enclave_closed = 1;
    }
  close (d->fd);
  memset (d, 0, sizeof *d);
}

void
fake_ne_free (struct fake_ne *f)
{
  size_t i;
  if (f == NULL)
    return;
  for (i = 0; i < FAKE_MAX_FDS; i++)
    if (f->fds[i].kind != FD_NONE)
      fd_release (f, &f->fds[i]);
  for (i = 0; i < f->n_maps; i++)
    if (f->maps[i].addr)
      munmap (f->maps[i].base, f->maps[i].base_len);
  if (f->hb_fd >= 0)
    close (f->hb_fd);
  free (f->maps);
  free (f->rec.regions);
  free (f);
}

const struct fake_ne_record *
fake_ne_record (const struct fake_ne *f)
{
  return &f->rec;
}

size_t
fake_ne_live_mappings (const struct fake_ne *f)
{
  size_t i, n = 0;
  for (i = 0; i < f->n_maps; i++)
    n += f->maps[i].addr != NULL;
  return n;
}

size_t
fake_ne_open_fds (const struct fake_ne *f)
{
  size_t i, n = 0;
  for (i = 0; i < FAKE_MAX_FDS; i++)
    n += f->fds[i].kind != FD_NONE;
  return n;
}

long
fake_ne_free_pages (const struct fake_ne *f, uint64_t page_size)
{
  int i = page_index (page_size);
  return i < 0 ? -1 : f->c.free_pages[i];
}

static struct fake_fd *
fd_new (struct fake_ne *f, enum fd_kind kind)
{
  size_t i;
  for (i = 0; i < FAKE_MAX_FDS; i++)
    if (f->fds[i].kind == FD_NONE)
      {
        /* An eventfd, not /dev/null: pollable and epoll-able as the driver's fds are
         * (never readable: no event until the enclave ends). */
        int fd = eventfd (0, EFD_CLOEXEC);
        if (fd < 0)
          return NULL;
        memset (&f->fds[i], 0, sizeof f->fds[i]);
        f->fds[i].fd = fd;
        f->fds[i].kind = kind;
        return &f->fds[i];
      }
  errno = EMFILE;
  return NULL;
}

static struct fake_fd *
fd_find (struct fake_ne *f, int fd)
{
  size_t i;
  for (i = 0; i < FAKE_MAX_FDS; i++)
    if (f->fds[i].kind != FD_NONE && f->fds[i].fd == fd)
      return &f->fds[i];
  return NULL;
}

/* ---- the seam ----------------------------------------------------------------------- */

static int
fake_open (void *ud, const char *path, int flags)
{
  struct fake_ne *f = ud;
  struct fake_fd *d;
  (void) flags;
  if (strcmp (path, NE_DEVICE_PATH) != 0)
    {
      errno = ENOENT;
      return -1;
    }
  if (f->c.open_errno)
    {
      errno = f->c.open_errno;
      return -1;
    }
  d = fd_new (f, FD_DEV);
  return d ? d->fd : -1;
}

static int
fake_close (void *ud, int fd)
{
  struct fake_ne *f = ud;
  struct fake_fd *d = fd_find (f, fd);
  if (d == NULL)
    {
      errno = EBADF;
      return -1;
    }
  fd_release (f, d);
  return 0;
}

static void *
fake_mmap (void *ud, size_t len, int prot, int flags)
{
  struct fake_ne *f = ud;
  uint64_t ps;
  int idx;
  char *base, *addr;
  size_t base_len, i, slot = f->n_maps;

  if (!(flags & MAP_HUGETLB) || !(flags & MAP_ANONYMOUS))
    {
      errno = EINVAL;
      return MAP_FAILED;
    }
  ps = ne_map_huge_size (flags);
  if (ps == 0)
    ps = 2 * MiB; /* the default hugepage size */
  if (len == 0 || len % ps != 0)
    {
      errno = EINVAL;
      return MAP_FAILED;
    }
  idx = page_index (ps);
  if (idx >= 0 && f->c.free_pages[idx] < (long) (len / ps))
    {
      /* A size the host lacks (-1) or has run out of: what hugetlb mmap answers. */
      errno = f->c.free_pages[idx] < 0 ? EINVAL : ENOMEM;
      return MAP_FAILED;
    }
  for (i = 0; i < f->n_maps; i++)
    if (f->maps[i].addr == NULL)
      {
        slot = i;
        break;
      }
  if (slot == FAKE_MAX_MAPS)
    {
      errno = ENOMEM;
      return MAP_FAILED;
    }
  /* Aligned to the page size, like a real hugepage mapping: map more, trim both ends. */
  base_len = len + ps;
  base = mmap (NULL, base_len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED)
    return MAP_FAILED;
  addr = (char *) (((uintptr_t) base + ps - 1) & ~(uintptr_t) (ps - 1));
  if (addr > base)
    munmap (base, (size_t) (addr - base));
  if (addr + len < base + base_len)
    munmap (addr + len, (size_t) (base + base_len - (addr + len)));
  if (idx >= 0)
    f->c.free_pages[idx] -= (long) (len / ps);
  f->maps[slot].addr = addr;
  f->maps[slot].len = len;
  f->maps[slot].page_size = ps;
  f->maps[slot].base = addr;
  f->maps[slot].base_len = len;
  if (slot == f->n_maps)
    f->n_maps++;
  return addr;
}

static int
fake_munmap (void *ud, void *addr, size_t len)
{
  struct fake_ne *f = ud;
  size_t i;
  for (i = 0; i < f->n_maps; i++)
    if (f->maps[i].addr == addr && f->maps[i].len == len)
      {
        int idx = page_index (f->maps[i].page_size);
        munmap (f->maps[i].base, f->maps[i].base_len);
        if (idx >= 0)
          f->c.free_pages[idx] += (long) (len / f->maps[i].page_size);
        memset (&f->maps[i], 0, sizeof f->maps[i]);
        return 0;
      }
  errno = EINVAL;
  return -1;
}

static long
fake_free_hugepages (void *ud, uint64_t page_size)
{
  return fake_ne_free_pages (ud, page_size);
}

/* ---- ioctls ------------------------------------------------------------------------- */

static int
fail (int code)
{
  errno = code;
  return -1;
}

static int
do_create_vm (struct fake_ne *f, struct fake_fd *d, uint64_t *slot)
{
  struct fake_fd *e;
  unsigned core;
  uint64_t avail = 0;
  if (d->kind != FD_DEV)
    return fail (ENOTTY);
  if (d->created_vm)
    return fail (EEXIST); /* the fake's own rule: one enclave per device fd */
  for (core = 0; core < f->c.n_cores; core++)
    avail |= f->pool_avail[core];
  if (avail == 0)
    return fail (NE_ERR_NO_CPUS_AVAIL_IN_POOL);
  e = fd_new (f, FD_ENCLAVE);
  if (e == NULL)
    return -1;
  d->created_vm = 1;
  e->state = ST_INIT;
  *slot = f->next_slot++;
  free (f->rec.regions);
  memset (&f->rec, 0, offsetof (struct fake_ne_record, log));
  f->rec.created = 1;
  f->rec.slot_uid = *slot;
  return e->fd;
}

static int
take_core (struct fake_ne *f, struct fake_fd *e, unsigned core)
{
  e->held[core] |= f->pool_avail[core];
  f->pool_avail[core] = 0;
  return 0;
}

static int
do_add_vcpu (struct fake_ne *f, struct fake_fd *e, uint32_t *id)
{
  unsigned core, cpu;
  if (e->state != ST_INIT)
    return fail (NE_ERR_NOT_IN_INIT_STATE);
  if (*id >= n_cpus (f))
    return fail (NE_ERR_INVALID_VCPU);
  if (*id == 0)
    {
      /* A free sibling of a core already held first, so cores fill up whole. */
      for (core = 0; core < f->c.n_cores; core++)
        for (cpu = 0; cpu < n_cpus (f); cpu++)
          if (((e->held[core] >> cpu) & 1) && !((e->vcpus >> cpu) & 1))
            {
              *id = cpu;
              goto add;
            }
      for (core = 0; core < f->c.n_cores; core++)
        if (f->pool_avail[core])
          break;
      if (core == f->c.n_cores)
        return fail (NE_ERR_NO_CPUS_AVAIL_IN_POOL);
      take_core (f, e, core);
      for (cpu = 0; !((e->held[core] >> cpu) & 1); cpu++)
        ;
      *id = cpu;
    }
  else
    {
      if ((e->vcpus >> *id) & 1)
        return fail (NE_ERR_VCPU_ALREADY_USED);
      core = core_of (f, *id);
      if (!((e->held[core] >> *id) & 1))
        {
          if (!((f->pool_avail[core] >> *id) & 1))
            return fail (NE_ERR_VCPU_NOT_IN_CPU_POOL);
          take_core (f, e, core);
        }
    }
add:
  e->vcpus |= 1ull << *id;
  if (f->rec.n_cpus < 64)
    f->rec.cpus[f->rec.n_cpus++] = *id;
  return 0;
}

static int
do_load_info (struct fake_fd *e, struct ne_image_load_info *info)
{
  if (e->state != ST_INIT)
    return fail (NE_ERR_NOT_IN_INIT_STATE);
  if (info->flags == 0 || info->flags >= NE_IMAGE_LOAD_MAX_FLAG_VAL)
    return fail (NE_ERR_INVALID_FLAG_VALUE);
  info->memory_offset = NE_EIF_LOAD_OFFSET;
  return 0;
}

static const struct fake_map *
map_at (const struct fake_ne *f, uint64_t a)
{
  size_t i;
  for (i = 0; i < f->n_maps; i++)
    if (f->maps[i].addr && a >= (uintptr_t) f->maps[i].addr
        && a < (uintptr_t) f->maps[i].addr + f->maps[i].len)
      return &f->maps[i];
  return NULL;
}

static int
do_set_region (struct fake_ne *f, struct fake_fd *e, const struct ne_user_memory_region *r)
{
  uint64_t a = r->userspace_addr, done = 0;
  size_t i;
  struct ne_region *nr;
  if (r->flags >= NE_MEMORY_REGION_MAX_FLAG_VAL)
    return fail (NE_ERR_INVALID_FLAG_VALUE);
  if (e->state != ST_INIT)
    return fail (NE_ERR_NOT_IN_INIT_STATE);
  if (r->memory_size % NE_MIN_MEM_REGION_SIZE)
    return fail (NE_ERR_INVALID_MEM_REGION_SIZE);
  if (a % NE_MIN_MEM_REGION_SIZE)
    return fail (NE_ERR_UNALIGNED_MEM_REGION_ADDR);
  if (a + r->memory_size < a || a + r->memory_size > FAKE_USER_TOP)
    return fail (NE_ERR_INVALID_MEM_REGION_ADDR);
  for (i = 0; i < e->n_regions; i++)
    {
      uint64_t b = (uintptr_t) e->regions[i].addr, bs = e->regions[i].size;
      if ((b <= a && a < b + bs) || (a <= b && a + r->memory_size > b))
        return fail (NE_ERR_MEM_REGION_ALREADY_USED);
    }
  if (r->memory_size == 0)
    return fail (ENOMEM); /* the driver's page walk has no room for a page */
  /* Page by page, as the driver's get_user_pages walk. */
  while (done < r->memory_size)
    {
      const struct fake_map *m = map_at (f, a + done);
      if (m == NULL)
        return fail (NE_ERR_MEM_NOT_HUGE_PAGE);
      if (m->page_size % NE_MIN_MEM_REGION_SIZE)
        return fail (NE_ERR_INVALID_PAGE_SIZE);
      done += m->page_size;
    }
  if (e->n_regions + 1 > f->c.max_mem_regions)
    return fail (NE_ERR_MEM_MAX_REGIONS);
  nr = realloc (e->regions, (e->n_regions + 1) * sizeof *nr);
  if (nr == NULL)
    abort ();
  e->regions = nr;
  nr[e->n_regions].addr = (void *) (uintptr_t) a;
  nr[e->n_regions].size = r->memory_size;
  e->n_regions++;
  e->mem_size += r->memory_size;
  nr = realloc (f->rec.regions, e->n_regions * sizeof *nr);
  if (nr == NULL)
    abort ();
  f->rec.regions = nr;
  memcpy (nr, e->regions, e->n_regions * sizeof *nr);
  f->rec.n_regions = e->n_regions;
  f->rec.mem_size = e->mem_size;
  return 0;
}

/* The enclave's init, as far as the host sees it: the heartbeat. */
static void
play_enclave (struct fake_ne *f)
{
  char err[256];
  unsigned char b;
  int fd;
  if (f->c.heartbeat == FAKE_NE_HB_NEVER || f->c.heartbeat_addr == NULL)
    return;
  fd = enclaver_transport_connect (f->c.heartbeat_addr, err, sizeof err);
  if (fd < 0)
    {
      f->rec.heartbeat_refused = 1;
      return;
    }
  if (f->c.heartbeat == FAKE_NE_HB_CLOSE)
    {
      close (fd);
      return;
    }
  if (f->c.heartbeat == FAKE_NE_HB_OK || f->c.heartbeat == FAKE_NE_HB_WRONG)
    {
      b = f->c.heartbeat == FAKE_NE_HB_OK ? NE_HEARTBEAT_BYTE : 0x42;
      if (write (fd, &b, 1) != 1)
        {
          close (fd);
          return;
        }
    }
  if (f->hb_fd >= 0)
    close (f->hb_fd);
  f->hb_fd = fd;
}

static int
do_start (struct fake_ne *f, struct fake_fd *e, struct ne_enclave_start_info *s)
{
  unsigned core;
  if (s->flags >= NE_ENCLAVE_START_MAX_FLAG_VAL)
    return fail (NE_ERR_INVALID_FLAG_VALUE);
  if ((s->enclave_cid > 0 && s->enclave_cid <= 2) || s->enclave_cid == UINT32_MAX
      || s->enclave_cid == NE_PARENT_CID || s->enclave_cid > UINT32_MAX)
    return fail (NE_ERR_INVALID_ENCLAVE_CID);
  if (e->state != ST_INIT)
    return fail (NE_ERR_NOT_IN_INIT_STATE);
  if (e->n_regions == 0)
    return fail (NE_ERR_NO_MEM_REGIONS_ADDED);
  if (e->mem_size < (uint64_t) NE_MIN_ENCLAVE_MEM_MIB * MiB)
    return fail (NE_ERR_ENCLAVE_MEM_MIN_SIZE);
  if (e->vcpus == 0)
    return fail (NE_ERR_NO_VCPUS_ADDED);
  for (core = 0; core < f->c.n_cores; core++)
    if ((e->held[core] & e->vcpus) != e->held[core])
      return fail (NE_ERR_FULL_CORES_NOT_USED);
  e->state = ST_RUNNING;
  if (s->enclave_cid == 0)
    s->enclave_cid = f->next_cid++;
  f->rec.started = 1;
  f->rec.cid = s->enclave_cid;
  f->rec.start_flags = s->flags;
  play_enclave (f);
  return 0;
}

static int
fake_ioctl (void *ud, int fd, unsigned long request, void *arg)
{
  struct fake_ne *f = ud;
  struct fake_fd *d = fd_find (f, fd);
  int rc;

  if (f->c.on_ioctl)
    f->c.on_ioctl (f->c.on_ioctl_arg, request);
  if (d == NULL)
    rc = fail (EBADF);
  else if (request == NE_CREATE_VM)
    rc = do_create_vm (f, d, arg);
  else if (d->kind != FD_ENCLAVE)
    rc = fail (ENOTTY); /* the device fd knows only NE_CREATE_VM */
  else if (request == NE_ADD_VCPU)
    rc = do_add_vcpu (f, d, arg);
  else if (request == NE_GET_IMAGE_LOAD_INFO)
    rc = do_load_info (d, arg);
  else if (request == NE_SET_USER_MEMORY_REGION)
    rc = do_set_region (f, d, arg);
  else if (request == NE_START_ENCLAVE)
    rc = do_start (f, d, arg);
  else
    rc = fail (ENOTTY);
  if (f->rec.n_log < FAKE_NE_MAX_LOG)
    {
      f->rec.log[f->rec.n_log] = request;
      f->rec.log_rc[f->rec.n_log] = rc < 0 ? errno : 0;
      f->rec.n_log++;
    }
  return rc;
}

const struct ne_dev *
fake_ne_dev (struct fake_ne *f)
{
  f->dev.ud = f;
  f->dev.open = fake_open;
  f->dev.ioctl = fake_ioctl;
  f->dev.mmap = fake_mmap;
  f->dev.munmap = fake_munmap;
  f->dev.close = fake_close;
  f->dev.free_hugepages = fake_free_hugepages;
  return &f->dev;
}

int
fake_ne_heartbeat_reply (struct fake_ne *f)
{
  struct pollfd pfd;
  unsigned char b;
  if (f->hb_fd < 0)
    return -1;
  pfd.fd = f->hb_fd;
  pfd.events = POLLIN;
  if (poll (&pfd, 1, 1000) != 1 || read (f->hb_fd, &b, 1) != 1)
    return -1;
  return b;
}

uint64_t
fake_ne_resident_bytes (const struct fake_ne *f)
{
  FILE *fp = fopen ("/proc/self/smaps", "r");
  char line[256];
  uint64_t total = 0, lo = 0, hi = 0;
  int in = 0;
  size_t i;
  if (fp == NULL)
    return 0;
  while (fgets (line, sizeof line, fp))
    {
      unsigned long long a, b, kb;
      if (sscanf (line, "%llx-%llx ", &a, &b) == 2 && strchr (line, '-') < strchr (line, ' '))
        {
          lo = a;
          hi = b;
          in = 0;
          for (i = 0; i < f->n_maps; i++)
            if (f->maps[i].addr && lo >= (uintptr_t) f->maps[i].addr
                && hi <= (uintptr_t) f->maps[i].addr + f->maps[i].len)
              in = 1;
        }
      else if (in && sscanf (line, "Rss: %llu kB", &kb) == 1)
        total += kb << 10;
    }
  fclose (fp);
  return total;
}

void
fake_ne_touch (struct fake_ne *f)
{
  size_t i;
  for (i = 0; i < f->n_maps; i++)
    if (f->maps[i].addr)
      memset (f->maps[i].addr, 0, (size_t) f->maps[i].len);
}
