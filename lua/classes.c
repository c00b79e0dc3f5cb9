/* enclaver Lua binding: the typed objects handed to scripts.
 *
 * Every object is a token userdata (no pointer inside): each access looks the
 * slot up in the context of the call in progress, so a script that keeps an
 * object past its event, or uses one after a stage replaced the slot, gets a
 * clear error instead of a dangling pointer.  Metatables are registered once
 * with luaL_newmetatable ("enclaver.<type>"), locked with __metatable. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/tree.h>
#include "lua-internal.h"

#define T_CTX "enclaver.ctx"
#define T_IMAGE "enclaver.image"
#define T_CONFIG "enclaver.image_config"
#define T_ROOTFS "enclaver.rootfs"

int
lclasses_self (lua_State *L, const char *tname)
{
  if (lua_type (L, 1) == LUA_TUSERDATA && luaL_testudata (L, 1, tname))
    return 2;
  return 1;
}

static void
push_token (lua_State *L, const char *tname)
{
  lua_getfield (L, LUA_REGISTRYINDEX, tname + sizeof "enclaver" - 1); /* ".ctx" etc.: cached token */
  if (lua_isnil (L, -1))
    {
      lua_pop (L, 1);
      lua_newuserdatauv (L, 0, 0);
      luaL_setmetatable (L, tname);
      lua_pushvalue (L, -1);
      lua_setfield (L, LUA_REGISTRYINDEX, tname + sizeof "enclaver" - 1);
    }
}

void
lclasses_push_ctx (lua_State *L)
{
  push_token (L, T_CTX);
}

static int
str_has_nul (const char *s, size_t len)
{
  return strlen (s) != len;
}

static const char *
check_path (lua_State *L, int idx, const char *what)
{
  size_t len;
  const char *p = luaL_checklstring (L, idx, &len);
  if (str_has_nul (p, len))
    luaL_error (L, "%s: path contains a NUL byte", what);
  return p;
}

/* ------------------------------------------------------------------ ctx */

static int
ctx_log (lua_State *L)
{
  static const char *const levels[] = { "error", "warning", "warn", "info", "debug", NULL };
  static const int lv[] = { ENCLAVER_LOG_ERROR, ENCLAVER_LOG_WARNING, ENCLAVER_LOG_WARNING, ENCLAVER_LOG_INFO,
                            ENCLAVER_LOG_DEBUG };
  struct lscript *s = lscript_get (L);
  int a = lclasses_self (L, T_CTX);
  int level = luaL_checkoption (L, a, NULL, levels);
  const char *msg = luaL_checkstring (L, a + 1);
  char src[300];
  snprintf (src, sizeof src, "lua:%s", s->display);
  enclaver_log (lv[level], src, "%s", msg);
  return 0;
}

static int
ctx_fail (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  int a = lclasses_self (L, T_CTX);
  const char *msg = luaL_checkstring (L, a);
  luaL_where (L, 1);
  lua_pushstring (L, msg);
  lua_concat (L, 2);
  free (s->fail_msg);
  s->fail_msg = xstrdup (lua_tostring (L, -1));
  return lua_error (L);
}

static int
ctx_param (lua_State *L)
{
  int a = lclasses_self (L, T_CTX);
  const char *k = luaL_checkstring (L, a);
  enclaver_ctx_t *ctx = lscript_ctx (L, "ctx.param");
  const char *v = enclaver_ctx_get_param (ctx, k);
  if (v)
    lua_pushstring (L, v);
  else
    lua_pushnil (L);
  return 1;
}

static void
push_manifest (lua_State *L, struct lscript *s, enclaver_ctx_t *ctx)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, LSCRIPT_MANIFEST_TYPE);
  json_t *j = NULL;
  json_error_t je;

  if (m)
    {
      enclaver_error_t e = NULL;
      char *text = enclaver_manifest_to_json (m, &e);
      if (text == NULL)
        lscript_raise (L, &e);
      j = json_loads (text, 0, &je);
      free (text);
    }
  else if (s->manifest_json)
    j = json_loads (s->manifest_json, 0, &je);
  if (j == NULL)
    {
      lua_pushnil (L);
      return;
    }
  lscript_push_json (L, j, 1);
}

static void
push_measurements (lua_State *L, enclaver_ctx_t *ctx)
{
  const struct enclaver_eif_measurements *m
    = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE);
  char hex[ENCLAVER_PCR_HEX_SIZE];
  if (m == NULL)
    {
      lua_pushnil (L);
      return;
    }
  lua_createtable (L, 0, 4);
  enclaver_pcr_to_hex (m->pcr0, hex);
  lua_pushstring (L, hex);
  lua_setfield (L, -2, "PCR0");
  enclaver_pcr_to_hex (m->pcr1, hex);
  lua_pushstring (L, hex);
  lua_setfield (L, -2, "PCR1");
  enclaver_pcr_to_hex (m->pcr2, hex);
  lua_pushstring (L, hex);
  lua_setfield (L, -2, "PCR2");
  if (m->has_pcr8)
    {
      enclaver_pcr_to_hex (m->pcr8, hex);
      lua_pushstring (L, hex);
      lua_setfield (L, -2, "PCR8");
    }
}

static void
push_artifacts (lua_State *L, enclaver_ctx_t *ctx)
{
  const char *list = enclaver_ctx_get_param (ctx, "artifacts");
  lua_newtable (L);
  while (list && *list)
    {
      const char *sp = strchr (list, ' ');
      size_t n = sp ? (size_t) (sp - list) : strlen (list);
      if (n > 0 && n < 256)
        {
          char key[300];
          const char *path;
          snprintf (key, sizeof key, "artifact:%.*s", (int) n, list);
          path = enclaver_ctx_get_param (ctx, key);
          if (path)
            {
              lua_pushlstring (L, list, n);
              lua_pushstring (L, path);
              lua_rawset (L, -3);
            }
        }
      list = sp ? sp + 1 : NULL;
    }
}

static int
ctx_index (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  const char *k = luaL_checkstring (L, 2);
  enclaver_ctx_t *ctx;

  if (strcmp (k, "log") == 0)
    lua_pushcfunction (L, ctx_log);
  else if (strcmp (k, "fail") == 0)
    lua_pushcfunction (L, ctx_fail);
  else if (strcmp (k, "param") == 0)
    lua_pushcfunction (L, ctx_param);
  else if (strcmp (k, "event") == 0)
    {
      if (s->event)
        lua_pushstring (L, s->event);
      else
        lua_pushnil (L);
    }
  else
    {
      ctx = lscript_ctx (L, "ctx");
      if (strcmp (k, "manifest") == 0)
        push_manifest (L, s, ctx);
      else if (strcmp (k, "image") == 0)
        {
          if (enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE))
            push_token (L, T_IMAGE);
          else
            lua_pushnil (L);
        }
      else if (strcmp (k, "rootfs") == 0)
        {
          if (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE))
            push_token (L, T_ROOTFS);
          else
            lua_pushnil (L);
        }
      else if (strcmp (k, "measurements") == 0)
        push_measurements (L, ctx);
      else if (strcmp (k, "artifacts") == 0)
        push_artifacts (L, ctx);
      else if (strcmp (k, "error") == 0)
        {
          const char *f = enclaver_ctx_failure (ctx);
          if (f && s->event && strcmp (s->event, "error") == 0)
            lua_pushstring (L, f);
          else
            lua_pushnil (L);
        }
      else
        return luaL_error (L, "ctx has no field '%s' (fields: manifest, image, rootfs, measurements, artifacts, "
                           "event, error, log, fail, param)", k);
    }
  return 1;
}

static int
readonly_newindex (lua_State *L)
{
  return luaL_error (L, "%s is read-only (cannot set '%s')", luaL_checkstring (L, lua_upvalueindex (1)),
                     luaL_tolstring (L, 2, NULL));
}

/* ------------------------------------------------------------------ image */

static struct enclaver_image *
cur_image (lua_State *L)
{
  enclaver_ctx_t *ctx = lscript_ctx (L, "ctx.image");
  struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  if (img == NULL)
    luaL_error (L, "ctx.image: no image in the build context (the fetch stage has not run)");
  return img;
}

static void
push_opt_string (lua_State *L, const char *v)
{
  if (v)
    lua_pushstring (L, v);
  else
    lua_pushnil (L);
}

static void
push_strv (lua_State *L, char **v, size_t n)
{
  size_t i;
  lua_createtable (L, (int) n, 0);
  for (i = 0; i < n; i++)
    {
      lua_pushstring (L, v[i]);
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
}

static int
image_index (lua_State *L)
{
  const char *k = luaL_checkstring (L, 2);
  struct enclaver_image *img = cur_image (L);
  if (strcmp (k, "name") == 0)
    push_opt_string (L, img->name);
  else if (strcmp (k, "source") == 0)
    push_opt_string (L, img->source);
  else if (strcmp (k, "digest") == 0)
    push_opt_string (L, img->digest);
  else if (strcmp (k, "platform") == 0)
    push_opt_string (L, img->platform);
  else if (strcmp (k, "media_type") == 0)
    push_opt_string (L, img->media_type);
  else if (strcmp (k, "config_digest") == 0)
    push_opt_string (L, img->config_digest);
  else if (strcmp (k, "created") == 0)
    push_opt_string (L, img->created);
  else if (strcmp (k, "labels") == 0)
    {
      size_t i;
      lua_newtable (L);
      for (i = 0; i < img->n_labels; i++)
        {
          const char *eq = strchr (img->labels[i], '=');
          if (eq == NULL)
            continue;
          lua_pushlstring (L, img->labels[i], (size_t) (eq - img->labels[i]));
          lua_pushstring (L, eq + 1);
          lua_rawset (L, -3);
        }
    }
  else if (strcmp (k, "layers") == 0)
    {
      size_t i;
      lua_createtable (L, (int) img->n_layers, 0);
      for (i = 0; i < img->n_layers; i++)
        {
          lua_createtable (L, 0, 4);
          push_opt_string (L, img->layers[i].digest);
          lua_setfield (L, -2, "digest");
          lua_pushinteger (L, (lua_Integer) img->layers[i].size);
          lua_setfield (L, -2, "size");
          push_opt_string (L, img->layers[i].media_type);
          lua_setfield (L, -2, "media_type");
          push_opt_string (L, img->layers[i].diff_id);
          lua_setfield (L, -2, "diff_id");
          lua_rawseti (L, -2, (lua_Integer) i + 1);
        }
    }
  else if (strcmp (k, "config") == 0)
    push_token (L, T_CONFIG);
  else
    return luaL_error (L, "ctx.image has no field '%s' (fields: name, source, digest, platform, media_type, "
                       "config_digest, created, labels, layers, config)", k);
  return 1;
}

static int
config_frozen (enclaver_ctx_t *ctx)
{
  return enclaver_ctx_slot_type (ctx, ENCLAVER_SLOT_RAMDISKS) != NULL;
}

static struct enclaver_image *
writable_image (lua_State *L, const char *what)
{
  struct enclaver_image *img = cur_image (L);
  if (config_frozen (lscript_get (L)->ctx))
    luaL_error (L, "%s: the image config is read-only once the inject stage has built the ramdisks", what);
  return img;
}

static void
strv_free (char **v, size_t n)
{
  size_t i;
  if (v == NULL)
    return;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

/* Validate a Lua list of strings at idx (raises on anything else); returns its length. */
static size_t
check_string_list (lua_State *L, int idx, const char *what, int need_eq)
{
  lua_Integer i, n;
  luaL_checktype (L, idx, LUA_TTABLE);
  n = (lua_Integer) lua_rawlen (L, idx);
  if (n > 65536)
    luaL_error (L, "%s: too many elements", what);
  for (i = 1; i <= n; i++)
    {
      size_t len;
      const char *v;
      if (lua_rawgeti (L, idx, i) != LUA_TSTRING)
        luaL_error (L, "%s: element %d is a %s, not a string", what, (int) i, luaL_typename (L, -1));
      v = lua_tolstring (L, -1, &len);
      if (str_has_nul (v, len) || strchr (v, '\n'))
        luaL_error (L, "%s: element %d contains a NUL byte or a newline", what, (int) i);
      if (need_eq && (v[0] == '=' || strchr (v, '=') == NULL))
        luaL_error (L, "%s: element %d ('%s') is not NAME=value", what, (int) i, v);
      lua_pop (L, 1);
    }
  return (size_t) n;
}

/* Copy a validated list (no Lua errors from here on). */
static char **
copy_string_list (lua_State *L, int idx, size_t n)
{
  char **v = xmalloc0 ((n + 1) * sizeof *v);
  size_t i;
  for (i = 0; i < n; i++)
    {
      lua_rawgeti (L, idx, (lua_Integer) i + 1);
      v[i] = xstrdup (lua_tostring (L, -1));
      lua_pop (L, 1);
    }
  return v;
}

static int
cmp_env (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* env given as a map { NAME = "value" }: validated, then "NAME=value" sorted by name. */
static char **
env_from_map (lua_State *L, int idx, size_t *n_out)
{
  size_t n = 0, i = 0;
  char **v;
  lua_pushnil (L);
  while (lua_next (L, idx))
    {
      size_t kl, vl;
      const char *k, *val;
      if (lua_type (L, -2) != LUA_TSTRING || lua_type (L, -1) != LUA_TSTRING)
        luaL_error (L, "ctx.image.config.env: a map needs string names and string values");
      k = lua_tolstring (L, -2, &kl);
      val = lua_tolstring (L, -1, &vl);
      if (kl == 0 || str_has_nul (k, kl) || strchr (k, '=') || strchr (k, '\n') || str_has_nul (val, vl)
          || strchr (val, '\n'))
        luaL_error (L, "ctx.image.config.env: bad variable '%s'", k);
      n++;
      lua_pop (L, 1);
    }
  if (n > 65536)
    luaL_error (L, "ctx.image.config.env: too many variables");
  v = xmalloc0 ((n + 1) * sizeof *v);
  lua_pushnil (L);
  while (lua_next (L, idx))
    {
      if (i < n)
        v[i++] = xasprintf ("%s=%s", lua_tostring (L, -2), lua_tostring (L, -1));
      lua_pop (L, 1);
    }
  qsort (v, n, sizeof *v, cmp_env);
  *n_out = n;
  return v;
}

static int
config_getenv (lua_State *L)
{
  int a = lclasses_self (L, T_CONFIG);
  size_t nl, i;
  const char *name = luaL_checklstring (L, a, &nl);
  struct enclaver_image *img = cur_image (L);
  for (i = 0; i < img->n_env; i++)
    if (strncmp (img->env[i], name, nl) == 0 && img->env[i][nl] == '=')
      {
        lua_pushstring (L, img->env[i] + nl + 1);
        return 1;
      }
  lua_pushnil (L);
  return 1;
}

static int
config_setenv (lua_State *L)
{
  int a = lclasses_self (L, T_CONFIG);
  size_t nl, vl, i;
  const char *name = luaL_checklstring (L, a, &nl);
  const char *val = luaL_checklstring (L, a + 1, &vl);
  struct enclaver_image *img = writable_image (L, "ctx.image.config:setenv");
  if (nl == 0 || str_has_nul (name, nl) || strchr (name, '=') || strchr (name, '\n'))
    return luaL_error (L, "setenv: '%s' is not a valid variable name", name);
  if (str_has_nul (val, vl) || strchr (val, '\n'))
    return luaL_error (L, "setenv: the value of %s contains a NUL byte or a newline", name);
  for (i = 0; i < img->n_env; i++)
    if (strncmp (img->env[i], name, nl) == 0 && img->env[i][nl] == '=')
      {
        free (img->env[i]);
        img->env[i] = xasprintf ("%s=%s", name, val);
        return 0;
      }
  img->env = xreallocarray (img->env, img->n_env + 2, sizeof *img->env);
  img->env[img->n_env++] = xasprintf ("%s=%s", name, val);
  img->env[img->n_env] = NULL;
  return 0;
}

static int
config_unsetenv (lua_State *L)
{
  int a = lclasses_self (L, T_CONFIG);
  size_t nl, i;
  const char *name = luaL_checklstring (L, a, &nl);
  struct enclaver_image *img = writable_image (L, "ctx.image.config:unsetenv");
  for (i = 0; i < img->n_env; i++)
    if (strncmp (img->env[i], name, nl) == 0 && img->env[i][nl] == '=')
      {
        free (img->env[i]);
        memmove (&img->env[i], &img->env[i + 1], (img->n_env - i) * sizeof *img->env);
        img->n_env--;
        lua_pushboolean (L, 1);
        return 1;
      }
  lua_pushboolean (L, 0);
  return 1;
}

static int
config_index (lua_State *L)
{
  const char *k = luaL_checkstring (L, 2);
  struct enclaver_image *img = cur_image (L);
  if (strcmp (k, "entrypoint") == 0)
    {
      if (img->has_entrypoint)
        push_strv (L, img->entrypoint, img->n_entrypoint);
      else
        lua_pushnil (L);
    }
  else if (strcmp (k, "cmd") == 0)
    {
      if (img->has_cmd)
        push_strv (L, img->cmd, img->n_cmd);
      else
        lua_pushnil (L);
    }
  else if (strcmp (k, "env") == 0)
    push_strv (L, img->env, img->n_env);
  else if (strcmp (k, "workdir") == 0)
    push_opt_string (L, img->working_dir);
  else if (strcmp (k, "user") == 0)
    push_opt_string (L, img->user);
  else if (strcmp (k, "getenv") == 0)
    lua_pushcfunction (L, config_getenv);
  else if (strcmp (k, "setenv") == 0)
    lua_pushcfunction (L, config_setenv);
  else if (strcmp (k, "unsetenv") == 0)
    lua_pushcfunction (L, config_unsetenv);
  else if (strcmp (k, "writable") == 0)
    lua_pushboolean (L, !config_frozen (lscript_get (L)->ctx));
  else
    return luaL_error (L, "ctx.image.config has no field '%s' (fields: entrypoint, cmd, env, workdir, user, "
                       "writable, getenv, setenv, unsetenv)", k);
  return 1;
}

static int
config_newindex (lua_State *L)
{
  const char *k = luaL_checkstring (L, 2);
  struct enclaver_image *img;
  char what[64];

  snprintf (what, sizeof what, "ctx.image.config.%s", k);
  if (strcmp (k, "entrypoint") && strcmp (k, "cmd") && strcmp (k, "env") && strcmp (k, "workdir")
      && strcmp (k, "user"))
    return luaL_error (L, "ctx.image.config: cannot set '%s' (settable: entrypoint, cmd, env, workdir, user)", k);
  img = writable_image (L, what);
  if (strcmp (k, "workdir") == 0 || strcmp (k, "user") == 0)
    {
      char **field = k[0] == 'w' ? &img->working_dir : &img->user;
      size_t len = 0;
      const char *v = NULL;
      if (!lua_isnil (L, 3))
        {
          v = luaL_checklstring (L, 3, &len);
          if (str_has_nul (v, len) || strchr (v, '\n'))
            return luaL_error (L, "%s: value contains a NUL byte or a newline", what);
        }
      free (*field);
      *field = v ? xstrdup (v) : NULL;
      return 0;
    }
  if (strcmp (k, "env") == 0)
    {
      size_t n = 0;
      char **v;
      luaL_checktype (L, 3, LUA_TTABLE);
      if (lua_rawlen (L, 3) > 0)
        {
          n = check_string_list (L, 3, what, 1);
          v = copy_string_list (L, 3, n);
        }
      else
        v = env_from_map (L, 3, &n);
      strv_free (img->env, img->n_env);
      img->env = v;
      img->n_env = n;
      return 0;
    }
  {
    char ***arr = k[0] == 'e' ? &img->entrypoint : &img->cmd;
    size_t *cnt = k[0] == 'e' ? &img->n_entrypoint : &img->n_cmd;
    int *has = k[0] == 'e' ? &img->has_entrypoint : &img->has_cmd;
    size_t n = 0;
    char **v = NULL;
    if (!lua_isnil (L, 3))
      {
        n = check_string_list (L, 3, what, 0);
        v = copy_string_list (L, 3, n);
      }
    strv_free (*arr, *cnt);
    *arr = v;
    *cnt = n;
    *has = v != NULL;
  }
  return 0;
}

/* ------------------------------------------------------------------ rootfs */

static enclaver_tree_t *
cur_tree (lua_State *L, const char *what)
{
  enclaver_ctx_t *ctx = lscript_ctx (L, what);
  enclaver_tree_t *t = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  if (t == NULL)
    luaL_error (L, "%s: no rootfs in the build context (the flatten stage has not run)", what);
  return t;
}

static int
rootfs_args (lua_State *L, const char *what, enclaver_tree_t **t)
{
  int a = lclasses_self (L, T_ROOTFS);
  *t = cur_tree (L, what);
  return a;
}

__attribute__ ((noreturn)) static void
raise_tree (lua_State *L, const char *what, enclaver_error_t *e)
{
  enclaver_error_wrap (e, "%s", what);
  lscript_raise (L, e);
}

static const char *
type_name (int type)
{
  switch (type)
    {
    case ENCLAVER_NODE_DIR:
      return "dir";
    case ENCLAVER_NODE_REG:
      return "file";
    case ENCLAVER_NODE_SYMLINK:
      return "symlink";
    case ENCLAVER_NODE_CHR:
      return "chr";
    case ENCLAVER_NODE_BLK:
      return "blk";
    case ENCLAVER_NODE_FIFO:
      return "fifo";
    default:
      return "unknown";
    }
}

static void
push_stat (lua_State *L, const struct enclaver_tree_stat *st)
{
  lua_createtable (L, 0, 10);
  lua_pushstring (L, type_name (st->type));
  lua_setfield (L, -2, "type");
  lua_pushinteger (L, st->mode);
  lua_setfield (L, -2, "mode");
  lua_pushinteger (L, st->uid);
  lua_setfield (L, -2, "uid");
  lua_pushinteger (L, st->gid);
  lua_setfield (L, -2, "gid");
  lua_pushinteger (L, (lua_Integer) st->mtime);
  lua_setfield (L, -2, "mtime");
  lua_pushinteger (L, (lua_Integer) st->size);
  lua_setfield (L, -2, "size");
  lua_pushinteger (L, st->nlink);
  lua_setfield (L, -2, "nlink");
  lua_pushinteger (L, (lua_Integer) st->inode);
  lua_setfield (L, -2, "inode");
  if (st->link_target)
    {
      lua_pushstring (L, st->link_target);
      lua_setfield (L, -2, "target");
    }
  if (st->type == ENCLAVER_NODE_CHR || st->type == ENCLAVER_NODE_BLK)
    {
      lua_pushinteger (L, st->rdev_major);
      lua_setfield (L, -2, "major");
      lua_pushinteger (L, st->rdev_minor);
      lua_setfield (L, -2, "minor");
    }
}

static int
missing_errno (int status)
{
  return status == ENOENT || status == ENOTDIR;
}

static int
opt_bool (lua_State *L, int idx, const char *key)
{
  int r;
  if (lua_isnoneornil (L, idx))
    return 0;
  luaL_checktype (L, idx, LUA_TTABLE);
  lua_getfield (L, idx, key);
  r = lua_toboolean (L, -1);
  lua_pop (L, 1);
  return r;
}

/* Mode from an integer (<= 07777) or an octal string ("0644", "755", "0o755"). */
static uint32_t
check_mode (lua_State *L, int idx, const char *what)
{
  if (lua_type (L, idx) == LUA_TSTRING)
    {
      const char *s = lua_tostring (L, idx), *p = s;
      char *end;
      unsigned long v;
      if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        p += 2;
      errno = 0;
      v = strtoul (p, &end, 8);
      if (*p == '\0' || *end != '\0' || errno || v > 07777)
        luaL_error (L, "%s: mode '%s' is not an octal number up to 7777", what, s);
      return (uint32_t) v;
    }
  if (lua_type (L, idx) == LUA_TNUMBER && lua_isinteger (L, idx))
    {
      lua_Integer v = lua_tointeger (L, idx);
      if (v < 0 || v > 07777)
        luaL_error (L, "%s: mode %d is out of range (give octal modes as strings, e.g. \"0644\")", what, (int) v);
      return (uint32_t) v;
    }
  luaL_error (L, "%s: mode must be an integer or an octal string", what);
  return 0;
}

static uint32_t
check_id (lua_State *L, int idx, const char *what)
{
  lua_Integer v;
  if (!lua_isinteger (L, idx))
    luaL_error (L, "%s: uid/gid must be integers", what);
  v = lua_tointeger (L, idx);
  if (v < 0 || v > 0xfffffffeLL)
    luaL_error (L, "%s: id %d out of range", what, (int) v);
  return (uint32_t) v;
}

/* New nodes get SOURCE_DATE_EPOCH (manifest, then environment) as mtime, else 0. */
static int64_t
default_mtime (lua_State *L)
{
  enclaver_ctx_t *ctx = lscript_get (L)->ctx;
  enclaver_error_t e = NULL;
  int64_t v = -1;
  if (ctx == NULL)
    return 0;
  if (enclaver_build_source_date_epoch (ctx, &v, &e) < 0)
    lscript_raise (L, &e);
  return v >= 0 ? v : 0;
}

/* Attributes from an options table {mode=, uid=, gid=, mtime=} at idx (may be none). */
static void
check_attr (lua_State *L, int idx, uint32_t def_mode, const char *what, struct enclaver_tree_attr *a)
{
  memset (a, 0, sizeof *a);
  a->mode = def_mode;
  a->mtime = default_mtime (L);
  if (lua_isnoneornil (L, idx))
    return;
  luaL_checktype (L, idx, LUA_TTABLE);
  if (lua_getfield (L, idx, "mode") != LUA_TNIL)
    a->mode = check_mode (L, -1, what);
  lua_pop (L, 1);
  if (lua_getfield (L, idx, "uid") != LUA_TNIL)
    a->uid = check_id (L, -1, what);
  lua_pop (L, 1);
  if (lua_getfield (L, idx, "gid") != LUA_TNIL)
    a->gid = check_id (L, -1, what);
  lua_pop (L, 1);
  if (lua_getfield (L, idx, "mtime") != LUA_TNIL)
    {
      if (!lua_isinteger (L, -1) || lua_tointeger (L, -1) < 0)
        luaL_error (L, "%s: mtime must be a non-negative integer", what);
      a->mtime = lua_tointeger (L, -1);
    }
  lua_pop (L, 1);
}

static int
rootfs_stat (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:stat", &t);
  const char *p = check_path (L, a, "rootfs:stat");
  unsigned flags = opt_bool (L, a + 1, "follow") ? ENCLAVER_TREE_FOLLOW : 0;
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;
  if (enclaver_tree_stat (t, p, flags, &st, &e) < 0)
    {
      if (missing_errno (e->status))
        {
          char msg[600];
          snprintf (msg, sizeof msg, "rootfs:stat: %s", e->msg);
          enclaver_error_release (&e);
          lua_pushnil (L);
          lua_pushstring (L, msg);
          return 2;
        }
      raise_tree (L, "rootfs:stat", &e);
    }
  push_stat (L, &st);
  return 1;
}

static int
rootfs_exists (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:exists", &t);
  const char *p = check_path (L, a, "rootfs:exists");
  enclaver_error_t e = NULL;
  if (enclaver_tree_lookup (t, p, 0, &e) == NULL)
    {
      if (!missing_errno (e->status))
        raise_tree (L, "rootfs:exists", &e);
      enclaver_error_release (&e);
      lua_pushboolean (L, 0);
      return 1;
    }
  lua_pushboolean (L, 1);
  return 1;
}

static int
rootfs_read (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:read", &t);
  const char *p = check_path (L, a, "rootfs:read");
  struct lscript *s = lscript_get (L);
  const enclaver_tree_node_t *n;
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;
  luaL_Buffer b;
  uint64_t off = 0;

  n = enclaver_tree_lookup (t, p, ENCLAVER_TREE_FOLLOW, &e);
  if (n == NULL)
    raise_tree (L, "rootfs:read", &e);
  enclaver_tree_node_stat (t, n, &st);
  if (st.type != ENCLAVER_NODE_REG)
    return luaL_error (L, "rootfs:read: '%s' is a %s, not a regular file", p, type_name (st.type));
  if (st.size > s->mem_limit)
    return luaL_error (L, "rootfs:read: '%s' (%llu bytes) is larger than the Lua memory limit", p,
                       (unsigned long long) st.size);
  luaL_buffinit (L, &b);
  while (off < st.size)
    {
      size_t want = st.size - off > 65536 ? 65536 : (size_t) (st.size - off);
      char *dst = luaL_prepbuffsize (&b, want);
      ssize_t r = enclaver_tree_node_read (t, n, off, dst, want, &e);
      if (r < 0)
        raise_tree (L, "rootfs:read", &e);
      if (r == 0)
        break;
      luaL_addsize (&b, (size_t) r);
      off += (uint64_t) r;
    }
  luaL_pushresult (&b);
  return 1;
}

/* hash(path [, "sha256"|"sha384"]): hex digest of a file, streamed (no size limit). */
static int
rootfs_hash (lua_State *L)
{
  static const char *const algs[] = { "sha256", "sha384", NULL };
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:hash", &t);
  const char *p = check_path (L, a, "rootfs:hash");
  int alg = luaL_checkoption (L, a + 1, "sha256", algs);
  const enclaver_tree_node_t *n;
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  char hex[EVP_MAX_MD_SIZE * 2 + 1];
  char buf[16384];
  uint64_t off = 0;
  EVP_MD_CTX *mctx;

  n = enclaver_tree_lookup (t, p, ENCLAVER_TREE_FOLLOW, &e);
  if (n == NULL)
    raise_tree (L, "rootfs:hash", &e);
  enclaver_tree_node_stat (t, n, &st);
  if (st.type != ENCLAVER_NODE_REG)
    return luaL_error (L, "rootfs:hash: '%s' is a %s, not a regular file", p, type_name (st.type));
  mctx = EVP_MD_CTX_new ();
  if (mctx == NULL || !EVP_DigestInit_ex (mctx, alg ? EVP_sha384 () : EVP_sha256 (), NULL))
    {
      EVP_MD_CTX_free (mctx);
      return luaL_error (L, "rootfs:hash: digest setup failed");
    }
  while (off < st.size)
    {
      ssize_t r = enclaver_tree_node_read (t, n, off, buf, sizeof buf, &e);
      if (r <= 0)
        {
          EVP_MD_CTX_free (mctx);
          if (r == 0)
            return luaL_error (L, "rootfs:hash: '%s' is shorter than its size", p);
          raise_tree (L, "rootfs:hash", &e);
        }
      EVP_DigestUpdate (mctx, buf, (size_t) r);
      off += (uint64_t) r;
    }
  EVP_DigestFinal_ex (mctx, md, &mdlen);
  EVP_MD_CTX_free (mctx);
  for (i = 0; i < mdlen; i++)
    snprintf (hex + 2 * i, 3, "%02x", md[i]);
  lua_pushlstring (L, hex, 2 * (size_t) mdlen);
  return 1;
}

static int
rootfs_write (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:write", &t);
  const char *p = check_path (L, a, "rootfs:write");
  size_t len;
  const char *data = luaL_checklstring (L, a + 1, &len);
  struct enclaver_tree_attr attr;
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;
  unsigned flags = ENCLAVER_TREE_REPLACE;

  check_attr (L, a + 2, 0644, "rootfs:write", &attr);
  if (opt_bool (L, a + 2, "parents"))
    flags |= ENCLAVER_TREE_MKPARENTS;
  if (enclaver_tree_stat (t, p, 0, &st, &e) == 0)
    {
      if (st.type == ENCLAVER_NODE_DIR)
        return luaL_error (L, "rootfs:write: '%s' is a directory", p);
    }
  else
    enclaver_error_release (&e);
  if (enclaver_tree_add_file (t, p, &attr, data, len, flags, &e) < 0)
    raise_tree (L, "rootfs:write", &e);
  return 0;
}

static int
rootfs_mkdir (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:mkdir", &t);
  const char *p = check_path (L, a, "rootfs:mkdir");
  struct enclaver_tree_attr attr;
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;
  int parents = opt_bool (L, a + 1, "parents");

  check_attr (L, a + 1, 0755, "rootfs:mkdir", &attr);
  if (enclaver_tree_stat (t, p, ENCLAVER_TREE_FOLLOW, &st, &e) == 0)
    {
      if (st.type == ENCLAVER_NODE_DIR && parents)
        return 0;
      return luaL_error (L, "rootfs:mkdir: '%s' already exists", p);
    }
  enclaver_error_release (&e);
  if (enclaver_tree_add_dir (t, p, &attr, parents ? ENCLAVER_TREE_MKPARENTS : 0, &e) < 0)
    raise_tree (L, "rootfs:mkdir", &e);
  return 0;
}

static int
rootfs_symlink (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:symlink", &t);
  const char *target = check_path (L, a, "rootfs:symlink");
  const char *p = check_path (L, a + 1, "rootfs:symlink");
  struct enclaver_tree_attr attr;
  enclaver_error_t e = NULL;
  unsigned flags = 0;

  check_attr (L, a + 2, 0777, "rootfs:symlink", &attr);
  if (*target == '\0')
    return luaL_error (L, "rootfs:symlink: empty target");
  if (opt_bool (L, a + 2, "parents"))
    flags |= ENCLAVER_TREE_MKPARENTS;
  if (opt_bool (L, a + 2, "replace"))
    flags |= ENCLAVER_TREE_REPLACE;
  if (enclaver_tree_add_symlink (t, p, &attr, target, flags, &e) < 0)
    raise_tree (L, "rootfs:symlink", &e);
  return 0;
}

static int
first_child_cb (const enclaver_tree_t *t, const enclaver_tree_node_t *n, const char *path, size_t plen,
                const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  (void) t, (void) n, (void) path, (void) plen, (void) st, (void) err;
  *(int *) ud = 1;
  return -2;
}

static int
rootfs_remove (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:remove", &t);
  const char *p = check_path (L, a, "rootfs:remove");
  int recursive = opt_bool (L, a + 1, "recursive"), force = opt_bool (L, a + 1, "force");
  struct enclaver_tree_stat st;
  enclaver_error_t e = NULL;

  if (enclaver_tree_stat (t, p, 0, &st, &e) < 0)
    {
      if (force && missing_errno (e->status))
        {
          enclaver_error_release (&e);
          lua_pushboolean (L, 0);
          return 1;
        }
      raise_tree (L, "rootfs:remove", &e);
    }
  if (st.type == ENCLAVER_NODE_DIR && !recursive)
    {
      int has = 0;
      if (enclaver_tree_walk (t, p, 0, first_child_cb, &has, &e) < 0 && e)
        raise_tree (L, "rootfs:remove", &e);
      if (has)
        return luaL_error (L, "rootfs:remove: directory '%s' is not empty (pass {recursive=true})", p);
    }
  if (enclaver_tree_remove (t, p, &e) < 0)
    raise_tree (L, "rootfs:remove", &e);
  lua_pushboolean (L, 1);
  return 1;
}

static int
rootfs_chmod (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:chmod", &t);
  const char *p = check_path (L, a, "rootfs:chmod");
  uint32_t mode = check_mode (L, a + 1, "rootfs:chmod");
  struct enclaver_tree_stat st;
  struct enclaver_tree_attr attr;
  enclaver_error_t e = NULL;
  if (enclaver_tree_stat (t, p, 0, &st, &e) < 0)
    raise_tree (L, "rootfs:chmod", &e);
  attr = (struct enclaver_tree_attr) { .mode = mode, .uid = st.uid, .gid = st.gid, .mtime = st.mtime,
                                       .rdev_major = st.rdev_major, .rdev_minor = st.rdev_minor };
  if (enclaver_tree_set_attr (t, p, &attr, &e) < 0)
    raise_tree (L, "rootfs:chmod", &e);
  return 0;
}

static int
rootfs_chown (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:chown", &t);
  const char *p = check_path (L, a, "rootfs:chown");
  uint32_t uid = check_id (L, a + 1, "rootfs:chown"), gid = check_id (L, a + 2, "rootfs:chown");
  struct enclaver_tree_stat st;
  struct enclaver_tree_attr attr;
  enclaver_error_t e = NULL;
  if (enclaver_tree_stat (t, p, 0, &st, &e) < 0)
    raise_tree (L, "rootfs:chown", &e);
  attr = (struct enclaver_tree_attr) { .mode = st.mode, .uid = uid, .gid = gid, .mtime = st.mtime,
                                       .rdev_major = st.rdev_major, .rdev_minor = st.rdev_minor };
  if (enclaver_tree_set_attr (t, p, &attr, &e) < 0)
    raise_tree (L, "rootfs:chown", &e);
  return 0;
}

/* Snapshot of a walk, collected in C (Lua is never called from inside the walk). */
struct snap_entry
{
  char *path;
  struct enclaver_tree_stat st;
  char *target;
};

struct snap
{
  struct snap_entry *v;
  size_t n, cap;
  uint64_t bytes, max_bytes;
  const char *prefix; /* list(): only direct children of prefix ("" = root) */
  size_t prefix_len;
  int children_only;
};

static void
snap_free (struct snap *s)
{
  size_t i;
  for (i = 0; i < s->n; i++)
    {
      free (s->v[i].path);
      free (s->v[i].target);
    }
  free (s->v);
  s->v = NULL;
  s->n = 0;
}

static int
snap_cb (const enclaver_tree_t *t, const enclaver_tree_node_t *node, const char *path, size_t plen,
         const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  struct snap *s = ud;
  struct snap_entry *e;
  (void) t, (void) node;
  if (s->children_only)
    {
      const char *rest = path + s->prefix_len + (s->prefix_len ? 1 : 0);
      if (strchr (rest, '/'))
        return 0;
    }
  s->bytes += plen + 96 + (st->link_target ? strlen (st->link_target) : 0);
  if (s->bytes > s->max_bytes)
    return enclaver_make_error (err, ENOMEM, "the listing is larger than the Lua memory limit");
  if (s->n == s->cap)
    {
      s->cap = s->cap ? s->cap * 2 : 64;
      s->v = xreallocarray (s->v, s->cap, sizeof *s->v);
    }
  e = &s->v[s->n++];
  e->path = xstrdup (path);
  e->st = *st;
  e->target = st->link_target ? xstrdup (st->link_target) : NULL;
  e->st.link_target = e->target;
  return 0;
}

static int
push_snap_k (lua_State *L)
{
  struct snap *s = lua_touserdata (L, 1);
  int names_only = lua_toboolean (L, 2);
  size_t i;
  lua_createtable (L, (int) s->n, 0);
  for (i = 0; i < s->n; i++)
    {
      if (names_only)
        {
          const char *slash = strrchr (s->v[i].path, '/');
          lua_pushstring (L, slash ? slash + 1 : s->v[i].path);
        }
      else
        {
          lua_createtable (L, 2, 0);
          lua_pushfstring (L, "/%s", s->v[i].path);
          lua_rawseti (L, -2, 1);
          push_stat (L, &s->v[i].st);
          lua_rawseti (L, -2, 2);
        }
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  return 1;
}

static void
snapshot (lua_State *L, enclaver_tree_t *t, const char *start, int children_only, const char *what)
{
  struct lscript *sc = lscript_get (L);
  struct snap s = { 0 };
  enclaver_error_t e = NULL;
  const enclaver_tree_node_t *n;
  struct enclaver_tree_stat st;
  char *canon;
  int rc;

  n = enclaver_tree_lookup (t, start, ENCLAVER_TREE_FOLLOW, &e);
  if (n == NULL)
    raise_tree (L, what, &e);
  enclaver_tree_node_stat (t, n, &st);
  if (st.type != ENCLAVER_NODE_DIR)
    luaL_error (L, "%s: '%s' is not a directory", what, start);
  luaL_checkstack (L, 4, NULL);
  canon = enclaver_tree_node_path (n);
  s.max_bytes = sc->mem_limit;
  s.prefix = canon;
  s.prefix_len = strlen (canon);
  s.children_only = children_only;
  rc = enclaver_tree_walk (t, canon, 0, snap_cb, &s, &e);
  free (canon);
  if (rc < 0)
    {
      snap_free (&s);
      raise_tree (L, what, &e);
    }
  lua_pushcfunction (L, push_snap_k);
  lua_pushlightuserdata (L, &s);
  lua_pushboolean (L, children_only);
  rc = lua_pcall (L, 2, 1, 0);
  snap_free (&s);
  if (rc != LUA_OK)
    lua_error (L);
}

static int
rootfs_list (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:list", &t);
  const char *p = lua_isnoneornil (L, a) ? "/" : check_path (L, a, "rootfs:list");
  snapshot (L, t, p, 1, "rootfs:list");
  return 1;
}

/* walk([start,] fn): fn(path, stat) for every node below start, parents first,
 * names in byte order; fn returning false stops the walk. */
static int
rootfs_walk (lua_State *L)
{
  enclaver_tree_t *t;
  int a = rootfs_args (L, "rootfs:walk", &t);
  const char *start = "/";
  lua_Integer i, n;
  int fn = a;

  if (lua_type (L, a) == LUA_TSTRING)
    {
      start = check_path (L, a, "rootfs:walk");
      fn = a + 1;
    }
  luaL_checktype (L, fn, LUA_TFUNCTION);
  snapshot (L, t, start, 0, "rootfs:walk");
  n = (lua_Integer) lua_rawlen (L, -1);
  for (i = 1; i <= n; i++)
    {
      lua_rawgeti (L, -1, i);
      lua_pushvalue (L, fn);
      lua_rawgeti (L, -2, 1);
      lua_rawgeti (L, -3, 2);
      lua_call (L, 2, 1);
      if (lua_type (L, -1) == LUA_TBOOLEAN && !lua_toboolean (L, -1))
        {
          lua_pop (L, 2);
          break;
        }
      lua_pop (L, 2);
    }
  return 0;
}

static int
rootfs_index (lua_State *L)
{
  static const luaL_Reg methods[] = {
    { "list", rootfs_list },     { "stat", rootfs_stat },       { "read", rootfs_read },
    { "write", rootfs_write },   { "mkdir", rootfs_mkdir },     { "symlink", rootfs_symlink },
    { "remove", rootfs_remove }, { "chmod", rootfs_chmod },     { "chown", rootfs_chown },
    { "exists", rootfs_exists }, { "walk", rootfs_walk },       { "hash", rootfs_hash },
    { NULL, NULL },
  };
  const char *k = luaL_checkstring (L, 2);
  const luaL_Reg *m;
  for (m = methods; m->name; m++)
    if (strcmp (m->name, k) == 0)
      {
        lua_pushcfunction (L, m->func);
        return 1;
      }
  return luaL_error (L, "ctx.rootfs has no method '%s' (methods: list, stat, read, write, mkdir, symlink, remove, "
                     "chmod, chown, exists, walk, hash)", k);
}

/* ------------------------------------------------------------------ registration */

static void
new_class (lua_State *L, const char *tname, lua_CFunction index, lua_CFunction newindex, const char *label)
{
  luaL_newmetatable (L, tname);
  lua_pushcfunction (L, index);
  lua_setfield (L, -2, "__index");
  if (newindex)
    lua_pushcfunction (L, newindex);
  else
    {
      lua_pushstring (L, label);
      lua_pushcclosure (L, readonly_newindex, 1);
    }
  lua_setfield (L, -2, "__newindex");
  lua_pushliteral (L, "locked");
  lua_setfield (L, -2, "__metatable");
  lua_pop (L, 1);
}

void
lclasses_register (lua_State *L)
{
  new_class (L, T_CTX, ctx_index, NULL, "ctx");
  new_class (L, T_IMAGE, image_index, NULL, "ctx.image");
  new_class (L, T_CONFIG, config_index, config_newindex, "ctx.image.config");
  new_class (L, T_ROOTFS, rootfs_index, NULL, "ctx.rootfs");
}
