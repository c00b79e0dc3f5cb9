/* enclaver Lua binding: hook scripts (enclaver.on) and the built-in Lua stage. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "lua-internal.h"

/* Every state gets the classes (called protected, inside the new state). */
static int
open_classes (lua_State *L)
{
  lclass_ctx_open (L);
  lclass_image_open (L);
  lclass_rootfs_open (L);
  return 0;
}

/* ------------------------------------------------------------------ hooks */

struct hook_sub
{
  struct lscript *s;
  char *event; /* as subscribed (may be a "before:*" pattern) */
};

static void
hook_sub_free (void *p)
{
  struct hook_sub *h = p;
  if (h == NULL)
    return;
  lscript_unref (h->s);
  free (h->event);
  free (h);
}

/* One C hook per (script, event): call the script's handlers in subscription order. */
static int
hook_trampoline (enclaver_ctx_t *ctx, const char *event, void *userdata, enclaver_error_t *err)
{
  struct hook_sub *h = userdata;
  struct lscript *s = h->s;
  lua_State *L = s->L;
  lua_Integer i, n;

  if (L == NULL)
    return enclaver_make_error (err, EIO, "%s: the Lua state is no longer usable", s->display);
  if (lscript_limits_from_ctx (s, ctx, err) < 0)
    return -1;
  lua_rawgeti (L, LUA_REGISTRYINDEX, s->handlers_ref);
  lua_getfield (L, -1, h->event);
  lua_remove (L, -2);
  n = (lua_Integer) lua_rawlen (L, -1);
  for (i = 1; i <= n; i++)
    {
      lua_rawgeti (L, -1, i);
      lclasses_push_ctx (L);
      lua_pushstring (L, event);
      enclaver_log (ENCLAVER_LOG_DEBUG, "lua", "%s: %s handler %d", s->display, event, (int) i);
      if (lscript_call (s, ctx, event, 2, 0, NULL, err) < 0)
        {
          if (s->L)
            lua_pop (s->L, 1);
          return -1;
        }
    }
  lua_pop (L, 1);
  return 0;
}

/* Display name: the path relative to dir when it lies below it. */
static char *
display_name (const char *path, const char *dir)
{
  size_t n = dir ? strlen (dir) : 0;
  if (n > 0 && strncmp (path, dir, n) == 0 && path[n] == '/' && path[n + 1])
    return xstrdup (path + n + 1);
  return xstrdup (path);
}

static int
attach_one (enclaver_ctx_t *ctx, const char *path, const char *base_dir, const char *manifest_json,
            enclaver_error_t *err)
{
  cleanup_free char *display = display_name (path, base_dir);
  struct lscript *s = lscript_new (path, display, open_classes, err);
  size_t i;

  if (s == NULL)
    return -1;
  s->base_dir = base_dir ? xstrdup (base_dir) : NULL;
  s->manifest_json = manifest_json ? xstrdup (manifest_json) : NULL;
  if (lscript_limits_from_ctx (s, ctx, err) < 0 || lscript_load (s, err) < 0)
    {
      lscript_unref (s);
      return -1;
    }
  s->loading = 1;
  if (lscript_call (s, ctx, NULL, 0, 0, NULL, err) < 0)
    {
      s->loading = 0;
      lscript_unref (s);
      return -1;
    }
  s->loading = 0;
  if (s->n_events == 0)
    enclaver_log (ENCLAVER_LOG_WARNING, "lua", "%s: the script subscribes to no event (use enclaver.on)", display);
  for (i = 0; i < s->n_events; i++)
    {
      struct hook_sub *h = xmalloc0 (sizeof *h);
      h->s = s;
      h->event = xstrdup (s->events[i]);
      s->refs++;
      if (enclaver_ctx_hook_add (ctx, h->event, hook_trampoline, h, hook_sub_free, err) < 0)
        {
          lscript_unref (s);
          return enclaver_error_wrap (err, "%s", display);
        }
    }
  lscript_unref (s); /* the hooks own it now */
  return 0;
}

int
enclaver_lua_attach_hooks (enclaver_ctx_t *ctx, const struct enclaver_manifest *m, const char *const *extra_scripts,
                           enclaver_error_t *err)
{
  cleanup_free char *mjson = NULL;
  cleanup_free char *cwd = NULL;
  const char *base = NULL;
  size_t i;

  if (m)
    {
      enclaver_error_t e = NULL;
      mjson = enclaver_manifest_to_json (m, &e);
      if (mjson == NULL)
        enclaver_error_release (&e);
      base = m->dir;
    }
  if (base == NULL)
    base = enclaver_ctx_get_param (ctx, "manifest-dir");
  if (base == NULL)
    {
      cwd = getcwd (NULL, 0);
      base = cwd;
    }
  for (i = 0; m && i < m->n_hooks; i++)
    if (attach_one (ctx, m->hooks[i], base, mjson, err) < 0)
      return enclaver_error_wrap (err, "hook script %s", m->hooks[i]);
  for (i = 0; extra_scripts && extra_scripts[i]; i++)
    {
      cleanup_free char *abs = enclaver_path_join_abs (NULL, extra_scripts[i]);
      if (attach_one (ctx, abs, base, mjson, err) < 0)
        return enclaver_error_wrap (err, "hook script %s", extra_scripts[i]);
    }
  return 0;
}

/* ------------------------------------------------------------------ the Lua stage */

struct lua_stage_config
{
  char *script;
  char *options;
};

static const struct enclaver_stage_option lua_stage_options[] = {
  { ENCLAVER_OPT_STRING, "script", NULL, ENCLAVER_OPT_REQUIRED, offsetof (struct lua_stage_config, script),
    "absolute path of the Lua stage script" },
  { ENCLAVER_OPT_STRING, "options", "{}", 0, offsetof (struct lua_stage_config, options),
    "JSON object passed to run(ctx, options)" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static int
lua_stage_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct lua_stage_config *c = enclaver_stage_get_config (st);
  struct lscript *s;
  json_error_t je;
  json_t *j;

  j = json_loads (c->options ? c->options : "{}", 0, &je);
  if (j == NULL || !json_is_object (j))
    {
      json_decref (j);
      return enclaver_make_error (err, EINVAL, "Lua stage %s: options must be a JSON object", c->script);
    }
  json_decref (j);
  s = lscript_new (c->script, c->script, open_classes, err);
  if (s == NULL)
    return -1;
  s->is_stage = 1;
  s->log_source = xasprintf ("stage:%s:%u", enclaver_stage_name (st), enclaver_stage_index (st));
  /* Compile now so syntax errors stop the build before any stage runs; run()
   * compiles again once the manifest directory (for message names) is known. */
  if (lscript_load (s, err) < 0)
    {
      lscript_unref (s);
      return -1;
    }
  lua_pop (s->L, 1);
  enclaver_stage_set_data (st, s);
  return 0;
}

static int
lua_stage_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct lua_stage_config *c = enclaver_stage_get_config (st);
  struct lscript *s = enclaver_stage_get_data (st);
  const char *base;
  lua_State *L;
  json_error_t je;
  json_t *opts;

  if (s == NULL || s->L == NULL)
    return enclaver_make_error (err, EIO, "Lua stage %s: not initialised", c->script);
  L = s->L;
  /* Messages name the script relative to the manifest directory. */
  s->ctx = ctx;
  base = lscript_base_dir (s);
  s->ctx = NULL;
  if (base)
    {
      char *d = display_name (s->path, base);
      free (s->display);
      s->display = d;
    }
  if (lscript_limits_from_ctx (s, ctx, err) < 0 || lscript_load (s, err) < 0)
    return -1;
  /* 1. the chunk body (defines run) */
  if (lscript_call (s, ctx, NULL, 0, 1, NULL, err) < 0)
    return -1;
  L = s->L;
  if (lua_type (L, -1) == LUA_TTABLE)
    lua_getfield (L, -1, "run");
  else
    lua_getglobal (L, "run");
  lua_remove (L, -2);
  if (lua_type (L, -1) != LUA_TFUNCTION)
    {
      lua_pop (L, 1);
      return enclaver_make_error (err, EINVAL, "%s: a Lua stage must define a function run(ctx, options)",
                                  s->display);
    }
  lclasses_push_ctx (L);
  opts = json_loads (c->options ? c->options : "{}", 0, &je);
  if (opts == NULL)
    {
      lua_pop (L, 2);
      return enclaver_make_error (err, EINVAL, "Lua stage %s: bad options", s->display);
    }
  lscript_push_json (L, opts, 0);
  if (lscript_call (s, ctx, NULL, 2, 0, NULL, err) < 0)
    return -1;
  return 0;
}

static void
lua_stage_fini (enclaver_stage_t *st)
{
  lscript_unref (enclaver_stage_get_data (st));
  enclaver_stage_set_data (st, NULL);
}

static const struct enclaver_stage_desc lua_stage_desc = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR,
  .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = sizeof (struct enclaver_stage_desc),
  .name = ENCLAVER_LUA_STAGE_NAME,
  .description = "run a Lua stage script: run(ctx, options) in a sandboxed Lua 5.4 state",
  .options = lua_stage_options,
  .config_size = sizeof (struct lua_stage_config),
  .init = lua_stage_init,
  .run = lua_stage_run,
  .fini = lua_stage_fini,
};

const struct enclaver_stage_desc *
enclaver_lua_stage_desc (void)
{
  return &lua_stage_desc;
}

/* "lua:NAME", NAME from the script's file name without ".lua": lowercase letters and
 * digits kept, anything else '-', at most 64 characters ("lua:script" when nothing is left). */
static char *
lua_instance_name (const char *script)
{
  const char *b = strrchr (script, '/');
  size_t n, i, o = 0;
  char name[65];
  b = b ? b + 1 : script;
  n = strlen (b);
  if (n > 4 && strcmp (b + n - 4, ".lua") == 0)
    n -= 4;
  for (i = 0; i < n && o < sizeof name - 1; i++)
    {
      char c = b[i];
      if (c >= 'A' && c <= 'Z')
        c = (char) (c - 'A' + 'a');
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
        c = '-';
      if (o == 0 && (c == '-' || c == '_'))
        continue;
      name[o++] = c;
    }
  name[o] = '\0';
  return xasprintf ("lua:%s", o ? name : "script");
}

int
enclaver_lua_pipeline_append (enclaver_pipeline_t *p, const char *script, const struct enclaver_kv *opts,
                              size_t n_opts, enclaver_error_t *err)
{
  cleanup_free char *name = NULL;
  json_t *o = json_object ();
  cleanup_free char *text = NULL;
  cleanup_free struct enclaver_kv *over = NULL;
  struct enclaver_kv kv[2];
  size_t i, n_over;

  if (script == NULL || *script == '\0')
    {
      json_decref (o);
      return enclaver_make_error (err, EINVAL, "Lua stage: no script path");
    }
  for (i = 0; i < n_opts; i++)
    {
      json_t *v = json_string (opts[i].value ? opts[i].value : "");
      if (v == NULL || json_object_set_new (o, opts[i].key, v) < 0)
        {
          json_decref (o);
          return enclaver_make_error (err, EINVAL, "Lua stage %s: option '%s' is not valid UTF-8", script,
                                      opts[i].key);
        }
    }
  /* `--stage-opt lua:NAME.KEY=VALUE` sets (or replaces) options[KEY] of the script. */
  name = lua_instance_name (script);
  n_over = enclaver_pipeline_overrides_for (p, name, &over);
  for (i = 0; i < n_over; i++)
    {
      json_t *v = json_string (over[i].value);
      if (v == NULL || json_object_set_new (o, over[i].key, v) < 0)
        {
          json_decref (o);
          return enclaver_make_error (err, EINVAL, "--stage-opt %s.%s: the value is not valid UTF-8", name,
                                      over[i].key);
        }
    }
  text = json_dumps (o, JSON_COMPACT);
  json_decref (o);
  if (text == NULL)
    xoom ();
  kv[0].key = (char *) "script";
  kv[0].value = (char *) script;
  kv[1].key = (char *) "options";
  kv[1].value = text;
  return enclaver_pipeline_append_flags (p, &lua_stage_desc, name, kv, 2, ENCLAVER_PIPELINE_OWN_OVERRIDES, err);
}

static int
lua_stage_factory (enclaver_pipeline_t *p, const struct enclaver_pipeline_entry *e, void *userdata,
                   enclaver_error_t *err)
{
  (void) userdata;
  return enclaver_lua_pipeline_append (p, e->path, e->options, e->n_options, err);
}

static const struct enclaver_hook_ops lua_hook_ops = {
  .name = "lua",
  .stage_factory = lua_stage_factory,
};

const struct enclaver_hook_ops *
enclaver_lua_hook_ops (void)
{
  return &lua_hook_ops;
}
