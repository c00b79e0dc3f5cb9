/* enclaver CLI: `enclaver build --platform P1,P2,...` (cli/build-multi.c,
 * docs/cross-arch.md): one EIF per platform and one multi-platform release image. */
#ifndef ENCLAVER_CLI_BUILD_MULTI_H
#define ENCLAVER_CLI_BUILD_MULTI_H

#include <stddef.h>

#include <enclaver/error.h>

/* Split --platform's comma list into *list (n entries, malloc'd strings, NULL-ended):
 * each entry must parse as a platform, no architecture may come twice.  0, or -1 with
 * err naming the entry. */
int cli_platform_list (const char *arg, char ***list, size_t *n, enclaver_error_t *err);
void cli_platform_list_free (char **list);
/* What a multi-platform build adds to each platform's output names: "-x86_64",
 * "-aarch64" (the EIF architectures' names), else "-" and the platform's architecture.
 * malloc'd. */
char *cli_platform_suffix (const char *platform);
/* Write DEST, an OCI layout whose index.json names one image index: the manifests of
 * the N single-platform layouts LAYOUTS (each as emit-image writes it), with their
 * platforms and the build's dev.enclaver.* annotations, sorted by platform; their blobs
 * are linked (or copied) in.  DEST is replaced as a whole, or left as it was.  *digest:
 * the image index's digest (malloc'd). */
int cli_write_platform_index (const char *dest, char *const *layouts, size_t n, char **digest,
                              enclaver_error_t *err);

#endif
