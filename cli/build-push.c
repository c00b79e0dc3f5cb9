/* `enclaver build --push` (and output.push: true, output.image.format: registry): the
 * release image the build wrote goes to the registry through enclaver_image_copy, with
 * the registry settings of the build (cache, --insecure-registry, --ca-cert, --cert-dir,
 * --creds).  docs/deploy.md "CI". */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <enclaver/build.h>
#include <enclaver/context.h>
#include <enclaver/image.h>
#include <enclaver/log.h>
#include <enclaver/manifest.h>
#include "cli/build-push.h"
#include "cli/commands.h"
#include "util.h"

/* Where the build pushes: output.image.destination for format registry, else target. */
const char *
cli_build_push_destination (const struct enclaver_manifest *m, int flag)
{
  if (m->output_image_format && strcmp (m->output_image_format, "registry") == 0)
    return m->output_image_dest;
  if (flag || m->output_push)
    return m->target;
  return NULL;
}

int
cli_build_push (enclaver_ctx_t *ctx, const char *dest, const struct cli_push_flags *f, enclaver_error_t *err)
{
  const char *image = enclaver_ctx_get_param (ctx, "artifact:image");
  struct enclaver_image_copy_options o;
  struct enclaver_image_copy_result res;
  cleanup_free char *src = NULL;
  cleanup_free void *keep = NULL;
  int rc;

  if (image == NULL)
    return enclaver_make_error (err, EINVAL, "--push: this build wrote no release image (its pipeline has no "
                                             "emit-image, or --eif-only was given)");
  if (dest == NULL || *dest == '\0')
    return enclaver_make_error (err, EINVAL, "--push: the manifest has no target to push to");
  memset (&o, 0, sizeof o);
  enclaver_image_options_init (&o.src);
  enclaver_build_image_options (ctx, &o.src, &keep); /* as the fetch stage had them */
  o.src.cert_dir = f->cert_dir;
  o.src.creds = f->creds;
  o.format = f->format;
  {
    /* The layout directory, or the docker-archive (a tar that is also an OCI archive). */
    size_t l = strlen (image);
    src = l > 4 && strcmp (image + l - 4, ".tar") == 0 ? xasprintf ("oci-archive:%s", image) : xasprintf ("oci:%s", image);
  }
  enclaver_log_info ("pushing the release image to %s", dest);
  if (enclaver_image_copy (src, dest, &o, &res, err) < 0)
    {
      enclaver_error_wrap (err, "push %s", dest);
      return -1;
    }
  enclaver_log_info ("pushed %s@%s (%u blob%s uploaded, %u mounted, %u already there)", res.destination, res.digest,
                     res.blobs_uploaded, res.blobs_uploaded == 1 ? "" : "s", res.blobs_mounted, res.blobs_present);
  rc = 0;
  if (f->digestfile)
    rc = cli_write_digestfile (f->digestfile, res.digest, err);
  if (rc == 0)
    {
      /* -o json: the result gets "Push": {"Destination", "Digest"}. */
      const char *r = enclaver_ctx_get_param (ctx, "result-json");
      json_t *j = r ? json_loads (r, 0, NULL) : NULL;
      if (j && json_is_object (j))
        {
          char *s;
          json_object_set_new (j, "Push", json_pack ("{s:s, s:s}", "Destination", res.destination, "Digest", res.digest));
          s = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
          rc = enclaver_ctx_set_param (ctx, "result-json", s, err);
          free (s);
        }
      json_decref (j);
    }
  enclaver_image_copy_result_clear (&res);
  return rc;
}
