/* enclaver runtime: AWS Signature Version 4 (HMAC-SHA256), for the KMS proxy.
 *
 * The procedure of AWS's "Create a signed AWS API request" (ATTESTATION.md §4.7): the
 * canonical request (method, path, canonical query, the signed headers lowercased,
 * trimmed and sorted, their names, the body's SHA-256), the string to sign, the key
 * derived from the secret through date, region and service, and the Authorization
 * value.  libcrypto only; no allocation but for the canonical request. */
#ifndef ENCLAVER_KMS_SIGV4_H
#define ENCLAVER_KMS_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_header
{
  const char *name, *value;
};

/* The canonical request, malloc'd, and (when signed_headers is not NULL) the
 * ';'-joined sorted lowercase names, malloc'd.  NULL with err for a header name that
 * is not an HTTP token or more than 32 headers. */
char *sigv4_canonical_request (const char *method, const char *path, const char *query,
                               const struct sigv4_header *hdrs, size_t n, const void *body,
                               size_t body_len, char **signed_headers, char *err, size_t errlen);

/* The signing key: HMAC chain "AWS4"+secret -> date8 -> region -> service -> "aws4_request". */
void sigv4_signing_key (const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char key[32]);

/* The Authorization value of a request whose headers are all signed (the caller passes
 * host and x-amz-date, and x-amz-security-token with temporary credentials).  query is
 * the raw query string ("" for none); amz_date is "YYYYMMDDTHHMMSSZ".  0, or -1 with err. */
int sigv4_authorization (const char *method, const char *path, const char *query,
                         const struct sigv4_header *hdrs, size_t n, const void *body,
                         size_t body_len, const char *akid, const char *secret,
                         const char *region, const char *service, const char *amz_date,
                         char *out, size_t outlen, char *err, size_t errlen);

/* Region and service of an incoming Authorization value's credential scope
 * ("AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...").  Both are
 * [a-z0-9-]+ of at most 64 bytes.  0, or -1 with err naming what is malformed. */
int sigv4_parse_scope (const char *authorization, char *region, size_t rlen, char *service,
                       size_t slen, char *err, size_t errlen);

/* "YYYYMMDDTHHMMSSZ" of t (UTC). */
void sigv4_amz_date (time_t t, char out[17]);

#endif
