/* enclaver: helpers shared by the inject, measure and emit-eif stages. */
#include "config.h"

#include <errno.h>

#include <enclaver/build.h>
#include <enclaver/manifest.h>
#include "util.h"

void
enclaver_kernel_free (void *p)
{
  struct enclaver_kernel *k = p;
  if (k == NULL)
    return;
  free (k->path);
  free (k->blobs_dir);
  free (k->version);
  free (k);
}

static void
free_strv (char **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
enclaver_ramdisks_free (void *p)
{
  struct enclaver_ramdisks *r = p;
  if (r == NULL)
    return;
  free (r->init_path);
  free (r->nsm_path);
  free_strv (r->cmd, r->n_cmd);
  free_strv (r->env, r->n_env);
  free (r);
}

int
enclaver_build_source_date_epoch (const enclaver_ctx_t *ctx, int64_t *out, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *env = getenv ("SOURCE_DATE_EPOCH");

  if (m && m->has_source_date_epoch)
    {
      *out = m->source_date_epoch;
      return 0;
    }
  if (env && *env)
    {
      char *end;
      long long v;
      errno = 0;
      v = strtoll (env, &end, 10);
      if (errno || *end || v < 0 || v > 0xffffffffLL)
        return enclaver_make_error (err, EINVAL,
                                    "SOURCE_DATE_EPOCH='%s' is not a number of seconds from 0 to 4294967295", env);
      *out = v;
      return 0;
    }
  *out = -1;
  return 0;
}
