/* enclaver: internal OCI helpers (core/oci). */
#ifndef ENCLAVER_OCI_INTERNAL_H
#define ENCLAVER_OCI_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <jansson.h>
#include <enclaver/image.h>
#include "util.h"

/* Limits (OCI.md §4.6). */
#define OCI_MAX_DOC (4u << 20)        /* manifest / index / config / archive JSON member */
/* Registry time bounds (docs/image.md "Retries"): each request (one blob or manifest,
 * every retry and wait included) ends within the deadline; a response that moves no
 * byte for the stall time is cut and retried, and that time halves with each retry. */
#define OCI_BLOB_TIMEOUT_DEFAULT 1800 /* s; --blob-timeout, ENCLAVER_BLOB_TIMEOUT */
#define OCI_BLOB_TIMEOUT_MAX 86400
#define OCI_STALL_S 60L               /* first attempt; then 30, 15, 8, 4 s */
#define OCI_STALL_MIN_S 4L
#define OCI_MAX_TOKEN (64u << 10)     /* token response */
#define OCI_MAX_ERROR_BODY (64u << 10)
#define OCI_MAX_INDEX_DEPTH 4
#define OCI_MAX_LAYERS 256
#define OCI_DIGEST_LEN 71             /* "sha256:" + 64 */

/* ---- digests (digest.c) */
/* 1 when d is "sha256:" + 64 lowercase hex. */
int oci_digest_valid (const char *d) ENCLAVER_INTERNAL;
/* Validate, with a message naming what (e.g. "layer 2 digest"). */
int oci_digest_check (const char *d, const char *what, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_sha256_buf (const void *buf, size_t len, char out[OCI_DIGEST_LEN + 1]) ENCLAVER_INTERNAL;

struct oci_hasher
{
  EVP_MD_CTX *md;
  uint64_t n;
};
void oci_hasher_init (struct oci_hasher *h) ENCLAVER_INTERNAL;
void oci_hasher_update (struct oci_hasher *h, const void *buf, size_t len) ENCLAVER_INTERNAL;
/* Finish into out ("sha256:<hex>") and reset for reuse. */
void oci_hasher_final (struct oci_hasher *h, char out[OCI_DIGEST_LEN + 1]) ENCLAVER_INTERNAL;
void oci_hasher_reset (struct oci_hasher *h) ENCLAVER_INTERNAL;
void oci_hasher_free (struct oci_hasher *h) ENCLAVER_INTERNAL;

/* ---- documents (doc.c) */
enum oci_doc_kind
{
  OCI_DOC_UNKNOWN = 0,
  OCI_DOC_INDEX = 1,
  OCI_DOC_MANIFEST = 2,
};

struct oci_desc
{
  char *media_type;
  char *digest;
  int64_t size;          /* -1 when unknown */
  char *artifact_type;
  int has_platform;
  struct enclaver_platform platform;
  char *platform_text;   /* as written, for error messages */
  char *ref_name;        /* org.opencontainers.image.ref.name */
  char *image_name;      /* io.containerd.image.name */
  int attestation;       /* vnd.docker.reference.type: attestation-manifest */
};

struct oci_index
{
  char *media_type;
  struct oci_desc *m;
  size_t n;
};

struct oci_manifest
{
  char *media_type;
  struct oci_desc config;
  struct oci_desc *layers;
  size_t n_layers;
};

void oci_desc_clear (struct oci_desc *d) ENCLAVER_INTERNAL;
void oci_desc_copy (struct oci_desc *dst, const struct oci_desc *src) ENCLAVER_INTERNAL;
void oci_index_free (struct oci_index *ix) ENCLAVER_INTERNAL;
void oci_manifest_free (struct oci_manifest *m) ENCLAVER_INTERNAL;

/* Strict JSON load: duplicate keys rejected, size capped. */
json_t *oci_json_load (const char *buf, size_t len, const char *what, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Decide what a document is.  declared = media type from the descriptor or Content-Type
 * (may be NULL).  Rejects schema 1, mismatching mediaType, documents that look like
 * both an index and a manifest, and unknown types. */
int oci_doc_kind (json_t *root, const char *declared, const char *what, char **media_type_out,
                  enclaver_error_t *err) ENCLAVER_INTERNAL;
int oci_index_parse (json_t *root, const char *media_type, const char *what, struct oci_index *out,
                     enclaver_error_t *err) ENCLAVER_INTERNAL;
int oci_manifest_parse (json_t *root, const char *media_type, const char *what, struct oci_manifest *out,
                        enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Fill the config fields of img from the config blob. */
int oci_config_parse (const char *buf, size_t len, const char *what, struct enclaver_image *img,
                      enclaver_error_t *err) ENCLAVER_INTERNAL;
int oci_layer_media_type_ok (const char *mt) ENCLAVER_INTERNAL;

/* Pick the manifest for want from an index (first match, attestations skipped).
 * Returns the entry index or -1 with an error listing what the index offers. */
int oci_index_select (const struct oci_index *ix, const struct enclaver_platform *want, const char *what,
                      enclaver_error_t *err) ENCLAVER_INTERNAL;
int oci_platform_match (const struct enclaver_platform *have, const struct enclaver_platform *want) ENCLAVER_INTERNAL;

/* ---- cache (cache.c) */
struct oci_cache
{
  char *root;     /* absolute */
  char *blobs;    /* root/blobs/sha256 */
  char *tmp;      /* root/tmp */
};

int oci_cache_open (struct oci_cache *c, const char *dir, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_cache_close (struct oci_cache *c) ENCLAVER_INTERNAL;
/* Hash the cached blob of DIGEST: 0 when its content is its digest, 1 when not (*detail
 * says what it is), -1 on a read error. */
int oci_cache_blob_damaged (const struct oci_cache *c, const char *digest, char **detail,
                            enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Path of a blob (malloc'd); digest must be valid. */
char *oci_cache_blob_path (const struct oci_cache *c, const char *digest) ENCLAVER_INTERNAL;
/* 1 when the blob is present (and has size when size >= 0), 0 when not. */
int oci_cache_has (const struct oci_cache *c, const char *digest, int64_t size) ENCLAVER_INTERNAL;

/* A verified writer into the cache: bytes go to a temp file while hashed. */
struct oci_sink
{
  struct oci_cache *cache;
  char *tmp_path;
  int fd;
  struct oci_hasher h;
  uint64_t n;
  int64_t limit;          /* expected size or -1; more bytes than this is an error */
  const char *what;       /* for messages (borrowed) */
  int overflow;
  int write_errno;
};
int oci_sink_open (struct oci_sink *s, struct oci_cache *c, int64_t expected_size, const char *what,
                   enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Returns 0, or -1 on overflow/write error (recorded in the sink). */
int oci_sink_write (struct oci_sink *s, const void *buf, size_t len) ENCLAVER_INTERNAL;
/* Truncate to zero and restart hashing (server ignored Range). */
int oci_sink_restart (struct oci_sink *s) ENCLAVER_INTERNAL;
/* Verify digest (if non-NULL; else the computed digest names the blob) and size, then
 * rename into place.  computed_out (may be NULL) receives the digest. */
int oci_sink_commit (struct oci_sink *s, const char *digest, int64_t size, char *computed_out,
                     enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_sink_abort (struct oci_sink *s) ENCLAVER_INTERNAL;
/* Store bytes (verifying against digest when given). */
int oci_cache_put (struct oci_cache *c, const void *buf, size_t len, const char *digest, char *computed_out,
                   enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Read a small blob (max bytes) from the cache, re-verifying its digest. */
int oci_cache_read (struct oci_cache *c, const char *digest, size_t max, char **out, size_t *len,
                    enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Tag -> digest memory for offline use (refs/<host>/<path>/<tag>). */
int oci_cache_ref_set (struct oci_cache *c, const char *host, const char *path, const char *tag,
                       const char *digest, const char *media_type) ENCLAVER_INTERNAL;
int oci_cache_ref_get (struct oci_cache *c, const char *host, const char *path, const char *tag,
                       char **digest, char **media_type) ENCLAVER_INTERNAL;

/* ---- archives (archive.c) */
struct oci_member
{
  char *name;       /* normalised member name */
  char *digest;     /* blob in the cache (files), NULL for symlinks */
  uint64_t size;
  char *link;       /* symlink target resolved against the member's directory */
  char *data;       /* small JSON members kept in memory */
  size_t data_len;
};
struct oci_archive
{
  char *file;
  struct oci_member *m;
  size_t n;
};
/* Read a tar once: every regular member is spooled into the cache (named by its own
 * digest; blobs/sha256/<hex> members are checked against their name), JSON members
 * named in keep[] are also kept in memory. */
int oci_archive_load (const char *file, struct oci_cache *c, struct oci_archive *out, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* The same, naming the archive `display` in messages (a docker-daemon: export read from a
 * cache temporary). */
int oci_archive_load_as (const char *file, const char *display, struct oci_cache *c, struct oci_archive *out,
                         enclaver_error_t *err) ENCLAVER_INTERNAL;

/* ---- dir: (dir.c) */
/* Check DIR/version, store DIR/manifest.json in the cache and describe it in *root. */
int oci_dir_root (const char *dir, struct oci_cache *c, struct oci_desc *root, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* DIR/<hex>, DIR/<hex>.manifest.json, or DIR/manifest.json for the root manifest (malloc'd). */
char *oci_dir_blob_path (const char *dir, const char *digest, int is_manifest, const char *root_digest) ENCLAVER_INTERNAL;

/* ---- docker-daemon: (docker-daemon.c) */
/* Stream GET /images/{name}/get into sink (uncommitted); label names the source in messages. */
int oci_daemon_export (const char *name, const char *label, struct oci_sink *sink, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_archive_free (struct oci_archive *a) ENCLAVER_INTERNAL;
/* Find a member, following one symlink level; NULL when absent. */
const struct oci_member *oci_archive_find (const struct oci_archive *a, const char *name) ENCLAVER_INTERNAL;

/* ---- auth (auth.c) */
struct oci_challenge
{
  char scheme[16];   /* "bearer" / "basic" (lowercase) */
  char *realm, *service, *scope, *error;
};
/* Parse every challenge from the WWW-Authenticate header values (NUL-separated list
 * of header values); returns the count (may be 0), -1 on malformed input. */
int oci_www_authenticate_parse (const char *value, struct oci_challenge *out, int max) ENCLAVER_INTERNAL;
void oci_challenge_clear (struct oci_challenge *c) ENCLAVER_INTERNAL;
/* A token server's answer (the distribution token spec): "token", else "access_token",
 * a non-empty string without CR/LF; "expires_in" in seconds, 60 when absent or not a
 * positive integer, at most 86400.  Returns a malloc'd token, or NULL when there is none
 * usable (malformed JSON included). */
char *oci_token_response_parse (const char *body, size_t len, long long *expires_in) ENCLAVER_INTERNAL;

struct oci_creds
{
  char *username;
  char *password;
  char *identity_token;
  char *from;        /* where they came from, for messages */
};
/* Look up credentials for a registry host ("docker.io" uses the Docker Hub key).
 * Returns 1 found, 0 none, -1 error (malformed file, helper failure). */
int oci_creds_lookup (const char *host, struct oci_creds *out, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_creds_clear (struct oci_creds *c) ENCLAVER_INTERNAL;
char *oci_base64 (const void *buf, size_t len) ENCLAVER_INTERNAL;
/* Decode standard base64; NULL on error. */
unsigned char *oci_base64_decode (const char *s, size_t *len) ENCLAVER_INTERNAL;

/* ---- registry client (registry.c) */
struct oci_registry;
struct oci_registry_options
{
  const char *const *insecure;
  const char *ca_cert;
  int progress;
  const char *cert_dir; /* see enclaver_image_options */
  const char *creds;    /* "USER:PASSWORD" or NULL */
  long blob_timeout;    /* seconds; 0: $ENCLAVER_BLOB_TIMEOUT, else OCI_BLOB_TIMEOUT_DEFAULT */
};
struct oci_registry *oci_registry_new (const char *host, const char *display_host,
                                       const struct oci_registry_options *o, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_registry_free (struct oci_registry *r) ENCLAVER_INTERNAL;
/* GET a manifest by tag or digest; body capped at OCI_MAX_DOC. */
int oci_registry_get_manifest (struct oci_registry *r, const char *repo, const char *ref, char **body,
                               size_t *len, char **content_type, char **docker_digest,
                               enclaver_error_t *err) ENCLAVER_INTERNAL;
/* GET a blob into a sink (resumable, retried).  The caller commits the sink. */
int oci_registry_get_blob (struct oci_registry *r, const char *repo, const char *digest, int64_t size,
                           struct oci_sink *sink, enclaver_error_t *err) ENCLAVER_INTERNAL;
int oci_host_is_loopback (const char *hostport) ENCLAVER_INTERNAL;

/* ---- push (push.c) */
struct oci_push_stats
{
  unsigned blobs_present, blobs_mounted, blobs_uploaded, resumes;
  uint64_t bytes_uploaded;
};
/* 1 when repo has the blob, 0 when not, -1 on error. */
int oci_registry_blob_exists (struct oci_registry *r, const char *repo, const char *digest,
                              enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Push the blob in file to repo unless it is there (mounted from mount_from, another
 * repository of the registry, when given and it has it); counts go to st. */
int oci_registry_push_blob (struct oci_registry *r, const char *repo, const char *digest, uint64_t size,
                            const char *file, const char *mount_from, struct oci_push_stats *st,
                            enclaver_error_t *err) ENCLAVER_INTERNAL;
/* HEAD a manifest: *digest (its Docker-Content-Digest, NULL when the registry gives none
 * or an invalid one) and *content_type.  0; -1 with *err (a GET may still work); -2 with
 * *err when the registry is unreachable or keeps failing. */
int oci_registry_head_manifest (struct oci_registry *r, const char *repo, const char *ref, char **digest,
                                char **content_type, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* PUT a manifest by tag or digest; *digest_out (may be NULL) gets its digest. */
int oci_registry_put_manifest (struct oci_registry *r, const char *repo, const char *ref, const char *media_type,
                               const char *body, size_t len, char **digest_out, enclaver_error_t *err) ENCLAVER_INTERNAL;

/* ---- copy to archives (copy-archive.c) */
/* Check an oci-archive:/docker-archive: destination before anything is fetched: its REF
 * (*name: what the archive calls the image, malloc'd, NULL for none) and that its
 * directory takes files. */
int oci_copy_archive_check (const struct enclaver_image_ref *ref, char **name, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Write img (manifest mbody of media type mt) as the archive ref names; digest gets the
 * manifest digest in the archive (for docker-archive, that of the uncompressed layers). */
int oci_copy_to_archive (const struct enclaver_image *img, struct oci_cache *c, const char *mbody, size_t mlen,
                         const char *mt, const struct enclaver_image_ref *ref, const char *name,
                         char digest[OCI_DIGEST_LEN + 1], enclaver_error_t *err) ENCLAVER_INTERNAL;

/* progress (progress.c): mode -1 auto (a terminal: the per-blob block, else only the
 * summary), 0 none, 1 the block; push: the blobs go up. */
void oci_progress_begin (int mode, size_t n_items, int push) ENCLAVER_INTERNAL;
void oci_progress_end (void) ENCLAVER_INTERNAL;

#endif
