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
 *        hashes the finished file for the JSON result)
 *   out: "eif-path" (final path of the EIF), "eif-tmp" (where it is being written),
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

/* The manifest as the user wrote it (the file's bytes), for copies inside the EIF and
 * the wrapper image; a manifest read from stdin is stored in its normalised JSON form.
 * malloc'd, *len set. */
struct enclaver_manifest;
char *enclaver_manifest_bytes (const struct enclaver_manifest *m, size_t *len, enclaver_error_t *err);

/* SOURCE_DATE_EPOCH for a build: the manifest's reproducible.source_date_epoch, else
 * the environment's SOURCE_DATE_EPOCH, else -1.  Errors on a malformed variable. */
int enclaver_build_source_date_epoch (const enclaver_ctx_t *ctx, int64_t *out, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
