/* enclaver: verification of AWS Nitro attestation documents.
 *
 * An attestation document is a COSE_Sign1 (tagged 18 or untagged) whose payload is a
 * CBOR map signed with ES384 by a leaf certificate that chains, through `cabundle`,
 * to the AWS Nitro Enclaves root "G1" (embedded; its SHA-256 fingerprint is checked)
 * or to a root given by the caller.  enclaver_attestation_verify() decodes the
 * document strictly, then runs every check and records each failed one; it does not
 * stop at the first failure, so a report can list them all.  Format facts:
 * docs/attestation.md and the specification it cites. */
#ifndef ENCLAVER_ATTESTATION_H
#define ENCLAVER_ATTESTATION_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_ATTEST_MAX_PCRS 32
#define ENCLAVER_ATTEST_PCR_SIZE 48
/* Largest document accepted (real ones are about 4.5 KiB). */
#define ENCLAVER_ATTEST_MAX_DOC (64 * 1024)

/* The decoded payload.  Optional fields are NULL when absent or null. */
struct enclaver_attestation_doc
{
  char *module_id;
  char *digest;
  uint64_t timestamp_ms;
  uint32_t pcr_present; /* bit n: PCR n is in the document */
  uint8_t pcrs[ENCLAVER_ATTEST_MAX_PCRS][ENCLAVER_ATTEST_PCR_SIZE];
  uint8_t *certificate;
  size_t certificate_len;
  uint8_t **cabundle; /* root first; the leaf's issuer last */
  size_t *cabundle_len;
  size_t cabundle_count;
  uint8_t *public_key, *user_data, *nonce;
  size_t public_key_len, user_data_len, nonce_len;
  int debug; /* PCR0 is all zero: a debug-mode enclave */
};

/* What the caller expects.  Zero-initialise, then set what is to be compared. */
struct enclaver_attestation_expect
{
  /* Expected PCRs: bit n of pcr_mask means pcrs[n] is compared. */
  uint32_t pcr_mask;
  uint8_t pcrs[ENCLAVER_ATTEST_MAX_PCRS][ENCLAVER_ATTEST_PCR_SIZE];
  /* Compared byte for byte when the pointer is not NULL (length 0 = must be absent). */
  const uint8_t *nonce, *user_data, *public_key;
  size_t nonce_len, user_data_len, public_key_len;
  /* Trust anchor as PEM (one certificate); NULL = the embedded AWS Nitro root G1. */
  const char *root_pem;
  size_t root_pem_len;
  /* Time the certificates must be valid at, in seconds since the epoch; when
   * at_set is 0, the document's own timestamp. */
  int at_set;
  int64_t at;
  int allow_debug;
};

/* One failed check: a short name ("signature", "chain", "pcr3", ...) and a message. */
struct enclaver_attestation_failure
{
  char *check;
  char *message;
};

struct enclaver_attestation_result
{
  int decoded; /* doc is filled in */
  struct enclaver_attestation_doc doc;
  int64_t checked_at; /* the time the chain was checked at */
  struct enclaver_attestation_failure *failures;
  size_t nfailures;
};

/* Verify data[0..len) against ex.  Returns 0 when every check holds, 1 when at least
 * one failed (res->failures lists them; res->decoded says whether res->doc is valid),
 * -1 on an internal error (*err set).  Malformed documents are failures ("decode"),
 * not errors.  Free res with enclaver_attestation_result_clear(). */
int enclaver_attestation_verify (const uint8_t *data, size_t len, const struct enclaver_attestation_expect *ex,
                                 struct enclaver_attestation_result *res, enclaver_error_t *err);
void enclaver_attestation_result_clear (struct enclaver_attestation_result *res);

/* A document in any of its usual spellings (raw CBOR, base64, hex, surrounding
 * whitespace allowed) -> malloc'd raw bytes.  0 or -1 with *err set. */
int enclaver_attestation_decode_text (const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                                      enclaver_error_t *err);
/* Read a document file (at most ENCLAVER_ATTEST_MAX_DOC raw bytes) in any spelling. */
int enclaver_attestation_load (const char *path, uint8_t **out, size_t *outlen, enclaver_error_t *err);

/* The embedded AWS Nitro Enclaves root G1 as DER. */
const uint8_t *enclaver_attestation_aws_root (size_t *len);

#ifdef __cplusplus
}
#endif

#endif
