/* enclaver: libFuzzer target for the registry's WWW-Authenticate challenges
 * (core/oci/auth.c, RFC 9110 §11.6.1 auth-params) and the base64 of credentials.
 *
 * The input is one or more header values separated by NUL bytes, as the registry
 * client collects them.  Every challenge parsed must have a lowercase scheme and be
 * freeable; the challenge count is bounded by the array given. */
#include "config.h"

#include <ctype.h>

#include "oci/oci.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct oci_challenge c[4];
  /* The list ends with an empty value: two NULs. */
  char *v = malloc (size + 2);
  FUZZ_CHECK (v != NULL);
  if (size)
    memcpy (v, data, size);
  v[size] = v[size + 1] = '\0';
  memset (c, 0, sizeof c);
  int n = oci_www_authenticate_parse (v, c, 4);
  FUZZ_CHECK (n >= -1 && n <= 4);
  for (int i = 0; i < n; i++)
    {
      FUZZ_CHECK (c[i].scheme[0] != '\0');
      for (const char *p = c[i].scheme; *p; p++)
        FUZZ_CHECK (!isupper ((unsigned char) *p));
      oci_challenge_clear (&c[i]);
    }

  /* base64 both ways over the first value. */
  size_t len = 0;
  unsigned char *d = oci_base64_decode (v, &len);
  if (d)
    {
      char *e = oci_base64 (d, len);
      FUZZ_CHECK (e != NULL);
      size_t len2 = 0;
      unsigned char *d2 = oci_base64_decode (e, &len2);
      FUZZ_CHECK (d2 != NULL && len2 == len && memcmp (d, d2, len) == 0);
      free (d2);
      free (e);
      free (d);
    }
  free (v);
  return 0;
}
