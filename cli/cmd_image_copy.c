/* enclaver image copy SRC DST: an image from any source we read to a registry, an OCI
 * layout or an archive (core/oci/copy.c; docs/image.md "Copy and push"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/image.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "util.h"

static const char copy_help[] =
  "Usage: enclaver image copy [OPTIONS] SOURCE DESTINATION\n"
  "\n"
  "Copy an image, as `skopeo copy` does: SOURCE is any source `enclaver image` reads\n"
  "(a registry reference, oci:DIR[:REF], oci-archive:FILE, docker-archive:FILE,\n"
  "docker-daemon:NAME, dir:DIR, a path); DESTINATION a registry reference\n"
  "(docker://HOST/REPO[:TAG] or HOST/REPO[:TAG|@DIGEST]), oci:DIR[:NAME],\n"
  "oci-archive:FILE[:NAME] or docker-archive:FILE[:NAME:TAG] (a file is replaced whole).\n"
  "The blobs are verified on the way in and sent unchanged, so the destination has the\n"
  "source's manifest digest (unless --format changes the media types; a docker-archive\n"
  "holds uncompressed layers, as docker save writes them: same config and diff_ids).  A\n"
  "blob the destination repository has is not sent; one another repository of the same\n"
  "registry has is mounted; large blobs go in chunks and a cut upload resumes.  Prints the\n"
  "manifest digest.\n"
  "\n"
  "Options:\n"
  "      --format FORMAT        oci or docker: push with those media types (default: keep)\n"
  "      --digestfile FILE      also write the manifest digest to FILE\n"
  "      --creds USER:PASSWORD  credentials for the registries (default: the credential\n"
  "                             files, see `enclaver image --help`)\n"
  "      --dest-creds USER:PASSWORD\n"
  "                             credentials for the destination only\n"
  "      --cert-dir DIR         TLS settings DIR/HOST[:PORT]/{*.crt, NAME.cert, NAME.key}\n"
  "                             (default /etc/containers/certs.d, /etc/docker/certs.d)\n"
  "      --ca-cert FILE         CA bundle for registry TLS\n"
  CLI_HELP_REGISTRY_OPTIONS
  CLI_HELP_BLOB_TIMEOUT
  "      --cache-dir DIR        blob cache (default $XDG_CACHE_HOME/enclaver)\n"
  "      --platform OS/ARCH[/V] the platform to pick from a source index\n"
  "      --no-progress          no per-blob progress\n"
  "  -o, --output FORMAT        text (default) or json: {\"Digest\", \"Destination\",\n"
  "                             \"Blobs\": {\"Present\", \"Mounted\", \"Uploaded\"}, \"Resumes\",\n"
  "                             \"BytesUploaded\"}\n"
  CLI_COMMON_HELP
  "  -h, --help                 this help\n";

enum
{
  OPT_FORMAT = 0x200,
  OPT_DIGESTFILE,
  OPT_CREDS,
  OPT_DEST_CREDS,
  OPT_CERT_DIR,
  OPT_CA_CERT,
  OPT_INSECURE,
  OPT_CACHE_DIR,
  OPT_PLATFORM,
  OPT_NO_PROGRESS,
  OPT_BLOB_TIMEOUT,
};

int
cmd_image_copy (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, OPT_FORMAT },
    { "digestfile", required_argument, NULL, OPT_DIGESTFILE },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "dest-creds", required_argument, NULL, OPT_DEST_CREDS },
    { "cert-dir", required_argument, NULL, OPT_CERT_DIR },
    { "ca-cert", required_argument, NULL, OPT_CA_CERT },
    { "insecure-registry", required_argument, NULL, OPT_INSECURE },
    { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "blob-timeout", required_argument, NULL, OPT_BLOB_TIMEOUT },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  struct enclaver_image_copy_options o;
  struct enclaver_image_copy_result res;
  const char *digestfile = NULL;
  cleanup_free const char **insecure = xmalloc0 (sizeof *insecure * (size_t) (argc + 1));
  size_t n_insecure = 0;
  enclaver_error_t err = NULL;
  int c, json = 0, rc;

  memset (&o, 0, sizeof o);
  memset (&res, 0, sizeof res);
  enclaver_image_options_init (&o.src);
  o.src.insecure_registries = insecure;
  optind = 1;
  while ((c = cli_getopt (argc, argv, "ho:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    switch (c)
      {
      case OPT_FORMAT:
        if (strcmp (optarg, "oci") != 0 && strcmp (optarg, "docker") != 0)
          return cli_usage_error ("image copy", "--format: '%s' is not oci or docker", optarg);
        o.format = optarg;
        break;
      case OPT_DIGESTFILE:
        digestfile = optarg;
        break;
      case OPT_CREDS:
      case OPT_DEST_CREDS:
        if (strchr (optarg, ':') == NULL || optarg[0] == ':')
          return cli_usage_error ("image copy", "--%s: give USER:PASSWORD", c == OPT_CREDS ? "creds" : "dest-creds");
        if (c == OPT_CREDS)
          o.src.creds = optarg;
        else
          o.dest_creds = optarg;
        break;
      case OPT_CERT_DIR:
        o.src.cert_dir = optarg;
        break;
      case OPT_CA_CERT:
        o.src.ca_cert = optarg;
        break;
      case OPT_INSECURE:
        insecure[n_insecure++] = optarg;
        break;
      case OPT_CACHE_DIR:
        o.src.cache_dir = optarg;
        break;
      case OPT_PLATFORM:
        o.src.platform = optarg;
        break;
      case OPT_NO_PROGRESS:
        o.src.progress = 0;
        break;
      case OPT_BLOB_TIMEOUT:
        if ((rc = cli_parse_blob_timeout ("image copy", optarg, &o.src.blob_timeout)) != 0)
          return rc;
        break;
      case 'o':
        if (strcmp (optarg, "json") == 0)
          json = 1;
        else if (strcmp (optarg, "text") != 0)
          return cli_usage_error ("image copy", "--output: '%s' is not text or json", optarg);
        break;
      case 'h':
        cli_help (stdout, copy_help);
        return EXIT_OK;
      default:
        return cli_usage_error ("image copy", "invalid option");
      }
  if (argc - optind != 2)
    return cli_usage_error ("image copy", "expected SOURCE and DESTINATION, got %d argument%s", argc - optind,
                            argc - optind == 1 ? "" : "s");
  if (enclaver_image_copy (argv[optind], argv[optind + 1], &o, &res, &err) < 0)
    return cli_fail (&err);
  rc = EXIT_OK;
  if (digestfile && cli_write_digestfile (digestfile, res.digest, &err) < 0)
    rc = cli_fail (&err);
  if (json)
    printf ("{\"Digest\": \"%s\", \"Destination\": \"%s\", \"Blobs\": {\"Present\": %u, \"Mounted\": %u, \"Uploaded\": "
            "%u}, \"Resumes\": %u, \"BytesUploaded\": %llu}\n",
            res.digest, res.destination, res.blobs_present, res.blobs_mounted, res.blobs_uploaded, res.resumes,
            (unsigned long long) res.bytes_uploaded);
  else
    {
      enclaver_error_t e = NULL;
      struct enclaver_image_ref *d = enclaver_image_ref_parse (argv[optind + 1], &e);
      enclaver_error_release (&e);
      if (d && d->transport == ENCLAVER_TRANSPORT_REGISTRY)
        enclaver_log_info ("copied %s to %s: %u blob%s uploaded, %u mounted, %u already there", argv[optind],
                           res.destination, res.blobs_uploaded, res.blobs_uploaded == 1 ? "" : "s",
                           res.blobs_mounted, res.blobs_present);
      else
        enclaver_log_info ("copied %s to %s", argv[optind], res.destination);
      enclaver_image_ref_free (d);
      printf ("%s\n", res.digest);
    }
  enclaver_image_copy_result_clear (&res);
  return rc;
}
