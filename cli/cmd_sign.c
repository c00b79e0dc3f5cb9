/* enclaver CLI: `enclaver sign FILE.eif`: add or replace the signature. */
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

static const char sign_help[] =
  "Usage: enclaver sign FILE.eif --signing-certificate CERT --private-key KEY [--output OUT]\n"
  "\n"
  "Sign an EIF the way nitro-cli sign-eif does: PCR0 is signed with ES384 into an\n"
  "untagged COSE_Sign1 message, stored with the PEM certificate in the signature\n"
  "section.  An existing signature section is replaced in place; otherwise one is\n"
  "appended.  The header table and CRC are updated; PCR0, PCR1 and PCR2 do not change,\n"
  "PCR8 becomes the certificate's measurement.\n"
  "\n"
  "The input must be a valid EIF with a correct CRC.  The result is written to a\n"
  "temporary file and renamed over FILE.eif (or OUT), so an interrupted run leaves the\n"
  "original untouched.  The measurements are printed as JSON like `eif build` does.\n"
  "\n"
  "Options:\n"
  "      --signing-certificate CERT  PEM X.509 certificate (stored verbatim; PCR8)\n"
  "      --private-key KEY           PEM EC P-384 private key matching CERT; RSA keys\n"
  "                                  and other curves are rejected\n"
  "  -o, --output OUT                write the signed image to OUT instead of\n"
  "                                  replacing FILE.eif\n"
  "  -h, --help                      show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 signed; 1 bad input image, unreadable or unsuitable key/certificate,\n"
  "write failure; 2 usage.\n";

int
cmd_sign (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "signing-certificate", required_argument, NULL, OPT_CERT },
    { "private-key", required_argument, NULL, OPT_KEY },
    { "output", required_argument, NULL, 'o' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = "sign", *file = NULL, *cert = NULL, *key = NULL, *out = NULL;
  struct enclaver_eif_measurements m;
  enclaver_error_t err = NULL;
  int c, rc;

  optind = 0;
  while ((c = cli_getopt (argc, argv, "ho:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = common_opt (cmd, c, sign_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      if (c == OPT_CERT)
        cert = optarg;
      else if (c == OPT_KEY)
        key = optarg;
      else if (c == 'o')
        out = optarg;
      else
        return cli_usage_error (cmd, "invalid option");
    }
  if ((rc = one_file_arg (cmd, argc, argv, &file)) != 0)
    return rc;
  if (cert == NULL || key == NULL)
    return cli_usage_error (cmd, "--signing-certificate and --private-key are required");
  if (enclaver_eif_sign (file, out, cert, key, &m, &err) < 0)
    return cli_fail (&err);
  enclaver_log_info ("signed %s", out ? out : file);
  print_measurements (&m);
  return EXIT_OK;
}

