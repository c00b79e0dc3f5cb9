/* enclaver: libFuzzer target for a registry token server's answer (core/oci/auth.c,
 * oci_token_response_parse): the JSON body of the distribution token spec, as the
 * registry client receives it (bounded by OCI_MAX_TOKEN before it gets here).
 *
 * A token returned is non-empty and has no CR or LF (it goes into an Authorization
 * header); its lifetime is 1..86400 s; the same body parses to the same result. */
#include "config.h"

#include "oci/oci.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  long long exp = -1, exp2 = -1;
  char *tok = oci_token_response_parse ((const char *) data, size, &exp);
  char *tok2 = oci_token_response_parse ((const char *) data, size, &exp2);
  FUZZ_CHECK ((tok == NULL) == (tok2 == NULL));
  if (tok)
    {
      FUZZ_CHECK (*tok != '\0' && strpbrk (tok, "\r\n") == NULL);
      FUZZ_CHECK (exp >= 1 && exp <= 86400 && exp == exp2 && strcmp (tok, tok2) == 0);
    }
  free (tok);
  free (tok2);
  return 0;
}
