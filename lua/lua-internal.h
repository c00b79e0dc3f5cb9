/* enclaver Lua binding: shared between the sandbox, the classes and the hook runner.
 *
 * The files build on each other in one direction (tests/layout/cycles.sh):
 *   json.c       Lua values <-> JSON, read-only proxies     (uses nothing below)
 *   sandbox.c    states, limits, calls, the enclaver module  (uses json.c)
 *   classes.c    what every class shares                     (uses nothing below)
 *   class-ctx.c, class-image.c, class-rootfs.c: one class family each
 *                                                           (use classes.c, sandbox.c, json.c)
 *   hooks.c      hook scripts, the Lua stage, the hook table (uses all of them) */
#ifndef ENCLAVER_LUA_INTERNAL_H
#define ENCLAVER_LUA_INTERNAL_H

#include <setjmp.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#include <enclaver/lua.h>
#include "util.h"

#define LSCRIPT_MANIFEST_TYPE "enclaver.manifest"

/* Metatable names of the classes (class-*.c). */
#define LCLASS_CTX "enclaver.ctx"
#define LCLASS_IMAGE "enclaver.image"
#define LCLASS_CONFIG "enclaver.image_config"
#define LCLASS_ROOTFS "enclaver.rootfs"

enum lscript_kill
{
  LKILL_NONE = 0,
  LKILL_BUDGET = 1, /* instruction budget exceeded */
  LKILL_MEMORY = 2, /* memory cap exceeded */
};

/* One script, one Lua state. */
struct lscript
{
  lua_State *L;
  int refs;           /* owners: the stage or every hook registration */
  int is_stage;
  char *path;         /* absolute path of the script */
  char *display;      /* name used in messages (chunk name without '@') */
  char *log_source;   /* source of its log lines: "stage:lua:NAME:INDEX" for a stage, NULL: "lua:DISPLAY" */
  char *base_dir;     /* read_file root (manifest dir); NULL = ask the context */
  char *manifest_json; /* manifest given at attach time, as JSON (may be NULL) */

  /* limits */
  uint64_t mem_used;
  uint64_t mem_limit;
  uint64_t budget;    /* instructions allowed in the current call */
  uint64_t used;      /* instructions counted in the current call */
  int killed;         /* enum lscript_kill: sticky until the call returns */

  /* the call in progress */
  enclaver_ctx_t *ctx; /* NULL outside a call */
  const char *event;   /* event being handled (NULL while loading / in a stage) */
  int loading;         /* running the chunk body of a hook script: enclaver.on allowed */
  char *fail_msg;      /* ctx.fail() message: the call fails whatever Lua does */
  jmp_buf *panic_jmp;

  int handlers_ref;   /* registry ref: { [event] = { fn, ... } } */
  char **events;      /* events subscribed, in first-subscription order */
  size_t n_events;
};

/* json.c */
/* Push a malloc'd buffer as a Lua string and free it, even when pushing raises. */
void lscript_push_owned (lua_State *L, char *buf, size_t len) ENCLAVER_INTERNAL;
/* Push json (jansson json_t *) as Lua values (read-only proxies when ro); the
 * reference is consumed, even when pushing raises. */
void lscript_push_json (lua_State *L, void *json, int ro) ENCLAVER_INTERNAL;
/* Parse a JSON text and push it as Lua values (read-only proxies when ro). */
void lscript_push_json_text (lua_State *L, const char *text, size_t len, int ro) ENCLAVER_INTERNAL;
/* Push the enclaver.json table: encode, decode, null. */
void ljson_open (lua_State *L) ENCLAVER_INTERNAL;

/* sandbox.c */
/* A new sandboxed state; open_more (may be NULL) is called in it, protected, to add
 * what the layers above provide (hooks.c passes the classes). */
struct lscript *lscript_new (const char *path, const char *display, lua_CFunction open_more,
                             enclaver_error_t *err) ENCLAVER_INTERNAL;
void lscript_unref (struct lscript *s) ENCLAVER_INTERNAL;
struct lscript *lscript_get (lua_State *L) ENCLAVER_INTERNAL;
/* The log source of the script's own lines (ctx.log, print): the stage's
 * "stage:lua:NAME:INDEX", so they carry the name its events and errors have, or
 * "lua:DISPLAY" for a hook script.  Written into buf. */
const char *lscript_log_source (const struct lscript *s, char *buf, size_t size) ENCLAVER_INTERNAL;
/* Read and compile the script (text only); leaves the chunk on the stack. */
int lscript_load (struct lscript *s, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Apply limits from the context parameters (defaults when ctx is NULL). */
int lscript_limits_from_ctx (struct lscript *s, enclaver_ctx_t *ctx, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Call the function below nargs arguments on the stack under the limits, with
 * ctx current.  nres results are left on the stack on success. */
int lscript_call (struct lscript *s, enclaver_ctx_t *ctx, const char *event, int nargs, int nres, const char *what,
                  enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Raise a Lua error with the message of *err (released first). */
int lscript_raise (lua_State *L, enclaver_error_t *err) __attribute__ ((noreturn)) ENCLAVER_INTERNAL;
/* The current context or a Lua error when none. */
enclaver_ctx_t *lscript_ctx (lua_State *L, const char *what) ENCLAVER_INTERNAL;
/* The directory read_file resolves against (borrowed; may use the context). */
const char *lscript_base_dir (struct lscript *s) ENCLAVER_INTERNAL;

/* attest.c */
/* Replace the function on top of the stack (enclaver.read_file, how opts.root names a
 * file) by the enclaver.attestation table: verify. */
void lattest_open (lua_State *L) ENCLAVER_INTERNAL;

/* classes.c */
/* Check that the first argument is either self of tname (method call) or absent
 * (dot call); returns the index of the first real argument. */
int lclasses_self (lua_State *L, const char *tname) ENCLAVER_INTERNAL;
/* Push the (cached) token object of class tname. */
void lclasses_push_token (lua_State *L, const char *tname) ENCLAVER_INTERNAL;
/* Push the ctx object of the script. */
void lclasses_push_ctx (lua_State *L) ENCLAVER_INTERNAL;
int lclasses_str_has_nul (const char *s, size_t len) ENCLAVER_INTERNAL;
/* Argument idx as a path string (no NUL inside) or a Lua error naming what. */
const char *lclasses_check_path (lua_State *L, int idx, const char *what) ENCLAVER_INTERNAL;
/* Register the locked metatable of a class; newindex NULL = read-only, named label. */
void lclasses_new_class (lua_State *L, const char *tname, lua_CFunction index, lua_CFunction newindex,
                         const char *label) ENCLAVER_INTERNAL;

/* class-ctx.c, class-image.c, class-rootfs.c: register the family's metatables. */
void lclass_ctx_open (lua_State *L) ENCLAVER_INTERNAL;
void lclass_image_open (lua_State *L) ENCLAVER_INTERNAL;
void lclass_rootfs_open (lua_State *L) ENCLAVER_INTERNAL;

#endif
