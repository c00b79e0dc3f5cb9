/* enclaver runtime: a client of the Nitro Secure Module (facts: ATTESTATION.md §1-2).
 *
 * Requests are encoded the way the NSM's own client (serde_cbor) writes them; responses
 * are decoded strictly by the one bounded CBOR decoder (common/cbor.h): exactly the
 * bytes the device returned, fields looked up by name in any order, every integer
 * width, no unknown or repeated fields, every NSM error code turned into a message.
 *
 * Where the bytes go is a seam (struct enclaver_nsm_transport):
 *   - a device path ("/dev/nsm"): the NSM_IOCTL_RAW ioctl (0xC0200A00) with a 4 KiB
 *     request limit and the full 12 KiB response buffer QEMU insists on;
 *   - a transport address ("unix:PATH", "vsock:CID:PORT", "tcp:HOST:PORT",
 *     runtime/transport.h): the test and emulation seam.  One connection per request
 *     carries a 4-byte big-endian length and the request CBOR; the peer answers with a
 *     4-byte big-endian length and the response CBOR (at most 12288 bytes), exactly the
 *     bytes the ioctl would have carried.  tests/nsm/fake-nsm.py speaks it;
 *   - any function (enclaver_nsm_open_transport), for unit tests.
 * Calls block (the kernel serialises NSM messages anyway); the socket seam gives up
 * after ENCLAVER_NSM_SOCKET_TIMEOUT_MS.  One struct enclaver_nsm must not be used by two
 * threads at once. */
#ifndef ENCLAVER_RT_NSM_H
#define ENCLAVER_RT_NSM_H

#include <stddef.h>
#include <stdint.h>

#include "common/cbor.h"

#define ENCLAVER_NSM_DEVICE "/dev/nsm"
#define ENCLAVER_NSM_REQUEST_MAX 0x1000
#define ENCLAVER_NSM_RESPONSE_MAX 0x3000
#define ENCLAVER_NSM_SOCKET_TIMEOUT_MS 10000

/* Field limits of Attestation requests the API enforces (AWS attestation_process.md
 * §3.2.2.2 for user_data and nonce; the CDDL's 1024 for public_key). */
#define ENCLAVER_NSM_USER_DATA_MAX 512
#define ENCLAVER_NSM_NONCE_MAX 512
#define ENCLAVER_NSM_PUBLIC_KEY_MAX 1024
#define ENCLAVER_NSM_PCR_SIZE_MAX 64
#define ENCLAVER_NSM_MAX_PCRS 32

/* The NSM's ErrorCode names in their declaration order (ATTESTATION.md §2.4). */
enum enclaver_nsm_code
{
  ENCLAVER_NSM_OK = 0, /* "Success": also what a transport or decode failure leaves */
  ENCLAVER_NSM_INVALID_ARGUMENT,
  ENCLAVER_NSM_INVALID_INDEX,
  ENCLAVER_NSM_INVALID_RESPONSE,
  ENCLAVER_NSM_READ_ONLY_INDEX,
  ENCLAVER_NSM_INVALID_OPERATION,
  ENCLAVER_NSM_BUFFER_TOO_SMALL,
  ENCLAVER_NSM_INPUT_TOO_LARGE,
  ENCLAVER_NSM_INTERNAL_ERROR,
  ENCLAVER_NSM_UNKNOWN_CODE, /* an Error response with a name not listed above */
};

/* The code of an ErrorCode name, ENCLAVER_NSM_UNKNOWN_CODE for others. */
enum enclaver_nsm_code enclaver_nsm_code_from_name (const char *name, size_t len);
/* The wire name ("InvalidArgument") and an explanation of a code. */
const char *enclaver_nsm_code_name (enum enclaver_nsm_code code);
const char *enclaver_nsm_code_message (enum enclaver_nsm_code code);

/* One request/response exchange: req[0, req_len) out, the response into resp (capacity
 * ENCLAVER_NSM_RESPONSE_MAX), its length into *resp_len.  0, or -1 with err. */
typedef int (*enclaver_nsm_exchange_fn) (void *ctx, const uint8_t *req, size_t req_len,
                                         uint8_t *resp, size_t *resp_len, char *err,
                                         size_t errlen);

struct enclaver_nsm;

/* Open a device path or a transport address (see above).  NULL with err; *missing is
 * set to 1 (when missing is not NULL) when a device path does not exist. */
struct enclaver_nsm *enclaver_nsm_open (const char *device, int *missing, char *err,
                                        size_t errlen);
struct enclaver_nsm *enclaver_nsm_open_transport (enclaver_nsm_exchange_fn fn, void *ctx,
                                                  const char *name);
void enclaver_nsm_close (struct enclaver_nsm *nsm);
/* What the client was opened on ("/dev/nsm", "unix:/tmp/x", ...). */
const char *enclaver_nsm_name (const struct enclaver_nsm *nsm);
/* The NSM error code of the last failed call (ENCLAVER_NSM_OK when the failure was not
 * an NSM Error response but the transport or a malformed response). */
enum enclaver_nsm_code enclaver_nsm_last_code (const struct enclaver_nsm *nsm);

/* ---- requests (0, or -1 with err naming the NSM, the request and the fault) ---- */

/* GetRandom: up to cap bytes into out; returns the count (>= 1), or -1. */
long enclaver_nsm_get_random (struct enclaver_nsm *nsm, uint8_t *out, size_t cap, char *err,
                              size_t errlen);

/* Attestation: a NULL pointer sends null (absent), a non-NULL one a byte string (length
 * 0 allowed).  *doc: the COSE_Sign1 document (malloc'd). */
int enclaver_nsm_attestation (struct enclaver_nsm *nsm, const uint8_t *user_data,
                              size_t user_data_len, const uint8_t *nonce, size_t nonce_len,
                              const uint8_t *public_key, size_t public_key_len, uint8_t **doc,
                              size_t *doc_len, char *err, size_t errlen);

struct enclaver_nsm_pcr
{
  int locked;
  size_t len; /* 32, 48 or 64 */
  uint8_t data[ENCLAVER_NSM_PCR_SIZE_MAX];
};
int enclaver_nsm_describe_pcr (struct enclaver_nsm *nsm, uint16_t index,
                               struct enclaver_nsm_pcr *out, char *err, size_t errlen);

struct enclaver_nsm_description
{
  uint16_t version_major, version_minor, version_patch;
  char module_id[256];
  uint16_t max_pcrs;
  uint64_t locked_pcrs; /* bit n: PCR n is locked */
  char digest[16];      /* "SHA256", "SHA384" or "SHA512" */
};
int enclaver_nsm_describe_nsm (struct enclaver_nsm *nsm, struct enclaver_nsm_description *out,
                               char *err, size_t errlen);

/* ---- the codec, for tests ---- */

/* The CBOR text "GetRandom" (10 bytes): what the encoder writes and the kernel's hwrng
 * sends. */
extern const uint8_t enclaver_nsm_get_random_request[10];

/* The request CBOR, serde style (ATTESTATION.md §2.2). */
void enclaver_nsm_encode_get_random (struct cbor_buf *b);
void enclaver_nsm_encode_describe_nsm (struct cbor_buf *b);
void enclaver_nsm_encode_describe_pcr (struct cbor_buf *b, uint16_t index);
void enclaver_nsm_encode_attestation (struct cbor_buf *b, const uint8_t *user_data,
                                      size_t user_data_len, const uint8_t *nonce,
                                      size_t nonce_len, const uint8_t *public_key,
                                      size_t public_key_len);

/* Check the outer shape of a response to request `name` (all four are struct variants):
 * a one-entry map {name: body}, the cursor *body left at the body, which must end
 * exactly at the end of resp.  An {"Error": CODE} response gives -1 with *code set and
 * err saying what the code means; anything else -1 with *code OK. */
int enclaver_nsm_parse_outer (const uint8_t *resp, size_t len, const char *name,
                              struct cbor_cur *body, enum enclaver_nsm_code *code, char *err,
                              size_t errlen);

/* Parse a GetRandom response ({"GetRandom": {"random": h'...'}}), consuming exactly len
 * bytes.  *data points into resp. */
int enclaver_nsm_parse_get_random (const uint8_t *resp, size_t len, const uint8_t **data,
                                   size_t *n, char *err, size_t errlen);

/* Seed the kernel RNG from the NSM at device (a path or a transport address).  Returns
 * 1 when seeded, 0 when there is no NSM device (quietly skipped), -1 on failure. */
int enclaver_nsm_seed_rng (const char *device, char *err, size_t errlen);

#endif
