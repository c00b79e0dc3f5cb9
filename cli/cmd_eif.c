/* enclaver CLI: `enclaver eif build` (the low-level EIF assembler whose flags mirror AWS
 * eif_build) and the `enclaver eif` dispatcher. */
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
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
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
      cli_help (stderr, eif_help);
      return EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      cli_help (stdout, eif_help);
      return EXIT_OK;
    }
  for (size_t i = 0; i < ARRAY_SIZE (sub); i++)
    {
      size_t d;
      if (strcmp (argv[1], sub[i].name) == 0)
        {
          static char name[32];
          snprintf (name, sizeof name, "eif %s", sub[i].name);
          cli_command_name = name;
          return sub[i].fn (argc - 1, argv + 1);
        }
      d = enclaver_edit_distance (argv[1], sub[i].name);
      if (d < best_d)
        best_d = d, best = sub[i].name;
    }
  if (best && best_d <= 2)
    return cli_usage_error ("eif", "unknown command '%s'; did you mean '%s'?", argv[1], best);
  return cli_usage_error ("eif", "unknown command '%s'", argv[1]);
}

