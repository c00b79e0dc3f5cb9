/* enclaver: libFuzzer target for attestation documents (core/attest/): the COSE_Sign1
 * envelope, the CBOR payload, the certificate chain to the AWS Nitro root and every
 * check of enclaver_attestation_verify; and the text spellings (base64, hex) of
 * enclaver_attestation_decode_text.
 *
 * The input is a document as a user would hand it over (raw CBOR or text).  It is
 * verified against the embedded root at its own timestamp, with no expectations and
 * then with expected PCRs and nonce, so both the decoder and the comparisons run.  The
 * result must be consistent: 0 with no failure, 1 with at least one, and a decoded
 * document's fields within their bounds. */
#include "config.h"

#include <enclaver/attestation.h>
#include <enclaver/log.h>

#include "fuzz.h"

static void
verify (const uint8_t *doc, size_t len, const struct enclaver_attestation_expect *ex)
{
  struct enclaver_attestation_result res;
  enclaver_error_t err = NULL;
  memset (&res, 0, sizeof res);
  int rc = enclaver_attestation_verify (doc, len, ex, &res, &err);
  FUZZ_CHECK (rc >= -1 && rc <= 1);
  if (rc < 0)
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  if (rc == 0)
    FUZZ_CHECK (res.nfailures == 0 && res.decoded);
  if (rc == 1)
    FUZZ_CHECK (res.nfailures > 0);
  for (size_t i = 0; i < res.nfailures; i++)
    FUZZ_CHECK (res.failures[i].check && *res.failures[i].check && res.failures[i].message);
  if (res.decoded)
    {
      const struct enclaver_attestation_doc *d = &res.doc;
      FUZZ_CHECK (d->module_id && d->digest && d->certificate && d->certificate_len > 0);
      FUZZ_CHECK (d->cabundle_count == 0 || (d->cabundle && d->cabundle_len));
      for (size_t i = 0; i < d->cabundle_count; i++)
        FUZZ_CHECK (d->cabundle[i] != NULL && d->cabundle_len[i] > 0);
    }
  enclaver_error_release (&err);
  enclaver_attestation_result_clear (&res);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct enclaver_attestation_expect ex;
  static const uint8_t nonce[] = "0123456789abcdef";
  enclaver_error_t err = NULL;

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  memset (&ex, 0, sizeof ex);
  verify (data, size, &ex);
  ex.pcr_mask = 0x7;
  memset (ex.pcrs[1], 0xab, sizeof ex.pcrs[1]);
  ex.nonce = nonce;
  ex.nonce_len = sizeof nonce - 1;
  ex.allow_debug = 1;
  verify (data, size, &ex);

  uint8_t *raw = NULL;
  size_t rlen = 0;
  if (enclaver_attestation_decode_text (data, size, &raw, &rlen, &err) == 0)
    {
      FUZZ_CHECK (raw != NULL && rlen <= size && rlen <= ENCLAVER_ATTEST_MAX_DOC);
      free (raw);
    }
  else
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  enclaver_error_release (&err);
  return 0;
}
