/* enclaver-run: the release image's entrypoint (docs/image.md, docs/deploy.md).
 *
 * `docker run --device /dev/nitro_enclaves ... IMAGE [OPTIONS]` starts the enclave the
 * image carries: /enclave/application.eif with the defaults of /enclave/enclaver.yaml,
 * through the same launcher and the same options as `enclaver run` (cli/cmd_run.c).  It
 * is linked statically from the sources it needs (the EIF reader, the manifest parser,
 * the host launcher; cli/local.mk), so the image holds no libraries.  It reads only local
 * files: the image was fetched by whoever started the container. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/run.h"
#include "util.h"

#define DEFAULT_EIF "/enclave/application.eif"

static const char help[] =
  "Usage: enclaver-run [OPTIONS] [EIF]\n"
  "\n"
  "The entrypoint of a release image made by `enclaver build`: start the enclave the\n"
  "image carries and stay with it until it ends, like `enclaver run` (the same options,\n"
  "the same exit codes).  EIF defaults to " DEFAULT_EIF "; its manifest is the\n"
  "enclaver.yaml beside it (or -f FILE), which gives the name, memory, CPUs, ports and\n"
  "egress policy.  Give the container the device:\n"
  "\n"
  "  docker run --rm --device /dev/nitro_enclaves IMAGE [OPTIONS]\n"
  "\n"
  "with enough hugepages on the instance for the enclave's memory (docs/deploy.md).\n"
  "\n"
  "Options:\n"
  "  -f, --file FILE            the manifest (default: enclaver.yaml beside the EIF)\n"
  "      --eif-path FILE        the EIF to run (nitro-cli's spelling of EIF)\n"
  RUN_OPTIONS_HELP
  CLI_COMMON_HELP
  "  -h, --help                 this help\n"
  "\n"
  RUN_EXIT_HELP;

static int
is_regular (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static int
local_open (struct run_source *src, const char *input, const struct run_fetch_options *o, enclaver_error_t *err)
{
  const char *eif = input ? input : DEFAULT_EIF;
  const char *slash;

  if (!is_regular (eif))
    {
      if (input == NULL)
        return enclaver_make_error (err, ENOENT, "%s: no EIF here (is this the release image made by `enclaver "
                                                 "build`? else give the EIF to run)", eif);
      return enclaver_make_errno (err, errno ? errno : EINVAL, "%s: not a regular file", eif);
    }
  src->eif = xstrdup (eif);
  if (o->manifest)
    {
      src->manifest = xstrdup (o->manifest);
      return 0;
    }
  slash = strrchr (eif, '/');
  src->manifest = slash ? xasprintf ("%.*s/enclaver.yaml", (int) (slash - eif), eif) : xstrdup ("enclaver.yaml");
  if (!is_regular (src->manifest))
    {
      /* An EIF without its manifest runs with Enclaver's defaults, as `enclaver run FILE.eif`. */
      free (src->manifest);
      src->manifest = NULL;
    }
  return 0;
}

static void
local_clear (struct run_source *src)
{
  free (src->eif);
  free (src->manifest);
  memset (src, 0, sizeof *src);
}

int
main (int argc, char **argv)
{
  static const struct run_frontend fe = {
    .cmd = "enclaver-run", .help = help, .standalone = 1, .open = local_open, .clear = local_clear,
  };

  json_object_seed (1);
  cli_program_prefix = "";
  return run_main (&fe, argc, argv);
}
