/* enclaver common: a small CBOR (RFC 8949) encoder and THE strict, bounded decoder.
 *
 * libc only, so the core (EIF signatures, attestation documents; core/eif/cbor.c wraps
 * these functions with enclaver_error_t) and the in-enclave runtime (NSM requests and
 * responses, runtime/nsm.c) share one codec.  The decoder
 *   - never reads past the buffer it is given (every length is checked against the
 *     bytes left before it is used, so a huge claimed length is an error, not a read);
 *   - rejects indefinite lengths (0x1f), reserved additional information (28..30),
 *     and text strings that are not valid UTF-8;
 *   - accepts any integer width by default (QEMU's NSM and serde_cbor use the shortest,
 *     others may not: ATTESTATION.md §2.6), or only the shortest when the cursor has
 *     `minimal` set;
 *   - limits nesting depth (CBOR_MAX_DEPTH) where it recurses (ecbor_skip);
 *   - only allocates in proportion to input it has already seen.
 * Errors are written into the caller's char buffer as "<what>: offset N: message". */
#ifndef ENCLAVER_COMMON_CBOR_H
#define ENCLAVER_COMMON_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/base.h"

enum
{
  CBOR_UINT = 0,
  CBOR_NINT = 1,
  CBOR_BSTR = 2,
  CBOR_TSTR = 3,
  CBOR_ARRAY = 4,
  CBOR_MAP = 5,
  CBOR_TAG = 6,
  CBOR_SIMPLE = 7,
};
#define CBOR_MAX_DEPTH 16
/* Simple values. */
#define CBOR_FALSE 20
#define CBOR_TRUE 21
#define CBOR_NULL 22

/* ---- encoder (growing buffer; out of memory aborts; always the shortest heads and
 * definite lengths, as the NSM and the EIF signature expect) ---- */
struct cbor_buf
{
  uint8_t *data;
  size_t len, cap;
};
void cbor_put_head (struct cbor_buf *b, unsigned major, uint64_t val) ENCLAVER_INTERNAL;
void cbor_put_raw (struct cbor_buf *b, const void *data, size_t len) ENCLAVER_INTERNAL;
void cbor_put_int (struct cbor_buf *b, int64_t v) ENCLAVER_INTERNAL;
void cbor_put_bstr (struct cbor_buf *b, const void *data, size_t len) ENCLAVER_INTERNAL;
void cbor_put_tstr (struct cbor_buf *b, const char *s) ENCLAVER_INTERNAL;
/* Simple values: false (20), true (21), null (22). */
void cbor_put_simple (struct cbor_buf *b, unsigned v) ENCLAVER_INTERNAL;
/* A byte vector the way serde_cbor writes Vec<u8>: an array of small uints. */
void cbor_put_u8_array (struct cbor_buf *b, const void *data, size_t len) ENCLAVER_INTERNAL;
void cbor_buf_free (struct cbor_buf *b) ENCLAVER_INTERNAL;

/* ---- decoder ---- */
struct cbor_cur
{
  const uint8_t *p;
  size_t len;
  size_t pos;
  uint64_t base;    /* offset of p[0] in a larger file, for error messages */
  const char *what; /* "signature section", "NSM response", ... (NULL: "CBOR") */
  int minimal;      /* 1: reject heads not in their shortest form */
};
/* Each returns 0, or -1 with "<what>: offset N: message" in err (errlen may be 0).
 * On a type mismatch the cursor is left at the item, so a caller can try another. */
int ecbor_get_head (struct cbor_cur *c, unsigned *major, uint64_t *val, char *err,
                    size_t errlen) ENCLAVER_INTERNAL;
/* The major type of the next item, -1 at the end. */
int ecbor_peek_major (const struct cbor_cur *c) ENCLAVER_INTERNAL;
/* 1 when the next item is null (0xf6); it is then consumed by ecbor_get_null. */
int ecbor_peek_null (const struct cbor_cur *c) ENCLAVER_INTERNAL;
int ecbor_get_null (struct cbor_cur *c, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* An array or map head; *n is checked against the bytes left (1 per element, 2 per pair). */
int ecbor_get_container (struct cbor_cur *c, unsigned major, uint64_t *n, char *err,
                         size_t errlen) ENCLAVER_INTERNAL;
int ecbor_get_bstr (struct cbor_cur *c, const uint8_t **data, size_t *len, char *err,
                    size_t errlen) ENCLAVER_INTERNAL;
/* A text string, checked to be UTF-8 (not NUL terminated: *len bytes). */
int ecbor_get_tstr (struct cbor_cur *c, const char **s, size_t *len, char *err,
                    size_t errlen) ENCLAVER_INTERNAL;
/* 1 when the next item is the text string s (then consumed), 0 when it is another
 * text string or another item (cursor unchanged), -1 on malformed input. */
int ecbor_match_tstr (struct cbor_cur *c, const char *s, char *err, size_t errlen) ENCLAVER_INTERNAL;
int ecbor_get_int (struct cbor_cur *c, int64_t *v, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* Unsigned integer up to max. */
int ecbor_get_uint (struct cbor_cur *c, uint64_t max, uint64_t *v, char *err,
                    size_t errlen) ENCLAVER_INTERNAL;
/* A simple value (false/true/null/undefined): *v is 20..23. */
int ecbor_get_simple (struct cbor_cur *c, unsigned *v, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* false or true -> 0 or 1. */
int ecbor_get_bool (struct cbor_cur *c, int *v, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* Array of uints 0..255 -> malloc'd bytes, NUL-terminated (bounded by the input size). */
int ecbor_get_u8_array (struct cbor_cur *c, uint8_t **out, size_t *len, char *err,
                        size_t errlen) ENCLAVER_INTERNAL;
/* Skip one whole item (depth: the current nesting level, 0 at the top). */
int ecbor_skip (struct cbor_cur *c, int depth, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* -1 with an error unless the cursor is at the end (no trailing bytes). */
int ecbor_expect_end (const struct cbor_cur *c, char *err, size_t errlen) ENCLAVER_INTERNAL;
/* Write "<what>: offset N: message" for the cursor position into err; returns -1. */
int ecbor_error (const struct cbor_cur *c, char *err, size_t errlen, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5))) ENCLAVER_INTERNAL;
/* The name of a major type ("byte string", ...). */
const char *ecbor_major_name (unsigned major) ENCLAVER_INTERNAL;
/* 1 when s[0, len) is valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF). */
int ecbor_utf8_valid (const uint8_t *s, size_t len) ENCLAVER_INTERNAL;

#endif
