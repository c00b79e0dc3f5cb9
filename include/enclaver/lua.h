/* enclaver: Lua 5.4 hook scripts and Lua stages.
 *
 * Every script runs in its own sandboxed Lua state: only the base, table, string,
 * math and utf8 libraries (no io, os, package, require, debug, dofile, loadfile,
 * string.dump; `load` accepts text chunks only); a memory cap enforced by the
 * allocator; an instruction budget per call enforced by a count hook that keeps
 * firing once tripped, so `pcall` cannot swallow it; `print` goes to the build
 * log; math.random is seeded from the script's bytes.  The only I/O a script has
 * is the `enclaver` module (read_file below the manifest directory, write_output
 * into the output directory as a build output).  See docs/lua.md.
 *
 * Limits are read from context parameters at every call (hooks) or run (stages):
 *   "lua-memory"        bytes, suffixes k/K, M, G  (default ENCLAVER_LUA_DEFAULT_MEMORY)
 *   "lua-instructions"  VM instructions per call  (default ENCLAVER_LUA_DEFAULT_INSTRUCTIONS)
 * Other parameters used:
 *   "output-dir"        where enclaver.write_output() writes (default: the manifest dir)
 *   "manifest-dir"      the manifest directory when no manifest is given/stored
 *
 * Context slots the ctx classes read (type tags):
 *   manifest      "enclaver.manifest"      struct enclaver_manifest *
 *   image         ENCLAVER_IMAGE_TYPE      struct enclaver_image *   (config writable until
 *                                          the ramdisks slot is filled by inject)
 *   rootfs        ENCLAVER_TREE_TYPE       enclaver_tree_t *
 *   measurements  ENCLAVER_MEASUREMENTS_TYPE  struct enclaver_eif_measurements *
 *   ramdisks      (any type)               once filled, ctx.image.config is read-only
 * Artifacts are the context parameters "artifact:<name>" listed in "artifacts"
 * (enclaver_ctx_add_artifact()); enclaver.write_output() records its files there.
 */
#ifndef ENCLAVER_LUA_H
#define ENCLAVER_LUA_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/context.h>
#include <enclaver/manifest.h>
#include <enclaver/pipeline.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_LUA_DEFAULT_MEMORY (64u * 1024u * 1024u)
#define ENCLAVER_LUA_DEFAULT_INSTRUCTIONS 500000000ULL
/* Largest script file accepted. */
#define ENCLAVER_LUA_MAX_SCRIPT_SIZE (4u * 1024u * 1024u)
/* Name of the built-in Lua stage (events "before:lua" / "after:lua"). */
#define ENCLAVER_LUA_STAGE_NAME "lua"

/* Load every hook script (the manifest's `hooks:` first, in order, then the
 * NULL-terminated extra_scripts, e.g. from `enclaver build --hook FILE`; relative
 * extra paths resolve against the current directory).  Each script runs once in
 * its own state and subscribes with enclaver.on(event, fn); every subscription is
 * registered with enclaver_ctx_hook_add() and the state lives until the context is
 * freed.  m and extra_scripts may be NULL.  Errors name the script and line. */
int enclaver_lua_attach_hooks (enclaver_ctx_t *ctx, const struct enclaver_manifest *m,
                               const char *const *extra_scripts, enclaver_error_t *err);

/* The built-in stage that runs a Lua stage script.  Its options are
 *   script   (required) absolute path of the script
 *   options  JSON object text: the entry's `options:` map, passed to run() as a table
 * init() loads (compiles) the script; run() executes the chunk, then calls the global
 * function run(ctx, options) it defines (or the field run of the table it returns). */
const struct enclaver_stage_desc *enclaver_lua_stage_desc (void);

/* Append a Lua stage for script with the manifest entry's options (any keys, string
 * values) to the pipeline. */
int enclaver_lua_pipeline_append (enclaver_pipeline_t *p, const char *script, const struct enclaver_kv *opts,
                                  size_t n_opts, enclaver_error_t *err);

/* The Lua binding's table for enclaver_pipeline_set_hooks(): its stage factory turns
 * a manifest entry "- lua: PATH" into a Lua stage (enclaver_lua_pipeline_append()).
 * Register it on every pipeline whose manifest may name Lua stages. */
const struct enclaver_hook_ops *enclaver_lua_hook_ops (void);

#ifdef __cplusplus
}
#endif
#endif
