/* enclaver: enclaver.yaml — the model's entry points, life cycle and normalised JSON.
 *
 * Two passes: yaml.c turns the text into a small node tree (refusing aliases, tags,
 * several documents, deep nesting, bad bytes); walk.c walks the tree against the schema
 * of schema.c, filling struct enclaver_manifest and collecting every problem found as
 * "FILE:LINE:COL: key.path: message" lines (bounded), so one run of `enclaver manifest`
 * reports them all.  Whole-manifest checks (required keys, port collisions) live in
 * enclaver_manifest_validate () so a caller can supply sources.app first (--from). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

#define DEFAULT_SPIRE_WORKLOAD_API_ADDR "127.0.0.1:5000"

/* The default stack, shown by to_json when the manifest has no pipeline: key. */
static const char *const default_stack[] = {
  "fetch", "flatten", "inject", "measure", "emit-eif", "emit-image",
};

static const char *
display_name (const struct enclaver_manifest *m)
{
  return m->path ? (strcmp (m->path, "-") == 0 ? "<stdin>" : m->path) : "<manifest>";
}

int
enclaver_manifest_validate (const struct enclaver_manifest *m, unsigned flags,
                            enclaver_error_t *err)
{
  struct pctx c = { 0 };
  int rc;
  if (m == NULL)
    return enclaver_make_error (err, EINVAL, "no manifest");
  c.name = display_name (m);
  mf_validate (&c, m, flags);
  rc = mf_pctx_finish (&c, err);
  mf_pctx_release (&c);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Entry points                                                               */

static struct enclaver_manifest *
manifest_new (void)
{
  struct enclaver_manifest *m = xmalloc0 (sizeof *m);
  mf_apply_defaults (m);
  return m;
}

static struct enclaver_manifest *
parse_common (const char *buf, size_t len, const char *path, const char *name, const char *dir,
              unsigned flags, enclaver_error_t *err)
{
  struct pctx c = { 0 };
  struct enclaver_manifest *m = manifest_new ();
  struct ynode *root = NULL;

  m->path = xstrdup (path);
  m->dir = enclaver_path_join_abs (NULL, dir ? dir : ".");
  c.name = name;
  c.dir = m->dir;
  c.flags = flags;
  c.m = m;

  if (len > ENCLAVER_MANIFEST_MAX_SIZE)
    {
      enclaver_make_error (err, EFBIG, "%s: larger than %d bytes", name,
                           ENCLAVER_MANIFEST_MAX_SIZE);
      goto fail;
    }
  /* an all-blank/comment document yields no root node */
  root = mf_build_tree (&c, buf, len);
  if (root == NULL && c.nerr == 0)
    mf_err_at (&c, 0, 0, NULL, "empty manifest (no YAML document)");
  if (root != NULL && mf_is_null (root))
    mf_err_at (&c, root->line, root->col, NULL, "empty manifest (no keys)");
  if (c.nerr == 0)
    mf_walk_root (&c, root);
  if (c.nerr == 0)
    mf_validate (&c, m, flags);
  mf_ynode_free (root);
  if (mf_pctx_finish (&c, err) < 0)
    goto fail;
  mf_pctx_release (&c);
  return m;

fail:
  mf_pctx_release (&c);
  enclaver_manifest_free (m);
  return NULL;
}

struct enclaver_manifest *
enclaver_manifest_parse_ex (const char *buf, size_t len, const char *name, const char *dir,
                            unsigned flags, enclaver_error_t *err)
{
  if (buf == NULL)
    {
      enclaver_make_error (err, EINVAL, "no manifest text");
      return NULL;
    }
  return parse_common (buf, len, name ? name : "<buffer>", name ? name : "<buffer>", dir, flags,
                       err);
}

struct enclaver_manifest *
enclaver_manifest_parse (const char *buf, size_t len, const char *name, const char *dir,
                         enclaver_error_t *err)
{
  return enclaver_manifest_parse_ex (buf, len, name, dir, 0, err);
}

struct enclaver_manifest *
enclaver_manifest_load_ex (const char *path, unsigned flags, enclaver_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_free char *abs = NULL;
  cleanup_free char *dir = NULL;
  size_t len = 0;
  int rc;

  if (path == NULL || *path == '\0')
    {
      enclaver_make_error (err, EINVAL, "no manifest path");
      return NULL;
    }
  if (strcmp (path, "-") == 0)
    {
      rc = enclaver_read_stream (stdin, "<stdin>", ENCLAVER_MANIFEST_MAX_SIZE, &buf, &len, err);
      if (rc < 0)
        return NULL;
      return parse_common (buf, len, "-", "<stdin>", NULL, flags, err);
    }
  rc = enclaver_read_file (path, ENCLAVER_MANIFEST_MAX_SIZE, &buf, &len, err);
  if (rc < 0)
    return NULL;
  abs = enclaver_path_join_abs (NULL, path);
  dir = xstrdup (abs);
  {
    char *slash = strrchr (dir, '/');
    if (slash == dir)
      slash[1] = '\0';
    else if (slash)
      *slash = '\0';
  }
  return parse_common (buf, len, path, path, dir, flags, err);
}

struct enclaver_manifest *
enclaver_manifest_load (const char *path, enclaver_error_t *err)
{
  return enclaver_manifest_load_ex (path, 0, err);
}

int
enclaver_manifest_set_app (struct enclaver_manifest *m, const char *app, enclaver_error_t *err)
{
  char *r;
  if (m == NULL)
    return enclaver_make_error (err, EINVAL, "no manifest");
  r = mf_resolve_ref (NULL, app, err);
  if (r == NULL)
    return enclaver_error_wrap (err, "sources.app override %s", app ? app : "(null)");
  free (m->source_app);
  m->source_app = r;
  return 0;
}

static void
kv_free (struct enclaver_kv *kv, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      free (kv[i].key);
      free (kv[i].value);
    }
  free (kv);
}

void
enclaver_manifest_free (struct enclaver_manifest *m)
{
  size_t i;
  if (m == NULL)
    return;
  free (m->path);
  free (m->dir);
  free (m->version);
  free (m->name);
  free (m->target);
  free (m->source_app);
  free (m->source_supervisor);
  free (m->source_wrapper);
  free (m->signature_certificate);
  free (m->signature_key);
  for (i = 0; i < m->n_ingress; i++)
    {
      free (m->ingress[i].tls_key_file);
      free (m->ingress[i].tls_cert_file);
    }
  free (m->ingress);
  enclaver_strv_free (m->egress_allow, m->n_egress_allow);
  enclaver_strv_free (m->egress_deny, m->n_egress_deny);
  kv_free (m->kms_endpoints, m->n_kms_endpoints);
  for (i = 0; i < m->n_pipeline; i++)
    {
      free (m->pipeline[i].name);
      free (m->pipeline[i].path);
      kv_free (m->pipeline[i].options, m->pipeline[i].n_options);
    }
  free (m->pipeline);
  enclaver_strv_free (m->hooks, m->n_hooks);
  free (m->kernel_blobs_dir);
  free (m->kernel_image);
  free (m->kernel_cmdline);
  free (m->kernel_init);
  free (m->kernel_nsm);
  free (m->kernel_arch);
  free (m->output_eif);
  free (m->output_image_format);
  free (m->output_image_dest);
  free (m->output_push_word);
  free (m->spire_server_addr);
  free (m->spire_ca_cert);
  free (m->spire_trust_domain);
  free (m->spire_svid_dir);
  free (m->spire_workload_api_addr);
  for (i = 0; i < m->n_no_effect; i++)
    free (m->no_effect[i].path);
  free (m->no_effect);
  free (m);
}

/* ------------------------------------------------------------------------- */
/* Keys without an effect yet                                                 */

int
enclaver_manifest_key_status (const char *path)
{
  return mf_key_status (path);
}

const struct enclaver_manifest_key *
enclaver_manifest_unimplemented (const struct enclaver_manifest *m, size_t i)
{
  if (m == NULL || i >= m->n_no_effect)
    return NULL;
  return &m->no_effect[i];
}

char *
enclaver_manifest_unimplemented_message (const struct enclaver_manifest *m,
                                         const struct enclaver_manifest_key *k)
{
  if (m == NULL || k == NULL)
    return NULL;
  return xasprintf ("%s:%u:%u: %s: accepted but has no effect yet in this version (%s)",
                    display_name (m), k->line, k->col, k->path, k->what);
}

/* ------------------------------------------------------------------------- */
/* JSON                                                                       */

struct jctx
{
  int bad; /* a string was not valid UTF-8 (e.g. a non-UTF-8 working directory) */
};

static json_t *
jstr (struct jctx *j, const char *s)
{
  json_t *v;
  if (s == NULL)
    return json_null ();
  v = json_string (s);
  if (v == NULL)
    {
      j->bad = 1;
      return json_null ();
    }
  return v;
}

static void
jset (json_t *o, const char *k, json_t *v)
{
  if (v == NULL || json_object_set_new (o, k, v) < 0)
    xoom ();
}

static json_t *
jstrv (struct jctx *j, char *const *v, size_t n)
{
  json_t *a = json_array ();
  size_t i;
  for (i = 0; i < n; i++)
    json_array_append_new (a, jstr (j, v[i]));
  return a;
}

static json_t *
jkv (struct jctx *j, const struct enclaver_kv *kv, size_t n)
{
  json_t *o = json_object ();
  size_t i;
  for (i = 0; i < n; i++)
    {
      /* steals the value even when the key is rejected (not UTF-8) */
      if (json_object_set_new (o, kv[i].key, jstr (j, kv[i].value)) < 0)
        j->bad = 1;
    }
  return o;
}

char *
enclaver_manifest_to_json (const struct enclaver_manifest *m, enclaver_error_t *err)
{
  struct jctx j = { 0 };
  json_t *root, *o, *a;
  char *s, *out;
  size_t i;

  if (m == NULL)
    {
      enclaver_make_error (err, EINVAL, "no manifest");
      return NULL;
    }
  root = json_object ();
  jset (root, "path", jstr (&j, m->path));
  jset (root, "dir", jstr (&j, m->dir));
  jset (root, "version", jstr (&j, m->version));
  jset (root, "name", jstr (&j, m->name));
  jset (root, "target", jstr (&j, m->target));

  o = json_object ();
  jset (o, "app", jstr (&j, m->source_app));
  jset (o, "odyn", jstr (&j, m->source_supervisor));
  jset (o, "sleeve", jstr (&j, m->source_wrapper));
  jset (root, "sources", o);

  a = json_array ();
  if (m->source_supervisor_legacy)
    json_array_append_new (a, json_string ("sources.supervisor"));
  if (m->source_wrapper_legacy)
    json_array_append_new (a, json_string ("sources.wrapper"));
  jset (root, "legacy_keys", a);

  if (m->signature_certificate || m->signature_key)
    {
      o = json_object ();
      jset (o, "certificate", jstr (&j, m->signature_certificate));
      jset (o, "key", jstr (&j, m->signature_key));
      jset (root, "signature", o);
    }
  else
    jset (root, "signature", json_null ());

  o = json_object ();
  jset (o, "cpu_count", json_integer (m->cpu_count));
  jset (o, "memory_mb", json_integer (m->memory_mb));
  jset (root, "defaults", o);

  a = json_array ();
  for (i = 0; i < m->n_ingress; i++)
    {
      json_t *in = json_object ();
      jset (in, "listen_port", json_integer (m->ingress[i].listen_port));
      if (m->ingress[i].has_tls)
        {
          json_t *t = json_object ();
          jset (t, "key_file", jstr (&j, m->ingress[i].tls_key_file));
          jset (t, "cert_file", jstr (&j, m->ingress[i].tls_cert_file));
          jset (in, "tls", t);
        }
      else
        jset (in, "tls", json_null ());
      json_array_append_new (a, in);
    }
  jset (root, "ingress", a);

  o = json_object ();
  jset (o, "enabled", json_boolean (m->n_egress_allow > 0));
  jset (o, "allow", jstrv (&j, m->egress_allow, m->n_egress_allow));
  jset (o, "deny", jstrv (&j, m->egress_deny, m->n_egress_deny));
  jset (o, "proxy_port", json_integer (m->egress_proxy_port));
  jset (root, "egress", o);

  if (m->has_kms_proxy)
    {
      o = json_object ();
      jset (o, "listen_port", json_integer (m->kms_proxy_port));
      jset (o, "endpoints", jkv (&j, m->kms_endpoints, m->n_kms_endpoints));
      jset (root, "kms_proxy", o);
    }
  else
    jset (root, "kms_proxy", json_null ());

  if (m->has_api)
    {
      o = json_object ();
      jset (o, "listen_port", json_integer (m->api_port));
      jset (root, "api", o);
    }
  else
    jset (root, "api", json_null ());

  if (m->has_spire)
    {
      o = json_object ();
      jset (o, "server_addr", jstr (&j, m->spire_server_addr));
      jset (o, "ca_cert", jstr (&j, m->spire_ca_cert));
      jset (o, "trust_domain", jstr (&j, m->spire_trust_domain));
      jset (o, "svid_dir", jstr (&j, m->spire_svid_dir));
      jset (o, "workload_api_addr", jstr (&j, m->spire_workload_api_addr
                                                  ? m->spire_workload_api_addr
                                                  : DEFAULT_SPIRE_WORKLOAD_API_ADDR));
      jset (root, "spire", o);
    }
  else
    jset (root, "spire", json_null ());

  a = json_array ();
  if (m->n_pipeline == 0)
    for (i = 0; i < ARRAY_SIZE (default_stack); i++)
      {
        json_t *e = json_object ();
        jset (e, "kind", json_string ("builtin"));
        jset (e, "name", json_string (default_stack[i]));
        jset (e, "options", json_object ());
        json_array_append_new (a, e);
      }
  for (i = 0; i < m->n_pipeline; i++)
    {
      const struct enclaver_pipeline_entry *pe = &m->pipeline[i];
      json_t *e = json_object ();
      const char *kind = pe->kind == ENCLAVER_PIPELINE_PLUGIN ? "plugin"
                         : pe->kind == ENCLAVER_PIPELINE_LUA  ? "lua"
                                                              : "builtin";
      jset (e, "kind", json_string (kind));
      if (pe->kind == ENCLAVER_PIPELINE_BUILTIN)
        jset (e, "name", jstr (&j, pe->name));
      else
        jset (e, "path", jstr (&j, pe->path));
      jset (e, "options", jkv (&j, pe->options, pe->n_options));
      json_array_append_new (a, e);
    }
  jset (root, "pipeline", a);
  jset (root, "pipeline_is_default", json_boolean (m->n_pipeline == 0));
  jset (root, "hooks", jstrv (&j, m->hooks, m->n_hooks));

  o = json_object ();
  jset (o, "blobs", jstr (&j, m->kernel_blobs_dir));
  jset (o, "kernel", jstr (&j, m->kernel_image));
  jset (o, "cmdline", jstr (&j, m->kernel_cmdline));
  jset (o, "init", jstr (&j, m->kernel_init));
  jset (o, "nsm", jstr (&j, m->kernel_nsm));
  jset (o, "arch", jstr (&j, m->kernel_arch));
  jset (root, "kernel", o);

  o = json_object ();
  jset (o, "eif", jstr (&j, m->output_eif));
  {
    json_t *im = json_object ();
    jset (im, "format", jstr (&j, m->output_image_format));
    jset (im, "destination", jstr (&j, m->output_image_dest));
    jset (o, "image", im);
  }
  if (m->output_push)
    json_object_set_new (o, "push", json_true ());
  jset (root, "output", o);

  o = json_object ();
  jset (o, "source_date_epoch",
        m->has_source_date_epoch ? json_integer (m->source_date_epoch) : json_null ());
  jset (root, "reproducible", o);

  o = json_object ();
  jset (o, "status_port", json_integer (m->status_port));
  jset (o, "app_log_port", json_integer (m->app_log_port));
  jset (o, "http_egress_port", json_integer (m->http_egress_port));
  jset (root, "vsock_ports", o);

  o = json_object ();
  jset (o, "memory_mb", m->lua_memory_mb ? json_integer (m->lua_memory_mb) : json_null ());
  jset (o, "instructions", m->lua_instructions ? json_integer (m->lua_instructions) : json_null ());
  jset (root, "lua", o);

  if (j.bad)
    {
      json_decref (root);
      enclaver_make_error (err, EILSEQ, "%s: a value is not valid UTF-8 and cannot be shown as JSON",
                           m->path ? m->path : "manifest");
      return NULL;
    }
  s = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (root);
  if (s == NULL)
    xoom ();
  out = xasprintf ("%s\n", s);
  free (s);
  return out;
}
