/* enclaver Lua binding: sandboxed states, limits, calls, and the `enclaver` module.
 * The base of the binding: it knows nothing of the classes built on it (they come
 * in through lscript_new()'s open_more) and uses only json.c below it.
 *
 * Shape after HAProxy's hlua.c (capped allocator, count hook, traceback message
 * handler, panic handler) and Valkey's script_lua.c (allow-listed globals, a kill
 * that re-fires on every instruction so pcall cannot swallow it, host-controlled
 * randomness); hook registry after rpm's rpm.register / rpmhookCall. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include <jansson.h>
#include <lualib.h>
#include <openssl/evp.h>

#include <enclaver/loader.h>
#include "lua-internal.h"

#define HOOK_STEP 1000
#define KILL_TAG_BUDGET "instruction budget exceeded"
#define KILL_TAG_MEMORY "memory limit exceeded"
/* Room the error machinery may use after a memory kill (messages, traceback). */
#define KILL_GRACE (1024u * 1024u)

struct lscript *
lscript_get (lua_State *L)
{
  return *(struct lscript **) lua_getextraspace (L);
}

/* ------------------------------------------------------------------ limits */

static void count_hook (lua_State *L, lua_Debug *ar);

static void *
capped_alloc (void *ud, void *ptr, size_t osize, size_t nsize)
{
  struct lscript *s = ud;
  size_t old = ptr ? osize : 0;
  void *n;

  if (nsize == 0)
    {
      free (ptr);
      s->mem_used -= old;
      return NULL;
    }
  if (nsize > old)
    {
      uint64_t limit = s->mem_limit + (s->killed ? KILL_GRACE : 0);
      if (s->mem_used - old + nsize > limit)
        {
          if (!s->killed)
            {
              s->killed = LKILL_MEMORY;
              /* Inside a call: make every following instruction raise. */
              if (s->L && lua_gethook (s->L))
                lua_sethook (s->L, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
            }
          return NULL;
        }
    }
  n = realloc (ptr, nsize);
  if (n == NULL)
    return NULL;
  s->mem_used = s->mem_used - old + nsize;
  return n;
}

static const char *
kill_reason (struct lscript *s, char *buf, size_t size)
{
  if (s->killed == LKILL_MEMORY)
    snprintf (buf, size, KILL_TAG_MEMORY " (%llu bytes; raise it with --set-param lua-memory=SIZE)",
              (unsigned long long) s->mem_limit);
  else
    snprintf (buf, size, KILL_TAG_BUDGET " (%llu VM instructions in one call; raise it with "
              "--set-param lua-instructions=N)", (unsigned long long) s->budget);
  return buf;
}

static void
count_hook (lua_State *L, lua_Debug *ar)
{
  struct lscript *s = lscript_get (L);
  char why[200];
  lua_Debug d;

  (void) ar;
  if (!s->killed)
    {
      s->used += HOOK_STEP;
      if (s->used <= s->budget)
        return;
      s->killed = LKILL_BUDGET;
    }
  /* From now on fire before every instruction: whatever pcall catches, the next
   * instruction raises again until the call returns to the host. */
  lua_sethook (L, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
  kill_reason (s, why, sizeof why);
  if (lua_getstack (L, 0, &d) && lua_getinfo (L, "Sl", &d) && d.currentline > 0)
    luaL_error (L, "%s:%d: %s", d.short_src, d.currentline, why);
  luaL_error (L, "%s: %s", s->display, why);
}

int
lscript_limits_from_ctx (struct lscript *s, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  static const struct enclaver_stage_option mem_opt = { ENCLAVER_OPT_SIZE, "lua-memory", NULL, 0, 0, NULL };
  static const struct enclaver_stage_option ins_opt = { ENCLAVER_OPT_INT, "lua-instructions", NULL, 0, 0, NULL };
  const char *v;

  s->mem_limit = ENCLAVER_LUA_DEFAULT_MEMORY;
  s->budget = ENCLAVER_LUA_DEFAULT_INSTRUCTIONS;
  if (ctx == NULL)
    return 0;
  if ((v = enclaver_ctx_get_param (ctx, "lua-memory")) != NULL)
    {
      uint64_t mem = 0;
      if (enclaver_option_parse (&mem_opt, v, &mem, err) < 0)
        return enclaver_error_wrap (err, "parameter lua-memory");
      if (mem < 1024 * 1024)
        return enclaver_make_error (err, EINVAL, "parameter lua-memory: %s is below the minimum of 1M", v);
      s->mem_limit = mem;
    }
  if ((v = enclaver_ctx_get_param (ctx, "lua-instructions")) != NULL)
    {
      long long n = 0;
      if (enclaver_option_parse (&ins_opt, v, &n, err) < 0)
        return enclaver_error_wrap (err, "parameter lua-instructions");
      if (n < HOOK_STEP)
        return enclaver_make_error (err, EINVAL, "parameter lua-instructions: %s is below the minimum of %d", v,
                                    HOOK_STEP);
      s->budget = (uint64_t) n;
    }
  return 0;
}

/* ------------------------------------------------------------------ helpers */


int
lscript_raise (lua_State *L, enclaver_error_t *err)
{
  char msg[1024];
  snprintf (msg, sizeof msg, "%s", err && *err && (*err)->msg ? (*err)->msg : "unknown error");
  enclaver_error_release (err);
  luaL_where (L, 1);
  lua_pushstring (L, msg);
  lua_concat (L, 2);
  lua_error (L);
  abort (); /* not reached */
}

enclaver_ctx_t *
lscript_ctx (lua_State *L, const char *what)
{
  struct lscript *s = lscript_get (L);
  if (s->ctx == NULL)
    luaL_error (L, "%s is only available while the build runs the script", what);
  return s->ctx;
}

const char *
lscript_base_dir (struct lscript *s)
{
  const char *d;
  if (s->base_dir)
    return s->base_dir;
  if (s->ctx)
    {
      const struct enclaver_manifest *m;
      if ((d = enclaver_ctx_get_param (s->ctx, "manifest-dir")) != NULL && *d)
        return d;
      m = enclaver_ctx_get (s->ctx, ENCLAVER_SLOT_MANIFEST, LSCRIPT_MANIFEST_TYPE);
      if (m && m->dir)
        return m->dir;
    }
  return NULL;
}

/* ------------------------------------------------------------------ base overrides */

static int
l_print (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  int i, n = lua_gettop (L);
  luaL_Buffer b;
  char src[300];

  luaL_buffinit (L, &b);
  for (i = 1; i <= n; i++)
    {
      if (i > 1)
        luaL_addchar (&b, '\t');
      luaL_tolstring (L, i, NULL);
      luaL_addvalue (&b);
    }
  luaL_pushresult (&b);
  enclaver_log (ENCLAVER_LOG_INFO, lscript_log_source (s, src, sizeof src), "%s", lua_tostring (L, -1));
  return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]) with the mode forced to text. */
static int
l_load (lua_State *L)
{
  int n = lua_gettop (L);
  if (n < 1)
    return luaL_argerror (L, 1, "string or function expected");
  if (n > 4)
    lua_settop (L, n = 4);
  if (n < 2)
    lua_pushnil (L);
  lua_pushliteral (L, "t");
  if (n >= 3)
    lua_replace (L, 3);
  lua_pushvalue (L, lua_upvalueindex (1));
  lua_insert (L, 1);
  lua_call (L, lua_gettop (L) - 1, LUA_MULTRET);
  return lua_gettop (L);
}

static int
l_collectgarbage (lua_State *L)
{
  static const char *const opts[] = { "collect", "count", "step", "isrunning", NULL };
  int o = luaL_checkoption (L, 1, "collect", opts);
  lua_pushvalue (L, lua_upvalueindex (1));
  lua_insert (L, 1);
  (void) o;
  lua_call (L, lua_gettop (L) - 1, LUA_MULTRET);
  return lua_gettop (L);
}

static int
l_randomseed (lua_State *L)
{
  if (lua_gettop (L) < 1)
    return luaL_error (L, "math.randomseed needs a seed: there is no clock in the sandbox");
  luaL_checknumber (L, 1);
  lua_pushvalue (L, lua_upvalueindex (1));
  lua_insert (L, 1);
  lua_call (L, lua_gettop (L) - 1, LUA_MULTRET);
  return lua_gettop (L);
}

/* ------------------------------------------------------------------ enclaver module */

static int
l_on (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  const char *ev = luaL_checkstring (L, 1);
  size_t i;

  luaL_checktype (L, 2, LUA_TFUNCTION);
  if (s->is_stage)
    return luaL_error (L, "enclaver.on: a Lua stage cannot subscribe to events (use a hook script)");
  if (!s->loading)
    return luaL_error (L, "enclaver.on: subscribe while the script loads, not from a handler");
  if (!enclaver_hook_event_valid (ev))
    return luaL_error (L, "enclaver.on: unknown event '%s' (expected before:<stage>, after:<stage>, "
                       "before:*, after:*, measured, done or error)", ev);
  lua_rawgeti (L, LUA_REGISTRYINDEX, s->handlers_ref);
  if (lua_getfield (L, -1, ev) != LUA_TTABLE)
    {
      lua_pop (L, 1);
      lua_newtable (L);
      lua_pushvalue (L, -1);
      lua_setfield (L, -3, ev);
      for (i = 0; i < s->n_events; i++)
        if (strcmp (s->events[i], ev) == 0)
          break;
      if (i == s->n_events)
        {
          s->events = xreallocarray (s->events, s->n_events + 1, sizeof *s->events);
          s->events[s->n_events++] = xstrdup (ev);
        }
    }
  lua_pushvalue (L, 2);
  lua_rawseti (L, -2, (lua_Integer) lua_rawlen (L, -2) + 1);
  return 0;
}

static int
path_has_dotdot (const char *p)
{
  const char *c = p;
  while (*c)
    {
      const char *e = strchr (c, '/');
      size_t n = e ? (size_t) (e - c) : strlen (c);
      if (n == 2 && c[0] == '.' && c[1] == '.')
        return 1;
      if (e == NULL)
        break;
      c = e + 1;
    }
  return 0;
}

static int
l_read_file (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  size_t len;
  const char *rel = luaL_checklstring (L, 1, &len);
  const char *base = lscript_base_dir (s);
  char joined[PATH_MAX], real[PATH_MAX], rbase[PATH_MAX];
  enclaver_error_t e = NULL;
  char *buf = NULL;
  size_t n = 0;
  uint64_t room;

  if (base == NULL)
    return luaL_error (L, "enclaver.read_file: no manifest directory is known");
  if (len == 0 || strlen (rel) != len)
    return luaL_error (L, "enclaver.read_file: the path is empty or contains a NUL byte");
  if (path_has_dotdot (rel))
    return luaL_error (L, "enclaver.read_file: '%s' has a '..' component (only files below the manifest "
                       "directory %s can be read)", rel, base);
  if ((size_t) snprintf (joined, sizeof joined, "%s%s%s", rel[0] == '/' ? "" : base, rel[0] == '/' ? "" : "/", rel)
      >= sizeof joined)
    return luaL_error (L, "enclaver.read_file: path too long");
  if (realpath (base, rbase) == NULL)
    return luaL_error (L, "enclaver.read_file: manifest directory %s: %s", base, strerror (errno));
  if (realpath (joined, real) == NULL)
    {
      int er = errno;
      lua_pushnil (L);
      lua_pushfstring (L, "enclaver.read_file: %s: %s", rel, strerror (er));
      return 2;
    }
  n = strlen (rbase);
  if (!(strncmp (real, rbase, n) == 0 && (real[n] == '/' || (n == 1 && rbase[0] == '/'))))
    return luaL_error (L, "enclaver.read_file: '%s' resolves to %s, outside the manifest directory %s", rel, real,
                       rbase);
  room = s->mem_limit > s->mem_used ? s->mem_limit - s->mem_used : 0;
  if (enclaver_read_file (real, (size_t) room, &buf, &n, &e) < 0)
    {
      char msg[600];
      snprintf (msg, sizeof msg, "%s", e->msg);
      enclaver_error_release (&e);
      lua_pushnil (L);
      lua_pushfstring (L, "enclaver.read_file: %s", msg);
      return 2;
    }
  lscript_push_owned (L, buf, n);
  return 1;
}

static int
valid_output_name (const char *name, size_t len)
{
  size_t i;
  if (len == 0 || len > 255 || name[0] == '.')
    return 0;
  for (i = 0; i < len; i++)
    {
      char c = name[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
            || c == '-'))
        return 0;
    }
  return 1;
}

static int
l_write_output (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  size_t nlen, dlen;
  const char *name = luaL_checklstring (L, 1, &nlen);
  const char *data = luaL_checklstring (L, 2, &dlen);
  enclaver_ctx_t *ctx = lscript_ctx (L, "enclaver.write_output");
  const char *dir, *tmp = NULL;
  char final[PATH_MAX];
  enclaver_error_t e = NULL;
  int fd;

  if (s->loading)
    return luaL_error (L, "enclaver.write_output: not available while the script loads (use it in a handler)");
  if (s->event && (strcmp (s->event, "done") == 0 || strcmp (s->event, "error") == 0))
    return luaL_error (L, "enclaver.write_output: not available in the '%s' event (outputs are final by then); "
                       "write from 'measured' or an after:<stage> event", s->event);
  if (!valid_output_name (name, nlen))
    return luaL_error (L, "enclaver.write_output: '%s' is not a plain file name ([A-Za-z0-9._-], not starting "
                       "with '.')", name);
  dir = enclaver_ctx_get_param (ctx, "output-dir");
  if (dir == NULL || *dir == '\0')
    dir = lscript_base_dir (s);
  if (dir == NULL)
    return luaL_error (L, "enclaver.write_output: no output directory is known");
  if ((size_t) snprintf (final, sizeof final, "%s/%s", dir, name) >= sizeof final)
    return luaL_error (L, "enclaver.write_output: path too long");
  fd = enclaver_ctx_output_open (ctx, final, &tmp, &e);
  if (fd < 0)
    lscript_raise (L, &e);
  if (enclaver_write_all (fd, data, dlen) < 0)
    {
      int er = errno;
      close (fd);
      return luaL_error (L, "enclaver.write_output: write %s: %s", tmp, strerror (er));
    }
  if (close (fd) < 0)
    return luaL_error (L, "enclaver.write_output: close %s: %s", tmp, strerror (errno));
  /* Artifact names are lower case and at most 64 characters. */
  if (nlen <= 64)
    {
      char an[65];
      size_t i;
      for (i = 0; i < nlen; i++)
        an[i] = (char) ((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
      an[nlen] = '\0';
      if (enclaver_ctx_add_artifact (ctx, an, final, &e) < 0)
        lscript_raise (L, &e);
    }
  lua_pushstring (L, final);
  return 1;
}

static int
digest (lua_State *L, const EVP_MD *md)
{
  size_t len, i;
  const char *data = luaL_checklstring (L, 1, &len);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int olen = 0;
  char hex[EVP_MAX_MD_SIZE * 2 + 1];
  if (!EVP_Digest (data, len, out, &olen, md, NULL))
    return luaL_error (L, "digest failed");
  for (i = 0; i < olen; i++)
    snprintf (hex + 2 * i, 3, "%02x", out[i]);
  lua_pushlstring (L, hex, 2 * (size_t) olen);
  return 1;
}

static int
l_sha256 (lua_State *L)
{
  return digest (L, EVP_sha256 ());
}

static int
l_sha384 (lua_State *L)
{
  return digest (L, EVP_sha384 ());
}

static void
open_enclaver_module (lua_State *L)
{
  static const luaL_Reg fns[] = {
    { "on", l_on },
    { "read_file", l_read_file },
    { "write_output", l_write_output },
    { "sha256", l_sha256 },
    { "sha384", l_sha384 },
    { NULL, NULL },
  };
  luaL_newlib (L, fns);
  ljson_open (L);
  lua_setfield (L, -2, "json");
  lua_getfield (L, -1, "read_file");
  lattest_open (L);
  lua_setfield (L, -2, "attestation");
  lua_pushliteral (L, PACKAGE_VERSION);
  lua_setfield (L, -2, "version");
  lua_setglobal (L, "enclaver");
}

/* ------------------------------------------------------------------ state */

static const char *const allowed_globals[] = {
  "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
  "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "_G", "_VERSION",
  "load", "collectgarbage", "table", "string", "math", "utf8", NULL,
};

static int
is_allowed (const char *k)
{
  size_t i;
  for (i = 0; allowed_globals[i]; i++)
    if (strcmp (allowed_globals[i], k) == 0)
      return 1;
  return 0;
}

static void
wrap_global (lua_State *L, const char *table, const char *name, lua_CFunction fn)
{
  if (table)
    lua_getglobal (L, table);
  else
    lua_pushglobaltable (L);
  lua_getfield (L, -1, name);
  lua_pushcclosure (L, fn, 1);
  lua_setfield (L, -2, name);
  lua_pop (L, 1);
}

static int
sandbox_open (lua_State *L)
{
  static const luaL_Reg libs[] = {
    { LUA_GNAME, luaopen_base },     { LUA_TABLIBNAME, luaopen_table }, { LUA_STRLIBNAME, luaopen_string },
    { LUA_MATHLIBNAME, luaopen_math }, { LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL },
  };
  const luaL_Reg *l;
  int again = 1;

  for (l = libs; l->func; l++)
    {
      luaL_requiref (L, l->name, l->func, 1);
      lua_pop (L, 1);
    }
  /* Keep only the allow-listed globals. */
  while (again)
    {
      again = 0;
      lua_pushglobaltable (L);
      lua_pushnil (L);
      while (lua_next (L, -2))
        {
          lua_pop (L, 1);
          if (lua_type (L, -1) != LUA_TSTRING || !is_allowed (lua_tostring (L, -1)))
            {
              lua_pushvalue (L, -1);
              lua_pushnil (L);
              lua_rawset (L, -4);
            }
        }
      lua_pop (L, 1);
    }
  lua_pushcfunction (L, l_print);
  lua_setglobal (L, "print");
  wrap_global (L, NULL, "load", l_load);
  wrap_global (L, NULL, "collectgarbage", l_collectgarbage);
  wrap_global (L, LUA_MATHLIBNAME, "randomseed", l_randomseed);
  lua_getglobal (L, LUA_STRLIBNAME);
  lua_pushnil (L);
  lua_setfield (L, -2, "dump");
  lua_pop (L, 1);

  open_enclaver_module (L);
  /* What the layers above add (the classes): argument 1, a C function or nil. */
  if (lua_type (L, 1) == LUA_TFUNCTION)
    {
      lua_pushvalue (L, 1);
      lua_call (L, 0, 0);
    }
  lua_newtable (L);
  lua_setfield (L, LUA_REGISTRYINDEX, "enclaver.handlers");
  return 0;
}

static int
l_panic (lua_State *L)
{
  struct lscript *s = lscript_get (L);
  const char *msg = lua_type (L, -1) == LUA_TSTRING ? lua_tostring (L, -1) : "?";
  char src[300];
  enclaver_log (ENCLAVER_LOG_ERROR, s ? lscript_log_source (s, src, sizeof src) : "lua", "%s: unprotected error: %s",
                s ? s->display : "?", msg);
  if (s && s->panic_jmp)
    longjmp (*s->panic_jmp, 1);
  abort ();
}

const char *
lscript_log_source (const struct lscript *s, char *buf, size_t size)
{
  if (s->log_source)
    return s->log_source;
  snprintf (buf, size, "lua:%s", s->display);
  return buf;
}

struct lscript *
lscript_new (const char *path, const char *display, lua_CFunction open_more, enclaver_error_t *err)
{
  struct lscript *s = xmalloc0 (sizeof *s);
  lua_State *L;

  s->refs = 1;
  s->path = xstrdup (path);
  s->display = xstrdup (display ? display : path);
  s->mem_limit = ENCLAVER_LUA_DEFAULT_MEMORY;
  s->budget = ENCLAVER_LUA_DEFAULT_INSTRUCTIONS;
  s->handlers_ref = LUA_NOREF;
  L = lua_newstate (capped_alloc, s);
  if (L == NULL)
    {
      lscript_unref (s);
      enclaver_make_error (err, ENOMEM, "%s: cannot create a Lua state", display);
      return NULL;
    }
  *(struct lscript **) lua_getextraspace (L) = s;
  lua_atpanic (L, l_panic);
  lua_pushcfunction (L, sandbox_open);
  if (open_more)
    lua_pushcfunction (L, open_more);
  else
    lua_pushnil (L);
  if (lua_pcall (L, 1, 0, 0) != LUA_OK)
    {
      enclaver_make_error (err, ENOMEM, "%s: cannot set up the Lua sandbox: %s", display,
                           lua_type (L, -1) == LUA_TSTRING ? lua_tostring (L, -1) : "?");
      lua_close (L);
      lscript_unref (s);
      return NULL;
    }
  lua_newtable (L);
  s->handlers_ref = luaL_ref (L, LUA_REGISTRYINDEX);
  s->L = L;
  return s;
}

void
lscript_unref (struct lscript *s)
{
  size_t i;
  if (s == NULL || --s->refs > 0)
    return;
  if (s->L)
    {
      lua_State *L = s->L;
      s->L = NULL;
      lua_close (L);
    }
  for (i = 0; i < s->n_events; i++)
    free (s->events[i]);
  free (s->events);
  free (s->path);
  free (s->display);
  free (s->log_source);
  free (s->base_dir);
  free (s->manifest_json);
  free (s->fail_msg);
  free (s);
}

int
lscript_load (struct lscript *s, enclaver_error_t *err)
{
  lua_State *L = s->L;
  cleanup_free char *buf = NULL;
  cleanup_free char *chunkname = NULL;
  unsigned char md[32];
  unsigned int mdlen = 0;
  const char *start;
  size_t len = 0;
  int rc;

  if (enclaver_read_file (s->path, ENCLAVER_LUA_MAX_SCRIPT_SIZE, &buf, &len, err) < 0)
    return enclaver_error_wrap (err, "Lua script");
  if (len > 0 && buf[0] == 0x1b)
    return enclaver_make_error (err, EINVAL, "%s: precompiled (binary) Lua chunks are not accepted", s->display);
  /* Seed math.random from the script's bytes: same script, same numbers. */
  if (EVP_Digest (buf, len, md, &mdlen, EVP_sha256 (), NULL) && mdlen == 32)
    {
      lua_Integer a, b;
      memcpy (&a, md, sizeof a);
      memcpy (&b, md + 8, sizeof b);
      lua_getglobal (L, LUA_MATHLIBNAME);
      lua_getfield (L, -1, "randomseed");
      lua_pushinteger (L, a);
      lua_pushinteger (L, b);
      if (lua_pcall (L, 2, 0, 0) != LUA_OK)
        lua_pop (L, 1);
      lua_pop (L, 1);
    }
  /* A first line starting with '#' (a shebang) is skipped, keeping line numbers. */
  start = buf;
  if (len > 0 && buf[0] == '#')
    {
      const char *nl = memchr (buf, '\n', len);
      start = nl ? nl : buf + len;
    }
  chunkname = xasprintf ("@%s", s->display);
  rc = luaL_loadbufferx (L, start, len - (size_t) (start - buf), chunkname, "t");
  if (rc != LUA_OK)
    {
      enclaver_make_error (err, rc == LUA_ERRMEM ? ENOMEM : EINVAL, "%s",
                           lua_type (L, -1) == LUA_TSTRING ? lua_tostring (L, -1) : "cannot load the script");
      lua_pop (L, 1);
      return -1;
    }
  return 0;
}

/* Message handler: "script:line: message" + traceback. */
static int
msgh (lua_State *L)
{
  const char *msg;
  if (lua_type (L, 1) == LUA_TSTRING || lua_type (L, 1) == LUA_TNUMBER)
    msg = lua_tostring (L, 1);
  else
    msg = lua_pushfstring (L, "(error object is a %s value)", luaL_typename (L, 1));
  luaL_traceback (L, L, msg, 1);
  return 1;
}

int
lscript_call (struct lscript *s, enclaver_ctx_t *ctx, const char *event, int nargs, int nres, const char *what,
              enclaver_error_t *err)
{
  lua_State *L = s->L;
  int base = lua_gettop (L) - nargs;
  jmp_buf jb;
  jmp_buf *volatile prev = s->panic_jmp;
  volatile int rc;
  char why[200];
  const char *lmsg;

  if (L == NULL)
    return enclaver_make_error (err, EIO, "%s: the Lua state is no longer usable", s->display);
  s->ctx = ctx;
  s->event = event;
  s->used = 0;
  s->killed = LKILL_NONE;
  free (s->fail_msg);
  s->fail_msg = NULL;
  lua_pushcfunction (L, msgh);
  lua_insert (L, base);
  lua_sethook (L, count_hook, LUA_MASKCOUNT, HOOK_STEP);
  if (setjmp (jb) == 0)
    {
      s->panic_jmp = &jb;
      rc = lua_pcall (L, nargs, nres, base);
    }
  else
    rc = -1;
  s->panic_jmp = prev;
  lua_sethook (L, NULL, 0, 0);
  s->ctx = NULL;
  s->event = NULL;

  if (rc == -1)
    {
      /* A panic leaves the state unusable: drop it. */
      lua_State *dead = s->L;
      s->L = NULL;
      lua_close (dead);
      return enclaver_make_error (err, EIO, "%s%s: unprotected Lua error", what ? what : "", s->display);
    }
  if (rc == LUA_OK && !s->killed && s->fail_msg == NULL)
    {
      lua_remove (L, base);
      return 0;
    }
  lmsg = rc != LUA_OK && lua_type (L, -1) == LUA_TSTRING ? lua_tostring (L, -1) : NULL;
  if (s->killed)
    {
      int e = s->killed == LKILL_MEMORY ? ENOMEM : ETIME;
      kill_reason (s, why, sizeof why);
      if (lmsg && strstr (lmsg, s->killed == LKILL_MEMORY ? KILL_TAG_MEMORY : KILL_TAG_BUDGET))
        enclaver_make_error (err, e, "%s%s", what ? what : "", lmsg);
      else
        enclaver_make_error (err, e, "%s%s: %s%s%s", what ? what : "", s->display, why, lmsg ? "\n" : "",
                             lmsg ? lmsg : "");
    }
  else if (s->fail_msg && (lmsg == NULL || strstr (lmsg, s->fail_msg) == NULL))
    enclaver_make_error (err, ECANCELED, "%s%s", what ? what : "", s->fail_msg);
  else if (s->fail_msg)
    enclaver_make_error (err, ECANCELED, "%s%s", what ? what : "", lmsg);
  else if (rc == LUA_ERRMEM)
    enclaver_make_error (err, ENOMEM, "%s%s: not enough memory", what ? what : "", s->display);
  else if (rc == LUA_ERRERR)
    enclaver_make_error (err, EINVAL, "%s%s: error while handling an error", what ? what : "", s->display);
  else
    enclaver_make_error (err, EINVAL, "%s%s", what ? what : "", lmsg ? lmsg : "(no message)");
  lua_settop (L, base - 1);
  s->killed = LKILL_NONE;
  lua_gc (L, LUA_GCCOLLECT);
  return -1;
}
