/* provenance: an optional stage that writes an in-toto v1 Statement with a SLSA
 * provenance v1 predicate for the EIF the build made: the builder (enclaver and its
 * version), the source image's reference and manifest digest, the digest of the
 * manifest file, the kernel's digest, the PCRs, and the EIF itself as the subject with
 * its SHA-256 and SHA-384.  The statement is deterministic (sorted keys, build time from
 * SOURCE_DATE_EPOCH or the image).  When the manifest's signature: section names the
 * PCR8 key, the statement is wrapped in a DSSE envelope signed with that key.  It is
 * written beside the EIF as a temporary file renamed into place when the whole build
 * succeeds.  docs/plugins/provenance.md. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include "plugins/common/plugin-util.h"

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define PREDICATE_TYPE "https://slsa.dev/provenance/v1"
#define BUILD_TYPE "urn:enclaver:build-type:eif:v1"
#define DSSE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define KEY_MAX_SIZE (64u * 1024)

struct prov_config
{
  char *output;
  char *sign;
  char *builder_id;
};

static const struct enclaver_stage_option prov_options[] = {
  { ENCLAVER_OPT_STRING, "output", NULL, 0, offsetof (struct prov_config, output),
    "where to write the statement (relative to the output directory); default NAME.provenance.json beside the EIF" },
  { ENCLAVER_OPT_STRING, "sign", "auto", 0, offsetof (struct prov_config, sign),
    "auto: a DSSE envelope signed with the PCR8 key when the manifest has signature:, else the bare statement; "
    "always: fail without a key; never: the bare statement" },
  { ENCLAVER_OPT_STRING, "builder_id", NULL, 0, offsetof (struct prov_config, builder_id),
    "the builder's id (a URI) in runDetails.builder.id; default pkg:generic/enclaver@VERSION" },
  { 0, NULL, NULL, 0, 0, NULL },
};

enum sign_mode
{
  SIGN_AUTO,
  SIGN_ALWAYS,
  SIGN_NEVER
};

struct prov
{
  enum sign_mode mode;
  char *path;      /* where the statement goes, resolved in check() */
  EVP_PKEY *key;   /* the PCR8 key when signing, loaded in check() */
  char keyid[65];  /* SHA-256 of the certificate's DER */
};

static int
prov_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct prov_config *c = enclaver_stage_get_config (st);
  struct prov *p;
  enum sign_mode mode;
  const char *s;

  if (strcmp (c->sign, "auto") == 0)
    mode = SIGN_AUTO;
  else if (strcmp (c->sign, "always") == 0)
    mode = SIGN_ALWAYS;
  else if (strcmp (c->sign, "never") == 0)
    mode = SIGN_NEVER;
  else
    return enclaver_make_error (err, EINVAL, "option sign: '%s' is not one of auto, always, never", c->sign);
  if (c->output && *c->output == '\0')
    return enclaver_make_error (err, EINVAL, "option output: empty path (leave it out for the file beside the EIF)");
  if (c->builder_id)
    {
      if (*c->builder_id == '\0')
        return enclaver_make_error (err, EINVAL, "option builder_id: empty (leave it out for the default)");
      /* A URI: a scheme of letters, digits, '+', '-' and '.', then ':' and no white space. */
      for (s = c->builder_id; *s && *s != ':'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (s > c->builder_id && ((*s >= '0' && *s <= '9')
                                                                                                || *s == '+'
                                                                                                || *s == '-'
                                                                                                || *s == '.'))))
          break;
      if (*s != ':' || s == c->builder_id || s[1] == '\0' || strpbrk (c->builder_id, " \t\r\n") != NULL)
        return enclaver_make_error (err, EINVAL, "option builder_id: '%s' is not a URI (scheme:rest, no spaces)",
                                    c->builder_id);
    }
  p = calloc (1, sizeof *p);
  if (p == NULL)
    abort ();
  p->mode = mode;
  enclaver_stage_set_data (st, p);
  return 0;
}

static void
prov_fini (enclaver_stage_t *st)
{
  struct prov *p = enclaver_stage_get_data (st);
  if (p)
    {
      free (p->path);
      EVP_PKEY_free (p->key);
    }
  free (p);
  enclaver_stage_set_data (st, NULL);
}

/* The first OpenSSL error as text (or "unknown error"), clearing the queue. */
static void
ossl_reason (char *buf, size_t n)
{
  unsigned long e = ERR_get_error ();
  if (e == 0)
    snprintf (buf, n, "unknown error");
  else
    ERR_error_string_n (e, buf, n);
  ERR_clear_error ();
}

/* Load the manifest's PCR8 certificate and key: both read, the key is EC (P-256, P-384
 * or P-521) and belongs to the certificate.  The key id is the certificate's SHA-256. */
static int
load_key (struct prov *p, const char *cert_path, const char *key_path, enclaver_error_t *err)
{
  char *text = NULL, why[256];
  size_t len;
  BIO *b;
  X509 *x;
  EVP_PKEY *k, *pub;
  unsigned char *der = NULL;
  int dl, ok;

  if (plugin_read_file (cert_path, KEY_MAX_SIZE, &text, &len, err) < 0)
    return enclaver_error_wrap (err, "the signing certificate (signature.certificate)");
  b = BIO_new_mem_buf (text, (int) len);
  x = b ? PEM_read_bio_X509 (b, NULL, NULL, NULL) : NULL;
  BIO_free (b);
  free (text);
  if (x == NULL)
    {
      ossl_reason (why, sizeof why);
      return enclaver_make_error (err, EINVAL, "%s: not a PEM X.509 certificate (%s)", cert_path, why);
    }
  dl = i2d_X509 (x, &der);
  if (dl <= 0)
    {
      X509_free (x);
      return enclaver_make_error (err, EINVAL, "%s: cannot DER-encode the certificate", cert_path);
    }
  plugin_sha256_hex (der, (size_t) dl, p->keyid);
  OPENSSL_free (der);

  if (plugin_read_file (key_path, KEY_MAX_SIZE, &text, &len, err) < 0)
    {
      X509_free (x);
      return enclaver_error_wrap (err, "the signing key (signature.key)");
    }
  b = BIO_new_mem_buf (text, (int) len);
  k = b ? PEM_read_bio_PrivateKey (b, NULL, NULL, NULL) : NULL;
  BIO_free (b);
  OPENSSL_cleanse (text, len);
  free (text);
  if (k == NULL)
    {
      X509_free (x);
      ossl_reason (why, sizeof why);
      return enclaver_make_error (err, EINVAL, "%s: not an unencrypted PEM private key (%s)", key_path, why);
    }
  if (EVP_PKEY_get_base_id (k) != EVP_PKEY_EC)
    {
      X509_free (x);
      enclaver_make_error (err, EINVAL, "%s: the key is %s; the PCR8 key is an EC key (P-384, as EIF signing needs)",
                           key_path, EVP_PKEY_get0_type_name (k) ? EVP_PKEY_get0_type_name (k) : "not EC");
      EVP_PKEY_free (k);
      return -1;
    }
  pub = X509_get0_pubkey (x);
  ok = pub != NULL && EVP_PKEY_eq (pub, k) == 1;
  X509_free (x);
  ERR_clear_error ();
  if (!ok)
    {
      EVP_PKEY_free (k);
      return enclaver_make_error (err, EINVAL, "%s: the key does not belong to the certificate %s", key_path,
                                  cert_path);
    }
  p->key = k;
  return 0;
}

/* Before any stage runs: the output can be written, and the key, when one is used, loads. */
static int
prov_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct prov_config *c = enclaver_stage_get_config (st);
  struct prov *p = enclaver_stage_get_data (st);
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  int have_key = m && m->signature_certificate && m->signature_key;

  free (p->path);
  p->path = plugin_output_path (ctx, c->output, ".provenance.json");
  if (enclaver_build_check_output (p->path, 0, "the provenance statement", err) < 0)
    return -1;
  if (p->mode == SIGN_ALWAYS && !have_key)
    return enclaver_make_error (err, EINVAL,
                                "option sign: always, but the manifest has no signature: section with the PCR8 "
                                "certificate and key");
  if (p->mode == SIGN_NEVER || !have_key)
    return 0;
  return load_key (p, m->signature_certificate, m->signature_key, err);
}

/* SHA-256 and SHA-384 of a file, in one pass. */
static int
file_digests (const char *path, char sha256[65], char sha384[97], enclaver_error_t *err)
{
  int fd = enclaver_build_open_input (path, err);
  EVP_MD_CTX *a, *b;
  unsigned char buf[1 << 16], d[64];
  unsigned dl;
  ssize_t n;
  if (fd < 0)
    return -1;
  a = EVP_MD_CTX_new ();
  b = EVP_MD_CTX_new ();
  if (a == NULL || b == NULL)
    abort ();
  EVP_DigestInit_ex (a, EVP_sha256 (), NULL);
  EVP_DigestInit_ex (b, EVP_sha384 (), NULL);
  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          EVP_MD_CTX_free (a);
          EVP_MD_CTX_free (b);
          return enclaver_make_errno (err, e, "read %s", path);
        }
      EVP_DigestUpdate (a, buf, (size_t) n);
      EVP_DigestUpdate (b, buf, (size_t) n);
    }
  close (fd);
  EVP_DigestFinal_ex (a, d, &dl);
  plugin_hex (d, 32, sha256);
  EVP_DigestFinal_ex (b, d, &dl);
  plugin_hex (d, 48, sha384);
  EVP_MD_CTX_free (a);
  EVP_MD_CTX_free (b);
  return 0;
}

static const char *
base_name (const char *p)
{
  const char *s = strrchr (p, '/');
  return s ? s + 1 : p;
}

/* {"sha256": HEX} from "sha256:HEX" (other algorithms keep their name). */
static json_t *
digest_set (const char *d)
{
  const char *colon = d ? strchr (d, ':') : NULL;
  json_t *o = json_object ();
  if (colon)
    {
      char alg[32];
      snprintf (alg, sizeof alg, "%.*s", (int) (colon - d), d);
      json_object_set_new (o, alg, json_string (colon + 1));
    }
  return o;
}

static json_t *
pcrs_json (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  char hex[ENCLAVER_PCR_HEX_SIZE];
  json_object_set_new (o, "HashAlgorithm", json_string (ENCLAVER_PCR_HASH_ALGORITHM));
#define PCR(k, v)                                                                                                     \
  do                                                                                                                  \
    {                                                                                                                 \
      enclaver_pcr_to_hex ((v), hex);                                                                                 \
      json_object_set_new (o, (k), json_string (hex));                                                                \
    }                                                                                                                 \
  while (0)
  PCR ("PCR0", m->pcr0);
  PCR ("PCR1", m->pcr1);
  PCR ("PCR2", m->pcr2);
  if (m->has_pcr8)
    PCR ("PCR8", m->pcr8);
#undef PCR
  return o;
}

/* The statement as a JSON value (NULL with *err set). */
static json_t *
statement (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct prov_config *c = enclaver_stage_get_config (st);
  const struct enclaver_eif_measurements *m
    = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE);
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  const struct enclaver_manifest *man = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_kernel *k = enclaver_ctx_get (ctx, ENCLAVER_SLOT_KERNEL, ENCLAVER_KERNEL_TYPE);
  const char *final = enclaver_ctx_get_param (ctx, "eif-path");
  const char *tmp = enclaver_ctx_get_param (ctx, "eif-tmp");
  char sha256[65], sha384[97], *name, *bt, *builder;
  json_t *subject, *deps, *ext, *internal, *root;
  int64_t t;

  if (m == NULL || final == NULL || tmp == NULL || img == NULL)
    {
      enclaver_make_error (err, EINVAL, "no measured EIF in the build context: put provenance after measure");
      return NULL;
    }
  if (file_digests (tmp, sha256, sha384, err) < 0)
    return NULL;
  if (enclaver_build_time (ctx, img, &t, err) < 0)
    return NULL;

  subject = json_pack ("[{s:s, s:{s:s, s:s}, s:o}]", "name", base_name (final), "digest", "sha256", sha256,
                       "sha384", sha384, "annotations", pcrs_json (m));

  /* What the build consumed: the app image, the manifest, the kernel. */
  deps = json_array ();
  name = enclaver_build_source_name (img);
  {
    json_t *d = json_pack ("{s:s, s:s, s:o}", "name", "app", "uri", name, "digest", digest_set (img->digest));
    json_t *ann = json_object ();
    if (img->index_digest)
      json_object_set_new (ann, "indexDigest", json_string (img->index_digest));
    if (img->platform)
      json_object_set_new (ann, "platform", json_string (img->platform));
    if (img->media_type)
      json_object_set_new (ann, "mediaType", json_string (img->media_type));
    json_object_set_new (d, "annotations", ann);
    json_array_append_new (deps, d);
  }
  ext = json_pack ("{s:s}", "source", name);
  free (name);
  if (man)
    {
      size_t len;
      char *bytes = enclaver_manifest_bytes (man, &len, err);
      char hex[65];
      const char *mname = man->path && strcmp (man->path, "-") != 0 ? base_name (man->path) : "-";
      if (bytes == NULL)
        {
          json_decref (subject);
          json_decref (deps);
          json_decref (ext);
          return NULL;
        }
      plugin_sha256_hex (bytes, len, hex);
      free (bytes);
      json_array_append_new (deps, json_pack ("{s:s, s:s, s:{s:s}}", "name", "manifest", "uri", mname, "digest",
                                              "sha256", hex));
      json_object_set_new (ext, "manifest", json_string (mname));
      if (man->name)
        json_object_set_new (ext, "name", json_string (man->name));
      if (man->target)
        json_object_set_new (ext, "target", json_string (man->target));
    }
  if (k && k->path)
    {
      char hex[65];
      if (plugin_file_sha256 (k->path, hex, NULL, err) < 0)
        {
          json_decref (subject);
          json_decref (deps);
          json_decref (ext);
          return enclaver_error_wrap (err, "the kernel"), NULL;
        }
      json_array_append_new (deps, json_pack ("{s:s, s:s, s:{s:s}}", "name", "kernel", "uri", base_name (k->path),
                                              "digest", "sha256", hex));
    }

  bt = enclaver_build_time_string (t);
  internal = json_pack ("{s:s, s:s}", "buildTime", bt, "architecture",
                        k && k->arch == ENCLAVER_EIF_ARCH_AARCH64 ? "aarch64" : "x86_64");
  free (bt);
  builder = c->builder_id ? strdup (c->builder_id) : NULL;
  if (builder == NULL)
    {
      size_t n = sizeof "pkg:generic/" + strlen (PACKAGE_NAME) + strlen (PACKAGE_VERSION) + 2;
      builder = malloc (n);
      if (builder == NULL)
        abort ();
      snprintf (builder, n, "pkg:generic/%s@%s", PACKAGE_NAME, PACKAGE_VERSION);
    }
  root = json_pack ("{s:s, s:o, s:s, s:{s:{s:s, s:o, s:o, s:o}, s:{s:{s:s, s:{s:s}}}}}", "_type", STATEMENT_TYPE,
                    "subject", subject, "predicateType", PREDICATE_TYPE, "predicate", "buildDefinition", "buildType",
                    BUILD_TYPE, "externalParameters", ext, "internalParameters", internal, "resolvedDependencies",
                    deps, "runDetails", "builder", "id", builder, "version", PACKAGE_NAME, PACKAGE_VERSION);
  free (builder);
  if (root == NULL)
    enclaver_make_error (err, EINVAL, "cannot build the statement (a value is not valid UTF-8)");
  return root;
}

static char *
b64 (const unsigned char *p, size_t n)
{
  size_t cap = 4 * ((n + 2) / 3) + 1;
  char *s = malloc (cap);
  if (s == NULL)
    abort ();
  EVP_EncodeBlock ((unsigned char *) s, p, (int) n);
  return s;
}

/* The DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
static unsigned char *
pae (const char *type, const char *body, size_t blen, size_t *out_len)
{
  char head[128];
  int hn = snprintf (head, sizeof head, "DSSEv1 %zu %s %zu ", strlen (type), type, blen);
  unsigned char *buf = malloc ((size_t) hn + blen);
  if (buf == NULL)
    abort ();
  memcpy (buf, head, (size_t) hn);
  memcpy (buf + hn, body, blen);
  *out_len = (size_t) hn + blen;
  return buf;
}

/* Sign PAE(payload) with the key (ECDSA over the curve's hash, DER signature). */
static char *
dsse_sign (struct prov *p, const char *payload, size_t plen, enclaver_error_t *err)
{
  size_t mlen, slen = 0;
  unsigned char *msg = pae (DSSE_PAYLOAD_TYPE, payload, plen, &mlen), *sig = NULL;
  int bits = EVP_PKEY_get_bits (p->key);
  const EVP_MD *md = bits > 384 ? EVP_sha512 () : bits > 256 ? EVP_sha384 () : EVP_sha256 ();
  EVP_MD_CTX *c = EVP_MD_CTX_new ();
  char why[256], *s = NULL;
  if (c == NULL)
    abort ();
  if (EVP_DigestSignInit (c, NULL, md, NULL, p->key) != 1 || EVP_DigestSign (c, NULL, &slen, msg, mlen) != 1
      || (sig = malloc (slen)) == NULL || EVP_DigestSign (c, sig, &slen, msg, mlen) != 1)
    {
      ossl_reason (why, sizeof why);
      enclaver_make_error (err, EIO, "signing the DSSE envelope failed: %s", why);
    }
  else
    s = b64 (sig, slen);
  free (sig);
  free (msg);
  EVP_MD_CTX_free (c);
  return s;
}

/* J as JSON text with a final newline (malloc'd), *LEN its length. */
static char *
dump_line (const json_t *j, size_t flags, size_t *len)
{
  char *text = json_dumps (j, flags), *out;
  if (text == NULL)
    abort ();
  *len = strlen (text);
  out = realloc (text, *len + 2);
  if (out == NULL)
    abort ();
  memcpy (out + *len, "\n", 2);
  (*len)++;
  return out;
}

static int
prov_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct prov *p = enclaver_stage_get_data (st);
  json_t *s = statement (st, ctx, err);
  char *out;
  size_t len;
  int r;

  if (s == NULL)
    return -1;
  if (p->key == NULL)
    {
      out = dump_line (s, JSON_INDENT (2) | JSON_SORT_KEYS, &len);
      json_decref (s);
    }
  else
    {
      /* The payload is the compact statement; the envelope one line. */
      char *payload = json_dumps (s, JSON_COMPACT | JSON_SORT_KEYS), *sig, *p64;
      json_t *env;
      json_decref (s);
      if (payload == NULL)
        abort ();
      sig = dsse_sign (p, payload, strlen (payload), err);
      if (sig == NULL)
        {
          free (payload);
          return -1;
        }
      p64 = b64 ((const unsigned char *) payload, strlen (payload));
      free (payload);
      env = json_pack ("{s:s, s:s, s:[{s:s, s:s}]}", "payload", p64, "payloadType", DSSE_PAYLOAD_TYPE, "signatures",
                       "keyid", p->keyid, "sig", sig);
      free (p64);
      free (sig);
      out = dump_line (env, JSON_COMPACT | JSON_SORT_KEYS, &len);
      json_decref (env);
    }
  r = plugin_write_output (ctx, p->path, out, len, NULL, err);
  free (out);
  if (r < 0)
    return -1;
  if (enclaver_ctx_add_artifact (ctx, "provenance", p->path, err) < 0)
    return -1;
  if (p->key)
    enclaver_stage_log_info (st, "wrote %s: a DSSE envelope signed with the PCR8 key (key id %s)", p->path, p->keyid);
  else
    enclaver_stage_log_info (st, "wrote %s: an unsigned in-toto statement", p->path);
  return 0;
}

ENCLAVER_STAGE_DEFINE (.name = "provenance",
                       .description = "write an in-toto/SLSA v1 provenance statement for the EIF (a DSSE envelope "
                                      "signed with the PCR8 key when the manifest has one)",
                       .options = prov_options, .config_size = sizeof (struct prov_config), .init = prov_init,
                       .run = prov_run, .fini = prov_fini, .check = prov_check);
