/* enclaver: command-line entry point and subcommand dispatch. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include <enclaver/log.h>
#include <enclaver/stage.h>
#include <enclaver/tempfiles.h>
#include "cli/commands.h"
#include "util.h"

static const char usage_text[] =
  "Usage: enclaver [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
  "\n"
  "Build reproducible AWS Nitro Enclave images (EIF) from container images, without Docker.\n"
  "\n"
  "Commands:\n"
  "  build      compile enclaver.yaml's app image into an EIF and a wrapper image; print PCRs\n"
  "  run        launch an enclave (today: --qemu, to try it under emulation)\n"
  "  ps         list the enclaves this host runs\n"
  "  stop       stop a running enclave gracefully (as SIGTERM to `enclaver run`)\n"
  "  describe   show an EIF's measurements, metadata and signature as JSON\n"
  "  verify     check an EIF's PCRs against expected values\n"
  "  sign       add or replace an EIF's signature\n"
  "  pcr        compute a PCR over a file or a signing certificate\n"
  "  eif        low-level EIF tools (eif build)\n"
  "  image      inspect container images from registries, OCI layouts and archives\n"
  "  manifest   validate enclaver.yaml and print it normalised as JSON\n"
  "  plugins    list the stage plugins found, with ABI versions and options\n"
  "  version    print the version\n"
  "\n"
  "nitro-cli's spellings are accepted too: `describe-eif --eif-path FILE` and\n"
  "`build-enclave --docker-uri IMAGE --output-file FILE` (see their --help).\n"
  "\n"
  "Global options (also accepted after the command):\n" CLI_COMMON_HELP
  "  -h, --help             this help; 'enclaver COMMAND --help' for a command\n"
  "      --version          print the version\n"
  "\n"
  "Exit codes:\n"
  "  0  success\n"
  "  1  the command ran and failed (build error, PCR mismatch, invalid file, ...)\n"
  "  2  usage error, or a command that is not available yet\n"
  "\n"
  "Environment:\n"
  "  ENCLAVER_PLUGIN_PATH   colon-separated directories searched for stage plugins\n"
  "  ENCLAVER_FROM          overrides sources.app of the manifest (build, manifest)\n"
  "  SOURCE_DATE_EPOCH      timestamp used for reproducible outputs\n";

/* One version line for `enclaver version` and `enclaver --version`. */
static void
print_version (void)
{
  printf ("enclaver %s (stage ABI %d.%d)\n", PACKAGE_VERSION, ENCLAVER_STAGE_ABI_MAJOR, ENCLAVER_STAGE_ABI_MINOR);
}

static int
cmd_version (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int c, json = 0;
  optind = 1;
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      if (c == 'j')
        json = 1;
      else if (c == 'h')
        {
          cli_help (stdout, "Usage: enclaver version [--json]\n\nPrint the enclaver version and stage ABI version.\n\n"
                            "Options:\n"
                            "      --json             {\"version\": ..., \"stage_abi\": ...}\n"
                            "  -h, --help             this help\n" CLI_COMMON_HELP);
          return EXIT_OK;
        }
      else
        return cli_usage_error ("version", "unknown option");
    }
  if (optind < argc)
    return cli_usage_error ("version", "unexpected argument '%s'", argv[optind]);
  if (json)
    printf ("{\"version\":\"%s\",\"stage_abi\":\"%d.%d\"}\n", PACKAGE_VERSION, ENCLAVER_STAGE_ABI_MAJOR,
            ENCLAVER_STAGE_ABI_MINOR);
  else
    print_version ();
  return EXIT_OK;
}

static const struct
{
  const char *name;
  int (*fn) (int, char **);
} commands[] = {
  { "build", cmd_build },       { "run", cmd_run },       { "describe", cmd_describe },
  { "verify", cmd_verify },     { "sign", cmd_sign },     { "pcr", cmd_pcr },
  { "eif", cmd_eif },           { "image", cmd_image },   { "manifest", cmd_manifest },
  { "plugins", cmd_plugins },   { "version", cmd_version },
  { "ps", cmd_ps },
  { "stop", cmd_stop },
  /* nitro-cli's spellings (not listed in the usage; see `describe-eif --help`) */
  { "describe-eif", cmd_describe_eif }, { "build-enclave", cmd_build_enclave },
};

int
main (int argc, char **argv)
{
  int i;

  json_object_seed (1); /* deterministic hash order, no /dev/urandom read */
  enclaver_temp_install_signal_handlers (); /* SIGINT/SIGTERM remove our temporaries */

  for (i = 1; i < argc && argv[i][0] == '-'; i++)
    {
      const char *a = argv[i];
      const char *val = NULL;
      int c = 0;
      if (strcmp (a, "-h") == 0 || strcmp (a, "--help") == 0)
        {
          cli_help (stdout, usage_text);
          return EXIT_OK;
        }
      if (strcmp (a, "--version") == 0)
        {
          print_version ();
          return EXIT_OK;
        }
      if (strcmp (a, "-v") == 0 || strcmp (a, "--verbose") == 0)
        c = 'v';
      else if (a[1] == 'v' && strspn (a + 1, "v") == strlen (a + 1))
        {
          size_t k;
          for (k = 1; a[k]; k++)
            cli_common_option ('v', NULL);
          continue;
        }
      else if (strcmp (a, "-q") == 0 || strcmp (a, "--quiet") == 0)
        c = 'q';
      else if (strncmp (a, "--log-format", 12) == 0 || strncmp (a, "--plugin-dir", 12) == 0)
        {
          c = a[2] == 'l' ? CLI_OPT_LOG_FORMAT : CLI_OPT_PLUGIN_DIR;
          if (a[12] == '=')
            val = a + 13;
          else if (a[12] == '\0' && i + 1 < argc)
            val = argv[++i];
          else
            {
              fprintf (stderr, "enclaver: %s needs a value\nTry 'enclaver --help'.\n", a);
              return EXIT_USAGE;
            }
        }
      else
        {
          static const char *const globals[] = { "--verbose", "--quiet", "--log-format", "--plugin-dir", "--help",
                                                 "--version" };
          const char *hint = strncmp (a, "--", 2) == 0 ? cli_suggest (a, globals, ARRAY_SIZE (globals)) : NULL;
          if (hint)
            fprintf (stderr, "enclaver: unknown option '%s'; did you mean '%s'?\nTry 'enclaver --help'.\n", a, hint);
          else
            fprintf (stderr, "enclaver: unknown option '%s'\nTry 'enclaver --help'.\n", a);
          return EXIT_USAGE;
        }
      if (cli_common_option (c, val) < 0)
        return EXIT_USAGE;
    }
  if (i >= argc)
    {
      cli_help (stderr, usage_text);
      return EXIT_USAGE;
    }
  for (size_t k = 0; k < ARRAY_SIZE (commands); k++)
    if (strcmp (argv[i], commands[k].name) == 0)
      {
        optind = 1;
        cli_command_name = commands[k].name;
        return commands[k].fn (argc - i, argv + i);
      }
  if (strcmp (argv[i], "help") == 0)
    {
      cli_help (stdout, usage_text);
      return EXIT_OK;
    }
  {
    const char *names[ARRAY_SIZE (commands) + 1];
    const char *hint;
    for (size_t k = 0; k < ARRAY_SIZE (commands); k++)
      names[k] = commands[k].name;
    names[ARRAY_SIZE (commands)] = "help";
    hint = cli_suggest (argv[i], names, ARRAY_SIZE (names));
    if (hint)
      fprintf (stderr, "enclaver: unknown command '%s'; did you mean '%s'?\nTry 'enclaver --help'.\n", argv[i], hint);
    else
      fprintf (stderr, "enclaver: unknown command '%s'\nTry 'enclaver --help'.\n", argv[i]);
  }
  return EXIT_USAGE;
}
