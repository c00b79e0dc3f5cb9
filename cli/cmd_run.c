/* enclaver run: start an enclave and stay with it until it ends, as `docker run` does
 * for a container.  The front end of the host launcher (runtime/host/launcher.h): it
 * finds the EIF (through its run_frontend, cli/run.h: `enclaver run` reads an .eif, a
 * wrapper image in any form `enclaver image` reads, or the manifest's build output /
 * target; the release image's static enclaver-run only the EIF and manifest it carries),
 * checks its signature and PCRs before anything starts, settles the enclave's size from
 * the flags, the manifest's defaults or Enclaver's, and hands it to the Nitro backend
 * (/dev/nitro_enclaves) or, with --qemu, to the QEMU backend (emulation).
 * Nothing here links the image code (libarchive, curl): the front ends bring it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>
#include <enclaver/manifest.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "cli/run.h"
#include "util.h"

#include "backend-qemu.h"
#include "ingress.h"
#include "launcher.h"
#include "ne.h"
#include "services.h"

const char cli_run_help[] =
  "Usage: enclaver run [OPTIONS] [EIF_OR_IMAGE]\n"
  "\n"
  "Start an enclave and stay with it until it ends, like `docker run`: its status and\n"
  "log streams are followed, the app's output goes to stderr, its exit becomes the exit\n"
  "code, and SIGTERM/SIGINT stop it gracefully (the app gets SIGTERM and its stop\n"
  "timeout; a second signal ends the enclave at once).\n"
  "\n"
  "On a Nitro instance the enclave is started through /dev/nitro_enclaves.  --qemu boots\n"
  "it under QEMU instead, to try an image anywhere: that is EMULATION, with no\n"
  "attestation and no isolation (the EIF is unchanged; the kernel command line gets\n"
  "emulation keys, and the initrd the virtio modules of the user-mode NIC that carries\n"
  "the vsock ports).\n"
  "\n"
  "EIF_OR_IMAGE is an .eif file, or a wrapper image made by `enclaver build` in any form\n"
  "`enclaver image` reads (a file or directory, told apart by its bytes; oci:DIR,\n"
  "oci-archive:FILE, docker-archive:FILE, dir:DIR, docker-daemon:NAME, or a registry\n"
  "reference, pulled through the cache).  A path that does not exist is an error at once,\n"
  "never a registry lookup.  A wrapper image's enclave/enclaver.yaml gives the defaults,\n"
  "and its PCR labels are checked against the EIF inside it.  Without EIF_OR_IMAGE the\n"
  "manifest (-f, default ./enclaver.yaml) names it: its build output\n"
  "(output.image.destination, else <manifest dir>/<name>-image[.tar], else the EIF) when\n"
  "that exists, else its `target`.\n"
  "\n"
  "Options:\n"
  "  -f, --file FILE            the manifest naming the image (not with EIF_OR_IMAGE)\n"
  "      --eif-path FILE        the EIF to run (nitro-cli's spelling of EIF_OR_IMAGE)\n"
  "      --pull POLICY          always | missing (default) | never: when to fetch the image\n"
  RUN_OPTIONS_HELP
  CLI_HELP_REGISTRY_OPTIONS
  CLI_COMMON_HELP
  "  -h, --help                 this help\n"
  "\n"
  RUN_EXIT_HELP;

enum
{
  RUN_OPT_QEMU = 0x100,
  RUN_OPT_CPUS,
  RUN_OPT_CPU_IDS,
  RUN_OPT_CID,
  RUN_OPT_NAME,
  RUN_OPT_TIMEOUT,
  RUN_OPT_QEMU_BIN,
  RUN_OPT_CONSOLE,
  RUN_OPT_EIF_PATH,
  RUN_OPT_PULL,
  RUN_OPT_VERIFY_PCRS,
  RUN_OPT_INSECURE,
};

/* The build output of manifest m, when it exists: the wrapper image, else the EIF. */
static char *
local_build_output (const struct enclaver_manifest *m)
{
  const char *fmt = m->output_image_format ? m->output_image_format : "oci";
  cleanup_free char *img = NULL, *eif = NULL;
  struct stat st;

  if (m->output_image_dest)
    img = m->output_image_dest[0] == '/' ? xstrdup (m->output_image_dest)
                                         : xasprintf ("%s/%s", m->dir, m->output_image_dest);
  else
    img = xasprintf ("%s/%s-image%s", m->dir, m->name, strcmp (fmt, "docker-archive") == 0 ? ".tar" : "");
  if (strcmp (fmt, "registry") != 0 && stat (img, &st) == 0)
    {
      if (S_ISDIR (st.st_mode))
        return xasprintf ("oci:%s", img);
      return xasprintf ("%s:%s", fmt, img);
    }
  if (m->output_eif)
    eif = m->output_eif[0] == '/' ? xstrdup (m->output_eif) : xasprintf ("%s/%s", m->dir, m->output_eif);
  else
    eif = xasprintf ("%s/%s.eif", m->dir, m->name);
  if (stat (eif, &st) == 0 && S_ISREG (st.st_mode))
    {
      char *r = eif;
      eif = NULL;
      return r;
    }
  return NULL;
}

/* "2,3" or "2-5,8": CPU ids, at most 256. */
static int
parse_cpu_ids (const char *s, uint32_t **out, size_t *n)
{
  uint32_t *ids = NULL;
  size_t k = 0;
  const char *p = s;

  while (*p)
    {
      char *end;
      unsigned long a = strtoul (p, &end, 10), b;
      if (end == p)
        goto bad;
      b = a;
      if (*end == '-')
        {
          p = end + 1;
          b = strtoul (p, &end, 10);
          if (end == p || b < a)
            goto bad;
        }
      if (b > 4095 || k + (b - a + 1) > 256)
        goto bad;
      for (unsigned long c = a; c <= b; c++)
        {
          ids = xreallocarray (ids, k + 1, sizeof *ids);
          ids[k++] = (uint32_t) c;
        }
      if (*end == ',')
        end++;
      else if (*end != '\0')
        goto bad;
      p = end;
    }
  if (k == 0)
    goto bad;
  *out = ids;
  *n = k;
  return 0;
bad:
  free (ids);
  return -1;
}

/* The EIF's PCRs against the wrapper image's labels and the --verify-pcrs file. */
static int
check_pcrs (const struct run_frontend *fe, const char *eif, const struct enclaver_eif_measurements *m,
            const struct run_source *src, const char *pcrs_file, enclaver_error_t *err)
{
  static const int idx[] = { 0, 1, 2, 8 };
  struct cli_expected_pcrs ex;
  json_t *keep = NULL;
  int rc = 0;

  if (fe->check && fe->check (src, m, err) < 0)
    return -1;
  if (pcrs_file == NULL)
    return 0;
  memset (&ex, 0, sizeof ex);
  if (cli_load_pcrs_file (fe->cmd, pcrs_file, &ex, &keep) != 0)
    return enclaver_make_error (err, EINVAL, "--verify-pcrs %s: cannot be used", pcrs_file);
  for (size_t i = 0; i < ARRAY_SIZE (idx) && rc == 0; i++)
    {
      int n = idx[i];
      const uint8_t *have = cli_pcr_of (m, n);
      char hex[ENCLAVER_PCR_HEX_SIZE] = "";
      if (ex.hex[n] == NULL)
        continue;
      if (enclaver_pcr_from_hex (ex.hex[n], ex.val[n]) < 0)
        rc = enclaver_make_error (err, EINVAL, "--verify-pcrs %s: PCR%d '%s' is not 96 hex digits", pcrs_file, n,
                                  ex.hex[n]);
      else if (have == NULL || memcmp (have, ex.val[n], ENCLAVER_PCR_SIZE) != 0)
        {
          if (have)
            enclaver_pcr_to_hex (have, hex);
          rc = enclaver_make_error (err, EINVAL, "%s: PCR%d is %s, but %s expects %s; refusing to start", eif, n,
                                    have ? hex : "absent (unsigned EIF)", pcrs_file, ex.hex[n]);
        }
    }
  json_decref (keep);
  return rc;
}

int
run_main (const struct run_frontend *fe, int argc, char **argv)
{
  static const struct option longopts[] = {
    { "qemu", no_argument, NULL, RUN_OPT_QEMU },
    { "file", required_argument, NULL, 'f' },
    { "eif-path", required_argument, NULL, RUN_OPT_EIF_PATH },
    { "pull", required_argument, NULL, RUN_OPT_PULL },
    { "memory-mb", required_argument, NULL, 'm' },
    { "memory", required_argument, NULL, 'm' },
    { "cpu-count", required_argument, NULL, RUN_OPT_CPUS },
    { "cpu-ids", required_argument, NULL, RUN_OPT_CPU_IDS },
    { "enclave-cid", required_argument, NULL, RUN_OPT_CID },
    { "name", required_argument, NULL, RUN_OPT_NAME },
    { "timeout", required_argument, NULL, RUN_OPT_TIMEOUT },
    { "qemu-binary", required_argument, NULL, RUN_OPT_QEMU_BIN },
    { "console", no_argument, NULL, RUN_OPT_CONSOLE },
    { "attach-console", no_argument, NULL, RUN_OPT_CONSOLE },
    { "debug-mode", no_argument, NULL, 'd' },
    { "verify-pcrs", required_argument, NULL, RUN_OPT_VERIFY_PCRS },
    { "output", required_argument, NULL, 'o' },
    { "insecure-registry", required_argument, NULL, RUN_OPT_INSECURE },
    { "publish", required_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int c, qemu = 0, console = 0, debug = 0, json = 0, rc;
  long mem = 0, cpus = 0, timeout = 0;
  unsigned long long cid = 0;
  const char *qemu_bin = NULL, *input = NULL, *manifest_file = NULL, *eif_path = NULL, *name = NULL;
  const char *verify_pcrs = NULL;
  cleanup_free char *eif = NULL, *from_manifest = NULL, *pcr0 = NULL, *default_name = NULL;
  cleanup_free uint32_t *cpu_ids = NULL;
  cleanup_free struct host_ingress *ingress = NULL;
  const char **insecure = xmalloc0 (sizeof *insecure * (size_t) (argc + 1));
  cleanup_free const char **publish = xmalloc0 (sizeof *publish * (size_t) (argc + 1));
  size_t n_cpu_ids = 0, n_insecure = 0, n_publish = 0;
  struct run_fetch_options fo;
  struct enclaver_manifest *m = NULL;
  struct enclaver_eif_info info;
  struct run_source src;
  struct host_run_config cfg;
  char *dev_ca_dir = NULL;
  struct host_backend *b = NULL;
  enclaver_error_t err = NULL;
  json_t *mjson = NULL;
  struct stat st;

  memset (&info, 0, sizeof info);
  memset (&src, 0, sizeof src);
  memset (&fo, 0, sizeof fo);
  memset (&cfg, 0, sizeof cfg);
  fo.insecure = insecure;
  while ((c = cli_getopt (argc, argv, "df:hm:o:p:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      char *end;
      switch (c)
        {
        case RUN_OPT_QEMU:
          qemu = 1;
          break;
        case 'f':
          manifest_file = optarg;
          break;
        case RUN_OPT_EIF_PATH:
          eif_path = optarg;
          break;
        case RUN_OPT_PULL:
          if (fe->standalone)
            {
              cli_usage_error (fe->cmd, "--pull: %s runs the EIF it was given; nothing is pulled", fe->cmd);
              goto usage;
            }
          if (strcmp (optarg, "always") == 0)
            fo.pull = 1;
          else if (strcmp (optarg, "never") == 0)
            fo.offline = 1;
          else if (strcmp (optarg, "missing") != 0)
            {
              cli_usage_error (fe->cmd, "--pull: '%s' is not always, missing or never", optarg);
              goto usage;
            }
          break;
        case 'm':
          mem = strtol (optarg, &end, 10);
          if (*end || mem < 64 || mem > 1048576)
            {
              cli_usage_error (fe->cmd, "--memory-mb: '%s' is not a number of MiB from 64 to 1048576", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_CPUS:
          cpus = strtol (optarg, &end, 10);
          if (*end || cpus < 1 || cpus > 256)
            {
              cli_usage_error (fe->cmd, "--cpu-count: '%s' is not a number from 1 to 256", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_CPU_IDS:
          free (cpu_ids);
          cpu_ids = NULL;
          if (parse_cpu_ids (optarg, &cpu_ids, &n_cpu_ids) < 0)
            {
              cli_usage_error (fe->cmd, "--cpu-ids: '%s' is not a list of CPU ids such as 2,3 or 2-5", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_CID:
          errno = 0;
          cid = strtoull (optarg, &end, 10);
          if (errno || *end || cid < 4 || cid > 0xFFFFFFFEull)
            {
              cli_usage_error (fe->cmd, "--enclave-cid: '%s' is not a CID from 4 to 4294967294 (0-3 and "
                                      "4294967295 are reserved)", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_NAME:
          if (*optarg == '\0' || strlen (optarg) > 63 || strspn (optarg, "abcdefghijklmnopqrstuvwxyz"
                                                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
                                                               != strlen (optarg))
            {
              cli_usage_error (fe->cmd, "--name: '%s' must be 1-63 letters, digits, '.', '_' or '-'", optarg);
              goto usage;
            }
          name = optarg;
          break;
        case RUN_OPT_TIMEOUT:
          timeout = strtol (optarg, &end, 10);
          if (*end || timeout < 1)
            {
              cli_usage_error (fe->cmd, "--timeout: '%s' is not a positive number of seconds", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_QEMU_BIN:
          qemu_bin = optarg;
          break;
        case RUN_OPT_CONSOLE:
          console = 1;
          break;
        case 'd':
          debug = 1;
          break;
        case RUN_OPT_VERIFY_PCRS:
          verify_pcrs = optarg;
          break;
        case 'o':
          if (strcmp (optarg, "json") == 0)
            json = 1;
          else if (strcmp (optarg, "text") != 0)
            {
              cli_usage_error (fe->cmd, "--output: '%s' is not text or json", optarg);
              goto usage;
            }
          break;
        case RUN_OPT_INSECURE:
          if (fe->standalone)
            {
              cli_usage_error (fe->cmd, "--insecure-registry: %s talks to no registry", fe->cmd);
              goto usage;
            }
          insecure[n_insecure++] = optarg;
          break;
        case 'p':
          if (host_ingress_publish_check (optarg, &err) < 0)
            {
              cli_usage_error (fe->cmd, "%s", err->msg);
              enclaver_error_release (&err);
              goto usage;
            }
          publish[n_publish++] = optarg;
          break;
        case 'h':
          cli_help (stdout, fe->help);
          free (insecure);
          return EXIT_OK;
        default:
          cli_usage_error (fe->cmd, "invalid option");
          goto usage;
        }
    }
  if (optind + 1 < argc)
    {
      cli_usage_error (fe->cmd, "expected one EIF or image, got %d arguments", argc - optind);
      goto usage;
    }
  if (optind < argc)
    input = argv[optind];
  if (eif_path && input)
    {
      cli_usage_error (fe->cmd, "--eif-path and an image argument both name what to run; give one");
      goto usage;
    }
  if (eif_path)
    input = eif_path;
  if (input && manifest_file && !fe->standalone)
    {
      cli_usage_error (fe->cmd, "-f names the image through the manifest; do not give an image too");
      goto usage;
    }

  fo.manifest = manifest_file;
  if (input == NULL && !fe->standalone)
    {
      /* As Enclaver: the manifest's image (its local build output, else `target`). */
      const char *mf = manifest_file ? manifest_file : "enclaver.yaml";
      m = enclaver_manifest_load_ex (mf, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
      if (m == NULL)
        {
          if (manifest_file == NULL && access (mf, F_OK) != 0)
            {
              enclaver_error_release (&err);
              cli_usage_error (fe->cmd, "no EIF or image given, and no enclaver.yaml here to name one");
              goto usage;
            }
          goto fail;
        }
      from_manifest = local_build_output (m);
      if (from_manifest)
        enclaver_log_info ("running %s, the build output of %s", from_manifest, mf);
      else if (m->target && *m->target)
        {
          from_manifest = xstrdup (m->target);
          enclaver_log_info ("running %s, the target of %s", from_manifest, mf);
        }
      else
        {
          cli_usage_error (fe->cmd, "%s names no target image and has no build output; give an image", mf);
          goto usage;
        }
      input = from_manifest;
    }

  if (fe->open (&src, input, &fo, &err) < 0)
    goto fail;
  eif = xstrdup (src.eif);
  if (src.manifest)
    {
      /* The wrapper image's own manifest gives the defaults of the enclave it carries. */
      enclaver_manifest_free (m);
      m = enclaver_manifest_load_ex (src.manifest, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
      if (m == NULL)
        {
          if (!fe->standalone)
            enclaver_error_wrap (&err, "%s: enclave/enclaver.yaml", input);
          goto fail;
        }
    }

  /* A signed EIF's signature is checked here, as describe and verify do; the PCRs before
     anything starts (Enclaver #35). */
  if (enclaver_eif_read (eif, 0, &info, &err) < 0 || enclaver_eif_check (&info, &err) < 0)
    goto fail;
  if (check_pcrs (fe, eif, &info.measurements, &src, verify_pcrs, &err) < 0)
    goto fail;
  if (stat (eif, &st) < 0)
    {
      enclaver_make_errno (&err, errno, "%s", eif);
      goto fail;
    }

  pcr0 = xmalloc (ENCLAVER_PCR_HEX_SIZE);
  enclaver_pcr_to_hex (info.measurements.pcr0, pcr0);
  if (name == NULL && m && m->name && *m->name)
    name = m->name;
  if (name == NULL)
    {
      const char *from = input ? input : src.eif, *base = strrchr (from, '/');
      size_t len;
      base = base ? base + 1 : from;
      len = strcspn (base, ":@");
      if (len > 4 && strncmp (base + len - 4, ".eif", 4) == 0)
        len -= 4;
      default_name = len ? xstrndup (base, len) : xstrdup ("enclave");
      for (char *p = default_name; *p; p++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
          *p = '-';
      name = default_name;
    }
  cfg.name = name;
  cfg.eif_path = eif;
  cfg.eif_size = (uint64_t) st.st_size;
  cfg.arch = (info.flags & 1) ? "aarch64" : "x86_64";
  cfg.pcr0 = pcr0;
  cfg.image_digest = src.digest;
  cfg.memory_mib = (uint64_t) (mem ? mem : m ? (long) m->memory_mb : 4096);
  cfg.cpu_count = (uint32_t) (cpus ? cpus : n_cpu_ids ? (long) n_cpu_ids : m ? (long) m->cpu_count : 2);
  cfg.cpu_ids = cpu_ids;
  cfg.n_cpu_ids = n_cpu_ids;
  cfg.enclave_cid = cid;
  cfg.debug_mode = debug;
  cfg.status_port = m && m->status_port ? m->status_port : HOST_PORT_STATUS;
  cfg.log_port = m && m->app_log_port ? m->app_log_port : HOST_PORT_LOG;
  cfg.egress_port = m && m->http_egress_port ? m->http_egress_port : HOST_PORT_EGRESS;
  cfg.has_egress = m ? m->has_egress : 0;
  if (m && m->n_ingress)
    {
      ingress = xmalloc0 (m->n_ingress * sizeof *ingress);
      for (size_t i = 0; i < m->n_ingress; i++)
        ingress[i].listen_port = m->ingress[i].listen_port;
      cfg.ingress = ingress;
      cfg.n_ingress = m->n_ingress;
    }
  for (size_t i = 0; i < n_publish; i++)
    if (host_ingress_publish (ingress, cfg.n_ingress, publish[i], &err) < 0)
      goto fail;
  if (m)
    {
      /* The host services read the policy of what they launched (defence in depth). */
      cleanup_free char *text = enclaver_manifest_to_json (m, &err);
      if (text == NULL || (mjson = json_loads (text, 0, NULL)) == NULL)
        {
          if (err == NULL)
            enclaver_make_error (&err, EINVAL, "cannot convert the manifest to JSON");
          goto fail;
        }
      cfg.manifest = mjson;
    }
  cfg.services = host_services;
  cfg.json_events = json;
  cfg.timeout_s = (int) timeout;
  if (n_cpu_ids && cpus && (size_t) cpus != n_cpu_ids)
    {
      cli_usage_error (fe->cmd, "--cpu-count %ld and --cpu-ids with %zu CPUs disagree; give one", cpus, n_cpu_ids);
      goto usage;
    }

  if (qemu)
    {
      struct host_qemu_options qo;
      memset (&qo, 0, sizeof qo);
      qo.qemu_binary = qemu_bin;
      qo.console = console || debug;
      b = host_backend_qemu_new (&qo);
      /* The emulated NSM (runtime/host/nsm-emu.c): the EIF's PCRs (all zero in debug
       * mode, as on Nitro), signed by a development CA kept across runs. */
      {
        const char *d = getenv ("ENCLAVER_DEV_CA_DIR"), *x = getenv ("XDG_DATA_HOME"), *h = getenv ("HOME");
        if (d && *d)
          dev_ca_dir = xstrdup (d);
        else if (x && *x == '/')
          dev_ca_dir = xasprintf ("%s/enclaver/dev-ca", x);
        else if (h && *h == '/')
          dev_ca_dir = xasprintf ("%s/.local/share/enclaver/dev-ca", h);
        else
          dev_ca_dir = xasprintf ("/tmp/enclaver-dev-ca-%lu", (unsigned long) getuid ());
        cfg.nsm_emu_ca_dir = dev_ca_dir;
        if (!debug)
          {
            memcpy (cfg.nsm_emu_pcr[0], info.measurements.pcr0, ENCLAVER_PCR_SIZE);
            memcpy (cfg.nsm_emu_pcr[1], info.measurements.pcr1, ENCLAVER_PCR_SIZE);
            memcpy (cfg.nsm_emu_pcr[2], info.measurements.pcr2, ENCLAVER_PCR_SIZE);
            if (info.measurements.has_pcr8)
              memcpy (cfg.nsm_emu_pcr[8], info.measurements.pcr8, ENCLAVER_PCR_SIZE);
          }
      }
      enclaver_log_info ("booting %s under QEMU with %llu MiB and %u CPU%s (emulation: no isolation; "
                         "attestation by an emulated NSM that proves nothing)", eif, (unsigned long long) cfg.memory_mib, cfg.cpu_count,
                         cfg.cpu_count == 1 ? "" : "s");
    }
  else
    {
      if (qemu_bin)
        {
          cli_usage_error (fe->cmd, "--qemu-binary needs --qemu");
          goto usage;
        }
      b = host_backend_nitro_new (NULL, NULL);
    }
  if (b == NULL)
    {
      enclaver_make_error (&err, ENOMEM, "cannot set up the %s backend", qemu ? "qemu" : "nitro");
      goto fail;
    }
  rc = host_run (b, &cfg, &err);
  b->destroy (b);
  if (rc < 0)
    rc = cli_fail (&err);
  goto out;

usage:
  rc = EXIT_USAGE;
  goto out;
fail:
  rc = cli_fail (&err);
out:
  json_decref (mjson);
  enclaver_eif_info_clear (&info);
  enclaver_manifest_free (m);
  fe->clear (&src);
  free (insecure);
  free (dev_ca_dir);
  return rc;
}
