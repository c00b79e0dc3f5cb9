/* enclaver: PCR calculation (SHA-384 + one extend of a zero register), CRC helpers
 * and small EIF naming helpers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>
/* ENCLAVER_NO_ISAL: the static enclaver-run, for which Debian has no static ISA-L. */
#if defined HAVE_ISAL && !defined ENCLAVER_NO_ISAL
#include <isa-l/crc.h>
#endif

#include "digest-worker.h"
#include "eif/eif-internal.h"

const char *
enclaver_eif_section_type_name (unsigned type)
{
  switch (type)
    {
    case ENCLAVER_EIF_SECTION_INVALID:
      return "invalid";
    case ENCLAVER_EIF_SECTION_KERNEL:
      return "kernel";
    case ENCLAVER_EIF_SECTION_CMDLINE:
      return "cmdline";
    case ENCLAVER_EIF_SECTION_RAMDISK:
      return "ramdisk";
    case ENCLAVER_EIF_SECTION_SIGNATURE:
      return "signature";
    case ENCLAVER_EIF_SECTION_METADATA:
      return "metadata";
    default:
      return "unknown";
    }
}

int
enclaver_eif_arch_parse (const char *s, enum enclaver_eif_arch *arch)
{
  if (s == NULL)
    return -1;
  if (strcmp (s, "x86_64") == 0 || strcmp (s, "amd64") == 0)
    *arch = ENCLAVER_EIF_ARCH_X86_64;
  else if (strcmp (s, "aarch64") == 0 || strcmp (s, "arm64") == 0)
    *arch = ENCLAVER_EIF_ARCH_AARCH64;
  else
    return -1;
  return 0;
}

const char *
enclaver_eif_arch_name (enum enclaver_eif_arch arch)
{
  return arch == ENCLAVER_EIF_ARCH_AARCH64 ? "aarch64" : "x86_64";
}

/* ---- CRC ---- */

uint32_t
eif_crc32 (uint32_t crc, const void *data, size_t len)
{
  const Bytef *p = data;
  while (len > 0)
    {
      uInt n = len > 0x40000000u ? 0x40000000u : (uInt) len;
#if defined HAVE_ISAL && !defined ENCLAVER_NO_ISAL
      crc = crc32_gzip_refl (crc, p, n); /* same CRC (zlib's), folded with PCLMULQDQ */
#else
      crc = (uint32_t) crc32 (crc, p, n);
#endif
      p += n;
      len -= n;
    }
  return crc;
}

uint32_t
eif_crc32_combine (uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
  _Static_assert (sizeof (z_off64_t) >= 8, "64-bit z_off64_t required");
  return (uint32_t) crc32_combine64 (crc_a, crc_b, (z_off64_t) len_b);
}

/* ---- PCR ---- */

static int
openssl_error (enclaver_error_t *err, const char *what)
{
  unsigned long e = ERR_get_error ();
  char buf[256];

  if (e == 0)
    return enclaver_make_error (err, EIO, "%s failed", what);
  ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  return enclaver_make_error (err, EIO, "%s: %s", what, buf);
}

int
enclaver_pcr_init (enclaver_pcr_t *pcr, enclaver_error_t *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();

  pcr->md = NULL;
  if (ctx == NULL)
    xoom ();
  if (EVP_DigestInit_ex (ctx, EVP_sha384 (), NULL) != 1)
    {
      EVP_MD_CTX_free (ctx);
      return openssl_error (err, "SHA-384 init");
    }
  pcr->md = ctx;
  return 0;
}

int
enclaver_pcr_update (enclaver_pcr_t *pcr, const void *data, size_t len, enclaver_error_t *err)
{
  if (pcr->md == NULL)
    return enclaver_make_error (err, EINVAL, "PCR context not initialised");
  if (len == 0)
    return 0;
  if (EVP_DigestUpdate (pcr->md, data, len) != 1)
    return openssl_error (err, "SHA-384 update");
  return 0;
}

int
enclaver_pcr_final (enclaver_pcr_t *pcr, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err)
{
  uint8_t buf[2 * ENCLAVER_PCR_SIZE];
  unsigned int n = 0;
  int ret = -1;

  if (pcr->md == NULL)
    return enclaver_make_error (err, EINVAL, "PCR context not initialised");
  memset (buf, 0, ENCLAVER_PCR_SIZE);
  if (EVP_DigestFinal_ex (pcr->md, buf + ENCLAVER_PCR_SIZE, &n) != 1 || n != ENCLAVER_PCR_SIZE)
    {
      openssl_error (err, "SHA-384 final");
      goto out;
    }
  /* extend: SHA384(0^48 || digest) */
  if (EVP_Digest (buf, sizeof buf, out, &n, EVP_sha384 (), NULL) != 1 || n != ENCLAVER_PCR_SIZE)
    {
      openssl_error (err, "SHA-384 extend");
      goto out;
    }
  ret = 0;
out:
  enclaver_pcr_cleanup (pcr);
  return ret;
}

void
enclaver_pcr_cleanup (enclaver_pcr_t *pcr)
{
  if (pcr && pcr->md)
    {
      EVP_MD_CTX_free (pcr->md);
      pcr->md = NULL;
    }
}

int
enclaver_pcr_of_buffer (const void *data, size_t len, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err)
{
  enclaver_pcr_t pcr;

  if (enclaver_pcr_init (&pcr, err) < 0)
    return -1;
  if (enclaver_pcr_update (&pcr, data, len, err) < 0)
    {
      enclaver_pcr_cleanup (&pcr);
      return -1;
    }
  return enclaver_pcr_final (&pcr, out, err);
}

int
enclaver_pcr_of_file (const char *path, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err)
{
  cleanup_close int fd = enclaver_open_file (path, 0, err);
  cleanup_free uint8_t *buf = NULL;
  enclaver_pcr_t pcr;

  if (fd < 0)
    return -1;
  if (enclaver_pcr_init (&pcr, err) < 0)
    return -1;
  buf = xmalloc (EIF_IO_CHUNK);
  for (;;)
    {
      ssize_t r = read (fd, buf, EIF_IO_CHUNK);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          enclaver_pcr_cleanup (&pcr);
          return enclaver_make_errno (err, errno, "read %s", path);
        }
      if (r == 0)
        break;
      if (enclaver_pcr_update (&pcr, buf, (size_t) r, err) < 0)
        {
          enclaver_pcr_cleanup (&pcr);
          return -1;
        }
    }
  return enclaver_pcr_final (&pcr, out, err);
}

int
enclaver_pcr_of_cert_pem (const void *pem, size_t len, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err)
{
  BIO *bio;
  X509 *cert;
  unsigned char *der = NULL;
  int der_len, ret;

  if (len > INT_MAX)
    return enclaver_make_error (err, EFBIG, "certificate too large");
  bio = BIO_new_mem_buf (pem, (int) len);
  if (bio == NULL)
    xoom ();
  cert = PEM_read_bio_X509 (bio, NULL, NULL, NULL);
  BIO_free (bio);
  if (cert == NULL)
    return openssl_error (err, "cannot parse the PEM X.509 certificate");
  der_len = i2d_X509 (cert, &der);
  X509_free (cert);
  if (der_len <= 0)
    return openssl_error (err, "cannot DER-encode the certificate");
  ret = enclaver_pcr_of_buffer (der, (size_t) der_len, out, err);
  OPENSSL_free (der);
  return ret;
}

int
enclaver_pcr_of_cert_file (const char *path, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err)
{
  cleanup_free char *pem = NULL;
  size_t len = 0;

  if (enclaver_read_file (path, 1024 * 1024, &pem, &len, err) < 0)
    return -1;
  if (enclaver_pcr_of_cert_pem (pem, len, out, err) < 0)
    return enclaver_error_wrap (err, "%s", path);
  return 0;
}

void
enclaver_pcr_to_hex (const uint8_t pcr[ENCLAVER_PCR_SIZE], char out[ENCLAVER_PCR_HEX_SIZE])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < ENCLAVER_PCR_SIZE; i++)
    {
      out[2 * i] = hex[pcr[i] >> 4];
      out[2 * i + 1] = hex[pcr[i] & 15];
    }
  out[2 * ENCLAVER_PCR_SIZE] = '\0';
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int
enclaver_pcr_from_hex (const char *hex, uint8_t out[ENCLAVER_PCR_SIZE])
{
  if (hex == NULL)
    return -1;
  if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
    hex += 2;
  if (strlen (hex) != 2 * ENCLAVER_PCR_SIZE)
    return -1;
  for (int i = 0; i < ENCLAVER_PCR_SIZE; i++)
    {
      int hi = hexval (hex[2 * i]), lo = hexval (hex[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return -1;
      out[i] = (uint8_t) (hi << 4 | lo);
    }
  return 0;
}

/* ---- PCR0/1/2 accumulation ---- */

int
eif_measure_init (struct eif_measure *m, enclaver_error_t *err)
{
  memset (m, 0, sizeof *m);
  for (int i = 0; i < 3; i++)
    if (enclaver_pcr_init (&m->pcr[i], err) < 0)
      {
        eif_measure_cleanup (m);
        return -1;
      }
  return 0;
}

void
eif_measure_section (struct eif_measure *m, unsigned type)
{
  switch (type)
    {
    case ENCLAVER_EIF_SECTION_KERNEL:
    case ENCLAVER_EIF_SECTION_CMDLINE:
      m->cur_mask = 1 | 2;
      break;
    case ENCLAVER_EIF_SECTION_RAMDISK:
      m->cur_mask = m->ramdisks == 0 ? (1 | 2) : (1 | 4);
      m->ramdisks++;
      break;
    default:
      m->cur_mask = 0;
      break;
    }
}

/* Below this, a job is not worth a thread hand-off. */
#define EIF_PARALLEL_MIN (32u * 1024)

int
eif_measure_update (struct eif_measure *m, const void *data, size_t len, enclaver_error_t *err)
{
  int second = (m->cur_mask & 2) ? 1 : (m->cur_mask & 4) ? 2 : -1;

  if ((m->cur_mask & 1) && second > 0 && len >= EIF_PARALLEL_MIN && m->pcr[0].md && m->pcr[second].md)
    {
      int r;
      if (m->hasher == NULL)
        {
          m->hasher = xmalloc (sizeof *m->hasher);
          digest_worker_start (m->hasher, "eif-read-pcr");
        }
      digest_worker_post (m->hasher, m->pcr[second].md, data, len);
      r = enclaver_pcr_update (&m->pcr[0], data, len, err);
      if (digest_worker_wait (m->hasher) < 0)
        {
          if (r == 0)
            enclaver_make_error (err, EIO, "SHA-384 update failed (PCR%d)", second);
          return -1;
        }
      return r;
    }
  for (int i = 0; i < 3; i++)
    if ((m->cur_mask & (1 << i)) && enclaver_pcr_update (&m->pcr[i], data, len, err) < 0)
      return -1;
  return 0;
}

int
eif_measure_final (struct eif_measure *m, struct enclaver_eif_measurements *out, enclaver_error_t *err)
{
  uint8_t *dst[3] = { out->pcr0, out->pcr1, out->pcr2 };
  int ret = 0;

  for (int i = 0; i < 3; i++)
    if (ret == 0)
      ret = enclaver_pcr_final (&m->pcr[i], dst[i], err);
  eif_measure_cleanup (m);
  return ret;
}

void
eif_measure_cleanup (struct eif_measure *m)
{
  if (m->hasher)
    {
      digest_worker_stop (m->hasher);
      free (m->hasher);
      m->hasher = NULL;
    }
  for (int i = 0; i < 3; i++)
    enclaver_pcr_cleanup (&m->pcr[i]);
}
