/* enclaver: libFuzzer target for the enclaver.yaml parser and validator (core/manifest).
 *
 * The input is a manifest text.  Parsed with and without the app requirement; a
 * manifest that parses must validate the same way, print as JSON, and every failure
 * must say why. */
#include "config.h"

#include <enclaver/log.h>
#include <enclaver/manifest.h>

#include "fuzz.h"

static void
one (const uint8_t *data, size_t size, unsigned flags)
{
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m = enclaver_manifest_parse_ex ((const char *) data, size, "fuzz.yaml", "/fuzz", flags, &err);
  if (m == NULL)
    {
      FUZZ_CHECK (err != NULL && err->msg != NULL && err->msg[0] != '\0');
      enclaver_error_release (&err);
      return;
    }
  FUZZ_CHECK (err == NULL);
  FUZZ_CHECK (enclaver_manifest_validate (m, flags, &err) == 0);
  char *j = enclaver_manifest_to_json (m, &err);
  FUZZ_CHECK (j != NULL);
  free (j);
  const struct enclaver_manifest_key *k;
  for (size_t i = 0; (k = enclaver_manifest_unimplemented (m, i)) != NULL; i++)
    free (enclaver_manifest_unimplemented_message (m, k));
  enclaver_manifest_free (m);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  one (data, size, 0);
  one (data, size, ENCLAVER_MANIFEST_NO_APP_REQUIRED);
  return 0;
}
