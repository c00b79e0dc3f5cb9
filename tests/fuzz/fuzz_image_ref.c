/* enclaver: libFuzzer target for image references and platforms (core/oci/ref.c,
 * core/oci/platform.c): the distribution/reference grammar with Docker Hub
 * normalisation, the transport prefixes, and os/arch[/variant].
 *
 * The input is a source string (up to its first NUL).  A parsed reference must print
 * canonically, and the canonical text must parse back to itself; a platform that parses
 * must format and parse back to the same platform.  (enclaver_image_source_resolve is
 * not called: it looks at the filesystem.) */
#include "config.h"

#include <enclaver/image.h>
#include <enclaver/log.h>

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enclaver_error_t err = NULL;
  char *s = fuzz_cstr (data, size);
  enclaver_log_set_level (ENCLAVER_LOG_ERROR);

  struct enclaver_image_ref *r = enclaver_image_ref_parse (s, &err);
  if (r == NULL)
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  else
    {
      FUZZ_CHECK (r->transport >= ENCLAVER_TRANSPORT_REGISTRY && r->transport <= ENCLAVER_TRANSPORT_EIF);
      if (r->transport == ENCLAVER_TRANSPORT_REGISTRY)
        FUZZ_CHECK (r->domain && r->path && r->api_host && (r->tag || r->digest));
      char *c = enclaver_image_ref_string (r);
      FUZZ_CHECK (c != NULL);
      if (r->transport == ENCLAVER_TRANSPORT_REGISTRY)
        {
          struct enclaver_image_ref *r2 = enclaver_image_ref_parse (c, &err);
          if (r2 == NULL)
            {
              fprintf (stderr, "canonical '%s' of '%s' does not parse: %s\n", c, s, err->msg);
              abort ();
            }
          char *c2 = enclaver_image_ref_string (r2);
          FUZZ_CHECK (strcmp (c, c2) == 0);
          free (c2);
          enclaver_image_ref_free (r2);
        }
      free (c);
      enclaver_image_ref_free (r);
    }
  enclaver_error_release (&err);
  (void) enclaver_image_source_is_path (s);

  struct enclaver_platform p, p2;
  memset (&p, 0, sizeof p);
  if (enclaver_platform_parse (s, &p, &err) == 0)
    {
      char buf[256];
      const char *t = enclaver_platform_format (&p, buf, sizeof buf);
      FUZZ_CHECK (t != NULL);
      memset (&p2, 0, sizeof p2);
      FUZZ_CHECK (enclaver_platform_parse (t, &p2, &err) == 0);
      FUZZ_CHECK (strcmp (p.os, p2.os) == 0 && strcmp (p.architecture, p2.architecture) == 0
                  && strcmp (p.variant, p2.variant) == 0);
    }
  else
    FUZZ_CHECK (err != NULL);
  enclaver_error_release (&err);
  free (s);
  return 0;
}
