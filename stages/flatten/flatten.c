/* enclaver: the flatten stage.  Applies the fetched image's layers in order to an
 * in-memory tree (content in one spill file) and stores the tree in the rootfs slot.
 * See docs/flatten.md. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/build.h>
#include <enclaver/context.h>
#include <enclaver/image.h>
#include <enclaver/tree.h>

struct flatten_config
{
  uint64_t max_bytes;
  long long max_entries;
  long long max_depth;
  int lenient;
  uint64_t max_memory;
};

static const struct enclaver_stage_option flatten_options[] = {
  { ENCLAVER_OPT_SIZE, "max_bytes", "16G", 0, offsetof (struct flatten_config, max_bytes),
    "limit on the expanded file bytes of all layers (sparse holes count)" },
  { ENCLAVER_OPT_INT, "max_entries", "2000000", 0, offsetof (struct flatten_config, max_entries),
    "limit on the tar entries of all layers" },
  { ENCLAVER_OPT_INT, "max_depth", "256", 0, offsetof (struct flatten_config, max_depth),
    "limit on the number of path components" },
  { ENCLAVER_OPT_SIZE, "max_memory", "192M", 0, offsetof (struct flatten_config, max_memory),
    "limit on the memory of the in-memory tree (names, inodes, directories; about 220 bytes an entry)" },
  { ENCLAVER_OPT_BOOL, "lenient", "false", 0, offsetof (struct flatten_config, lenient),
    "turn harmless oddities (duplicates, '..' inside names, empty names) into warnings" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static int
truthy (const char *v)
{
  return v && (strcmp (v, "1") == 0 || strcmp (v, "true") == 0 || strcmp (v, "yes") == 0 || strcmp (v, "on") == 0);
}

static int
flatten_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct flatten_config *c = enclaver_stage_get_config (st);
  if (c->max_entries <= 0)
    return enclaver_make_error (err, EINVAL, "option max_entries must be positive (got %lld)", c->max_entries);
  if (c->max_depth <= 0 || c->max_depth > 4096)
    return enclaver_make_error (err, EINVAL, "option max_depth must be in 1..4096 (got %lld)", c->max_depth);
  if (c->max_bytes == 0)
    return enclaver_make_error (err, EINVAL, "option max_bytes must be positive");
  if (c->max_memory < (1u << 20))
    return enclaver_make_error (err, EINVAL, "option max_memory must be at least 1M");
  return 0;
}

static int
flatten_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct flatten_config *c = enclaver_stage_get_config (st);
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  if (img == NULL)
    return enclaver_make_error (err, EINVAL, "no image in the context (the fetch stage must run before flatten)");
  if (img->n_diff_ids != img->n_layers)
    return enclaver_make_error (err, EINVAL, "image %s: %zu layers but %zu diff_ids in the config", img->name,
                                img->n_layers, img->n_diff_ids);

  char src[64];
  snprintf (src, sizeof src, "stage:%s:%u", enclaver_stage_name (st), enclaver_stage_index (st));
  struct enclaver_apply_options o;
  enclaver_apply_options_init (&o);
  o.max_bytes = c->max_bytes;
  o.max_entries = (uint64_t) c->max_entries;
  o.max_depth = (unsigned) c->max_depth;
  o.max_memory = c->max_memory;
  o.lenient = c->lenient || truthy (enclaver_ctx_get_param (ctx, "lenient"));
  o.log_source = src;

  enclaver_tree_t *tree;
  size_t repaired = 0;
again:
  tree = enclaver_tree_new (err);
  if (tree == NULL)
    return -1;
  for (size_t i = 0; i < img->n_layers; i++)
    {
      const struct enclaver_image_layer *l = &img->layers[i];
      if (l->path == NULL)
        {
          enclaver_tree_free (tree);
          return enclaver_make_error (err, EINVAL, "image %s: layer %zu of %zu (%s) was not fetched", img->name,
                                      i + 1, img->n_layers, l->digest);
        }
      const char *diff_id = l->diff_id ? l->diff_id : img->diff_ids[i];
      if (enclaver_tree_apply_layer_file (tree, l->path, l->digest, diff_id, &o, NULL, err) < 0)
        {
          enclaver_tree_free (tree);
          enclaver_error_wrap (err, "image %s: layer %zu of %zu", img->name, i + 1, img->n_layers);
          /* a limit (EFBIG, ENAMETOOLONG) is about the content, not a damaged blob */
          if (repaired >= img->n_layers || (*err)->status == EFBIG || (*err)->status == ENAMETOOLONG)
            return -1;
          /* A cache entry damaged since it was verified (a bad disk, a stray write):
           * dropped and fetched again, then every layer is applied anew. */
          struct enclaver_image_options io;
          void *keep = NULL;
          enclaver_error_t re = NULL;
          enclaver_image_options_init (&io);
          enclaver_build_image_options (ctx, &io, &keep);
          io.offline = enclaver_build_param_true (ctx, "offline");
          int r = enclaver_image_repair_layer (img, i, &io, &re);
          free (keep);
          if (r == 0)
            return -1;
          enclaver_stage_log_warning (st, "%s", (*err)->msg);
          enclaver_error_release (err);
          if (r < 0)
            {
              *err = re;
              return -1;
            }
          repaired++;
          enclaver_stage_log_info (st, "layer %zu of %zu fetched again: flattening anew", i + 1, img->n_layers);
          goto again;
        }
      enclaver_stage_log_debug (st, "layer %zu/%zu %s applied", i + 1, img->n_layers, l->digest);
    }
  enclaver_stage_log_info (st, "%zu layer%s flattened: %llu paths, %llu bytes of file content", img->n_layers,
                           img->n_layers == 1 ? "" : "s", (unsigned long long) enclaver_tree_count (tree),
                           (unsigned long long) enclaver_tree_content_bytes (tree));
  return enclaver_ctx_set (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE, tree, enclaver_tree_free_void, err);
}

ENCLAVER_STAGE_DEFINE (.name = "flatten",
                       .description = "apply the image layers to an in-memory root filesystem tree",
                       .options = flatten_options, .config_size = sizeof (struct flatten_config),
                       .init = flatten_init, .run = flatten_run);
