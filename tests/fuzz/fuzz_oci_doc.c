/* enclaver: libFuzzer target for the OCI / Docker documents (core/oci/doc.c): image
 * index, image manifest and image config, as a registry or a layout serves them.
 *
 * The input is one JSON document.  It is classified (oci_doc_kind, with no declared
 * media type and with each declared one) and parsed as what it is, an index is asked
 * for the host platform, and the same bytes are parsed as a config blob.  An accepted
 * document must hold what the parser promises (digests valid, sizes not negative). */
#include "config.h"

#include <enclaver/image.h>
#include <enclaver/log.h>
#include "oci/oci.h"

#include "fuzz.h"

static const char *const declared[] = {
  NULL,
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
};

static void
check_desc (const struct oci_desc *d)
{
  FUZZ_CHECK (d->digest != NULL && oci_digest_valid (d->digest));
  FUZZ_CHECK (d->size >= -1);
}

static void
as_document (json_t *root, const char *decl)
{
  enclaver_error_t err = NULL;
  char *mt = NULL;
  int kind = oci_doc_kind (root, decl, "fuzz", &mt, &err);
  if (kind < 0 || kind == OCI_DOC_UNKNOWN)
    {
      FUZZ_CHECK (kind == OCI_DOC_UNKNOWN || (err != NULL && err->msg && *err->msg));
      enclaver_error_release (&err);
      free (mt);
      return;
    }
  if (kind == OCI_DOC_INDEX)
    {
      struct oci_index ix;
      memset (&ix, 0, sizeof ix);
      if (oci_index_parse (root, mt, "fuzz", &ix, &err) == 0)
        {
          struct enclaver_platform want;
          for (size_t i = 0; i < ix.n; i++)
            check_desc (&ix.m[i]);
          enclaver_platform_host (&want);
          int sel = oci_index_select (&ix, &want, "fuzz", &err);
          FUZZ_CHECK (sel < 0 || (size_t) sel < ix.n);
          FUZZ_CHECK (sel >= 0 || err != NULL);
        }
      else
        FUZZ_CHECK (err != NULL);
      oci_index_free (&ix);
    }
  else
    {
      struct oci_manifest m;
      memset (&m, 0, sizeof m);
      if (oci_manifest_parse (root, mt, "fuzz", &m, &err) == 0)
        {
          check_desc (&m.config);
          for (size_t i = 0; i < m.n_layers; i++)
            check_desc (&m.layers[i]);
        }
      else
        FUZZ_CHECK (err != NULL);
      oci_manifest_free (&m);
    }
  enclaver_error_release (&err);
  free (mt);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enclaver_error_t err = NULL;
  enclaver_log_set_level (ENCLAVER_LOG_ERROR);

  json_t *root = oci_json_load ((const char *) data, size, "fuzz", &err);
  if (root == NULL)
    FUZZ_CHECK (err != NULL);
  enclaver_error_release (&err);
  if (root)
    {
      for (size_t i = 0; i < sizeof declared / sizeof declared[0]; i++)
        as_document (root, declared[i]);
      json_decref (root);
    }

  struct enclaver_image *img = calloc (1, sizeof *img);
  FUZZ_CHECK (img != NULL);
  if (oci_config_parse ((const char *) data, size, "fuzz", img, &err) < 0)
    FUZZ_CHECK (err != NULL);
  else
    FUZZ_CHECK (img->os != NULL && img->architecture != NULL);
  enclaver_error_release (&err);
  enclaver_image_free (img);
  return 0;
}
