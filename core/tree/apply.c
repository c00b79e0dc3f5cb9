/* enclaver: apply OCI/Docker layer tars to the in-memory tree.
 *
 * libarchive is only a parser here: tar format, gzip/zstd/no compression (gzip is
 * inflated by ISA-L instead when built with it, see gz_read below), no
 * external programs, nothing written to the host.  See docs/flatten.md for the
 * rules (whiteouts, opaque directories, symlinks in parents, hardlinks, limits). */
#include "config.h"


#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include <enclaver/log.h>
#include <enclaver/tree.h>
#include "digest-worker.h"
#include "tree-internal.h"

enum
{
  APPLY_WARN_DEVICE = 1u << 0,
  APPLY_WARN_FIFO = 1u << 1,
  APPLY_WARN_SOCKET = 1u << 2,
  APPLY_WARN_AUFS = 1u << 3,
  APPLY_WARN_DUP = 1u << 4,
  APPLY_WARN_ODD = 1u << 5,
};

void
enclaver_apply_options_init (struct enclaver_apply_options *o)
{
  memset (o, 0, sizeof *o);
  o->max_bytes = 16ull << 30;
  o->max_entries = 2000000;
  o->max_depth = 256;
}

struct whiteout
{
  char *dir;  /* normalised directory path */
  char *name; /* NULL for an opaque marker */
  char *entry;
};

struct apply
{
  enclaver_tree_t *t;
  const struct enclaver_apply_options *o;
  const char *layer;
  struct archive *a;
  unsigned L;
  struct whiteout *wh;
  size_t n_wh, cap_wh;
  uint64_t crossed;
  char *first_crossed;
  uint64_t dropped;
};

static void
warn (struct apply *ap, const char *fmt, ...) ENCLAVER_PRINTF (2, 3);
static void
warn (struct apply *ap, const char *fmt, ...)
{
  va_list va;
  va_start (va, fmt);
  cleanup_free char *m = NULL;
  if (vasprintf (&m, fmt, va) < 0)
    xoom ();
  va_end (va);
  struct enclaver_field f = ENCLAVER_FIELD_STR ("layer", ap->layer);
  enclaver_log_fields (ENCLAVER_LOG_WARNING, ap->o->log_source, &f, 1, "layer %s: %s", ap->layer, m);
}

#define FAIL(status, ...)                                                                          \
  do                                                                                               \
    {                                                                                              \
      cleanup_free char *m_ = xasprintf (__VA_ARGS__);                                             \
      enclaver_make_error (err, (status), "layer %s: entry '%.300s%s': %s", ap->layer, raw,        \
                           strlen (raw) > 300 ? "..." : "", m_);                                   \
      return enclaver_error_set_field (err, "file", raw);                                          \
    }                                                                                              \
  while (0)

/* Report once per tree: returns 1 the first time. */
static int
once (struct apply *ap, unsigned bit)
{
  if (ap->t->warned & bit)
    return 0;
  ap->t->warned |= bit;
  return 1;
}

static int
budget_add (struct apply *ap, const char *raw, uint64_t n, enclaver_error_t *err)
{
  if (n > ap->o->max_bytes || ap->t->applied_bytes > ap->o->max_bytes - n)
    FAIL (EFBIG, "expanded content exceeds the limit of %llu bytes (max-bytes)",
          (unsigned long long) ap->o->max_bytes);
  ap->t->applied_bytes += n;
  return 0;
}

static const unsigned char zeros[65536];

/* Copy the data of the current entry into the spill file. */
static int
read_content (struct apply *ap, const char *raw, uint64_t size, struct tree_inode *ino, enclaver_error_t *err)
{
  enclaver_tree_t *t = ap->t;
  ino->offset = t->spool_size + t->wbuf_len; /* appends are buffered; no flush per file */
  uint64_t written = 0;
  for (;;)
    {
      const void *buf;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (ap->a, &buf, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK)
        FAIL (EIO, "reading data: %s", archive_error_string (ap->a) ? archive_error_string (ap->a) : "error");
      if (off < 0 || (uint64_t) off < written || (uint64_t) off > size || len > size - (uint64_t) off)
        FAIL (EINVAL, "data block at offset %lld outside the declared size %llu", (long long) off,
              (unsigned long long) size);
      while (written < (uint64_t) off)
        {
          size_t z = (uint64_t) off - written > sizeof zeros ? sizeof zeros : (size_t) ((uint64_t) off - written);
          if (budget_add (ap, raw, z, err) < 0 || tree_spool_append (t, zeros, z, err) < 0)
            return -1;
          written += z;
        }
      if (budget_add (ap, raw, len, err) < 0 || tree_spool_append (t, buf, len, err) < 0)
        return -1;
      written += len;
    }
  while (written < size)
    {
      size_t z = size - written > sizeof zeros ? sizeof zeros : (size_t) (size - written);
      if (budget_add (ap, raw, z, err) < 0 || tree_spool_append (t, zeros, z, err) < 0)
        return -1;
      written += z;
    }
  ino->size = size;
  return 0;
}

static int
same_content (struct apply *ap, const tnode *a, const struct tree_inode *b, enclaver_error_t *err)
{
  if (a->ino->size != b->size)
    return 0;
  struct enclaver_tree_node tmp = { .ino = (struct tree_inode *) b };
  unsigned char x[8192], y[8192];
  for (uint64_t off = 0; off < b->size;)
    {
      ssize_t n1 = enclaver_tree_node_read (ap->t, a, off, x, sizeof x, err);
      if (n1 <= 0)
        return n1 < 0 ? -1 : 0;
      ssize_t n2 = enclaver_tree_node_read (ap->t, &tmp, off, y, (size_t) n1, err);
      if (n2 != n1)
        return n2 < 0 ? -1 : 0;
      if (memcmp (x, y, (size_t) n1) != 0)
        return 0;
      off += (uint64_t) n1;
    }
  return 1;
}

static int
same_meta (const struct tree_inode *a, const struct tree_inode *b)
{
  return a->type == b->type && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid && a->mtime == b->mtime
         && a->rdev_major == b->rdev_major && a->rdev_minor == b->rdev_minor
         && ((a->target == NULL && b->target == NULL)
             || (a->target && b->target && strcmp (a->target, b->target) == 0));
}

static void
xattr_warn (struct apply *ap, const char *raw, struct archive_entry *e)
{
  const char *name;
  const void *val;
  size_t sz;
  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &name, &val, &sz) == ARCHIVE_OK)
    {
      int seen = 0;
      for (size_t i = 0; i < ap->t->n_xattr_warned && !seen; i++)
        seen = strcmp (ap->t->xattr_warned[i], name) == 0;
      if (seen || ap->t->n_xattr_warned >= 64)
        continue;
      ap->t->xattr_warned = xreallocarray (ap->t->xattr_warned, ap->t->n_xattr_warned + 1, sizeof (char *));
      ap->t->xattr_warned[ap->t->n_xattr_warned++] = xstrdup (name);
      warn (ap, "entry '%s' has the extended attribute '%s', which a newc ramdisk cannot carry; it is dropped%s",
            raw, name, strncmp (name, "security.capability", 19) == 0 ? " (file capabilities are lost)" : "");
    }
}

/* Place a prepared inode at clean (parent created as needed).  Takes ownership of a
 * new inode (nlink 0); a hardlink's inode is held by place() while it works. */
static int
place_inner (struct apply *ap, const char *raw, const char *clean, struct tree_inode *ino, int is_link,
       enclaver_error_t *err)
{
  enclaver_tree_t *t = ap->t;
  const char *slash = strrchr (clean, '/');
  size_t plen = slash ? (size_t) (slash - clean) : 0;
  const char *name = slash ? slash + 1 : clean;
  size_t nl = strlen (name);
  unsigned hops = 0;
  tnode *dir;
  t->crossed = NULL;
  if (tree_resolve_dir (t, &t->root, clean, plen, RES_CREATE, &hops, &dir, err) < 0)
    {
      if (ino->nlink == 0)
        {
          free (ino->target);
          free (ino);
        }
      enclaver_error_set_field (err, "file", raw);
      return enclaver_error_wrap (err, "layer %s: entry '%.300s'", ap->layer, raw);
    }
  if (t->crossed)
    {
      if (ap->crossed++ == 0)
        {
          cleanup_free char *lp = enclaver_tree_node_path (t->crossed);
          ap->first_crossed = xasprintf ("'%s' (through the symlink '/%s')", raw, lp);
        }
    }
  tnode *old = tree_child (dir, name, nl);
  if (old)
    {
      int dup = old->explicit_layer == ap->L;
      int identical = 0;
      if (dup)
        {
          if (is_link)
            identical = old->ino == ino;
          else if (same_meta (old->ino, ino))
            {
              identical = 1;
              if (ino->type == ENCLAVER_NODE_REG)
                {
                  int s = same_content (ap, old, ino, err);
                  if (s < 0)
                    return -1;
                  identical = s;
                }
            }
        }
      else if (old->ino->type == ENCLAVER_NODE_DIR && ino->type != ENCLAVER_NODE_DIR && old->upper == ap->L
               && !ap->o->lenient)
        {
          if (ino->nlink == 0)
            {
              free (ino->target);
              free (ino);
            }
          FAIL (EEXIST, "replaces a directory that already has entries from the same layer");
        }
      if (dup && identical)
        {
          if (ino->nlink == 0)
            {
              free (ino->target);
              free (ino);
            }
          return 0;
        }
      if (dup)
        {
          if (!ap->o->lenient)
            {
              if (ino->nlink == 0)
                {
                  free (ino->target);
                  free (ino);
                }
              FAIL (EEXIST, "duplicate entry for the same path with different content or metadata");
            }
          if (once (ap, APPLY_WARN_DUP))
            warn (ap, "entry '%s' appears twice with different content; the last one wins (lenient)", raw);
        }
      if (is_link && old->ino == ino)
        return 0; /* hardlink to itself */
      if (ino->type == ENCLAVER_NODE_DIR && old->ino->type == ENCLAVER_NODE_DIR)
        {
          old->ino->mode = ino->mode;
          old->ino->uid = ino->uid;
          old->ino->gid = ino->gid;
          old->ino->mtime = ino->mtime;
          old->ino->has_xattrs = ino->has_xattrs;
          free (ino);
          old->layer = ap->L;
          old->explicit_layer = ap->L;
          tree_mark_upper (old, ap->L);
          return 0;
        }
      tree_unlink (t, old);
    }
  tnode *n = tree_link_new (t, dir, name, nl, ino, err);
  if (n == NULL)
    {
      if (ino->nlink == 0)
        {
          free (ino->target);
          free (ino);
        }
      enclaver_error_set_field (err, "file", raw);
      return enclaver_error_wrap (err, "layer %s: entry '%.300s'", ap->layer, raw);
    }
  n->explicit_layer = ap->L;
  return 0;
}

static int
place (struct apply *ap, const char *raw, const char *clean, struct tree_inode *ino, int is_link,
       enclaver_error_t *err)
{
  if (!is_link)
    return place_inner (ap, raw, clean, ino, 0, err);
  ino->nlink++; /* keep the target alive even if resolving the new name removes it */
  int r = place_inner (ap, raw, clean, ino, 1, err);
  if (--ino->nlink == 0)
    {
      free (ino->target);
      free (ino);
    }
  return r;
}

/* Remove what lower layers put at n, keeping whatever this layer created. */
static void
prune (struct apply *ap, tnode *n)
{
  if (n->layer != ap->L && n->upper != ap->L)
    {
      tree_unlink (ap->t, n);
      return;
    }
  if (n->ino->type == ENCLAVER_NODE_DIR)
    for (size_t i = n->n_kids; i-- > 0;)
      prune (ap, n->kids[i]);
}

static int
apply_whiteouts (struct apply *ap, enclaver_error_t *err)
{
  for (size_t i = 0; i < ap->n_wh; i++)
    {
      struct whiteout *w = &ap->wh[i];
      unsigned hops = 0;
      tnode *dir;
      enclaver_error_t e = NULL;
      if (tree_resolve_dir (ap->t, &ap->t->root, w->dir, strlen (w->dir), 0, &hops, &dir, &e) < 0)
        {
          int st = e->status;
          enclaver_error_release (&e);
          if (st == ENOENT || st == ENOTDIR)
            continue; /* nothing below to hide */
          return enclaver_make_error (err, st, "layer %s: whiteout '%s': cannot resolve its directory", ap->layer,
                                      w->entry);
        }
      if (w->name == NULL)
        {
          for (size_t k = dir->n_kids; k-- > 0;)
            prune (ap, dir->kids[k]);
        }
      else
        {
          tnode *c = tree_child (dir, w->name, strlen (w->name));
          if (c)
            prune (ap, c);
        }
    }
  return 0;
}

/* Normalise `path` (the entry's name, or a link target in it) with the layer's rules;
 * an error names the layer and the entry `raw`, with `what` before the reason. */
static int
entry_path (struct apply *ap, const char *raw, const char *path, const char *what, char **out,
            enclaver_error_t *err)
{
  enclaver_error_t e2 = NULL;
  if (tree_split_path (path, ap->o->lenient, out, &e2) == 0)
    return 0;
  cleanup_free char *m = xstrdup (e2->msg);
  int st = e2->status;
  enclaver_error_release (&e2);
  FAIL (st, "%s%s", what, m);
}

static int
apply_entry (struct apply *ap, struct archive_entry *e, enclaver_error_t *err)
{
  enclaver_tree_t *t = ap->t;
  const char *raw = archive_entry_pathname (e);
  if (raw == NULL)
    raw = "";
  if (*raw == '\0')
    {
      if (!ap->o->lenient)
        return enclaver_make_error (err, EINVAL, "layer %s: entry with an empty name", ap->layer);
      warn (ap, "skipping an entry with an empty name (lenient)");
      return 0;
    }
  size_t rl = strlen (raw);
  if (rl > ENCLAVER_TREE_PATH_MAX + 1)
    FAIL (ENAMETOOLONG, "name of %zu bytes is longer than %d bytes", rl, ENCLAVER_TREE_PATH_MAX + 1);

  cleanup_free char *clean = NULL;
  if (entry_path (ap, raw, raw, "", &clean, err) < 0)
    return -1;
  if (strncmp (clean, ".wh.", 4) == 0 || strstr (clean, "/.wh.") != NULL)
    {
      const char *base = strrchr (clean, '/');
      base = base ? base + 1 : clean;
      /* a non-final component starting with .wh. */
      const char *p = clean;
      while (p < base)
        {
          if (strncmp (p, ".wh.", 4) == 0)
            FAIL (EINVAL, "a directory component starts with '.wh.'");
          p = strchr (p, '/') + 1;
        }
      cleanup_free char *dir = xstrndup (clean, base > clean ? (size_t) (base - clean - 1) : 0);
      if (strcmp (base, ".wh..wh..opq") == 0)
        {
          if (ap->n_wh == ap->cap_wh)
            {
              ap->cap_wh = ap->cap_wh ? ap->cap_wh * 2 : 16;
              ap->wh = xreallocarray (ap->wh, ap->cap_wh, sizeof *ap->wh);
            }
          ap->wh[ap->n_wh++] = (struct whiteout) { .dir = xstrdup (dir), .name = NULL, .entry = xstrdup (raw) };
          return 0;
        }
      if (strncmp (base, ".wh..wh.", 8) == 0)
        {
          if (once (ap, APPLY_WARN_AUFS))
            warn (ap, "skipping AUFS metadata entry '%s' (and any others)", raw);
          return 0;
        }
      const char *x = base + 4;
      if (*x == '\0' || strcmp (x, ".") == 0 || strcmp (x, "..") == 0)
        FAIL (EINVAL, "invalid whiteout name");
      if (ap->n_wh == ap->cap_wh)
        {
          ap->cap_wh = ap->cap_wh ? ap->cap_wh * 2 : 16;
          ap->wh = xreallocarray (ap->wh, ap->cap_wh, sizeof *ap->wh);
        }
      ap->wh[ap->n_wh++] = (struct whiteout) { .dir = xstrdup (dir), .name = xstrdup (x), .entry = xstrdup (raw) };
      return 0;
    }

  const char *hl = archive_entry_hardlink (e);
  int ftype = archive_entry_filetype (e);
  if (*clean == '\0')
    {
      if (hl == NULL && ftype == AE_IFDIR)
        return 0; /* the root keeps its fixed type and metadata */
      FAIL (EINVAL, "refusing to change the type of the root directory");
    }

  la_int64_t uid = archive_entry_uid (e), gid = archive_entry_gid (e);
  if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
    FAIL (ERANGE, "uid/gid %lld/%lld outside 0..4294967295", (long long) uid, (long long) gid);
  struct enclaver_tree_attr attr = {
    .mode = (uint32_t) archive_entry_perm (e) & 07777,
    .uid = (uint32_t) uid,
    .gid = (uint32_t) gid,
    .mtime = archive_entry_mtime_is_set (e) ? (int64_t) archive_entry_mtime (e) : 0,
  };
  int has_x = archive_entry_xattr_count (e) > 0;
  if (has_x)
    xattr_warn (ap, raw, e);

  if (hl != NULL)
    {
      if (archive_entry_size_is_set (e) && archive_entry_size (e) > 0)
        FAIL (EINVAL, "hardlink entry carries %lld bytes of data", (long long) archive_entry_size (e));
      cleanup_free char *target = NULL;
      if (entry_path (ap, raw, hl, "hardlink target: ", &target, err) < 0)
        return -1;
      if (*target == '\0')
        FAIL (EINVAL, "hardlink to the root directory");
      unsigned hops = 0;
      tnode *tn;
      enclaver_error_t e2 = NULL;
      if (tree_resolve_node (t, &t->root, target, strlen (target), 0, 0, &hops, &tn, &e2) < 0)
        {
          enclaver_error_release (&e2);
          FAIL (ENOENT, "hardlink target '%s' does not exist in the image", hl);
        }
      if (tn->ino->type == ENCLAVER_NODE_DIR)
        FAIL (EPERM, "hardlink target '%s' is a directory", hl);
      return place (ap, raw, clean, tn->ino, 1, err);
    }

  int type;
  switch (ftype)
    {
    case AE_IFDIR: type = ENCLAVER_NODE_DIR; break;
    case AE_IFREG: type = ENCLAVER_NODE_REG; break;
    case AE_IFLNK: type = ENCLAVER_NODE_SYMLINK; break;
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
    case AE_IFSOCK:
      {
        unsigned bit = ftype == AE_IFIFO ? APPLY_WARN_FIFO : ftype == AE_IFSOCK ? APPLY_WARN_SOCKET : APPLY_WARN_DEVICE;
        const char *kind = ftype == AE_IFIFO ? "FIFO" : ftype == AE_IFSOCK ? "socket" : "device node";
        if (once (ap, bit))
          warn (ap, "dropping %s '%s' (and any further ones): the enclave's /dev is a devtmpfs", kind, raw);
        ap->dropped++;
        /* the path ends up absent, as if the layer had removed what was there */
        const char *slash = strrchr (clean, '/');
        unsigned hops = 0;
        tnode *dir;
        enclaver_error_t e2 = NULL;
        if (tree_resolve_dir (t, &t->root, clean, slash ? (size_t) (slash - clean) : 0, 0, &hops, &dir, &e2) == 0)
          {
            const char *name = slash ? slash + 1 : clean;
            tnode *old = tree_child (dir, name, strlen (name));
            if (old && old->explicit_layer == ap->L && !ap->o->lenient)
              FAIL (EEXIST, "duplicate entry for the same path with different content or metadata");
            if (old && old->ino->type == ENCLAVER_NODE_DIR && old->upper == ap->L && !ap->o->lenient)
              FAIL (EEXIST, "replaces a directory that already has entries from the same layer");
            if (old)
              tree_unlink (t, old); /* a lower directory goes too, with its subtree */
          }
        else
          enclaver_error_release (&e2);
        return 0;
      }
    default:
      FAIL (EINVAL, "unsupported entry type 0%o", (unsigned) ftype);
    }

  struct tree_inode *ino = tree_inode_new (t, type, &attr);
  ino->has_xattrs = has_x;
  if (type == ENCLAVER_NODE_SYMLINK)
    {
      const char *tg = archive_entry_symlink (e);
      size_t tl = tg ? strlen (tg) : 0;
      if (tl == 0 || tl > ENCLAVER_TREE_PATH_MAX)
        {
          free (ino);
          if (tl == 0 && ap->o->lenient)
            {
              warn (ap, "skipping symlink '%s' with an empty target (lenient)", raw);
              return 0;
            }
          FAIL (EINVAL, "symlink target length %zu not in 1..%d", tl, ENCLAVER_TREE_PATH_MAX);
        }
      ino->target = xstrdup (tg);
      ino->size = tl;
    }
  else if (type == ENCLAVER_NODE_REG)
    {
      la_int64_t sz = archive_entry_size_is_set (e) ? archive_entry_size (e) : 0;
      if (sz < 0 || (uint64_t) sz > UINT32_MAX)
        {
          free (ino);
          FAIL (EFBIG, "file of %lld bytes cannot be stored in a newc ramdisk (limit 4 GiB - 1)", (long long) sz);
        }
      if (read_content (ap, raw, (uint64_t) sz, ino, err) < 0)
        {
          free (ino);
          return -1;
        }
    }
  return place (ap, raw, clean, ino, 0, err);
}

int
enclaver_tree_apply_archive (enclaver_tree_t *t, void *archive, const char *name,
                             const struct enclaver_apply_options *opts, enclaver_error_t *err)
{
  struct enclaver_apply_options defaults;
  if (opts == NULL)
    {
      enclaver_apply_options_init (&defaults);
      opts = &defaults;
    }
  struct apply ap = { .t = t, .o = opts, .layer = name ? name : "(unnamed)", .a = archive };
  ap.L = ++t->layers_applied;
  unsigned saved_depth = t->max_depth;
  t->layer = ap.L;
  t->max_depth = opts->max_depth ? opts->max_depth : saved_depth;
  t->replace_nondir_parents = 1;
  t->nondir_parent_replaced = 0;

  locale_t utf8 = newlocale (LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
  locale_t prev = utf8 ? uselocale (utf8) : (locale_t) 0;

  int ret = 0;
  for (;;)
    {
      struct archive_entry *e;
      int r = archive_read_next_header (ap.a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK)
        {
          const char *p = (r == ARCHIVE_WARN && e) ? archive_entry_pathname (e) : NULL;
          ret = enclaver_make_error (err, EINVAL, "layer %s: %s%s%s%s: %s", ap.layer,
                                     r == ARCHIVE_WARN ? "libarchive warning" : "cannot read the tar stream",
                                     p ? " at entry '" : "", p ? p : "", p ? "'" : "",
                                     archive_error_string (ap.a) ? archive_error_string (ap.a) : "unknown error");
          break;
        }
      if (++t->applied_entries > opts->max_entries)
        {
          ret = enclaver_make_error (err, EFBIG, "layer %s: more than %llu entries (max-entries)", ap.layer,
                                     (unsigned long long) opts->max_entries);
          break;
        }
      if ((ret = apply_entry (&ap, e, err)) < 0)
        break;
    }
  if (ret == 0)
    ret = apply_whiteouts (&ap, err);
  if (ret == 0 && ap.crossed)
    warn (&ap, "%llu entr%s passed through a symlink from a lower layer and were resolved inside the image, e.g. %s "
          "(Docker on overlayfs would create a directory instead)",
          (unsigned long long) ap.crossed, ap.crossed == 1 ? "y" : "ies", ap.first_crossed);
  if (ret == 0 && t->nondir_parent_replaced)
    warn (&ap, "%llu non-director%s from a lower layer %s replaced by directories because entries needed them",
          (unsigned long long) t->nondir_parent_replaced, t->nondir_parent_replaced == 1 ? "y" : "ies",
          t->nondir_parent_replaced == 1 ? "was" : "were");
  if (utf8)
    {
      uselocale (prev);
      freelocale (utf8);
    }
  for (size_t i = 0; i < ap.n_wh; i++)
    {
      free (ap.wh[i].dir);
      free (ap.wh[i].name);
      free (ap.wh[i].entry);
    }
  free (ap.wh);
  free (ap.first_crossed);
  t->layer = 0;
  t->max_depth = saved_depth;
  t->replace_nondir_parents = 0;
  if (ret < 0)
    enclaver_error_set_field (err, "layer", ap.layer);
  return ret;
}

/* ------------------------------------------------------------------ layer files */

/* Read and inflate in pieces this large: large enough that handing each piece to a
 * hashing thread costs little. */
#define LAYER_IO_BUF (256u * 1024)

/* The two SHA-256 passes of a layer (the blob's digest and the DiffID) run on two
 * digest workers, one each, overlapping decompression and tar parsing.  Every buffer is
 * double-buffered so a buffer being hashed is never refilled (a buffer handed to
 * libarchive stays valid until its next callback call, by libarchive's contract). */

#ifdef HAVE_ISAL
/* gzip blobs inflated by ISA-L instead of libarchive's gzip filter (zlib). */
enum
{
  GZ_HEADER, /* before a member's header (or the end of the gzip data) */
  GZ_BODY,   /* inside a member's deflate data or trailer */
  GZ_DONE,
};

struct gz_reader
{
  struct inflate_state st;
  int phase;
  uint64_t member;     /* 1-based number of the current member */
  uint64_t member_off; /* file offset of its header */
  uint64_t in_off;     /* bytes read from the file so far */
  int eof;             /* read() returned 0 */
  char err[256];
};
#endif

struct layer_io
{
  int fd;
  EVP_MD_CTX *blob_md;
  EVP_MD_CTX *diff_md;
  struct archive *raw; /* libarchive's decompressor; NULL when gz is used */
#ifdef HAVE_ISAL
  struct gz_reader *gz;
#endif
  unsigned char in[2][LAYER_IO_BUF];
  unsigned char out[2][LAYER_IO_BUF];
  int in_i, out_i;
  uint64_t stream_bytes;
  uint64_t stream_limit;
  int over_limit;
  struct digest_worker hb; /* blob digest */
  struct digest_worker hd; /* DiffID */
};

/* Read the next piece of the blob into the input buffer not handed out last, posting it
 * to the blob digest.  Returns the count, 0 at the end, -1 with errno on failure. */
static ssize_t
read_input (struct layer_io *io, unsigned char **out)
{
  for (;;)
    {
      unsigned char *b = io->in[io->in_i];
      ssize_t n = read (io->fd, b, sizeof io->in[0]);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n;
      if (io->blob_md)
        digest_worker_post (&io->hb, io->blob_md, b, (size_t) n);
      io->in_i ^= 1;
      *out = b;
      return n;
    }
}

static la_ssize_t
file_read_cb (struct archive *a, void *ud, const void **buf)
{
  unsigned char *b = NULL;
  ssize_t n = read_input (ud, &b);
  if (n < 0)
    {
      archive_set_error (a, errno, "read error");
      return -1;
    }
  *buf = b;
  return n;
}

#ifdef HAVE_ISAL
/* ISA-L inflate of a gzip blob.  Members, the end of the gzip data and errors follow
 * libarchive's gzip filter (3.6/3.7) so that both paths produce the same stream:
 *  - a member's header is accepted on the rules of libarchive's peek_at_header: magic
 *    1f 8b, method 8, no reserved flag bit, then the optional extra field, name,
 *    comment and header CRC (present, not verified);
 *  - after a member, data that is not such a header, or a header cut short by the end
 *    of the file, ends the gzip data: those bytes are only hashed (blob digest);
 *  - a header with an extra field but no name, comment or header CRC that the file
 *    cuts short is a truncation error (libarchive takes it and then finds no data).
 * The header is parsed here rather than by ISA-L's ISAL_GZIP mode, which accepts
 * reserved flag bits and checks the header CRC, so it would disagree with libarchive on
 * what starts a member.  ISA-L then inflates the deflate data (ISAL_GZIP_NO_HDR_VER)
 * and checks the 8-byte trailer: CRC32 of the member's data and ISIZE, its length mod
 * 2^32.  libarchive does not look at the trailer: a bad CRC32 or ISIZE fails only here. */

#define GZ_FHCRC 0x02u
#define GZ_FEXTRA 0x04u
#define GZ_FNAME 0x08u
#define GZ_FCOMMENT 0x10u

enum
{
  GZH_FIXED, /* the 10 fixed bytes, and the 2 of XLEN when there is an extra field */
  GZH_EXTRA,
  GZH_NAME,
  GZH_COMMENT,
  GZH_HCRC,
  GZH_END,
};

/* The first 4 bytes of a member as libarchive's gzip filter accepts them: magic, method
 * 8 (deflate), no reserved flag bit. */
static int
gz_magic_ok (const unsigned char *h)
{
  return h[0] == 0x1f && h[1] == 0x8b && h[2] == 8 && (h[3] & 0xe0) == 0;
}

static int
gz_next_step (unsigned flags, int step)
{
  static const unsigned flag_of[] = { 0, GZ_FEXTRA, GZ_FNAME, GZ_FCOMMENT, GZ_FHCRC };
  for (step++; step < GZH_END; step++)
    if (flags & flag_of[step])
      return step;
  return GZH_END;
}

/* Read the next input buffer; every byte read goes to the blob digest, as in
 * file_read_cb.  Called only once ISA-L has taken all of the previous one, so the
 * buffer refilled here was posted two posts ago at the latest. */
static ssize_t
gz_fill (struct layer_io *io)
{
  struct gz_reader *g = io->gz;
  unsigned char *b = NULL;
  ssize_t n;
  if (g->eof)
    return 0;
  n = read_input (io, &b);
  if (n < 0)
    {
      snprintf (g->err, sizeof g->err, "read error at offset %llu: %s", (unsigned long long) g->in_off,
                strerror (errno));
      return -1;
    }
  if (n == 0)
    {
      g->eof = 1;
      return 0;
    }
  g->in_off += (uint64_t) n;
  g->st.next_in = b;
  g->st.avail_in = (uint32_t) n;
  return n;
}

/* Take the header of the next member.  1: a member starts; 0: the gzip data ended
 * (what follows is not a member); -1: error in g->err. */
static int
gz_header (struct layer_io *io)
{
  struct gz_reader *g = io->gz;
  unsigned char fixed[12];
  uint32_t have = 0, need = 10, skip = 0;
  unsigned flags = 0;
  int step = GZH_FIXED;
  g->member_off = g->in_off - g->st.avail_in;
  for (;;)
    {
      while ((step == GZH_EXTRA || step == GZH_HCRC) && skip == 0)
        {
          step = gz_next_step (flags, step);
          if (step == GZH_HCRC)
            skip = 2;
        }
      if (step == GZH_END)
        return 1;
      if (g->st.avail_in == 0)
        {
          ssize_t n = gz_fill (io);
          if (n < 0)
            return -1;
          if (n == 0)
            {
              if (step == GZH_EXTRA && !(flags & (GZ_FNAME | GZ_FCOMMENT | GZ_FHCRC)))
                {
                  snprintf (g->err, sizeof g->err,
                            "truncated gzip input: the file ends inside the extra field of member %llu (offset %llu)",
                            (unsigned long long) g->member, (unsigned long long) g->member_off);
                  return -1;
                }
              if (g->member == 1)
                {
                  snprintf (g->err, sizeof g->err, "truncated gzip input: the file ends inside the gzip header");
                  return -1;
                }
              return 0;
            }
        }
      const unsigned char *p = g->st.next_in;
      uint32_t avail = g->st.avail_in, used;
      switch (step)
        {
        case GZH_FIXED:
          used = need - have < avail ? need - have : avail;
          memcpy (fixed + have, p, used);
          have += used;
          break;
        case GZH_EXTRA:
        case GZH_HCRC:
          used = skip < avail ? skip : avail;
          skip -= used;
          break;
        default: /* a zero-terminated name or comment */
          {
            const unsigned char *z = memchr (p, 0, avail);
            used = z ? (uint32_t) (z - p) + 1 : avail;
            if (z)
              {
                step = gz_next_step (flags, step);
                if (step == GZH_HCRC)
                  skip = 2;
              }
            break;
          }
        }
      g->st.next_in += used;
      g->st.avail_in -= used;
      if (step == GZH_FIXED && have == need)
        {
          if (need == 10)
            {
              if (!gz_magic_ok (fixed))
                {
                  if (g->member > 1)
                    return 0;
                  snprintf (g->err, sizeof g->err, "not a gzip header at offset 0");
                  return -1;
                }
              flags = fixed[3];
              if (flags & GZ_FEXTRA)
                {
                  need = 12;
                  continue;
                }
            }
          else
            skip = (uint32_t) fixed[10] | (uint32_t) fixed[11] << 8;
          step = gz_next_step (flags, GZH_FIXED);
          if (step == GZH_HCRC)
            skip = 2;
        }
    }
}

static const char *
gz_strerror (int r)
{
  switch (r)
    {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate code";
    case ISAL_INVALID_LOOKBACK:
      return "back-reference before the start of the data";
    default:
      return "deflate data rejected";
    }
}

/* Inflate up to cap bytes into out: the count (0 at the end of the gzip data), or -1
 * with the reason in g->err. */
static la_ssize_t
gz_read (struct layer_io *io, unsigned char *out, size_t cap)
{
  struct gz_reader *g = io->gz;
  size_t got = 0;
  int idle = 0;
  if (cap > UINT32_MAX)
    cap = UINT32_MAX;
  while (got < cap && g->phase != GZ_DONE)
    {
      if (g->phase == GZ_HEADER)
        {
          int r = gz_header (io);
          if (r < 0)
            return -1;
          if (r == 0)
            {
              g->phase = GZ_DONE;
              break;
            }
          isal_inflate_reset (&g->st); /* keeps next_in/avail_in */
          g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
          g->phase = GZ_BODY;
          continue;
        }
      if (g->st.avail_in == 0 && gz_fill (io) < 0)
        return -1;
      /* at the end of the file ISA-L still gets called: it may hold decoded data or
       * the trailer's bytes; only when it makes no progress is the member truncated */
      uint32_t in_before = g->st.avail_in;
      int state_before = (int) g->st.block_state;
      g->st.next_out = out + got;
      g->st.avail_out = (uint32_t) (cap - got);
      int r = isal_inflate (&g->st);
      size_t produced = (size_t) (g->st.next_out - (out + got));
      got += produced;
      if (r == ISAL_INCORRECT_CHECKSUM)
        {
          snprintf (g->err, sizeof g->err,
                    "gzip member %llu (offset %llu): the trailer does not match the data (its CRC32 is %08x and its "
                    "length mod 2^32 is %u)",
                    (unsigned long long) g->member, (unsigned long long) g->member_off, (unsigned) g->st.crc,
                    (unsigned) g->st.total_out);
          return -1;
        }
      if (r < 0)
        {
          snprintf (g->err, sizeof g->err, "gzip member %llu (offset %llu): %s (ISA-L error %d) near offset %llu",
                    (unsigned long long) g->member, (unsigned long long) g->member_off, gz_strerror (r), r,
                    (unsigned long long) (g->in_off - g->st.avail_in));
          return -1;
        }
      if (g->st.block_state == ISAL_BLOCK_FINISH)
        {
          g->member++;
          g->phase = GZ_HEADER;
          idle = 0;
          continue;
        }
      /* never spin: ISA-L takes input or gives output on every call */
      if (produced == 0 && g->st.avail_in == in_before && (int) g->st.block_state == state_before)
        {
          idle++;
          if (g->st.avail_in == 0 && g->eof && idle >= 2)
            {
              snprintf (g->err, sizeof g->err,
                        "truncated gzip input: the file (%llu bytes) ends inside member %llu, which starts at offset %llu",
                        (unsigned long long) g->in_off, (unsigned long long) g->member,
                        (unsigned long long) g->member_off);
              return -1;
            }
          if (idle > 8)
            {
              snprintf (g->err, sizeof g->err, "gzip member %llu (offset %llu): the inflater makes no progress",
                        (unsigned long long) g->member, (unsigned long long) g->member_off);
              return -1;
            }
        }
      else
        idle = 0;
    }
  return (la_ssize_t) got;
}

/* ISA-L inflates the blob unless ENCLAVER_INFLATE=zlib, or it does not start with a
 * gzip header that libarchive would take (anything else goes to libarchive, which
 * reads zstd and plain tars and rejects the rest as before). */
static int
gz_wanted (int fd)
{
  const char *e = getenv ("ENCLAVER_INFLATE");
  if (e && strcmp (e, "zlib") == 0)
    return 0;
  if (e && *e && strcmp (e, "isal") != 0)
    {
      static int warned;
      if (!__atomic_exchange_n (&warned, 1, __ATOMIC_RELAXED))
        enclaver_log_warning ("ENCLAVER_INFLATE=%s is neither 'zlib' nor 'isal'; using ISA-L for gzip layers", e);
    }
  unsigned char h[10];
  ssize_t n;
  do
    n = pread (fd, h, sizeof h, 0);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t) sizeof h && gz_magic_ok (h);
}
#endif

/* The decompressed stream: ISA-L's or libarchive's. */
static la_ssize_t
stream_read (struct layer_io *io, void *buf, size_t cap)
{
#ifdef HAVE_ISAL
  if (io->gz)
    return gz_read (io, buf, cap);
#endif
  return archive_read_data (io->raw, buf, cap);
}

/* libarchive's message about the decompressor, or `fallback` when it has none. */
static const char *
raw_error (struct layer_io *io, const char *fallback)
{
  const char *m = archive_error_string (io->raw);
  return m ? m : fallback;
}

static const char *
stream_error (struct layer_io *io)
{
#ifdef HAVE_ISAL
  if (io->gz)
    return io->gz->err[0] ? io->gz->err : "gzip error";
#endif
  return raw_error (io, "error");
}

static la_ssize_t
tar_read_cb (struct archive *a, void *ud, const void **buf)
{
  struct layer_io *io = ud;
  unsigned char *b = io->out[io->out_i];
  la_ssize_t n = stream_read (io, b, sizeof io->out[0]);
  if (n < 0)
    {
      archive_set_error (a, EIO, "decompression failed: %s", stream_error (io));
      return -1;
    }
  io->stream_bytes += (uint64_t) n;
  if (io->stream_bytes > io->stream_limit)
    {
      io->over_limit = 1;
      archive_set_error (a, EFBIG, "uncompressed stream exceeds the limit");
      return -1;
    }
  digest_worker_post (&io->hd, io->diff_md, b, (size_t) n);
  io->out_i ^= 1;
  *buf = b;
  return n;
}

/* libarchive as the decompressor (zstd, plain tar, and gzip without ISA-L or with
 * ENCLAVER_INFLATE=zlib). */
static int
open_raw (struct layer_io *io, const char *name, const char *path, enclaver_error_t *err)
{
  io->raw = archive_read_new ();
  if (io->raw == NULL)
    xoom ();
  /* gzip and zstd must be built in: ARCHIVE_WARN means "would run an external program" */
  if (archive_read_support_filter_gzip (io->raw) != ARCHIVE_OK
      || archive_read_support_filter_zstd (io->raw) != ARCHIVE_OK)
    return enclaver_make_error (err, ENOTSUP, "layer %s: this libarchive lacks built-in gzip/zstd support", name);
  archive_read_support_format_raw (io->raw);
  if (archive_read_open (io->raw, io, NULL, file_read_cb, NULL) != ARCHIVE_OK)
    return enclaver_make_error (err, EINVAL, "layer %s: %s: %s", name, path, raw_error (io, "cannot open"));
  struct archive_entry *re;
  int r = archive_read_next_header (io->raw, &re);
  if (r != ARCHIVE_OK)
    return enclaver_make_error (err, EINVAL, "layer %s: %s: not a tar, tar+gzip or tar+zstd blob (%s)", name, path,
                                raw_error (io, "empty"));
  int fc = archive_filter_code (io->raw, 0);
  if (fc != ARCHIVE_FILTER_NONE && fc != ARCHIVE_FILTER_GZIP && fc != ARCHIVE_FILTER_ZSTD)
    return enclaver_make_error (err, EINVAL, "layer %s: unsupported compression %s", name,
                                archive_filter_name (io->raw, 0));
  return 0;
}

static void
hex_digest (EVP_MD_CTX *md, char *out)
{
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestFinal_ex (md, d, &dl);
  strcpy (out, "sha256:");
  for (unsigned i = 0; i < dl; i++)
    sprintf (out + 7 + 2 * i, "%02x", d[i]);
}

int
enclaver_tree_apply_layer_file (enclaver_tree_t *t, const char *path, const char *digest, const char *diff_id,
                                const struct enclaver_apply_options *opts, char *diff_id_out, enclaver_error_t *err)
{
  struct enclaver_apply_options defaults;
  if (opts == NULL)
    {
      enclaver_apply_options_init (&defaults);
      opts = &defaults;
    }
  const char *name = digest ? digest : path;
  struct layer_io *io = xmalloc0 (sizeof *io);
  struct archive *tar = NULL;
  int ret = -1;
  io->fd = open (path, O_RDONLY | O_CLOEXEC);
  if (io->fd < 0)
    {
      enclaver_make_errno (err, errno, "layer %s: open %s", name, path);
      free (io);
      return -1;
    }
  io->diff_md = EVP_MD_CTX_new ();
  if (io->diff_md == NULL || !EVP_DigestInit_ex (io->diff_md, EVP_sha256 (), NULL))
    xoom ();
  if (digest)
    {
      io->blob_md = EVP_MD_CTX_new ();
      if (io->blob_md == NULL || !EVP_DigestInit_ex (io->blob_md, EVP_sha256 (), NULL))
        xoom ();
    }
  digest_worker_start (&io->hb, "layer-digest");
  digest_worker_start (&io->hd, "layer-diffid");
  uint64_t budget_left = opts->max_bytes > t->applied_bytes ? opts->max_bytes - t->applied_bytes : 0;
  io->stream_limit = budget_left + (1ull << 30);

#ifdef HAVE_ISAL
  if (gz_wanted (io->fd))
    {
      io->gz = xmalloc0 (sizeof *io->gz);
      isal_inflate_init (&io->gz->st);
      io->gz->member = 1;
    }
  else
#endif
  if (open_raw (io, name, path, err) < 0)
    goto out;

  tar = archive_read_new ();
  if (tar == NULL)
    xoom ();
  archive_read_support_format_tar (tar);
  if (archive_read_open (tar, io, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
    {
      enclaver_make_error (err, EINVAL, "layer %s: not a tar stream: %s", name,
                           archive_error_string (tar) ? archive_error_string (tar) : "unknown");
      goto out;
    }
  if (enclaver_tree_apply_archive (t, tar, name, opts, err) < 0)
    {
      if (io->over_limit)
        {
          enclaver_error_release (err);
          enclaver_make_error (err, EFBIG, "layer %s: uncompressed stream larger than %llu bytes (max-bytes + 1 GiB)",
                               name, (unsigned long long) io->stream_limit);
        }
      goto out;
    }
  /* hash everything after the tar end marker too (here, on this thread) */
  digest_worker_wait (&io->hd);
  for (;;)
    {
      la_ssize_t n = stream_read (io, io->out[0], sizeof io->out[0]);
      if (n == 0)
        break;
      if (n < 0)
        {
          enclaver_make_error (err, EIO, "layer %s: decompression failed after the tar end: %s", name,
                               stream_error (io));
          goto out;
        }
      io->stream_bytes += (uint64_t) n;
      if (io->stream_bytes > io->stream_limit)
        {
          enclaver_make_error (err, EFBIG, "layer %s: uncompressed stream larger than %llu bytes", name,
                               (unsigned long long) io->stream_limit);
          goto out;
        }
      EVP_DigestUpdate (io->diff_md, io->out[0], (size_t) n);
    }
  if (digest_worker_wait (&io->hd) < 0 || digest_worker_wait (&io->hb) < 0)
    {
      enclaver_make_error (err, EIO, "layer %s: SHA-256 update failed", name);
      goto out;
    }
  char got[80];
  hex_digest (io->diff_md, got);
  if (diff_id_out)
    strcpy (diff_id_out, got);
  if (diff_id && strcmp (diff_id, got) != 0)
    {
      enclaver_make_error (err, EINVAL, "layer %s: diff_id mismatch: the config says %s, the layer's tar is %s", name,
                           diff_id, got);
      goto out;
    }
  if (digest)
    {
      /* bytes the decompressor did not need (after the compressed stream) count too */
      unsigned char *rest;
      ssize_t n;
      while ((n = read_input (io, &rest)) > 0)
        ;
      if (n < 0)
        {
          enclaver_make_errno (err, errno, "layer %s: read %s", name, path);
          goto out;
        }
      if (digest_worker_wait (&io->hb) < 0)
        {
          enclaver_make_error (err, EIO, "layer %s: SHA-256 update failed", name);
          goto out;
        }
      char blob[80];
      hex_digest (io->blob_md, blob);
      if (strcmp (blob, digest) != 0)
        {
          enclaver_make_error (err, EINVAL, "layer %s: digest mismatch: blob %s hashes to %s", name, path, blob);
          goto out;
        }
    }
  t->stream_bytes += io->stream_bytes;
  ret = 0;
out:
  if (ret < 0)
    {
      enclaver_error_set_field (err, "layer", name);
      enclaver_error_set_field (err, "digest", digest);
    }
  if (tar)
    archive_read_free (tar);
  if (io->raw)
    archive_read_free (io->raw);
#ifdef HAVE_ISAL
  free (io->gz);
#endif
  digest_worker_stop (&io->hb);
  digest_worker_stop (&io->hd);
  EVP_MD_CTX_free (io->diff_md);
  if (io->blob_md)
    EVP_MD_CTX_free (io->blob_md);
  close (io->fd);
  free (io);
  return ret;
}
