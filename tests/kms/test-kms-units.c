/* enclaver tests: the KMS proxy's SigV4 signer and CMS opener (runtime/kms/).
 *
 * SigV4 against the two published vectors of ATTESTATION.md §5.3 (aws-c-auth's
 * post-vanilla and the IAM ListUsers example) and the canonical form's rules; the CMS
 * opener against Enclaver's CiphertextForRecipient vector and its key, damaged copies,
 * and EnvelopedData made here with OpenSSL in KMS's profile and outside it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kms/cms.h"
#include "kms/sigv4.h"
#include "tests/tap.h"

static unsigned char *
slurp (const char *name, size_t *len)
{
  char path[1024];
  FILE *f;
  unsigned char *buf;
  long n;
  snprintf (path, sizeof path, "%s/%s", KMS_VECTORS, name);
  f = fopen (path, "rb");
  if (f == NULL)
    {
      fprintf (stderr, "cannot open %s\n", path);
      exit (1);
    }
  fseek (f, 0, SEEK_END);
  n = ftell (f);
  rewind (f);
  buf = malloc ((size_t) n + 1);
  if (buf == NULL || fread (buf, 1, (size_t) n, f) != (size_t) n)
    exit (1);
  buf[n] = 0;
  fclose (f);
  *len = (size_t) n;
  return buf;
}

static void
hexs (const unsigned char *p, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", p[i]);
}

static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

static void
test_sigv4 (void)
{
  char out[512], err[256], *cr, *sh = NULL, h[65], region[80], service[80];
  unsigned char key[32], md[32];
  struct sigv4_header pv[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", "20150830T123600Z" } };
  struct sigv4_header iam[] = {
    { "x-amz-date", "20150830T123600Z" },
    { "Host", "iam.amazonaws.com" },
    { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
  };

  tap_ok (sigv4_authorization ("POST", "/", "", pv, 2, "", 0, "AKIDEXAMPLE", secret, "us-east-1", "service",
                               "20150830T123600Z", out, sizeof out, err, sizeof err)
            == 0,
          "sigv4: post-vanilla signs");
  TAP_STR_EQ (out,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
              "SignedHeaders=host;x-amz-date, "
              "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
              "sigv4: post-vanilla gives aws-c-auth's signature");

  cr = sigv4_canonical_request ("GET", "/", "Action=ListUsers&Version=2010-05-08", iam, 3, "", 0, &sh, err,
                                sizeof err);
  tap_ok (cr != NULL, "sigv4: IAM example: canonical request");
  SHA256 ((unsigned char *) cr, strlen (cr), md);
  hexs (md, 32, h);
  TAP_STR_EQ (h, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
              "sigv4: IAM example: the canonical request's hash");
  TAP_STR_EQ (sh, "content-type;host;x-amz-date", "sigv4: IAM example: signed headers sorted, lowercase");
  free (cr);
  free (sh);
  sigv4_signing_key (secret, "20150830", "us-east-1", "iam", key);
  hexs (key, 32, h);
  TAP_STR_EQ (h, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
              "sigv4: IAM example: the signing key");
  /* The query in another order and encoded gives the same signature. */
  tap_ok (sigv4_authorization ("GET", "/", "Version=2010-05-08&Action=ListUsers", iam, 3, "", 0, "AKIDEXAMPLE",
                               secret, "us-east-1", "iam", "20150830T123600Z", out, sizeof out, err, sizeof err)
            == 0,
          "sigv4: IAM example signs");
  TAP_CONTAINS (out, "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                "sigv4: IAM example: the published signature (query sorted)");

  {
    struct sigv4_header a[] = { { "My-Header", "  a   b \t c  " }, { "host", "h" } };
    cr = sigv4_canonical_request ("POST", "/", "b=2&a=%7e x", a, 2, "x", 1, NULL, err, sizeof err);
    tap_ok (cr != NULL && strstr (cr, "\nmy-header:a b c\n") != NULL,
            "sigv4: values trimmed, inner white space collapsed");
    tap_ok (cr != NULL && strstr (cr, "\na=~%20x&b=2\n") != NULL,
            "sigv4: query re-encoded (%%7e -> ~, space -> %%20) and sorted");
    tap_ok (cr != NULL
              && strstr (cr, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881") != NULL,
            "sigv4: the body's SHA-256 ends it");
    free (cr);
  }
  {
    struct sigv4_header bad[] = { { "bad header", "v" } };
    tap_ok (sigv4_canonical_request ("POST", "/", "", bad, 1, "", 0, NULL, err, sizeof err) == NULL,
            "sigv4: a header name with a space is refused");
    TAP_CONTAINS (err, "not an HTTP token", "sigv4: ... saying why");
  }
  tap_ok (sigv4_authorization ("POST", "/", "", pv, 2, "", 0, "AKID", secret, "us-east-1", "kms", "2015-08-30",
                               out, sizeof out, err, sizeof err)
            < 0,
          "sigv4: a malformed x-amz-date is refused");
  tap_ok (sigv4_authorization ("POST", "/", "", pv, 2, "", 0, "AKID", secret, "US_EAST", "kms",
                               "20150830T123600Z", out, sizeof out, err, sizeof err)
            < 0,
          "sigv4: a region outside [a-z0-9-] is refused");
  tap_ok (sigv4_authorization ("POST", "/", "", pv, 2, "", 0, "AKIDEXAMPLE", secret, "us-east-1", "service",
                               "20150830T123600Z", out, 40, err, sizeof err)
            < 0,
          "sigv4: an output buffer too small is an error, not a cut value");

  tap_ok (sigv4_parse_scope ("AWS4-HMAC-SHA256 Credential=AKIA/20250101/eu-west-1/kms/aws4_request, "
                             "SignedHeaders=host, Signature=00",
                             region, sizeof region, service, sizeof service, err, sizeof err)
            == 0,
          "scope: parsed");
  TAP_STR_EQ (region, "eu-west-1", "scope: region");
  TAP_STR_EQ (service, "kms", "scope: service");
  {
    static const char *const bad[] = {
      "Basic dXNlcjpwdw==",
      "AWS4-HMAC-SHA256 SignedHeaders=host",
      "AWS4-HMAC-SHA256 Credential=AKIA/20250101/eu-west-1/kms",
      "AWS4-HMAC-SHA256 Credential=AKIA/2025/eu-west-1/kms/aws4_request,",
      "AWS4-HMAC-SHA256 Credential=AKIA/20250101/EU_WEST/kms/aws4_request,",
      "AWS4-HMAC-SHA256 Credential=AKIA/20250101//kms/aws4_request,",
      "AWS4-HMAC-SHA256 Credential=AKIA/20250101/eu-west-1/kms/aws5_request,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
      tap_ok (sigv4_parse_scope (bad[i], region, sizeof region, service, sizeof service, err, sizeof err) < 0,
              "scope: refused: %s", bad[i]);
  }
  {
    char d[17];
    sigv4_amz_date (1440938160, d);
    TAP_STR_EQ (d, "20150830T123600Z", "amz date of a time_t");
  }
}

static X509 *
self_signed (EVP_PKEY *k)
{
  X509 *x = X509_new ();
  X509_NAME *n;
  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), 1);
  X509_gmtime_adj (X509_getm_notBefore (x), 0);
  X509_gmtime_adj (X509_getm_notAfter (x), 3600);
  X509_set_pubkey (x, k);
  n = X509_get_subject_name (x);
  X509_NAME_add_entry_by_txt (n, "CN", MBSTRING_ASC, (const unsigned char *) "recipient", -1, -1, 0);
  X509_set_issuer_name (x, n);
  X509_sign (x, k, EVP_sha256 ());
  return x;
}

/* EnvelopedData for k's public key; oaep: KMS's RSAES-OAEP SHA-256, else PKCS#1 v1.5. */
static unsigned char *
make_cms (EVP_PKEY *k, const unsigned char *msg, size_t len, int oaep, const EVP_CIPHER *cipher, size_t *outlen)
{
  X509 *x = self_signed (k);
  BIO *in = BIO_new_mem_buf (msg, (int) len);
  CMS_ContentInfo *c = CMS_encrypt (NULL, in, cipher, CMS_BINARY | CMS_PARTIAL);
  CMS_RecipientInfo *ri = CMS_add1_recipient_cert (c, x, CMS_KEY_PARAM);
  unsigned char *der = NULL;
  int n;
  if (oaep)
    {
      EVP_PKEY_CTX *pc = CMS_RecipientInfo_get0_pkey_ctx (ri);
      EVP_PKEY_CTX_set_rsa_padding (pc, RSA_PKCS1_OAEP_PADDING);
      EVP_PKEY_CTX_set_rsa_oaep_md (pc, EVP_sha256 ());
      EVP_PKEY_CTX_set_rsa_mgf1_md (pc, EVP_sha256 ());
    }
  if (CMS_final (c, in, NULL, CMS_BINARY) != 1)
    {
      ERR_print_errors_fp (stderr);
      exit (1);
    }
  n = i2d_CMS_ContentInfo (c, &der);
  CMS_ContentInfo_free (c);
  BIO_free (in);
  X509_free (x);
  *outlen = (size_t) n;
  return der;
}

static void
test_cms (void)
{
  size_t ctl, ptl, kl, pl, dl;
  unsigned char *ct = slurp ("cms-ciphertext.ber", &ctl);
  unsigned char *pt = slurp ("cms-plaintext.txt", &ptl);
  unsigned char *kp = slurp ("cms-recipient-key.pem", &kl), *out = NULL, *copy, *spki = NULL;
  char err[512];
  BIO *b = BIO_new_mem_buf (kp, (int) kl);
  EVP_PKEY *key = PEM_read_bio_PrivateKey (b, NULL, NULL, NULL), *other;
  BIO_free (b);
  tap_ok (key != NULL, "cms: the vector's key loads");

  tap_ok (kms_cms_decrypt (key, ct, ctl, &out, &pl, err, sizeof err) == 0, "cms: Enclaver's vector opens");
  tap_ok (out && pl == ptl && memcmp (out, pt, pl) == 0, "cms: ... to its plaintext \"%.*s\"", (int) ptl, pt);
  free (out);

  other = kms_rsa_generate (err, sizeof err);
  tap_ok (other != NULL, "cms: a fresh RSA-2048 key");
  {
    /* The call first: the order in which tap_ok's arguments are evaluated is
     * unspecified, so dl in the same call may be read before kms_spki_der sets it. */
    int rc = kms_spki_der (other, &spki, &dl);
    tap_ok (rc == 0 && dl == 294, "cms: its SPKI DER is 294 bytes (%zu)", rc == 0 ? dl : (size_t) 0);
  }
  free (spki);
  tap_ok (kms_cms_decrypt (other, ct, ctl, &out, &pl, err, sizeof err) < 0, "cms: another key does not open it");
  TAP_CONTAINS (err, "does not decrypt with the proxy's key", "cms: ... the content key is what fails");

  for (size_t cut = 1; cut < ctl; cut += 37)
    if (kms_cms_decrypt (key, ct, ctl - cut, &out, &pl, err, sizeof err) == 0)
      {
        tap_ok (0, "cms: truncated by %zu bytes is refused", cut);
        free (out);
      }
  tap_ok (1, "cms: every truncation tried is refused");
  copy = malloc (ctl + 1);
  memcpy (copy, ct, ctl);
  copy[ctl] = 0;
  tap_ok (kms_cms_decrypt (key, copy, ctl + 1, &out, &pl, err, sizeof err) < 0, "cms: a trailing byte is refused");
  TAP_CONTAINS (err, "after the CMS ContentInfo", "cms: ... named as trailing bytes");
  copy[150] ^= 1; /* inside encryptedKey */
  tap_ok (kms_cms_decrypt (key, copy, ctl, &out, &pl, err, sizeof err) < 0, "cms: a flipped encryptedKey byte fails");
  copy[150] ^= 1;
  copy[450] ^= 0x40; /* the last byte of the encrypted content: its padding */
  tap_ok (kms_cms_decrypt (key, copy, ctl, &out, &pl, err, sizeof err) < 0, "cms: a flipped content byte fails");
  TAP_CONTAINS (err, "content does not decrypt", "cms: ... at the content");
  free (copy);
  copy = calloc (1, KMS_CMS_MAX + 1);
  tap_ok (kms_cms_decrypt (key, copy, KMS_CMS_MAX + 1, &out, &pl, err, sizeof err) < 0, "cms: over 256 KiB refused");
  TAP_CONTAINS (err, "more than", "cms: ... before parsing");
  free (copy);

  {
    unsigned char msg[5000], *c;
    size_t cl;
    for (size_t i = 0; i < sizeof msg; i++)
      msg[i] = (unsigned char) (i * 7 + 3);
    c = make_cms (other, msg, sizeof msg, 1, EVP_aes_256_cbc (), &cl);
    tap_ok (kms_cms_decrypt (other, c, cl, &out, &pl, err, sizeof err) == 0 && pl == sizeof msg
              && memcmp (out, msg, pl) == 0,
            "cms: 5000 bytes in KMS's profile (OAEP SHA-256, AES-256-CBC) round-trip");
    free (out);
    tap_ok (kms_cms_decrypt (key, c, cl, &out, &pl, err, sizeof err) < 0, "cms: ... and not with another key");
    OPENSSL_free (c);
    c = make_cms (other, msg, 100, 0, EVP_aes_256_cbc (), &cl);
    tap_ok (kms_cms_decrypt (other, c, cl, &out, &pl, err, sizeof err) < 0, "cms: PKCS#1 v1.5 key transport refused");
    TAP_CONTAINS (err, "not RSAES-OAEP", "cms: ... naming the algorithm");
    OPENSSL_free (c);
    c = make_cms (other, msg, 100, 1, EVP_aes_128_cbc (), &cl);
    tap_ok (kms_cms_decrypt (other, c, cl, &out, &pl, err, sizeof err) < 0, "cms: AES-128-CBC content refused");
    TAP_CONTAINS (err, "not AES-256-CBC", "cms: ... naming the cipher");
    OPENSSL_free (c);
  }
  EVP_PKEY_free (key);
  EVP_PKEY_free (other);
  free (ct);
  free (pt);
  free (kp);
}

int
main (void)
{
  test_sigv4 ();
  test_cms ();
  return tap_done ();
}
