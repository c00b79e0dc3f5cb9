/* enclaver CLI: `enclaver verify FILE.eif`: compare PCRs against expected values;
 * `enclaver verify --attestation DOC`: check an attestation document; `--image REF`
 * takes the expected PCRs from the EIF inside a release image (cli/image-eif.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <enclaver/attestation.h>
#include <enclaver/eif.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "cli/image-eif.h"
#include "util.h"

static const char verify_help[] =
  "Usage: enclaver verify FILE.eif --pcrs FILE.json\n"
  "       enclaver verify FILE.eif [--pcr0 HEX] [--pcr1 HEX] [--pcr2 HEX] [--pcr8 HEX]\n"
  "       enclaver verify --image REF (--pcrs FILE | --pcrN HEX)\n"
  "       enclaver verify --attestation DOC [--pcrs FILE | --eif FILE | --image REF]\n"
  "              [--pcrN HEX] [--nonce HEX] [--user-data HEX] [--public-key FILE]\n"
  "              [--root PEM] [--at TIME | --now] [--allow-debug] [-o json]\n"
  "\n"
  "With --attestation, check a Nitro attestation document (raw CBOR, base64 or hex):\n"
  "COSE_Sign1 structure, ES384 signature, certificate chain to the AWS Nitro root G1\n"
  "(or --root) at the document's own time (or --at/--now), debug mode (all-zero PCR0,\n"
  "refused unless --allow-debug), and the PCRs, nonce, user data and public key given.\n"
  "Exit 0 when everything holds; 1 with one line per failed check on stderr.\n"
  "  --eif FILE          expected PCR0/1/2 (and 8 when signed) from an EIF\n"
  "  --image REF         the same from the EIF inside a release image made by\n"
  "                      `enclaver build` (any form `enclaver image` reads: oci:DIR,\n"
  "                      oci-archive:FILE, docker-archive:FILE, a registry reference,\n"
  "                      ...); its dev.enclaver.pcrN labels must match that EIF.\n"
  "                      Excludes --pcrs and --eif; --pcrN still wins\n"
  "  --nonce HEX, --user-data HEX, --public-key FILE (DER or PEM public key, or raw)\n"
  "  --root PEM          trust this root certificate instead of AWS's\n"
  "  --at TIME           check the certificates at TIME (seconds since the epoch or\n"
  "                      YYYY-MM-DDTHH:MM:SSZ); --now: at the current time\n"
  "  -o json             print a JSON report on stdout\n"
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
  "      --image REF         check the EIF inside this release image instead of\n"
  "                          FILE.eif (and the image's PCR labels against it)\n"
  "      --ignore-cert-time  do not check the certificate validity period\n"
  "  -h, --help              show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 every check passed; 1 PCR mismatch, CRC mismatch, bad signature or\n"
  "unreadable/malformed file; 2 usage (including malformed expected values).\n";

enum
{
  OPT_ATTESTATION = 0x2100,
  OPT_EIF,
  OPT_NONCE,
  OPT_USER_DATA,
  OPT_PUBLIC_KEY,
  OPT_ROOT,
  OPT_AT,
  OPT_NOW,
  OPT_ALLOW_DEBUG,
  OPT_IMAGE,
};

/* HEX (any case, even length, may be empty) -> malloc'd bytes; -1 if malformed. */
static int
parse_hex (const char *s, uint8_t **out, size_t *len)
{
  size_t n = strlen (s);
  if (n % 2)
    return -1;
  *out = xmalloc (n / 2 + 1);
  for (size_t i = 0; i < n / 2; i++)
    {
      unsigned v;
      if (!isxdigit ((unsigned char) s[2 * i]) || !isxdigit ((unsigned char) s[2 * i + 1])
          || sscanf (s + 2 * i, "%2x", &v) != 1)
        {
          free (*out);
          *out = NULL;
          return -1;
        }
      (*out)[i] = (uint8_t) v;
    }
  *len = n / 2;
  return 0;
}

/* Seconds since the epoch, or YYYY-MM-DDTHH:MM:SS[Z]; -1 if malformed. */
static int
parse_time (const char *s, int64_t *t)
{
  struct tm tm;
  char *end;
  long long v;

  errno = 0;
  v = strtoll (s, &end, 10);
  if (*s && !*end && !errno && v >= 0)
    {
      *t = v;
      return 0;
    }
  memset (&tm, 0, sizeof tm);
  end = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || (*end && strcmp (end, "Z") != 0 && strcmp (end, "+00:00") != 0))
    return -1;
  *t = (int64_t) timegm (&tm);
  return 0;
}

/* A public key file: PEM (converted to the DER SubjectPublicKeyInfo the NSM gets) or
 * raw bytes as they are. */
static int
load_public_key (const char *path, uint8_t **out, size_t *len, enclaver_error_t *err)
{
  char *data;
  size_t n;

  if (enclaver_read_file (path, 64 * 1024, &data, &n, err) < 0)
    return -1;
  if (n > 10 && memcmp (data, "-----BEGIN", 10) == 0)
    {
      BIO *b = BIO_new_mem_buf (data, (int) n);
      EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY (b, NULL, NULL, NULL) : NULL;
      unsigned char *der = NULL;
      int dl = pk ? i2d_PUBKEY (pk, &der) : -1;
      BIO_free (b);
      EVP_PKEY_free (pk);
      free (data);
      if (dl <= 0)
        return enclaver_make_error (err, EINVAL, "%s: not a PEM PUBLIC KEY", path);
      *out = xmalloc ((size_t) dl);
      memcpy (*out, der, (size_t) dl);
      *len = (size_t) dl;
      OPENSSL_free (der);
      return 0;
    }
  *out = (uint8_t *) data;
  *len = n;
  return 0;
}

static json_t *
hex_json (const uint8_t *p, size_t n)
{
  char *h;
  json_t *j;
  if (!p)
    return json_null ();
  h = xmalloc (2 * n + 1);
  for (size_t i = 0; i < n; i++)
    snprintf (h + 2 * i, 3, "%02x", p[i]);
  h[2 * n] = 0;
  j = json_string (h);
  free (h);
  return j;
}

static json_t *
attestation_report (const char *file, const struct enclaver_attestation_result *res)
{
  json_t *o = json_object (), *f = json_array ();
  const struct enclaver_attestation_doc *d = &res->doc;

  json_object_set_new (o, "File", json_string (file));
  json_object_set_new (o, "Verified", json_boolean (res->nfailures == 0));
  if (res->decoded)
    {
      json_t *p = json_object ();
      json_object_set_new (o, "ModuleId", json_string (d->module_id));
      json_object_set_new (o, "Timestamp", json_integer ((json_int_t) d->timestamp_ms));
      json_object_set_new (o, "CheckedAt", json_integer ((json_int_t) res->checked_at));
      json_object_set_new (o, "Debug", json_boolean (d->debug));
      for (unsigned i = 0; i < ENCLAVER_ATTEST_MAX_PCRS; i++)
        if (d->pcr_present & (1u << i))
          {
            char k[8];
            snprintf (k, sizeof k, "PCR%u", i);
            json_object_set_new (p, k, hex_json (d->pcrs[i], ENCLAVER_ATTEST_PCR_SIZE));
          }
      json_object_set_new (o, "PCRs", p);
      json_object_set_new (o, "PublicKey", hex_json (d->public_key, d->public_key_len));
      json_object_set_new (o, "UserData", hex_json (d->user_data, d->user_data_len));
      json_object_set_new (o, "Nonce", hex_json (d->nonce, d->nonce_len));
    }
  for (size_t i = 0; i < res->nfailures; i++)
    {
      json_t *e = json_object ();
      json_object_set_new (e, "Check", json_string (res->failures[i].check));
      json_object_set_new (e, "Message", json_string (res->failures[i].message));
      json_array_append_new (f, e);
    }
  json_object_set_new (o, "Failures", f);
  return o;
}

static int
cmd_verify_attestation (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "attestation", required_argument, NULL, OPT_ATTESTATION },
    { "pcrs", required_argument, NULL, OPT_PCRS },
    { "pcr0", required_argument, NULL, OPT_PCR0 },
    { "pcr1", required_argument, NULL, OPT_PCR1 },
    { "pcr2", required_argument, NULL, OPT_PCR2 },
    { "pcr8", required_argument, NULL, OPT_PCR8 },
    { "eif", required_argument, NULL, OPT_EIF },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "nonce", required_argument, NULL, OPT_NONCE },
    { "user-data", required_argument, NULL, OPT_USER_DATA },
    { "public-key", required_argument, NULL, OPT_PUBLIC_KEY },
    { "root", required_argument, NULL, OPT_ROOT },
    { "at", required_argument, NULL, OPT_AT },
    { "now", no_argument, NULL, OPT_NOW },
    { "allow-debug", no_argument, NULL, OPT_ALLOW_DEBUG },
    { "output", required_argument, NULL, 'o' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  static const int idx[] = { 0, 1, 2, 8 };
  const char *cmd = "verify", *doc_path = NULL, *pcrs = NULL, *eif = NULL, *root = NULL, *pubkey = NULL;
  const char *image = NULL;
  struct cli_image_eif w;
  struct cli_expected_pcrs ex;
  struct enclaver_attestation_expect ae;
  struct enclaver_attestation_result res;
  enclaver_error_t err = NULL;
  json_t *keep = NULL;
  uint8_t *nonce = NULL, *user_data = NULL, *pk = NULL, *doc = NULL;
  char *root_pem = NULL;
  size_t doclen = 0, rootlen = 0;
  int c, rc = EXIT_USAGE, json = 0, now = 0;

  memset (&w, 0, sizeof w);
  memset (&ex, 0, sizeof ex);
  memset (&ae, 0, sizeof ae);
  memset (&res, 0, sizeof res);
  optind = 0;
  while ((c = cli_getopt (argc, argv, "ho:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = common_opt (cmd, c, verify_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      switch (c)
        {
        case OPT_ATTESTATION:
          doc_path = optarg;
          break;
        case OPT_PCRS:
          pcrs = optarg;
          break;
        case OPT_PCR0:
        case OPT_PCR1:
        case OPT_PCR2:
        case OPT_PCR8:
          ex.hex[c == OPT_PCR8 ? 8 : c - OPT_PCR0] = optarg;
          break;
        case OPT_EIF:
          eif = optarg;
          break;
        case OPT_IMAGE:
          image = optarg;
          break;
        case OPT_NONCE:
          free (nonce);
          if (parse_hex (optarg, &nonce, &ae.nonce_len) < 0)
            goto usage_hex;
          ae.nonce = nonce;
          break;
        case OPT_USER_DATA:
          free (user_data);
          if (parse_hex (optarg, &user_data, &ae.user_data_len) < 0)
            goto usage_hex;
          ae.user_data = user_data;
          break;
        case OPT_PUBLIC_KEY:
          pubkey = optarg;
          break;
        case OPT_ROOT:
          root = optarg;
          break;
        case OPT_AT:
          if (parse_time (optarg, &ae.at) < 0)
            {
              rc = cli_usage_error (cmd, "--at: '%s' is not seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ", optarg);
              goto out;
            }
          ae.at_set = 1;
          break;
        case OPT_NOW:
          now = 1;
          break;
        case OPT_ALLOW_DEBUG:
          ae.allow_debug = 1;
          break;
        case 'o':
          if (strcmp (optarg, "json") != 0)
            {
              rc = cli_usage_error (cmd, "--output: '%s' is not 'json'", optarg);
              goto out;
            }
          json = 1;
          break;
        default:
          rc = cli_usage_error (cmd, "invalid option");
          goto out;
        }
    }
  if (optind < argc)
    {
      rc = cli_usage_error (cmd, "unexpected argument '%s' (the document is given with --attestation)", argv[optind]);
      goto out;
    }
  if (now && ae.at_set)
    {
      rc = cli_usage_error (cmd, "--at and --now exclude each other");
      goto out;
    }
  if (pcrs && eif)
    {
      rc = cli_usage_error (cmd, "--pcrs and --eif exclude each other");
      goto out;
    }
  if (image && (pcrs || eif))
    {
      rc = cli_usage_error (cmd, "--image and %s exclude each other: the image gives the expected PCRs",
                            pcrs ? "--pcrs" : "--eif");
      goto out;
    }
  if (now)
    {
      ae.at = (int64_t) time (NULL);
      ae.at_set = 1;
    }
  if (pcrs && (rc = cli_load_pcrs_file (cmd, pcrs, &ex, &keep)) != 0)
    goto out;
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    if (ex.hex[idx[i]])
      {
        if (enclaver_pcr_from_hex (ex.hex[idx[i]], ae.pcrs[idx[i]]) < 0)
          {
            rc = cli_usage_error (cmd, "%s PCR%d: '%s' is not 96 hex digits", ex.from_file[idx[i]] ? pcrs : "--pcrN",
                                  idx[i], ex.hex[idx[i]]);
            goto out;
          }
        ae.pcr_mask |= 1u << idx[i];
      }
  rc = EXIT_FAIL;
  if (image)
    {
      /* The EIF the release image carries, in a temporary directory removed below. */
      struct enclaver_image_options io;
      enclaver_image_options_init (&io);
      if (cli_image_eif_open (&w, cmd, image, &io, &err) < 0)
        goto fail;
      eif = w.eif;
    }
  if (eif)
    {
      struct enclaver_eif_info info;
      if (enclaver_eif_read (eif, 0, &info, &err) < 0)
        {
          if (image)
            enclaver_error_wrap (&err, "%s: enclave/application.eif", image);
          goto fail;
        }
      if (image && cli_image_eif_check_labels (&w, &info.measurements, &err) < 0)
        {
          enclaver_eif_info_clear (&info);
          enclaver_error_wrap (&err, "%s", image);
          goto fail;
        }
      for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
        {
          const uint8_t *v = cli_pcr_of (&info.measurements, idx[i]);
          if (v && !(ae.pcr_mask & (1u << idx[i])))
            {
              memcpy (ae.pcrs[idx[i]], v, ENCLAVER_PCR_SIZE);
              ae.pcr_mask |= 1u << idx[i];
            }
        }
      enclaver_eif_info_clear (&info);
    }
  if (pubkey)
    {
      if (load_public_key (pubkey, &pk, &ae.public_key_len, &err) < 0)
        goto fail;
      ae.public_key = pk;
    }
  if (root)
    {
      if (enclaver_read_file (root, 64 * 1024, &root_pem, &rootlen, &err) < 0)
        goto fail;
      ae.root_pem = root_pem;
      ae.root_pem_len = rootlen;
    }
  if (!doc_path)
    {
      rc = cli_usage_error (cmd, "--attestation needs a document file");
      goto out;
    }
  if (enclaver_attestation_load (doc_path, &doc, &doclen, &err) < 0)
    goto fail;
  if (enclaver_attestation_verify (doc, doclen, &ae, &res, &err) < 0)
    {
      if (root)
        enclaver_error_wrap (&err, "%s", root);
      goto fail;
    }
  for (size_t i = 0; i < res.nfailures; i++)
    enclaver_log_error ("%s: %s: %s", doc_path, res.failures[i].check, res.failures[i].message);
  if (json)
    {
      json_t *o = attestation_report (doc_path, &res);
      print_json (o);
      json_decref (o);
    }
  rc = res.nfailures ? EXIT_FAIL : EXIT_OK;
  goto out;

usage_hex:
  rc = cli_usage_error (cmd, "%s: '%s' is not an even number of hex digits", argv[optind - 1][2] == 'n' ? "--nonce" : "--user-data",
                        optarg);
  goto out;
fail:
  rc = cli_fail (&err);
out:
  cli_image_eif_clear (&w);
  enclaver_attestation_result_clear (&res);
  json_decref (keep);
  free (nonce);
  free (user_data);
  free (pk);
  free (doc);
  free (root_pem);
  return rc;
}

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
    { "image", required_argument, NULL, OPT_IMAGE },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  static const int idx[] = { 0, 1, 2, 8 };
  const char *cmd = "verify", *file = NULL, *pcrs = NULL, *image = NULL, *eif;
  struct cli_image_eif w;
  struct cli_expected_pcrs ex;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  json_t *keep = NULL, *o, *pj;
  unsigned flags = 0;
  int c, rc, any = 0, ok = 1;

  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--attestation") == 0 || strncmp (argv[i], "--attestation=", 14) == 0)
      return cmd_verify_attestation (argc, argv);
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
        case OPT_IMAGE:
          image = optarg;
          break;
        default:
          return cli_usage_error (cmd, "invalid option");
        }
    }
  if (image)
    {
      if (optind < argc)
        return cli_usage_error (cmd, "--image and the EIF '%s' both name what to verify; give one", argv[optind]);
      file = image;
    }
  else if ((rc = one_file_arg (cmd, argc, argv, &file)) != 0)
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
  memset (&w, 0, sizeof w);
  eif = file;
  if (image)
    {
      /* The EIF the release image carries, in a temporary directory removed below. */
      struct enclaver_image_options io;
      enclaver_image_options_init (&io);
      if (cli_image_eif_open (&w, cmd, image, &io, &err) < 0)
        {
          cli_image_eif_clear (&w);
          json_decref (keep);
          return cli_fail (&err);
        }
      eif = w.eif;
    }
  if (enclaver_eif_read (eif, flags, &info, &err) < 0)
    {
      if (image)
        enclaver_error_wrap (&err, "%s: enclave/application.eif", image);
      cli_image_eif_clear (&w);
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
  if (image && cli_image_eif_check_labels (&w, &info.measurements, &err) < 0)
    {
      ok = 0;
      enclaver_error_wrap (&err, "%s", image);
      cli_fail (&err);
    }
  cli_image_eif_clear (&w);
  json_object_set_new (o, "Verified", json_boolean (ok));
  print_json (o);
  json_decref (o);
  json_decref (keep);
  enclaver_eif_info_clear (&info);
  return ok ? EXIT_OK : EXIT_FAIL;
}

