/* enclaver: internals of the rootfs tree shared by tree.c and apply.c. */
#ifndef ENCLAVER_TREE_INTERNAL_H
#define ENCLAVER_TREE_INTERNAL_H

#include <enclaver/tree.h>
#include "util.h"

struct tree_inode
{
  int type;
  uint32_t mode, uid, gid;
  int64_t mtime;
  uint32_t rdev_major, rdev_minor;
  uint64_t size;      /* content bytes (regular) */
  uint64_t offset;    /* content offset in the spill file */
  char *target;       /* symlink target */
  uint32_t nlink;     /* names pointing here */
  uint64_t id;
  int has_xattrs;
};

struct enclaver_tree_node
{
  char *name;
  size_t name_len;
  struct enclaver_tree_node *parent;
  struct tree_inode *ino;
  struct enclaver_tree_node **kids; /* sorted by raw bytes of the name */
  size_t n_kids, cap_kids;
  unsigned layer;          /* layer that created / last set this node */
  unsigned upper;          /* last layer that created something below this node */
  unsigned explicit_layer; /* layer whose tar had an entry for exactly this node */
  uint32_t depth;          /* components from the root */
};
typedef struct enclaver_tree_node tnode;

#define SPOOL_BUF (256u * 1024u)

struct enclaver_tree
{
  tnode root;
  int spool_fd;
  uint64_t spool_size;     /* bytes written to the file */
  unsigned char *wbuf;     /* pending appends */
  size_t wbuf_len;
  uint64_t next_id;
  uint64_t count;
  uint64_t mem;            /* heap bytes the names hold (tree_cost), for max_memory */
  unsigned layer;          /* current layer while applying (0 = API) */
  unsigned max_depth;
  int replace_nondir_parents; /* apply: a non-directory parent becomes a directory */
  uint64_t nondir_parent_replaced;
  const tnode *crossed;    /* last lower-layer symlink crossed by a resolution */
  /* layer application */
  unsigned layers_applied;
  uint64_t applied_bytes;    /* file bytes stored by layers (sparse holes included) */
  uint64_t applied_entries;  /* tar entries read */
  uint64_t stream_bytes;     /* uncompressed tar bytes read */
  unsigned warned;           /* APPLY_WARN_* already reported */
  char **xattr_warned;       /* xattr names already reported */
  size_t n_xattr_warned;
};

/* What an allocation of n bytes costs on the heap (glibc's chunks: 8 bytes of header,
 * 16-byte granules, 32 at least): the tree's memory accounting. */
static inline uint64_t
tree_cost (size_t n)
{
  uint64_t c = ((uint64_t) n + 8 + 15) & ~(uint64_t) 15;
  return c < 32 ? 32 : c;
}

/* Flags of tree_resolve_dir. */
#define RES_CREATE 0x1u

ENCLAVER_INTERNAL int tree_split_path (const char *path, int allow_dotdot, char **out, enclaver_error_t *err);
ENCLAVER_INTERNAL tnode *tree_child (const tnode *dir, const char *name, size_t len);
ENCLAVER_INTERNAL int tree_resolve_dir (enclaver_tree_t *t, tnode *start, const char *p, size_t len, unsigned flags,
                                        unsigned *hops, tnode **out, enclaver_error_t *err);
ENCLAVER_INTERNAL int tree_resolve_node (enclaver_tree_t *t, tnode *start, const char *p, size_t len,
                                         unsigned flags, int follow_last, unsigned *hops, tnode **out,
                                         enclaver_error_t *err);
ENCLAVER_INTERNAL void tree_unlink (enclaver_tree_t *t, tnode *n);
ENCLAVER_INTERNAL tnode *tree_link_new (enclaver_tree_t *t, tnode *dir, const char *name, size_t len,
                                        struct tree_inode *ino, enclaver_error_t *err);
ENCLAVER_INTERNAL struct tree_inode *tree_inode_new (enclaver_tree_t *t, int type,
                                                     const struct enclaver_tree_attr *a);
ENCLAVER_INTERNAL int tree_spool_append (enclaver_tree_t *t, const void *buf, size_t len, enclaver_error_t *err);
ENCLAVER_INTERNAL int tree_spool_flush (enclaver_tree_t *t, enclaver_error_t *err);
ENCLAVER_INTERNAL void tree_mark_upper (tnode *n, unsigned layer);
ENCLAVER_INTERNAL int tree_name_cmp (const char *a, size_t al, const char *b, size_t bl);

#endif
