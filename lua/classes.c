/* enclaver Lua binding: what every class of typed objects handed to scripts shares.
 *
 * Every object is a token userdata (no pointer inside): each access looks the
 * slot up in the context of the call in progress, so a script that keeps an
 * object past its event, or uses one after a stage replaced the slot, gets a
 * clear error instead of a dangling pointer.  Metatables are registered once per
 * state with lclasses_new_class() ("enclaver.<type>"), locked with __metatable.
 * The classes themselves live one family per file (class-ctx.c, class-image.c,
 * class-rootfs.c); they build on this file and on the sandbox, never the reverse. */
#include "config.h"

#include "lua-internal.h"

int
lclasses_self (lua_State *L, const char *tname)
{
  if (lua_type (L, 1) == LUA_TUSERDATA && luaL_testudata (L, 1, tname))
    return 2;
  return 1;
}

void
lclasses_push_token (lua_State *L, const char *tname)
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
  lclasses_push_token (L, LCLASS_CTX);
}

int
lclasses_str_has_nul (const char *s, size_t len)
{
  return strlen (s) != len;
}

const char *
lclasses_check_path (lua_State *L, int idx, const char *what)
{
  size_t len;
  const char *p = luaL_checklstring (L, idx, &len);
  if (lclasses_str_has_nul (p, len))
    luaL_error (L, "%s: path contains a NUL byte", what);
  return p;
}

static int
readonly_newindex (lua_State *L)
{
  return luaL_error (L, "%s is read-only (cannot set '%s')", luaL_checkstring (L, lua_upvalueindex (1)),
                     luaL_tolstring (L, 2, NULL));
}

void
lclasses_new_class (lua_State *L, const char *tname, lua_CFunction index, lua_CFunction newindex,
                    const char *label)
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
