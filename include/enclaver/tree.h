/* enclaver: the in-memory root filesystem tree and its content store.
 *
 * The tree holds metadata only: one node per name (dentry) pointing at an inode
 * (type, permission bits incl. setuid/setgid/sticky, uid, gid, mtime, device
 * numbers, symlink target, xattr presence).  Regular file contents live in one
 * private spill file created unlinked in $TMPDIR (or /tmp), so memory use is bounded
 * by metadata, never by file sizes.  Nothing taken from an image ever becomes a host
 * path.
 *
 * Paths given to the API are image paths: "/etc/passwd", "etc/passwd" and
 * "./etc//passwd" name the same node.  "." components are dropped, ".." components
 * are refused (EINVAL), the empty path and "/" name the root, which is always a
 * directory.  Intermediate components that are symlinks are resolved inside the
 * tree (absolute targets restart at the tree root, ".." stops at the root, at most
 * ENCLAVER_TREE_MAX_HOPS links per resolution); the final component is never
 * followed unless ENCLAVER_TREE_FOLLOW is given.
 *
 * Hardlinks: several names share one inode; enclaver_tree_stat() reports the inode
 * id and the number of names (nlink).  Removing a name keeps the other names.
 *
 * The flatten stage stores an `enclaver_tree_t *` in ENCLAVER_SLOT_ROOTFS with the
 * type tag ENCLAVER_TREE_TYPE; free it with enclaver_tree_free().
 */
#ifndef ENCLAVER_TREE_H
#define ENCLAVER_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_TREE_TYPE "enclaver.tree"
#define ENCLAVER_TREE_MAX_HOPS 40
#define ENCLAVER_TREE_PATH_MAX 4095   /* bytes of a path, without the NUL */
#define ENCLAVER_TREE_NAME_MAX 255    /* bytes of one component */

enum enclaver_node_type
{
  ENCLAVER_NODE_DIR = 1,
  ENCLAVER_NODE_REG = 2,
  ENCLAVER_NODE_SYMLINK = 3,
  ENCLAVER_NODE_CHR = 4,
  ENCLAVER_NODE_BLK = 5,
  ENCLAVER_NODE_FIFO = 6,
};

/* Metadata of a node to create (or the new metadata of an existing directory). */
struct enclaver_tree_attr
{
  uint32_t mode;  /* permission bits & 07777 (the type comes from the call) */
  uint32_t uid, gid;
  int64_t mtime;  /* seconds since the epoch */
  uint32_t rdev_major, rdev_minor; /* chr/blk only */
};

/* What enclaver_tree_stat() / the walker report about a node. */
struct enclaver_tree_stat
{
  int type;           /* enum enclaver_node_type */
  uint32_t mode;      /* permission bits & 07777 */
  uint32_t uid, gid;
  int64_t mtime;
  uint64_t size;      /* regular: content bytes; symlink: target length; else 0 */
  uint32_t rdev_major, rdev_minor;
  const char *link_target; /* symlink target (borrowed, NUL-terminated); else NULL */
  uint64_t inode;     /* identity of the inode: equal for all names of a hardlink set */
  uint32_t nlink;     /* names of this inode in the tree (directories: 1) */
  int has_xattrs;     /* the layer carried xattrs (they cannot be emitted in newc) */
  unsigned layer;     /* index of the layer that last wrote the node (0 = added by API) */
};

typedef struct enclaver_tree enclaver_tree_t;
typedef struct enclaver_tree_node enclaver_tree_node_t;

/* Flags for lookups and creation. */
#define ENCLAVER_TREE_FOLLOW 0x1u    /* follow a symlink in the final component */
#define ENCLAVER_TREE_MKPARENTS 0x2u /* create missing parents (0755 0:0, mtime 0) */
#define ENCLAVER_TREE_REPLACE 0x4u   /* replace an existing node (else EEXIST) */

/* A new tree: an empty root directory (0755, 0:0, mtime 0) and an empty spill file. */
enclaver_tree_t *enclaver_tree_new (enclaver_error_t *err);
void enclaver_tree_free (enclaver_tree_t *tree);
void enclaver_tree_free_void (void *tree);

/* Root attributes (mode, uid, gid, mtime). */
void enclaver_tree_set_root_attr (enclaver_tree_t *tree, const struct enclaver_tree_attr *attr);

/* Create nodes.  The parent must exist (or flags has ENCLAVER_TREE_MKPARENTS) and be a
 * directory (after resolving symlinks inside the tree).  An existing node at path is
 * an EEXIST error unless ENCLAVER_TREE_REPLACE is given; replacing a directory with a
 * directory only updates its attributes and keeps its children. */
int enclaver_tree_add_dir (enclaver_tree_t *tree, const char *path, const struct enclaver_tree_attr *attr,
                           unsigned flags, enclaver_error_t *err);
int enclaver_tree_add_file (enclaver_tree_t *tree, const char *path, const struct enclaver_tree_attr *attr,
                            const void *data, size_t len, unsigned flags, enclaver_error_t *err);
/* Regular file whose content is copied from fd (read to EOF, at most max_len bytes). */
int enclaver_tree_add_file_fd (enclaver_tree_t *tree, const char *path, const struct enclaver_tree_attr *attr,
                               int fd, uint64_t max_len, unsigned flags, enclaver_error_t *err);
int enclaver_tree_add_symlink (enclaver_tree_t *tree, const char *path, const struct enclaver_tree_attr *attr,
                               const char *target, unsigned flags, enclaver_error_t *err);
int enclaver_tree_add_node (enclaver_tree_t *tree, const char *path, int type,
                            const struct enclaver_tree_attr *attr, unsigned flags, enclaver_error_t *err);
/* New name for the inode at target (not a directory; the target's last component is
 * not followed, so a link to a symlink links the symlink). */
int enclaver_tree_add_hardlink (enclaver_tree_t *tree, const char *path, const char *target, unsigned flags,
                                enclaver_error_t *err);
/* Remove path (recursively for directories).  ENOENT when missing; the root cannot be removed. */
int enclaver_tree_remove (enclaver_tree_t *tree, const char *path, enclaver_error_t *err);
/* Change the metadata of an existing node (never follows the final symlink). */
int enclaver_tree_set_attr (enclaver_tree_t *tree, const char *path, const struct enclaver_tree_attr *attr,
                            enclaver_error_t *err);

/* Find a node; NULL (and ENOENT/ENOTDIR/ELOOP/EINVAL in *err when err is non-NULL). */
const enclaver_tree_node_t *enclaver_tree_lookup (const enclaver_tree_t *tree, const char *path, unsigned flags,
                                                  enclaver_error_t *err);
int enclaver_tree_stat (const enclaver_tree_t *tree, const char *path, unsigned flags,
                        struct enclaver_tree_stat *st, enclaver_error_t *err);
void enclaver_tree_node_stat (const enclaver_tree_t *tree, const enclaver_tree_node_t *node,
                              struct enclaver_tree_stat *st);
/* Full path of a node relative to the root, without leading '/' ("" for the root); malloc'd. */
char *enclaver_tree_node_path (const enclaver_tree_node_t *node);
/* Read up to len bytes of a regular file's content at offset; returns bytes read (0 at end). */
ssize_t enclaver_tree_node_read (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, uint64_t offset,
                                 void *buf, size_t len, enclaver_error_t *err);
/* Where a regular file's content lies: *fd is the tree's spill file (owned by the tree:
 * do not close; valid until the tree is freed), *offset the first byte there; the
 * content is the node's size bytes from it, already written to the file (pending
 * appends are flushed first), so the caller may map or copy_file_range them. */
int enclaver_tree_node_content (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, int *fd,
                                uint64_t *offset, enclaver_error_t *err);
/* Whole content of a regular file (max_len bytes at most, else EFBIG), NUL-terminated. */
int enclaver_tree_read_file (const enclaver_tree_t *tree, const char *path, size_t max_len, char **out,
                             size_t *len, enclaver_error_t *err);

/* Depth-first walk in emission order: a directory before its children, children in
 * raw byte order of their names.  path is relative ("etc/passwd"), the root ("") is
 * visited first only with ENCLAVER_TREE_WALK_ROOT.  A callback returning < 0 stops
 * the walk with that result. */
#define ENCLAVER_TREE_WALK_ROOT 0x1u
typedef int (*enclaver_tree_walk_fn) (const enclaver_tree_t *tree, const enclaver_tree_node_t *node,
                                      const char *path, size_t path_len, const struct enclaver_tree_stat *st,
                                      void *userdata, enclaver_error_t *err);
int enclaver_tree_walk (const enclaver_tree_t *tree, const char *start, unsigned flags, enclaver_tree_walk_fn fn,
                        void *userdata, enclaver_error_t *err);

/* Counters. */
uint64_t enclaver_tree_count (const enclaver_tree_t *tree);        /* names, root excluded */
/* Heap bytes the tree's names, inodes, symlink targets and directory tables take, as
 * counted for max_memory (about 220 bytes for an entry with a short name). */
uint64_t enclaver_tree_memory (const enclaver_tree_t *tree);
uint64_t enclaver_tree_content_bytes (const enclaver_tree_t *tree); /* bytes stored in the spill file */

/* ------------------------------------------------------------ layer application */

struct enclaver_apply_options
{
  uint64_t max_bytes;    /* total expanded file bytes over all layers; default 16 GiB */
  uint64_t max_entries;  /* total tar entries over all layers; default 2,000,000 */
  unsigned max_depth;    /* path components; default 256 */
  int lenient;           /* harmless oddities become warnings (default strict) */
  const char *log_source; /* log prefix ("stage:flatten:1"); NULL = none */
  uint64_t max_memory;   /* heap bytes of the tree (enclaver_tree_memory); default 192 MiB,
                          * so that a flatten stays under 256 MiB of memory in all */
};

void enclaver_apply_options_init (struct enclaver_apply_options *opts);

/* Apply one layer to the tree.  `archive` is an opened libarchive reader
 * (struct archive *) positioned before the first header; name identifies the layer
 * in messages (its digest).  Errors name the layer and the entry.  On error the tree
 * is left in an unspecified (but consistent and freeable) state. */
int enclaver_tree_apply_archive (enclaver_tree_t *tree, void *archive, const char *name,
                                 const struct enclaver_apply_options *opts, enclaver_error_t *err);

/* Apply the layer blob at path (tar, tar+gzip or tar+zstd, detected from the content;
 * nothing else is accepted and no external program is ever run).  When digest is
 * non-NULL the blob's sha256 must match it; when diff_id is non-NULL the sha256 of the
 * whole uncompressed stream must match it.  diff_id_out (may be NULL, >= 72 bytes)
 * receives "sha256:<hex>" of the uncompressed stream. */
int enclaver_tree_apply_layer_file (enclaver_tree_t *tree, const char *path, const char *digest,
                                    const char *diff_id, const struct enclaver_apply_options *opts,
                                    char *diff_id_out, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
