/* enclaver CLI: `enclaver pcr`: the PCR of a file or of a signing certificate. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "util.h"

static const char pcr_help[] =
  "Usage: enclaver pcr --input FILE\n"
  "       enclaver pcr --signing-certificate CERT\n"
  "\n"
  "Print a PCR value as JSON, like nitro-cli pcr:\n"
  "      --input FILE                {\"PCR\": SHA384(0^48 || SHA384(file bytes))}\n"
  "      --signing-certificate CERT  {\"PCR8\": ...} computed over the DER encoding of the\n"
  "                                  first certificate in the PEM file: the PCR8 that an\n"
  "                                  EIF signed with CERT gets\n"
  "\n"
  "Exactly one of the two is required.  Values are 96 lowercase hex digits.\n"
  "\n"
  "Options:\n"
  "  -h, --help                      show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 ok; 1 unreadable file or certificate; 2 usage.\n";

int
cmd_pcr (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "input", required_argument, NULL, OPT_INPUT },
    { "signing-certificate", required_argument, NULL, OPT_CERT },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = "pcr", *input = NULL, *cert = NULL;
  uint8_t pcr[ENCLAVER_PCR_SIZE];
  enclaver_error_t err = NULL;
  json_t *o;
  int c;

  optind = 0;
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = common_opt (cmd, c, pcr_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      if (c == OPT_INPUT)
        input = optarg;
      else if (c == OPT_CERT)
        cert = optarg;
      else
        return cli_usage_error (cmd, "invalid option");
    }
  if (optind < argc)
    return cli_usage_error (cmd, "unexpected argument '%s'", argv[optind]);
  if ((input == NULL) == (cert == NULL))
    return cli_usage_error (cmd, "exactly one of --input and --signing-certificate is required");
  if (input ? enclaver_pcr_of_file (input, pcr, &err) < 0 : enclaver_pcr_of_cert_file (cert, pcr, &err) < 0)
    return cli_fail (&err);
  o = json_object ();
  json_object_set_new (o, input ? "PCR" : "PCR8", pcr_json (pcr));
  print_json (o);
  json_decref (o);
  return EXIT_OK;
}

