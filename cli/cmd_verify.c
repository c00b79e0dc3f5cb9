/* enclaver CLI: `enclaver verify FILE.eif`: compare PCRs against expected values. */
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

static const char verify_help[] =
  "Usage: enclaver verify FILE.eif --pcrs FILE.json\n"
  "       enclaver verify FILE.eif [--pcr0 HEX] [--pcr1 HEX] [--pcr2 HEX] [--pcr8 HEX]\n"
  "\n"
  "Check that an EIF is intact (structure, CRC, signature when present) and that its\n"
  "PCRs equal the expected values.  Only the PCRs given are compared; at least one is\n"
  "required.  Expected values are 96 hex digits (SHA-384).\n"
  "\n"
  "The result is printed as JSON: {\"File\", \"CheckCRC\", \"SignatureCheck\" (signed\n"
  "images), \"PCRs\": {\"PCRn\": {\"Expected\", \"Actual\", \"Match\"}}, \"Verified\"}; each\n"
  "mismatch is also reported on stderr with the expected and the actual value.\n"
  "\n"
  "Options:\n"
  "      --pcrs FILE         JSON with the expected values: the output of\n"
  "                          `enclaver eif build`, `enclaver describe` or nitro-cli\n"
  "                          ({\"Measurements\": {\"PCR0\": ...}}), or a flat\n"
  "                          {\"PCR0\": ..., \"PCR8\": ...} object.  HashAlgorithm and\n"
  "                          other keys are ignored.  Values on the command line win\n"
  "      --pcr0 HEX          expected PCR0 (kernel, cmdline and all ramdisks)\n"
  "      --pcr1 HEX          expected PCR1 (kernel, cmdline, first ramdisk)\n"
  "      --pcr2 HEX          expected PCR2 (the other ramdisks)\n"
  "      --pcr8 HEX          expected PCR8 (signing certificate; fails if unsigned)\n"
  "      --ignore-cert-time  do not check the certificate validity period\n"
  "  -h, --help              show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 every check passed; 1 PCR mismatch, CRC mismatch, bad signature or\n"
  "unreadable/malformed file; 2 usage (including malformed expected values).\n";

int
cmd_verify (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "pcrs", required_argument, NULL, OPT_PCRS },
    { "pcr0", required_argument, NULL, OPT_PCR0 },
    { "pcr1", required_argument, NULL, OPT_PCR1 },
    { "pcr2", required_argument, NULL, OPT_PCR2 },
    { "pcr8", required_argument, NULL, OPT_PCR8 },
    { "ignore-cert-time", no_argument, NULL, OPT_IGNORE_CERT_TIME },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  static const int idx[] = { 0, 1, 2, 8 };
  const char *cmd = "verify", *file = NULL, *pcrs = NULL;
  struct cli_expected_pcrs ex;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  json_t *keep = NULL, *o, *pj;
  unsigned flags = 0;
  int c, rc, any = 0, ok = 1;

  memset (&ex, 0, sizeof ex);
  optind = 0;
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = common_opt (cmd, c, verify_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      switch (c)
        {
        case OPT_PCRS:
          pcrs = optarg;
          break;
        case OPT_PCR0:
          ex.hex[0] = optarg;
          break;
        case OPT_PCR1:
          ex.hex[1] = optarg;
          break;
        case OPT_PCR2:
          ex.hex[2] = optarg;
          break;
        case OPT_PCR8:
          ex.hex[8] = optarg;
          break;
        case OPT_IGNORE_CERT_TIME:
          flags |= ENCLAVER_EIF_READ_IGNORE_CERT_TIME;
          break;
        default:
          return cli_usage_error (cmd, "invalid option");
        }
    }
  if ((rc = one_file_arg (cmd, argc, argv, &file)) != 0)
    return rc;
  if (pcrs && (rc = cli_load_pcrs_file (cmd, pcrs, &ex, &keep)) != 0)
    return rc;
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    if (ex.hex[idx[i]])
      {
        any = 1;
        if (enclaver_pcr_from_hex (ex.hex[idx[i]], ex.val[idx[i]]) < 0)
          {
            rc = cli_usage_error (cmd, "%s PCR%d: '%s' is not 96 hex digits", ex.from_file[idx[i]] ? pcrs : "--pcrN",
                                  idx[i], ex.hex[idx[i]]);
            json_decref (keep);
            return rc;
          }
      }
  if (!any)
    {
      json_decref (keep);
      return cli_usage_error (cmd, "nothing to verify: give --pcrs FILE or --pcr0/--pcr1/--pcr2/--pcr8");
    }
  if (enclaver_eif_read (file, flags, &info, &err) < 0)
    {
      json_decref (keep);
      return cli_fail (&err);
    }

  o = json_object ();
  pj = json_object ();
  json_object_set_new (o, "File", json_string (file));
  json_object_set_new (o, "CheckCRC", json_boolean (info.crc_ok));
  if (info.is_signed)
    json_object_set_new (o, "SignatureCheck", json_boolean (info.signature_ok));
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    {
      int n = idx[i];
      const uint8_t *actual = NULL;
      char key[8], exp_hex[ENCLAVER_PCR_HEX_SIZE], act_hex[ENCLAVER_PCR_HEX_SIZE] = "";
      json_t *e;
      int match;
      if (!ex.hex[n])
        continue;
      actual = cli_pcr_of (&info.measurements, n);
      snprintf (key, sizeof key, "PCR%d", n);
      enclaver_pcr_to_hex (ex.val[n], exp_hex);
      if (actual)
        enclaver_pcr_to_hex (actual, act_hex);
      match = actual && memcmp (actual, ex.val[n], ENCLAVER_PCR_SIZE) == 0;
      e = json_object ();
      json_object_set_new (e, "Expected", json_string (exp_hex));
      json_object_set_new (e, "Actual", actual ? json_string (act_hex) : json_null ());
      json_object_set_new (e, "Match", json_boolean (match));
      json_object_set_new (pj, key, e);
      if (!match)
        {
          ok = 0;
          if (actual)
            enclaver_log_error ("%s: %s mismatch: expected %s, actual %s", file, key, exp_hex, act_hex);
          else
            enclaver_log_error ("%s: %s mismatch: expected %s, but the image is not signed (no PCR8)", file, key,
                                exp_hex);
        }
    }
  json_object_set_new (o, "PCRs", pj);
  if (enclaver_eif_check (&info, &err) < 0)
    {
      ok = 0;
      enclaver_error_wrap (&err, "%s", file);
      cli_fail (&err);
    }
  json_object_set_new (o, "Verified", json_boolean (ok));
  print_json (o);
  json_decref (o);
  json_decref (keep);
  enclaver_eif_info_clear (&info);
  return ok ? EXIT_OK : EXIT_FAIL;
}

