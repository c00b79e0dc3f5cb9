/* enclaver host launcher: the Nitro Enclaves driver's NE_ERR_* codes as sentences.
 *
 * The driver (drivers/virt/nitro_enclaves) returns these as errno values from its
 * ioctls; each sentence says what the driver refused and what to change, the way
 * `nitro-cli explain` does.  The wording is ours. */
#include "config.h"

#include <stddef.h>

#include "ne-errors.h"

static const char *const ne_messages[] = {
  [NE_ERR_VCPU_ALREADY_USED - 256]
  = "NE_ERR_VCPU_ALREADY_USED: this CPU was already given to the enclave; list each CPU once "
    "in --cpu-ids",
  [NE_ERR_VCPU_NOT_IN_CPU_POOL - 256]
  = "NE_ERR_VCPU_NOT_IN_CPU_POOL: this CPU is not in the Nitro Enclaves CPU pool (or another "
    "enclave holds its core); pick CPUs from /sys/module/nitro_enclaves/parameters/ne_cpus, or "
    "add them to the pool (cpu_count in /etc/nitro_enclaves/allocator.yaml, then restart "
    "nitro-enclaves-allocator.service)",
  [NE_ERR_VCPU_INVALID_CPU_CORE - 256]
  = "NE_ERR_VCPU_INVALID_CPU_CORE: the core of this CPU is out of the range the CPU pool knows; "
    "pick CPUs listed in /sys/module/nitro_enclaves/parameters/ne_cpus",
  [NE_ERR_INVALID_MEM_REGION_SIZE - 256]
  = "NE_ERR_INVALID_MEM_REGION_SIZE: a memory region's size is not a multiple of 2 MiB (an "
    "enclaver bug: regions are whole hugepages)",
  [NE_ERR_INVALID_MEM_REGION_ADDR - 256]
  = "NE_ERR_INVALID_MEM_REGION_ADDR: a memory region's address range is not valid user memory "
    "(an enclaver bug)",
  [NE_ERR_UNALIGNED_MEM_REGION_ADDR - 256]
  = "NE_ERR_UNALIGNED_MEM_REGION_ADDR: a memory region does not start on a 2 MiB boundary (an "
    "enclaver bug: hugepage mappings are aligned)",
  [NE_ERR_MEM_REGION_ALREADY_USED - 256]
  = "NE_ERR_MEM_REGION_ALREADY_USED: a memory region overlaps one already given to the "
    "enclave (an enclaver bug)",
  [NE_ERR_MEM_NOT_HUGE_PAGE - 256]
  = "NE_ERR_MEM_NOT_HUGE_PAGE: the enclave memory is not backed by hugepages; reserve "
    "hugepages (the nitro-enclaves-allocator service, or nr_hugepages under "
    "/sys/kernel/mm/hugepages/) and retry",
  [NE_ERR_MEM_DIFFERENT_NUMA_NODE - 256]
  = "NE_ERR_MEM_DIFFERENT_NUMA_NODE: the hugepages are on another NUMA node than the CPU "
    "pool; reserve them on the pool's node "
    "(/sys/devices/system/node/nodeN/hugepages/, or let nitro-enclaves-allocator.service do "
    "it)",
  [NE_ERR_MEM_MAX_REGIONS - 256]
  = "NE_ERR_MEM_MAX_REGIONS: the enclave memory needs more regions than the device accepts; "
    "use larger hugepages (1 GiB pages: hugepages-1048576kB/nr_hugepages) or less memory",
  [NE_ERR_NO_MEM_REGIONS_ADDED - 256]
  = "NE_ERR_NO_MEM_REGIONS_ADDED: the enclave was started without memory (an enclaver bug)",
  [NE_ERR_NO_VCPUS_ADDED - 256]
  = "NE_ERR_NO_VCPUS_ADDED: the enclave was started without CPUs; give it at least one core "
    "(--cpu-count 2 on x86_64)",
  [NE_ERR_ENCLAVE_MEM_MIN_SIZE - 256]
  = "NE_ERR_ENCLAVE_MEM_MIN_SIZE: the enclave has less than the 64 MiB minimum of memory; "
    "raise --memory (defaults.memory_mb)",
  [NE_ERR_FULL_CORES_NOT_USED - 256]
  = "NE_ERR_FULL_CORES_NOT_USED: the enclave was given part of a core; give it every thread "
    "of each core it uses (an even --cpu-count on x86_64, or both siblings from "
    "/sys/devices/system/cpu/cpuN/topology/thread_siblings_list in --cpu-ids)",
  [NE_ERR_NOT_IN_INIT_STATE - 256]
  = "NE_ERR_NOT_IN_INIT_STATE: the enclave is already started, so its resources cannot "
    "change (an enclaver bug)",
  [NE_ERR_INVALID_VCPU - 256]
  = "NE_ERR_INVALID_VCPU: this CPU id is beyond the CPUs of the instance; pick CPUs from "
    "/sys/module/nitro_enclaves/parameters/ne_cpus",
  [NE_ERR_NO_CPUS_AVAIL_IN_POOL - 256]
  = "NE_ERR_NO_CPUS_AVAIL_IN_POOL: the Nitro Enclaves CPU pool has no free core left (not set "
    "up, or other enclaves hold it); set cpu_count in /etc/nitro_enclaves/allocator.yaml and "
    "restart nitro-enclaves-allocator.service, or ask for fewer CPUs",
  [NE_ERR_INVALID_PAGE_SIZE - 256]
  = "NE_ERR_INVALID_PAGE_SIZE: the enclave memory is backed by pages that are not a multiple "
    "of 2 MiB; reserve 2 MiB or 1 GiB hugepages",
  [NE_ERR_INVALID_FLAG_VALUE - 256]
  = "NE_ERR_INVALID_FLAG_VALUE: an ioctl was given a flag the driver does not know (an "
    "enclaver bug, or a driver older than this tool)",
  [NE_ERR_INVALID_ENCLAVE_CID - 256]
  = "NE_ERR_INVALID_ENCLAVE_CID: this enclave CID is reserved (1, 2, the parent's 3, and "
    "4294967295) or above 32 bits; choose --enclave-cid between 4 and 4294967294, or leave "
    "it out to have one assigned",
};

const char *
ne_strerror (int code)
{
  if (code < 256 || code > NE_ERR_INVALID_ENCLAVE_CID)
    return NULL;
  return ne_messages[code - 256];
}
