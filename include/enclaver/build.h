/* enclaver: what the inject, measure and emit-eif stages hand each other through the
 * build context.  (The image comes from <enclaver/image.h>, the rootfs tree from
 * <enclaver/tree.h>, the measurements from <enclaver/eif.h>.)
 *
 *   slot          type tag                 C type
 *   kernel        ENCLAVER_KERNEL_TYPE     struct enclaver_kernel *
 *   cmdline       ENCLAVER_CMDLINE_TYPE    char *  (no trailing newline, no NUL inside)
 *   ramdisks      ENCLAVER_RAMDISKS_TYPE   struct enclaver_ramdisks *
 *   measurements  ENCLAVER_MEASUREMENTS_TYPE struct enclaver_eif_measurements *
 *
 * Context parameters the stages read or set:
 *   in:  "kernel-dir", "eif-only", "lenient", "manifest-dir", "eif-sha256" (true = emit-eif
 *        hashes the finished file for the JSON result), "output-suffix" (added to the EIF's
 *        and the wrapper image's names: one build of several platforms, docs/cross-arch.md)
 *   out: "eif-path" (final path of the EIF), "eif-tmp" (where it is being written),
 *        "image-tmp" (emit-image, format oci: the layout directory being written, which an
 *        after:emit-image hook may add blobs and index.json entries to),
 *        "result-json" (what `enclaver build` prints), "artifact:eif" (see <enclaver/lua.h>)
 */
#ifndef ENCLAVER_BUILD_H
#define ENCLAVER_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/context.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_KERNEL_TYPE "enclaver.kernel"
#define ENCLAVER_CMDLINE_TYPE "enclaver.cmdline"
#define ENCLAVER_RAMDISKS_TYPE "enclaver.ramdisks"
#define ENCLAVER_MEASUREMENTS_TYPE "enclaver.measurements"

/* Where the default kernel blobs live (nitro-cli's layout). */
#define ENCLAVER_DEFAULT_BLOBS_DIR "/usr/share/nitro_enclaves/blobs"

struct enclaver_kernel
{
  char *path;      /* kernel image (bzImage / Image) */
  int arch;        /* enum enclaver_eif_arch */
  char *blobs_dir; /* where the blobs were found, or NULL for explicit paths */
  char *version;   /* kernel version string when it could be read, else NULL */
};

struct enclaver_ramdisks
{
  /* Bootstrap ramdisk (first): dev/, init, nsm.ko, in nitro-cli's linuxkit bytes. */
  char *init_path;
  char *nsm_path;  /* NULL: no nsm.ko (kernels with the driver built in) */
  /* Customer ramdisk (second): rootfs/ (the tree in the rootfs slot), cmd, env. */
  char **cmd;
  size_t n_cmd;
  char **env;
  size_t n_env;
  int64_t source_date_epoch; /* -1 = unset */
};

void enclaver_kernel_free (void *kernel);
void enclaver_ramdisks_free (void *ramdisks);

/* Find one of enclaver's helper programs (enclaver-supervisor, enclaver-init): in
 * $ENCLAVER_LIBEXEC_DIR, the build tree's runtime/ when running uninstalled, the
 * relocated pkglibexecdir, then the configured one.  malloc'd path, or NULL with an
 * error listing where it looked. */
char *enclaver_find_program (const char *name, enclaver_error_t *err);
/* Find one of the runtime binaries (enclaver-init, enclaver-supervisor, enclaver-run)
 * built for ARCH (enum enclaver_eif_arch), in the same places: the host's as
 * enclaver_find_program() does (or in a subdirectory named after its architecture),
 * another architecture's only in that subdirectory (x86_64/, aarch64/: what a build with
 * the cross toolchain adds, docs/cross-arch.md).  NULL with an error saying where it
 * looked and, for another architecture, what to install. */
char *enclaver_find_runtime_program (const char *name, int arch, enclaver_error_t *err);

/* The manifest as the user wrote it (the file's bytes), for copies inside the EIF and
 * the wrapper image; a manifest read from stdin is stored in its normalised JSON form.
 * malloc'd, *len set. */
struct enclaver_manifest;
char *enclaver_manifest_bytes (const struct enclaver_manifest *m, size_t *len, enclaver_error_t *err);

/* SOURCE_DATE_EPOCH for a build: the manifest's reproducible.source_date_epoch, else
 * the environment's SOURCE_DATE_EPOCH, else -1.  Errors on a malformed variable. */
int enclaver_build_source_date_epoch (const enclaver_ctx_t *ctx, int64_t *out, enclaver_error_t *err);

struct enclaver_image;

/* The EIF's architecture (enum enclaver_eif_arch) for this build: kernel.arch in the
 * manifest (refused when the image is of another architecture), else the image's
 * architecture, else (img NULL: before fetch) the 'platform' parameter's, else the host's.
 * *why names the source, for messages. */
int enclaver_build_arch (const enclaver_ctx_t *ctx, const struct enclaver_image *img, int *arch, const char **why,
                         enclaver_error_t *err);
/* The architecture this enclaver (and its runtime binaries) was built for. */
int enclaver_build_host_arch (void);
/* Open PATH (a file the user named: kernel, init, cmdline, ...) for reading so that a
 * FIFO, socket or device neither blocks nor is read: the descriptor (O_CLOEXEC), or -1
 * with an error naming PATH ("PATH is a FIFO, not a regular file"). */
int enclaver_build_open_input (const char *path, enclaver_error_t *err);
/* Read PATH's ELF header: *arch is the enum enclaver_eif_arch it runs on (-1: neither),
 * desc its machine in words.  Fails when PATH cannot be read or is not ELF. */
int enclaver_build_elf_arch (const char *path, int *arch, char desc[64], enclaver_error_t *err);
/* Fail unless PATH is a 64-bit little-endian ELF file for ARCH; WHAT ("the init") starts
 * the message. */
int enclaver_build_check_elf (const char *path, int arch, const char *what, enclaver_error_t *err);

/* Where outputs go when the manifest does not name them: the 'output-dir' parameter, else
 * the manifest's directory. */
const char *enclaver_build_output_dir (const enclaver_ctx_t *ctx);
/* PATH with the 'output-suffix' parameter (what a multi-platform build sets for each
 * platform, "-aarch64") inserted before EXT when PATH ends with it, else appended; PATH
 * itself without the parameter.  malloc'd. */
char *enclaver_build_output_name (const enclaver_ctx_t *ctx, const char *path, const char *ext);
/* The EIF's final path: the 'eif-path' parameter once measure set it, else --eif-only,
 * output.eif, else <output dir>/<name>.eif.  malloc'd. */
char *enclaver_build_eif_path (const enclaver_ctx_t *ctx);
/* A file beside the EIF: its path without ".eif", then SUFFIX (".spdx.json").  malloc'd. */
char *enclaver_build_output_beside_eif (const enclaver_ctx_t *ctx, const char *suffix);
/* Check, before any work, that PATH can be written: its directory exists and takes new
 * files, and PATH is not a directory (a file output) or a non-directory (IS_DIR).
 * WHAT ("the EIF") starts the message. */
int enclaver_build_check_output (const char *path, int is_dir, const char *what, enclaver_error_t *err);
/* Before the pipeline runs: create the 'output-dir' parameter's directory like
 * `mkdir -p` and check that it takes new files. */
int enclaver_build_prepare (enclaver_ctx_t *ctx, enclaver_error_t *err);
/* How to lay out the default kernel: the build tree's scripts/fetch-kernel.sh when
 * running uninstalled, else the installed enclaver-fetch-kernel.  malloc'd. */
char *enclaver_build_fetch_kernel_hint (void);

/* The build time, one for every output (EIF metadata BuildTime, the wrapper image's
 * created, the times of files enclaver adds): SOURCE_DATE_EPOCH (manifest, then
 * environment) when set, else the app image's created time, else 0. */
/* A yes/no build parameter: 1 when it is 1, true, yes or on (any case), else 0. */
int enclaver_build_param_true (const enclaver_ctx_t *ctx, const char *name);
struct enclaver_image_options;
/* The image and registry options the build's parameters give (cache-dir, ca-cert,
 * insecure-registry -- a comma list --, progress), set over o's current values: what the
 * fetch stage and `enclaver build --push` share.  *keep gets the storage behind
 * o->insecure_registries (NULL when none): free() it once o is no longer used. */
void enclaver_build_image_options (const enclaver_ctx_t *ctx, struct enclaver_image_options *o, void **keep);
int enclaver_build_time (const enclaver_ctx_t *ctx, const struct enclaver_image *img, int64_t *epoch,
                         enclaver_error_t *err);
/* EPOCH as RFC 3339 UTC, "2024-01-01T00:00:00Z".  malloc'd. */
char *enclaver_build_time_string (int64_t epoch);
/* The app image's name as every output records it: registry references as they are,
 * local sources (oci:DIR, ...) without their host directory.  malloc'd. */
char *enclaver_build_source_name (const struct enclaver_image *img);

#ifdef __cplusplus
}
#endif
#endif
