/* enclaver host launcher: the emulated NSM of `enclaver run --qemu` (docs/attestation.md,
 * "Emulated NSM").
 *
 * Under emulation the enclave has no /dev/nsm.  This host service answers the NSM's
 * requests over the transport instead: the supervisor finds it through the kernel
 * command line's enclaver.nsm=vsock:3:PORT (added by the QEMU backend, PORT the free
 * host port this service listens on over the user-mode NIC) and speaks the
 * NSM client's socket seam (runtime/nsm.h): per connection, a 4-byte big-endian length
 * and the request CBOR, answered by a 4-byte length and the response CBOR.
 *
 * Its documents have the real structure (COSE_Sign1, ES384, the payload's nine fields in
 * the NSM's order) and carry the PCRs enclaver computed for the EIF being run, but they
 * are signed by a local development CA (kept in host_run_config.nsm_emu_ca_dir, made on
 * first use) and not by AWS: `enclaver verify` refuses them unless --root names that CA.
 * They prove nothing about isolation.
 *
 * Requests are decoded as strictly as the NSM does (definite lengths, the request
 * names, byte strings or null, the size limits of ATTESTATION.md §2); anything else is
 * answered {"Error": "InvalidOperation"}.  A connection carries one request of at most
 * NSM_EMU_REQ_MAX bytes and must deliver it within NSM_EMU_REQ_MS. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <enclaver/log.h>

#include "common/cbor.h"
#include "evloop.h"
#include "hostsvc.h"
#include "streams.h"
#include "transport.h"

#define SRC "nsm-emu"
#define NSM_EMU_REQ_MAX 4096
#define NSM_EMU_REQ_MS 10000
#define NSM_EMU_MAX_CONN 64

struct emu_conn
{
  struct nsm_emu *s;
  int fd;
  long long timer;
  size_t len;
  uint8_t buf[4 + NSM_EMU_REQ_MAX];
  struct emu_conn *prev, *next;
};

struct nsm_emu
{
  const struct host_svc_ctx *ctx;
  struct ev_loop *loop;
  int lfd;
  EVP_PKEY *ca_key, *leaf_key;
  unsigned char *ca_der, *leaf_der;
  int ca_der_len, leaf_der_len;
  char module_id[64];
  struct emu_conn *conns;
  size_t nconn;
};

/* ---- the development CA and the leaf that signs the documents ---- */

static int
ossl_error (enclaver_error_t *err, const char *what)
{
  char buf[256];
  unsigned long e = ERR_get_error ();
  ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  return enclaver_make_error (err, EIO, "emulated NSM: %s: %s", what, e ? buf : "failed");
}

static int
add_ext (X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX v;
  X509_EXTENSION *ex;
  int ok;
  X509V3_set_ctx (&v, issuer, cert, NULL, NULL, 0);
  ex = X509V3_EXT_conf_nid (NULL, &v, nid, value);
  if (ex == NULL)
    return 0;
  ok = X509_add_ext (cert, ex, -1);
  X509_EXTENSION_free (ex);
  return ok;
}

/* A P-384 certificate for key, issued by (issuer, issuer_key), or self-signed when
 * issuer is NULL; valid from an hour ago for days. */
static X509 *
make_cert (EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int days, int ca)
{
  X509 *x = X509_new ();
  unsigned char serial[16];
  BIGNUM *bn = NULL;
  int ok = x != NULL && X509_set_version (x, 2) && RAND_bytes (serial, sizeof serial) == 1;
  if (ok)
    {
      serial[0] &= 0x7f;
      bn = BN_bin2bn (serial, sizeof serial, NULL);
      ok = bn && BN_to_ASN1_INTEGER (bn, X509_get_serialNumber (x)) != NULL;
    }
  ok = ok && X509_gmtime_adj (X509_getm_notBefore (x), -3600)
       && X509_gmtime_adj (X509_getm_notAfter (x), (long) days * 86400)
       && X509_NAME_add_entry_by_txt (X509_get_subject_name (x), "CN", MBSTRING_ASC,
                                      (const unsigned char *) cn, -1, -1, 0)
       && X509_set_issuer_name (x, issuer ? X509_get_subject_name (issuer) : X509_get_subject_name (x))
       && X509_set_pubkey (x, key)
       && add_ext (x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE")
       && add_ext (x, issuer ? issuer : x, NID_key_usage,
                   ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature")
       && add_ext (x, issuer ? issuer : x, NID_subject_key_identifier, "hash")
       && X509_sign (x, issuer_key ? issuer_key : key, EVP_sha384 ()) > 0;
  BN_free (bn);
  if (!ok)
    {
      X509_free (x);
      return NULL;
    }
  return x;
}

/* Write data to dir/name through a temporary name, mode 0600 or 0644. */
static int
write_file (const char *dir, const char *name, const void *data, size_t len, mode_t mode,
            enclaver_error_t *err)
{
  char path[PATH_MAX], tmp[PATH_MAX];
  int fd;
  const char *p = data;
  snprintf (path, sizeof path, "%s/%s", dir, name);
  snprintf (tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long) getpid ());
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "emulated NSM: cannot create %s", tmp);
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          int en = errno;
          close (fd);
          unlink (tmp);
          return enclaver_make_errno (err, en, "emulated NSM: writing %s", tmp);
        }
      p += w;
      len -= (size_t) w;
    }
  if (fsync (fd) < 0 || close (fd) < 0 || rename (tmp, path) < 0)
    {
      int en = errno;
      unlink (tmp);
      return enclaver_make_errno (err, en, "emulated NSM: writing %s", path);
    }
  return 0;
}

static int
mkdirs (const char *dir)
{
  char p[PATH_MAX];
  size_t i, n = strlen (dir);
  if (n == 0 || n >= sizeof p)
    return -1;
  memcpy (p, dir, n + 1);
  for (i = 1; i <= n; i++)
    if (p[i] == '/' || p[i] == '\0')
      {
        char c = p[i];
        p[i] = '\0';
        if (mkdir (p, 0700) < 0 && errno != EEXIST)
          return -1;
        p[i] = c;
      }
  return 0;
}

static char *
pem_of (int (*fn) (BIO *, void *), void *obj, size_t *len)
{
  BIO *b = BIO_new (BIO_s_mem ());
  char *data, *out = NULL;
  long n;
  if (b && fn (b, obj) == 1 && (n = BIO_get_mem_data (b, &data)) > 0)
    {
      out = malloc ((size_t) n);
      if (out == NULL)
        abort ();
      memcpy (out, data, (size_t) n);
      *len = (size_t) n;
    }
  BIO_free (b);
  return out;
}

static int
pem_write_key (BIO *b, void *k)
{
  return PEM_write_bio_PrivateKey (b, k, NULL, NULL, 0, NULL, NULL);
}

static int
pem_write_cert (BIO *b, void *x)
{
  return PEM_write_bio_X509 (b, x);
}

/* Load dir/dev-ca.key and dir/dev-ca.pem, or make them. */
static int
load_or_make_ca (const char *dir, EVP_PKEY **key, X509 **cert, int *made, enclaver_error_t *err)
{
  char kp[PATH_MAX], cp[PATH_MAX];
  FILE *f;
  *made = 0;
  snprintf (kp, sizeof kp, "%s/dev-ca.key", dir);
  snprintf (cp, sizeof cp, "%s/dev-ca.pem", dir);
  if (access (kp, F_OK) == 0 || access (cp, F_OK) == 0)
    {
      if ((f = fopen (kp, "re")) == NULL)
        return enclaver_make_errno (err, errno, "emulated NSM: development CA key %s", kp);
      *key = PEM_read_PrivateKey (f, NULL, NULL, NULL);
      fclose (f);
      if ((f = fopen (cp, "re")) == NULL)
        return enclaver_make_errno (err, errno, "emulated NSM: development CA %s", cp);
      *cert = PEM_read_X509 (f, NULL, NULL, NULL);
      fclose (f);
      if (*key == NULL || *cert == NULL || X509_check_private_key (*cert, *key) != 1)
        return enclaver_make_error (err, EINVAL,
                                    "emulated NSM: %s and %s are not a usable key and certificate: "
                                    "remove both and a new development CA is made",
                                    kp, cp);
      return 0;
    }
  if (mkdirs (dir) < 0)
    return enclaver_make_errno (err, errno, "emulated NSM: cannot create %s", dir);
  *key = EVP_EC_gen ("P-384");
  if (*key == NULL)
    return ossl_error (err, "a P-384 key");
  *cert = make_cert (*key, "enclaver development CA (emulated NSM; proves nothing)", NULL, NULL, 3650, 1);
  if (*cert == NULL)
    return ossl_error (err, "the development CA certificate");
  {
    size_t kl = 0, cl = 0;
    char *k = pem_of (pem_write_key, *key, &kl), *c = pem_of (pem_write_cert, *cert, &cl);
    int rc = (k == NULL || c == NULL) ? ossl_error (err, "PEM")
             : write_file (dir, "dev-ca.key", k, kl, 0600, err) < 0 ? -1
                                                                    : write_file (dir, "dev-ca.pem", c, cl, 0644, err);
    if (k)
      OPENSSL_cleanse (k, kl);
    free (k);
    free (c);
    if (rc < 0)
      return -1;
  }
  *made = 1;
  return 0;
}

/* ---- requests and answers ---- */

static void
put_error (struct cbor_buf *b, const char *code)
{
  b->len = 0;
  cbor_put_head (b, CBOR_MAP, 1);
  cbor_put_tstr (b, "Error");
  cbor_put_tstr (b, code);
}

/* ECDSA P-384 over SHA-384 of msg as COSE wants it: r || s, 48 bytes each. */
static int
sign_es384 (EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[96])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  unsigned char der[160];
  size_t dlen = sizeof der;
  const unsigned char *p = der;
  ECDSA_SIG *es = NULL;
  const BIGNUM *r, *s;
  int ok = md && EVP_DigestSignInit (md, NULL, EVP_sha384 (), NULL, key) == 1
           && EVP_DigestSign (md, der, &dlen, msg, len) == 1
           && (es = d2i_ECDSA_SIG (NULL, &p, (long) dlen)) != NULL;
  if (ok)
    {
      ECDSA_SIG_get0 (es, &r, &s);
      ok = BN_bn2binpad (r, sig, 48) == 48 && BN_bn2binpad (s, sig + 48, 48) == 48;
    }
  ECDSA_SIG_free (es);
  EVP_MD_CTX_free (md);
  return ok ? 0 : -1;
}

static void
put_opt_bstr (struct cbor_buf *b, const uint8_t *p, size_t len, int present)
{
  if (present)
    cbor_put_bstr (b, p, len);
  else
    cbor_put_simple (b, CBOR_NULL);
}

struct att_req
{
  const uint8_t *f[3];
  size_t len[3];
  int present[3];
};

static int
attestation (struct nsm_emu *s, const struct att_req *a, struct cbor_buf *out)
{
  const struct host_run_config *c = s->ctx->c;
  struct cbor_buf payload = { 0 }, prot = { 0 }, tbs = { 0 };
  struct timespec now;
  uint8_t sig[96];
  int i, rc;

  clock_gettime (CLOCK_REALTIME, &now);
  cbor_put_head (&payload, CBOR_MAP, 9);
  cbor_put_tstr (&payload, "module_id");
  cbor_put_tstr (&payload, s->module_id);
  cbor_put_tstr (&payload, "digest");
  cbor_put_tstr (&payload, "SHA384");
  cbor_put_tstr (&payload, "timestamp");
  cbor_put_head (&payload, CBOR_UINT, (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000);
  cbor_put_tstr (&payload, "pcrs");
  cbor_put_head (&payload, CBOR_MAP, 16);
  for (i = 0; i < 16; i++)
    {
      cbor_put_head (&payload, CBOR_UINT, (uint64_t) i);
      cbor_put_bstr (&payload, c->nsm_emu_pcr[i], 48);
    }
  cbor_put_tstr (&payload, "certificate");
  cbor_put_bstr (&payload, s->leaf_der, (size_t) s->leaf_der_len);
  cbor_put_tstr (&payload, "cabundle");
  cbor_put_head (&payload, CBOR_ARRAY, 1);
  cbor_put_bstr (&payload, s->ca_der, (size_t) s->ca_der_len);
  /* The document's order: public_key, user_data, nonce. */
  cbor_put_tstr (&payload, "public_key");
  put_opt_bstr (&payload, a->f[2], a->len[2], a->present[2]);
  cbor_put_tstr (&payload, "user_data");
  put_opt_bstr (&payload, a->f[0], a->len[0], a->present[0]);
  cbor_put_tstr (&payload, "nonce");
  put_opt_bstr (&payload, a->f[1], a->len[1], a->present[1]);

  /* protected header {1: -35} (ES384) */
  cbor_put_head (&prot, CBOR_MAP, 1);
  cbor_put_int (&prot, 1);
  cbor_put_int (&prot, -35);
  /* Sig_structure ["Signature1", protected, h'', payload] */
  cbor_put_head (&tbs, CBOR_ARRAY, 4);
  cbor_put_tstr (&tbs, "Signature1");
  cbor_put_bstr (&tbs, prot.data, prot.len);
  cbor_put_bstr (&tbs, NULL, 0);
  cbor_put_bstr (&tbs, payload.data, payload.len);
  rc = sign_es384 (s->leaf_key, tbs.data, tbs.len, sig);
  if (rc == 0)
    {
      struct cbor_buf doc = { 0 };
      cbor_put_head (&doc, CBOR_ARRAY, 4);
      cbor_put_bstr (&doc, prot.data, prot.len);
      cbor_put_head (&doc, CBOR_MAP, 0);
      cbor_put_bstr (&doc, payload.data, payload.len);
      cbor_put_bstr (&doc, sig, sizeof sig);
      cbor_put_head (out, CBOR_MAP, 1);
      cbor_put_tstr (out, "Attestation");
      cbor_put_head (out, CBOR_MAP, 1);
      cbor_put_tstr (out, "document");
      cbor_put_bstr (out, doc.data, doc.len);
      cbor_buf_free (&doc);
    }
  cbor_buf_free (&payload);
  cbor_buf_free (&prot);
  cbor_buf_free (&tbs);
  return rc;
}

/* Answer one request into out; the error code names what the NSM would say. */
static void
answer (struct nsm_emu *s, const uint8_t *req, size_t len, struct cbor_buf *out, char *what,
        size_t whatlen)
{
  struct cbor_cur cur = { req, len, 0, 0, "NSM request", 1 };
  char e[256];
  const char *name;
  size_t nlen;
  uint64_t n;

  snprintf (what, whatlen, "malformed");
  if (ecbor_peek_major (&cur) == CBOR_TSTR)
    {
      if (ecbor_get_tstr (&cur, &name, &nlen, e, sizeof e) < 0 || ecbor_expect_end (&cur, e, sizeof e) < 0)
        goto bad;
      snprintf (what, whatlen, "%.*s", (int) (nlen > 40 ? 40 : nlen), name);
      if (nlen == 9 && memcmp (name, "GetRandom", 9) == 0)
        {
          uint8_t r[256];
          if (RAND_bytes (r, sizeof r) != 1)
            {
              put_error (out, "InternalError");
              return;
            }
          cbor_put_head (out, CBOR_MAP, 1);
          cbor_put_tstr (out, "GetRandom");
          cbor_put_head (out, CBOR_MAP, 1);
          cbor_put_tstr (out, "random");
          cbor_put_bstr (out, r, sizeof r);
          return;
        }
      if (nlen == 11 && memcmp (name, "DescribeNSM", 11) == 0)
        {
          cbor_put_head (out, CBOR_MAP, 1);
          cbor_put_tstr (out, "DescribeNSM");
          cbor_put_head (out, CBOR_MAP, 7);
          cbor_put_tstr (out, "digest");
          cbor_put_tstr (out, "SHA384");
          cbor_put_tstr (out, "max_pcrs");
          cbor_put_head (out, CBOR_UINT, 32);
          cbor_put_tstr (out, "module_id");
          cbor_put_tstr (out, s->module_id);
          cbor_put_tstr (out, "locked_pcrs");
          cbor_put_head (out, CBOR_ARRAY, 16);
          for (int i = 0; i < 16; i++)
            cbor_put_head (out, CBOR_UINT, (uint64_t) i);
          cbor_put_tstr (out, "version_major");
          cbor_put_head (out, CBOR_UINT, 1);
          cbor_put_tstr (out, "version_minor");
          cbor_put_head (out, CBOR_UINT, 0);
          cbor_put_tstr (out, "version_patch");
          cbor_put_head (out, CBOR_UINT, 0);
          return;
        }
      put_error (out, "InvalidOperation");
      return;
    }
  if (ecbor_get_container (&cur, CBOR_MAP, &n, e, sizeof e) < 0 || n != 1
      || ecbor_get_tstr (&cur, &name, &nlen, e, sizeof e) < 0)
    goto bad;
  snprintf (what, whatlen, "%.*s", (int) (nlen > 40 ? 40 : nlen), name);
  if (nlen == 11 && memcmp (name, "DescribePCR", 11) == 0)
    {
      uint64_t idx;
      if (ecbor_get_container (&cur, CBOR_MAP, &n, e, sizeof e) < 0 || n != 1
          || ecbor_match_tstr (&cur, "index", e, sizeof e) != 1
          || ecbor_get_uint (&cur, UINT16_MAX, &idx, e, sizeof e) < 0 || ecbor_expect_end (&cur, e, sizeof e) < 0)
        goto bad;
      if (idx >= 32)
        {
          put_error (out, "InvalidIndex");
          return;
        }
      cbor_put_head (out, CBOR_MAP, 1);
      cbor_put_tstr (out, "DescribePCR");
      cbor_put_head (out, CBOR_MAP, 2);
      cbor_put_tstr (out, "data");
      {
        static const uint8_t zero[48];
        cbor_put_bstr (out, idx < 16 ? s->ctx->c->nsm_emu_pcr[idx] : zero, 48);
      }
      cbor_put_tstr (out, "lock");
      cbor_put_simple (out, idx < 16 ? CBOR_TRUE : CBOR_FALSE);
      return;
    }
  if (nlen == 11 && memcmp (name, "Attestation", 11) == 0)
    {
      static const char *const keys[3] = { "user_data", "nonce", "public_key" };
      static const size_t limits[3] = { 512, 512, 1024 };
      struct att_req a;
      memset (&a, 0, sizeof a);
      if (ecbor_get_container (&cur, CBOR_MAP, &n, e, sizeof e) < 0 || n > 3)
        goto bad;
      for (uint64_t i = 0; i < n; i++)
        {
          int k, m = 0;
          for (k = 0; k < 3; k++)
            if ((m = ecbor_match_tstr (&cur, keys[k], e, sizeof e)) != 0)
              break;
          if (m != 1 || a.present[k] < 0)
            goto bad;
          if (ecbor_peek_null (&cur))
            {
              if (ecbor_get_null (&cur, e, sizeof e) < 0)
                goto bad;
              a.present[k] = -1; /* seen, null */
              continue;
            }
          if (a.present[k] != 0 || ecbor_get_bstr (&cur, &a.f[k], &a.len[k], e, sizeof e) < 0)
            goto bad;
          if (a.len[k] > limits[k])
            {
              put_error (out, "InputTooLarge");
              return;
            }
          a.present[k] = 1;
        }
      if (ecbor_expect_end (&cur, e, sizeof e) < 0)
        goto bad;
      for (int k = 0; k < 3; k++)
        a.present[k] = a.present[k] > 0;
      if (attestation (s, &a, out) < 0)
        {
          out->len = 0;
          put_error (out, "InternalError");
        }
      return;
    }
  put_error (out, "InvalidOperation");
  return;
bad:
  enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: refused a %s request: %s", s->ctx->name, what, e);
  put_error (out, "InvalidOperation");
}

/* ---- connections ---- */

static void
conn_free (struct emu_conn *c)
{
  struct nsm_emu *s = c->s;
  if (c->timer)
    ev_del_timer (s->loop, c->timer);
  if (c->fd >= 0)
    {
      ev_del_file (s->loop, c->fd, EV_READABLE);
      close (c->fd);
    }
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconn--;
  free (c);
}

static long long
conn_timer (struct ev_loop *l, long long id, void *data)
{
  struct emu_conn *c = data;
  (void) l;
  (void) id;
  c->timer = 0;
  enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: a request was not complete within %d ms",
                c->s->ctx->name, NSM_EMU_REQ_MS);
  conn_free (c);
  return -1;
}

static void
send_all (int fd, const uint8_t *p, size_t len)
{
  struct timeval tv = { 5, 0 };
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  while (len > 0)
    {
      ssize_t w = send (fd, p, len, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return;
      p += w;
      len -= (size_t) w;
    }
}

static void
on_conn (struct ev_loop *l, int fd, void *data, int mask)
{
  struct emu_conn *c = data;
  size_t want;
  ssize_t r;
  (void) l;
  (void) mask;
  want = c->len < 4 ? 4 : 4 + (((size_t) c->buf[0] << 24) | ((size_t) c->buf[1] << 16) | ((size_t) c->buf[2] << 8) | c->buf[3]);
  if (want > sizeof c->buf)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "enclave %s: a request of %zu bytes, over the %d-byte limit",
                    c->s->ctx->name, want - 4, NSM_EMU_REQ_MAX);
      conn_free (c);
      return;
    }
  r = recv (fd, c->buf + c->len, want - c->len, 0);
  if (r < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (r <= 0)
    {
      conn_free (c);
      return;
    }
  c->len += (size_t) r;
  if (c->len == 4)
    return on_conn (l, fd, data, mask); /* the length is known: read the body */
  if (c->len < want)
    return;
  {
    struct cbor_buf out = { 0 };
    uint8_t hdr[4];
    char what[48];
    answer (c->s, c->buf + 4, c->len - 4, &out, what, sizeof what);
    hdr[0] = (uint8_t) (out.len >> 24);
    hdr[1] = (uint8_t) (out.len >> 16);
    hdr[2] = (uint8_t) (out.len >> 8);
    hdr[3] = (uint8_t) out.len;
    enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "enclave %s: %s: %zu-byte answer", c->s->ctx->name, what, out.len);
    send_all (fd, hdr, 4);
    send_all (fd, out.data, out.len);
    cbor_buf_free (&out);
  }
  conn_free (c);
}

static void
on_accept (struct ev_loop *l, int lfd, void *data, int mask)
{
  struct nsm_emu *s = data;
  (void) mask;
  for (;;)
    {
      int fd = -1, r;
      struct emu_conn *c;
      r = host_sock_accept_checked (lfd, &fd, s->ctx->e->cid, "nsm-emu", HOST_PORT_NSM_EMU, s->ctx->name);
      if (r < 0)
        return;
      if (r == 0)
        continue;
      if (s->nconn >= NSM_EMU_MAX_CONN)
        {
          close (fd);
          continue;
        }
      c = calloc (1, sizeof *c);
      if (c == NULL)
        abort ();
      c->s = s;
      c->fd = fd;
      c->next = s->conns;
      if (s->conns)
        s->conns->prev = c;
      s->conns = c;
      s->nconn++;
      c->timer = ev_add_timer (l, NSM_EMU_REQ_MS, conn_timer, c);
      if (ev_add_file (l, fd, EV_READABLE, on_conn, c) < 0)
        conn_free (c);
    }
}

/* ---- the service ---- */

static void emu_destroy (void *state);

static int
emu_prepare (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err)
{
  const struct host_run_config *c = ctx->c;
  struct nsm_emu *s;
  X509 *ca = NULL, *leaf = NULL;
  char addr[256], e[512];
  int made = 0;

  *state = NULL;
  if (c->nsm_emu_ca_dir == NULL)
    return 0;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    abort ();
  s->ctx = ctx;
  s->loop = ctx->loop;
  s->lfd = -1;
  snprintf (s->module_id, sizeof s->module_id, "i-0000000000000000-enc%016lx", (unsigned long) getpid ());
  if (load_or_make_ca (c->nsm_emu_ca_dir, &s->ca_key, &ca, &made, err) < 0)
    goto fail;
  s->leaf_key = EVP_EC_gen ("P-384");
  if (s->leaf_key == NULL)
    {
      ossl_error (err, "a P-384 key");
      goto fail;
    }
  leaf = make_cert (s->leaf_key, s->module_id, ca, s->ca_key, 30, 0);
  if (leaf == NULL)
    {
      ossl_error (err, "the signing certificate");
      goto fail;
    }
  s->ca_der_len = i2d_X509 (ca, &s->ca_der);
  s->leaf_der_len = i2d_X509 (leaf, &s->leaf_der);
  if (s->ca_der_len <= 0 || s->leaf_der_len <= 0)
    {
      ossl_error (err, "DER");
      goto fail;
    }
  X509_free (ca);
  X509_free (leaf);
  ca = leaf = NULL;
  if (ctx->b->host_addr (ctx->b, ctx->e, HOST_PORT_NSM_EMU, addr, sizeof addr) < 0)
    {
      enclaver_make_error (err, EINVAL, "emulated NSM: no host address for port %d", HOST_PORT_NSM_EMU);
      goto fail;
    }
  s->lfd = host_sock_listen (addr, e, sizeof e);
  if (s->lfd < 0)
    {
      enclaver_make_error (err, errno ? errno : EINVAL, "emulated NSM: listener for port %d: %s",
                           HOST_PORT_NSM_EMU, e);
      goto fail;
    }
  {
    /* A TCP listener on port 0 (QEMU's user-mode NIC): the port the kernel command
     * line must name. */
    uint32_t p = enclaver_transport_local_port (s->lfd);
    ctx->b->nsm_emu_port = p ? p : HOST_PORT_NSM_EMU;
    if (p && strncmp (addr, "tcp:", 4) == 0)
      snprintf (addr, sizeof addr, "tcp:127.0.0.1:%" PRIu32, p);
  }
  if (ev_add_file (ctx->loop, s->lfd, EV_READABLE, on_accept, s) < 0)
    {
      enclaver_make_errno (err, errno, "emulated NSM: epoll");
      goto fail;
    }
  enclaver_log (ENCLAVER_LOG_INFO, SRC,
                "emulated NSM on %s: attestation documents are signed by the development CA %s/dev-ca.pem%s "
                "(enclaver verify --root %s/dev-ca.pem); they prove nothing about isolation",
                addr, c->nsm_emu_ca_dir, made ? ", made now" : "", c->nsm_emu_ca_dir);
  *state = s;
  return 0;
fail:
  X509_free (ca);
  X509_free (leaf);
  emu_destroy (s);
  return -1;
}

static void
emu_stop_accepting (void *state)
{
  struct nsm_emu *s = state;
  if (s->lfd >= 0)
    {
      ev_del_file (s->loop, s->lfd, EV_READABLE);
      close (s->lfd);
      s->lfd = -1;
    }
}

static size_t
emu_active (void *state)
{
  struct nsm_emu *s = state;
  return s->nconn;
}

static void
emu_destroy (void *state)
{
  struct nsm_emu *s = state;
  if (s == NULL)
    return;
  emu_stop_accepting (s);
  while (s->conns)
    conn_free (s->conns);
  EVP_PKEY_free (s->ca_key);
  EVP_PKEY_free (s->leaf_key);
  OPENSSL_free (s->ca_der);
  OPENSSL_free (s->leaf_der);
  free (s);
}

const struct host_service host_nsm_emu_service = {
  .name = "nsm-emu",
  .prepare = emu_prepare,
  .stop_accepting = emu_stop_accepting,
  .active = emu_active,
  .destroy = emu_destroy,
};
