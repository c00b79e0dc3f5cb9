/* enclaver manifest: validate an enclaver.yaml and print it normalised as JSON. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/error.h>
#include <enclaver/log.h>
#include <enclaver/manifest.h>
#include "cli/commands.h"

static const char manifest_help[] =
  "Usage: enclaver manifest [-f FILE] [--from IMAGE] [OPTIONS]\n"
  "\n"
  "Validate an enclaver.yaml manifest and print it, normalised, as JSON on stdout.\n"
  "Use it as a lint step in CI before `enclaver build`.\n"
  "\n"
  "The manifest is checked completely: YAML syntax, unknown keys (with a did-you-mean\n"
  "suggestion), value types, required keys, port numbers and collisions, sizes, egress\n"
  "patterns, image references. Every problem found is reported on stderr as\n"
  "  FILE:LINE:COLUMN: key.path: message\n"
  "for example\n"
  "  enclaver.yaml:7:7: egress.allow[2]: invalid pattern \"a..b\": empty label\n"
  "\n"
  "The JSON output has a stable key order and every field, with defaults filled in\n"
  "(defaults.cpu_count 2, defaults.memory_mb 4096, egress.proxy_port 10000, vsock ports\n"
  "17000-17002, the default pipeline). Relative paths are made absolute against the\n"
  "manifest's directory (the current directory for stdin). Both spellings of the source\n"
  "overrides are accepted and shown under their 0.6 names, sources.odyn and\n"
  "sources.sleeve; \"legacy_keys\" lists any 0.5.0 spelling (sources.supervisor,\n"
  "sources.wrapper) that was used. See docs/manifest.md for every key.\n"
  "\n"
  "Options:\n"
  "  -f, --file FILE        the manifest (default: enclaver.yaml); '-' reads stdin\n"
  "      --from IMAGE       use IMAGE as sources.app, overriding the manifest; the manifest\n"
  "                         may then omit sources.app.  Local transports (oci:DIR[:TAG],\n"
  "                         oci-archive:FILE, docker-archive:FILE) are resolved against the\n"
  "                         current directory\n"
  "  -h, --help             show this help and exit\n"
  CLI_COMMON_HELP
  "\n"
  "Environment:\n"
  "  ENCLAVER_FROM          same as --from when the flag is not given (ignored when empty)\n"
  "\n"
  "Exit status:\n"
  "  0  the manifest is valid; the JSON is on stdout\n"
  "  1  the manifest is invalid or unreadable; the errors are on stderr\n"
  "  2  bad command line\n"
  "\n"
  "Examples:\n"
  "  enclaver manifest -f examples/hello/enclaver.yaml\n"
  "  docker build -t myapp:ci . && enclaver manifest --from myapp:ci\n"
  "  generate-manifest | enclaver manifest -f - >normalised.json\n";

enum
{
  OPT_FROM = 0x2001,
};

/* One log line per problem, in both the text and the JSON log formats. */
static int
fail_each (enclaver_error_t *err)
{
  enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, *err, ENCLAVER_LOG_EACH);
  enclaver_error_release (err);
  return EXIT_FAIL;
}


int
cmd_manifest (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "file", required_argument, NULL, 'f' },
    { "from", required_argument, NULL, OPT_FROM },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *file = "enclaver.yaml";
  const char *from = NULL;
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  char *json;
  int c, r;

  optind = 1;
  opterr = 0;
  while ((c = cli_getopt (argc, argv, "+:f:h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      switch (c)
        {
        case 'f':
          file = optarg;
          break;
        case OPT_FROM:
          from = optarg;
          if (*from == '\0')
            return cli_usage_error ("manifest", "--from needs an image reference");
          break;
        case 'h':
          cli_help (stdout, manifest_help);
          return EXIT_OK;
        case '?':
          if (optopt)
            return cli_usage_error ("manifest", "unknown option '-%c'", optopt);
          return cli_usage_error ("manifest", "unknown option '%s'", argv[optind - 1]);
        case ':':
          return cli_usage_error ("manifest", "option '%s' needs a value", argv[optind - 1]);
        default:
          r = cli_common_option (c, optarg);
          if (r < 0)
            return EXIT_USAGE;
          if (r == 0)
            return cli_usage_error ("manifest", "unexpected option");
          break;
        }
    }
  if (optind < argc)
    return cli_usage_error ("manifest", "unexpected argument '%s' (use -f FILE)", argv[optind]);
  if (*file == '\0')
    return cli_usage_error ("manifest", "-f needs a file name ('-' for stdin)");

  if (from == NULL)
    {
      const char *env = getenv ("ENCLAVER_FROM");
      if (env != NULL && *env != '\0')
        from = env;
    }

  m = enclaver_manifest_load_ex (file, from ? ENCLAVER_MANIFEST_NO_APP_REQUIRED : 0, &err);
  if (m == NULL)
    return fail_each (&err);
  if (from != NULL)
    {
      if (enclaver_manifest_set_app (m, from, &err) < 0
          || enclaver_manifest_validate (m, 0, &err) < 0)
        {
          enclaver_manifest_free (m);
          return fail_each (&err);
        }
    }
  cli_warn_unimplemented (m);
  json = enclaver_manifest_to_json (m, &err);
  enclaver_manifest_free (m);
  if (json == NULL)
    return cli_fail (&err);
  r = fputs (json, stdout) < 0 || fflush (stdout) != 0;
  free (json);
  if (r)
    {
      perror ("enclaver manifest: write");
      return EXIT_FAIL;
    }
  return EXIT_OK;
}
