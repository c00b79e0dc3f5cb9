/* enclaver host launcher: the Nitro Enclaves driver's error codes (part of ne.h). */
#ifndef ENCLAVER_HOST_NE_ERRORS_H
#define ENCLAVER_HOST_NE_ERRORS_H

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

/* The sentence for an NE_ERR_* code (or NULL for other values), as `nitro-cli explain`
 * gives one: what went wrong and what to change. */
const char *ne_strerror (int code);

#endif
