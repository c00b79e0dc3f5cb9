/* enclaver: internals of the attestation verifier (core/attest/). */
#ifndef ENCLAVER_ATTEST_INTERNAL_H
#define ENCLAVER_ATTEST_INTERNAL_H

#include <enclaver/attestation.h>
#include "eif/eif-internal.h" /* the bounded CBOR codec */

/* The COSE_Sign1 pieces, pointing into the document bytes. */
struct attest_cose
{
  const uint8_t *protected_hdr, *payload, *signature; /* signature: 96 bytes r||s */
  size_t protected_len, payload_len;
  int alg_ok; /* protected header is exactly {1: -35} */
};

/* Decode data strictly into cose and doc; -1 with *err naming the offset at fault. */
int attest_decode (const uint8_t *data, size_t len, struct attest_cose *cose,
                   struct enclaver_attestation_doc *doc, enclaver_error_t *err) ENCLAVER_INTERNAL;
void attest_doc_clear (struct enclaver_attestation_doc *doc) ENCLAVER_INTERNAL;

#endif
