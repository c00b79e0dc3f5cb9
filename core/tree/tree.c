/* enclaver: the in-memory rootfs tree and its spill-file content store. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <enclaver/tree.h>
#include "tree-internal.h"

/* ------------------------------------------------------------------ spill file */

static int
spool_open (enclaver_error_t *err)
{
  const char *dir = getenv ("TMPDIR");
  if (dir == NULL || *dir == '\0')
    dir = "/tmp";
  int fd = -1;
#ifdef O_TMPFILE
  fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd < 0)
    {
      cleanup_free char *tmpl = xasprintf ("%s/enclaver-tree-XXXXXX", dir);
      fd = mkostemp (tmpl, O_CLOEXEC);
      if (fd < 0)
        return enclaver_make_errno (err, errno, "cannot create the content spill file in %s", dir);
      unlink (tmpl);
    }
  return fd;
}

int
tree_spool_flush (enclaver_tree_t *t, enclaver_error_t *err)
{
  if (enclaver_pwrite_all (t->spool_fd, t->wbuf, t->wbuf_len, t->spool_size) < 0)
    return enclaver_make_errno (err, errno, "writing the content spill file");
  t->spool_size += t->wbuf_len;
  t->wbuf_len = 0;
  return 0;
}

int
tree_spool_append (enclaver_tree_t *t, const void *buf, size_t len, enclaver_error_t *err)
{
  const unsigned char *p = buf;
  while (len > 0)
    {
      if (t->wbuf_len == SPOOL_BUF && tree_spool_flush (t, err) < 0)
        return -1;
      size_t n = SPOOL_BUF - t->wbuf_len;
      if (n > len)
        n = len;
      memcpy (t->wbuf + t->wbuf_len, p, n);
      t->wbuf_len += n;
      p += n;
      len -= n;
    }
  return 0;
}

static uint64_t
spool_end (const enclaver_tree_t *t)
{
  return t->spool_size + t->wbuf_len;
}

/* ------------------------------------------------------------------ nodes */

int
tree_name_cmp (const char *a, size_t al, const char *b, size_t bl)
{
  int c = memcmp (a, b, al < bl ? al : bl);
  if (c != 0)
    return c;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

static size_t
kid_pos (const tnode *dir, const char *name, size_t len, int *found)
{
  size_t lo = 0, hi = dir->n_kids;
  *found = 0;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int c = tree_name_cmp (dir->kids[mid]->name, dir->kids[mid]->name_len, name, len);
      if (c == 0)
        {
          *found = 1;
          return mid;
        }
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

tnode *
tree_child (const tnode *dir, const char *name, size_t len)
{
  int found;
  if (dir->ino->type != ENCLAVER_NODE_DIR)
    return NULL;
  size_t i = kid_pos (dir, name, len, &found);
  return found ? dir->kids[i] : NULL;
}

struct tree_inode *
tree_inode_new (enclaver_tree_t *t, int type, const struct enclaver_tree_attr *a)
{
  struct tree_inode *ino = xmalloc0 (sizeof *ino);
  ino->type = type;
  if (a)
    {
      ino->mode = a->mode & 07777;
      ino->uid = a->uid;
      ino->gid = a->gid;
      ino->mtime = a->mtime;
      if (type == ENCLAVER_NODE_CHR || type == ENCLAVER_NODE_BLK)
        {
          ino->rdev_major = a->rdev_major;
          ino->rdev_minor = a->rdev_minor;
        }
    }
  ino->id = ++t->next_id;
  return ino;
}

static void
inode_put (struct tree_inode *ino)
{
  if (--ino->nlink == 0)
    {
      free (ino->target);
      free (ino);
    }
}

void
tree_mark_upper (tnode *n, unsigned layer)
{
  for (tnode *p = n->parent; p != NULL; p = p->parent)
    {
      if (p->upper == layer)
        break;
      p->upper = layer;
    }
}

tnode *
tree_link_new (enclaver_tree_t *t, tnode *dir, const char *name, size_t len, struct tree_inode *ino,
               enclaver_error_t *err)
{
  int found;
  if (dir->depth + 1 > t->max_depth)
    {
      cleanup_free char *p = enclaver_tree_node_path (dir);
      enclaver_make_error (err, ENAMETOOLONG, "path depth limit (%u components) exceeded below /%s",
                           t->max_depth, p);
      return NULL;
    }
  size_t pos = kid_pos (dir, name, len, &found);
  if (found)
    {
      enclaver_make_error (err, EEXIST, "internal: name exists");
      return NULL;
    }
  tnode *n = xmalloc0 (sizeof *n);
  n->name = xstrndup (name, len);
  n->name_len = len;
  t->mem += tree_cost (sizeof *n) + tree_cost (len + 1);
  if (ino->nlink == 0) /* a new inode: hardlinks share it */
    t->mem += tree_cost (sizeof *ino) + (ino->target ? tree_cost (strlen (ino->target) + 1) : 0);
  n->parent = dir;
  n->ino = ino;
  n->depth = dir->depth + 1;
  n->layer = t->layer;
  ino->nlink++;
  if (dir->n_kids == dir->cap_kids)
    {
      if (dir->cap_kids)
        t->mem -= tree_cost (dir->cap_kids * sizeof *dir->kids);
      dir->cap_kids = dir->cap_kids ? dir->cap_kids * 2 : 4;
      dir->kids = xreallocarray (dir->kids, dir->cap_kids, sizeof *dir->kids);
      t->mem += tree_cost (dir->cap_kids * sizeof *dir->kids);
    }
  memmove (dir->kids + pos + 1, dir->kids + pos, (dir->n_kids - pos) * sizeof *dir->kids);
  dir->kids[pos] = n;
  dir->n_kids++;
  t->count++;
  if (t->layer != 0)
    tree_mark_upper (n, t->layer);
  return n;
}

static void
node_free_rec (enclaver_tree_t *t, tnode *n)
{
  for (size_t i = 0; i < n->n_kids; i++)
    node_free_rec (t, n->kids[i]);
  if (t)
    {
      t->mem -= tree_cost (sizeof *n) + tree_cost (n->name_len + 1)
                + (n->cap_kids ? tree_cost (n->cap_kids * sizeof *n->kids) : 0);
      if (n->ino->nlink == 1)
        t->mem -= tree_cost (sizeof *n->ino) + (n->ino->target ? tree_cost (strlen (n->ino->target) + 1) : 0);
    }
  free (n->kids);
  free (n->name);
  inode_put (n->ino);
  if (t)
    t->count--;
  free (n);
}

void
tree_unlink (enclaver_tree_t *t, tnode *n)
{
  tnode *dir = n->parent;
  int found;
  size_t pos = kid_pos (dir, n->name, n->name_len, &found);
  if (found)
    {
      memmove (dir->kids + pos, dir->kids + pos + 1, (dir->n_kids - pos - 1) * sizeof *dir->kids);
      dir->n_kids--;
    }
  node_free_rec (t, n);
}

/* ------------------------------------------------------------------ paths */

int
tree_split_path (const char *path, int allow_dotdot, char **out, enclaver_error_t *err)
{
  size_t len = strlen (path);
  if (len > ENCLAVER_TREE_PATH_MAX)
    return enclaver_make_error (err, ENAMETOOLONG, "path of %zu bytes exceeds %d bytes", len,
                                ENCLAVER_TREE_PATH_MAX);
  char *res = xmalloc (len + 1);
  size_t o = 0;
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *s = p;
      while (*p && *p != '/')
        p++;
      size_t cl = (size_t) (p - s);
      if (cl == 0 || (cl == 1 && s[0] == '.'))
        continue;
      if (cl == 2 && s[0] == '.' && s[1] == '.')
        {
          if (!allow_dotdot)
            {
              free (res);
              return enclaver_make_error (err, EINVAL, "'..' component in path '%s'", path);
            }
          /* lexical: drop the last component; refuse climbing above the root */
          if (o == 0)
            {
              free (res);
              return enclaver_make_error (err, EINVAL, "path '%s' climbs above the root", path);
            }
          while (o > 0 && res[o - 1] != '/')
            o--;
          if (o > 0)
            o--;
          continue;
        }
      if (cl > ENCLAVER_TREE_NAME_MAX)
        {
          free (res);
          return enclaver_make_error (err, ENAMETOOLONG, "component of %zu bytes (max %d) in path '%.64s...'",
                                      cl, ENCLAVER_TREE_NAME_MAX, path);
        }
      if (o > 0)
        res[o++] = '/';
      memcpy (res + o, s, cl);
      o += cl;
    }
  res[o] = '\0';
  *out = res;
  return 0;
}

static int
err_path (enclaver_error_t *err, int status, const char *what, const char *p, size_t len)
{
  return enclaver_make_error (err, status, "%s: /%.*s", what, (int) (len > 512 ? 512 : len), p);
}

/* Resolve p (relative to start, or to the root when absolute) as a directory,
 * following every symlink inside the tree. */
int
tree_resolve_dir (enclaver_tree_t *t, tnode *start, const char *p, size_t len, unsigned flags, unsigned *hops,
                  tnode **out, enclaver_error_t *err)
{
  tnode *cur = (len > 0 && p[0] == '/') ? &t->root : start;
  size_t i = 0;
  while (i < len)
    {
      while (i < len && p[i] == '/')
        i++;
      size_t s = i;
      while (i < len && p[i] != '/')
        i++;
      size_t cl = i - s;
      if (cl == 0 || (cl == 1 && p[s] == '.'))
        continue;
      if (cl == 2 && p[s] == '.' && p[s + 1] == '.')
        {
          if (cur->parent)
            cur = cur->parent;
          continue;
        }
      tnode *c = tree_child (cur, p + s, cl);
      if (c == NULL)
        {
          if (!(flags & RES_CREATE))
            return err_path (err, ENOENT, "no such directory", p, i);
          struct enclaver_tree_attr a = { .mode = 0755 };
          struct tree_inode *ino = tree_inode_new (t, ENCLAVER_NODE_DIR, &a);
          c = tree_link_new (t, cur, p + s, cl, ino, err);
          if (c == NULL)
            {
              free (ino);
              return -1;
            }
        }
      else if (c->ino->type == ENCLAVER_NODE_SYMLINK)
        {
          if (++*hops > ENCLAVER_TREE_MAX_HOPS)
            return err_path (err, ELOOP, "too many levels of symbolic links", p, i);
          if (t->layer != 0 && c->layer != t->layer)
            t->crossed = c;
          tnode *d;
          if (tree_resolve_dir (t, c->parent, c->ino->target, strlen (c->ino->target), flags, hops, &d, err) < 0)
            return -1;
          c = d;
        }
      else if (c->ino->type != ENCLAVER_NODE_DIR)
        {
          if (!(flags & RES_CREATE) || !t->replace_nondir_parents)
            return err_path (err, ENOTDIR, "not a directory", p, i);
          /* a layer needs a directory where a lower one left a non-directory */
          tnode *dir = c->parent;
          cleanup_free char *name = xstrndup (c->name, c->name_len);
          size_t nl = c->name_len;
          tree_unlink (t, c);
          struct enclaver_tree_attr a = { .mode = 0755 };
          struct tree_inode *ino = tree_inode_new (t, ENCLAVER_NODE_DIR, &a);
          c = tree_link_new (t, dir, name, nl, ino, err);
          if (c == NULL)
            {
              free (ino);
              return -1;
            }
          t->nondir_parent_replaced++;
        }
      cur = c;
    }
  *out = cur;
  return 0;
}

/* Resolve p to a node; the last component is followed only when follow_last.
 * For "", "/", and paths ending in "." or "..", the directory itself. */
int
tree_resolve_node (enclaver_tree_t *t, tnode *start, const char *p, size_t len, unsigned flags, int follow_last,
                   unsigned *hops, tnode **out, enclaver_error_t *err)
{
  size_t end = len;
  while (end > 0 && p[end - 1] == '/')
    end--;
  size_t s = end;
  while (s > 0 && p[s - 1] != '/')
    s--;
  size_t cl = end - s;
  if (cl == 0 || (cl == 1 && p[s] == '.') || (cl == 2 && p[s] == '.' && p[s + 1] == '.'))
    return tree_resolve_dir (t, start, p, len, flags, hops, out, err);
  tnode *dir;
  if (tree_resolve_dir (t, start, p, s, flags, hops, &dir, err) < 0)
    return -1;
  tnode *c = tree_child (dir, p + s, cl);
  if (c == NULL)
    return err_path (err, ENOENT, "no such file or directory", p, len);
  if (follow_last && c->ino->type == ENCLAVER_NODE_SYMLINK)
    {
      if (++*hops > ENCLAVER_TREE_MAX_HOPS)
        return err_path (err, ELOOP, "too many levels of symbolic links", p, len);
      return tree_resolve_node (t, c->parent, c->ino->target, strlen (c->ino->target), flags, 1, hops, out, err);
    }
  *out = c;
  return 0;
}

/* ------------------------------------------------------------------ public API */

enclaver_tree_t *
enclaver_tree_new (enclaver_error_t *err)
{
  int fd = spool_open (err);
  if (fd < 0)
    return NULL;
  enclaver_tree_t *t = xmalloc0 (sizeof *t);
  t->spool_fd = fd;
  t->wbuf = xmalloc (SPOOL_BUF);
  t->max_depth = ENCLAVER_TREE_PATH_MAX / 2 + 1;
  struct enclaver_tree_attr a = { .mode = 0755 };
  t->root.ino = tree_inode_new (t, ENCLAVER_NODE_DIR, &a);
  t->root.ino->nlink = 1;
  t->root.name = xstrdup ("");
  return t;
}

void
enclaver_tree_free (enclaver_tree_t *t)
{
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->root.n_kids; i++)
    node_free_rec (NULL, t->root.kids[i]);
  free (t->root.kids);
  free (t->root.name);
  free (t->root.ino);
  if (t->spool_fd >= 0)
    close (t->spool_fd);
  free (t->wbuf);
  for (size_t i = 0; i < t->n_xattr_warned; i++)
    free (t->xattr_warned[i]);
  free (t->xattr_warned);
  free (t);
}

void
enclaver_tree_free_void (void *t)
{
  enclaver_tree_free (t);
}

void
enclaver_tree_set_root_attr (enclaver_tree_t *t, const struct enclaver_tree_attr *a)
{
  t->root.ino->mode = a->mode & 07777;
  t->root.ino->uid = a->uid;
  t->root.ino->gid = a->gid;
  t->root.ino->mtime = a->mtime;
}

/* Find the parent directory and the final name of a new node. */
static int
prepare_create (enclaver_tree_t *t, const char *path, unsigned flags, tnode **dir_out, char **clean_out,
                const char **name, size_t *name_len, enclaver_error_t *err)
{
  char *clean;
  if (tree_split_path (path, 0, &clean, err) < 0)
    return -1;
  if (*clean == '\0')
    {
      free (clean);
      return enclaver_make_error (err, EEXIST, "'%s' is the root directory", path);
    }
  char *slash = strrchr (clean, '/');
  size_t plen = slash ? (size_t) (slash - clean) : 0;
  unsigned hops = 0;
  tnode *dir;
  if (tree_resolve_dir (t, &t->root, clean, plen, (flags & ENCLAVER_TREE_MKPARENTS) ? RES_CREATE : 0, &hops, &dir,
                        err) < 0)
    {
      free (clean);
      return enclaver_error_wrap (err, "cannot create '%s'", path);
    }
  *dir_out = dir;
  *clean_out = clean;
  *name = slash ? slash + 1 : clean;
  *name_len = strlen (*name);
  return 0;
}

static int
create_node (enclaver_tree_t *t, const char *path, int type, const struct enclaver_tree_attr *attr,
             struct tree_inode *ino_in, unsigned flags, enclaver_error_t *err)
{
  tnode *dir = NULL;
  cleanup_free char *clean = NULL;
  const char *name = NULL;
  size_t nl = 0;
  if (prepare_create (t, path, flags, &dir, &clean, &name, &nl, err) < 0)
    {
      if (ino_in && ino_in->nlink == 0)
        free (ino_in->target), free (ino_in);
      return -1;
    }
  tnode *old = tree_child (dir, name, nl);
  if (old)
    {
      if (!(flags & ENCLAVER_TREE_REPLACE))
        {
          if (ino_in && ino_in->nlink == 0)
            free (ino_in->target), free (ino_in);
          return enclaver_make_error (err, EEXIST, "'%s' exists", path);
        }
      if (type == ENCLAVER_NODE_DIR && old->ino->type == ENCLAVER_NODE_DIR && ino_in == NULL)
        {
          old->ino->mode = attr->mode & 07777;
          old->ino->uid = attr->uid;
          old->ino->gid = attr->gid;
          old->ino->mtime = attr->mtime;
          return 0;
        }
      if (ino_in && old->ino == ino_in)
        return 0; /* link to itself */
      tree_unlink (t, old);
    }
  struct tree_inode *ino = ino_in ? ino_in : tree_inode_new (t, type, attr);
  if (tree_link_new (t, dir, name, nl, ino, err) == NULL)
    {
      if (ino->nlink == 0)
        free (ino->target), free (ino);
      return enclaver_error_wrap (err, "cannot create '%s'", path);
    }
  return 0;
}

int
enclaver_tree_add_dir (enclaver_tree_t *t, const char *path, const struct enclaver_tree_attr *attr, unsigned flags,
                       enclaver_error_t *err)
{
  return create_node (t, path, ENCLAVER_NODE_DIR, attr, NULL, flags, err);
}

int
enclaver_tree_add_node (enclaver_tree_t *t, const char *path, int type, const struct enclaver_tree_attr *attr,
                        unsigned flags, enclaver_error_t *err)
{
  if (type < ENCLAVER_NODE_DIR || type > ENCLAVER_NODE_FIFO || type == ENCLAVER_NODE_REG
      || type == ENCLAVER_NODE_SYMLINK)
    return enclaver_make_error (err, EINVAL, "'%s': enclaver_tree_add_node takes dir/chr/blk/fifo", path);
  return create_node (t, path, type, attr, NULL, flags, err);
}

int
enclaver_tree_add_file (enclaver_tree_t *t, const char *path, const struct enclaver_tree_attr *attr,
                        const void *data, size_t len, unsigned flags, enclaver_error_t *err)
{
  struct tree_inode *ino = tree_inode_new (t, ENCLAVER_NODE_REG, attr);
  ino->offset = spool_end (t);
  ino->size = len;
  if (tree_spool_append (t, data, len, err) < 0)
    {
      free (ino);
      return -1;
    }
  return create_node (t, path, ENCLAVER_NODE_REG, attr, ino, flags, err);
}

int
enclaver_tree_add_file_fd (enclaver_tree_t *t, const char *path, const struct enclaver_tree_attr *attr, int fd,
                           uint64_t max_len, unsigned flags, enclaver_error_t *err)
{
  struct tree_inode *ino = tree_inode_new (t, ENCLAVER_NODE_REG, attr);
  ino->offset = spool_end (t);
  unsigned char buf[65536];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          free (ino);
          return enclaver_make_errno (err, errno, "reading the content of '%s'", path);
        }
      if (n == 0)
        break;
      if (ino->size + (uint64_t) n > max_len)
        {
          free (ino);
          return enclaver_make_error (err, EFBIG, "content of '%s' exceeds %llu bytes", path,
                                      (unsigned long long) max_len);
        }
      if (tree_spool_append (t, buf, (size_t) n, err) < 0)
        {
          free (ino);
          return -1;
        }
      ino->size += (uint64_t) n;
    }
  return create_node (t, path, ENCLAVER_NODE_REG, attr, ino, flags, err);
}

int
enclaver_tree_add_symlink (enclaver_tree_t *t, const char *path, const struct enclaver_tree_attr *attr,
                           const char *target, unsigned flags, enclaver_error_t *err)
{
  size_t tl = strlen (target);
  if (tl == 0 || tl > ENCLAVER_TREE_PATH_MAX)
    return enclaver_make_error (err, EINVAL, "symlink '%s': target length %zu not in 1..%d", path, tl,
                                ENCLAVER_TREE_PATH_MAX);
  struct tree_inode *ino = tree_inode_new (t, ENCLAVER_NODE_SYMLINK, attr);
  ino->target = xstrdup (target);
  ino->size = tl;
  int r = create_node (t, path, ENCLAVER_NODE_SYMLINK, attr, ino, flags, err);
  return r;
}

int
enclaver_tree_add_hardlink (enclaver_tree_t *t, const char *path, const char *target, unsigned flags,
                            enclaver_error_t *err)
{
  const tnode *tn = enclaver_tree_lookup (t, target, 0, err);
  if (tn == NULL)
    return enclaver_error_wrap (err, "hardlink '%s' -> '%s'", path, target);
  if (tn->ino->type == ENCLAVER_NODE_DIR)
    return enclaver_make_error (err, EPERM, "hardlink '%s': target '%s' is a directory", path, target);
  struct tree_inode *ino = tn->ino;
  ino->nlink++; /* held: creating the new name may remove the old one */
  int r = create_node (t, path, ino->type, NULL, ino, flags, err);
  if (--ino->nlink == 0)
    {
      free (ino->target);
      free (ino);
    }
  return r;
}

const enclaver_tree_node_t *
enclaver_tree_lookup (const enclaver_tree_t *ct, const char *path, unsigned flags, enclaver_error_t *err)
{
  enclaver_tree_t *t = (enclaver_tree_t *) ct; /* resolution without RES_CREATE never modifies */
  cleanup_free char *clean = NULL;
  enclaver_error_t e = NULL;
  if (tree_split_path (path, 0, &clean, &e) < 0)
    goto fail;
  unsigned hops = 0;
  tnode *n;
  unsigned saved = t->layer;
  t->layer = 0;
  int r = tree_resolve_node (t, &t->root, clean, strlen (clean), 0, (flags & ENCLAVER_TREE_FOLLOW) != 0, &hops,
                             &n, &e);
  t->layer = saved;
  if (r < 0)
    goto fail;
  return n;
fail:
  if (err)
    *err = e;
  else
    enclaver_error_release (&e);
  return NULL;
}

void
enclaver_tree_node_stat (const enclaver_tree_t *t, const enclaver_tree_node_t *n, struct enclaver_tree_stat *st)
{
  (void) t;
  const struct tree_inode *i = n->ino;
  memset (st, 0, sizeof *st);
  st->type = i->type;
  st->mode = i->mode;
  st->uid = i->uid;
  st->gid = i->gid;
  st->mtime = i->mtime;
  st->size = (i->type == ENCLAVER_NODE_REG || i->type == ENCLAVER_NODE_SYMLINK) ? i->size : 0;
  st->rdev_major = i->rdev_major;
  st->rdev_minor = i->rdev_minor;
  st->link_target = i->target;
  st->inode = i->id;
  st->nlink = i->nlink;
  st->has_xattrs = i->has_xattrs;
  st->layer = n->layer;
}

int
enclaver_tree_stat (const enclaver_tree_t *t, const char *path, unsigned flags, struct enclaver_tree_stat *st,
                    enclaver_error_t *err)
{
  const tnode *n = enclaver_tree_lookup (t, path, flags, err);
  if (n == NULL)
    return -1;
  enclaver_tree_node_stat (t, n, st);
  return 0;
}

char *
enclaver_tree_node_path (const enclaver_tree_node_t *n)
{
  size_t len = 0, k = 0;
  for (const tnode *p = n; p->parent; p = p->parent)
    {
      len += p->name_len;
      k++;
    }
  if (k)
    len += k - 1;
  char *s = xmalloc (len + 1);
  s[len] = '\0';
  size_t o = len;
  for (const tnode *p = n; p->parent; p = p->parent)
    {
      o -= p->name_len;
      memcpy (s + o, p->name, p->name_len);
      if (o > 0)
        s[--o] = '/';
    }
  return s;
}

ssize_t
enclaver_tree_node_read (const enclaver_tree_t *ct, const enclaver_tree_node_t *n, uint64_t offset, void *buf,
                         size_t len, enclaver_error_t *err)
{
  enclaver_tree_t *t = (enclaver_tree_t *) ct;
  const struct tree_inode *i = n->ino;
  if (i->type != ENCLAVER_NODE_REG)
    return enclaver_make_error (err, EINVAL, "not a regular file");
  if (offset >= i->size)
    return 0;
  if (len > i->size - offset)
    len = (size_t) (i->size - offset);
  if (t->wbuf_len > 0 && tree_spool_flush (t, err) < 0)
    return -1;
  size_t done = 0;
  while (done < len)
    {
      ssize_t r = pread (t->spool_fd, (char *) buf + done, len - done, (off_t) (i->offset + offset + done));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return enclaver_make_errno (err, errno, "reading the content spill file");
      if (r == 0)
        return enclaver_make_error (err, EIO, "content spill file truncated");
      done += (size_t) r;
    }
  return (ssize_t) done;
}

int
enclaver_tree_node_content (const enclaver_tree_t *ct, const enclaver_tree_node_t *n, int *fd, uint64_t *offset,
                            enclaver_error_t *err)
{
  enclaver_tree_t *t = (enclaver_tree_t *) ct;
  if (n->ino->type != ENCLAVER_NODE_REG)
    return enclaver_make_error (err, EINVAL, "not a regular file");
  if (t->wbuf_len > 0 && tree_spool_flush (t, err) < 0)
    return -1;
  *fd = t->spool_fd;
  *offset = n->ino->offset;
  return 0;
}

int
enclaver_tree_read_file (const enclaver_tree_t *t, const char *path, size_t max_len, char **out, size_t *len,
                         enclaver_error_t *err)
{
  const tnode *n = enclaver_tree_lookup (t, path, ENCLAVER_TREE_FOLLOW, err);
  if (n == NULL)
    return -1;
  if (n->ino->type != ENCLAVER_NODE_REG)
    return enclaver_make_error (err, EINVAL, "'%s' is not a regular file", path);
  if (n->ino->size > max_len)
    return enclaver_make_error (err, EFBIG, "'%s' is larger than %zu bytes", path, max_len);
  size_t sz = (size_t) n->ino->size;
  char *b = xmalloc (sz + 1);
  if (sz > 0 && enclaver_tree_node_read (t, n, 0, b, sz, err) < 0)
    {
      free (b);
      return -1;
    }
  b[sz] = '\0';
  *out = b;
  if (len)
    *len = sz;
  return 0;
}

int
enclaver_tree_remove (enclaver_tree_t *t, const char *path, enclaver_error_t *err)
{
  tnode *n = (tnode *) enclaver_tree_lookup (t, path, 0, err);
  if (n == NULL)
    return -1;
  if (n->parent == NULL)
    return enclaver_make_error (err, EPERM, "the root directory cannot be removed");
  tree_unlink (t, n);
  return 0;
}

int
enclaver_tree_set_attr (enclaver_tree_t *t, const char *path, const struct enclaver_tree_attr *a,
                        enclaver_error_t *err)
{
  tnode *n = (tnode *) enclaver_tree_lookup (t, path, 0, err);
  if (n == NULL)
    return -1;
  n->ino->mode = a->mode & 07777;
  n->ino->uid = a->uid;
  n->ino->gid = a->gid;
  n->ino->mtime = a->mtime;
  if (n->ino->type == ENCLAVER_NODE_CHR || n->ino->type == ENCLAVER_NODE_BLK)
    {
      n->ino->rdev_major = a->rdev_major;
      n->ino->rdev_minor = a->rdev_minor;
    }
  return 0;
}

struct walk_state
{
  const enclaver_tree_t *t;
  enclaver_tree_walk_fn fn;
  void *ud;
  char *buf;
  size_t cap;
};

static int
walk_rec (struct walk_state *w, const tnode *n, size_t plen, enclaver_error_t *err)
{
  for (size_t i = 0; i < n->n_kids; i++)
    {
      const tnode *c = n->kids[i];
      size_t need = plen + (plen ? 1 : 0) + c->name_len + 1;
      if (need > w->cap)
        {
          w->cap = need * 2;
          w->buf = xrealloc (w->buf, w->cap);
        }
      size_t o = plen;
      if (plen)
        w->buf[o++] = '/';
      memcpy (w->buf + o, c->name, c->name_len);
      o += c->name_len;
      w->buf[o] = '\0';
      struct enclaver_tree_stat st;
      enclaver_tree_node_stat (w->t, c, &st);
      int r = w->fn (w->t, c, w->buf, o, &st, w->ud, err);
      if (r < 0)
        return r;
      if (c->ino->type == ENCLAVER_NODE_DIR && (r = walk_rec (w, c, o, err)) < 0)
        return r;
    }
  return 0;
}

int
enclaver_tree_walk (const enclaver_tree_t *t, const char *start, unsigned flags, enclaver_tree_walk_fn fn,
                    void *userdata, enclaver_error_t *err)
{
  const tnode *s = &t->root;
  cleanup_free char *clean = NULL;
  if (start && *start)
    {
      s = enclaver_tree_lookup (t, start, 0, err);
      if (s == NULL)
        return -1;
    }
  if (tree_split_path (start ? start : "", 0, &clean, err) < 0)
    return -1;
  struct walk_state w = { .t = t, .fn = fn, .ud = userdata };
  w.cap = strlen (clean) + 256;
  w.buf = xmalloc (w.cap);
  strcpy (w.buf, clean);
  int r = 0;
  if (flags & ENCLAVER_TREE_WALK_ROOT)
    {
      struct enclaver_tree_stat st;
      enclaver_tree_node_stat (t, s, &st);
      r = fn (t, s, w.buf, strlen (w.buf), &st, userdata, err);
    }
  if (r >= 0 && s->ino->type == ENCLAVER_NODE_DIR)
    r = walk_rec (&w, s, strlen (w.buf), err);
  free (w.buf);
  return r;
}

uint64_t
enclaver_tree_memory (const enclaver_tree_t *t)
{
  return t->mem;
}

uint64_t
enclaver_tree_count (const enclaver_tree_t *t)
{
  return t->count;
}

uint64_t
enclaver_tree_content_bytes (const enclaver_tree_t *t)
{
  return spool_end (t);
}
