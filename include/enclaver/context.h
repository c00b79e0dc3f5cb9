/* enclaver: the build context shared by the stages of one pipeline run.
 *
 * Typed named slots: each slot holds one value with a type tag (a string such as
 * "enclaver.manifest") and a free function.  enclaver_ctx_get() returns NULL when
 * the slot is empty or holds another type, so a stage never misreads a value.
 *
 * Parameters: string key/values set by the CLI (e.g. "platform", "eif-output") for
 * the stages to read.
 *
 * Outputs: a stage never writes a final output path directly.  It asks for a
 * temporary file next to it with enclaver_ctx_output_open(); the runner renames
 * every output into place only after the whole pipeline succeeded, and removes
 * them all otherwise, so no partial output is ever left behind.
 *
 * Hooks: callbacks on the events "before:<stage>", "after:<stage>", "measured",
 * "error" and "done".  A failing before/after/measured hook fails the build; a
 * failing error/done hook is only logged.
 */
#ifndef ENCLAVER_CONTEXT_H
#define ENCLAVER_CONTEXT_H

#include <enclaver/stage.h>

#ifdef __cplusplus
extern "C" {
#endif

enum enclaver_slot
{
  ENCLAVER_SLOT_MANIFEST = 0,
  ENCLAVER_SLOT_IMAGE,
  ENCLAVER_SLOT_ROOTFS,
  ENCLAVER_SLOT_RAMDISKS,
  ENCLAVER_SLOT_KERNEL,
  ENCLAVER_SLOT_CMDLINE,
  ENCLAVER_SLOT_MEASUREMENTS,
  ENCLAVER_SLOT_ARTIFACTS,
  ENCLAVER_SLOT_COUNT
};

/* "manifest", "image", ...; NULL when out of range. */
const char *enclaver_slot_name (int slot);
/* Inverse of enclaver_slot_name; -1 when unknown. */
int enclaver_slot_from_name (const char *name);

enclaver_ctx_t *enclaver_ctx_new (void);
void enclaver_ctx_free (enclaver_ctx_t *ctx);

/* Store value (ownership moves to the context; the previous value is freed).
 * type must be non-NULL; value may be NULL to clear the slot. */
int enclaver_ctx_set (enclaver_ctx_t *ctx, int slot, const char *type, void *value,
                      void (*free_fn) (void *), enclaver_error_t *err);
/* Borrow the value; NULL when empty or when its type tag differs from type. */
void *enclaver_ctx_get (const enclaver_ctx_t *ctx, int slot, const char *type);
/* Take the value out (the slot becomes empty); NULL as for enclaver_ctx_get. */
void *enclaver_ctx_take (enclaver_ctx_t *ctx, int slot, const char *type);
/* Type tag of what the slot holds, or NULL. */
const char *enclaver_ctx_slot_type (const enclaver_ctx_t *ctx, int slot);

int enclaver_ctx_set_param (enclaver_ctx_t *ctx, const char *key, const char *value, enclaver_error_t *err);
const char *enclaver_ctx_get_param (const enclaver_ctx_t *ctx, const char *key);

/* Record a build artifact: sets the parameter "artifact:<name>" = path and lists name
 * (once) in the space-separated parameter "artifacts".  Names are [a-z0-9_-]+. */
int enclaver_ctx_add_artifact (enclaver_ctx_t *ctx, const char *name, const char *path, enclaver_error_t *err);

/* Create a temporary file in the directory of final_path and return its fd
 * (O_WRONLY|O_CLOEXEC, mode 0644 & ~umask at commit).  *tmp_path (may be NULL)
 * borrows the temporary name, valid until the context is freed. */
int enclaver_ctx_output_open (enclaver_ctx_t *ctx, const char *final_path, const char **tmp_path,
                              enclaver_error_t *err);
/* Like enclaver_ctx_output_open for a directory: creates an empty temporary directory
 * beside final_path and returns its path (borrowed).  At commit an existing directory
 * at final_path is replaced in one step (renameat2 RENAME_EXCHANGE; moved aside first
 * where the file system cannot exchange); an existing file is an error. */
const char *enclaver_ctx_output_dir (enclaver_ctx_t *ctx, const char *final_path, enclaver_error_t *err);
/* Call before making a scratch file of one's own beside final_path (named
 * NAME.enclaver-blobs.XXXXXX, or another name of the patterns in docs/cache.md): the
 * build then holds the directory like its outputs, so that no other build takes the
 * scratch for a leftover.  enclaver_ctx_output_open/_dir do it themselves. */
void enclaver_ctx_output_prepare (enclaver_ctx_t *ctx, const char *final_path);
/* Rename all outputs into place (fsync'd); on failure remove what is left. */
int enclaver_ctx_outputs_commit (enclaver_ctx_t *ctx, enclaver_error_t *err);
/* Remove every temporary output. */
void enclaver_ctx_outputs_discard (enclaver_ctx_t *ctx);

typedef int (*enclaver_hook_fn) (enclaver_ctx_t *ctx, const char *event, void *userdata,
                                 enclaver_error_t *err);
/* Subscribe fn to event.  Validates the event name; free_fn (may be NULL) releases
 * userdata with the context. Hooks of one event fire in the order added. */
int enclaver_ctx_hook_add (enclaver_ctx_t *ctx, const char *event, enclaver_hook_fn fn,
                           void *userdata, void (*free_fn) (void *), enclaver_error_t *err);
/* Fire every hook of event, stopping at the first failure. */
int enclaver_ctx_hook_fire (enclaver_ctx_t *ctx, const char *event, enclaver_error_t *err);
/* 1 when event is a valid hook event name. */
int enclaver_hook_event_valid (const char *event);
/* While the "error" event fires: the message of the error that stopped the build. */
const char *enclaver_ctx_failure (const enclaver_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
