/* enclaver: the enclaver.yaml schema — one row per section and key — and its validators.
 *
 * A row gives the key's name and, where Enclaver 0.6 renamed a 0.5.0 key, the old
 * spelling; its type and where the value goes in the model; whether it is required; its
 * default; a validator; and whether anything uses it yet (MK_NO_EFFECT: accepted, and
 * `enclaver build` / `enclaver manifest` warn that it has no effect).  The walker in
 * walk.c does the rest: positions, unknown keys, types, required keys, defaults.
 * Keys of Enclaver's schema: ENCLAVER.md section 2; the extension keys: docs/manifest.md.
 *
 * A new key is one row in its section's table (plus its field in struct
 * enclaver_manifest and its line in to_json); a new section is a table, a
 * struct mf_section and a row in root_keys.  When a feature starts using a key, drop its
 * MK_NO_EFFECT and change its row in docs/manifest.md's status table (a test compares
 * the two). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <enclaver/image.h>

#include "internal.h"
#include "common/netpolicy.h"

/* ------------------------------------------------------------------------- */
/* Egress patterns (ENCLAVER.md section 3): the grammar lives in common/netpolicy.c,
 * shared with the proxy that enforces it.                                    */

int
enclaver_egress_pattern_check (const char *s, enclaver_error_t *err)
{
  char msg[256];
  size_t col;
  if (netpolicy_pattern_check (s, &col, msg, sizeof msg) < 0)
    return enclaver_make_error (err, EINVAL, "%s", msg);
  return 0;
}


/* Local transports carry a path that is resolved against dir; others are kept. */
char *
mf_resolve_ref (const char *dir, const char *ref, enclaver_error_t *err)
{
  static const char *const transports[] = { "oci:", "oci-archive:", "docker-archive:", "dir:" };
  const char *p;
  size_t i;

  if (ref == NULL || *ref == '\0')
    {
      enclaver_make_error (err, EINVAL, "empty image reference");
      return NULL;
    }
  for (p = ref; *p; p++)
    if (isspace ((unsigned char) *p) || iscntrl ((unsigned char) *p))
      {
        enclaver_make_error (err, EINVAL, "image reference must not contain whitespace");
        return NULL;
      }
  for (i = 0; i < ARRAY_SIZE (transports); i++)
    {
      size_t tl = strlen (transports[i]);
      if (strncmp (ref, transports[i], tl) == 0)
        {
          const char *rest = ref + tl;
          const char *colon = strchr (rest, ':');
          cleanup_free char *dpath = colon ? xstrndup (rest, (size_t) (colon - rest))
                                           : xstrdup (rest);
          cleanup_free char *abs = NULL;
          if (*dpath == '\0')
            {
              enclaver_make_error (err, EINVAL, "no path after \"%s\"", transports[i]);
              return NULL;
            }
          if (colon && colon[1] == '\0')
            {
              enclaver_make_error (err, EINVAL, "empty reference after the path's ':'");
              return NULL;
            }
          abs = enclaver_path_join_abs (dir, dpath);
          return xasprintf ("%s%s%s", transports[i], abs, colon ? colon : "");
        }
    }
  /* A bare path (the image path rule, enclaver_image_source_resolve) is relative to the
   * manifest too: one that looks like a path, or a file that exists next to the manifest. */
  if (dir && strncmp (ref, "~/", 2) != 0 && strstr (ref, "://") == NULL && strncmp (ref, "docker-daemon:", 14) != 0)
    {
      cleanup_free char *abs = enclaver_path_join_abs (dir, ref);
      struct stat st;
      if (enclaver_image_source_is_path (ref) || stat (abs, &st) == 0)
        return xstrdup (abs);
    }
  return xstrdup (ref);
}


/* ------------------------------------------------------------------------- */
/* Validators                                                                 */

static int
check_version (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  if (strcmp (*val, "v1") != 0)
    {
      cleanup_free char *q = mf_quote (*val);
      mf_err_node (c, v, path, "unsupported version %s (only \"v1\" exists)", q);
      return -1;
    }
  return 0;
}

static int
check_pattern (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  char msg[256];
  size_t off = 0, i;
  unsigned col;
  if (netpolicy_pattern_check (*val, &off, msg, sizeof msg) < 0)
    {
      cleanup_free char *q = mf_quote (*val);
      /* Point at the offending character: the node's column is the scalar's first
       * character, or its opening quote.  Columns count characters (as libyaml's
       * marks do), off counts bytes.  White space is refused first, so off never
       * passes a line a quoted value was folded at; only escapes ("\x2e") written
       * before the offending character would shift the column. */
      col = v->col + (v->plain ? 0 : 1);
      for (i = 0; i < off && (*val)[i]; i++)
        if (((unsigned char) (*val)[i] & 0xc0) != 0x80)
          col++;
      mf_err_at (c, v->line, col, path, "invalid pattern %s: %s", q, msg);
      return -1;
    }
  return 0;
}

static int
check_host (const char *s)
{
  const char *p;
  if (*s == '\0')
    return -1;
  for (p = s; *p; p++)
    if (!(isalnum ((unsigned char) *p) || strchr ("-._:[]", *p)))
      return -1;
  return 0;
}

/* kms_proxy.endpoints: REGION: HOST[:PORT] */
static int
kms_endpoint (struct pctx *c, const struct ynode *rk, const struct ynode *rv, const char *rpath,
              char **val)
{
  cleanup_free char *host = NULL;
  const char *r;

  for (r = rk->value; *r; r++)
    if (!(islower ((unsigned char) *r) || isdigit ((unsigned char) *r) || *r == '-'))
      break;
  if (*r != '\0' || rk->value[0] == '\0')
    {
      cleanup_free char *q = mf_quote (rk->value);
      mf_err_node (c, rk, rpath,
                   "invalid region %s (lowercase letters, digits and '-', e.g. us-east-1)", q);
      return -1;
    }
  if (mf_get_string (c, rv, rpath, &host) < 0)
    return -1;
  if (check_host (host) < 0)
    {
      cleanup_free char *q = mf_quote (host);
      mf_err_node (c, rv, rpath, "invalid host %s (expected HOST or HOST:PORT)", q);
      return -1;
    }
  *val = host;
  host = NULL;
  return 0;
}

/* pipeline[].options: NAME: SCALAR, kept as a string */
static int
stage_option (struct pctx *c, const struct ynode *k, const struct ynode *v, const char *path,
              char **val)
{
  if (k->value[0] == '\0')
    {
      mf_err_node (c, k, path, "empty option name");
      return -1;
    }
  if (v->kind != Y_SCALAR)
    {
      mf_err_node (c, v, path, "option values must be scalars (string, number, boolean), got %s",
                   mf_kind_name (v));
      return -1;
    }
  if (mf_is_null (v))
    {
      mf_err_node (c, v, path, "option has no value");
      return -1;
    }
  mf_pos_record (c, path, v);
  *val = xstrdup (v->value);
  return 0;
}

static int
valid_stage_name (const char *s)
{
  const char *p;
  if (!(islower ((unsigned char) s[0]) || isdigit ((unsigned char) s[0])))
    return 0;
  for (p = s; *p; p++)
    if (!(islower ((unsigned char) *p) || isdigit ((unsigned char) *p) || *p == '-'
          || *p == '_'))
      return 0;
  return p - s <= 64;
}

static int
check_stage_name (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  if (!valid_stage_name (*val))
    {
      cleanup_free char *q = mf_quote (*val);
      mf_err_node (c, v, path, "invalid stage name %s", q);
      return -1;
    }
  return 0;
}

/* "- fetch": a stage by name */
static void
stage_by_name (struct pctx *c, const struct ynode *item, const char *path, void *obj)
{
  struct enclaver_pipeline_entry *pe = obj;
  if (!valid_stage_name (item->value))
    {
      cleanup_free char *q = mf_quote (item->value);
      mf_err_node (c, item, path,
                   "invalid stage name %s (lowercase letters, digits, '-' and '_'; use "
                   "\"plugin: PATH\" or \"lua: PATH\" for files)",
                   q);
      return;
    }
  pe->kind = ENCLAVER_PIPELINE_BUILTIN;
  pe->name = xstrdup (item->value);
}

static int
check_arch (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  const char *norm = NULL;
  if (strcmp (*val, "x86_64") == 0 || strcmp (*val, "amd64") == 0)
    norm = "x86_64";
  else if (strcmp (*val, "aarch64") == 0 || strcmp (*val, "arm64") == 0)
    norm = "aarch64";
  if (norm == NULL)
    {
      cleanup_free char *q = mf_quote (*val);
      mf_err_node (c, v, path, "unsupported architecture %s (x86_64 or aarch64)", q);
    }
  free (*val);
  *val = norm ? xstrdup (norm) : NULL;
  return norm ? 0 : -1;
}

static int
check_image_format (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  if (strcmp (*val, "oci") != 0 && strcmp (*val, "docker-archive") != 0
      && strcmp (*val, "registry") != 0)
    {
      cleanup_free char *q = mf_quote (*val);
      mf_err_node (c, v, path, "unknown format %s (oci, docker-archive or registry)", q);
      free (*val);
      *val = NULL;
      return -1;
    }
  return 0;
}

/* output: the image format defaults to oci when a destination is given; the
 * destination is a path for the file formats and a reference for a registry. */
static void
output_post (struct pctx *c, const struct ynode *n, const char *path, void *obj)
{
  struct enclaver_manifest *m = obj;
  (void) n, (void) path;

  m->output_push = m->output_push_word && strcmp (m->output_push_word, "true") == 0;
  if (m->output_image_format == NULL && m->output_image_dest != NULL)
    m->output_image_format = xstrdup ("oci");
  if (m->output_image_dest == NULL && m->output_image_format != NULL
      && strcmp (m->output_image_format, "registry") == 0)
    mf_err_path (c, "output.image", "format \"registry\" needs a \"destination\" (where to push)");
  if (m->output_image_dest != NULL && m->output_image_format != NULL)
    {
      if (strcmp (m->output_image_format, "registry") == 0)
        {
          const char *p;
          for (p = m->output_image_dest; *p; p++)
            if (isspace ((unsigned char) *p))
              {
                mf_err_path (c, "output.image.destination",
                             "a registry reference must not contain whitespace");
                break;
              }
        }
      else
        {
          char *abs = enclaver_path_join_abs (c->dir, m->output_image_dest);
          free (m->output_image_dest);
          m->output_image_dest = abs;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* The tables                                                                 */

#define M(f) offsetof (struct enclaver_manifest, f)
#define IN(f) offsetof (struct enclaver_ingress, f)
#define PE(f) offsetof (struct enclaver_pipeline_entry, f)
#define SECTION(keys, fl) { keys, ARRAY_SIZE (keys), fl, 0, 0, 0, NULL, NULL, NULL, NULL, NULL }

static const char *const kernel_init_words[] = { "builtin", "blobs", NULL };

static const struct mf_key sources_keys[] = {
  { .name = "app", .type = MT_REF, .off = M (source_app), .flags = MK_REQUIRED_LATE,
    .hint = "the application image", .waive = ENCLAVER_MANIFEST_NO_APP_REQUIRED },
  { .name = "odyn", .alias = "supervisor", .type = MT_REF, .off = M (source_supervisor),
    .legacy_at = MF_AT (M (source_supervisor_legacy)), .flags = MK_NO_EFFECT,
    .what = "the supervisor is enclaver's own; an odyn image is not used" },
  { .name = "sleeve", .alias = "wrapper", .type = MT_REF, .off = M (source_wrapper),
    .legacy_at = MF_AT (M (source_wrapper_legacy)), .flags = MK_NO_EFFECT,
    .what = "the release image is built from scratch; a base image is not used" },
};

static const struct mf_key signature_keys[] = {
  { .name = "certificate", .type = MT_PATH, .off = M (signature_certificate) },
  { .name = "key", .type = MT_PATH, .off = M (signature_key) },
};

static const struct mf_key defaults_keys[] = {
  { .name = "cpu_count", .type = MT_INT, .off = M (cpu_count), .min = 1, .max = INT32_MAX,
    .dflt = 2 },
  { .name = "memory_mb", .type = MT_INT, .off = M (memory_mb), .min = 64, .max = INT32_MAX,
    .dflt = 4096 },
};

static const struct mf_key tls_keys[] = {
  { .name = "key_file", .type = MT_STRING, .off = IN (tls_key_file), .flags = MK_REQUIRED },
  { .name = "cert_file", .type = MT_STRING, .off = IN (tls_cert_file), .flags = MK_REQUIRED },
};
static const struct mf_section tls_section = SECTION (tls_keys, MS_NULL_OK);

static const struct mf_key ingress_keys[] = {
  { .name = "listen_port", .type = MT_PORT, .off = IN (listen_port), .flags = MK_REQUIRED },
  { .name = "tls", .type = MT_SECTION, .sub = &tls_section, .has_at = MF_AT (IN (has_tls)) },
};
static const struct mf_section ingress_item = {
  ingress_keys, ARRAY_SIZE (ingress_keys), 0, sizeof (struct enclaver_ingress), 0, 0,
  NULL, NULL, NULL, NULL, NULL,
};

static const struct mf_key egress_keys[] = {
  { .name = "allow", .type = MT_SCALARS, .item = MT_STRING, .check = check_pattern,
    .off = M (egress_allow), .count_off = M (n_egress_allow) },
  { .name = "deny", .type = MT_SCALARS, .item = MT_STRING, .check = check_pattern,
    .off = M (egress_deny), .count_off = M (n_egress_deny) },
  { .name = "proxy_port", .type = MT_PORT, .off = M (egress_proxy_port), .dflt = 10000 },
};

static const struct mf_key kms_keys[] = {
  { .name = "listen_port", .type = MT_PORT, .off = M (kms_proxy_port), .flags = MK_REQUIRED },
  { .name = "endpoints", .type = MT_KV, .kv_check = kms_endpoint, .off = M (kms_endpoints),
    .count_off = M (n_kms_endpoints) },
};

static const struct mf_key api_keys[] = {
  { .name = "listen_port", .type = MT_PORT, .off = M (api_port), .flags = MK_REQUIRED },
};

static const struct mf_key spire_keys[] = {
  { .name = "server_addr", .type = MT_WORD, .off = M (spire_server_addr), .flags = MK_REQUIRED },
  { .name = "ca_cert", .type = MT_WORD, .off = M (spire_ca_cert), .flags = MK_REQUIRED },
  { .name = "trust_domain", .type = MT_WORD, .off = M (spire_trust_domain),
    .flags = MK_REQUIRED },
  { .name = "svid_dir", .type = MT_WORD, .off = M (spire_svid_dir), .flags = MK_REQUIRED },
  { .name = "workload_api_addr", .type = MT_WORD, .off = M (spire_workload_api_addr),
    .dflt_str = "127.0.0.1:5000" },
};

static const struct mf_key stage_keys[] = {
  { .name = "stage", .type = MT_STRING, .off = PE (name), .flags = MK_ONE_OF,
    .check = check_stage_name, .tag = ENCLAVER_PIPELINE_BUILTIN },
  { .name = "plugin", .type = MT_PATH, .off = PE (path), .flags = MK_ONE_OF,
    .tag = ENCLAVER_PIPELINE_PLUGIN },
  { .name = "lua", .type = MT_PATH, .off = PE (path), .flags = MK_ONE_OF,
    .tag = ENCLAVER_PIPELINE_LUA },
  { .name = "options", .type = MT_KV, .kv_check = stage_option, .off = PE (options),
    .count_off = PE (n_options) },
};
/* "- flatten: { max_bytes: 4G }": a stage by name with its options, the short form of
 * "- stage: flatten" + "options:".  Only a map of one key that is not one of the entry's
 * own keys, whose value is a map, {} or nothing ("- flatten:"); anything else is read as
 * the long form. */
static bool
stage_short_form (struct pctx *c, const struct ynode *item, const char *path, void *obj)
{
  struct enclaver_pipeline_entry *pe = obj;
  const struct ynode *k, *v;
  size_t i;

  if (item->kind != Y_MAP || item->n != 2)
    return false;
  k = item->kids[0], v = item->kids[1];
  if (k->kind != Y_SCALAR || (v->kind != Y_MAP && !mf_is_null (v)))
    return false;
  for (i = 0; i < ARRAY_SIZE (stage_keys); i++)
    if (strcmp (k->value, stage_keys[i].name) == 0)
      return false;
  cleanup_free char *spath = mf_path_key (path, k->value);
  mf_pos_record (c, path, item);
  stage_by_name (c, k, path, obj);
  if (pe->name == NULL)
    return true;
  mf_pos_record (c, spath, v);
  pe->options = xmalloc0 ((v->n / 2 + 1) * sizeof *pe->options);
  if (v->kind != Y_MAP)
    return true;
  for (i = 0; i < v->n; i += 2)
    {
      const struct ynode *ok = v->kids[i], *ov = v->kids[i + 1];
      char *val = NULL;
      size_t j;
      if (ok->kind != Y_SCALAR)
        {
          mf_err_node (c, ok, spath, "map keys must be strings, got %s", mf_kind_name (ok));
          continue;
        }
      cleanup_free char *opath = mf_path_key (spath, ok->value);
      for (j = 0; j < pe->n_options; j++)
        if (strcmp (pe->options[j].key, ok->value) == 0)
          break;
      if (j < pe->n_options)
        {
          cleanup_free char *q = mf_quote (ok->value);
          mf_err_node (c, ok, spath, "duplicate key %s", q);
          continue;
        }
      if (stage_option (c, ok, ov, opath, &val) < 0)
        continue;
      pe->options[pe->n_options].key = xstrdup (ok->value);
      pe->options[pe->n_options].value = val;
      pe->n_options++;
    }
  return true;
}

static const struct mf_section stage_item = {
  stage_keys, ARRAY_SIZE (stage_keys), MS_NONEMPTY, sizeof (struct enclaver_pipeline_entry),
  MF_AT (PE (line)), MF_AT (PE (kind)),
  "empty list (omit the key to run the default stack)",
  "expected a stage name or a map with \"stage\", \"plugin\" or \"lua\"",
  stage_by_name, NULL, stage_short_form,
};

static const struct mf_key kernel_keys[] = {
  { .name = "blobs", .type = MT_PATH, .off = M (kernel_blobs_dir) },
  { .name = "kernel", .type = MT_PATH, .off = M (kernel_image) },
  { .name = "cmdline", .type = MT_PATH, .off = M (kernel_cmdline) },
  { .name = "init", .type = MT_PATH, .off = M (kernel_init), .words = kernel_init_words },
  { .name = "nsm", .type = MT_PATH, .off = M (kernel_nsm) },
  { .name = "arch", .type = MT_STRING, .off = M (kernel_arch), .check = check_arch },
};

static const struct mf_key image_keys[] = {
  { .name = "format", .type = MT_STRING, .off = M (output_image_format),
    .check = check_image_format },
  { .name = "destination", .type = MT_STRING, .off = M (output_image_dest) },
};
static const struct mf_section image_section = SECTION (image_keys, MS_NULL_OK);

static int
check_bool (struct pctx *c, const struct ynode *v, const char *path, char **val)
{
  if (strcmp (*val, "true") != 0 && strcmp (*val, "false") != 0)
    {
      cleanup_free char *q = mf_quote (*val);
      mf_err_node (c, v, path, "%s is not true or false", q);
      free (*val);
      *val = NULL;
      return -1;
    }
  return 0;
}

static const struct mf_key output_keys[] = {
  { .name = "eif", .type = MT_PATH, .off = M (output_eif) },
  { .name = "push", .type = MT_WORD, .off = M (output_push_word), .check = check_bool },
  { .name = "image", .type = MT_SECTION, .sub = &image_section },
};

static const struct mf_key reproducible_keys[] = {
  /* newc cpio stores 32-bit unsigned times */
  { .name = "source_date_epoch", .type = MT_INT, .off = M (source_date_epoch), .min = 0,
    .max = UINT32_MAX, .has_at = MF_AT (M (has_source_date_epoch)) },
};

static const struct mf_key vsock_keys[] = {
  { .name = "status_port", .type = MT_PORT, .off = M (status_port), .dflt = 17000 },
  { .name = "app_log_port", .type = MT_PORT, .off = M (app_log_port), .dflt = 17001 },
  { .name = "http_egress_port", .type = MT_PORT, .off = M (http_egress_port), .dflt = 17002 },
};

static const struct mf_key lua_keys[] = {
  /* a top-level memory_mb means the enclave's (defaults.memory_mb), not this */
  { .name = "memory_mb", .type = MT_INT, .off = M (lua_memory_mb), .min = 1, .max = 4096,
    .flags = MK_ZERO_UNSET | MK_NO_HINT },
  { .name = "instructions", .type = MT_INT, .off = M (lua_instructions), .min = 1000,
    .max = INT64_C (1000000000000), .flags = MK_ZERO_UNSET },
};

static const struct mf_section sources_section = SECTION (sources_keys, MS_NULL_OK);
static const struct mf_section signature_section
    = SECTION (signature_keys, MS_NULL_OK | MS_TOGETHER);
static const struct mf_section defaults_section = SECTION (defaults_keys, MS_NULL_OK);
static const struct mf_section egress_section = SECTION (egress_keys, MS_NULL_OK);
static const struct mf_section kms_section = SECTION (kms_keys, MS_NULL_OK);
static const struct mf_section api_section = SECTION (api_keys, MS_NULL_OK);
static const struct mf_section spire_section = SECTION (spire_keys, MS_NULL_OK);
static const struct mf_section kernel_section = SECTION (kernel_keys, MS_NULL_OK);
static const struct mf_section output_section = {
  output_keys, ARRAY_SIZE (output_keys), MS_NULL_OK, 0, 0, 0, NULL, NULL, NULL, output_post, NULL,
};
static const struct mf_section reproducible_section = SECTION (reproducible_keys, MS_NULL_OK);
static const struct mf_section vsock_section = SECTION (vsock_keys, MS_NULL_OK);
static const struct mf_section lua_section = SECTION (lua_keys, MS_NULL_OK);

static const struct mf_key root_keys[] = {
  { .name = "version", .type = MT_STRING, .off = M (version), .check = check_version,
    .flags = MK_REQUIRED_LATE, .hint = "write: version: v1" },
  { .name = "name", .type = MT_STRING, .off = M (name), .flags = MK_REQUIRED_LATE },
  { .name = "target", .type = MT_WORD, .off = M (target), .flags = MK_REQUIRED_LATE,
    .hint = "the release image tag" },
  { .name = "sources", .type = MT_SECTION, .sub = &sources_section },
  { .name = "signature", .type = MT_SECTION, .sub = &signature_section },
  { .name = "defaults", .type = MT_SECTION, .sub = &defaults_section },
  { .name = "ingress", .type = MT_LIST, .sub = &ingress_item, .off = M (ingress),
    .count_off = M (n_ingress) },
  { .name = "egress", .type = MT_SECTION, .sub = &egress_section,
    .has_at = MF_AT (M (has_egress)) },
  { .name = "kms_proxy", .type = MT_SECTION, .sub = &kms_section,
    .has_at = MF_AT (M (has_kms_proxy)) },
  { .name = "api", .type = MT_SECTION, .sub = &api_section, .has_at = MF_AT (M (has_api)) },
  { .name = "spire", .type = MT_SECTION, .sub = &spire_section,
    .has_at = MF_AT (M (has_spire)), .flags = MK_NO_EFFECT,
    .what = "enclaver has no SPIFFE workload API" },
  { .name = "pipeline", .type = MT_LIST, .sub = &stage_item, .off = M (pipeline),
    .count_off = M (n_pipeline) },
  { .name = "hooks", .type = MT_SCALARS, .item = MT_PATH, .off = M (hooks),
    .count_off = M (n_hooks) },
  { .name = "kernel", .type = MT_SECTION, .sub = &kernel_section },
  { .name = "output", .type = MT_SECTION, .sub = &output_section },
  { .name = "reproducible", .type = MT_SECTION, .sub = &reproducible_section },
  { .name = "vsock_ports", .type = MT_SECTION, .sub = &vsock_section },
  { .name = "lua", .type = MT_SECTION, .sub = &lua_section },
};

const struct mf_section mf_root = SECTION (root_keys, 0);

static const char *const vsock_space[] = {
  "vsock_ports.status_port", "vsock_ports.app_log_port", "vsock_ports.http_egress_port",
  "ingress[].listen_port", NULL,
};
static const char *const loopback_space[] = {
  "egress.proxy_port", "kms_proxy.listen_port", "api.listen_port", "ingress[].listen_port",
  NULL,
};
const struct mf_port_space mf_port_spaces[] = {
  { "vsock ports", vsock_space, false },
  { "TCP ports on the enclave's loopback", loopback_space, true },
};
const size_t mf_n_port_spaces = ARRAY_SIZE (mf_port_spaces);

/* Top-level keys of other dialects, refused with a reason. */
static const struct
{
  const char *key, *why;
} refused[] = {
  { "aux_api", "a sparsity-xyz fork extension, not supported" },
};

const char *
mf_refused_why (const char *key)
{
  size_t i;
  for (i = 0; i < ARRAY_SIZE (refused); i++)
    if (strcmp (key, refused[i].key) == 0)
      return refused[i].why;
  return NULL;
}

/* Where key is defined below the top level: PREFIX.KEY paths, "[]" for list items. */
static void
find_nested (const struct mf_section *s, const char *prefix, const char *key, char ***out,
             size_t *n)
{
  size_t i;
  for (i = 0; i < s->n_keys; i++)
    {
      const struct mf_key *k = &s->keys[i];
      const char *names[2] = { k->name, k->alias };
      size_t j;
      for (j = 0; j < 2; j++)
        if (names[j] && *prefix && !(k->flags & MK_NO_HINT) && strcmp (names[j], key) == 0)
          {
            *out = xreallocarray (*out, *n + 1, sizeof **out);
            (*out)[(*n)++] = xasprintf ("%s.%s", prefix, names[j]);
          }
      if (k->type == MT_SECTION || k->type == MT_LIST)
        {
          cleanup_free char *p = *prefix ? xasprintf ("%s.%s%s", prefix, k->name,
                                                      k->type == MT_LIST ? "[]" : "")
                                         : xasprintf ("%s%s", k->name,
                                                      k->type == MT_LIST ? "[]" : "");
          find_nested (k->sub, p, key, out, n);
        }
    }
}

char *
mf_misplaced_hint (const char *key)
{
  char **where = NULL;
  size_t n = 0, i, len = 1;
  char *r;

  find_nested (&mf_root, "", key, &where, &n);
  if (n == 0)
    return NULL;
  for (i = 0; i < n; i++)
    len += strlen (where[i]) + 4;
  r = xmalloc0 (len);
  for (i = 0; i < n; i++)
    {
      if (i > 0)
        strcat (r, i + 1 == n ? " or " : ", ");
      strcat (r, where[i]);
      free (where[i]);
    }
  free (where);
  return r;
}
