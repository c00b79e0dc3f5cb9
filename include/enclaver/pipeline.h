/* enclaver: the pipeline runner.
 *
 * A pipeline is an ordered list of configured stages.  enclaver_pipeline_run():
 *   1. init()s every stage in order (so configuration errors surface before work);
 *   2. for each stage fires "before:<name>", run()s it, fires "after:<name>";
 *   3. stops at the first failure;
 *   4. on success renames every output into place and fires "done"; on failure
 *      removes every temporary output and fires "error";
 *   5. always fini()s every stage whose init() succeeded, in reverse order.
 */
#ifndef ENCLAVER_PIPELINE_H
#define ENCLAVER_PIPELINE_H

#include <enclaver/context.h>
#include <enclaver/loader.h>
#include <enclaver/manifest.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct enclaver_pipeline enclaver_pipeline_t;

/* The pipeline's extension points, filled in by a binding that lives outside the
 * core (the Lua binding of lua/: enclaver_lua_hook_ops() in <enclaver/lua.h>), so
 * that the core calls it without depending on it.  Events reach a binding through
 * the context's hooks (enclaver_ctx_hook_add(), fired by enclaver_pipeline_run());
 * this table carries the rest:
 *   stage_factory  builds the stage of a manifest pipeline entry the core cannot
 *                  load itself (kind ENCLAVER_PIPELINE_LUA, "- lua: PATH"), usually
 *                  by calling enclaver_pipeline_append() with its own descriptor.
 * Whoever starts a build registers the table on its pipeline before
 * enclaver_pipeline_from_manifest(); without one a "- lua:" entry is an error. */
struct enclaver_hook_ops
{
  const char *name; /* the binding, for messages: "lua" */
  int (*stage_factory) (enclaver_pipeline_t *p, const struct enclaver_pipeline_entry *e, void *userdata,
                        enclaver_error_t *err);
};

/* The default stack: fetch, flatten, inject, measure, emit-eif, emit-image. */
extern const char *const enclaver_default_stages[];

enclaver_pipeline_t *enclaver_pipeline_new (enclaver_loader_t *loader);
void enclaver_pipeline_free (enclaver_pipeline_t *p);
/* Register the binding's table (NULL: none).  ops and userdata are borrowed: they
 * must outlive the pipeline. */
void enclaver_pipeline_set_hooks (enclaver_pipeline_t *p, const struct enclaver_hook_ops *ops, void *userdata);

/* Append a loaded stage with its options (validated and parsed now). */
int enclaver_pipeline_append (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc,
                              const struct enclaver_kv *opts, size_t n_opts, enclaver_error_t *err);
/* The same under an instance name of its own (NULL: the descriptor's): the name of its
 * events (before:NAME), log prefix (stage:NAME:INDEX) and messages.  Lua stages are
 * "lua:SCRIPT".  NAME is a stage name, or two joined by ':'. */
int enclaver_pipeline_append_as (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc, const char *name,
                                 const struct enclaver_kv *opts, size_t n_opts, enclaver_error_t *err);
/* Options that replace (or add to) the manifest's for the stages appended from now on:
 * keys "STAGE.OPTION" (`enclaver build --stage-opt`), matched against the instance name.
 * Copied.  Fails on a key without a '.'. */
int enclaver_pipeline_set_overrides (enclaver_pipeline_t *p, const struct enclaver_kv *kv, size_t n,
                                     enclaver_error_t *err);
/* For a binding that hands the overrides of its stages on itself (the Lua stage puts
 * them into the script's options table): the overrides "NAME.KEY" of instance NAME, as
 * KEY = value pairs borrowed from the pipeline, in the order given; marked as taken.
 * *out is malloc'd (free it); returns how many.  Append the stage with
 * enclaver_pipeline_append_flags (..., ENCLAVER_PIPELINE_OWN_OVERRIDES, ...) so that they
 * are not applied to its descriptor's options a second time. */
size_t enclaver_pipeline_overrides_for (enclaver_pipeline_t *p, const char *name, struct enclaver_kv **out);
#define ENCLAVER_PIPELINE_OWN_OVERRIDES 0x1u
/* enclaver_pipeline_append_as with flags (ENCLAVER_PIPELINE_OWN_OVERRIDES). */
int enclaver_pipeline_append_flags (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc, const char *name,
                                    const struct enclaver_kv *opts, size_t n_opts, unsigned flags,
                                    enclaver_error_t *err);
/* The first override no appended stage took (its stage is not in the pipeline), or NULL. */
const char *enclaver_pipeline_unused_override (const enclaver_pipeline_t *p);
/* Append a stage found by name along the loader's search path. */
int enclaver_pipeline_append_name (enclaver_pipeline_t *p, const char *name,
                                   const struct enclaver_kv *opts, size_t n_opts, enclaver_error_t *err);
/* The manifest's pipeline: list, or the default stack when it has none. */
int enclaver_pipeline_from_manifest (enclaver_pipeline_t *p, const struct enclaver_manifest *m,
                                     enclaver_error_t *err);

size_t enclaver_pipeline_count (const enclaver_pipeline_t *p);
const char *enclaver_pipeline_stage_name (const enclaver_pipeline_t *p, size_t i);

int enclaver_pipeline_run (enclaver_pipeline_t *p, enclaver_ctx_t *ctx, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
