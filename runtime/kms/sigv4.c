/* enclaver runtime: AWS Signature Version 4 (see sigv4.h). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "kms/sigv4.h"
#include "rtutil.h"

#define SIGV4_MAX_HEADERS 32
#define SIGV4_MAX_PARAMS 64

/* ---- a growing string ---- */

struct sbuf
{
  char *p;
  size_t len, cap;
};

static void
sb_add (struct sbuf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap)
    {
      b->cap = (b->len + n + 1) * 2;
      b->p = xrealloc (b->p, b->cap);
    }
  memcpy (b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void
sb_str (struct sbuf *b, const char *s)
{
  sb_add (b, s, strlen (s));
}

static void
hex (const unsigned char *p, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++)
    {
      out[2 * i] = d[p[i] >> 4];
      out[2 * i + 1] = d[p[i] & 15];
    }
  out[2 * n] = '\0';
}

static void
sha256_hex (const void *p, size_t n, char out[65])
{
  unsigned char md[32];
  SHA256 (p, n, md);
  hex (md, 32, out);
}

static void
hmac (const unsigned char *key, size_t klen, const char *msg, unsigned char out[32])
{
  unsigned int ol = 32;
  HMAC (EVP_sha256 (), key, (int) klen, (const unsigned char *) msg, strlen (msg), out, &ol);
}

/* ---- the canonical query ---- */

static int
unreserved (int c)
{
  return isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* Percent-decode s[0,n) and encode it again the SigV4 way (unreserved kept, the rest
 * %XX upper case), so an already-encoded query and a raw one give the same text. */
static void
uri_encode (struct sbuf *b, const char *s, size_t n)
{
  static const char d[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++)
    {
      unsigned c = (unsigned char) s[i];
      if (c == '%' && i + 2 < n && isxdigit ((unsigned char) s[i + 1])
          && isxdigit ((unsigned char) s[i + 2]))
        {
          char h[3] = { s[i + 1], s[i + 2], 0 };
          c = (unsigned) strtoul (h, NULL, 16);
          i += 2;
        }
      if (unreserved ((int) c))
        {
          char ch = (char) c;
          sb_add (b, &ch, 1);
        }
      else
        {
          char e[3] = { '%', d[c >> 4], d[c & 15] };
          sb_add (b, e, 3);
        }
    }
}

struct param
{
  char *key, *value;
};

static int
param_cmp (const void *a, const void *b)
{
  const struct param *x = a, *y = b;
  int c = strcmp (x->key, y->key);
  return c ? c : strcmp (x->value, y->value);
}

static int
canonical_query (struct sbuf *out, const char *q, char *err, size_t errlen)
{
  struct param ps[SIGV4_MAX_PARAMS];
  size_t n = 0;
  const char *p = q;
  while (*p)
    {
      size_t len = strcspn (p, "&"), klen;
      const char *eq;
      struct sbuf k = { 0 }, v = { 0 };
      if (len > 0)
        {
          if (n == SIGV4_MAX_PARAMS)
            {
              for (size_t i = 0; i < n; i++)
                free (ps[i].key), free (ps[i].value);
              return rt_err (err, errlen, "more than %d query parameters", SIGV4_MAX_PARAMS);
            }
          eq = memchr (p, '=', len);
          klen = eq ? (size_t) (eq - p) : len;
          uri_encode (&k, p, klen);
          if (eq)
            uri_encode (&v, eq + 1, len - klen - 1);
          ps[n].key = k.p ? k.p : xstrdup ("");
          ps[n].value = v.p ? v.p : xstrdup ("");
          n++;
        }
      p += len;
      if (*p == '&')
        p++;
    }
  qsort (ps, n, sizeof *ps, param_cmp);
  for (size_t i = 0; i < n; i++)
    {
      if (i)
        sb_str (out, "&");
      sb_str (out, ps[i].key);
      sb_str (out, "=");
      sb_str (out, ps[i].value);
      free (ps[i].key);
      free (ps[i].value);
    }
  return 0;
}

/* ---- headers ---- */

struct hdr
{
  char name[128];
  const char *value;
};

static int
hdr_cmp (const void *a, const void *b)
{
  return strcmp (((const struct hdr *) a)->name, ((const struct hdr *) b)->name);
}

static int
is_tchar (int c)
{
  return isalnum (c) || (c && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

/* value trimmed, inner runs of spaces and tabs made one space */
static void
add_value (struct sbuf *b, const char *v)
{
  int space = 0, any = 0;
  for (; *v; v++)
    {
      if (*v == ' ' || *v == '\t')
        {
          space = any;
          continue;
        }
      if (space)
        sb_add (b, " ", 1);
      space = 0;
      any = 1;
      sb_add (b, v, 1);
    }
}

char *
sigv4_canonical_request (const char *method, const char *path, const char *query,
                         const struct sigv4_header *hdrs, size_t n, const void *body,
                         size_t body_len, char **signed_headers, char *err, size_t errlen)
{
  struct hdr hs[SIGV4_MAX_HEADERS];
  struct sbuf b = { 0 }, sh = { 0 };
  char bh[65];
  if (n > SIGV4_MAX_HEADERS)
    {
      rt_err (err, errlen, "more than %d headers to sign", SIGV4_MAX_HEADERS);
      return NULL;
    }
  for (size_t i = 0; i < n; i++)
    {
      size_t l = strlen (hdrs[i].name);
      if (l == 0 || l >= sizeof hs[i].name)
        {
          rt_err (err, errlen, "header name of %zu bytes", l);
          return NULL;
        }
      for (size_t j = 0; j < l; j++)
        {
          if (!is_tchar ((unsigned char) hdrs[i].name[j]))
            {
              rt_err (err, errlen, "header name \"%.64s\" is not an HTTP token", hdrs[i].name);
              return NULL;
            }
          hs[i].name[j] = (char) tolower ((unsigned char) hdrs[i].name[j]);
        }
      hs[i].name[l] = '\0';
      hs[i].value = hdrs[i].value ? hdrs[i].value : "";
    }
  qsort (hs, n, sizeof *hs, hdr_cmp);
  sb_str (&b, method);
  sb_str (&b, "\n");
  sb_str (&b, path && *path ? path : "/");
  sb_str (&b, "\n");
  if (canonical_query (&b, query ? query : "", err, errlen) < 0)
    {
      free (b.p);
      return NULL;
    }
  sb_str (&b, "\n");
  for (size_t i = 0; i < n; i++)
    {
      /* A repeated name is one line with the values joined by commas. */
      if (i > 0 && strcmp (hs[i].name, hs[i - 1].name) == 0)
        {
          b.len--; /* the '\n' */
          sb_str (&b, ",");
        }
      else
        {
          sb_str (&b, hs[i].name);
          sb_str (&b, ":");
          if (sh.len)
            sb_str (&sh, ";");
          sb_str (&sh, hs[i].name);
        }
      add_value (&b, hs[i].value);
      sb_str (&b, "\n");
    }
  sb_str (&b, "\n");
  sb_str (&b, sh.p ? sh.p : "");
  sb_str (&b, "\n");
  sha256_hex (body ? body : "", body ? body_len : 0, bh);
  sb_str (&b, bh);
  if (signed_headers)
    *signed_headers = sh.p ? sh.p : xstrdup ("");
  else
    free (sh.p);
  return b.p;
}

void
sigv4_signing_key (const char *secret, const char *date8, const char *region,
                   const char *service, unsigned char key[32])
{
  char *k0 = xasprintf ("AWS4%s", secret);
  unsigned char a[32], b[32];
  hmac ((const unsigned char *) k0, strlen (k0), date8, a);
  OPENSSL_cleanse (k0, strlen (k0));
  free (k0);
  hmac (a, 32, region, b);
  hmac (b, 32, service, a);
  hmac (a, 32, "aws4_request", key);
  OPENSSL_cleanse (a, sizeof a);
  OPENSSL_cleanse (b, sizeof b);
}

static int
scope_word (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 64)
    return -1;
  for (; *s; s++)
    if (!(islower ((unsigned char) *s) || isdigit ((unsigned char) *s) || *s == '-'))
      return -1;
  return 0;
}

int
sigv4_authorization (const char *method, const char *path, const char *query,
                     const struct sigv4_header *hdrs, size_t n, const void *body,
                     size_t body_len, const char *akid, const char *secret,
                     const char *region, const char *service, const char *amz_date,
                     char *out, size_t outlen, char *err, size_t errlen)
{
  char date8[9], crh[65], sig[65], *cr, *sh = NULL, *sts;
  unsigned char key[32], mac[32];
  int w;
  if (strlen (amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z'
      || strspn (amz_date, "0123456789") != 8 || strspn (amz_date + 9, "0123456789") != 6)
    return rt_err (err, errlen, "x-amz-date \"%.32s\" is not YYYYMMDDTHHMMSSZ", amz_date);
  if (scope_word (region) < 0 || scope_word (service) < 0)
    return rt_err (err, errlen, "region and service must be [a-z0-9-]+ of at most 64 bytes");
  if (*akid == '\0' || strchr (akid, '/') || strchr (akid, ','))
    return rt_err (err, errlen, "an empty access key id or one with '/' or ','");
  memcpy (date8, amz_date, 8);
  date8[8] = '\0';
  cr = sigv4_canonical_request (method, path, query, hdrs, n, body, body_len, &sh, err, errlen);
  if (cr == NULL)
    return -1;
  sha256_hex (cr, strlen (cr), crh);
  free (cr);
  sts = xasprintf ("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8, region,
                   service, crh);
  sigv4_signing_key (secret, date8, region, service, key);
  hmac (key, 32, sts, mac);
  OPENSSL_cleanse (key, sizeof key);
  free (sts);
  hex (mac, 32, sig);
  w = snprintf (out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                akid, date8, region, service, sh, sig);
  free (sh);
  if (w < 0 || (size_t) w >= outlen)
    return rt_err (err, errlen, "the Authorization value does not fit in %zu bytes", outlen);
  return 0;
}

int
sigv4_parse_scope (const char *authorization, char *region, size_t rlen, char *service,
                   size_t slen, char *err, size_t errlen)
{
  static const char alg[] = "AWS4-HMAC-SHA256";
  const char *p = authorization, *c, *f[5];
  size_t fl[5];
  while (*p == ' ')
    p++;
  if (strncmp (p, alg, sizeof alg - 1) != 0 || (p[sizeof alg - 1] != ' ' && p[sizeof alg - 1] != '\t'))
    return rt_err (err, errlen, "not an AWS4-HMAC-SHA256 signature");
  c = strstr (p, "Credential=");
  if (c == NULL)
    return rt_err (err, errlen, "no Credential= in it");
  c += 11;
  /* AKID/DATE/REGION/SERVICE/aws4_request, ended by ',' or the end */
  for (int i = 0; i < 5; i++)
    {
      f[i] = c;
      fl[i] = strcspn (c, i < 4 ? "/, " : ", ");
      c += fl[i];
      if (i < 4)
        {
          if (*c != '/')
            return rt_err (err, errlen, "the credential scope is not AKID/DATE/REGION/SERVICE/aws4_request");
          c++;
        }
    }
  if (fl[0] == 0 || fl[1] != 8 || fl[4] != 12 || memcmp (f[4], "aws4_request", 12) != 0)
    return rt_err (err, errlen, "the credential scope is not AKID/DATE/REGION/SERVICE/aws4_request");
  if (fl[2] == 0 || fl[2] > 64 || fl[2] >= rlen || fl[3] == 0 || fl[3] > 64 || fl[3] >= slen)
    return rt_err (err, errlen, "the credential scope's region or service is empty or too long");
  memcpy (region, f[2], fl[2]);
  region[fl[2]] = '\0';
  memcpy (service, f[3], fl[3]);
  service[fl[3]] = '\0';
  if (scope_word (region) < 0 || scope_word (service) < 0)
    return rt_err (err, errlen, "the credential scope's region or service has characters outside [a-z0-9-]");
  return 0;
}

void
sigv4_amz_date (time_t t, char out[17])
{
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
