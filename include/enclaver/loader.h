/* enclaver: finding and loading stage plugins.
 *
 * Search order for a stage named NAME (file NAME.so):
 *   1. directories added with enclaver_loader_add_dir() (--plugin-dir), in order;
 *   2. ENCLAVER_PLUGIN_PATH (colon-separated);
 *   3. the build tree's stages/.libs when the running program is uninstalled;
 *   4. pkglibdir, relative to the installed program first (relocatable installs),
 *      then the configured one.
 */
#ifndef ENCLAVER_LOADER_H
#define ENCLAVER_LOADER_H

#include <stddef.h>
#include <enclaver/stage.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct enclaver_loader enclaver_loader_t;

enclaver_loader_t *enclaver_loader_new (void);
/* dlclose()s every plugin: call after every pipeline using it is freed. */
void enclaver_loader_free (enclaver_loader_t *l);

void enclaver_loader_add_dir (enclaver_loader_t *l, const char *dir);
/* Append ENCLAVER_PLUGIN_PATH, the build tree and pkglibdir to the search path. */
void enclaver_loader_add_default_dirs (enclaver_loader_t *l);
size_t enclaver_loader_n_dirs (const enclaver_loader_t *l);
const char *enclaver_loader_dir (const enclaver_loader_t *l, size_t i);

/* Load one plugin file.  Refuses (with a message naming the file and the reason)
 * a dlopen failure, a missing descriptor symbol, another ABI major, a newer ABI
 * minor, a descriptor smaller than ENCLAVER_STAGE_DESC_MIN_SIZE, a bad name, or a
 * name already loaded from another file.  Loading the same file twice returns the
 * first load. */
int enclaver_loader_load_file (enclaver_loader_t *l, const char *path,
                               const struct enclaver_stage_desc **out, enclaver_error_t *err);
/* Find NAME.so along the search path (or return the stage already loaded under
 * that name) and load it. */
int enclaver_loader_load_name (enclaver_loader_t *l, const char *name,
                               const struct enclaver_stage_desc **out, enclaver_error_t *err);
/* Load every *.so along the search path.  A name found earlier on the path shadows
 * later files of the same name (not an error).  Files that fail to load are
 * reported through warn (may be NULL) and skipped.  Returns the number loaded. */
int enclaver_loader_scan (enclaver_loader_t *l, void (*warn) (void *ud, const char *path, const char *msg),
                          void *ud, enclaver_error_t *err);

size_t enclaver_loader_count (const enclaver_loader_t *l);
const struct enclaver_stage_desc *enclaver_loader_desc (const enclaver_loader_t *l, size_t i);
const char *enclaver_loader_path (const enclaver_loader_t *l, size_t i);
/* Path a loaded descriptor came from, or NULL. */
const char *enclaver_loader_path_of (const enclaver_loader_t *l, const struct enclaver_stage_desc *d);

/* Parse one option value as the core does for stage options (for tests and tools).
 * Writes into the config block at opt->offset. */
int enclaver_option_parse (const struct enclaver_stage_option *opt, const char *value, void *config,
                           enclaver_error_t *err);
const char *enclaver_option_type_name (int type);

#ifdef __cplusplus
}
#endif
#endif
