/* enclaver: the core's view of the one CBOR codec (common/cbor.c).
 *
 * The encoder, the cursor and the decoder live in common/ so that the core (EIF
 * signatures, attestation documents) and the in-enclave runtime (NSM messages) decode
 * with the same strict, bounded code.  These wrappers only turn the decoder's
 * "<what>: offset N: message" text into an enclaver_error_t. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eif/eif-internal.h"

static int
fail (enclaver_error_t *err, const char *msg)
{
  return enclaver_make_error (err, EINVAL, "%s", msg);
}

int
cbor_error (struct cbor_cur *c, enclaver_error_t *err, const char *fmt, ...)
{
  char msg[512], full[640];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ecbor_error (c, full, sizeof full, "%s", msg);
  return fail (err, full);
}

int
cbor_peek_major (const struct cbor_cur *c)
{
  return ecbor_peek_major (c);
}

int
cbor_get_head (struct cbor_cur *c, unsigned *major, uint64_t *val, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_head (c, major, val, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_get_container (struct cbor_cur *c, unsigned major, uint64_t *n, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_container (c, major, n, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_get_bstr (struct cbor_cur *c, const uint8_t **data, size_t *len, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_bstr (c, data, len, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_get_tstr (struct cbor_cur *c, const char **s, size_t *len, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_tstr (c, s, len, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_get_int (struct cbor_cur *c, int64_t *v, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_int (c, v, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_get_u8_array (struct cbor_cur *c, uint8_t **out, size_t *len, enclaver_error_t *err)
{
  char e[512];
  return ecbor_get_u8_array (c, out, len, e, sizeof e) < 0 ? fail (err, e) : 0;
}

int
cbor_skip (struct cbor_cur *c, int depth, enclaver_error_t *err)
{
  char e[512];
  return ecbor_skip (c, depth, e, sizeof e) < 0 ? fail (err, e) : 0;
}
