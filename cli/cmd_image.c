/* enclaver image: inspect and pull container images (the fetch stage's code). */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/cache.h>
#include <enclaver/image.h>
#include <enclaver/eif.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "cli/image-eif.h"
#include "util.h"

static const char image_help[] =
  "Usage: enclaver image inspect|pull|pcrs SOURCE [OPTIONS]\n"
  "       enclaver image copy SOURCE DESTINATION [OPTIONS]   (see `image copy --help`)\n"
  "       enclaver image cache prune|verify [OPTIONS]\n"
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
  "  pcrs SOURCE      the PCRs of a release image made by `enclaver build`: its\n"
  "                   dev.enclaver.pcrN labels, checked against the EIF inside it\n"
  "                   (enclave/application.eif), printed as {\"Measurements\": {...}},\n"
  "                   the format of `enclaver build`, `enclaver verify --pcrs` and KMS\n"
  "                   key policies; exit 1 when a label does not match the EIF;\n"
  "                   -o json adds Eif {Sha256,Size} and Image {Source,Digest}\n"
  "  cache prune      remove the temporaries interrupted runs left in the cache (those\n"
  "                   no running enclaver holds); with --unreferenced also the blobs\n"
  "                   no remembered tag leads to, with --all everything; print what\n"
  "                   was removed and the bytes freed\n"
  "  cache verify     re-hash every cached blob, remove those whose content does not\n"
  "                   match their digest and list them (exit 1 if there was any)\n"
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
  CLI_HELP_BLOB_TIMEOUT
  "      --pull                 ignore cached blobs: download and verify everything again\n"
  "      --offline              never use the network; digest-pinned references and tags\n"
  "                             resolved before are served from the cache\n"
  CLI_HELP_REGISTRY_OPTIONS
  "      --ca-cert FILE         CA bundle for registry TLS (default: SSL_CERT_FILE or system)\n"
  "      --cert-dir DIR         TLS settings DIR/HOST[:PORT]/{*.crt, NAME.cert, NAME.key}\n"
  "                             (default /etc/containers/certs.d, then /etc/docker/certs.d)\n"
  "      --creds USER:PASSWORD  registry credentials (default: the credential files below)\n"
  "  -o, --output FORMAT        (pcrs) 'pcrs' (default) or 'json' (as `enclaver build -o`)\n"
  "      --json                 (pull) print the full JSON document instead of the digest;\n"
  "                             (cache) print the report as JSON\n"
  "      --no-progress          no progress bar (the fetch summary is a log line: -q\n"
  "                             hides it)\n"
  "      --unreferenced         (cache prune) also remove unreferenced blobs\n"
  "      --all                  (cache prune) remove every blob and remembered tag\n" CLI_COMMON_HELP
  "  -h, --help                 this help\n"
  "\n"
  "Credentials come from $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or\n"
  "~/.docker/config.json (auths, credsStore, credHelpers) and containers auth.json.\n"
  "\n"
  "Exit codes: 0 done; 1 the image could not be resolved, fetched or verified (cache\n"
  "verify: a corrupt blob was found and removed; pcrs: the labels do not match the EIF,\n"
  "or the image holds no EIF); 2 usage.\n";

/* SHA-256 (hex) and size of the file at path; errors name what (the EIF in source). */
static int
eif_sha256 (const char *path, const char *source, char hex[65], uint64_t *size, enclaver_error_t *err)
{
  unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  ssize_t n;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return enclaver_make_error (err, errno, "%s: cannot read the extracted EIF: %s", source, strerror (errno));
  EVP_MD_CTX *c = EVP_MD_CTX_new ();
  if (c == NULL || EVP_DigestInit_ex (c, EVP_sha256 (), NULL) != 1)
    abort ();
  *size = 0;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      EVP_DigestUpdate (c, buf, (size_t) n);
      *size += (uint64_t) n;
    }
  int e = errno;
  close (fd);
  EVP_DigestFinal_ex (c, md, &len);
  EVP_MD_CTX_free (c);
  if (n < 0)
    return enclaver_make_error (err, e, "%s: cannot read the extracted EIF: %s", source, strerror (e));
  for (unsigned i = 0; i < len; i++)
    snprintf (hex + 2 * i, 3, "%02x", md[i]);
  return 0;
}

/* `enclaver image pcrs SOURCE` (Enclaver #38): the labels are what a relying party reads
 * without the EIF; print them only once the EIF they describe agrees. */
static int
image_pcrs (const char *source, const struct enclaver_image_options *o, int json)
{
  struct cli_image_eif w;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  int rc = EXIT_FAIL;
  memset (&w, 0, sizeof w);
  memset (&info, 0, sizeof info);
  if (cli_image_eif_open (&w, "image", source, o, &err) < 0)
    goto out;
  if (enclaver_eif_read (w.eif, 0, &info, &err) < 0 || enclaver_eif_check (&info, &err) < 0)
    goto out;
  if (w.pcr_label[0] == NULL || w.pcr_label[1] == NULL || w.pcr_label[2] == NULL)
    {
      enclaver_make_error (&err, EINVAL,
                           "%s: no dev.enclaver.pcr0/1/2 labels: not a release image of `enclaver build` "
                           "(`enclaver describe` prints an EIF's PCRs)",
                           source);
      goto out;
    }
  if (info.measurements.has_pcr8 && w.pcr_label[8] == NULL)
    {
      enclaver_make_error (&err, EINVAL, "%s: the EIF is signed but the image has no dev.enclaver.pcr8 label",
                           source);
      goto out;
    }
  if (cli_image_eif_check_labels (&w, &info.measurements, &err) < 0)
    goto out;
  if (json)
    {
      char hex[65];
      uint64_t size;
      if (eif_sha256 (w.eif, source, hex, &size, &err) < 0)
        goto out;
      json_t *doc = json_object ();
      json_object_set_new (doc, "Measurements", measurements_json (&info.measurements));
      json_object_set_new (doc, "Eif", json_pack ("{s:s, s:s, s:I}", "Path", "/enclave/application.eif", "Sha256",
                                                  hex, "Size", (json_int_t) size));
      json_object_set_new (doc, "Image", json_pack ("{s:s, s:s?}", "Source", source, "Digest", w.digest));
      print_json (doc);
      json_decref (doc);
    }
  else
    print_measurements (&info.measurements);
  rc = EXIT_OK;
out:
  if (err)
    rc = cli_fail (&err);
  enclaver_eif_info_clear (&info);
  cli_image_eif_clear (&w);
  return rc;
}

enum
{
  OPT_PLATFORM = 0x100,
  OPT_CACHE_DIR,
  OPT_JOBS,
  OPT_PULL,
  OPT_OFFLINE,
  OPT_INSECURE,
  OPT_CA_CERT,
  OPT_CERT_DIR,
  OPT_CREDS,
  OPT_JSON,
  OPT_NO_PROGRESS,
  OPT_UNREFERENCED,
  OPT_ALL,
  OPT_BLOB_TIMEOUT,
};

static void
human_size (uint64_t b, char *buf, size_t n)
{
  if (b >= 1000000000ull)
    snprintf (buf, n, "%.2f GB", (double) b / 1e9);
  else if (b >= 1000000)
    snprintf (buf, n, "%.1f MB", (double) b / 1e6);
  else if (b >= 1000)
    snprintf (buf, n, "%.1f kB", (double) b / 1e3);
  else
    snprintf (buf, n, "%llu B", (unsigned long long) b);
}

static json_t *
report_json (const struct enclaver_cache_report *r, int verify)
{
  json_t *items = json_array ();
  for (size_t i = 0; i < r->n_items; i++)
    {
      const struct enclaver_cache_item *it = &r->items[i];
      json_t *o = json_pack ("{s:s, s:s, s:I}", "Path", it->path, "Kind", it->kind, "Size", (json_int_t) it->size);
      if (it->detail)
        json_object_set_new (o, "Detail", json_string (it->detail));
      json_array_append_new (items, o);
    }
  json_t *o = json_pack ("{s:s, s:o, s:I, s:I}", "Cache", r->root ? r->root : "", verify ? "Corrupt" : "Removed",
                         items, "Files", (json_int_t) r->n_items, "Bytes", (json_int_t) r->bytes);
  if (verify)
    {
      json_object_set_new (o, "Checked", json_integer ((json_int_t) r->checked));
      json_object_set_new (o, "CheckedBytes", json_integer ((json_int_t) r->checked_bytes));
    }
  return o;
}

/* enclaver image cache prune|verify */
static int
image_cache (const char *what, const char *cache_dir, int mode, int json)
{
  struct enclaver_cache_report r;
  enclaver_error_t err = NULL;
  int verify = strcmp (what, "verify") == 0, n;
  char a[32], b[32];

  n = verify ? enclaver_image_cache_verify (cache_dir, &r, &err)
             : enclaver_image_cache_prune (cache_dir, mode, &r, &err);
  if (n < 0)
    {
      enclaver_cache_report_clear (&r);
      return cli_fail (&err);
    }
  if (json)
    {
      json_t *o = report_json (&r, verify);
      char *s = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
      printf ("%s\n", s);
      free (s);
      json_decref (o);
    }
  else
    {
      for (size_t i = 0; i < r.n_items; i++)
        {
          human_size (r.items[i].size, a, sizeof a);
          if (verify)
            printf ("corrupt, removed: %s (%s, %s)\n", r.items[i].path, a, r.items[i].detail);
          else
            printf ("removed %s %s (%s)\n", r.items[i].kind, r.items[i].path, a);
        }
      human_size (r.bytes, a, sizeof a);
      if (verify)
        {
          human_size (r.checked_bytes, b, sizeof b);
          printf ("%s: checked %zu blob%s (%s): %zu corrupt, %s freed\n", r.root, r.checked,
                  r.checked == 1 ? "" : "s", b, r.n_items, a);
        }
      else
        printf ("%s: removed %zu file%s, %s freed\n", r.root, r.n_items, r.n_items == 1 ? "" : "s", a);
    }
  fflush (stdout);
  enclaver_cache_report_clear (&r);
  return verify && n > 0 ? EXIT_FAIL : EXIT_OK;
}

int
cmd_image (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "blob-timeout", required_argument, NULL, OPT_BLOB_TIMEOUT },
    { "pull", no_argument, NULL, OPT_PULL },
    { "offline", no_argument, NULL, OPT_OFFLINE },
    { "insecure-registry", required_argument, NULL, OPT_INSECURE },
    { "ca-cert", required_argument, NULL, OPT_CA_CERT },
    { "cert-dir", required_argument, NULL, OPT_CERT_DIR },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "json", no_argument, NULL, OPT_JSON },
    { "output", required_argument, NULL, 'o' },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "unreferenced", no_argument, NULL, OPT_UNREFERENCED },
    { "all", no_argument, NULL, OPT_ALL },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  struct enclaver_image_options o;
  if (argc > 1 && strcmp (argv[1], "copy") == 0)
    return cmd_image_copy (argc - 1, argv + 1);
  const char **insecure = xmalloc0 (sizeof *insecure * (size_t) (argc + 1));
  size_t n_insecure = 0;
  int json = 0, out_json = 0, out_opt = 0, c, rc = EXIT_FAIL, prune_mode = ENCLAVER_CACHE_PRUNE_TEMPORARIES, prune_opt = 0;
  enclaver_error_t err = NULL;
  struct enclaver_image *img = NULL;

  enclaver_image_options_init (&o);
  o.insecure_registries = insecure;
  while ((c = cli_getopt (argc, argv, "ho:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
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
        case OPT_BLOB_TIMEOUT:
          if ((rc = cli_parse_blob_timeout ("image", optarg, &o.blob_timeout)) != 0)
            goto out;
          rc = EXIT_FAIL;
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
        case OPT_CERT_DIR:
          o.cert_dir = optarg;
          break;
        case OPT_CREDS:
          if (strchr (optarg, ':') == NULL || optarg[0] == ':')
            {
              rc = cli_usage_error ("image", "--creds: give USER:PASSWORD");
              goto out;
            }
          o.creds = optarg;
          break;
        case OPT_JSON:
          json = 1;
          break;
        case 'o':
          if (strcmp (optarg, "json") != 0 && strcmp (optarg, "pcrs") != 0)
            {
              rc = cli_usage_error ("image", "--output: '%s' is not 'pcrs' or 'json'", optarg);
              goto out;
            }
          out_json = strcmp (optarg, "json") == 0;
          out_opt = 1;
          break;
        case OPT_NO_PROGRESS:
          o.progress = 0;
          break;
        case OPT_UNREFERENCED:
        case OPT_ALL:
          if (prune_opt && prune_opt != c)
            {
              rc = cli_usage_error ("image", "--unreferenced and --all exclude each other");
              goto out;
            }
          prune_opt = c;
          prune_mode = c == OPT_ALL ? ENCLAVER_CACHE_PRUNE_ALL : ENCLAVER_CACHE_PRUNE_UNREFERENCED;
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
      rc = cli_usage_error ("image", "missing command (inspect, pull, pcrs or cache)");
      goto out;
    }
  const char *sub = argv[optind];
  int inspect = strcmp (sub, "inspect") == 0, pull = strcmp (sub, "pull") == 0,
      pcrs = strcmp (sub, "pcrs") == 0;
  if (strcmp (sub, "cache") == 0)
    {
      const char *what = optind + 1 < argc ? argv[optind + 1] : NULL;
      if (what == NULL || (strcmp (what, "prune") != 0 && strcmp (what, "verify") != 0))
        rc = what ? cli_usage_error ("image", "cache: unknown command '%s' (prune or verify)", what)
                  : cli_usage_error ("image", "cache: missing command (prune or verify)");
      else if (optind + 2 < argc)
        rc = cli_usage_error ("image", "unexpected argument '%s'", argv[optind + 2]);
      else if (prune_opt && strcmp (what, "prune") != 0)
        rc = cli_usage_error ("image", "cache %s: --unreferenced and --all are options of cache prune", what);
      else
        rc = image_cache (what, o.cache_dir, prune_mode, json);
      goto out;
    }
  if (prune_opt)
    {
      rc = cli_usage_error ("image", "%s: --unreferenced and --all are options of cache prune", sub);
      goto out;
    }
  if (out_opt && !pcrs && (inspect || pull))
    {
      rc = cli_usage_error ("image", "%s: -o/--output is an option of image pcrs (inspect prints JSON; pull "
                            "takes --json)", sub);
      goto out;
    }
  if (!inspect && !pull && !pcrs)
    {
      rc = cli_usage_error ("image", "unknown command '%s' (inspect, pull, pcrs or cache)", sub);
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
  if (pcrs)
    {
      rc = image_pcrs (argv[optind + 1], &o, out_json);
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
