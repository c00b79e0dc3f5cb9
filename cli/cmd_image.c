/* enclaver image: inspect and pull container images (the fetch stage's code). */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/image.h>
#include "cli/commands.h"
#include "util.h"

static const char image_help[] =
  "Usage: enclaver image COMMAND SOURCE [OPTIONS]\n"
  "\n"
  "Work with the container images enclaver builds from, without Docker.\n"
  "\n"
  "Commands:\n"
  "  inspect SOURCE   resolve SOURCE, fetch and verify its manifest and config, and print\n"
  "                   {\"Name\",\"Digest\",\"MediaType\",\"Platform\",\"Config\":{...},\n"
  "                   \"Layers\":[{\"Digest\",\"Size\",\"MediaType\",\"DiffID\"}]} as JSON\n"
  "  pull SOURCE      also fetch and verify every layer blob into the cache; print the\n"
  "                   manifest digest (with --json, the inspect document plus the cache\n"
  "                   path and detected compression of each layer)\n"
  "\n"
  "SOURCE is one of:\n"
  "  nginx, nginx:1.27, ghcr.io/org/app@sha256:..., localhost:5000/app:tag, docker://REF\n"
  "                   a registry reference (Docker Hub names get docker.io/library/)\n"
  "  oci:DIR[:REF]    an OCI image layout directory; REF is a ref.name annotation or @N\n"
  "  oci-archive:FILE[:REF]      a tar of an OCI layout\n"
  "  docker-archive:FILE[:REF]   a `docker save` tarball (legacy or Docker >= 25);\n"
  "                   REF is one of its RepoTags or @N\n"
  "  docker-daemon:NAME[:TAG]    an image in the Docker Engine at $DOCKER_HOST or\n"
  "                   /var/run/docker.sock (dockerd, podman system service)\n"
  "  dir:DIR          a directory written by `skopeo copy ... dir:DIR`\n"
  "  PATH             an existing file or directory, read by its bytes; ./x, /x, ~/x,\n"
  "                   *.tar, *.tar.gz, *.eif that do not exist are \"no such file\"\n"
  "\n"
  "Options:\n"
  "      --platform OS/ARCH[/V] the platform to pick from an index (default: the host's);\n"
  "                             an index without it is an error listing what it offers\n"
  "      --cache-dir DIR        blob cache (default $XDG_CACHE_HOME/enclaver)\n"
  "      --jobs N               parallel blob downloads (default 4)\n"
  "      --pull                 ignore cached blobs: download and verify everything again\n"
  "      --offline              never use the network; digest-pinned references and tags\n"
  "                             resolved before are served from the cache\n"
  CLI_HELP_REGISTRY_OPTIONS
  "      --ca-cert FILE         CA bundle for registry TLS (default: SSL_CERT_FILE or system)\n"
  "      --json                 (pull) print the full JSON document instead of the digest\n"
  "      --no-progress          no progress output on stderr\n" CLI_COMMON_HELP
  "  -h, --help                 this help\n"
  "\n"
  "Credentials come from $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or\n"
  "~/.docker/config.json (auths, credsStore, credHelpers) and containers auth.json.\n"
  "\n"
  "Exit codes: 0 done; 1 the image could not be resolved, fetched or verified; 2 usage.\n";

enum
{
  OPT_PLATFORM = 0x100,
  OPT_CACHE_DIR,
  OPT_JOBS,
  OPT_PULL,
  OPT_OFFLINE,
  OPT_INSECURE,
  OPT_CA_CERT,
  OPT_JSON,
  OPT_NO_PROGRESS,
};

int
cmd_image (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "pull", no_argument, NULL, OPT_PULL },
    { "offline", no_argument, NULL, OPT_OFFLINE },
    { "insecure-registry", required_argument, NULL, OPT_INSECURE },
    { "ca-cert", required_argument, NULL, OPT_CA_CERT },
    { "json", no_argument, NULL, OPT_JSON },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  struct enclaver_image_options o;
  const char **insecure = xmalloc0 (sizeof *insecure * (size_t) (argc + 1));
  size_t n_insecure = 0;
  int json = 0, c, rc = EXIT_FAIL;
  enclaver_error_t err = NULL;
  struct enclaver_image *img = NULL;

  enclaver_image_options_init (&o);
  o.insecure_registries = insecure;
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = cli_common_option (c, optarg);
      if (r < 0)
        {
          rc = EXIT_USAGE;
          goto out;
        }
      if (r > 0)
        continue;
      switch (c)
        {
        case OPT_PLATFORM:
          {
            struct enclaver_platform pl;
            if (enclaver_platform_parse (optarg, &pl, &err) < 0)
              {
                rc = cli_usage_error ("image", "--platform: %s", err->msg);
                enclaver_error_release (&err);
                goto out;
              }
            o.platform = optarg;
            break;
          }
        case OPT_CACHE_DIR:
          o.cache_dir = optarg;
          break;
        case OPT_JOBS:
          {
            char *end;
            long n = strtol (optarg, &end, 10);
            if (*end || n < 1 || n > 32)
              {
                rc = cli_usage_error ("image", "--jobs: '%s' is not a number from 1 to 32", optarg);
                goto out;
              }
            o.jobs = (unsigned) n;
            break;
          }
        case OPT_PULL:
          o.pull = 1;
          break;
        case OPT_OFFLINE:
          o.offline = 1;
          break;
        case OPT_INSECURE:
          insecure[n_insecure++] = optarg;
          break;
        case OPT_CA_CERT:
          o.ca_cert = optarg;
          break;
        case OPT_JSON:
          json = 1;
          break;
        case OPT_NO_PROGRESS:
          o.progress = 0;
          break;
        case 'h':
          cli_help (stdout, image_help);
          rc = EXIT_OK;
          goto out;
        default:
          rc = cli_usage_error ("image", "invalid option");
          goto out;
        }
    }
  if (optind >= argc)
    {
      rc = cli_usage_error ("image", "missing command (inspect or pull)");
      goto out;
    }
  const char *sub = argv[optind];
  int inspect = strcmp (sub, "inspect") == 0, pull = strcmp (sub, "pull") == 0;
  if (!inspect && !pull)
    {
      rc = cli_usage_error ("image", "unknown command '%s' (inspect or pull)", sub);
      goto out;
    }
  if (optind + 1 >= argc)
    {
      rc = cli_usage_error ("image", "%s: missing SOURCE", sub);
      goto out;
    }
  if (optind + 2 < argc)
    {
      rc = cli_usage_error ("image", "unexpected argument '%s'", argv[optind + 2]);
      goto out;
    }
  if (o.pull && o.offline)
    {
      rc = cli_usage_error ("image", "--pull and --offline exclude each other");
      goto out;
    }
  o.only_metadata = inspect;
  img = enclaver_image_fetch (argv[optind + 1], &o, &err);
  if (img == NULL)
    {
      rc = cli_fail (&err);
      goto out;
    }
  if (inspect || json)
    {
      char *s = enclaver_image_to_json (img, &err);
      if (s == NULL)
        {
          rc = cli_fail (&err);
          goto out;
        }
      printf ("%s\n", s);
      free (s);
    }
  else
    printf ("%s\n", img->digest);
  rc = EXIT_OK;
out:
  enclaver_image_free (img);
  free (insecure);
  return rc;
}
