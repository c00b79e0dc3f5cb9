/* enclaver: maintenance of the blob cache (`enclaver image cache prune|verify`).
 *
 * The cache (default $XDG_CACHE_HOME/enclaver) holds blobs/sha256/<hex>, the tags
 * resolved before under refs/<host>/<path>/<tag>, and tmp/ with the downloads in
 * progress.  Each process holds an exclusive flock(2) on the temporary files it is
 * writing, so a temporary nobody holds is a leftover of a process that died: opening
 * the cache removes those, and so does prune. */
#ifndef ENCLAVER_CACHE_H
#define ENCLAVER_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum enclaver_cache_prune_mode
{
  ENCLAVER_CACHE_PRUNE_TEMPORARIES = 0, /* stale temporaries only */
  ENCLAVER_CACHE_PRUNE_UNREFERENCED = 1, /* also blobs no remembered tag leads to */
  ENCLAVER_CACHE_PRUNE_ALL = 2,          /* every blob, tag and stale temporary */
};

struct enclaver_cache_item
{
  char *path;   /* absolute */
  char *kind;   /* "temporary", "blob", "ref" (prune); "corrupt" (verify) */
  uint64_t size;
  char *detail; /* verify: why the blob failed; else NULL */
};

struct enclaver_cache_report
{
  char *root;                        /* the cache directory */
  struct enclaver_cache_item *items; /* what was removed */
  size_t n_items;
  uint64_t bytes;                    /* bytes freed */
  size_t checked;                    /* verify: blobs hashed */
  uint64_t checked_bytes;
};

/* The cache directory for dir (NULL: the default); malloc'd. */
char *enclaver_image_cache_dir (const char *dir);
/* Remove what mode says from the cache at dir (NULL: the default) and fill out with
 * what was removed.  A cache that does not exist is empty.  Returns 0 or -1. */
int enclaver_image_cache_prune (const char *dir, int mode, struct enclaver_cache_report *out,
                                enclaver_error_t *err);
/* Re-hash every blob; remove (and report in out->items) those whose content does not
 * match their name.  Returns the number of corrupt blobs, or -1 on an error. */
int enclaver_image_cache_verify (const char *dir, struct enclaver_cache_report *out, enclaver_error_t *err);
void enclaver_cache_report_clear (struct enclaver_cache_report *r);

#ifdef __cplusplus
}
#endif
#endif
