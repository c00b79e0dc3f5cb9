/* enclaver build: run the pipeline described by enclaver.yaml. */
#include "config.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <enclaver/build.h>
#include <enclaver/image.h>
#include <enclaver/log.h>
#include <enclaver/lua.h>
#include <enclaver/manifest.h>
#include <enclaver/pipeline.h>
#include <enclaver/tempfiles.h>
#include "cli/build-multi.h"
#include "cli/build-push.h"
#include "cli/commands.h"
#include "util.h"

static const char build_help[] =
  "Usage: enclaver build [-f enclaver.yaml] [OPTIONS]\n"
  "\n"
  "Compile the container image named by sources.app into an AWS Nitro Enclave Image\n"
  "File (EIF) and a wrapper image, then print the PCR measurements as JSON on stdout.\n"
  "The work is a pipeline of stage plugins: by default fetch, flatten, inject, measure,\n"
  "emit-eif, emit-image; the manifest's `pipeline:` key replaces it.  Outputs are\n"
  "written under temporary names and renamed only when every stage succeeded.\n"
  "\n"
  "Options:\n"
  "  -f, --file FILE            manifest to build (default enclaver.yaml; '-' = stdin)\n"
  "      --from IMAGE           use IMAGE instead of sources.app (also ENCLAVER_FROM)\n"
  "      --eif-only PATH        build only the EIF, written to PATH\n"
  "      --platform OS/ARCH[/V] image platform to pick from an index (default: host); a\n"
  "                             comma list (linux/amd64,linux/arm64) builds one EIF per\n"
  "                             platform, NAME-x86_64.eif, NAME-aarch64.eif, and one\n"
  "                             multi-platform release image (docs/cross-arch.md)\n"
  "      --pull                 re-resolve every tag, ignoring cached manifests\n"
  "      --offline              never use the network (the cache must have everything)\n"
  "      --cache-dir DIR        blob cache (default $XDG_CACHE_HOME/enclaver)\n"
  "      --jobs N               parallel blob downloads (default 4)\n"
  CLI_HELP_BLOB_TIMEOUT
  CLI_HELP_REGISTRY_OPTIONS
  "      --ca-cert FILE         extra CA bundle for registry TLS\n"
  "      --no-progress          no download progress bar on the terminal\n"
  "      --kernel-dir DIR       kernel blobs directory (nitro-cli layout)\n"
  "      --lenient              turn harmless image oddities into warnings\n"
  "      --hook FILE            run the Lua hook script FILE too (repeatable; after the\n"
  "                             manifest's hooks:)\n"
  "      --lua-memory SIZE      memory cap of each Lua script (default 64M; manifest\n"
  "                             lua.memory_mb)\n"
  "      --lua-instructions N   instruction budget of each Lua call (default 500000000;\n"
  "                             manifest lua.instructions)\n"
  "      --output-dir DIR       where outputs go when the manifest does not name them:\n"
  "                             <name>.eif, <name>-image[.tar] and Lua's write_output()\n"
  "                             (default: the manifest's directory; created if missing)\n"
  "  -o, --output FORMAT        'pcrs' (default): {\"Measurements\":{...}} as nitro-cli\n"
  "                             prints it; 'json': also Sources, BuildTime, Eif {Path,\n"
  "                             Sha256,Size} and Image {Path,Format,Tag,Digest}\n"
  "      --set-param KEY=VALUE  set a build parameter for custom stages (repeatable)\n"
  "      --stage-opt STAGE.KEY=VALUE\n"
  "                             set option KEY of the pipeline's stage STAGE, over the\n"
  "                             manifest's (repeatable; e.g. pcr-pin.update=true)\n"
  "      --label KEY=VALUE      a label and annotation of the release image (repeatable),\n"
  "                             e.g. org.opencontainers.image.source=URL, .revision=SHA,\n"
  "                             .version=V; the dev.enclaver.* keys are the build's own\n"
  "      --push                 push the release image to the manifest's target (also\n"
  "                             output.push: true; output.image.format: registry pushes\n"
  "                             to output.image.destination); prints its digest in the\n"
  "                             log and, with -o json, as Push {Destination, Digest}\n"
  "      --push-format FORMAT   oci or docker media types for the push (default: oci)\n"
  "      --digestfile FILE      write the pushed manifest digest to FILE\n"
  "      --creds USER:PASSWORD  registry credentials (default: the credential files)\n"
  "      --cert-dir DIR         registry TLS settings DIR/HOST[:PORT]/{*.crt, *.cert,\n"
  "                             *.key} for pulls and the push (default\n"
  "                             /etc/containers/certs.d, then /etc/docker/certs.d)\n"
  CLI_COMMON_HELP
  "  -h, --help                 this help\n"
  "\n"
  "Exit codes: 0 built; 1 the build failed (the error names the stage, file, key or\n"
  "layer at fault; no output is left behind); 2 usage error.\n";

enum
{
  OPT_FROM = 0x100,
  OPT_EIF_ONLY,
  OPT_PLATFORM,
  OPT_PULL,
  OPT_OFFLINE,
  OPT_CACHE_DIR,
  OPT_JOBS,
  OPT_INSECURE,
  OPT_CA_CERT,
  OPT_KERNEL_DIR,
  OPT_LENIENT,
  OPT_SET_PARAM,
  OPT_HOOK,
  OPT_LUA_MEMORY,
  OPT_LUA_INSTRUCTIONS,
  OPT_OUTPUT_DIR,
  OPT_NO_PROGRESS,
  OPT_PUSH,
  OPT_LABEL,
  OPT_PUSH_FORMAT,
  OPT_DIGESTFILE,
  OPT_CREDS,
  OPT_CERT_DIR,
  OPT_STAGE_OPT,
  OPT_BLOB_TIMEOUT,
};

static int
add_param (enclaver_ctx_t *ctx, const char *k, const char *v)
{
  enclaver_error_t err = NULL;
  if (enclaver_ctx_set_param (ctx, k, v, &err) < 0)
    return cli_fail (&err);
  return 0;
}

/* What the command line asked for, beyond the context's parameters. */
struct build_args
{
  const char *file, *from, *eif_only;
  char **hooks;
  json_t *labels;
  int push;
  struct cli_push_flags pf;
  /* The parameters given on the command line, for each platform's context. */
  char **keys;
  size_t n_keys;
  /* --stage-opt STAGE.KEY=VALUE, applied to every platform's pipeline. */
  struct enclaver_kv *stage_opts;
  size_t n_stage_opts;
};

static int
record_param (enclaver_ctx_t *ctx, struct build_args *a, const char *k, const char *v)
{
  a->keys = xreallocarray (a->keys, a->n_keys + 1, sizeof *a->keys);
  a->keys[a->n_keys++] = xstrdup (k);
  return add_param (ctx, k, v);
}

/* One pipeline run in CTX: load the manifest, build, push; prints the result unless
 * MULTI (one platform of several: cmd_build joins them).  Returns the exit code. */
static int
build_one (const struct build_args *a, enclaver_ctx_t *ctx, int multi)
{
  enclaver_loader_t *loader = NULL;
  enclaver_pipeline_t *pipeline = NULL;
  struct enclaver_manifest *m = NULL, *mp;
  enclaver_error_t err = NULL;
  const char *const *dirs;
  const char *dest = NULL, *file = a->file, *from = a->from, *eif_only = a->eif_only;
  char **hooks = a->hooks;
  int rc = EXIT_FAIL, push = a->push;
  const struct cli_push_flags *pfp = &a->pf;
  json_t *labels = a->labels;

  m = enclaver_manifest_load_ex (file, from && *from ? ENCLAVER_MANIFEST_NO_APP_REQUIRED : 0, &err);
  if (m == NULL)
    goto fail;
  if (from && *from && enclaver_manifest_set_app (m, from, &err) < 0)
    goto fail;
  cli_warn_unimplemented (m);
  if (add_param (ctx, "manifest-dir", m->dir))
    goto out;
  /* lua: limits from the manifest, unless given on the command line. */
  if (m->lua_memory_mb && !enclaver_ctx_get_param (ctx, "lua-memory"))
    {
      char v[32];
      snprintf (v, sizeof v, "%lldM", (long long) m->lua_memory_mb);
      if (add_param (ctx, "lua-memory", v))
        goto out;
    }
  if (m->lua_instructions && !enclaver_ctx_get_param (ctx, "lua-instructions"))
    {
      char v[32];
      snprintf (v, sizeof v, "%lld", (long long) m->lua_instructions);
      if (add_param (ctx, "lua-instructions", v))
        goto out;
    }

  loader = enclaver_loader_new ();
  for (dirs = cli_plugin_dirs (); *dirs; dirs++)
    enclaver_loader_add_dir (loader, *dirs);
  enclaver_loader_add_default_dirs (loader);
  pipeline = enclaver_pipeline_new (loader);
  enclaver_pipeline_set_hooks (pipeline, enclaver_lua_hook_ops (), NULL);
  if (enclaver_pipeline_set_overrides (pipeline, a->stage_opts, a->n_stage_opts, &err) < 0)
    goto fail;
  if (eif_only && m->n_pipeline == 0)
    {
      /* The default stack without emit-image. */
      size_t i;
      for (i = 0; enclaver_default_stages[i]; i++)
        if (strcmp (enclaver_default_stages[i], "emit-image") != 0
            && enclaver_pipeline_append_name (pipeline, enclaver_default_stages[i], NULL, 0, &err) < 0)
          goto fail;
    }
  else if (enclaver_pipeline_from_manifest (pipeline, m, &err) < 0)
    goto fail;
  if (enclaver_pipeline_unused_override (pipeline))
    {
      rc = cli_usage_error ("build", "--stage-opt %s: the pipeline has no stage of that name (see `enclaver manifest`)",
                            enclaver_pipeline_unused_override (pipeline));
      goto out;
    }
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest", m,
                        (void (*) (void *)) enclaver_manifest_free, &err) < 0)
    {
      m = NULL;
      goto fail;
    }
  mp = m;
  m = NULL;
  if (enclaver_lua_attach_hooks (ctx, mp, (const char *const *) hooks, &err) < 0)
    goto fail;

  /* Create --output-dir now (like mkdir -p), so that a bad one fails before any work;
   * each stage's check() then tests its own outputs and inputs. */
  if (enclaver_build_prepare (ctx, &err) < 0)
    goto fail;
  dest = eif_only && !push ? NULL : cli_build_push_destination (mp, push);
  if (multi && (push || dest))
    {
      rc = cli_usage_error ("build", "--platform with several platforms: pushing a multi-platform release image is "
                                     "not supported yet (--push, output.push, output.image.format: registry); build "
                                     "it, then push each platform's image with enclaver image copy");
      goto out;
    }
  if (multi && !eif_only && mp->output_image_format && strcmp (mp->output_image_format, "oci") != 0)
    {
      rc = cli_usage_error ("build", "--platform with several platforms: the release image is a multi-platform OCI "
                                     "layout, which output.image.format: %s cannot hold (use oci, or --eif-only)",
                            mp->output_image_format);
      goto out;
    }
  if (pfp->digestfile && dest == NULL && !push)
    {
      rc = cli_usage_error ("build", "--digestfile: nothing is pushed (give --push)");
      goto out;
    }
  if ((push || dest) && eif_only)
    {
      rc = cli_usage_error ("build", "--eif-only builds no release image to push");
      goto out;
    }
  if (labels)
    {
      cleanup_free char *lj = json_dumps (labels, JSON_COMPACT | JSON_SORT_KEYS);
      if (enclaver_ctx_set_param (ctx, "image-labels", lj, &err) < 0)
        goto fail;
    }
  if (enclaver_pipeline_run (pipeline, ctx, &err) < 0)
    goto fail;
  if ((dest || push) && cli_build_push (ctx, dest, pfp, &err) < 0)
    goto fail;
  if (enclaver_ctx_get_param (ctx, "artifact:eif"))
    enclaver_log_info ("built EIF: %s", enclaver_ctx_get_param (ctx, "artifact:eif"));
  if (!multi)
    {
      const char *result = enclaver_ctx_get_param (ctx, "result-json");
      if (result)
        printf ("%s\n", result);
    }
  rc = EXIT_OK;
  goto out;
fail:
  rc = cli_fail (&err);
out:
  enclaver_manifest_free (m);
  enclaver_pipeline_free (pipeline);
  enclaver_loader_free (loader);
  return rc;
}



/* One build per platform (each in a context of its own with the command line's
 * parameters, the platform and its output suffix), then the release images joined into
 * one multi-platform layout.  A platform that fails removes what the ones before it
 * wrote.  The result: {"Platforms": {PLATFORM: that build's result}}, and with -o json
 * also "Image" for the joined layout. */
static int
build_platforms (const struct build_args *a, const enclaver_ctx_t *tmpl, char **platforms, size_t n)
{
  char **eifs = xmalloc0 (n * sizeof *eifs), **images = xmalloc0 (n * sizeof *images);
  cleanup_free char *dest = NULL, *digest = NULL;
  json_t *plats = json_object (), *out = json_object ();
  enclaver_error_t err = NULL;
  size_t i, k, n_images = 0;
  int rc = EXIT_OK;

  for (i = 0; i < n && rc == EXIT_OK; i++)
    {
      enclaver_ctx_t *ctx = enclaver_ctx_new ();
      cleanup_free char *suffix = cli_platform_suffix (platforms[i]);
      const char *v;
      for (k = 0; k < a->n_keys; k++)
        if ((v = enclaver_ctx_get_param (tmpl, a->keys[k])) && enclaver_ctx_set_param (ctx, a->keys[k], v, &err) < 0)
          break;
      if (err == NULL)
        enclaver_ctx_set_param (ctx, "platform", platforms[i], &err);
      if (err == NULL)
        enclaver_ctx_set_param (ctx, "output-suffix", suffix, &err);
      if (err)
        rc = cli_fail (&err);
      else
        {
          enclaver_log_info ("building for %s", platforms[i]);
          rc = build_one (a, ctx, 1);
        }
      if (rc == EXIT_OK)
        {
          const char *res = enclaver_ctx_get_param (ctx, "result-json");
          json_t *j = res ? json_loads (res, 0, NULL) : NULL;
          json_object_set_new (plats, platforms[i], j ? j : json_object ());
          if ((v = enclaver_ctx_get_param (ctx, "artifact:eif")))
            eifs[i] = xstrdup (v);
          if ((v = enclaver_ctx_get_param (ctx, "artifact:image")))
            {
              images[n_images++] = xstrdup (v);
              /* The platform's layout is an intermediate: removed on a signal too. */
              enclaver_temp_register (v, 1);
            }
        }
      enclaver_ctx_free (ctx);
    }
  if (rc == EXIT_OK && n_images > 0 && n_images < n)
    {
      enclaver_make_error (&err, EINVAL, "--platform: the pipeline wrote a release image for some platforms only");
      rc = cli_fail (&err);
    }
  if (rc == EXIT_OK && n_images == n)
    {
      /* The joined image goes where one platform's would: its path without the suffix. */
      cleanup_free char *suffix = cli_platform_suffix (platforms[0]);
      size_t l = strlen (images[0]), sl = strlen (suffix);
      if (l > sl && strcmp (images[0] + l - sl, suffix) == 0)
        dest = xstrndup (images[0], l - sl);
      if (dest == NULL)
        {
          enclaver_make_error (&err, EINVAL, "--platform: the release image %s is not a directory named with the "
                               "platform's suffix %s (a multi-platform release image is an OCI layout)",
                               images[0], suffix);
          rc = cli_fail (&err);
        }
      else if (cli_write_platform_index (dest, images, n, &digest, &err) < 0)
        rc = cli_fail (&err);
    }
  for (i = 0; i < n_images; i++)
    {
      enclaver_remove_tree (images[i]);
      enclaver_temp_forget (images[i]);
      free (images[i]);
    }
  for (i = 0; i < n; i++)
    {
      if (rc != EXIT_OK && eifs[i])
        unlink (eifs[i]);
      free (eifs[i]);
    }
  free (images);
  free (eifs);
  if (rc == EXIT_OK)
    {
      const char *fmt = enclaver_ctx_get_param (tmpl, "output-format");
      char *s;
      json_object_set (out, "Platforms", plats);
      if (digest)
        {
          const char *key;
          json_t *p;
          /* Each platform's Image is its manifest in the joined layout. */
          json_object_foreach (plats, key, p)
            if (json_is_object (json_object_get (p, "Image")))
              json_object_set_new (json_object_get (p, "Image"), "Path", json_string (dest));
          if (fmt && strcmp (fmt, "json") == 0)
            json_object_set_new (out, "Image", json_pack ("{s:s, s:s, s:s, s:s}", "Path", dest, "Format", "oci",
                                                          "MediaType", ENCLAVER_MT_OCI_INDEX, "Digest", digest));
          enclaver_log_info ("built the multi-platform release image %s (%s)", dest, digest);
        }
      s = json_dumps (out, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
      printf ("%s\n", s);
      free (s);
    }
  json_decref (plats);
  json_decref (out);
  return rc;
}

int
cmd_build (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "file", required_argument, NULL, 'f' },
    { "from", required_argument, NULL, OPT_FROM },
    { "eif-only", required_argument, NULL, OPT_EIF_ONLY },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "pull", no_argument, NULL, OPT_PULL },
    { "offline", no_argument, NULL, OPT_OFFLINE },
    { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "blob-timeout", required_argument, NULL, OPT_BLOB_TIMEOUT },
    { "insecure-registry", required_argument, NULL, OPT_INSECURE },
    { "ca-cert", required_argument, NULL, OPT_CA_CERT },
    { "kernel-dir", required_argument, NULL, OPT_KERNEL_DIR },
    { "lenient", no_argument, NULL, OPT_LENIENT },
    { "set-param", required_argument, NULL, OPT_SET_PARAM },
    { "stage-opt", required_argument, NULL, OPT_STAGE_OPT },
    { "hook", required_argument, NULL, OPT_HOOK },
    { "lua-memory", required_argument, NULL, OPT_LUA_MEMORY },
    { "lua-instructions", required_argument, NULL, OPT_LUA_INSTRUCTIONS },
    { "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "push", no_argument, NULL, OPT_PUSH },
    { "label", required_argument, NULL, OPT_LABEL },
    { "push-format", required_argument, NULL, OPT_PUSH_FORMAT },
    { "digestfile", required_argument, NULL, OPT_DIGESTFILE },
    { "creds", required_argument, NULL, OPT_CREDS },
    { "cert-dir", required_argument, NULL, OPT_CERT_DIR },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  struct build_args a = { "enclaver.yaml", getenv ("ENCLAVER_FROM"), NULL, NULL, NULL, 0,
                          { NULL, NULL, NULL, NULL }, NULL, 0, NULL, 0 };
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  enclaver_error_t err = NULL;
  cleanup_free char *insecure = NULL;
  size_t n_hooks = 0, n_platforms = 0, i;
  char **platforms = NULL;
  int c, rc = EXIT_FAIL;

  while ((c = cli_getopt (argc, argv, "f:ho:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      const char *key = NULL, *val = optarg;
      switch (c)
        {
        case 'f':
          a.file = optarg;
          break;
        case OPT_FROM:
          a.from = optarg;
          break;
        case OPT_EIF_ONLY:
          key = "eif-only";
          a.eif_only = optarg;
          break;
        case OPT_HOOK:
          a.hooks = xreallocarray (a.hooks, n_hooks + 2, sizeof *a.hooks);
          a.hooks[n_hooks++] = optarg;
          a.hooks[n_hooks] = NULL;
          break;
        case OPT_LUA_MEMORY:
          key = "lua-memory";
          break;
        case OPT_LUA_INSTRUCTIONS:
          key = "lua-instructions";
          break;
        case OPT_OUTPUT_DIR:
          key = "output-dir";
          break;
        case 'o':
          if (strcmp (optarg, "json") != 0 && strcmp (optarg, "pcrs") != 0)
            {
              rc = cli_usage_error ("build", "--output: '%s' is not 'pcrs' or 'json'", optarg);
              goto out;
            }
          key = "output-format";
          break;
        case OPT_PLATFORM:
          cli_platform_list_free (platforms);
          if (cli_platform_list (optarg, &platforms, &n_platforms, &err) < 0)
            {
              rc = cli_usage_error ("build", "--platform: %s", err->msg);
              enclaver_error_release (&err);
              goto out;
            }
          key = "platform";
          if (n_platforms == 1)
            val = platforms[0];
          break;
        case OPT_PULL:
          key = "pull", val = "true";
          break;
        case OPT_OFFLINE:
          key = "offline", val = "true";
          break;
        case OPT_CACHE_DIR:
          key = "cache-dir";
          break;
        case OPT_JOBS:
          {
            char *end;
            long n = strtol (optarg, &end, 10);
            if (*end || n < 1 || n > 64)
              {
                rc = cli_usage_error ("build", "--jobs: '%s' is not a number from 1 to 64", optarg);
                goto out;
              }
            key = "jobs";
            break;
          }
        case OPT_BLOB_TIMEOUT:
          {
            long t;
            if ((rc = cli_parse_blob_timeout ("build", optarg, &t)) != 0)
              goto out;
            rc = EXIT_FAIL;
            key = "blob-timeout";
            break;
          }
        case OPT_INSECURE:
          {
            char *n = insecure ? xasprintf ("%s,%s", insecure, optarg) : xstrdup (optarg);
            free (insecure);
            insecure = n;
            break;
          }
        case OPT_CA_CERT:
          key = "ca-cert";
          break;
        case OPT_KERNEL_DIR:
          key = "kernel-dir";
          break;
        case OPT_LENIENT:
          key = "lenient", val = "true";
          break;
        case OPT_PUSH:
          a.push = 1;
          continue;
        case OPT_LABEL:
          {
            const char *eq = strchr (optarg, '=');
            cleanup_free char *k = eq ? xstrndup (optarg, (size_t) (eq - optarg)) : NULL;
            if (k == NULL || *k == '\0' || strspn (k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")
                                              != strlen (k))
              {
                rc = cli_usage_error ("build", "--label: '%s' is not KEY=VALUE (KEY of letters, digits, '.', '_', "
                                               "'-', '/')", optarg);
                goto out;
              }
            if (strncmp (k, "dev.enclaver.", 13) == 0)
              {
                rc = cli_usage_error ("build", "--label: %s: the dev.enclaver.* labels are the build's own", k);
                goto out;
              }
            if (a.labels == NULL)
              a.labels = json_object ();
            json_object_set_new (a.labels, k, json_string (eq + 1));
          }
          continue;
        case OPT_PUSH_FORMAT:
          if (strcmp (optarg, "oci") != 0 && strcmp (optarg, "docker") != 0)
            {
              rc = cli_usage_error ("build", "--push-format: '%s' is not oci or docker", optarg);
              goto out;
            }
          a.pf.format = optarg;
          continue;
        case OPT_DIGESTFILE:
          a.pf.digestfile = optarg;
          continue;
        case OPT_CREDS:
          if (strchr (optarg, ':') == NULL || optarg[0] == ':')
            {
              rc = cli_usage_error ("build", "--creds: give USER:PASSWORD");
              goto out;
            }
          a.pf.creds = optarg;
          continue;
        case OPT_CERT_DIR:
          /* For the push, and as a parameter for the fetch stage's pulls. */
          a.pf.cert_dir = optarg;
          key = "cert-dir";
          break;
        case OPT_NO_PROGRESS:
          key = "progress", val = "false";
          break;
        case OPT_SET_PARAM:
          {
            cleanup_free char *kv = xstrdup (optarg);
            char *eq = strchr (kv, '=');
            if (eq == NULL || eq == kv)
              {
                rc = cli_usage_error ("build", "--set-param: '%s' is not KEY=VALUE", optarg);
                goto out;
              }
            *eq = '\0';
            if (record_param (ctx, &a, kv, eq + 1))
              goto out;
            break;
          }
        case OPT_STAGE_OPT:
          {
            const char *eq = strchr (optarg, '=');
            const char *dot = eq ? memchr (optarg, '.', (size_t) (eq - optarg)) : NULL;
            if (dot == NULL || dot == optarg || dot + 1 == eq)
              {
                rc = cli_usage_error ("build", "--stage-opt: '%s' is not STAGE.KEY=VALUE", optarg);
                goto out;
              }
            a.stage_opts = xreallocarray (a.stage_opts, a.n_stage_opts + 1, sizeof *a.stage_opts);
            a.stage_opts[a.n_stage_opts].key = xstrndup (optarg, (size_t) (eq - optarg));
            a.stage_opts[a.n_stage_opts++].value = xstrdup (eq + 1);
            continue;
          }
        case 'h':
          cli_help (stdout, build_help);
          rc = EXIT_OK;
          goto out;
        default:
          goto usage;
        }
      if (key && record_param (ctx, &a, key, val))
        goto out;
    }
  if (optind < argc)
    {
      rc = cli_usage_error ("build", "unexpected argument '%s'", argv[optind]);
      goto out;
    }
  if (insecure && record_param (ctx, &a, "insecure-registry", insecure))
    goto out;

  if (n_platforms > 1)
    rc = build_platforms (&a, ctx, platforms, n_platforms);
  else
    rc = build_one (&a, ctx, 0);
  goto out;

usage:
  rc = cli_usage_error ("build", "invalid option");
  goto out;
out:
  json_decref (a.labels);
  free (a.hooks);
  for (i = 0; i < a.n_keys; i++)
    free (a.keys[i]);
  free (a.keys);
  for (i = 0; i < a.n_stage_opts; i++)
    {
      free (a.stage_opts[i].key);
      free (a.stage_opts[i].value);
    }
  free (a.stage_opts);
  cli_platform_list_free (platforms);
  enclaver_ctx_free (ctx);
  return rc;
}
