/* enclaver Lua binding: ctx.image and ctx.image.config (the OCI image's configuration). */
#include "config.h"

#include <stdlib.h>

#include <enclaver/image.h>
#include "lua-internal.h"

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
    lclasses_push_token (L, LCLASS_CONFIG);
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
      if (lclasses_str_has_nul (v, len) || strchr (v, '\n'))
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
      if (kl == 0 || lclasses_str_has_nul (k, kl) || strchr (k, '=') || strchr (k, '\n') || lclasses_str_has_nul (val, vl)
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
  int a = lclasses_self (L, LCLASS_CONFIG);
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
  int a = lclasses_self (L, LCLASS_CONFIG);
  size_t nl, vl, i;
  const char *name = luaL_checklstring (L, a, &nl);
  const char *val = luaL_checklstring (L, a + 1, &vl);
  struct enclaver_image *img = writable_image (L, "ctx.image.config:setenv");
  if (nl == 0 || lclasses_str_has_nul (name, nl) || strchr (name, '=') || strchr (name, '\n'))
    return luaL_error (L, "setenv: '%s' is not a valid variable name", name);
  if (lclasses_str_has_nul (val, vl) || strchr (val, '\n'))
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
  int a = lclasses_self (L, LCLASS_CONFIG);
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
          if (lclasses_str_has_nul (v, len) || strchr (v, '\n'))
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

void
lclass_image_open (lua_State *L)
{
  lclasses_new_class (L, LCLASS_IMAGE, image_index, NULL, "ctx.image");
  lclasses_new_class (L, LCLASS_CONFIG, config_index, config_newindex, "ctx.image.config");
}
