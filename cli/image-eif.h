/* enclaver CLI: the EIF inside a wrapper image made by `enclaver build`
 * (cli/image-eif.c), for `enclaver run` and `enclaver verify --image`. */
#ifndef ENCLAVER_CLI_IMAGE_EIF_H
#define ENCLAVER_CLI_IMAGE_EIF_H

#include <enclaver/eif.h>
#include <enclaver/error.h>
#include <enclaver/image.h>

/* What a wrapper image holds: its enclave/application.eif and enclave/enclaver.yaml,
 * extracted into a private temporary directory under fixed names (never a path taken
 * from the image), and its dev.enclaver.pcrN labels. */
struct cli_image_eif
{
  char *eif;          /* TMPDIR/application.eif */
  char *manifest;     /* TMPDIR/enclaver.yaml, or NULL when the image has none */
  char *digest;       /* the image's manifest digest, or NULL */
  char *pcr_label[9]; /* dev.enclaver.pcrN labels (0, 1, 2, 8), or NULL */
  char tmpdir[256];   /* "" until created */
};

/* Fetch SOURCE (any form `enclaver image` reads) and extract its EIF and manifest
 * (top layer first: an upper layer's file wins) into a new temporary directory named
 * after CMD.  0, or -1 with *err set (w then holds nothing to use, but must be
 * cleared).  err must not be NULL.  The files are also removed at exit, should the caller exit first. */
int cli_image_eif_open (struct cli_image_eif *w, const char *cmd, const char *source,
                        const struct enclaver_image_options *o, enclaver_error_t *err);

/* The image's PCR labels against the measurements of the EIF it carries: 0 when every
 * label present matches, else -1 with *err naming the label (the image was altered
 * after it was built). */
int cli_image_eif_check_labels (const struct cli_image_eif *w, const struct enclaver_eif_measurements *m,
                                enclaver_error_t *err);

/* Remove the extracted files and the directory, free everything, zero w. */
void cli_image_eif_clear (struct cli_image_eif *w);

#endif
