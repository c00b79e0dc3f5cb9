/* enclaver: a streaming, deterministic newc ("070701") cpio writer.
 *
 * Bytes are handed to a sink callback in order (in chunks of up to 64 KiB), so a
 * caller can hash them (SHA-384 for the PCRs) while writing them into the EIF; the
 * archive is never held in memory.
 *
 * Two modes:
 *
 * ENCLAVER_CPIO_DETERMINISTIC (the application ramdisk)
 *   - inode numbers from 721 in emission order; every name of a hardlink set
 *     (same link_id) shares one number, its data is written with the first name and
 *     the later names have size 0; nlink = number of names of the set (regular
 *     files), 2 for directories, 1 otherwise; symlinks are never hardlinked;
 *   - c_maj/c_min 0/0, rdev only for character/block devices, check 0;
 *   - mtime = min(mtime, SOURCE_DATE_EPOCH) when source_date_epoch >= 0, or exactly
 *     SOURCE_DATE_EPOCH with force_mtime, then clamped to 0..2^32-1;
 *   - lowercase hex, symlink data = target without a NUL, 4-byte alignment,
 *     `TRAILER!!!` (ino 0, nlink 1), archive padded to pad_to bytes (default 4).
 *   enclaver_cpio_add_tree() writes a whole tree depth-first, a directory before its
 *   children, children in raw byte order of their names.
 *
 * ENCLAVER_CPIO_LINUXKIT (nitro-cli's bootstrap ramdisk, EIF.md §5.2)
 *   - inode numbers from 721, one per entry, the trailer included; c_maj/c_min 3/1;
 *     nlink 2 for directories, 1 otherwise; mtimes as given (callers pass
 *     ENCLAVER_LINUXKIT_MTIME); trailer: all fields 0 except ino and nlink 1;
 *     archive padded to 512 bytes (default pad_to).
 */
#ifndef ENCLAVER_CPIO_H
#define ENCLAVER_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/error.h>
#include <enclaver/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_LINUXKIT_MTIME 1492533000 /* 2017-04-18T16:30:00Z, linuxkit's defaultModTime */
#define ENCLAVER_CPIO_FIRST_INO 721

enum enclaver_cpio_mode
{
  ENCLAVER_CPIO_DETERMINISTIC = 0,
  ENCLAVER_CPIO_LINUXKIT = 1,
};

/* Receives the archive bytes in order; return < 0 (and set *err) to abort. */
typedef int (*enclaver_cpio_sink_fn) (void *userdata, const void *buf, size_t len, enclaver_error_t *err);

struct enclaver_cpio_options
{
  int mode;                  /* enum enclaver_cpio_mode */
  int64_t source_date_epoch; /* -1 = unset */
  int force_mtime;           /* every entry gets source_date_epoch (when set) */
  uint32_t pad_to;           /* pad the archive end to a multiple of this; 0 = mode default */
};

void enclaver_cpio_options_init (struct enclaver_cpio_options *opts);

/* One archive member for enclaver_cpio_add(). */
struct enclaver_cpio_entry
{
  const char *name;  /* relative, no leading '/', at most 4095 bytes */
  int type;          /* enum enclaver_node_type */
  uint32_t mode;     /* permission bits & 07777 */
  uint32_t uid, gid;
  int64_t mtime;
  uint64_t size;     /* regular: data bytes; symlink: target length */
  uint32_t rdev_major, rdev_minor;
  uint64_t link_id;  /* regular files: names with the same non-zero id form one hardlink set */
  uint32_t nlink;    /* regular files with link_id: names in the set (0 = 1) */
};

typedef struct enclaver_cpio_writer enclaver_cpio_writer_t;

enclaver_cpio_writer_t *enclaver_cpio_writer_new (const struct enclaver_cpio_options *opts,
                                                  enclaver_cpio_sink_fn sink, void *userdata);
/* data: size bytes for regular files (ignored for a later name of a hardlink set),
 * the target for symlinks (NULL = e->size bytes are not available: error). */
int enclaver_cpio_add (enclaver_cpio_writer_t *w, const struct enclaver_cpio_entry *e, const void *data,
                       enclaver_error_t *err);
/* Every node of tree in emission order, names prefixed with "prefix/" when prefix is
 * non-empty; with ENCLAVER_CPIO_TREE_ROOT the root itself is written first (as prefix,
 * or "." without one) with the root's metadata. */
#define ENCLAVER_CPIO_TREE_ROOT 0x1u
int enclaver_cpio_add_tree (enclaver_cpio_writer_t *w, const enclaver_tree_t *tree, const char *prefix,
                            unsigned flags, enclaver_error_t *err);
/* Optional: file content that lies in a file (the tree's spill file) goes to this sink
 * as (fd, offset, len) instead of being read and passed to the byte sink, when a file
 * has at least min_size bytes; the bytes before it are flushed to the byte sink first,
 * so the two sinks together see the archive in order.  The archive is the same. */
typedef int (*enclaver_cpio_file_sink_fn) (void *userdata, int fd, uint64_t offset, uint64_t len,
                                           enclaver_error_t *err);
void enclaver_cpio_writer_set_file_sink (enclaver_cpio_writer_t *w, enclaver_cpio_file_sink_fn fn,
                                         uint64_t min_size);
/* Trailer and end padding, then flush everything to the sink. */
int enclaver_cpio_finish (enclaver_cpio_writer_t *w, enclaver_error_t *err);
/* Bytes produced so far (flushed or not). */
uint64_t enclaver_cpio_size (const enclaver_cpio_writer_t *w);
void enclaver_cpio_writer_free (enclaver_cpio_writer_t *w);

/* nitro-cli's bootstrap ramdisk: `dev` (dir 0755), `init` (0755), `nsm.ko` (0755),
 * uid/gid 0, mtime ENCLAVER_LINUXKIT_MTIME, linuxkit mode. */
int enclaver_cpio_write_bootstrap (const void *init, size_t init_len, const void *nsm_ko, size_t nsm_len,
                                   enclaver_cpio_sink_fn sink, void *userdata, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
