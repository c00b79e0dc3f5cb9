/* enclaver tests: a fake /dev/nitro_enclaves behind the struct ne_dev seam.
 *
 * It enforces the rules of drivers/virt/nitro_enclaves (ne_misc_dev.c) and answers with
 * the driver's NE_ERR_* codes: ioctl order and state, 2 MiB alignment and multiples,
 * hugepage backing, overlapping regions, the region limit, the minimum memory, the CPU
 * pool with whole cores (CPU 0 and its siblings reserved), the CID and flag rules.  Its
 * "hugepages" are ordinary anonymous MAP_NORESERVE memory, aligned to the page size and
 * remembered as hugepage mappings, from a configurable count of free pages per size.
 * It records what it was given, and on NE_START_ENCLAVE plays the enclave's init:
 * it connects to the heartbeat address and sends 0xB7 (or not, or another byte).
 *
 * Rules of the fake that the driver does not have: NE_CREATE_VM at most once per
 * device fd (EEXIST), and every region counted as one physically contiguous region. */
#ifndef ENCLAVER_TESTS_FAKE_NE_H
#define ENCLAVER_TESTS_FAKE_NE_H

#include <stddef.h>
#include <stdint.h>

#include "ne.h"

enum fake_ne_heartbeat
{
  FAKE_NE_HB_OK = 0, /* connect, send 0xB7, expect it back */
  FAKE_NE_HB_NEVER,  /* never connect */
  FAKE_NE_HB_WRONG,  /* connect and send 0x42 */
  FAKE_NE_HB_SILENT, /* connect and send nothing */
  FAKE_NE_HB_CLOSE,  /* connect and close at once */
};

struct fake_ne_config
{
  /* Topology: CPU id = thread * n_cores + core (the numbering of EC2 x86 instances), so
   * the siblings of CPU c are c mod n_cores + k * n_cores. */
  unsigned n_cores, threads_per_core;
  uint64_t pool;               /* CPUs in the NE CPU pool, a bit per CPU (< 64 CPUs) */
  long free_pages[NE_N_PAGE_SIZES]; /* per ne_page_sizes[i]; -1: size absent on this host */
  unsigned max_mem_regions;    /* the device's limit (0: 256) */
  int open_errno;              /* open(NE_DEVICE_PATH) fails with this (ENOENT, EACCES) */
  const char *heartbeat_addr;  /* where the enclave's init connects ("unix:PATH") */
  enum fake_ne_heartbeat heartbeat;
  uint64_t first_auto_cid;     /* CID handed out for 0 (0: 16) */
  /* Called as each ioctl begins, before any check (the bench's clock). */
  void (*on_ioctl) (void *arg, unsigned long request);
  void *on_ioctl_arg;
};

#define FAKE_NE_MAX_LOG 8192

struct fake_ne_record
{
  int created, started, enclave_closed; /* of the last enclave */
  uint64_t slot_uid, cid, start_flags;
  struct ne_region *regions;  /* as donated, in order */
  size_t n_regions;
  uint64_t mem_size;
  uint32_t cpus[64];
  size_t n_cpus;
  int heartbeat_refused;      /* START found no listener at heartbeat_addr */
  unsigned long log[FAKE_NE_MAX_LOG]; /* every ioctl request, in order */
  int log_rc[FAKE_NE_MAX_LOG];        /* 0, or the errno it failed with */
  size_t n_log;
};

struct fake_ne;

/* NULL with err set when the configuration breaks the driver's pool rules. */
struct fake_ne *fake_ne_new (const struct fake_ne_config *c, char *err, size_t errlen);
void fake_ne_free (struct fake_ne *f);
/* The seam; valid while f lives. */
const struct ne_dev *fake_ne_dev (struct fake_ne *f);
const struct fake_ne_record *fake_ne_record (const struct fake_ne *f);
/* Hugepage mappings handed out and not yet unmapped; fds open on the fake. */
size_t fake_ne_live_mappings (const struct fake_ne *f);
size_t fake_ne_open_fds (const struct fake_ne *f);
/* Free pages of a size now. */
long fake_ne_free_pages (const struct fake_ne *f, uint64_t page_size);
/* The byte the launcher sent back on the heartbeat connection (waits up to 1 s), or -1. */
int fake_ne_heartbeat_reply (struct fake_ne *f);
/* Bytes of the fake's hugepage mappings resident in memory now (from /proc/self/smaps),
 * for the bench: the launcher's own RSS is VmHWM minus this. */
uint64_t fake_ne_resident_bytes (const struct fake_ne *f);
/* Write every byte of the live hugepage mappings (faults them in, as a bench's warm run). */
void fake_ne_touch (struct fake_ne *f);

#endif
