/* enclaver: sha256 digests (OCI descriptor grammar, OCI.md §1.9). */
#include "config.h"
#include <string.h>
#include <openssl/evp.h>
#include "oci/oci.h"

int
oci_digest_valid (const char *d)
{
  if (d == NULL || strncmp (d, "sha256:", 7) != 0 || strlen (d) != OCI_DIGEST_LEN)
    return 0;
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return 0;
  return 1;
}

int
oci_digest_check (const char *d, const char *what, enclaver_error_t *err)
{
  if (oci_digest_valid (d))
    return 0;
  if (d == NULL)
    return enclaver_make_error (err, EINVAL, "%s: missing digest", what);
  const char *colon = strchr (d, ':');
  if (colon && strncmp (d, "sha256:", 7) != 0)
    return enclaver_make_error (err, ENOTSUP, "%s: unsupported digest algorithm in '%.80s' (only sha256)",
                                what, d);
  return enclaver_make_error (err, EINVAL, "%s: malformed digest '%.80s' (expected sha256:<64 lowercase hex>)",
                              what, d);
}

static void
hex_of (const unsigned char *md, unsigned len, char *out)
{
  static const char hx[] = "0123456789abcdef";
  memcpy (out, "sha256:", 7);
  for (unsigned i = 0; i < len; i++)
    {
      out[7 + 2 * i] = hx[md[i] >> 4];
      out[8 + 2 * i] = hx[md[i] & 15];
    }
  out[7 + 2 * len] = '\0';
}

void
oci_sha256_buf (const void *buf, size_t len, char out[OCI_DIGEST_LEN + 1])
{
  unsigned char md[32];
  unsigned mdlen = 0;
  if (EVP_Digest (buf, len, md, &mdlen, EVP_sha256 (), NULL) != 1)
    xoom ();
  hex_of (md, mdlen, out);
}

void
oci_hasher_init (struct oci_hasher *h)
{
  h->md = EVP_MD_CTX_new ();
  if (h->md == NULL || EVP_DigestInit_ex (h->md, EVP_sha256 (), NULL) != 1)
    xoom ();
  h->n = 0;
}

void
oci_hasher_update (struct oci_hasher *h, const void *buf, size_t len)
{
  if (len && EVP_DigestUpdate (h->md, buf, len) != 1)
    xoom ();
  h->n += len;
}

void
oci_hasher_reset (struct oci_hasher *h)
{
  if (EVP_DigestInit_ex (h->md, EVP_sha256 (), NULL) != 1)
    xoom ();
  h->n = 0;
}

void
oci_hasher_final (struct oci_hasher *h, char out[OCI_DIGEST_LEN + 1])
{
  unsigned char md[32];
  unsigned mdlen = 0;
  if (EVP_DigestFinal_ex (h->md, md, &mdlen) != 1)
    xoom ();
  hex_of (md, mdlen, out);
  oci_hasher_reset (h);
}

void
oci_hasher_free (struct oci_hasher *h)
{
  EVP_MD_CTX_free (h->md);
  h->md = NULL;
}
