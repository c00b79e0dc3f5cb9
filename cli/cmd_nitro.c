/* enclaver CLI: nitro-cli's spellings, so scripts written for it keep working.
 *   enclaver describe-eif --eif-path FILE      = enclaver describe FILE
 *   enclaver build-enclave --docker-uri IMAGE --output-file FILE.eif
 *        [--signing-certificate CERT --private-key KEY]
 *                                              = enclaver build --eif-only FILE.eif over a
 *                                                manifest made from the options */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/log.h>
#include "cli/commands.h"
#include "util.h"

static const char describe_eif_help[] =
  "Usage: enclaver describe-eif --eif-path FILE.eif [--sections]\n"
  "\n"
  "nitro-cli's spelling of `enclaver describe FILE.eif` (see `enclaver describe --help`).\n"
  "\n"
  "Options:\n"
  "      --eif-path FILE     the EIF to describe\n"
  "      --sections          also print the header and the section table\n"
  "  -h, --help              this help\n" CLI_COMMON_HELP;

enum
{
  OPT_EIF_PATH = 0x300,
  OPT_SECTIONS,
  OPT_DOCKER_URI,
  OPT_DOCKER_DIR,
  OPT_OUTPUT_FILE,
  OPT_CERT,
  OPT_KEY,
  OPT_IMG_NAME,
  OPT_IMG_VERSION,
  OPT_METADATA,
};

/* Append a to the argv being built for the command this one maps onto (the common
 * options were applied already, when this command parsed them). */
static void
push (char **args, int *n, const char *a)
{
  args[(*n)++] = (char *) a;
  args[*n] = NULL;
}

int
cmd_describe_eif (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "eif-path", required_argument, NULL, OPT_EIF_PATH },
    { "sections", no_argument, NULL, OPT_SECTIONS },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *path = NULL;
  int c, sections = 0, n = 0;
  char *args[8];

  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      if (c == OPT_EIF_PATH)
        path = optarg;
      else if (c == OPT_SECTIONS)
        sections = 1;
      else if (c == 'h')
        {
          cli_help (stdout, describe_eif_help);
          return EXIT_OK;
        }
    }
  if (optind < argc)
    return cli_usage_error ("describe-eif", "unexpected argument '%s' (name the EIF with --eif-path)", argv[optind]);
  if (path == NULL)
    return cli_usage_error ("describe-eif", "--eif-path FILE is required");
  push (args, &n, "describe");
  if (sections)
    push (args, &n, "--sections");
  push (args, &n, "--");
  push (args, &n, path);
  optind = 1;
  cli_command_name = "describe";
  return cmd_describe (n, args);
}

static const char build_enclave_help[] =
  "Usage: enclaver build-enclave --docker-uri IMAGE --output-file FILE.eif\n"
  "                              [--signing-certificate CERT --private-key KEY]\n"
  "\n"
  "nitro-cli's spelling of an EIF-only build: the same as `enclaver build --eif-only\n"
  "FILE.eif` over a manifest whose sources.app is IMAGE and whose name is FILE's base\n"
  "name.  IMAGE is any image reference `enclaver image` reads (a registry reference,\n"
  "oci:DIR, docker-archive:FILE, docker-daemon:NAME, ...).  The EIF holds enclaver's\n"
  "init and supervisor, like every EIF enclaver builds.  The measurements are printed as\n"
  "nitro-cli prints them.\n"
  "\n"
  "Options:\n"
  "      --docker-uri IMAGE          the container image to build from\n"
  "      --output-file FILE          where to write the EIF\n"
  "      --signing-certificate CERT  PEM certificate to sign with (with --private-key)\n"
  "      --private-key KEY           PEM EC P-384 private key matching CERT\n"
  "      --docker-dir DIR            not supported: build the image first (docker build,\n"
  "                                  podman build), then give it with --docker-uri\n"
  "      --img-name, --img-version, --metadata\n"
  "                                  not supported yet: the EIF's name is the output\n"
  "                                  file's base name\n"
  "  -h, --help                      this help\n" CLI_COMMON_HELP;

/* A YAML double-quoted scalar for s. */
static char *
yaml_quote (const char *s)
{
  size_t n = 0;
  char *out = xmalloc (strlen (s) * 4 + 3), *w = out;
  *w++ = '"';
  for (; s[n]; n++)
    {
      unsigned char ch = (unsigned char) s[n];
      if (ch == '"' || ch == '\\')
        *w++ = '\\', *w++ = (char) ch;
      else if (ch < 0x20)
        w += sprintf (w, "\\x%02x", ch);
      else
        *w++ = (char) ch;
    }
  *w++ = '"';
  *w = '\0';
  return out;
}

int
cmd_build_enclave (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "docker-uri", required_argument, NULL, OPT_DOCKER_URI },
    { "docker-dir", required_argument, NULL, OPT_DOCKER_DIR },
    { "output-file", required_argument, NULL, OPT_OUTPUT_FILE },
    { "signing-certificate", required_argument, NULL, OPT_CERT },
    { "private-key", required_argument, NULL, OPT_KEY },
    { "img-name", required_argument, NULL, OPT_IMG_NAME },
    { "img-version", required_argument, NULL, OPT_IMG_VERSION },
    { "metadata", required_argument, NULL, OPT_METADATA },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *uri = NULL, *output = NULL, *cert = NULL, *key = NULL;
  cleanup_free char *name = NULL, *qname = NULL, *quri = NULL, *qcert = NULL, *qkey = NULL;
  cleanup_free char *acert = NULL, *akey = NULL, *yaml = NULL, *mpath = NULL;
  char tmpl[] = "/tmp/enclaver-build-enclave-XXXXXX.yaml";
  char *args[10];
  int c, n = 0, fd, rc;

  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      switch (c)
        {
        case OPT_DOCKER_URI:
          uri = optarg;
          break;
        case OPT_OUTPUT_FILE:
          output = optarg;
          break;
        case OPT_CERT:
          cert = optarg;
          break;
        case OPT_KEY:
          key = optarg;
          break;
        case OPT_DOCKER_DIR:
          return cli_usage_error ("build-enclave", "--docker-dir is not supported: enclaver builds no Dockerfiles; "
                                                   "build the image first and give it with --docker-uri");
        case OPT_IMG_NAME:
        case OPT_IMG_VERSION:
        case OPT_METADATA:
          return cli_usage_error ("build-enclave", "%s is not supported yet; use `enclaver build` with a manifest",
                                  argv[optind - 1]);
        case 'h':
          cli_help (stdout, build_enclave_help);
          return EXIT_OK;
        }
    }
  if (optind < argc)
    return cli_usage_error ("build-enclave", "unexpected argument '%s'", argv[optind]);
  if (uri == NULL || output == NULL)
    return cli_usage_error ("build-enclave", "--docker-uri IMAGE and --output-file FILE are required");
  if ((cert == NULL) != (key == NULL))
    return cli_usage_error ("build-enclave", "--signing-certificate and --private-key go together");

  {
    const char *base = strrchr (output, '/');
    size_t len;
    base = base ? base + 1 : output;
    len = strlen (base);
    if (len > 4 && strcmp (base + len - 4, ".eif") == 0)
      len -= 4;
    name = len ? xstrndup (base, len) : xstrdup ("enclave");
  }
  qname = yaml_quote (name);
  quri = yaml_quote (uri);
  yaml = xasprintf ("version: v1\nname: %s\ntarget: %s\nsources:\n  app: %s\n", qname, qname, quri);
  if (cert)
    {
      acert = realpath (cert, NULL);
      akey = realpath (key, NULL);
      if (acert == NULL || akey == NULL)
        {
          fprintf (stderr, "enclaver build-enclave: %s: %s\n", acert ? key : cert, strerror (errno));
          return EXIT_FAIL;
        }
      qcert = yaml_quote (acert);
      qkey = yaml_quote (akey);
      {
        char *y = xasprintf ("%ssignature:\n  certificate: %s\n  key: %s\n", yaml, qcert, qkey);
        free (yaml);
        yaml = y;
      }
    }
  fd = mkstemps (tmpl, 5);
  if (fd < 0)
    {
      fprintf (stderr, "enclaver build-enclave: create %s: %s\n", tmpl, strerror (errno));
      return EXIT_FAIL;
    }
  mpath = xstrdup (tmpl);
  if (enclaver_write_all (fd, yaml, strlen (yaml)) < 0 || close (fd) < 0)
    {
      fprintf (stderr, "enclaver build-enclave: write %s: %s\n", mpath, strerror (errno));
      unlink (mpath);
      return EXIT_FAIL;
    }
  push (args, &n, "build");
  push (args, &n, "-f");
  push (args, &n, mpath);
  push (args, &n, "--from"); /* resolved against the current directory, as given */
  push (args, &n, uri);
  push (args, &n, "--eif-only");
  push (args, &n, output);
  optind = 1;
  cli_command_name = "build";
  rc = cmd_build (n, args);
  unlink (mpath);
  return rc;
}
