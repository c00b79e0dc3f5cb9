/* enclaver.attestation.verify(doc, opts) for the sandboxed Lua scripts: a thin wrapper
 * over the libenclaver verifier (<enclaver/attestation.h>); docs/lua.md. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include <enclaver/attestation.h>
#include "lua/lua-internal.h"

#define FN "enclaver.attestation.verify"
#define TMP_TYPE "enclaver.attestation.tmp"

/* What the C side holds during a call, in a userdata so that a Lua error (a bad option,
 * the memory limit while the report is built) frees it too. */
struct lattest
{
  uint8_t *doc, *nonce, *user_data;
  struct enclaver_attestation_result res;
};

static void
lattest_clear (struct lattest *t)
{
  free (t->doc);
  free (t->nonce);
  free (t->user_data);
  enclaver_attestation_result_clear (&t->res);
  memset (t, 0, sizeof *t);
}

static int
lattest_gc (lua_State *L)
{
  lattest_clear (luaL_checkudata (L, 1, TMP_TYPE));
  return 0;
}

/* HEX of even length (may be empty) -> malloc'd bytes; -1 if malformed. */
static int
unhex (const char *s, size_t n, uint8_t **out, size_t *len)
{
  uint8_t *b;
  if (n % 2)
    return -1;
  b = malloc (n / 2 + 1);
  if (b == NULL)
    return -1;
  for (size_t i = 0; i < n / 2; i++)
    {
      char h[3] = { s[2 * i], s[2 * i + 1], 0 };
      if (!isxdigit ((unsigned char) h[0]) || !isxdigit ((unsigned char) h[1]))
        {
          free (b);
          return -1;
        }
      b[i] = (uint8_t) strtoul (h, NULL, 16);
    }
  *out = b;
  *len = n / 2;
  return 0;
}

static void
push_hex (lua_State *L, const uint8_t *p, size_t n)
{
  luaL_Buffer b;
  if (p == NULL)
    {
      lua_pushnil (L);
      return;
    }
  luaL_buffinit (L, &b);
  for (size_t i = 0; i < n; i++)
    {
      char h[3];
      snprintf (h, sizeof h, "%02x", p[i]);
      luaL_addlstring (&b, h, 2);
    }
  luaL_pushresult (&b);
}

/* opts.pcrs: { PCR0 = HEX, [3] = HEX, ... } */
static void
read_pcrs (lua_State *L, int idx, struct enclaver_attestation_expect *ex)
{
  luaL_argexpected (L, lua_type (L, idx) == LUA_TTABLE, 2, "table as opts.pcrs");
  lua_pushnil (L);
  while (lua_next (L, idx))
    {
      long long n = -1;
      const char *hex;
      size_t len;
      uint8_t *v = NULL;
      size_t vlen = 0;
      char name[32];
      if (lua_type (L, -2) == LUA_TNUMBER && lua_isinteger (L, -2))
        n = lua_tointeger (L, -2);
      else if (lua_type (L, -2) == LUA_TSTRING)
        {
          const char *k = lua_tostring (L, -2);
          char *end;
          if (strncmp (k, "PCR", 3) == 0 && isdigit ((unsigned char) k[3]))
            {
              n = strtoll (k + 3, &end, 10);
              if (*end)
                n = -1;
            }
        }
      if (n < 0 || n >= ENCLAVER_ATTEST_MAX_PCRS)
        {
          lua_pushvalue (L, -2);
          luaL_error (L, FN ": opts.pcrs: key '%s' is not PCR0..PCR%d (or 0..%d)", luaL_tolstring (L, -1, NULL),
                      ENCLAVER_ATTEST_MAX_PCRS - 1, ENCLAVER_ATTEST_MAX_PCRS - 1);
        }
      snprintf (name, sizeof name, "PCR%lld", n);
      if (lua_type (L, -1) != LUA_TSTRING)
        luaL_error (L, FN ": opts.pcrs.%s: a hex string expected, got %s", name, luaL_typename (L, -1));
      hex = lua_tolstring (L, -1, &len);
      if (len != 2 * ENCLAVER_ATTEST_PCR_SIZE || unhex (hex, len, &v, &vlen) < 0)
        {
          free (v);
          luaL_error (L, FN ": opts.pcrs.%s: '%s' is not %d hex digits", name, hex, 2 * ENCLAVER_ATTEST_PCR_SIZE);
        }
      memcpy (ex->pcrs[n], v, ENCLAVER_ATTEST_PCR_SIZE);
      free (v);
      ex->pcr_mask |= 1u << n;
      lua_pop (L, 1);
    }
}

/* opts.nonce / opts.user_data: HEX -> *out (owned by t). */
static void
read_hex (lua_State *L, int idx, const char *key, uint8_t **out, size_t *len)
{
  size_t n;
  const char *s;
  if (lua_type (L, idx) != LUA_TSTRING)
    luaL_error (L, FN ": opts.%s: a hex string expected, got %s", key, luaL_typename (L, idx));
  s = lua_tolstring (L, idx, &n);
  if (n > 2 * 4096 || unhex (s, n, out, len) < 0)
    luaL_error (L, FN ": opts.%s: '%s' is not an even number of hex digits (at most 4096 bytes)", key, s);
}

/* The report table: verified, module_id, timestamp (ms), checked_at, debug, pcrs
 * { PCRn = hex }, public_key, user_data, nonce (hex or nil), failures { {check,
 * message} }. */
static void
push_report (lua_State *L, const struct enclaver_attestation_result *res)
{
  const struct enclaver_attestation_doc *d = &res->doc;
  lua_createtable (L, 0, 10);
  lua_pushboolean (L, res->nfailures == 0);
  lua_setfield (L, -2, "verified");
  if (res->decoded)
    {
      lua_pushstring (L, d->module_id);
      lua_setfield (L, -2, "module_id");
      lua_pushinteger (L, (lua_Integer) d->timestamp_ms);
      lua_setfield (L, -2, "timestamp");
      lua_pushinteger (L, (lua_Integer) res->checked_at);
      lua_setfield (L, -2, "checked_at");
      lua_pushboolean (L, d->debug);
      lua_setfield (L, -2, "debug");
      lua_createtable (L, 0, ENCLAVER_ATTEST_MAX_PCRS);
      for (unsigned i = 0; i < ENCLAVER_ATTEST_MAX_PCRS; i++)
        if (d->pcr_present & (1u << i))
          {
            char k[8];
            snprintf (k, sizeof k, "PCR%u", i);
            push_hex (L, d->pcrs[i], ENCLAVER_ATTEST_PCR_SIZE);
            lua_setfield (L, -2, k);
          }
      lua_setfield (L, -2, "pcrs");
      push_hex (L, d->public_key, d->public_key_len);
      lua_setfield (L, -2, "public_key");
      push_hex (L, d->user_data, d->user_data_len);
      lua_setfield (L, -2, "user_data");
      push_hex (L, d->nonce, d->nonce_len);
      lua_setfield (L, -2, "nonce");
    }
  lua_createtable (L, (int) res->nfailures, 0);
  for (size_t i = 0; i < res->nfailures; i++)
    {
      lua_createtable (L, 0, 2);
      lua_pushstring (L, res->failures[i].check);
      lua_setfield (L, -2, "check");
      lua_pushstring (L, res->failures[i].message);
      lua_setfield (L, -2, "message");
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  lua_setfield (L, -2, "failures");
}

static const char *const opt_keys[] = { "root", "pcrs", "nonce", "user_data", "at", "allow_debug", NULL };

static int
l_verify (lua_State *L)
{
  struct enclaver_attestation_expect ex;
  struct lattest *t;
  enclaver_error_t e = NULL;
  size_t len, doclen = 0;
  const char *text = luaL_checklstring (L, 1, &len);
  int rc;

  memset (&ex, 0, sizeof ex);
  if (!lua_isnoneornil (L, 2))
    luaL_checktype (L, 2, LUA_TTABLE);
  lua_settop (L, 2);
  t = lua_newuserdatauv (L, sizeof *t, 0); /* 3 */
  memset (t, 0, sizeof *t);
  luaL_setmetatable (L, TMP_TYPE);

  /* The verifier's bound, before anything is decoded: raw CBOR up to its limit, or a
   * base64/hex spelling of such a document. */
  if (len > 3 * (size_t) ENCLAVER_ATTEST_MAX_DOC)
    {
      lua_pushnil (L);
      lua_pushfstring (L, FN ": the document is %I bytes, over the limit of %d", (lua_Integer) len,
                       ENCLAVER_ATTEST_MAX_DOC);
      return 2;
    }

  if (lua_type (L, 2) == LUA_TTABLE)
    {
      lua_pushnil (L);
      while (lua_next (L, 2))
        {
          const char *k = lua_type (L, -2) == LUA_TSTRING ? lua_tostring (L, -2) : NULL;
          size_t i;
          for (i = 0; k && opt_keys[i] && strcmp (k, opt_keys[i]) != 0; i++)
            ;
          if (k == NULL || opt_keys[i] == NULL)
            {
              lua_pushvalue (L, -2);
              return luaL_error (L, FN ": unknown option '%s' (expected root, pcrs, nonce, user_data, at, "
                                 "allow_debug)", luaL_tolstring (L, -1, NULL));
            }
          lua_pop (L, 1);
        }
      if (lua_getfield (L, 2, "pcrs") != LUA_TNIL) /* 4 */
        read_pcrs (L, 4, &ex);
      if (lua_getfield (L, 2, "nonce") != LUA_TNIL) /* 5 */
        {
          read_hex (L, 5, "nonce", &t->nonce, &ex.nonce_len);
          ex.nonce = t->nonce;
        }
      if (lua_getfield (L, 2, "user_data") != LUA_TNIL) /* 6 */
        {
          read_hex (L, 6, "user_data", &t->user_data, &ex.user_data_len);
          ex.user_data = t->user_data;
        }
      if (lua_getfield (L, 2, "at") != LUA_TNIL) /* 7 */
        {
          if (!lua_isinteger (L, 7) || lua_tointeger (L, 7) < 0)
            return luaL_error (L, FN ": opts.at: seconds since the epoch (an integer >= 0) expected, got %s",
                               luaL_tolstring (L, 7, NULL));
          ex.at = (int64_t) lua_tointeger (L, 7);
          ex.at_set = 1;
        }
      if (lua_getfield (L, 2, "allow_debug") != LUA_TNIL) /* 8 */
        {
          if (!lua_isboolean (L, 8))
            return luaL_error (L, FN ": opts.allow_debug: a boolean expected, got %s", luaL_typename (L, 8));
          ex.allow_debug = lua_toboolean (L, 8);
        }
      if (lua_getfield (L, 2, "root") != LUA_TNIL) /* 9 */
        {
          size_t rl;
          const char *r;
          if (lua_type (L, 9) != LUA_TSTRING)
            return luaL_error (L, FN ": opts.root: PEM text or a file name expected, got %s", luaL_typename (L, 9));
          r = lua_tolstring (L, 9, &rl);
          if (strstr (r, "-----BEGIN") == NULL)
            {
              /* A file: read as enclaver.read_file reads, below the manifest directory. */
              lua_pushvalue (L, lua_upvalueindex (1)); /* enclaver.read_file */
              lua_pushvalue (L, 9);
              lua_call (L, 1, 2);
              if (lua_isnil (L, -2))
                return luaL_error (L, FN ": opts.root: %s", lua_tostring (L, -1));
              lua_pop (L, 1);
              lua_replace (L, 9);
              r = lua_tolstring (L, 9, &rl);
            }
          ex.root_pem = r;
          ex.root_pem_len = rl;
        }
    }

  if (enclaver_attestation_decode_text ((const uint8_t *) text, len, &t->doc, &doclen, &e) < 0)
    {
      lua_pushnil (L);
      lua_pushfstring (L, FN ": %s", e->msg);
      enclaver_error_release (&e);
      return 2;
    }
  if (doclen > ENCLAVER_ATTEST_MAX_DOC)
    {
      lua_pushnil (L);
      lua_pushfstring (L, FN ": the document is %I bytes, over the limit of %d", (lua_Integer) doclen,
                       ENCLAVER_ATTEST_MAX_DOC);
      return 2;
    }
  rc = enclaver_attestation_verify (t->doc, doclen, &ex, &t->res, &e);
  if (rc < 0)
    {
      lua_pushnil (L);
      lua_pushfstring (L, FN ": %s%s", ex.root_pem ? "opts.root: " : "", e->msg);
      enclaver_error_release (&e);
      return 2;
    }
  if (rc == 0)
    {
      lua_pushboolean (L, 1);
      push_report (L, &t->res);
      lattest_clear (t);
      return 2;
    }
  lua_pushnil (L);
  {
    luaL_Buffer b;
    luaL_buffinit (L, &b);
    for (size_t i = 0; i < t->res.nfailures; i++)
      {
        if (i)
          luaL_addstring (&b, "; ");
        luaL_addstring (&b, t->res.failures[i].check);
        luaL_addstring (&b, ": ");
        luaL_addstring (&b, t->res.failures[i].message);
      }
    luaL_pushresult (&b);
  }
  push_report (L, &t->res);
  lattest_clear (t);
  return 3;
}

void
lattest_open (lua_State *L)
{
  /* stack: read_file */
  if (luaL_newmetatable (L, TMP_TYPE))
    {
      lua_pushcfunction (L, lattest_gc);
      lua_setfield (L, -2, "__gc");
    }
  lua_pop (L, 1);
  lua_createtable (L, 0, 1);
  lua_insert (L, -2);
  lua_pushcclosure (L, l_verify, 1);
  lua_setfield (L, -2, "verify");
}
