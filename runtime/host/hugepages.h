/* enclaver host launcher: hugepage regions for the enclave memory (part of ne.h). */
#ifndef ENCLAVER_HOST_HUGEPAGES_H
#define ENCLAVER_HOST_HUGEPAGES_H

#include <stddef.h>
#include <stdint.h>

/* The hugepage sizes nitro-cli tries, largest first (its HUGE_PAGE_MAP); a host has only
 * some of them (x86_64: 2 MiB and 1 GiB). */
#define NE_N_PAGE_SIZES 9
extern const uint64_t ne_page_sizes[NE_N_PAGE_SIZES];
/* mmap flags for one hugepage of size (a power of two): MAP_HUGETLB | log2 << MAP_HUGE_SHIFT. */
int ne_map_huge_flags (uint64_t page_size);
/* The page size a MAP_HUGE_* flag names (0 when flags carry no size). */
uint64_t ne_map_huge_size (int flags);

struct ne_region
{
  void *addr;
  uint64_t size;
};

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

#endif
