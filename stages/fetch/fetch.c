/* enclaver stage "fetch": resolve sources.app (registry reference, oci:DIR[:REF],
 * oci-archive:FILE[:REF], docker-archive:FILE[:REF]) into a verified image in the
 * blob cache and store it in the context slot "image" (type "enclaver.image").
 *
 * Context parameters read: platform, cache-dir, jobs, pull, offline,
 * insecure-registry (comma-separated host[:port] list), ca-cert, cert-dir, blob-timeout
 * (seconds), progress (false:
 * no progress bar; the summary line is a log record either way).  Stage options
 * (`options:` in a custom pipeline) override them. */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <enclaver/build.h>
#include <enclaver/context.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include <enclaver/stage.h>

struct fetch_config
{
  char *source;
  char *platform;
  char *cache_dir;
  long long jobs;
  int metadata_only;
  long long blob_timeout;
};

static const struct enclaver_stage_option fetch_options[] = {
  { ENCLAVER_OPT_STRING, "source", NULL, 0, offsetof (struct fetch_config, source),
    "image source to use instead of sources.app" },
  { ENCLAVER_OPT_STRING, "platform", NULL, 0, offsetof (struct fetch_config, platform),
    "platform to pick from an index (default: the 'platform' parameter, else the host)" },
  { ENCLAVER_OPT_STRING, "cache-dir", NULL, 0, offsetof (struct fetch_config, cache_dir),
    "blob cache directory (default: the 'cache-dir' parameter, else $XDG_CACHE_HOME/enclaver)" },
  { ENCLAVER_OPT_INT, "jobs", "0", 0, offsetof (struct fetch_config, jobs),
    "parallel blob downloads (0 = the 'jobs' parameter, else 4)" },
  { ENCLAVER_OPT_INT, "blob-timeout", "0", 0, offsetof (struct fetch_config, blob_timeout),
    "seconds each blob or manifest may take with its retries (0 = the 'blob-timeout' parameter, "
    "else $ENCLAVER_BLOB_TIMEOUT, else 1800)" },
  { ENCLAVER_OPT_BOOL, "metadata-only", "false", 0, offsetof (struct fetch_config, metadata_only),
    "fetch the manifest and config only, not the layers" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static int
fetch_run (enclaver_stage_t *stage, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct fetch_config *cfg = enclaver_stage_get_config (stage);
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  struct enclaver_image_options o;
  const char *source = cfg && cfg->source ? cfg->source : m ? m->source_app : NULL;
  const char *v;
  void *keep = NULL;
  struct enclaver_image *img;
  int rc = -1;

  if (source == NULL || *source == '\0')
    return enclaver_make_error (err, EINVAL,
                                "no image to fetch: the manifest has no sources.app (and no --from was given)");
  enclaver_image_options_init (&o);
  enclaver_build_image_options (ctx, &o, &keep); /* cache-dir, ca-cert, cert-dir, insecure-registry, progress */
  o.platform = cfg && cfg->platform ? cfg->platform : enclaver_ctx_get_param (ctx, "platform");
  if (cfg && cfg->cache_dir)
    o.cache_dir = cfg->cache_dir;
  o.pull = enclaver_build_param_true (ctx, "pull");
  o.offline = enclaver_build_param_true (ctx, "offline");
  o.only_metadata = cfg ? cfg->metadata_only : 0;
  /* Layers of an oci: layout are read where they are: flatten verifies each blob's
   * digest while it reads it, so copying them into the cache would only cost time. */
  o.layers_in_place = 1;
  if (cfg && cfg->jobs > 0)
    o.jobs = (unsigned) (cfg->jobs > 32 ? 32 : cfg->jobs);
  else if ((v = enclaver_ctx_get_param (ctx, "jobs")))
    {
      char *end;
      long n = strtol (v, &end, 10);
      if (*end || n < 1 || n > 64)
        {
          free (keep);
          return enclaver_make_error (err, EINVAL, "parameter jobs: '%s' is not a number from 1 to 64", v);
        }
      o.jobs = (unsigned) (n > 32 ? 32 : n);
    }
  if (cfg && cfg->blob_timeout != 0)
    {
      if (cfg->blob_timeout < 0 || cfg->blob_timeout > 86400)
        {
          free (keep);
          return enclaver_make_error (err, EINVAL, "option blob-timeout: %lld is not a number of seconds from 1 "
                                      "to 86400", cfg->blob_timeout);
        }
      o.blob_timeout = (long) cfg->blob_timeout;
    }
  else if ((v = enclaver_ctx_get_param (ctx, "blob-timeout")) && o.blob_timeout == 0)
    {
      free (keep);
      return enclaver_make_error (err, EINVAL, "parameter blob-timeout: '%s' is not a number of seconds from 1 "
                                  "to 86400", v);
    }

  enclaver_stage_log_info (stage, "fetching %s", source);
  img = enclaver_image_fetch (source, &o, err);
  if (img == NULL)
    goto out;
  enclaver_stage_log_info (stage, "%s: %s (%s), %zu layer%s", img->name, img->digest, img->platform, img->n_layers,
                           img->n_layers == 1 ? "" : "s");
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE, img, enclaver_image_free_void, err) < 0)
    goto out;
  rc = 0;
out:
  free (keep);
  return rc;
}

ENCLAVER_STAGE_DEFINE (.name = "fetch",
                       .description = "resolve sources.app and fetch the verified image into the blob cache",
                       .options = fetch_options, .config_size = sizeof (struct fetch_config), .run = fetch_run);
