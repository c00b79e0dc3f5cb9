/* enclaver host launcher: hugepage regions for the enclave memory.
 *
 * The plan is nitro-cli's (EIF.md §7 step 3), played over a page allocator so the same
 * code allocates real hugepages (ne.c, through the device seam) and predicts, from the
 * free counts in sysfs, whether an allocation can succeed (the pre-flight check). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hugepages.h"

#ifndef MAP_HUGE_SHIFT
# define MAP_HUGE_SHIFT 26
#endif
#define NE_MAP_HUGE_MASK 0x3f

const uint64_t ne_page_sizes[NE_N_PAGE_SIZES] = {
  16ull << 30, 2ull << 30, 1ull << 30, 512ull << 20, 256ull << 20,
  32ull << 20, 16ull << 20, 8ull << 20, 2ull << 20,
};

int
ne_map_huge_flags (uint64_t page_size)
{
  int shift = 0;
  while (shift < 63 && (1ull << shift) < page_size)
    shift++;
  /* 16 GiB pages (shift 34) reach bit 31: shift as unsigned; mmap takes the bits. */
  return (int) ((unsigned) MAP_HUGETLB | ((unsigned) shift << MAP_HUGE_SHIFT));
}

uint64_t
ne_map_huge_size (int flags)
{
  int shift = (int) (((unsigned) flags >> MAP_HUGE_SHIFT) & NE_MAP_HUGE_MASK);
  return shift ? 1ull << shift : 0;
}

struct plan
{
  struct ne_region *r;
  size_t n, cap;
};

static void
plan_push (struct plan *pl, void *addr, uint64_t size)
{
  if (pl->n == pl->cap)
    {
      size_t cap = pl->cap ? pl->cap * 2 : 16;
      struct ne_region *r = realloc (pl->r, cap * sizeof *r);
      if (r == NULL)
        abort (); /* OOM is not an error path */
      pl->r = r;
      pl->cap = cap;
    }
  pl->r[pl->n].addr = addr;
  pl->r[pl->n].size = size;
  pl->n++;
}

/* Sort by size, descending, keeping the allocation order among equal sizes (a stable
 * sort, as nitro-cli's sort_by): one pass per page size. */
static void
sort_desc (struct plan *pl)
{
  struct ne_region *sorted;
  size_t i, j, k = 0;
  if (pl->n < 2)
    return;
  sorted = malloc (pl->n * sizeof *sorted);
  if (sorted == NULL)
    abort ();
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    for (j = 0; j < pl->n; j++)
      if (pl->r[j].size == ne_page_sizes[i])
        sorted[k++] = pl->r[j];
  memcpy (pl->r, sorted, k * sizeof *sorted);
  free (sorted);
}

int
ne_plan_regions (uint64_t mem_bytes, ne_page_alloc_fn alloc, ne_page_release_fn release, void *ctx,
                 struct ne_region **out, size_t *n_out, uint64_t *missing)
{
  struct plan pl = { NULL, 0, 0 };
  uint64_t have = 0, kept;
  size_t i, keep;
  void *addr;

  *out = NULL;
  *n_out = 0;
  if (missing)
    *missing = 0;
  /* Largest pages first, while what is still needed is at least one page of that size. */
  for (i = 0; i < NE_N_PAGE_SIZES; i++)
    while (mem_bytes - have >= ne_page_sizes[i] && have < mem_bytes)
      {
        if (alloc (ctx, ne_page_sizes[i], &addr) < 0)
          break;
        plan_push (&pl, addr, ne_page_sizes[i]);
        have += ne_page_sizes[i];
      }
  /* Then smallest first to cover the rest (wasting as little as possible). */
  for (i = NE_N_PAGE_SIZES; i-- > 0 && have < mem_bytes;)
    while (have < mem_bytes)
      {
        if (alloc (ctx, ne_page_sizes[i], &addr) < 0)
          break;
        plan_push (&pl, addr, ne_page_sizes[i]);
        have += ne_page_sizes[i];
      }
  if (have < mem_bytes)
    {
      if (missing)
        *missing = mem_bytes - have;
      for (i = 0; i < pl.n; i++)
        release (ctx, pl.r[i].addr, pl.r[i].size);
      free (pl.r);
      return -1;
    }
  /* Largest first; keep the shortest prefix that covers the request, give back the rest. */
  sort_desc (&pl);
  for (keep = 0, kept = 0; keep < pl.n && kept < mem_bytes; keep++)
    kept += pl.r[keep].size;
  for (i = keep; i < pl.n; i++)
    release (ctx, pl.r[i].addr, pl.r[i].size);
  *out = pl.r;
  *n_out = keep;
  return 0;
}
