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

/* A key written in the manifest (see enclaver_manifest_unimplemented). */
struct enclaver_manifest_key
{
  char *path;         /* as written: "kms_proxy", "sources.supervisor", "ingress" */
  unsigned line, col; /* where the key is (1-based) */
  const char *what;   /* why it has no effect, e.g. "enclaver has no KMS proxy" */
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
  char *kernel_init;      /* kernel.init: "builtin", "blobs" or an absolute path */
  char *kernel_nsm;       /* kernel.nsm */
  char *kernel_arch;      /* kernel.arch: "x86_64" or "aarch64", NULL = host */

  /* output: */
  char *output_eif;          /* output.eif */
  char *output_image_format; /* output.image.format: "oci" | "docker-archive" | "registry" */
  char *output_image_dest;   /* output.image.destination */
  char *output_push_word;    /* output.push as written ("true" / "false") */
  int output_push;           /* output.push: true: `enclaver build` pushes to target */

  /* reproducible: */
  int has_source_date_epoch;
  int64_t source_date_epoch; /* reproducible.source_date_epoch */

  /* vsock ports (sparsity fork's `vsock_ports` spelling): */
  uint16_t status_port;      /* default 17000 */
  uint16_t app_log_port;     /* default 17001 */
  uint16_t http_egress_port; /* default 17002 */

  /* ---- added after the skeleton (keep at the end) ---- */
  /* 1 when the 0.5.0 spelling was written (sources.supervisor / sources.wrapper),
   * 0 for the 0.6.x spelling (sources.odyn / sources.sleeve) or when unset. */
  int source_supervisor_legacy;
  int source_wrapper_legacy;

  /* spire: (enclaver-io 0.6.x) */
  int has_spire;
  char *spire_server_addr;
  char *spire_ca_cert;          /* path inside the image, kept as written */
  char *spire_trust_domain;
  char *spire_svid_dir;         /* path inside the image, kept as written */
  char *spire_workload_api_addr; /* default "127.0.0.1:5000" */

  /* lua: limits of hook scripts and Lua stages; 0 = the default (see <enclaver/lua.h>) */
  int64_t lua_memory_mb;    /* lua.memory_mb, 1..4096 */
  int64_t lua_instructions; /* lua.instructions per call, 1000..10^12 */

  /* keys written in the file that are accepted but have no effect yet, in file order
   * (read them with enclaver_manifest_unimplemented) */
  struct enclaver_manifest_key *no_effect;
  size_t n_no_effect;
};

/* Largest manifest accepted (bytes); bigger input is an error, never read whole. */
#define ENCLAVER_MANIFEST_MAX_SIZE (1024 * 1024)

/* Flags for enclaver_manifest_load_ex / _parse_ex / _validate. */
enum
{
  /* sources.app may be missing: the caller will supply it with
   * enclaver_manifest_set_app() (--from IMAGE / ENCLAVER_FROM) and then call
   * enclaver_manifest_validate (m, 0, err) itself. */
  ENCLAVER_MANIFEST_NO_APP_REQUIRED = 1u << 0,
};

/* Parse path ("-" = stdin).  On error *err carries "FILE:LINE:COL: key.path: problem"
 * (one line per problem found, at most a few dozen; status EINVAL for a bad manifest,
 * the errno for I/O failures, EFBIG beyond ENCLAVER_MANIFEST_MAX_SIZE).
 * Same as enclaver_manifest_load_ex (path, 0, err): the result is fully validated. */
struct enclaver_manifest *enclaver_manifest_load (const char *path, enclaver_error_t *err);
/* Parse a buffer; name is used in messages, dir for relative paths (NULL = cwd).
 * Same as enclaver_manifest_parse_ex (..., 0, err). */
struct enclaver_manifest *enclaver_manifest_parse (const char *buf, size_t len, const char *name,
                                                   const char *dir, enclaver_error_t *err);
/* As above with flags (ENCLAVER_MANIFEST_*).  Every check runs at parse time except
 * the ones enclaver_manifest_validate() does; those run at the end with the same flags. */
struct enclaver_manifest *enclaver_manifest_load_ex (const char *path, unsigned flags,
                                                     enclaver_error_t *err);
struct enclaver_manifest *enclaver_manifest_parse_ex (const char *buf, size_t len,
                                                      const char *name, const char *dir,
                                                      unsigned flags, enclaver_error_t *err);
/* Whole-manifest checks that do not depend on the YAML text: required keys (version,
 * name, target, and sources.app unless flags has ENCLAVER_MANIFEST_NO_APP_REQUIRED),
 * value ranges, and port collisions.  Returns 0, or -1 with *err naming the file and key.
 * Typical --from flow:
 *   m = enclaver_manifest_load_ex (path, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
 *   if (from) enclaver_manifest_set_app (m, from, &err);
 *   enclaver_manifest_validate (m, 0, &err); */
int enclaver_manifest_validate (const struct enclaver_manifest *m, unsigned flags,
                                enclaver_error_t *err);
void enclaver_manifest_free (struct enclaver_manifest *m);
/* Replace sources.app (the --from / ENCLAVER_FROM override).  Local transports
 * (oci:DIR[:TAG], oci-archive:FILE[:REF], docker-archive:FILE[:REF]) are resolved against
 * the current directory, since the value comes from the command line.  An empty or
 * blank value is an error (EINVAL). */
int enclaver_manifest_set_app (struct enclaver_manifest *m, const char *app, enclaver_error_t *err);
/* The normalised manifest as indented JSON (malloc'd string, ends with a newline):
 * stable key order, every field, defaults filled in, 0.6.x key names
 * (sources.odyn / sources.sleeve), "legacy_keys" listing 0.5.0 spellings used. */
char *enclaver_manifest_to_json (const struct enclaver_manifest *m, enclaver_error_t *err);
/* Keys accepted for compatibility that nothing uses yet.  Each key of the schema is
 * either implemented or accepted with no effect (the schema table says which);
 * `enclaver build` and `enclaver manifest` warn once for each such key a manifest has. */
enum
{
  ENCLAVER_MANIFEST_KEY_UNKNOWN = -1,   /* not a key of the schema */
  ENCLAVER_MANIFEST_KEY_NO_EFFECT = 0,  /* accepted, but has no effect yet */
  ENCLAVER_MANIFEST_KEY_IMPLEMENTED = 1,
};
/* Status of a key path: "kms_proxy", "sources.odyn" (either spelling),
 * "ingress[].tls.key_file" (a list's items as "[]" or "[N]").  A key below one with no
 * effect has none either. */
int enclaver_manifest_key_status (const char *path);
/* The i-th key written in m that has no effect yet (the topmost one: "kms_proxy", not
 * "kms_proxy.listen_port"), or NULL when i is past the last.  Typical use:
 *   for (i = 0; (k = enclaver_manifest_unimplemented (m, i)); i++)
 *     warn (enclaver_manifest_unimplemented_message (m, k)); */
const struct enclaver_manifest_key *enclaver_manifest_unimplemented (const struct enclaver_manifest *m,
                                                                     size_t i);
/* "FILE:LINE:COL: KEY: accepted but has no effect yet in this version (WHY)", malloc'd. */
char *enclaver_manifest_unimplemented_message (const struct enclaver_manifest *m,
                                               const struct enclaver_manifest_key *k);

/* Is s a valid egress pattern (ENCLAVER.md section 3)?  0, or -1 with *err saying why
 * (message without file/key context). */
int enclaver_egress_pattern_check (const char *s, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
