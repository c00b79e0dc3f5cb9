/* enclaver: the checks of an attestation document (spec/ATTESTATION.md §3.7, §3.8).
 *
 * Every check runs even when an earlier one failed, so that one report names every
 * problem; only a document that cannot be decoded stops early. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest/attest-internal.h"
#include "attest/aws-root-g1.h"

/* SHA-256 of the G1 DER (spec §3.6): checked against the embedded bytes before each use,
 * so a corrupted build cannot silently trust something else. */
static const uint8_t aws_root_g1_sha256[32] = {
  0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
  0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
};

const uint8_t *
enclaver_attestation_aws_root (size_t *len)
{
  *len = sizeof aws_root_g1_der;
  return aws_root_g1_der;
}

static void
fail (struct enclaver_attestation_result *res, const char *check, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
fail (struct enclaver_attestation_result *res, const char *check, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  res->failures = xrealloc (res->failures, (res->nfailures + 1) * sizeof *res->failures);
  res->failures[res->nfailures].check = xstrdup (check);
  res->failures[res->nfailures].message = msg;
  res->nfailures++;
}

static X509 *
parse_der (const uint8_t *der, size_t len)
{
  const unsigned char *p = der;
  X509 *x = d2i_X509 (NULL, &p, (long) len);
  /* Trailing bytes would be unsigned data riding along: refuse them. */
  if (x && p != der + len)
    {
      X509_free (x);
      x = NULL;
    }
  return x;
}

/* The trust anchor: the caller's PEM, or G1 after checking its fingerprint. */
static X509 *
load_root (const struct enclaver_attestation_expect *ex, enclaver_error_t *err)
{
  X509 *x;

  if (ex->root_pem)
    {
      BIO *b = BIO_new_mem_buf (ex->root_pem, (int) ex->root_pem_len);
      x = b ? PEM_read_bio_X509 (b, NULL, NULL, NULL) : NULL;
      BIO_free (b);
      if (!x)
        enclaver_make_error (err, EINVAL, "root: no PEM certificate could be read; give one CERTIFICATE block");
      return x;
    }
  uint8_t md[32];
  SHA256 (aws_root_g1_der, sizeof aws_root_g1_der, md);
  if (memcmp (md, aws_root_g1_sha256, sizeof md) != 0)
    {
      enclaver_make_error (err, EIO, "embedded AWS Nitro root G1: SHA-256 fingerprint mismatch (corrupt build)");
      return NULL;
    }
  x = parse_der (aws_root_g1_der, sizeof aws_root_g1_der);
  if (!x)
    enclaver_make_error (err, EIO, "embedded AWS Nitro root G1 does not parse (corrupt build)");
  return x;
}

static const char *
cert_name (const struct enclaver_attestation_doc *doc, size_t i, char *buf, size_t n)
{
  if (i == doc->cabundle_count)
    return "certificate";
  snprintf (buf, n, "cabundle[%zu]", i);
  return buf;
}

/* Chain: leaf <- cabundle[n-1] <- ... <- cabundle[0] == root, at time t, no CRLs.  Returns
 * the leaf (for the signature check) or NULL when it does not parse. */
static X509 *
check_chain (const struct enclaver_attestation_doc *doc, X509 *root, const char *ex_root_name, int64_t t,
             struct enclaver_attestation_result *res)
{
  size_t n = doc->cabundle_count;
  X509 **certs = xmalloc0 ((n + 1) * sizeof *certs);
  X509 *leaf = NULL;
  STACK_OF (X509) *untrusted = NULL;
  X509_STORE *store = NULL;
  X509_STORE_CTX *ctx = NULL;
  int parsed = 1;
  char nb[32];

  for (size_t i = 0; i <= n; i++)
    {
      const uint8_t *der = i < n ? doc->cabundle[i] : doc->certificate;
      size_t len = i < n ? doc->cabundle_len[i] : doc->certificate_len;
      certs[i] = parse_der (der, len);
      if (!certs[i])
        {
          fail (res, "chain", "%s is not a DER X.509 certificate", cert_name (doc, i, nb, sizeof nb));
          parsed = 0;
        }
    }
  leaf = certs[n];
  /* The root must be the anchor itself, byte for byte: a certificate that only has the
   * anchor's name is not enough. */
  {
    unsigned char *rder = NULL;
    int rlen = i2d_X509 (root, &rder);
    if (rlen <= 0 || (size_t) rlen != doc->cabundle_len[0] || memcmp (rder, doc->cabundle[0], (size_t) rlen) != 0)
      fail (res, "root", "cabundle[0] is not the trusted root (%s)",
            ex_root_name);
    OPENSSL_free (rder);
  }
  if (!parsed)
    goto out;
  /* Order: each certificate is issued by the one before it.  OpenSSL would find a path
   * through a shuffled pool, but the format fixes the order and a verifier that
   * accepts any order accepts documents the NSM never produced. */
  for (size_t i = 1; i <= n; i++)
    if (X509_check_issued (certs[i - 1], certs[i]) != X509_V_OK)
      {
        char a[32], b[32];
        fail (res, "chain", "cabundle order: %s is not issued by %s (cabundle must run root first, leaf's "
                            "issuer last)",
              cert_name (doc, i, a, sizeof a), cert_name (doc, i - 1, b, sizeof b));
        break;
      }
  untrusted = sk_X509_new_null ();
  store = X509_STORE_new ();
  ctx = X509_STORE_CTX_new ();
  if (!untrusted || !store || !ctx || X509_STORE_add_cert (store, root) != 1)
    xoom ();
  for (size_t i = 1; i < n; i++)
    if (!sk_X509_push (untrusted, certs[i]))
      xoom ();
  if (X509_STORE_CTX_init (ctx, store, leaf, untrusted) != 1)
    xoom ();
  /* No X509_V_FLAG_X509_STRICT: real leaves lack an Authority Key Identifier and
   * OpenSSL 3 would then refuse every genuine document (spec vectors README). */
  X509_VERIFY_PARAM_set_time (X509_STORE_CTX_get0_param (ctx), (time_t) t);
  if (X509_verify_cert (ctx) != 1)
    {
      int e = X509_STORE_CTX_get_error (ctx);
      int depth = X509_STORE_CTX_get_error_depth (ctx);
      X509 *bad = X509_STORE_CTX_get_current_cert (ctx);
      char subj[256] = "?";
      if (bad)
        X509_NAME_oneline (X509_get_subject_name (bad), subj, sizeof subj);
      fail (res,
            (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID) ? "validity" : "chain",
            "certificate %s (depth %d): %s at %lld", subj, depth, X509_verify_cert_error_string (e),
            (long long) t);
    }
  else
    {
      EVP_PKEY *pk = X509_get0_pubkey (leaf);
      char group[64] = "";
      size_t gl = 0;
      if (!pk || !EVP_PKEY_is_a (pk, "EC") || EVP_PKEY_get_group_name (pk, group, sizeof group, &gl) != 1
          || strcmp (group, "secp384r1") != 0)
        fail (res, "signature", "the leaf certificate's key is not EC P-384 (%s)", group[0] ? group : "other");
    }
out:
  X509_STORE_CTX_free (ctx);
  X509_STORE_free (store);
  sk_X509_free (untrusted);
  for (size_t i = 0; i < n; i++)
    X509_free (certs[i]);
  free (certs);
  return leaf;
}

/* ES384 over Sig_structure ["Signature1", protected, h'', payload], built from the
 * document's own byte strings (never re-encoded). */
static void
check_signature (const struct attest_cose *cose, X509 *leaf, struct enclaver_attestation_result *res)
{
  struct cbor_buf sb = { 0 };
  ECDSA_SIG *sig = ECDSA_SIG_new ();
  BIGNUM *r = BN_bin2bn (cose->signature, 48, NULL), *s = BN_bin2bn (cose->signature + 48, 48, NULL);
  unsigned char *der = NULL;
  int derlen;
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  EVP_PKEY *pk = X509_get0_pubkey (leaf);

  if (!sig || !r || !s || !md || ECDSA_SIG_set0 (sig, r, s) != 1)
    xoom ();
  derlen = i2d_ECDSA_SIG (sig, &der);
  cbor_put_head (&sb, CBOR_ARRAY, 4);
  cbor_put_tstr (&sb, "Signature1");
  cbor_put_bstr (&sb, cose->protected_hdr, cose->protected_len);
  cbor_put_bstr (&sb, "", 0);
  cbor_put_bstr (&sb, cose->payload, cose->payload_len);
  if (derlen <= 0 || !pk || EVP_DigestVerifyInit (md, NULL, EVP_sha384 (), NULL, pk) != 1
      || EVP_DigestVerify (md, der, (size_t) derlen, sb.data, sb.len) != 1)
    fail (res, "signature", "the ES384 signature does not verify with the leaf certificate's key");
  EVP_MD_CTX_free (md);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);
  free (sb.data);
}

static void
to_hex (const uint8_t *p, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++)
    {
      out[2 * i] = d[p[i] >> 4];
      out[2 * i + 1] = d[p[i] & 15];
    }
  out[2 * n] = 0;
}

static void
check_field (struct enclaver_attestation_result *res, const char *name, const uint8_t *want, size_t wlen,
             const uint8_t *have, size_t hlen)
{
  if (!want)
    return;
  if (wlen == 0 && !have)
    return;
  if (!have)
    fail (res, name, "%s: expected %zu bytes, the document has none", name, wlen);
  else if (hlen != wlen || memcmp (have, want, wlen) != 0)
    fail (res, name, "%s: the document's %zu bytes differ from the %zu expected", name, hlen, wlen);
}

int
enclaver_attestation_verify (const uint8_t *data, size_t len, const struct enclaver_attestation_expect *ex,
                             struct enclaver_attestation_result *res, enclaver_error_t *err)
{
  struct attest_cose cose;
  enclaver_error_t derr = NULL;
  struct enclaver_attestation_doc *doc = &res->doc;
  X509 *root, *leaf;

  memset (res, 0, sizeof *res);
  if (!(root = load_root (ex, err)))
    return -1;
  if (attest_decode (data, len, &cose, doc, &derr) < 0)
    {
      fail (res, "decode", "%s", derr->msg);
      enclaver_error_release (&derr);
      attest_doc_clear (doc);
      X509_free (root);
      return 1;
    }
  res->decoded = 1;
  res->checked_at = ex->at_set ? ex->at : (int64_t) (doc->timestamp_ms / 1000);
  if (!cose.alg_ok)
    fail (res, "alg", "the protected header is not {1: -35}: only ES384 documents are accepted");
  leaf = check_chain (doc, root, ex->root_pem ? "the --root certificate" : "the AWS Nitro root G1", res->checked_at, res);
  if (leaf && cose.alg_ok)
    check_signature (&cose, leaf, res);
  X509_free (leaf);
  X509_free (root);

  if (doc->debug && !ex->allow_debug)
    fail (res, "debug", "PCR0 is all zero: the document comes from a debug-mode enclave (--allow-debug accepts it)");
  for (unsigned i = 0; i < ENCLAVER_ATTEST_MAX_PCRS; i++)
    {
      char name[8], want[2 * ENCLAVER_ATTEST_PCR_SIZE + 1], have[2 * ENCLAVER_ATTEST_PCR_SIZE + 1];
      if (!(ex->pcr_mask & (1u << i)))
        continue;
      snprintf (name, sizeof name, "pcr%u", i);
      to_hex (ex->pcrs[i], ENCLAVER_ATTEST_PCR_SIZE, want);
      if (!(doc->pcr_present & (1u << i)))
        fail (res, name, "PCR%u: expected %s, the document has no PCR%u", i, want, i);
      else if (memcmp (doc->pcrs[i], ex->pcrs[i], ENCLAVER_ATTEST_PCR_SIZE) != 0)
        {
          to_hex (doc->pcrs[i], ENCLAVER_ATTEST_PCR_SIZE, have);
          fail (res, name, "PCR%u: expected %s, actual %s", i, want, have);
        }
    }
  check_field (res, "nonce", ex->nonce, ex->nonce_len, doc->nonce, doc->nonce_len);
  check_field (res, "user_data", ex->user_data, ex->user_data_len, doc->user_data, doc->user_data_len);
  check_field (res, "public_key", ex->public_key, ex->public_key_len, doc->public_key, doc->public_key_len);
  return res->nfailures ? 1 : 0;
}

void
enclaver_attestation_result_clear (struct enclaver_attestation_result *res)
{
  for (size_t i = 0; i < res->nfailures; i++)
    {
      free (res->failures[i].check);
      free (res->failures[i].message);
    }
  free (res->failures);
  attest_doc_clear (&res->doc);
  memset (res, 0, sizeof *res);
}
