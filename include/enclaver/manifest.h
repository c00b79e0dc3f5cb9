/* enclaver: enclaver.yaml, Enclaver's v1 schema plus enclaver's extension keys.
 * Parsed with libyaml; errors name file:line:column and the key path. */
#ifndef ENCLAVER_MANIFEST_H
#define ENCLAVER_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

struct enclaver_kv
{
  char *key;
  char *value;
};

struct enclaver_ingress
{
  uint16_t listen_port;
  int has_tls;
  char *tls_key_file;  /* as written; Enclaver ignores the names (ENCLAVER.md §2) */
  char *tls_cert_file;
};

enum enclaver_pipeline_kind
{
  ENCLAVER_PIPELINE_BUILTIN = 0, /* "- fetch" */
  ENCLAVER_PIPELINE_PLUGIN = 1,  /* "- plugin: PATH" */
  ENCLAVER_PIPELINE_LUA = 2,     /* "- lua: PATH" */
};

struct enclaver_pipeline_entry
{
  int kind;          /* enum enclaver_pipeline_kind */
  char *name;        /* builtin stage name; NULL for plugin/lua */
  char *path;        /* plugin/lua path, absolute (resolved against the manifest dir) */
  struct enclaver_kv *options; /* options: map, values as strings, in file order */
  size_t n_options;
  unsigned line;     /* where the entry was written */
};

struct enclaver_manifest
{
  char *path;     /* the file as given ("-" for stdin) */
  char *dir;      /* absolute directory relative paths resolve against (cwd for stdin) */

  char *version;  /* "v1" */
  char *name;
  char *target;

  char *source_app;
  char *source_supervisor; /* sources.supervisor or sources.odyn */
  char *source_wrapper;    /* sources.wrapper or sources.sleeve */

  char *signature_certificate; /* absolute */
  char *signature_key;         /* absolute */

  int64_t cpu_count;  /* default 2, >= 1 */
  int64_t memory_mb;  /* default 4096, >= 64 */

  struct enclaver_ingress *ingress;
  size_t n_ingress;

  int has_egress;
  char **egress_allow; size_t n_egress_allow;
  char **egress_deny; size_t n_egress_deny;
  uint16_t egress_proxy_port; /* default 10000 */

  int has_kms_proxy;
  uint16_t kms_proxy_port;
  struct enclaver_kv *kms_endpoints; size_t n_kms_endpoints; /* region -> host */

  int has_api;
  uint16_t api_port;

  /* ---- extension keys (not in Enclaver) ---- */
  struct enclaver_pipeline_entry *pipeline; size_t n_pipeline; /* 0 = default stack */
  char **hooks; size_t n_hooks; /* absolute Lua script paths */

  /* kernel: */
  char *kernel_blobs_dir; /* kernel.blobs */
  char *kernel_image;     /* kernel.kernel (bzImage / Image) */
  char *kernel_cmdline;   /* kernel.cmdline: a path to a cmdline file */
  char *kernel_init;      /* kernel.init */
  char *kernel_nsm;       /* kernel.nsm */
  char *kernel_arch;      /* kernel.arch: "x86_64" or "aarch64", NULL = host */

  /* output: */
  char *output_eif;          /* output.eif */
  char *output_image_format; /* output.image.format: "oci" | "docker-archive" | "registry" */
  char *output_image_dest;   /* output.image.destination */

  /* reproducible: */
  int has_source_date_epoch;
  int64_t source_date_epoch; /* reproducible.source_date_epoch */

  /* vsock ports (sparsity fork's `vsock_ports` spelling): */
  uint16_t status_port;      /* default 17000 */
  uint16_t app_log_port;     /* default 17001 */
  uint16_t http_egress_port; /* default 17002 */
};

/* Parse path ("-" = stdin).  On error *err carries "FILE:LINE:COL: key.path: problem". */
struct enclaver_manifest *enclaver_manifest_load (const char *path, enclaver_error_t *err);
/* Parse a buffer; name is used in messages, dir for relative paths (NULL = cwd). */
struct enclaver_manifest *enclaver_manifest_parse (const char *buf, size_t len, const char *name,
                                                   const char *dir, enclaver_error_t *err);
void enclaver_manifest_free (struct enclaver_manifest *m);
/* Replace sources.app (the --from / ENCLAVER_FROM override). */
int enclaver_manifest_set_app (struct enclaver_manifest *m, const char *app, enclaver_error_t *err);
/* The normalised manifest as compact-free, indented JSON (malloc'd string). */
char *enclaver_manifest_to_json (const struct enclaver_manifest *m, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
