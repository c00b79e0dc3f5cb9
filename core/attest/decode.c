/* enclaver: strict decoding of an attestation document (COSE_Sign1 + payload map),
 * and the text spellings (base64, hex) documents are passed around in.
 *
 * The decoder is the bounded one of core/eif/cbor.c: it never reads past the buffer,
 * rejects indefinite lengths and allocates only what the input already holds. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest-internal.h"

/* Field size limits: spec/ATTESTATION.md §3.2 and §3.9 (1024 for the optional fields,
 * as the NSM accepts). */
#define MAX_CERT 1024
#define MAX_OPT 1024
#define MAX_BUNDLE 16
#define MAX_MODULE_ID 256

static int
opt_bstr (struct cbor_cur *c, uint8_t **out, size_t *len, const char *key, enclaver_error_t *err)
{
  const uint8_t *d;
  size_t n;

  if (c->pos < c->len && c->p[c->pos] == 0xf6) /* null: absent */
    {
      c->pos++;
      return 0;
    }
  if (cbor_get_bstr (c, &d, &n, err) < 0)
    return enclaver_error_wrap (err, "%s", key);
  if (n > MAX_OPT)
    return cbor_error (c, err, "%s: %zu bytes, more than the %d allowed", key, n, MAX_OPT);
  *out = xmalloc (n ? n : 1);
  memcpy (*out, d, n);
  *len = n;
  return 0;
}

static int
get_cert (struct cbor_cur *c, uint8_t **out, size_t *len, const char *what, enclaver_error_t *err)
{
  const uint8_t *d;
  size_t n;

  if (cbor_get_bstr (c, &d, &n, err) < 0)
    return enclaver_error_wrap (err, "%s", what);
  if (n < 1 || n > MAX_CERT)
    return cbor_error (c, err, "%s: %zu bytes, not 1..%d", what, n, MAX_CERT);
  *out = xmalloc (n);
  memcpy (*out, d, n);
  *len = n;
  return 0;
}

static int
decode_pcrs (struct cbor_cur *c, struct enclaver_attestation_doc *doc, enclaver_error_t *err)
{
  uint64_t n;

  if (cbor_get_container (c, CBOR_MAP, &n, err) < 0)
    return enclaver_error_wrap (err, "pcrs");
  if (n < 1 || n > ENCLAVER_ATTEST_MAX_PCRS)
    return cbor_error (c, err, "pcrs: %llu entries, not 1..%d", (unsigned long long) n, ENCLAVER_ATTEST_MAX_PCRS);
  for (uint64_t i = 0; i < n; i++)
    {
      int64_t k;
      const uint8_t *v;
      size_t vl;
      if (cbor_peek_major (c) != CBOR_UINT || cbor_get_int (c, &k, err) < 0 || k >= ENCLAVER_ATTEST_MAX_PCRS)
        {
          if (!*err)
            cbor_error (c, err, "pcrs: key is not an integer 0..%d", ENCLAVER_ATTEST_MAX_PCRS - 1);
          return enclaver_error_wrap (err, "pcrs");
        }
      if (doc->pcr_present & (1u << k))
        return cbor_error (c, err, "pcrs: PCR%lld appears twice", (long long) k);
      if (cbor_get_bstr (c, &v, &vl, err) < 0)
        return enclaver_error_wrap (err, "pcrs: PCR%lld", (long long) k);
      if (vl != ENCLAVER_ATTEST_PCR_SIZE)
        return cbor_error (c, err, "pcrs: PCR%lld is %zu bytes, not the %d of SHA-384", (long long) k, vl,
                           ENCLAVER_ATTEST_PCR_SIZE);
      memcpy (doc->pcrs[k], v, vl);
      doc->pcr_present |= 1u << k;
    }
  return 0;
}

static int
decode_cabundle (struct cbor_cur *c, struct enclaver_attestation_doc *doc, enclaver_error_t *err)
{
  uint64_t n;

  if (cbor_get_container (c, CBOR_ARRAY, &n, err) < 0)
    return enclaver_error_wrap (err, "cabundle");
  if (n < 1 || n > MAX_BUNDLE)
    return cbor_error (c, err, "cabundle: %llu certificates, not 1..%d", (unsigned long long) n, MAX_BUNDLE);
  doc->cabundle = xmalloc0 (n * sizeof *doc->cabundle);
  doc->cabundle_len = xmalloc0 (n * sizeof *doc->cabundle_len);
  for (uint64_t i = 0; i < n; i++)
    {
      char what[32];
      snprintf (what, sizeof what, "cabundle[%llu]", (unsigned long long) i);
      if (get_cert (c, &doc->cabundle[i], &doc->cabundle_len[i], what, err) < 0)
        return -1;
      doc->cabundle_count = i + 1;
    }
  return 0;
}

enum
{
  K_MODULE_ID = 1 << 0,
  K_DIGEST = 1 << 1,
  K_TIMESTAMP = 1 << 2,
  K_PCRS = 1 << 3,
  K_CERT = 1 << 4,
  K_CABUNDLE = 1 << 5,
  K_PUBKEY = 1 << 6,
  K_USER_DATA = 1 << 7,
  K_NONCE = 1 << 8,
  K_REQUIRED = K_MODULE_ID | K_DIGEST | K_TIMESTAMP | K_PCRS | K_CERT | K_CABUNDLE,
};

static const char *const key_names[] = { "module_id", "digest", "timestamp", "pcrs", "certificate",
                                         "cabundle", "public_key", "user_data", "nonce" };

static int
decode_payload (const uint8_t *p, size_t len, struct enclaver_attestation_doc *doc, enclaver_error_t *err)
{
  struct cbor_cur c = { .p = p, .len = len, .pos = 0, .base = 0, .what = "attestation payload" };
  unsigned seen = 0;
  uint64_t n;

  if (cbor_get_container (&c, CBOR_MAP, &n, err) < 0)
    return -1;
  for (uint64_t i = 0; i < n; i++)
    {
      const char *k;
      size_t kl, ki;
      if (cbor_get_tstr (&c, &k, &kl, err) < 0)
        return enclaver_error_wrap (err, "map key %llu", (unsigned long long) i);
      for (ki = 0; ki < ARRAY_SIZE (key_names); ki++)
        if (strlen (key_names[ki]) == kl && memcmp (key_names[ki], k, kl) == 0)
          break;
      if (ki == ARRAY_SIZE (key_names))
        return cbor_error (&c, err, "unknown key '%.*s'", (int) (kl > 40 ? 40 : kl), k);
      if (seen & (1u << ki))
        return cbor_error (&c, err, "key '%s' appears twice", key_names[ki]);
      seen |= 1u << ki;
      switch (1u << ki)
        {
        case K_MODULE_ID:
        case K_DIGEST:
          {
            const char *s;
            size_t sl;
            if (cbor_get_tstr (&c, &s, &sl, err) < 0)
              return enclaver_error_wrap (err, "%s", key_names[ki]);
            if (sl < 1 || sl > MAX_MODULE_ID || memchr (s, 0, sl))
              return cbor_error (&c, err, "%s: empty, too long or holds NUL", key_names[ki]);
            char *v = xmalloc (sl + 1);
            memcpy (v, s, sl);
            v[sl] = 0;
            if (ki == 0)
              doc->module_id = v;
            else
              doc->digest = v;
            break;
          }
        case K_TIMESTAMP:
          {
            int64_t t;
            if (cbor_peek_major (&c) != CBOR_UINT || cbor_get_int (&c, &t, err) < 0 || t <= 0)
              {
                if (!*err)
                  cbor_error (&c, err, "timestamp: not a positive integer");
                return enclaver_error_wrap (err, "timestamp");
              }
            doc->timestamp_ms = (uint64_t) t;
            break;
          }
        case K_PCRS:
          if (decode_pcrs (&c, doc, err) < 0)
            return -1;
          break;
        case K_CERT:
          if (get_cert (&c, &doc->certificate, &doc->certificate_len, "certificate", err) < 0)
            return -1;
          break;
        case K_CABUNDLE:
          if (decode_cabundle (&c, doc, err) < 0)
            return -1;
          break;
        case K_PUBKEY:
          if (opt_bstr (&c, &doc->public_key, &doc->public_key_len, "public_key", err) < 0)
            return -1;
          break;
        case K_USER_DATA:
          if (opt_bstr (&c, &doc->user_data, &doc->user_data_len, "user_data", err) < 0)
            return -1;
          break;
        case K_NONCE:
          if (opt_bstr (&c, &doc->nonce, &doc->nonce_len, "nonce", err) < 0)
            return -1;
          break;
        }
    }
  if (c.pos != c.len)
    return cbor_error (&c, err, "%zu bytes after the map", c.len - c.pos);
  if ((seen & K_REQUIRED) != K_REQUIRED)
    {
      for (size_t ki = 0; ki < ARRAY_SIZE (key_names); ki++)
        if ((K_REQUIRED & (1u << ki)) && !(seen & (1u << ki)))
          return enclaver_make_error (err, EINVAL, "attestation payload: required key '%s' is missing",
                                      key_names[ki]);
    }
  if (strcmp (doc->digest, "SHA384") != 0)
    return enclaver_make_error (err, EINVAL, "attestation payload: digest is '%s', not SHA384", doc->digest);
  doc->debug = 1;
  if (doc->pcr_present & 1)
    for (size_t i = 0; i < ENCLAVER_ATTEST_PCR_SIZE; i++)
      if (doc->pcrs[0][i])
        doc->debug = 0;
  return 0;
}

int
attest_decode (const uint8_t *data, size_t len, struct attest_cose *cose, struct enclaver_attestation_doc *doc,
               enclaver_error_t *err)
{
  struct cbor_cur c = { .p = data, .len = len, .pos = 0, .base = 0, .what = "COSE_Sign1" };
  uint64_t n;
  const uint8_t *sig;
  size_t siglen;

  memset (cose, 0, sizeof *cose);
  if (len > ENCLAVER_ATTEST_MAX_DOC)
    return enclaver_make_error (err, EFBIG, "attestation document of %zu bytes, more than the %d accepted", len,
                                ENCLAVER_ATTEST_MAX_DOC);
  if (len > 0 && data[0] == 0xd2) /* tag 18, COSE_Sign1 */
    c.pos = 1;
  if (cbor_get_container (&c, CBOR_ARRAY, &n, err) < 0)
    return -1;
  if (n != 4)
    return cbor_error (&c, err, "array of %llu elements, not 4", (unsigned long long) n);
  if (cbor_get_bstr (&c, &cose->protected_hdr, &cose->protected_len, err) < 0)
    return enclaver_error_wrap (err, "protected header");
  {
    /* The protected header must say exactly {1: -35} (ES384): no other algorithm and
     * no other parameter, so nothing unsigned can change how the document is read. */
    struct cbor_cur h = { .p = cose->protected_hdr, .len = cose->protected_len, .what = "protected header" };
    uint64_t hn;
    int64_t k, v;
    enclaver_error_t e2 = NULL;
    cose->alg_ok = cbor_get_container (&h, CBOR_MAP, &hn, &e2) == 0 && hn == 1 && cbor_get_int (&h, &k, &e2) == 0
                   && k == 1 && cbor_get_int (&h, &v, &e2) == 0 && v == -35 && h.pos == h.len;
    enclaver_error_release (&e2);
  }
  if (cbor_peek_major (&c) != CBOR_MAP)
    return cbor_error (&c, err, "unprotected header is not a map");
  if (cbor_skip (&c, 0, err) < 0) /* never trusted: it is not signed */
    return enclaver_error_wrap (err, "unprotected header");
  if (cbor_get_bstr (&c, &cose->payload, &cose->payload_len, err) < 0)
    return enclaver_error_wrap (err, "payload");
  if (cose->payload_len == 0)
    return cbor_error (&c, err, "empty payload");
  if (cbor_get_bstr (&c, &sig, &siglen, err) < 0)
    return enclaver_error_wrap (err, "signature");
  if (siglen != 96)
    return cbor_error (&c, err, "signature is %zu bytes, not the 96 of ES384 r||s", siglen);
  cose->signature = sig;
  if (c.pos != c.len)
    return cbor_error (&c, err, "%zu bytes after the COSE_Sign1 array", c.len - c.pos);
  return decode_payload (cose->payload, cose->payload_len, doc, err);
}

void
attest_doc_clear (struct enclaver_attestation_doc *doc)
{
  free (doc->module_id);
  free (doc->digest);
  free (doc->certificate);
  for (size_t i = 0; i < doc->cabundle_count; i++)
    free (doc->cabundle[i]);
  free (doc->cabundle);
  free (doc->cabundle_len);
  free (doc->public_key);
  free (doc->user_data);
  free (doc->nonce);
  memset (doc, 0, sizeof *doc);
}

/* ---- text spellings ---- */

static int
hexval (int ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static int
b64val (int ch)
{
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+' || ch == '-')
    return 62;
  if (ch == '/' || ch == '_')
    return 63;
  return -1;
}

int
enclaver_attestation_decode_text (const uint8_t *in, size_t len, uint8_t **out, size_t *outlen,
                                  enclaver_error_t *err)
{
  size_t n = 0, digits = 0, pad = 0;
  int all_hex = 1;
  uint8_t *buf;

  /* Raw CBOR: an array(4) head or tag 18; neither is a text character. */
  if (len > 0 && (in[0] == 0x84 || in[0] == 0xd2))
    {
      *out = xmalloc (len);
      memcpy (*out, in, len);
      *outlen = len;
      return 0;
    }
  for (size_t i = 0; i < len; i++)
    {
      int ch = in[i];
      if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
        continue;
      if (ch == '=')
        {
          pad++;
          continue;
        }
      if (pad)
        return enclaver_make_error (err, EINVAL, "offset %zu: base64 text continues after '=' padding", i);
      if (b64val (ch) < 0)
        return enclaver_make_error (err, EINVAL,
                                    "offset %zu: byte 0x%02x is neither CBOR, hex nor base64: the document must be "
                                    "raw CBOR, hex or base64",
                                    i, (unsigned) ch);
      if (hexval (ch) < 0)
        all_hex = 0;
      digits++;
    }
  if (digits == 0)
    return enclaver_make_error (err, EINVAL, "empty document");
  buf = xmalloc (digits);
  if (all_hex && !pad && digits % 2 == 0)
    {
      int hi = -1;
      for (size_t i = 0; i < len; i++)
        {
          int v = hexval (in[i]);
          if (v < 0)
            continue;
          if (hi < 0)
            hi = v;
          else
            {
              buf[n++] = (uint8_t) (hi << 4 | v);
              hi = -1;
            }
        }
    }
  else
    {
      uint32_t acc = 0;
      unsigned bits = 0;
      if (digits % 4 == 1)
        {
          free (buf);
          return enclaver_make_error (err, EINVAL, "base64 text of %zu digits cannot be complete", digits);
        }
      for (size_t i = 0; i < len; i++)
        {
          int v = b64val (in[i]);
          if (v < 0)
            continue;
          acc = (acc << 6) | (uint32_t) v;
          bits += 6;
          if (bits >= 8)
            {
              bits -= 8;
              buf[n++] = (uint8_t) (acc >> bits);
              acc &= (1u << bits) - 1;
            }
        }
    }
  *out = buf;
  *outlen = n;
  return 0;
}

int
enclaver_attestation_load (const char *path, uint8_t **out, size_t *outlen, enclaver_error_t *err)
{
  char *text;
  size_t len;
  int rc;

  /* Base64 and hex spell a document in at most twice its size, plus line breaks. */
  if (enclaver_read_file (path, 3 * ENCLAVER_ATTEST_MAX_DOC, &text, &len, err) < 0)
    return -1;
  rc = enclaver_attestation_decode_text ((const uint8_t *) text, len, out, outlen, err);
  free (text);
  if (rc < 0)
    return enclaver_error_wrap (err, "%s", path);
  return 0;
}
