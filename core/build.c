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

void
enclaver_ramdisks_free (void *p)
{
  struct enclaver_ramdisks *r = p;
  if (r == NULL)
    return;
  free (r->init_path);
  free (r->nsm_path);
  enclaver_strv_free (r->cmd, r->n_cmd);
  enclaver_strv_free (r->env, r->n_env);
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

char *
enclaver_find_program (const char *name, enclaver_error_t *err)
{
  const char *env = getenv ("ENCLAVER_LIBEXEC_DIR");
  cleanup_free char *self = enclaver_self_dir ();
  char *cands[4] = { NULL, NULL, NULL, NULL };
  char *found = NULL;
  size_t i, n = 0, len = 1;
  cleanup_free char *where = NULL;

  if (env && *env)
    cands[n++] = xasprintf ("%s/%s", env, name);
  if (self && enclaver_in_build_tree (self))
    cands[n++] = xasprintf ("%s/runtime/%s", ABS_TOP_BUILDDIR, name);
  else
    {
      cleanup_free char *r = enclaver_relocated_dir (PKGLIBEXECDIR);
      if (r)
        cands[n++] = xasprintf ("%s/%s", r, name);
    }
  cands[n++] = xasprintf ("%s/%s", PKGLIBEXECDIR, name);
  for (i = 0; i < n && found == NULL; i++)
    if (access (cands[i], X_OK) == 0)
      found = xstrdup (cands[i]);
  for (i = 0; i < n; i++)
    len += strlen (cands[i]) + 2;
  where = xmalloc0 (len);
  for (i = 0; i < n; i++)
    {
      if (i)
        strcat (where, ", ");
      strcat (where, cands[i]);
      free (cands[i]);
    }
  if (found == NULL)
    enclaver_make_error (err, ENOENT, "%s not found (looked for %s)", name, where);
  return found;
}

char *
enclaver_manifest_bytes (const struct enclaver_manifest *m, size_t *len, enclaver_error_t *err)
{
  char *buf = NULL;
  if (m->path == NULL || strcmp (m->path, "-") == 0)
    {
      buf = enclaver_manifest_to_json (m, err);
      if (buf)
        *len = strlen (buf);
      return buf;
    }
  if (enclaver_read_file (m->path, ENCLAVER_MANIFEST_MAX_SIZE, &buf, len, err) < 0)
    return NULL;
  return buf;
}
