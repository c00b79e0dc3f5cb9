/* enclaver Lua binding: the ctx object (the build context of the call in progress). */
#include "config.h"

#include <stdlib.h>

#include <jansson.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/tree.h>
#include "lua-internal.h"

static int
ctx_log (lua_State *L)
{
  static const char *const levels[] = { "error", "warning", "warn", "info", "debug", NULL };
  static const int lv[] = { ENCLAVER_LOG_ERROR, ENCLAVER_LOG_WARNING, ENCLAVER_LOG_WARNING, ENCLAVER_LOG_INFO,
                            ENCLAVER_LOG_DEBUG };
  struct lscript *s = lscript_get (L);
  int a = lclasses_self (L, LCLASS_CTX);
  int level = luaL_checkoption (L, a, NULL, levels);
  const char *msg = luaL_checkstring (L, a + 1);
  char src[300];
  enclaver_log (lv[level], lscript_log_source (s, src, sizeof src), "%s", msg);
  return 0;
}

static int
ctx_fail (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  int a = lclasses_self (L, LCLASS_CTX);
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
  int a = lclasses_self (L, LCLASS_CTX);
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
            lclasses_push_token (L, LCLASS_IMAGE);
          else
            lua_pushnil (L);
        }
      else if (strcmp (k, "rootfs") == 0)
        {
          if (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE))
            lclasses_push_token (L, LCLASS_ROOTFS);
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

void
lclass_ctx_open (lua_State *L)
{
  lclasses_new_class (L, LCLASS_CTX, ctx_index, NULL, "ctx");
}
