/* enclaver: apply OCI/Docker layer tars to the in-memory tree.
 *
 * libarchive is only a parser here: tar format, gzip/zstd/no compression (gzip is
 * inflated by ISA-L instead when built with it, see core/tree/layer-file.c), no
 * external programs, nothing written to the host.  See docs/flatten.md for the
 * rules (whiteouts, opaque directories, symlinks in parents, hardlinks, limits). */
#include "config.h"


#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include <enclaver/log.h>
#include <enclaver/tree.h>
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
  o->max_memory = 192ull << 20;
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
  /* The entry before the one being read, for a stream that breaks after it: a hardlink
   * whose header declares data (which a hardlink cannot carry) makes libarchive take
   * that data for the next header ("Damaged tar archive"). */
  char *last = NULL;
  size_t last_cap = 0;
  int last_hl = 0;
  for (;;)
    {
      struct archive_entry *e;
      int r = archive_read_next_header (ap.a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK)
        {
          const char *p = (r == ARCHIVE_WARN && e) ? archive_entry_pathname (e) : NULL;
          const char *why = archive_error_string (ap.a) ? archive_error_string (ap.a) : "unknown error";
          if (p == NULL && last != NULL && last_hl)
            ret = enclaver_make_error (err, EINVAL,
                                       "layer %s: entry '%s' (a hardlink) is followed by bytes that are not a tar "
                                       "header (%s): a hardlink entry that carries data is refused",
                                       ap.layer, last, why);
          else if (p == NULL && last != NULL)
            ret = enclaver_make_error (err, EINVAL, "layer %s: cannot read the tar stream after entry '%s': %s",
                                       ap.layer, last, why);
          else
            ret = enclaver_make_error (err, EINVAL, "layer %s: %s%s%s%s: %s", ap.layer,
                                       r == ARCHIVE_WARN ? "libarchive warning" : "cannot read the tar stream",
                                       p ? " at entry '" : "", p ? p : "", p ? "'" : "", why);
          if (p || last)
            enclaver_error_set_field (err, "file", p ? p : last);
          break;
        }
      const char *pn = archive_entry_pathname (e);
      size_t nl = pn ? strlen (pn) + 1 : 0;
      if (nl > last_cap)
        {
          last_cap = nl < 256 ? 256 : nl;
          last = xrealloc (last, last_cap);
        }
      if (pn)
        memcpy (last, pn, nl);
      else if (last)
        strcpy (last, "?");
      last_hl = archive_entry_hardlink (e) != NULL;
      if (++t->applied_entries > opts->max_entries)
        {
          ret = enclaver_make_error (err, EFBIG,
                                     "layer %s: more than %llu tar entries in the image's layers (the flatten limit "
                                     "max_entries: raise it with --stage-opt flatten.max_entries=N, or "
                                     "`- flatten: { max_entries: N }` in the pipeline)",
                                     ap.layer, (unsigned long long) opts->max_entries);
          break;
        }
      if ((ret = apply_entry (&ap, e, err)) < 0)
        break;
      if (opts->max_memory && t->mem > opts->max_memory)
        {
          ret = enclaver_make_error (err, EFBIG,
                                     "layer %s: entry '%.300s': the in-memory tree of the image's files would take "
                                     "more than %llu MiB (the flatten limit max_memory; %llu entries so far, %llu "
                                     "bytes each on average): raise it with --stage-opt flatten.max_memory=SIZE "
                                     "(e.g. 512M), or `- flatten: { max_memory: 512M }` in the pipeline",
                                     ap.layer, last ? last : "?", (unsigned long long) (opts->max_memory >> 20),
                                     (unsigned long long) t->count,
                                     (unsigned long long) (t->count ? t->mem / t->count : 0));
          break;
        }
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
  free (last);
  t->layer = 0;
  t->max_depth = saved_depth;
  t->replace_nondir_parents = 0;
  if (ret < 0)
    enclaver_error_set_field (err, "layer", ap.layer);
  return ret;
}
