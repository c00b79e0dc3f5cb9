/* enclaver Lua binding: ctx.rootfs (the flattened root filesystem tree). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include <enclaver/build.h>
#include <enclaver/tree.h>
#include "lua-internal.h"

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
  int a = lclasses_self (L, LCLASS_ROOTFS);
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
  const char *p = lclasses_check_path (L, a, "rootfs:stat");
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
  const char *p = lclasses_check_path (L, a, "rootfs:exists");
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
  const char *p = lclasses_check_path (L, a, "rootfs:read");
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
  const char *p = lclasses_check_path (L, a, "rootfs:hash");
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
  const char *p = lclasses_check_path (L, a, "rootfs:write");
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
  const char *p = lclasses_check_path (L, a, "rootfs:mkdir");
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
  const char *target = lclasses_check_path (L, a, "rootfs:symlink");
  const char *p = lclasses_check_path (L, a + 1, "rootfs:symlink");
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
  const char *p = lclasses_check_path (L, a, "rootfs:remove");
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
  const char *p = lclasses_check_path (L, a, "rootfs:chmod");
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
  const char *p = lclasses_check_path (L, a, "rootfs:chown");
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
  const char *p = lua_isnoneornil (L, a) ? "/" : lclasses_check_path (L, a, "rootfs:list");
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
      start = lclasses_check_path (L, a, "rootfs:walk");
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

void
lclass_rootfs_open (lua_State *L)
{
  lclasses_new_class (L, LCLASS_ROOTFS, rootfs_index, NULL, "ctx.rootfs");
}
