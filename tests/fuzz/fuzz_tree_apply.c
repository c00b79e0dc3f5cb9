/* enclaver: libFuzzer target for layer application (core/tree/apply.c): a tar layer
 * applied to the in-memory rootfs tree, as the flatten stage does: whiteouts, opaque
 * directories, hardlinks, symlinks, devices, path normalisation and the limits.
 *
 * The input is an uncompressed tar, read with libarchive from memory.  The first byte
 * chooses strict or lenient application; the rest is applied twice, as two layers, so
 * the second meets the entries of the first (replacements, whiteouts of real files).
 * Every failure must explain itself; after success the tree is walked, every node's
 * path must look it up again, and every regular file must read to its stated size. */
#include "config.h"

#include <archive.h>

#include <enclaver/log.h>
#include <enclaver/tree.h>

#include "fuzz.h"

static int
visit (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, const char *path, size_t path_len,
       const struct enclaver_tree_stat *st, void *userdata, enclaver_error_t *err)
{
  uint64_t *n = userdata;
  char buf[4096];
  FUZZ_CHECK (strlen (path) == path_len && path_len <= ENCLAVER_TREE_PATH_MAX && path[0] != '/');
  FUZZ_CHECK (st->type >= ENCLAVER_NODE_DIR && st->type <= ENCLAVER_NODE_FIFO && (st->mode & ~07777u) == 0);
  char *p = enclaver_tree_node_path (node);
  FUZZ_CHECK (p != NULL && strcmp (p, path) == 0);
  free (p);
  FUZZ_CHECK (enclaver_tree_lookup (tree, path, 0, err) == node);
  if (st->type == ENCLAVER_NODE_REG)
    {
      uint64_t got = 0;
      ssize_t r;
      while ((r = enclaver_tree_node_read (tree, node, got, buf, sizeof buf, err)) > 0)
        got += (uint64_t) r;
      FUZZ_CHECK (r == 0 && got == st->size);
    }
  if (st->type == ENCLAVER_NODE_SYMLINK)
    FUZZ_CHECK (st->link_target != NULL && strlen (st->link_target) == st->size);
  (*n)++;
  return 0;
}

static int
apply (enclaver_tree_t *t, const uint8_t *data, size_t size, const char *name,
       const struct enclaver_apply_options *o)
{
  enclaver_error_t err = NULL;
  struct archive *a = archive_read_new ();
  FUZZ_CHECK (a != NULL);
  archive_read_support_format_tar (a);
  if (archive_read_open_memory (a, data, size) != ARCHIVE_OK)
    {
      /* not a tar at all: libarchive says so before the first header */
      archive_read_free (a);
      return -1;
    }
  int rc = enclaver_tree_apply_archive (t, a, name, o, &err);
  if (rc < 0)
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  else
    FUZZ_CHECK (rc == 0 && err == NULL);
  enclaver_error_release (&err);
  archive_read_free (a);
  return rc;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enclaver_error_t err = NULL;
  struct enclaver_apply_options o;

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  if (size < 1)
    return 0;
  enclaver_apply_options_init (&o);
  o.lenient = data[0] & 1;
  o.max_bytes = 64u << 20;
  o.max_entries = 100000;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  FUZZ_CHECK (t != NULL);
  if (apply (t, data + 1, size - 1, "sha256:layer1", &o) == 0)
    (void) apply (t, data + 1, size - 1, "sha256:layer2", &o);
  uint64_t n = 0;
  FUZZ_CHECK (enclaver_tree_walk (t, "", 0, visit, &n, &err) == 0);
  FUZZ_CHECK (n == enclaver_tree_count (t));
  enclaver_tree_free (t);
  return 0;
}
