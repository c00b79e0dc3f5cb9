/* enclaver: container images as the fetch stage leaves them.
 *
 * enclaver_image_fetch() turns a source string into a verified image:
 *   registry reference     nginx, nginx:1.27, ghcr.io/org/app@sha256:..., localhost:5000/app:tag,
 *                          docker://REF (same as a bare reference)
 *   OCI layout directory   oci:DIR[:REF]          REF = org.opencontainers.image.ref.name or @N
 *   OCI archive            oci-archive:FILE[:REF]
 *   docker save tarball    docker-archive:FILE[:REF]  (legacy and Docker >= 25 layouts;
 *                          REF = a RepoTags entry or @N)
 *   Docker Engine image    docker-daemon:NAME[:TAG|@DIGEST] or docker-daemon:sha256:ID, exported
 *                          through the Engine API on $DOCKER_HOST (unix:// or tcp://) or
 *                          /var/run/docker.sock
 *   skopeo directory       dir:DIR                    (manifest.json, version, blobs by hex)
 *   a path                 ./x, ../x, /x, ~/x, *.eif, *.tar, *.tar.gz or any existing file or
 *                          directory: read by its bytes (enclaver_image_source_resolve)
 * The manifest, the config and (unless only_metadata) every layer blob end up in the
 * content-addressed cache (blobs/sha256/<hex>), each verified against its digest and
 * size before it is renamed into place.
 *
 * The fetch stage stores a `struct enclaver_image *` in the context slot
 * ENCLAVER_SLOT_IMAGE with the type tag ENCLAVER_IMAGE_TYPE; free it with
 * enclaver_image_free().  Every string is owned by the struct; string arrays are
 * NULL-terminated and also carry their count.
 */
#ifndef ENCLAVER_IMAGE_H
#define ENCLAVER_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_IMAGE_TYPE "enclaver.image"

/* Media types (OCI image-spec and Docker v2 schema 2). */
#define ENCLAVER_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define ENCLAVER_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define ENCLAVER_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define ENCLAVER_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define ENCLAVER_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define ENCLAVER_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define ENCLAVER_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ENCLAVER_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define ENCLAVER_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ENCLAVER_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define ENCLAVER_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define ENCLAVER_MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"

/* ---------------------------------------------------------------- references */

enum enclaver_transport
{
  ENCLAVER_TRANSPORT_REGISTRY = 1,       /* docker://REF or a bare reference */
  ENCLAVER_TRANSPORT_OCI = 2,            /* oci:DIR[:REF] */
  ENCLAVER_TRANSPORT_OCI_ARCHIVE = 3,    /* oci-archive:FILE[:REF] */
  ENCLAVER_TRANSPORT_DOCKER_ARCHIVE = 4, /* docker-archive:FILE[:REF] */
  ENCLAVER_TRANSPORT_DOCKER_DAEMON = 5,  /* docker-daemon:NAME[:TAG] (Docker Engine API) */
  ENCLAVER_TRANSPORT_DIR = 6,            /* dir:DIR as skopeo writes it */
  ENCLAVER_TRANSPORT_EIF = 7,            /* an EIF file (only from enclaver_image_source_resolve) */
};

struct enclaver_image_ref
{
  int transport; /* enum enclaver_transport */
  /* registry: */
  char *domain;   /* "docker.io", "ghcr.io", "localhost:5000" (as normalised) */
  char *path;     /* "library/nginx", "org/app" */
  char *tag;      /* NULL when only a digest was given ("latest" when neither) */
  char *digest;   /* "sha256:<64 hex>" or NULL */
  char *api_host; /* where the API lives: "registry-1.docker.io" for docker.io, else domain */
  /* oci / oci-archive / docker-archive / dir / eif: */
  char *file;     /* DIR or FILE as given */
  char *image;    /* REF after the path (NULL = the only image); "@N" selects by index;
                   * docker-daemon: the NAME[:TAG] or sha256:ID given to the Engine */
};

/* Parse a source string.  Registry references follow the distribution/reference
 * grammar with Docker Hub normalisation (nginx -> docker.io/library/nginx:latest);
 * name:tag@digest keeps the digest and drops the tag for pulling (tag is kept in
 * the struct for display). */
struct enclaver_image_ref *enclaver_image_ref_parse (const char *source, enclaver_error_t *err);
void enclaver_image_ref_free (struct enclaver_image_ref *ref);
/* Canonical text: "docker.io/library/nginx:1.27", "ghcr.io/org/app@sha256:...",
 * "oci:DIR:REF", "docker-daemon:app:1.0", ... (malloc'd).  A digest always follows '@'. */
char *enclaver_image_ref_string (const struct enclaver_image_ref *ref);

/* The one rule for an image source a user gave (--from, `image` commands, `run`, sources.app):
 *  - a transport prefix (docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, dir:)
 *    is taken as written (a local transport's path must exist);
 *  - an existing file or directory is read by its bytes, not its name: an EIF (transport
 *    ENCLAVER_TRANSPORT_EIF), an OCI archive or docker archive (plain, gzip or zstd tar), an
 *    OCI layout directory or a skopeo dir:; anything else is "X is not an EIF, OCI archive,
 *    docker archive or OCI layout";
 *  - a name that looks like a path (./x, ../x, /x, ~/x, *.eif, *.tar, *.tar.gz, *.tgz,
 *    *.tar.zst) and does not exist is "X: no such file or directory" (status ENOENT);
 *  - anything else is a registry reference.
 * No network access.  ref->file of a local source keeps the whole path (':' included). */
struct enclaver_image_ref *enclaver_image_source_resolve (const char *source, enclaver_error_t *err);
/* 1 when source, without a transport prefix, looks like a path by the rule above (./x, ../x,
 * /x, ~/x, *.eif, *.tar, ...), without looking at the filesystem; 0 otherwise. */
int enclaver_image_source_is_path (const char *source);

/* ---------------------------------------------------------------- platforms */

struct enclaver_platform
{
  char os[32];           /* "linux" */
  char architecture[32]; /* normalised: "amd64", "arm64", "arm", ... */
  char variant[16];      /* "" when none; "v8" for arm64 and "v1" for amd64 normalise to "" */
};

/* Parse "os/arch[/variant]" or "arch" (os = linux), normalising aliases
 * (x86_64 -> amd64, aarch64 -> arm64, arm64/v8 -> arm64, ...).  An os or architecture
 * that is not a GOOS/GOARCH value is an error: "foo" is not linux/foo.  Commands check
 * --platform with it while reading their options, so a bad value is a usage error. */
int enclaver_platform_parse (const char *s, struct enclaver_platform *out, enclaver_error_t *err);
/* The host's platform (linux + uname machine, normalised). */
void enclaver_platform_host (struct enclaver_platform *out);
/* "linux/arm64" or "linux/arm/v7" into buf (size >= 96). */
const char *enclaver_platform_format (const struct enclaver_platform *p, char *buf, size_t size);

/* ---------------------------------------------------------------- the image */

enum enclaver_compression
{
  ENCLAVER_COMPRESSION_UNKNOWN = 0, /* not examined (layers were not fetched) */
  ENCLAVER_COMPRESSION_NONE = 1,
  ENCLAVER_COMPRESSION_GZIP = 2,
  ENCLAVER_COMPRESSION_ZSTD = 3,
};

struct enclaver_image_layer
{
  char *digest;     /* "sha256:<hex>" of the blob as distributed */
  uint64_t size;    /* bytes of the blob */
  char *media_type; /* as in the manifest */
  char *diff_id;    /* config.rootfs.diff_ids[i]: sha256 of the uncompressed tar */
  char *path;       /* absolute path of the verified blob in the cache; NULL if not fetched */
  int compression;  /* enum enclaver_compression, detected from the blob's magic bytes */
};

struct enclaver_image
{
  char *source;       /* the source string as given */
  int transport;      /* enum enclaver_transport */
  char *name;         /* canonical reference (enclaver_image_ref_string) */
  char *digest;       /* manifest digest "sha256:<hex>" */
  char *media_type;   /* manifest media type */
  uint64_t manifest_size;
  char *index_digest; /* the index the manifest was selected from, or NULL */
  char *platform;     /* "linux/amd64", "linux/arm64/v8" (from the config) */
  char *cache_dir;    /* absolute cache root used */

  /* config blob */
  char *config_digest;
  uint64_t config_size;
  char *config_media_type;
  char *config_path;  /* verified config blob in the cache */

  /* parsed config (absent fields: NULL / 0) */
  char *os, *architecture, *variant;
  char *created;        /* RFC 3339 string or NULL */
  char **entrypoint;    size_t n_entrypoint; int has_entrypoint;
  char **cmd;           size_t n_cmd;        int has_cmd;
  char **env;           size_t n_env;        /* "NAME=value" */
  char *working_dir;
  char *user;
  char **exposed_ports; size_t n_exposed_ports; /* "8080/tcp", sorted as in the JSON */
  char **volumes;       size_t n_volumes;
  char **labels;        size_t n_labels;        /* "key=value" */
  char *stop_signal;
  char **diff_ids;      size_t n_diff_ids;

  struct enclaver_image_layer *layers; /* base first */
  size_t n_layers;
};

struct enclaver_image_options
{
  const char *platform;   /* "linux/arm64[/v8]"; NULL = host */
  const char *cache_dir;  /* NULL = $XDG_CACHE_HOME/enclaver or ~/.cache/enclaver */
  unsigned jobs;          /* parallel blob downloads; 0 = 4 */
  int pull;               /* ignore cached blobs and manifests: fetch and verify again */
  int offline;            /* never use the network (cache and local files only) */
  const char *const *insecure_registries; /* NULL-terminated "host[:port]" list allowing http */
  const char *ca_cert;    /* PEM bundle for registry TLS; NULL = SSL_CERT_FILE or system */
  int only_metadata;      /* fetch manifest and config only (image inspect) */
  int progress;           /* -1 auto (per-layer lines on a tty, else one summary), 0 off, 1 on */
  int layers_in_place;    /* oci:DIR only: layer blobs stay in the layout (layer.path points
                           * there) instead of being copied into the cache; only their size is
                           * checked here, so the consumer must verify the digest while
                           * reading (the flatten stage does) */
  const char *cert_dir;   /* certs.d-style directory: DIR/HOST[:PORT]/{*.crt CA, *.cert + *.key
                           * client}; NULL = /etc/containers/certs.d, then /etc/docker/certs.d */
  const char *creds;      /* "USER:PASSWORD" for every registry; NULL = the credential files */
  long blob_timeout;      /* seconds one registry request (a blob or manifest, with its retries)
                           * may take; 0 = $ENCLAVER_BLOB_TIMEOUT, else 1800 */
};

void enclaver_image_options_init (struct enclaver_image_options *opts);

/* Resolve, download/copy and verify.  Errors name the source, digest and step. */
struct enclaver_image *enclaver_image_fetch (const char *source, const struct enclaver_image_options *opts,
                                             enclaver_error_t *err);
void enclaver_image_free (struct enclaver_image *img);
/* Same signature as the context's free functions. */
void enclaver_image_free_void (void *img);
/* After reading layer INDEX of IMG failed (its digest, DiffID or decompression): when the
 * layer is a blob of the cache (IMG->cache_dir) whose content no longer hashes to its
 * digest, the entry is removed (a warning names the file) and fetched again from
 * IMG->source with OPTS (platform and cache taken from IMG; OPTS->offline: not fetched,
 * an error says so).  1: repaired, read the layer again; 0: the blob is intact or not
 * the cache's (the read error stands); -1 with *err naming the cache file. */
int enclaver_image_repair_layer (const struct enclaver_image *img, size_t index,
                                 const struct enclaver_image_options *opts, enclaver_error_t *err);
/* The `enclaver image inspect` document (malloc'd, indented JSON):
 * {"Name","Digest","MediaType","Platform","Config":{...},"Layers":[{"Digest","Size","MediaType"}],...} */
char *enclaver_image_to_json (const struct enclaver_image *img, enclaver_error_t *err);

/* ---------------------------------------------------------------- copy and push */

struct enclaver_image_copy_options
{
  struct enclaver_image_options src; /* how the source is fetched; its registry settings
                                      * (insecure, ca_cert, cert_dir, creds) apply to the
                                      * destination too */
  const char *format;     /* NULL: keep the manifest; "oci" or "docker": those media types */
  const char *dest_creds; /* "USER:PASSWORD" for the destination; NULL: src.creds or files */
};

struct enclaver_image_copy_result
{
  char *digest;      /* the manifest digest at the destination */
  char *destination; /* canonical destination reference */
  unsigned blobs_present, blobs_mounted, blobs_uploaded, resumes;
  uint64_t bytes_uploaded;
};

/* Copy SOURCE (any source enclaver_image_fetch reads) to DEST: a registry reference
 * (by tag, or by digest, which must be the manifest's), oci:DIR[:NAME],
 * oci-archive:FILE[:NAME] or docker-archive:FILE[:NAME[:TAG]] (FILE replaced whole,
 * through a temporary beside it; a docker-archive's layers are uncompressed, so its
 * manifest digest is not the source's).  0, or -1 with *err naming the step, blob and
 * registry. */
int enclaver_image_copy (const char *source, const char *dest, const struct enclaver_image_copy_options *o,
                         struct enclaver_image_copy_result *res, enclaver_error_t *err);
void enclaver_image_copy_result_clear (struct enclaver_image_copy_result *res);

/* ---------------------------------------------------------------- archives */

enum enclaver_archive_format
{
  ENCLAVER_ARCHIVE_OCI = 1,    /* oci-archive: a tar of an OCI layout */
  ENCLAVER_ARCHIVE_DOCKER = 2, /* docker-archive: the OCI layout plus docker save's manifest.json
                                * and repositories, as Docker >= 25 saves (layers must be
                                * uncompressed tars: docker load and skopeo take a layer's digest
                                * for its diff_id) */
};

/* One blob of an archive: its bytes in memory (data) or in a file (path), which is
 * hashed again while it is copied and must match digest and size. */
struct enclaver_archive_blob
{
  const char *digest; /* "sha256:<hex>" */
  uint64_t size;
  const char *path;
  const void *data;
};

struct enclaver_archive_image
{
  int format;                      /* enum enclaver_archive_format */
  const char *manifest_media_type; /* of the index.json entry */
  struct enclaver_archive_blob manifest, config;
  const struct enclaver_archive_blob *layers;
  size_t n_layers;
  const char *ref_name;   /* org.opencontainers.image.ref.name of the index.json entry, or NULL */
  const char *image_name; /* NAME:TAG: io.containerd.image.name and, for docker, the RepoTags
                           * entry and the repositories file; NULL: untagged */
  int64_t mtime;          /* of every member */
};

/* The index.json of a one-image OCI layout (compact, sorted keys; malloc'd). */
char *enclaver_image_index_json (const char *manifest_media_type, const char *digest, uint64_t size,
                                 const char *ref_name, const char *image_name);
/* Write the image as one tar to fd (members sorted, each blob once, uid/gid 0).  The
 * caller writes to a temporary name and renames it on success.  0, or -1 with *err
 * naming the member. */
int enclaver_image_archive_write (int fd, const struct enclaver_archive_image *img, enclaver_error_t *err);

/* The default cache directory (malloc'd). */
char *enclaver_image_default_cache_dir (void);

/* ---------------------------------------------------------------- layer streams */

/* Compression of a blob from its first bytes: gzip 1f 8b 08, zstd 28 b5 2f fd (or a
 * skippable frame first), tar (ustar magic at 257 or a zero first block).  Anything
 * else is an error naming the magic bytes. */
int enclaver_detect_compression (const unsigned char *buf, size_t len, enclaver_error_t *err);

typedef struct enclaver_layer_stream enclaver_layer_stream_t;

/* Open layer `index` of img (which must have been fetched with layers) as the
 * uncompressed tar byte stream.  The blob is re-read from the cache; its digest is
 * checked again as it is read, and the uncompressed bytes are hashed for the DiffID. */
enclaver_layer_stream_t *enclaver_layer_open (const struct enclaver_image *img, size_t index,
                                              enclaver_error_t *err);
/* Open any blob file with a known compressed digest (may be NULL) and diff_id (may be NULL). */
enclaver_layer_stream_t *enclaver_layer_open_path (const char *path, const char *digest,
                                                   const char *diff_id, const char *name,
                                                   enclaver_error_t *err);
/* Read up to len uncompressed bytes; 0 at the end, -1 on error. */
ssize_t enclaver_layer_read (enclaver_layer_stream_t *s, void *buf, size_t len, enclaver_error_t *err);
/* Drain what is left, then check the blob digest and the DiffID (when known).
 * diff_id_out (may be NULL, >= 72 bytes) receives "sha256:<hex>" of the tar stream. */
int enclaver_layer_finish (enclaver_layer_stream_t *s, char *diff_id_out, enclaver_error_t *err);
void enclaver_layer_close (enclaver_layer_stream_t *s);
/* A libarchive reader (struct archive *) for the tar inside: format tar only, no filters,
 * fed from the stream.  Close it with archive_read_free() before enclaver_layer_finish(). */
void *enclaver_layer_archive (enclaver_layer_stream_t *s, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
