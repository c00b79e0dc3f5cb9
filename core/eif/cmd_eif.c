/* enclaver CLI: EIF commands.
 *   enclaver eif build ...      low-level EIF assembler (flags mirror AWS eif_build)
 *   enclaver describe FILE.eif  nitro-cli describe-eif compatible JSON
 *   enclaver verify FILE.eif    compare PCRs against expected values
 *   enclaver sign FILE.eif      add or replace the signature
 *   enclaver pcr                PCR of a file or of a signing certificate */
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
#include "util.h"

/* ------------------------------------------------------------------------- */
/* shared helpers */

static void
print_json (json_t *j)
{
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (s == NULL)
    xoom ();
  fputs (s, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  free (s);
}

static json_t *
pcr_json (const uint8_t pcr[ENCLAVER_PCR_SIZE])
{
  char hex[ENCLAVER_PCR_HEX_SIZE];
  enclaver_pcr_to_hex (pcr, hex);
  return json_string (hex);
}

/* {"HashAlgorithm":..., "PCR0":..., "PCR1":..., "PCR2":..., ["PCR8":...]} */
static json_t *
measurements_json (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  json_object_set_new (o, "HashAlgorithm", json_string (ENCLAVER_PCR_HASH_ALGORITHM));
  json_object_set_new (o, "PCR0", pcr_json (m->pcr0));
  json_object_set_new (o, "PCR1", pcr_json (m->pcr1));
  json_object_set_new (o, "PCR2", pcr_json (m->pcr2));
  if (m->has_pcr8)
    json_object_set_new (o, "PCR8", pcr_json (m->pcr8));
  return o;
}

static void
print_measurements (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Measurements", measurements_json (m));
  print_json (o);
  json_decref (o);
}

/* Handle -h and the common options; returns -1 if not one of them, else the value
 * to return from the command (or 0 to continue). */
static int
common_opt (const char *cmd, int c, const char *help)
{
  int r;
  if (c == 'h')
    {
      fputs (help, stdout);
      return EXIT_OK + 1000;
    }
  r = cli_common_option (c, optarg);
  if (r == 1)
    return 0;
  if (r < 0)
    return EXIT_USAGE + 1000;
  if (c == '?')
    return cli_usage_error (cmd, "invalid option") + 1000;
  return -1;
}

/* ------------------------------------------------------------------------- */
/* eif build */

static const char eif_build_help[] =
  "Usage: enclaver eif build --kernel FILE --cmdline STRING --ramdisk FILE [--ramdisk FILE]...\n"
  "                          --output FILE [OPTIONS]\n"
  "\n"
  "Assemble an AWS Nitro Enclaves image file (EIF, format version 4) from a kernel, a\n"
  "kernel command line and one or more ramdisks, the way AWS's eif_build tool does.\n"
  "Sections are written in the order kernel, cmdline, metadata, ramdisk..., signature,\n"
  "back to back.  Every input is streamed: memory use does not depend on the input\n"
  "sizes.  The image is written to a temporary file next to --output and renamed when\n"
  "complete, so a failed build never leaves a partial EIF behind.\n"
  "\n"
  "On success the measurements are printed on stdout, as nitro-cli build-enclave does:\n"
  "  {\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": ..., \"PCR1\": ...,\n"
  "   \"PCR2\": ..., \"PCR8\": ... (signed images only)}}\n"
  "PCR0 covers kernel, cmdline and all ramdisks; PCR1 kernel, cmdline and the first\n"
  "ramdisk; PCR2 the remaining ramdisks; PCR8 the signing certificate.  Metadata is not\n"
  "measured.\n"
  "\n"
  "Inputs:\n"
  "      --kernel FILE              kernel image (bzImage on x86_64, Image on aarch64)\n"
  "      --cmdline STRING           kernel command line, stored as given (no NUL)\n"
  "      --cmdline-file FILE        read the command line from FILE instead; trailing\n"
  "                                 whitespace is removed (as nitro-cli does)\n"
  "      --ramdisk FILE             initramfs (cpio or cpio.gz); repeat for more.  The\n"
  "                                 first is measured into PCR1, the others into PCR2\n"
  "      --output FILE              where to write the EIF\n"
  "      --arch ARCH                x86_64 (default) or aarch64: sets header flag bit 0\n"
  "\n"
  "Metadata section (compact JSON; not measured, covered by the CRC):\n"
  "      --name NAME                ImageName (default: the kernel file's name)\n"
  "      --version VERSION          ImageVersion (default: 1.0)\n"
  "      --build-time TIME          BuildTime (default: $SOURCE_DATE_EPOCH if set, else\n"
  "                                 now), e.g. 2020-01-01T00:00:00+00:00\n"
  "      --build-tool NAME          BuildTool (default: enclaver)\n"
  "      --build-tool-version V     BuildToolVersion (default: " PACKAGE_VERSION ")\n"
  "      --img-os NAME              OperatingSystem (default: OS)\n"
  "      --img-kernel VERSION       KernelVersion (default: kernel)\n"
  "      --metadata FILE            custom metadata: a JSON file of at most 4096 bytes,\n"
  "                                 stored as CustomMetadata (default: null)\n"
  "      --docker-info FILE         JSON stored as DockerInfo (default: null)\n"
  "\n"
  "Signing (both or neither):\n"
  "      --signing-certificate FILE PEM X.509 certificate, stored verbatim; its DER\n"
  "                                 encoding gives PCR8\n"
  "      --private-key FILE         PEM EC P-384 private key matching the certificate.\n"
  "                                 PCR0 is signed with ES384 (COSE_Sign1); other curves\n"
  "                                 and RSA keys are rejected\n"
  "\n"
  "Common options:\n"
  "  -h, --help                     show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 success, 1 build failure (unreadable input, bad key...), 2 usage.\n"
  "\n"
  "Example (reproduces a reference eif_build image byte for byte):\n"
  "  enclaver eif build --kernel kernel.bin --cmdline \"$(cat cmdline.txt)\" \\\n"
  "    --ramdisk ramdisk0.cpio --ramdisk ramdisk1.cpio --output vector1.eif \\\n"
  "    --name vector1 --version 1.0 --build-time 2020-01-01T00:00:00+00:00 \\\n"
  "    --build-tool eif_build --build-tool-version 0.3.1 --img-os OS --img-kernel kernel\n";

enum
{
  OPT_KERNEL = 0x2000,
  OPT_CMDLINE,
  OPT_CMDLINE_FILE,
  OPT_RAMDISK,
  OPT_OUTPUT,
  OPT_ARCH,
  OPT_NAME,
  OPT_VERSION,
  OPT_BUILD_TIME,
  OPT_BUILD_TOOL,
  OPT_BUILD_TOOL_VERSION,
  OPT_IMG_OS,
  OPT_IMG_KERNEL,
  OPT_METADATA,
  OPT_DOCKER_INFO,
  OPT_CERT,
  OPT_KEY,
  OPT_SECTIONS,
  OPT_PCRS,
  OPT_PCR0,
  OPT_PCR1,
  OPT_PCR2,
  OPT_PCR8,
  OPT_INPUT,
  OPT_IGNORE_CERT_TIME,
};

static char *
now_rfc3339 (void)
{
  const char *sde = getenv ("SOURCE_DATE_EPOCH");
  time_t t = time (NULL);
  struct tm tm;
  char buf[64];

  if (sde && *sde)
    {
      char *end;
      long long v;
      errno = 0;
      v = strtoll (sde, &end, 10);
      if (errno == 0 && *end == '\0' && v >= 0)
        t = (time_t) v;
      else
        enclaver_log_warning ("ignoring invalid SOURCE_DATE_EPOCH '%s'", sde);
    }
  gmtime_r (&t, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return xstrdup (buf);
}

static int
cmd_eif_build (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "cmdline", required_argument, NULL, OPT_CMDLINE },
    { "cmdline-file", required_argument, NULL, OPT_CMDLINE_FILE },
    { "ramdisk", required_argument, NULL, OPT_RAMDISK },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "arch", required_argument, NULL, OPT_ARCH },
    { "name", required_argument, NULL, OPT_NAME },
    { "version", required_argument, NULL, OPT_VERSION },
    { "build-time", required_argument, NULL, OPT_BUILD_TIME },
    { "build-tool", required_argument, NULL, OPT_BUILD_TOOL },
    { "build-tool-version", required_argument, NULL, OPT_BUILD_TOOL_VERSION },
    { "img-os", required_argument, NULL, OPT_IMG_OS },
    { "img-kernel", required_argument, NULL, OPT_IMG_KERNEL },
    { "metadata", required_argument, NULL, OPT_METADATA },
    { "docker-info", required_argument, NULL, OPT_DOCKER_INFO },
    { "signing-certificate", required_argument, NULL, OPT_CERT },
    { "private-key", required_argument, NULL, OPT_KEY },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = "eif build";
  const char *kernel = NULL, *cmdline = NULL, *cmdline_file = NULL, *output = NULL;
  const char *cert = NULL, *key = NULL, *metadata_file = NULL, *docker_file = NULL;
  cleanup_free const char **ramdisks = NULL;
  size_t n_ramdisks = 0;
  enum enclaver_eif_arch arch = ENCLAVER_EIF_ARCH_X86_64;
  struct enclaver_eif_metadata md = {
    .image_version = "1.0",
    .build_tool = "enclaver",
    .build_tool_version = PACKAGE_VERSION,
    .operating_system = "OS",
    .kernel_version = "kernel",
  };
  cleanup_free char *build_time = NULL, *default_name = NULL, *custom = NULL, *docker = NULL;
  cleanup_free char *cmdline_buf = NULL;
  struct enclaver_eif_measurements m;
  enclaver_eif_writer_t *w = NULL;
  enclaver_error_t err = NULL;
  size_t cmdline_len = 0;
  int c;

  ramdisks = xreallocarray (NULL, (size_t) argc + 1, sizeof *ramdisks);
  optind = 0;
  while ((c = getopt_long (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
    {
      int r = common_opt (cmd, c, eif_build_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      switch (c)
        {
        case OPT_KERNEL:
          kernel = optarg;
          break;
        case OPT_CMDLINE:
          cmdline = optarg;
          break;
        case OPT_CMDLINE_FILE:
          cmdline_file = optarg;
          break;
        case OPT_RAMDISK:
          ramdisks[n_ramdisks++] = optarg;
          break;
        case OPT_OUTPUT:
          output = optarg;
          break;
        case OPT_ARCH:
          if (enclaver_eif_arch_parse (optarg, &arch) < 0)
            return cli_usage_error (cmd, "--arch must be x86_64 or aarch64, not '%s'", optarg);
          break;
        case OPT_NAME:
          md.image_name = optarg;
          break;
        case OPT_VERSION:
          md.image_version = optarg;
          break;
        case OPT_BUILD_TIME:
          md.build_time = optarg;
          break;
        case OPT_BUILD_TOOL:
          md.build_tool = optarg;
          break;
        case OPT_BUILD_TOOL_VERSION:
          md.build_tool_version = optarg;
          break;
        case OPT_IMG_OS:
          md.operating_system = optarg;
          break;
        case OPT_IMG_KERNEL:
          md.kernel_version = optarg;
          break;
        case OPT_METADATA:
          metadata_file = optarg;
          break;
        case OPT_DOCKER_INFO:
          docker_file = optarg;
          break;
        case OPT_CERT:
          cert = optarg;
          break;
        case OPT_KEY:
          key = optarg;
          break;
        default:
          return cli_usage_error (cmd, "invalid option");
        }
    }
  if (optind < argc)
    return cli_usage_error (cmd, "unexpected argument '%s'", argv[optind]);
  if (kernel == NULL)
    return cli_usage_error (cmd, "--kernel is required");
  if ((cmdline == NULL) == (cmdline_file == NULL))
    return cli_usage_error (cmd, "exactly one of --cmdline and --cmdline-file is required");
  if (n_ramdisks == 0)
    return cli_usage_error (cmd, "at least one --ramdisk is required");
  if (n_ramdisks > ENCLAVER_EIF_MAX_SECTIONS - 4)
    return cli_usage_error (cmd, "at most %d ramdisks fit in an EIF", ENCLAVER_EIF_MAX_SECTIONS - 4);
  if (output == NULL)
    return cli_usage_error (cmd, "--output is required");
  if ((cert == NULL) != (key == NULL))
    return cli_usage_error (cmd, "--signing-certificate and --private-key go together");

  if (md.image_name == NULL)
    {
      const char *slash = strrchr (kernel, '/');
      default_name = xstrdup (slash ? slash + 1 : kernel);
      md.image_name = default_name;
    }
  if (md.build_time == NULL)
    md.build_time = build_time = now_rfc3339 ();
  if (cmdline_file)
    {
      if (enclaver_read_file (cmdline_file, 1024 * 1024, &cmdline_buf, &cmdline_len, &err) < 0)
        return cli_fail (&err);
      while (cmdline_len > 0 && strchr (" \t\r\n", cmdline_buf[cmdline_len - 1]))
        cmdline_buf[--cmdline_len] = '\0';
      if (memchr (cmdline_buf, '\0', cmdline_len))
        {
          enclaver_make_error (&err, EINVAL, "%s: the command line contains a NUL byte", cmdline_file);
          return cli_fail (&err);
        }
      cmdline = cmdline_buf;
    }
  else
    cmdline_len = strlen (cmdline);
  if (metadata_file)
    {
      if (enclaver_read_file (metadata_file, ENCLAVER_EIF_CUSTOM_METADATA_MAX_SIZE, &custom, NULL, &err) < 0)
        {
          enclaver_error_wrap (&err, "--metadata (custom metadata is limited to %d bytes)",
                               ENCLAVER_EIF_CUSTOM_METADATA_MAX_SIZE);
          return cli_fail (&err);
        }
      md.custom_metadata = custom;
    }
  if (docker_file)
    {
      if (enclaver_read_file (docker_file, ENCLAVER_EIF_METADATA_MAX_SIZE / 2, &docker, NULL, &err) < 0)
        return cli_fail (&err);
      md.docker_info = docker;
    }

  w = enclaver_eif_writer_new (output, &err);
  if (w == NULL)
    return cli_fail (&err);
  enclaver_eif_writer_set_arch (w, arch);
  if (cert && enclaver_eif_writer_set_signer (w, cert, key, &err) < 0)
    goto fail;
  if (enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_KERNEL, kernel, &err) < 0
      || enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, cmdline, cmdline_len, &err) < 0
      || enclaver_eif_writer_add_metadata (w, &md, &err) < 0)
    goto fail;
  for (size_t i = 0; i < n_ramdisks; i++)
    if (enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_RAMDISK, ramdisks[i], &err) < 0)
      goto fail;
  if (enclaver_eif_writer_finish (w, &m, &err) < 0)
    goto fail;
  enclaver_eif_writer_free (w);
  enclaver_log_info ("wrote %s", output);
  print_measurements (&m);
  return EXIT_OK;
fail:
  enclaver_eif_writer_free (w);
  return cli_fail (&err);
}

/* ------------------------------------------------------------------------- */
/* describe */

static const char describe_help[] =
  "Usage: enclaver describe FILE.eif [--sections]\n"
  "\n"
  "Read and validate an EIF and print what it contains as JSON, with the field names of\n"
  "nitro-cli describe-eif:\n"
  "  EifVersion          header format version\n"
  "  Measurements        {HashAlgorithm, PCR0, PCR1, PCR2, PCR8 (signed only)}\n"
  "  IsSigned            whether a signature section exists\n"
  "  SigningCertificate  {IssuerName, Algorithm, NotBefore, NotAfter, Signature} (signed)\n"
  "  CheckCRC            the stored CRC-32 matches the content\n"
  "  SignatureCheck      (signed) the COSE_Sign1 signature verifies with the embedded\n"
  "                      certificate, the signed payload is this image's PCR0 and the\n"
  "                      certificate is currently valid\n"
  "  ImageName, ImageVersion, Metadata\n"
  "                      from the metadata section; Metadata holds BuildTime, BuildTool,\n"
  "                      BuildToolVersion, OperatingSystem, KernelVersion, DockerInfo and\n"
  "                      the keys of CustomMetadata merged in (when it is an object)\n"
  "\n"
  "The reader checks the header (magic, version 2..4, flags, section count), walks the\n"
  "section offset table and the sections sequentially and requires both to agree, and\n"
  "rejects invalid section types, sizes or offsets outside the file, overlaps, trailing\n"
  "bytes, missing kernel/cmdline/ramdisk/metadata sections and oversized signatures.\n"
  "\n"
  "Options:\n"
  "      --sections          also print the header and the section table (\"Header\",\n"
  "                          \"Sections\": index, type, offset of the section header, size)\n"
  "      --ignore-cert-time  do not check the certificate validity period\n"
  "  -h, --help              show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 valid; 1 unreadable or malformed file, CRC mismatch or bad signature\n"
  "(the JSON is still printed when the structure could be read); 2 usage.\n";

static json_t *
metadata_describe (const struct enclaver_eif_info *info, json_t **name, json_t **version)
{
  json_t *md = json_loadb (info->metadata, info->metadata_len, 0, NULL);
  json_t *out, *bm, *v;
  static const char *const keys[] = { "BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
                                      "KernelVersion" };

  *name = *version = NULL;
  if (md == NULL)
    return NULL;
  if ((v = json_object_get (md, "ImageName")))
    *name = json_incref (v);
  if ((v = json_object_get (md, "ImageVersion")))
    *version = json_incref (v);
  out = json_object ();
  bm = json_object_get (md, "BuildMetadata");
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (json_is_object (bm) && (v = json_object_get (bm, keys[i])))
      json_object_set (out, keys[i], v);
  v = json_object_get (md, "DockerInfo");
  json_object_set (out, "DockerInfo", v ? v : json_null ());
  v = json_object_get (md, "CustomMetadata");
  if (json_is_object (v))
    {
      const char *k;
      json_t *item;
      json_object_foreach (v, k, item)
        json_object_set (out, k, item);
    }
  else if (v && !json_is_null (v))
    json_object_set (out, "CustomMetadata", v);
  json_decref (md);
  return out;
}

static json_t *
describe_json (const struct enclaver_eif_info *info, int sections)
{
  json_t *o = json_object ();
  json_t *name = NULL, *version = NULL, *md = NULL;

  json_object_set_new (o, "EifVersion", json_integer (info->version));
  json_object_set_new (o, "Measurements", measurements_json (&info->measurements));
  json_object_set_new (o, "IsSigned", json_boolean (info->is_signed));
  if (info->is_signed && info->cert_pem)
    {
      enclaver_error_t err = NULL;
      cleanup_free char *cj = enclaver_eif_cert_info_json (info->cert_pem, info->cert_pem_len, &err);
      if (cj)
        json_object_set_new (o, "SigningCertificate", json_loads (cj, 0, NULL));
      else
        enclaver_error_warn_and_release (&err, "signing certificate");
    }
  json_object_set_new (o, "CheckCRC", json_boolean (info->crc_ok));
  if (info->is_signed)
    json_object_set_new (o, "SignatureCheck", json_boolean (info->signature_ok));
  if (info->metadata)
    md = metadata_describe (info, &name, &version);
  if (name)
    json_object_set_new (o, "ImageName", name);
  if (version)
    json_object_set_new (o, "ImageVersion", version);
  if (md)
    json_object_set_new (o, "Metadata", md);
  if (sections)
    {
      json_t *h = json_object (), *a = json_array ();
      char crc[16];
      json_object_set_new (h, "Version", json_integer (info->version));
      json_object_set_new (h, "Flags", json_integer (info->flags));
      json_object_set_new (h, "Arch", json_string (enclaver_eif_arch_name (info->flags & 1)));
      json_object_set_new (h, "DefaultMem", json_integer ((json_int_t) info->default_mem));
      json_object_set_new (h, "DefaultCpus", json_integer ((json_int_t) info->default_cpus));
      json_object_set_new (h, "NumSections", json_integer (info->num_sections));
      snprintf (crc, sizeof crc, "0x%08x", info->crc_stored);
      json_object_set_new (h, "CRC32", json_string (crc));
      json_object_set_new (h, "FileSize", json_integer ((json_int_t) info->file_size));
      json_object_set_new (o, "Header", h);
      for (unsigned i = 0; i < info->num_sections; i++)
        {
          json_t *s = json_object ();
          json_object_set_new (s, "Index", json_integer (i));
          json_object_set_new (s, "Type", json_string (enclaver_eif_section_type_name (info->sections[i].type)));
          json_object_set_new (s, "Offset", json_integer ((json_int_t) info->sections[i].offset));
          json_object_set_new (s, "Size", json_integer ((json_int_t) info->sections[i].size));
          json_array_append_new (a, s);
        }
      json_object_set_new (o, "Sections", a);
    }
  return o;
}

static int
one_file_arg (const char *cmd, int argc, char **argv, const char **file)
{
  if (optind >= argc)
    return cli_usage_error (cmd, "missing the EIF file argument");
  if (optind + 1 < argc)
    return cli_usage_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
  *file = argv[optind];
  return 0;
}

int
cmd_describe (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "sections", no_argument, NULL, OPT_SECTIONS },
    { "ignore-cert-time", no_argument, NULL, OPT_IGNORE_CERT_TIME },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = "describe", *file = NULL;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  unsigned flags = 0;
  int sections = 0, c, rc;
  json_t *j;

  optind = 0;
  while ((c = getopt_long (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
    {
      int r = common_opt (cmd, c, describe_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      if (c == OPT_SECTIONS)
        sections = 1;
      else if (c == OPT_IGNORE_CERT_TIME)
        flags |= ENCLAVER_EIF_READ_IGNORE_CERT_TIME;
      else
        return cli_usage_error (cmd, "invalid option");
    }
  if ((rc = one_file_arg (cmd, argc, argv, &file)) != 0)
    return rc;
  if (enclaver_eif_read (file, flags, &info, &err) < 0)
    return cli_fail (&err);
  j = describe_json (&info, sections);
  print_json (j);
  json_decref (j);
  rc = EXIT_OK;
  if (enclaver_eif_check (&info, &err) < 0)
    {
      enclaver_error_wrap (&err, "%s", file);
      rc = cli_fail (&err);
    }
  enclaver_eif_info_clear (&info);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* verify */

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

struct expected
{
  const char *hex[9];
  int from_file[9];
  uint8_t val[9][ENCLAVER_PCR_SIZE];
};

static int
load_pcrs_file (const char *cmd, const char *path, struct expected *ex, json_t **keep)
{
  json_error_t jerr;
  json_t *j = json_load_file (path, 0, &jerr), *m;
  static const int idx[] = { 0, 1, 2, 8 };
  int found = 0;

  if (j == NULL)
    return cli_usage_error (cmd, "--pcrs %s: %s (line %d)", path, jerr.text, jerr.line);
  m = json_object_get (j, "Measurements");
  if (!json_is_object (m))
    m = j;
  if (!json_is_object (m))
    {
      json_decref (j);
      return cli_usage_error (cmd, "--pcrs %s: expected a JSON object", path);
    }
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    {
      char key[8];
      json_t *v;
      snprintf (key, sizeof key, "PCR%d", idx[i]);
      v = json_object_get (m, key);
      if (v == NULL)
        continue;
      if (!json_is_string (v))
        {
          json_decref (j);
          return cli_usage_error (cmd, "--pcrs %s: %s is not a string", path, key);
        }
      found++;
      if (ex->hex[idx[i]] == NULL)
        {
          ex->hex[idx[i]] = json_string_value (v);
          ex->from_file[idx[i]] = 1;
        }
    }
  if (!found)
    {
      json_decref (j);
      return cli_usage_error (cmd, "--pcrs %s: no PCR0/PCR1/PCR2/PCR8 values found", path);
    }
  *keep = j;
  return 0;
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
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  static const int idx[] = { 0, 1, 2, 8 };
  const char *cmd = "verify", *file = NULL, *pcrs = NULL;
  struct expected ex;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  json_t *keep = NULL, *o, *pj;
  unsigned flags = 0;
  int c, rc, any = 0, ok = 1;

  memset (&ex, 0, sizeof ex);
  optind = 0;
  while ((c = getopt_long (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
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
  if (pcrs && (rc = load_pcrs_file (cmd, pcrs, &ex, &keep)) != 0)
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
      switch (n)
        {
        case 0:
          actual = info.measurements.pcr0;
          break;
        case 1:
          actual = info.measurements.pcr1;
          break;
        case 2:
          actual = info.measurements.pcr2;
          break;
        default:
          actual = info.measurements.has_pcr8 ? info.measurements.pcr8 : NULL;
          break;
        }
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

/* ------------------------------------------------------------------------- */
/* sign */

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
  while ((c = getopt_long (argc, argv, "ho:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
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

/* ------------------------------------------------------------------------- */
/* pcr */

static const char pcr_help[] =
  "Usage: enclaver pcr --input FILE\n"
  "       enclaver pcr --signing-certificate CERT\n"
  "\n"
  "Print a PCR value as JSON, like nitro-cli pcr:\n"
  "  --input FILE               {\"PCR\": SHA384(0^48 || SHA384(file bytes))}\n"
  "  --signing-certificate CERT {\"PCR8\": ...} computed over the DER encoding of the\n"
  "                             first certificate in the PEM file: the PCR8 that an\n"
  "                             EIF signed with CERT gets\n"
  "\n"
  "Exactly one of the two is required.  Values are 96 lowercase hex digits.\n"
  "\n"
  "Options:\n"
  "  -h, --help                 show this help\n" CLI_COMMON_HELP
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
  while ((c = getopt_long (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
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

/* ------------------------------------------------------------------------- */
/* eif: subcommand group */

static const char eif_help[] =
  "Usage: enclaver eif COMMAND [ARGS]...\n"
  "\n"
  "Low-level commands for AWS Nitro Enclaves image files (EIF).\n"
  "\n"
  "Commands:\n"
  "  build      assemble an EIF from kernel, cmdline and ramdisks (like eif_build)\n"
  "  describe   same as `enclaver describe`: validate and print an EIF as JSON\n"
  "  verify     same as `enclaver verify`: compare an EIF's PCRs with expected values\n"
  "  sign       same as `enclaver sign`: add or replace an EIF's signature\n"
  "  pcr        same as `enclaver pcr`: PCR of a file or a signing certificate\n"
  "\n"
  "Run `enclaver eif COMMAND --help` for the options of each command.\n"
  "Exit status: 0 success, 1 failure, 2 usage.\n";

int
cmd_eif (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (int, char **);
  } sub[] = {
    { "build", cmd_eif_build }, { "describe", cmd_describe }, { "verify", cmd_verify },
    { "sign", cmd_sign },       { "pcr", cmd_pcr },
  };
  const char *best = NULL;
  size_t best_d = SIZE_MAX;

  if (argc < 2)
    {
      fputs (eif_help, stderr);
      return EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      fputs (eif_help, stdout);
      return EXIT_OK;
    }
  for (size_t i = 0; i < ARRAY_SIZE (sub); i++)
    {
      size_t d;
      if (strcmp (argv[1], sub[i].name) == 0)
        return sub[i].fn (argc - 1, argv + 1);
      d = enclaver_edit_distance (argv[1], sub[i].name);
      if (d < best_d)
        best_d = d, best = sub[i].name;
    }
  if (best && best_d <= 2)
    return cli_usage_error ("eif", "unknown command '%s'; did you mean '%s'?", argv[1], best);
  return cli_usage_error ("eif", "unknown command '%s'", argv[1]);
}
