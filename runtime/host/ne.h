/* enclaver host launcher: the Nitro Enclaves device backend.
 *
 * Everything that touches /dev/nitro_enclaves goes through struct ne_dev, a narrow seam
 * of open/ioctl/mmap/munmap/close, so the same launch code runs on Nitro hardware
 * (ne_dev_real) and in the tests against a fake device that enforces the driver's rules
 * (tests/runtime/fake-ne.c).  The launch follows EIF.md §7 step by step; each step is
 * one function, and every NE_ERR_* code the driver returns becomes a sentence.
 *
 * Ownership: ne_launch() fills a struct ne_enclave that owns the enclave fd and the
 * donated hugepage regions; ne_enclave_close() ends the enclave (closing the enclave fd
 * terminates it) and unmaps the regions.  If the launcher process dies, the kernel closes
 * the fd and the enclave ends with it. */
#ifndef ENCLAVER_HOST_NE_H
#define ENCLAVER_HOST_NE_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/types.h>

#include <enclaver/error.h>

/* The uapi of drivers/virt/nitro_enclaves (include/uapi/linux/nitro_enclaves.h), as
 * numbers, so the tool builds on hosts whose kernel headers lack it. */
#define NE_DEVICE_PATH "/dev/nitro_enclaves"
#define NE_CREATE_VM 0x8008AE20UL              /* _IOR(0xAE, 0x20, __u64): out slot_uid; returns the enclave fd */
#define NE_ADD_VCPU 0xC004AE21UL               /* _IOWR(0xAE, 0x21, __u32): cpu id in/out, 0 = pick */
#define NE_GET_IMAGE_LOAD_INFO 0xC010AE22UL    /* _IOWR(0xAE, 0x22, struct ne_image_load_info) */
#define NE_SET_USER_MEMORY_REGION 0x4018AE23UL /* _IOW(0xAE, 0x23, struct ne_user_memory_region) */
#define NE_START_ENCLAVE 0xC010AE24UL          /* _IOWR(0xAE, 0x24, struct ne_enclave_start_info) */

#define NE_EIF_IMAGE 0x01
#define NE_ENCLAVE_PRODUCTION_MODE 0x00
#define NE_ENCLAVE_DEBUG_MODE 0x01
#define NE_IMAGE_LOAD_MAX_FLAG_VAL 0x02
#define NE_DEFAULT_MEMORY_REGION 0x00
#define NE_MEMORY_REGION_MAX_FLAG_VAL 0x01
#define NE_ENCLAVE_START_MAX_FLAG_VAL 0x02
#define NE_MIN_ENCLAVE_MEM_MIB 64
#define NE_MIN_MEM_REGION_SIZE (2ull << 20) /* regions: 2 MiB aligned, multiples of 2 MiB */
#define NE_EIF_LOAD_OFFSET (8ull << 20) /* what the driver returns */
#define NE_PARENT_CID 3
#define NE_MEMORY_EIF_RATIO 4 /* nitro-cli: memory >= 4 x the EIF size */

/* The hugepage sizes nitro-cli tries, largest first (its HUGE_PAGE_MAP); a host has only
 * some of them (x86_64: 2 MiB and 1 GiB). */
#define NE_N_PAGE_SIZES 9
extern const uint64_t ne_page_sizes[NE_N_PAGE_SIZES];
/* mmap flags for one hugepage of size (a power of two): MAP_HUGETLB | log2 << MAP_HUGE_SHIFT. */
int ne_map_huge_flags (uint64_t page_size);
/* The page size a MAP_HUGE_* flag names (0 when flags carry no size). */
uint64_t ne_map_huge_size (int flags);

/* The status of the error ne_launch() returns when the enclave was started but its
 * heartbeat never came or was wrong; the enclave has been terminated.  The launcher
 * exits 108 (ENCLAVER.md §8) for it. */
#define NE_STATUS_HEARTBEAT EPROTO

struct ne_image_load_info
{
  uint64_t flags;         /* in: NE_EIF_IMAGE */
  uint64_t memory_offset; /* out */
};

struct ne_user_memory_region
{
  uint64_t flags; /* 0 */
  uint64_t memory_size;
  uint64_t userspace_addr;
};

struct ne_enclave_start_info
{
  uint64_t flags;       /* NE_ENCLAVE_*_MODE */
  uint64_t enclave_cid; /* in (0 = auto) / out */
};

/* NE_ERR_* (256..275): the driver's own error codes, returned as errno values. */
enum
{
  NE_ERR_VCPU_ALREADY_USED = 256,
  NE_ERR_VCPU_NOT_IN_CPU_POOL = 257,
  NE_ERR_VCPU_INVALID_CPU_CORE = 258,
  NE_ERR_INVALID_MEM_REGION_SIZE = 259,
  NE_ERR_INVALID_MEM_REGION_ADDR = 260,
  NE_ERR_UNALIGNED_MEM_REGION_ADDR = 261,
  NE_ERR_MEM_REGION_ALREADY_USED = 262,
  NE_ERR_MEM_NOT_HUGE_PAGE = 263,
  NE_ERR_MEM_DIFFERENT_NUMA_NODE = 264,
  NE_ERR_MEM_MAX_REGIONS = 265,
  NE_ERR_NO_MEM_REGIONS_ADDED = 266,
  NE_ERR_NO_VCPUS_ADDED = 267,
  NE_ERR_ENCLAVE_MEM_MIN_SIZE = 268,
  NE_ERR_FULL_CORES_NOT_USED = 269,
  NE_ERR_NOT_IN_INIT_STATE = 270,
  NE_ERR_INVALID_VCPU = 271,
  NE_ERR_NO_CPUS_AVAIL_IN_POOL = 272,
  NE_ERR_INVALID_PAGE_SIZE = 273,
  NE_ERR_INVALID_FLAG_VALUE = 274,
  NE_ERR_INVALID_ENCLAVE_CID = 275,
};

/* The device seam.  ud is passed back to every call.  Each returns what the syscall
 * returns (-1 with errno set on failure; ioctl may set errno to an NE_ERR_* code). */
struct ne_dev
{
  void *ud;
  int (*open) (void *ud, const char *path, int flags);
  int (*ioctl) (void *ud, int fd, unsigned long request, void *arg);
  /* Anonymous hugepage mappings: flags are MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
   * MAP_HUGE_<size>; MAP_FAILED with errno on failure. */
  void *(*mmap) (void *ud, size_t len, int prot, int flags);
  int (*munmap) (void *ud, void *addr, size_t len);
  int (*close) (void *ud, int fd);
  /* Free hugepages of a size (bytes), for the pre-flight check; -1 if unknown. */
  long (*free_hugepages) (void *ud, uint64_t page_size);
};

/* The real device: open(2), ioctl(2), mmap(MAP_HUGETLB), sysfs hugepage counts. */
extern const struct ne_dev ne_dev_real;

/* The sentence for an NE_ERR_* code (or NULL for other values), as `nitro-cli explain`
 * gives one: what went wrong and what to change. */
const char *ne_strerror (int code);

struct ne_region
{
  void *addr;
  uint64_t size;
};

struct ne_launch_params
{
  const char *eif_path;
  uint64_t eif_size;
  uint64_t memory_mib;
  uint32_t cpu_count;      /* used when n_cpu_ids == 0 */
  const uint32_t *cpu_ids; /* explicit CPUs (--cpu-ids) */
  size_t n_cpu_ids;
  uint64_t enclave_cid; /* 0 = let the driver choose */
  int debug_mode;
  /* The heartbeat listener's transport address: "vsock:3:9000" on Nitro; the tests use
   * "unix:PATH".  Bound before NE_START_ENCLAVE. */
  const char *heartbeat_addr;
  int heartbeat_timeout_ms; /* 0 = nitro-cli's formula from the EIF and memory sizes */
};

struct ne_enclave
{
  const struct ne_dev *dev;
  int dev_fd, enclave_fd;
  uint64_t slot_uid;
  uint64_t cid;
  struct ne_region *regions; /* sorted by size, descending, as donated */
  size_t n_regions;
  uint64_t mem_size;         /* the sum of the regions, bytes */
  uint32_t *cpus; /* the CPU ids the driver gave */
  size_t n_cpus;
};

/* Checks that need no device: memory >= 64 MiB and >= 4 x the EIF size; on x86_64 an even
 * CPU count >= 2.  The message says what to change. */
int ne_check_params (const struct ne_launch_params *p, const char *arch, enclaver_error_t *err);

/* The checks that need the device's host but change nothing: /dev/nitro_enclaves present
 * and openable (opened and closed again), and enough free hugepages for memory_mib
 * (nitro-cli's allocation played on the free counts).  The message says what to do. */
int ne_preflight (const struct ne_dev *dev, const struct ne_launch_params *p, enclaver_error_t *err);

/* nitro-cli's region plan (EIF.md §7 step 3) over a page allocator: sizes largest first
 * while the rest is at least that size, then smallest first until covered, then the
 * surplus trimmed (regions sorted descending; the smallest given back).  alloc returns 0
 * and the page's address, or -1 when no page of that size is left; release gives one
 * back.  On success *out (malloc'd) holds the regions; on shortage returns -1 with
 * *missing set to the bytes not covered (everything allocated given back). */
typedef int (*ne_page_alloc_fn) (void *ctx, uint64_t page_size, void **addr);
typedef void (*ne_page_release_fn) (void *ctx, void *addr, uint64_t page_size);
int ne_plan_regions (uint64_t mem_bytes, ne_page_alloc_fn alloc, ne_page_release_fn release, void *ctx,
                     struct ne_region **out, size_t *n_out, uint64_t *missing);

/* The heartbeat (EIF.md §6): wait on the listening fd lfd up to timeout_ms in all for
 * one connection (on vsock, only from expect_cid unless it is 0), read one byte, require
 * 0xB7, write it back.  0, or -1 with why (e.g. "no connection within 90 s") in buf. */
#define NE_HEARTBEAT_BYTE 0xB7
int ne_heartbeat_wait (int lfd, int timeout_ms, uint64_t expect_cid, char *why, size_t whylen);

/* The whole sequence of EIF.md §7: pre-flight (device present and accessible, enough free
 * hugepages), NE_CREATE_VM, regions largest-first and trimmed, NE_GET_IMAGE_LOAD_INFO, the
 * EIF copied from the file straight into the regions at the load offset,
 * NE_SET_USER_MEMORY_REGION per region, NE_ADD_VCPU, the heartbeat listener,
 * NE_START_ENCLAVE, the heartbeat.  On failure everything done so far is undone. */
int ne_launch (const struct ne_dev *dev, const struct ne_launch_params *p, struct ne_enclave *out,
               enclaver_error_t *err);

/* The nitro-cli heartbeat timeout: 90 s x ceil(EIF size / 6 GiB) + 90 s x ceil(memory / 100 GiB). */
int ne_heartbeat_timeout_ms (uint64_t eif_size, uint64_t memory_mib);

/* End the enclave and release its regions (idempotent). */
void ne_enclave_close (struct ne_enclave *e);

/* The "nitro" struct host_backend (runtime/host/launcher.h) on top of ne_launch():
 * check = ne_check_params + ne_preflight; start = ne_launch, the ID in nitro-cli's form
 * (INSTANCE-encSLOT, the instance from /sys/devices/virtual/dmi/id/board_asset_tag);
 * addresses vsock:CID:PORT to reach the enclave and vsock:any:PORT to listen; the event
 * fd is the enclave fd (the driver reports POLLHUP when the enclave has ended);
 * terminate = ne_enclave_close.  dev NULL means ne_dev_real; heartbeat_addr NULL means
 * vsock:3:9000. */
struct host_backend;
struct host_backend *host_backend_nitro_new (const struct ne_dev *dev, const char *heartbeat_addr);

#endif
