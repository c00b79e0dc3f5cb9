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

#include "heartbeat.h"
#include "hugepages.h"
#include "ne-errors.h"

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

/* The whole sequence of EIF.md §7: pre-flight (device present and accessible, enough free
 * hugepages), NE_CREATE_VM, regions largest-first and trimmed, NE_GET_IMAGE_LOAD_INFO, the
 * EIF copied from the file straight into the regions at the load offset,
 * NE_SET_USER_MEMORY_REGION per region, NE_ADD_VCPU, the heartbeat listener,
 * NE_START_ENCLAVE, the heartbeat.  On failure everything done so far is undone; the
 * error's status is the NE_ERR_* code when the driver refused, NE_STATUS_HEARTBEAT when
 * the started enclave gave no heartbeat (it has been terminated), else an errno value. */
int ne_launch (const struct ne_dev *dev, const struct ne_launch_params *p, struct ne_enclave *out,
               enclaver_error_t *err);

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
/* Where the console of a debug-mode enclave is reached: a transport address in which
 * "%u" stands for the console port (enclave CID + 10000); NULL restores the default,
 * "vsock:0:%u" (EIF.md §6).  The tests point it at a unix: socket. */
void host_backend_nitro_set_console (struct host_backend *b, const char *addr_fmt);

#endif
