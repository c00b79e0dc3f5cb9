/* enclaver Lua binding: Lua values and JSON, both ways (enclaver.json, the manifest
 * handed to scripts), read-only proxies, and malloc'd strings pushed without leaking.
 * A leaf of the binding: it uses nothing of the sandbox or the classes. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <jansson.h>

#include "lua-internal.h"

#define JSON_MAX_DEPTH 128

static const char json_null_tag = 0;

static int
push_owned_k (lua_State *L)
{
  lua_pushlstring (L, lua_touserdata (L, 1), (size_t) lua_tointeger (L, 2));
  return 1;
}

void
lscript_push_owned (lua_State *L, char *buf, size_t len)
{
  int rc;
  if (!lua_checkstack (L, 4))
    {
      free (buf);
      luaL_error (L, "stack overflow");
    }
  lua_pushcfunction (L, push_owned_k);
  lua_pushlightuserdata (L, buf);
  lua_pushinteger (L, (lua_Integer) len);
  rc = lua_pcall (L, 2, 1, 0);
  free (buf);
  if (rc != LUA_OK)
    lua_error (L);
}

static int
is_readonly_proxy (lua_State *L, int idx)
{
  int r = 0;
  if (!lua_getmetatable (L, idx))
    return 0;
  if (lua_getfield (L, -1, "__name") == LUA_TSTRING && strcmp (lua_tostring (L, -1), "enclaver.readonly") == 0)
    r = 1;
  lua_pop (L, 2);
  return r;
}

/* Lua value -> json_t without raising Lua errors (so nothing C-side leaks). */
static json_t *
to_json (lua_State *L, int idx, int depth, char *eb, size_t el)
{
  idx = lua_absindex (L, idx);
  switch (lua_type (L, idx))
    {
    case LUA_TNIL:
      return json_null ();
    case LUA_TBOOLEAN:
      return json_boolean (lua_toboolean (L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger (L, idx))
        return json_integer ((json_int_t) lua_tointeger (L, idx));
      {
        double d = lua_tonumber (L, idx);
        if (!isfinite (d))
          {
            snprintf (eb, el, "cannot encode %s", isnan (d) ? "nan" : "inf");
            return NULL;
          }
        return json_real (d);
      }
    case LUA_TSTRING:
      {
        size_t len;
        const char *str = lua_tolstring (L, idx, &len);
        json_t *j = json_stringn (str, len);
        if (j == NULL)
          snprintf (eb, el, "string is not valid UTF-8");
        return j;
      }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata (L, idx) == &json_null_tag)
        return json_null ();
      break;
    case LUA_TTABLE:
      {
        json_t *out;
        lua_Integer n = 0, maxk = 0;
        int seq = 1;
        if (depth >= JSON_MAX_DEPTH)
          {
            snprintf (eb, el, "nesting deeper than %d (a cycle?)", JSON_MAX_DEPTH);
            return NULL;
          }
        if (!lua_checkstack (L, 6))
          {
            snprintf (eb, el, "stack overflow");
            return NULL;
          }
        if (is_readonly_proxy (L, idx))
          {
            json_t *j;
            lua_getmetatable (L, idx);
            lua_getfield (L, -1, "__index");
            j = to_json (L, -1, depth + 1, eb, el);
            lua_pop (L, 2);
            return j;
          }
        lua_pushnil (L);
        while (lua_next (L, idx))
          {
            n++;
            if (lua_type (L, -2) == LUA_TNUMBER && lua_isinteger (L, -2) && lua_tointeger (L, -2) >= 1)
              {
                if (lua_tointeger (L, -2) > maxk)
                  maxk = lua_tointeger (L, -2);
              }
            else
              seq = 0;
            lua_pop (L, 1);
          }
        if (n > 0 && seq && maxk == n)
          {
            lua_Integer i;
            out = json_array ();
            for (i = 1; i <= n; i++)
              {
                json_t *v;
                lua_rawgeti (L, idx, i);
                v = to_json (L, -1, depth + 1, eb, el);
                lua_pop (L, 1);
                if (v == NULL || json_array_append_new (out, v) < 0)
                  {
                    json_decref (out);
                    return NULL;
                  }
              }
            return out;
          }
        out = json_object ();
        lua_pushnil (L);
        while (lua_next (L, idx))
          {
            size_t klen;
            const char *k;
            json_t *v;
            if (lua_type (L, -2) != LUA_TSTRING)
              {
                snprintf (eb, el, "table key of type %s in a table that is not a sequence",
                          lua_typename (L, lua_type (L, -2)));
                lua_pop (L, 2);
                json_decref (out);
                return NULL;
              }
            k = lua_tolstring (L, -2, &klen);
            v = to_json (L, -1, depth + 1, eb, el);
            lua_pop (L, 1);
            if (v == NULL)
              {
                lua_pop (L, 1);
                json_decref (out);
                return NULL;
              }
            if (strlen (k) != klen || json_object_set_new (out, k, v) < 0)
              {
                snprintf (eb, el, "bad object key");
                lua_pop (L, 1);
                json_decref (out);
                return NULL;
              }
          }
        return out;
      }
    default:
      break;
    }
  snprintf (eb, el, "cannot encode a %s value", lua_typename (L, lua_type (L, idx)));
  return NULL;
}

static int
l_json_encode (lua_State *L)
{
  char eb[200] = "";
  size_t flags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT;
  json_t *j;
  char *text;

  luaL_checkany (L, 1);
  if (!lua_isnoneornil (L, 2))
    {
      lua_Integer indent;
      luaL_checktype (L, 2, LUA_TTABLE);
      lua_getfield (L, 2, "indent");
      indent = luaL_optinteger (L, -1, 0);
      lua_pop (L, 1);
      if (indent < 0 || indent > 8)
        return luaL_error (L, "json.encode: indent must be 0..8");
      if (indent > 0)
        flags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_INDENT (indent);
    }
  lua_settop (L, 1);
  j = to_json (L, 1, 0, eb, sizeof eb);
  if (j == NULL)
    return luaL_error (L, "json.encode: %s", eb);
  text = json_dumps (j, flags);
  json_decref (j);
  if (text == NULL)
    return luaL_error (L, "json.encode: out of memory");
  lscript_push_owned (L, text, strlen (text));
  return 1;
}

static int
ro_newindex (lua_State *L)
{
  return luaL_error (L, "attempt to modify a read-only table (field '%s')", luaL_tolstring (L, 2, NULL));
}

static int
ro_len (lua_State *L)
{
  lua_getmetatable (L, 1);
  lua_getfield (L, -1, "__index");
  lua_pushinteger (L, (lua_Integer) lua_rawlen (L, -1));
  return 1;
}

static int
ro_next (lua_State *L)
{
  luaL_checktype (L, 1, LUA_TTABLE);
  lua_settop (L, 2);
  if (lua_next (L, 1))
    return 2;
  lua_pushnil (L);
  return 1;
}

static int
ro_pairs (lua_State *L)
{
  lua_pushcfunction (L, ro_next);
  lua_getmetatable (L, 1);
  lua_getfield (L, -1, "__index");
  lua_remove (L, -2);
  lua_pushnil (L);
  return 3;
}

static void
make_readonly (lua_State *L)
{
  /* stack: real -> proxy */
  lua_newtable (L);
  lua_createtable (L, 0, 6);
  lua_pushvalue (L, -3);
  lua_setfield (L, -2, "__index");
  lua_pushcfunction (L, ro_newindex);
  lua_setfield (L, -2, "__newindex");
  lua_pushcfunction (L, ro_len);
  lua_setfield (L, -2, "__len");
  lua_pushcfunction (L, ro_pairs);
  lua_setfield (L, -2, "__pairs");
  lua_pushliteral (L, "read-only");
  lua_setfield (L, -2, "__metatable");
  lua_pushliteral (L, "enclaver.readonly");
  lua_setfield (L, -2, "__name");
  lua_setmetatable (L, -2);
  lua_remove (L, -2);
}

static void
push_json_rec (lua_State *L, json_t *j, int ro)
{
  luaL_checkstack (L, 4, "JSON too deep");
  switch (json_typeof (j))
    {
    case JSON_NULL:
      lua_pushlightuserdata (L, (void *) &json_null_tag);
      break;
    case JSON_TRUE:
      lua_pushboolean (L, 1);
      break;
    case JSON_FALSE:
      lua_pushboolean (L, 0);
      break;
    case JSON_INTEGER:
      lua_pushinteger (L, (lua_Integer) json_integer_value (j));
      break;
    case JSON_REAL:
      lua_pushnumber (L, json_real_value (j));
      break;
    case JSON_STRING:
      lua_pushlstring (L, json_string_value (j), json_string_length (j));
      break;
    case JSON_ARRAY:
      {
        size_t i;
        lua_createtable (L, (int) json_array_size (j), 0);
        for (i = 0; i < json_array_size (j); i++)
          {
            push_json_rec (L, json_array_get (j, i), ro);
            lua_rawseti (L, -2, (lua_Integer) i + 1);
          }
        if (ro)
          make_readonly (L);
        break;
      }
    case JSON_OBJECT:
      {
        const char *k;
        json_t *v;
        lua_createtable (L, 0, (int) json_object_size (j));
        json_object_foreach (j, k, v)
          {
            push_json_rec (L, v, ro);
            lua_setfield (L, -2, k);
          }
        if (ro)
          make_readonly (L);
        break;
      }
    }
}

static int
push_json_k (lua_State *L)
{
  push_json_rec (L, lua_touserdata (L, 1), lua_toboolean (L, 2));
  return 1;
}

static void
push_json_protected (lua_State *L, json_t *j, int ro, int steal)
{
  int rc;
  luaL_checkstack (L, 4, NULL);
  lua_pushcfunction (L, push_json_k);
  lua_pushlightuserdata (L, j);
  lua_pushboolean (L, ro);
  rc = lua_pcall (L, 2, 1, 0);
  if (steal)
    json_decref (j);
  if (rc != LUA_OK)
    lua_error (L);
}

void
lscript_push_json (lua_State *L, void *json, int ro)
{
  push_json_protected (L, json, ro, 1);
}

void
lscript_push_json_text (lua_State *L, const char *text, size_t len, int ro)
{
  json_error_t je;
  json_t *j = json_loadb (text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (j == NULL)
    luaL_error (L, "json: line %d column %d: %s", je.line, je.column, je.text);
  push_json_protected (L, j, ro, 1);
}

static int
l_json_decode (lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring (L, 1, &len);
  json_error_t je;
  json_t *j = json_loadb (text, len, JSON_DECODE_ANY, &je);
  if (j == NULL)
    {
      lua_pushnil (L);
      lua_pushfstring (L, "json.decode: line %d column %d: %s", je.line, je.column, je.text);
      return 2;
    }
  push_json_protected (L, j, 0, 1);
  return 1;
}

void
ljson_open (lua_State *L)
{
  static const luaL_Reg json_fns[] = {
    { "encode", l_json_encode },
    { "decode", l_json_decode },
    { NULL, NULL },
  };
  luaL_newlib (L, json_fns);
  lua_pushlightuserdata (L, (void *) &json_null_tag);
  lua_setfield (L, -2, "null");
}
