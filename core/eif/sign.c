/* enclaver: the EIF signature section (CBOR + COSE_Sign1 over PCR0), made and checked
 * with OpenSSL.
 *
 * Section data (serde_cbor layout of Vec<PcrSignature>):
 *   [ { "signing_certificate": [PEM bytes as uints], "signature": [COSE bytes as uints] } ]
 * COSE_Sign1 (untagged): [ bstr({1: alg}), {}, bstr(payload), bstr(r || s) ]
 * payload: { "register_index": 0, "register_value": [48 PCR0 bytes as uints] }
 * The signature is ECDSA over the COSE Sig_structure
 *   ["Signature1", protected, h'', payload]. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <jansson.h>

#include "eif/eif-internal.h"

#define COSE_ALG_ES256 (-7)
#define COSE_ALG_ES384 (-35)
#define COSE_ALG_ES512 (-36)

struct cose_alg
{
  int id;
  const char *name;
  const char *curve; /* OpenSSL group name */
  const char *curve_label;
  size_t coord;      /* bytes per r / s */
  const EVP_MD *(*md) (void);
};

static const struct cose_alg cose_algs[] = {
  { COSE_ALG_ES256, "ES256", "prime256v1", "P-256", 32, EVP_sha256 },
  { COSE_ALG_ES384, "ES384", "secp384r1", "P-384", 48, EVP_sha384 },
  { COSE_ALG_ES512, "ES512", "secp521r1", "P-521", 66, EVP_sha512 },
};

static const struct cose_alg *
cose_alg_by_id (int64_t id)
{
  for (size_t i = 0; i < ARRAY_SIZE (cose_algs); i++)
    if (cose_algs[i].id == id)
      return &cose_algs[i];
  return NULL;
}

static int
ossl_fail (enclaver_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static int
ossl_fail (enclaver_error_t *err, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  unsigned long e = ERR_peek_last_error ();
  char buf[256];
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  va_end (ap);
  ERR_clear_error ();
  if (e == 0)
    return enclaver_make_error (err, EINVAL, "%s", msg);
  ERR_error_string_n (e, buf, sizeof buf);
  return enclaver_make_error (err, EINVAL, "%s (%s)", msg, buf);
}

static int
no_password (char *buf, int size, int rwflag, void *u)
{
  (void) buf, (void) size, (void) rwflag, (void) u;
  return -1;
}

/* Describe a key: "RSA", "EC secp256r1", ... into buf. */
static void
key_description (EVP_PKEY *key, char *buf, size_t len)
{
  const char *type = EVP_PKEY_get0_type_name (key);
  char group[64] = "";

  if (EVP_PKEY_get_base_id (key) == EVP_PKEY_EC)
    {
      if (EVP_PKEY_get_utf8_string_param (key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) != 1)
        snprintf (group, sizeof group, "unknown curve");
      snprintf (buf, len, "EC %s", group);
    }
  else
    snprintf (buf, len, "%s %d-bit", type ? type : "unknown", EVP_PKEY_get_bits (key));
}

/* The curve's OpenSSL group name, or "" if not an EC key. */
static void
key_group (EVP_PKEY *key, char *group, size_t len)
{
  group[0] = '\0';
  if (EVP_PKEY_get_base_id (key) != EVP_PKEY_EC
      || EVP_PKEY_get_utf8_string_param (key, OSSL_PKEY_PARAM_GROUP_NAME, group, len, NULL) != 1)
    group[0] = '\0';
}

static X509 *
parse_cert (const void *pem, size_t len, enclaver_error_t *err)
{
  BIO *bio;
  X509 *cert;

  if (len > INT_MAX)
    {
      enclaver_make_error (err, EFBIG, "certificate too large");
      return NULL;
    }
  bio = BIO_new_mem_buf (pem, (int) len);
  if (bio == NULL)
    xoom ();
  cert = PEM_read_bio_X509 (bio, NULL, no_password, NULL);
  BIO_free (bio);
  if (cert == NULL)
    ossl_fail (err, "cannot parse the signing certificate as a PEM X.509 certificate");
  return cert;
}

void
eif_pcrinfo_payload (struct cbor_buf *b, const uint8_t pcr0[ENCLAVER_PCR_SIZE])
{
  cbor_put_head (b, CBOR_MAP, 2);
  cbor_put_tstr (b, "register_index");
  cbor_put_int (b, 0);
  cbor_put_tstr (b, "register_value");
  cbor_put_u8_array (b, pcr0, ENCLAVER_PCR_SIZE);
}

static void
sig_structure (struct cbor_buf *b, const uint8_t *prot, size_t prot_len, const uint8_t *payload,
               size_t payload_len)
{
  cbor_put_head (b, CBOR_ARRAY, 4);
  cbor_put_tstr (b, "Signature1");
  cbor_put_bstr (b, prot, prot_len);
  cbor_put_bstr (b, "", 0);
  cbor_put_bstr (b, payload, payload_len);
}

uint8_t *
enclaver_eif_make_signature (const void *cert_pem, size_t cert_len, const void *key_pem, size_t key_len,
                             const uint8_t pcr0[ENCLAVER_PCR_SIZE], size_t *out_len, enclaver_error_t *err)
{
  const struct cose_alg *alg = cose_alg_by_id (COSE_ALG_ES384);
  struct cbor_buf payload = { 0 }, prot = { 0 }, tbs = { 0 }, cose = { 0 }, sec = { 0 };
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  EVP_MD_CTX *md = NULL;
  ECDSA_SIG *sig = NULL;
  unsigned char *der = NULL;
  size_t der_len = 0;
  uint8_t rs[2 * 66];
  char desc[96], group[64];
  uint8_t *ret = NULL;
  BIO *bio;

  if (key_len > INT_MAX)
    {
      enclaver_make_error (err, EFBIG, "private key too large");
      goto out;
    }
  bio = BIO_new_mem_buf (key_pem, (int) key_len);
  if (bio == NULL)
    xoom ();
  key = PEM_read_bio_PrivateKey (bio, NULL, no_password, NULL);
  BIO_free (bio);
  if (key == NULL)
    {
      ossl_fail (err, "cannot parse the private key (an unencrypted PEM EC P-384 key is required)");
      goto out;
    }
  key_group (key, group, sizeof group);
  if (strcmp (group, alg->curve) != 0)
    {
      key_description (key, desc, sizeof desc);
      enclaver_make_error (err, EINVAL,
                           "the private key is %s; EIF signing needs an EC P-384 (secp384r1) key for ES384",
                           desc);
      goto out;
    }
  cert = parse_cert (cert_pem, cert_len, err);
  if (cert == NULL)
    goto out;
  if (EVP_PKEY_eq (X509_get0_pubkey (cert), key) != 1)
    {
      ERR_clear_error ();
      enclaver_make_error (err, EINVAL, "the private key does not match the signing certificate's public key");
      goto out;
    }

  eif_pcrinfo_payload (&payload, pcr0);
  cbor_put_head (&prot, CBOR_MAP, 1);
  cbor_put_int (&prot, 1);
  cbor_put_int (&prot, alg->id);
  sig_structure (&tbs, prot.data, prot.len, payload.data, payload.len);

  md = EVP_MD_CTX_new ();
  if (md == NULL)
    xoom ();
  if (EVP_DigestSignInit (md, NULL, alg->md (), NULL, key) != 1
      || EVP_DigestSign (md, NULL, &der_len, tbs.data, tbs.len) != 1)
    {
      ossl_fail (err, "ECDSA signing failed");
      goto out;
    }
  der = OPENSSL_malloc (der_len);
  if (der == NULL)
    xoom ();
  if (EVP_DigestSign (md, der, &der_len, tbs.data, tbs.len) != 1)
    {
      ossl_fail (err, "ECDSA signing failed");
      goto out;
    }
  {
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    sig = d2i_ECDSA_SIG (NULL, &p, (long) der_len);
    if (sig == NULL)
      {
        ossl_fail (err, "cannot decode the ECDSA signature");
        goto out;
      }
    ECDSA_SIG_get0 (sig, &r, &s);
    if (BN_bn2binpad (r, rs, (int) alg->coord) < 0 || BN_bn2binpad (s, rs + alg->coord, (int) alg->coord) < 0)
      {
        ossl_fail (err, "ECDSA signature value too large");
        goto out;
      }
  }

  cbor_put_head (&cose, CBOR_ARRAY, 4);
  cbor_put_bstr (&cose, prot.data, prot.len);
  cbor_put_head (&cose, CBOR_MAP, 0);
  cbor_put_bstr (&cose, payload.data, payload.len);
  cbor_put_bstr (&cose, rs, 2 * alg->coord);

  cbor_put_head (&sec, CBOR_ARRAY, 1);
  cbor_put_head (&sec, CBOR_MAP, 2);
  cbor_put_tstr (&sec, "signing_certificate");
  cbor_put_u8_array (&sec, cert_pem, cert_len);
  cbor_put_tstr (&sec, "signature");
  cbor_put_u8_array (&sec, cose.data, cose.len);
  if (sec.len > ENCLAVER_EIF_SIGNATURE_MAX_SIZE)
    {
      enclaver_make_error (err, EFBIG,
                           "the signature section would be %zu bytes, more than the %d allowed "
                           "(is the certificate file too large?)",
                           sec.len, ENCLAVER_EIF_SIGNATURE_MAX_SIZE);
      goto out;
    }
  ret = sec.data;
  sec.data = NULL;
  *out_len = sec.len;

out:
  free (payload.data);
  free (prot.data);
  free (tbs.data);
  free (cose.data);
  free (sec.data);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);
  EVP_MD_CTX_free (md);
  X509_free (cert);
  EVP_PKEY_free (key);
  return ret;
}

/* ---- checking ---- */

void
eif_signature_result_clear (struct eif_signature_result *res)
{
  free (res->cert_pem);
  free (res->error);
  memset (res, 0, sizeof *res);
}

static int
expect_key (struct cbor_cur *c, const char *want, enclaver_error_t *err)
{
  size_t at = c->pos, len;
  const char *s;

  if (cbor_get_tstr (c, &s, &len, err) < 0)
    return -1;
  if (len != strlen (want) || memcmp (s, want, len) != 0)
    {
      c->pos = at;
      return cbor_error (c, err, "expected the key \"%s\", found \"%.*s\"", want, (int) (len > 40 ? 40 : len), s);
    }
  return 0;
}

struct cose_parts
{
  const uint8_t *prot;
  size_t prot_len;
  const uint8_t *payload;
  size_t payload_len;
  const uint8_t *sig;
  size_t sig_len;
  int64_t alg;
};

static int
parse_cose (const uint8_t *data, size_t len, uint64_t base, struct cose_parts *p, enclaver_error_t *err)
{
  cleanup_free char *what = xasprintf ("signature section at offset %llu: COSE_Sign1 (byte offsets within it)",
                                       (unsigned long long) base);
  struct cbor_cur c = { .p = data, .len = len, .what = what };
  struct cbor_cur pc;
  uint64_t n;
  int have_alg = 0;

  if (cbor_peek_major (&c) == CBOR_TAG)
    {
      unsigned m;
      uint64_t tag;
      if (cbor_get_head (&c, &m, &tag, err) < 0)
        return -1;
      if (tag != 18)
        return cbor_error (&c, err, "unexpected CBOR tag %llu (COSE_Sign1 is tag 18 or untagged)",
                           (unsigned long long) tag);
    }
  if (cbor_get_container (&c, CBOR_ARRAY, &n, err) < 0)
    return -1;
  if (n != 4)
    return cbor_error (&c, err, "COSE_Sign1 must be an array of 4 items, found %llu", (unsigned long long) n);
  if (cbor_get_bstr (&c, &p->prot, &p->prot_len, err) < 0)
    return -1;
  /* protected header map */
  pc = (struct cbor_cur) { .p = p->prot, .len = p->prot_len, .what = what };
  if (p->prot_len == 0)
    return cbor_error (&c, err, "empty protected header: no algorithm");
  if (cbor_get_container (&pc, CBOR_MAP, &n, err) < 0)
    return enclaver_error_wrap (err, "protected header");
  for (uint64_t i = 0; i < n; i++)
    {
      if (cbor_peek_major (&pc) == CBOR_UINT || cbor_peek_major (&pc) == CBOR_NINT)
        {
          int64_t k;
          if (cbor_get_int (&pc, &k, err) < 0)
            return enclaver_error_wrap (err, "protected header");
          if (k == 1)
            {
              if (cbor_get_int (&pc, &p->alg, err) < 0)
                return enclaver_error_wrap (err, "protected header: algorithm");
              have_alg = 1;
              continue;
            }
        }
      else if (cbor_skip (&pc, 1, err) < 0)
        return enclaver_error_wrap (err, "protected header");
      if (cbor_skip (&pc, 1, err) < 0)
        return enclaver_error_wrap (err, "protected header");
    }
  if (pc.pos != pc.len)
    return cbor_error (&pc, err, "protected header: %zu trailing bytes", pc.len - pc.pos);
  if (!have_alg)
    return cbor_error (&c, err, "the protected header has no algorithm (label 1)");
  if (cbor_peek_major (&c) != CBOR_MAP)
    return cbor_error (&c, err, "the unprotected header must be a map");
  if (cbor_skip (&c, 1, err) < 0)
    return -1;
  if (cbor_get_bstr (&c, &p->payload, &p->payload_len, err) < 0)
    return -1;
  if (cbor_get_bstr (&c, &p->sig, &p->sig_len, err) < 0)
    return -1;
  if (c.pos != c.len)
    return cbor_error (&c, err, "%zu trailing bytes after the COSE_Sign1 message", c.len - c.pos);
  return 0;
}

static int
verify_cose (const struct cose_parts *p, X509 *cert, enclaver_error_t *err)
{
  const struct cose_alg *alg = cose_alg_by_id (p->alg);
  EVP_PKEY *pub = X509_get0_pubkey (cert);
  struct cbor_buf tbs = { 0 };
  ECDSA_SIG *sig = NULL;
  BIGNUM *r = NULL, *s = NULL;
  unsigned char *der = NULL;
  EVP_MD_CTX *md = NULL;
  char group[64], desc[96];
  int der_len, rc, ret = -1;

  if (alg == NULL)
    return enclaver_make_error (err, EINVAL,
                                "unsupported COSE algorithm %lld (expected -35 = ES384, or -7 / -36)",
                                (long long) p->alg);
  if (pub == NULL)
    return ossl_fail (err, "cannot read the certificate's public key");
  key_group (pub, group, sizeof group);
  if (strcmp (group, alg->curve) != 0)
    {
      key_description (pub, desc, sizeof desc);
      return enclaver_make_error (err, EINVAL,
                                  "COSE algorithm %lld (%s) needs an EC %s key, but the certificate's key is %s",
                                  (long long) p->alg, alg->name, alg->curve_label, desc);
    }
  if (p->sig_len != 2 * alg->coord)
    return enclaver_make_error (err, EINVAL, "%s signature must be %zu bytes (r || s), found %zu", alg->name,
                                2 * alg->coord, p->sig_len);

  r = BN_bin2bn (p->sig, (int) alg->coord, NULL);
  s = BN_bin2bn (p->sig + alg->coord, (int) alg->coord, NULL);
  sig = ECDSA_SIG_new ();
  if (r == NULL || s == NULL || sig == NULL)
    xoom ();
  ECDSA_SIG_set0 (sig, r, s);
  r = s = NULL;
  der_len = i2d_ECDSA_SIG (sig, &der);
  if (der_len <= 0)
    {
      ossl_fail (err, "cannot encode the ECDSA signature");
      goto out;
    }
  sig_structure (&tbs, p->prot, p->prot_len, p->payload, p->payload_len);
  md = EVP_MD_CTX_new ();
  if (md == NULL)
    xoom ();
  if (EVP_DigestVerifyInit (md, NULL, alg->md (), NULL, pub) != 1)
    {
      ossl_fail (err, "cannot set up ECDSA verification");
      goto out;
    }
  rc = EVP_DigestVerify (md, der, (size_t) der_len, tbs.data, tbs.len);
  ERR_clear_error ();
  if (rc != 1)
    {
      enclaver_make_error (err, EINVAL, "the COSE_Sign1 %s signature does not verify with the certificate's public key",
                           alg->name);
      goto out;
    }
  ret = 0;
out:
  BN_free (r);
  BN_free (s);
  ECDSA_SIG_free (sig);
  OPENSSL_free (der);
  EVP_MD_CTX_free (md);
  free (tbs.data);
  return ret;
}

static void
asn1_time_str (const ASN1_TIME *t, char *buf, size_t len)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  char *p;
  long n;

  buf[0] = '\0';
  if (bio == NULL)
    xoom ();
  if (ASN1_TIME_print (bio, t) == 1)
    {
      n = BIO_get_mem_data (bio, &p);
      if (n > 0)
        snprintf (buf, len, "%.*s", (int) n, p);
    }
  BIO_free (bio);
}

static int
check_cert_time (X509 *cert, enclaver_error_t *err)
{
  char when[64];

  if (X509_cmp_current_time (X509_get0_notBefore (cert)) >= 0)
    {
      asn1_time_str (X509_get0_notBefore (cert), when, sizeof when);
      return enclaver_make_error (err, EINVAL, "the signing certificate is not valid yet (NotBefore %s)", when);
    }
  if (X509_cmp_current_time (X509_get0_notAfter (cert)) <= 0)
    {
      asn1_time_str (X509_get0_notAfter (cert), when, sizeof when);
      return enclaver_make_error (err, EINVAL, "the signing certificate has expired (NotAfter %s)", when);
    }
  return 0;
}

void
eif_signature_check (const uint8_t *data, size_t len, uint64_t base, const uint8_t pcr0[ENCLAVER_PCR_SIZE],
                     int no_verify, int ignore_time, struct eif_signature_result *res)
{
  cleanup_free char *what = xasprintf ("signature section at offset %llu (data offsets in the file)",
                                       (unsigned long long) base);
  struct cbor_cur c = { .p = data, .len = len, .base = base + ENCLAVER_EIF_SECTION_HEADER_SIZE, .what = what };
  enclaver_error_t err = NULL;
  cleanup_free uint8_t *cose = NULL;
  size_t cose_len = 0;
  struct cose_parts parts = { 0 };
  struct cbor_buf expected = { 0 };
  X509 *cert = NULL;
  uint64_t n;

  memset (res, 0, sizeof *res);

  if (cbor_get_container (&c, CBOR_ARRAY, &n, &err) < 0)
    goto fail;
  if (n == 0)
    {
      cbor_error (&c, &err, "the signature list is empty");
      goto fail;
    }
  if (cbor_get_container (&c, CBOR_MAP, &n, &err) < 0)
    goto fail;
  if (n != 2)
    {
      cbor_error (&c, &err, "a signature entry must be a map of 2 keys, found %llu", (unsigned long long) n);
      goto fail;
    }
  if (expect_key (&c, "signing_certificate", &err) < 0
      || cbor_get_u8_array (&c, &res->cert_pem, &res->cert_pem_len, &err) < 0
      || expect_key (&c, "signature", &err) < 0 || cbor_get_u8_array (&c, &cose, &cose_len, &err) < 0)
    goto fail;
  /* Further entries are not verified (as in the reference); they must still be well formed. */
  {
    struct cbor_cur whole = { .p = data, .len = len, .base = c.base, .what = what };
    if (cbor_skip (&whole, 0, &err) < 0)
      goto fail;
    if (whole.pos != whole.len)
      {
        cbor_error (&whole, &err, "%zu trailing bytes after the signature list", whole.len - whole.pos);
        goto fail;
      }
  }

  cert = parse_cert (res->cert_pem, res->cert_pem_len, &err);
  if (cert == NULL)
    {
      enclaver_error_wrap (&err, "signature section at offset %llu", (unsigned long long) base);
      goto fail;
    }
  {
    unsigned char *der = NULL;
    int der_len = i2d_X509 (cert, &der);
    if (der_len <= 0)
      {
        ossl_fail (&err, "cannot DER-encode the signing certificate");
        goto fail;
      }
    if (enclaver_pcr_of_buffer (der, (size_t) der_len, res->pcr8, &err) < 0)
      {
        OPENSSL_free (der);
        goto fail;
      }
    OPENSSL_free (der);
    res->has_pcr8 = 1;
  }

  if (parse_cose (cose, cose_len, base, &parts, &err) < 0)
    goto fail;
  res->cose_alg = (int) parts.alg;
  if (no_verify)
    {
      res->error = xstrdup ("signature not checked");
      goto out;
    }
  if (verify_cose (&parts, cert, &err) < 0)
    goto fail;
  eif_pcrinfo_payload (&expected, pcr0);
  if (parts.payload_len != expected.len || memcmp (parts.payload, expected.data, expected.len) != 0)
    {
      enclaver_make_error (&err, EINVAL,
                           "the signed payload is not the PcrInfo of this image's PCR0 "
                           "(the image was changed after signing, or was signed for another image)");
      goto fail;
    }
  if (!ignore_time && check_cert_time (cert, &err) < 0)
    goto fail;
  res->ok = 1;
  goto out;

fail:
  res->ok = 0;
  if (err && strncmp (err->msg, "signature section", 17) != 0)
    res->error = xasprintf ("signature section at offset %llu: %s", (unsigned long long) base, err->msg);
  else
    res->error = xstrdup (err ? err->msg : "signature check failed");
  enclaver_error_release (&err);
out:
  free (expected.data);
  X509_free (cert);
}

/* ---- certificate description (describe's SigningCertificate) ---- */

static int
cmp_cstr (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
enclaver_eif_cert_info_json (const void *pem, size_t len, enclaver_error_t *err)
{
  X509 *cert = parse_cert (pem, len, err);
  json_t *o, *issuer;
  const X509_NAME *name;
  const ASN1_BIT_STRING *sigbits = NULL;
  const X509_ALGOR *sigalg = NULL;
  const ASN1_OBJECT *algobj = NULL;
  char buf[256], when[64];
  char *hex, *ret;

  if (cert == NULL)
    return NULL;
  o = json_object ();
  issuer = json_object ();
  name = X509_get_issuer_name (cert);
  for (int i = 0; i < X509_NAME_entry_count (name); i++)
    {
      const X509_NAME_ENTRY *e = X509_NAME_get_entry (name, i);
      const ASN1_STRING *d = X509_NAME_ENTRY_get_data (e);
      unsigned char *utf8 = NULL;
      int n;
      if (OBJ_obj2txt (buf, sizeof buf, X509_NAME_ENTRY_get_object (e), 0) <= 0)
        continue;
      n = ASN1_STRING_to_UTF8 (&utf8, d);
      if (n >= 0)
        json_object_set_new (issuer, buf, json_stringn ((const char *) utf8, (size_t) n));
      OPENSSL_free (utf8);
    }
  {
    /* nitro-cli keeps the issuer in a BTreeMap: keys sorted. */
    size_t n = json_object_size (issuer), k = 0;
    const char **keys = xreallocarray (NULL, n ? n : 1, sizeof *keys);
    const char *key;
    json_t *v, *sorted = json_object ();
    json_object_foreach (issuer, key, v)
      keys[k++] = key;
    qsort (keys, k, sizeof *keys, cmp_cstr);
    for (size_t i = 0; i < k; i++)
      json_object_set (sorted, keys[i], json_object_get (issuer, keys[i]));
    free (keys);
    json_decref (issuer);
    json_object_set_new (o, "IssuerName", sorted);
  }
  X509_get0_signature (&sigbits, &sigalg, cert);
  if (sigalg)
    X509_ALGOR_get0 (&algobj, NULL, NULL, sigalg);
  if (algobj == NULL || OBJ_obj2txt (buf, sizeof buf, algobj, 0) <= 0)
    snprintf (buf, sizeof buf, "unknown");
  json_object_set_new (o, "Algorithm", json_string (buf));
  asn1_time_str (X509_get0_notBefore (cert), when, sizeof when);
  json_object_set_new (o, "NotBefore", json_string (when));
  asn1_time_str (X509_get0_notAfter (cert), when, sizeof when);
  json_object_set_new (o, "NotAfter", json_string (when));
  {
    int n = sigbits ? ASN1_STRING_length (sigbits) : 0;
    const unsigned char *p = sigbits ? ASN1_STRING_get0_data (sigbits) : NULL;
    hex = xmalloc ((size_t) (n > 0 ? n : 1) * 3);
    hex[0] = '\0';
    for (int i = 0; i < n; i++)
      snprintf (hex + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", p[i]);
    json_object_set_new (o, "Signature", json_string (hex));
    free (hex);
  }
  X509_free (cert);
  ret = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (ret == NULL)
    xoom ();
  return ret;
}
