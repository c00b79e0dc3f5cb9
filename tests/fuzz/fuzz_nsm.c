/* enclaver: libFuzzer target for the NSM client's response decoding (runtime/nsm.c over
 * the CBOR decoder of common/cbor.c): the answers of /dev/nsm (or the emulator) to
 * GetRandom, Attestation, DescribePCR and DescribeNSM, and {"Error": CODE}.
 *
 * The input is the response; the client is opened on a transport whose exchange hands
 * it back, and each of the four requests is made with it.  A decoded answer must hold
 * what the client promises (lengths within bounds, a PCR of 32/48/64 bytes, a digest
 * name), a refused one must say why. */
#include "config.h"

#include "common/cbor.h"
#include "nsm.h"

#include "fuzz.h"

struct canned
{
  const uint8_t *data;
  size_t size;
};

static int
exchange (void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len, char *err, size_t errlen)
{
  const struct canned *c = ctx;
  (void) req;
  (void) req_len;
  if (c->size > ENCLAVER_NSM_RESPONSE_MAX)
    {
      snprintf (err, errlen, "response too long");
      return -1;
    }
  memcpy (resp, c->data, c->size);
  *resp_len = c->size;
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct canned c = { data, size };
  struct enclaver_nsm *nsm = enclaver_nsm_open_transport (exchange, &c, "fuzz");
  char err[512];
  uint8_t rnd[256], *doc = NULL;
  size_t dl = 0;
  struct enclaver_nsm_pcr pcr;
  struct enclaver_nsm_description d;
  static const uint8_t ud[] = "user data", nonce[] = "nonce";

  FUZZ_CHECK (nsm != NULL);
  err[0] = '\0';
  long got = enclaver_nsm_get_random (nsm, rnd, sizeof rnd, err, sizeof err);
  FUZZ_CHECK ((got >= 1 && (size_t) got <= sizeof rnd) || (got == -1 && err[0]));

  err[0] = '\0';
  if (enclaver_nsm_attestation (nsm, ud, sizeof ud - 1, nonce, sizeof nonce - 1, NULL, 0, &doc, &dl, err, sizeof err) == 0)
    {
      FUZZ_CHECK (doc != NULL && dl <= size);
      free (doc);
    }
  else
    FUZZ_CHECK (err[0] != '\0');

  err[0] = '\0';
  if (enclaver_nsm_describe_pcr (nsm, 0, &pcr, err, sizeof err) == 0)
    FUZZ_CHECK (pcr.len == 32 || pcr.len == 48 || pcr.len == 64);
  else
    FUZZ_CHECK (err[0] != '\0');

  err[0] = '\0';
  if (enclaver_nsm_describe_nsm (nsm, &d, err, sizeof err) == 0)
    FUZZ_CHECK (memchr (d.module_id, '\0', sizeof d.module_id) != NULL
                && (strcmp (d.digest, "SHA256") == 0 || strcmp (d.digest, "SHA384") == 0
                    || strcmp (d.digest, "SHA512") == 0));
  else
    FUZZ_CHECK (err[0] != '\0');
  (void) enclaver_nsm_code_name (enclaver_nsm_last_code (nsm));
  enclaver_nsm_close (nsm);
  return 0;
}
