/* enclaver runtime: the KMS proxy's recipient key and CiphertextForRecipient (cms.h).
 *
 * The profile is checked before anything is decrypted; the content key is decrypted
 * with the recipient's key explicitly (CMS_RecipientInfo_decrypt), so a wrong key is
 * always reported as such (CMS_decrypt without a certificate would go on with a random
 * key and fail, or not, at the content's padding). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kms/cms.h"
#include "rtutil.h"

static int
ossl_err (char *err, size_t errlen, const char *what)
{
  char e[256] = "";
  unsigned long c = ERR_get_error ();
  if (c)
    ERR_error_string_n (c, e, sizeof e);
  ERR_clear_error ();
  return rt_err (err, errlen, "%s%s%s", what, e[0] ? ": " : "", e);
}

EVP_PKEY *
kms_rsa_generate (char *err, size_t errlen)
{
  EVP_PKEY *k = EVP_RSA_gen (2048);
  if (k == NULL)
    ossl_err (err, errlen, "cannot generate an RSA-2048 key");
  return k;
}

int
kms_spki_der (EVP_PKEY *key, unsigned char **der, size_t *len)
{
  unsigned char *p = NULL;
  int n = i2d_PUBKEY (key, &p);
  if (n <= 0)
    return -1;
  *der = xmalloc ((size_t) n);
  memcpy (*der, p, (size_t) n);
  OPENSSL_free (p);
  *len = (size_t) n;
  return 0;
}

/* The OID of an algorithm identifier as text. */
static void
oid_text (const ASN1_OBJECT *o, char *buf, size_t len)
{
  if (o == NULL || OBJ_obj2txt (buf, (int) len, o, 1) <= 0)
    snprintf (buf, len, "(none)");
}

/* RSAES-OAEP parameters: SHA-256, MGF1 with SHA-256, no label. */
static int
check_oaep (const X509_ALGOR *alg, char *err, size_t errlen)
{
  const ASN1_OBJECT *oid;
  int ptype;
  const void *pval;
  RSA_OAEP_PARAMS *op = NULL;
  X509_ALGOR *mh = NULL;
  int rc = -1;
  char t[80];
  X509_ALGOR_get0 (&oid, &ptype, &pval, alg);
  if (OBJ_obj2nid (oid) != NID_rsaesOaep)
    {
      oid_text (oid, t, sizeof t);
      return rt_err (err, errlen, "the key encryption algorithm is %s, not RSAES-OAEP (1.2.840.113549.1.1.7)", t);
    }
  if (ptype != V_ASN1_SEQUENCE)
    return rt_err (err, errlen, "RSAES-OAEP without parameters (SHA-1 defaults; KMS uses SHA-256)");
  (void) pval;
  op = ASN1_TYPE_unpack_sequence (ASN1_ITEM_rptr (RSA_OAEP_PARAMS), alg->parameter);
  if (op == NULL)
    return rt_err (err, errlen, "malformed RSAES-OAEP parameters");
  if (op->hashFunc == NULL || OBJ_obj2nid (op->hashFunc->algorithm) != NID_sha256)
    {
      rt_err (err, errlen, "RSAES-OAEP with a hash other than SHA-256");
      goto out;
    }
  if (op->maskGenFunc == NULL || OBJ_obj2nid (op->maskGenFunc->algorithm) != NID_mgf1
      || op->maskGenFunc->parameter == NULL || op->maskGenFunc->parameter->type != V_ASN1_SEQUENCE)
    {
      rt_err (err, errlen, "RSAES-OAEP with a mask generation other than MGF1");
      goto out;
    }
  mh = ASN1_TYPE_unpack_sequence (ASN1_ITEM_rptr (X509_ALGOR), op->maskGenFunc->parameter);
  if (mh == NULL || OBJ_obj2nid (mh->algorithm) != NID_sha256)
    {
      rt_err (err, errlen, "RSAES-OAEP with MGF1 over a hash other than SHA-256");
      goto out;
    }
  if (op->pSourceFunc != NULL)
    {
      rt_err (err, errlen, "RSAES-OAEP with a label (KMS sends none)");
      goto out;
    }
  rc = 0;
out:
  X509_ALGOR_free (mh);
  RSA_OAEP_PARAMS_free (op);
  return rc;
}

/* The contentEncryptionAlgorithm of an EnvelopedData (OpenSSL 3.0 has no getter): walk
 * the structure's DER re-encoding (definite lengths) down to EncryptedContentInfo. */
static X509_ALGOR *
content_algorithm (CMS_ContentInfo *cms)
{
  unsigned char *der = NULL;
  const unsigned char *p, *end;
  long len;
  int tag, cls, n = i2d_CMS_ContentInfo (cms, &der), step;
  X509_ALGOR *alg = NULL;
  /* enter: ContentInfo, [0], EnvelopedData; skip version, [0] originatorInfo if any,
   * recipientInfos; enter EncryptedContentInfo; skip its content type */
  static const struct
  {
    int enter, tag, cls, optional;
  } path[] = {
    { 1, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 0 },  { 0, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, 0 },
    { 1, 0, V_ASN1_CONTEXT_SPECIFIC, 0 },         { 1, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 0 },
    { 0, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, 0 },   { 0, 0, V_ASN1_CONTEXT_SPECIFIC, 1 },
    { 0, V_ASN1_SET, V_ASN1_UNIVERSAL, 0 },       { 1, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 0 },
    { 0, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, 0 },
  };
  if (n <= 0)
    return NULL;
  p = der;
  end = der + n;
  for (step = 0; step < (int) (sizeof path / sizeof path[0]); step++)
    {
      const unsigned char *q = p;
      if (ASN1_get_object (&q, &len, &tag, &cls, end - p) & 0x80 || len < 0 || len > end - q)
        goto out;
      if (tag != path[step].tag || cls != path[step].cls)
        {
          if (path[step].optional)
            continue;
          goto out;
        }
      p = path[step].enter ? q : q + len;
    }
  alg = d2i_X509_ALGOR (NULL, &p, end - p);
out:
  OPENSSL_free (der);
  return alg;
}

int
kms_cms_decrypt (EVP_PKEY *key, const unsigned char *ber, size_t len, unsigned char **out,
                 size_t *out_len, char *err, size_t errlen)
{
  const unsigned char *p = ber;
  CMS_ContentInfo *cms = NULL;
  STACK_OF (CMS_RecipientInfo) *ris;
  CMS_RecipientInfo *ri;
  X509_ALGOR *kalg = NULL, *calg = NULL;
  BIO *bio = NULL;
  BUF_MEM *bm;
  int rc = -1, n;
  char t[80];

  *out = NULL;
  *out_len = 0;
  if (len > KMS_CMS_MAX)
    return rt_err (err, errlen, "%zu bytes, more than the %d a CiphertextForRecipient may have", len,
                   KMS_CMS_MAX);
  cms = d2i_CMS_ContentInfo (NULL, &p, (long) len);
  if (cms == NULL)
    return ossl_err (err, errlen, "not a CMS ContentInfo");
  if (p != ber + len)
    {
      rt_err (err, errlen, "%zu bytes after the CMS ContentInfo", (size_t) (ber + len - p));
      goto out;
    }
  if (OBJ_obj2nid (CMS_get0_type (cms)) != NID_pkcs7_enveloped)
    {
      oid_text (CMS_get0_type (cms), t, sizeof t);
      rt_err (err, errlen, "the content type is %s, not envelopedData", t);
      goto out;
    }
  ris = CMS_get0_RecipientInfos (cms);
  n = ris ? sk_CMS_RecipientInfo_num (ris) : 0;
  if (n != 1)
    {
      rt_err (err, errlen, "%d recipients, not exactly one", n);
      goto out;
    }
  ri = sk_CMS_RecipientInfo_value (ris, 0);
  if (CMS_RecipientInfo_type (ri) != CMS_RECIPINFO_TRANS)
    {
      rt_err (err, errlen, "the recipient is not a key transport recipient");
      goto out;
    }
  if (CMS_RecipientInfo_ktri_get0_algs (ri, NULL, NULL, &kalg) != 1 || kalg == NULL)
    {
      rt_err (err, errlen, "the recipient has no key encryption algorithm");
      goto out;
    }
  if (check_oaep (kalg, err, errlen) < 0)
    goto out;
  calg = content_algorithm (cms);
  if (calg == NULL || OBJ_obj2nid (calg->algorithm) != NID_aes_256_cbc)
    {
      oid_text (calg ? calg->algorithm : NULL, t, sizeof t);
      rt_err (err, errlen, "the content encryption algorithm is %s, not AES-256-CBC", t);
      goto out;
    }
  if (calg->parameter == NULL || calg->parameter->type != V_ASN1_OCTET_STRING
      || ASN1_STRING_length (calg->parameter->value.octet_string) != 16)
    {
      rt_err (err, errlen, "the AES-256-CBC IV is not 16 bytes");
      goto out;
    }
  /* set0: the recipient info owns a reference from here on (freed with cms). */
  if (EVP_PKEY_up_ref (key) != 1)
    {
      ossl_err (err, errlen, "the proxy's key");
      goto out;
    }
  if (CMS_RecipientInfo_set0_pkey (ri, key) != 1 || CMS_RecipientInfo_decrypt (cms, ri) != 1)
    {
      ossl_err (err, errlen, "the content key does not decrypt with the proxy's key");
      goto out;
    }
  bio = BIO_new (BIO_s_mem ());
  if (bio == NULL || CMS_decrypt (cms, NULL, NULL, NULL, bio, 0) != 1)
    {
      ossl_err (err, errlen, "the content does not decrypt (damaged ciphertext or padding)");
      goto out;
    }
  BIO_get_mem_ptr (bio, &bm);
  *out = xmalloc (bm->length + 1);
  memcpy (*out, bm->data, bm->length);
  (*out)[bm->length] = 0;
  *out_len = bm->length;
  OPENSSL_cleanse (bm->data, bm->length);
  rc = 0;
out:
  X509_ALGOR_free (calg);
  BIO_free (bio);
  CMS_ContentInfo_free (cms);
  ERR_clear_error ();
  return rc;
}
