/* enclaver runtime: the KMS proxy's recipient key and CiphertextForRecipient.
 *
 * KMS answers an attested request with the secret in a CMS EnvelopedData for the key
 * the attestation document carries (ATTESTATION.md §4.4): one KeyTransRecipientInfo,
 * RSAES-OAEP with SHA-256 and MGF1-SHA-256, the content in AES-256-CBC, BER with
 * indefinite lengths and the content primitive or in chunks.  kms_cms_decrypt accepts
 * exactly that profile and says which check failed otherwise. */
#ifndef ENCLAVER_KMS_CMS_H
#define ENCLAVER_KMS_CMS_H

#include <stddef.h>

#include <openssl/evp.h>

#define KMS_CMS_MAX (256 * 1024) /* larger inputs are refused before parsing */

/* A fresh RSA-2048 key, or NULL with err. */
EVP_PKEY *kms_rsa_generate (char *err, size_t errlen);
/* Its DER SubjectPublicKeyInfo (294 bytes for RSA-2048), malloc'd.  0 or -1. */
int kms_spki_der (EVP_PKEY *key, unsigned char **der, size_t *len);
/* Decrypt the raw BER bytes of a CiphertextForRecipient.  *out is malloc'd (one extra
 * NUL byte after out_len); the caller OPENSSL_cleanse()s and frees it.  0, or -1 with err. */
int kms_cms_decrypt (EVP_PKEY *key, const unsigned char *ber, size_t len, unsigned char **out,
                     size_t *out_len, char *err, size_t errlen);

#endif
