/* `enclaver run`'s front end (cli/run.h): what it runs may be an .eif or a wrapper image
 * in any form `enclaver image` reads, fetched and extracted by cli/image-eif.c. */
#include "config.h"

#include <stdlib.h>

#include <enclaver/image.h>
#include "cli/commands.h"
#include "cli/image-eif.h"
#include "cli/run.h"
#include "util.h"

static int
image_open (struct run_source *src, const char *input, const struct run_fetch_options *o, enclaver_error_t *err)
{
  /* The library's rule: an existing path is read by its bytes (EIF or image), a missing
   * path-like name is "no such file", anything else a registry reference. */
  struct enclaver_image_ref *ref = enclaver_image_source_resolve (input, err);
  struct enclaver_image_options io;
  struct cli_image_eif *w;

  if (ref == NULL)
    return -1;
  if (ref->transport == ENCLAVER_TRANSPORT_EIF)
    {
      src->eif = xstrdup (ref->file);
      enclaver_image_ref_free (ref);
      return 0;
    }
  enclaver_image_ref_free (ref);
  enclaver_image_options_init (&io);
  io.progress = 0;
  io.pull = o->pull;
  io.offline = o->offline;
  io.insecure_registries = o->insecure;
  w = xmalloc0 (sizeof *w);
  src->priv = w;
  if (cli_image_eif_open (w, "run", input, &io, err) < 0)
    return -1;
  src->eif = w->eif;
  src->manifest = w->manifest;
  src->digest = w->digest;
  return 0;
}

static int
image_check (const struct run_source *src, const struct enclaver_eif_measurements *m, enclaver_error_t *err)
{
  return src->priv ? cli_image_eif_check_labels (src->priv, m, err) : 0;
}

static void
image_clear (struct run_source *src)
{
  struct cli_image_eif *w = src->priv;
  if (w)
    {
      cli_image_eif_clear (w); /* owns eif, manifest and digest */
      free (w);
    }
  else
    free (src->eif);
  src->eif = src->manifest = src->digest = NULL;
  src->priv = NULL;
}

int
cmd_run (int argc, char **argv)
{
  static const struct run_frontend fe = {
    .cmd = "run", .help = cli_run_help, .open = image_open, .check = image_check, .clear = image_clear,
  };
  return run_main (&fe, argc, argv);
}
