/* enclaver runtime: the Nitro Secure Module device, as far as the runtime needs it
 * (GetRandom to seed the kernel RNG).  Facts: ATTESTATION.md §1-2. */
#ifndef ENCLAVER_RT_NSM_H
#define ENCLAVER_RT_NSM_H

#include <stddef.h>
#include <stdint.h>

#define ENCLAVER_NSM_DEVICE "/dev/nsm"
#define ENCLAVER_NSM_REQUEST_MAX 0x1000
#define ENCLAVER_NSM_RESPONSE_MAX 0x3000

/* The CBOR request text "GetRandom" (10 bytes). */
extern const uint8_t enclaver_nsm_get_random_request[10];

/* Parse a GetRandom response ({"GetRandom": {"random": h'...'}}), consuming exactly len
 * bytes.  On success *data points into resp and *n is its length (may be 0).
 * An {"Error": "..."} response or any malformed input gives -1 with err set. */
int enclaver_nsm_parse_get_random (const uint8_t *resp, size_t len, const uint8_t **data,
                                   size_t *n, char *err, size_t errlen);

/* Send GetRandom on an open /dev/nsm fd and copy up to cap bytes into out.
 * Returns the number of bytes, or -1 with err set. */
long enclaver_nsm_get_random (int fd, uint8_t *out, size_t cap, char *err, size_t errlen);

/* Seed the kernel RNG from the NSM.  Returns 1 when seeded, 0 when there is no NSM
 * device (quietly skipped), -1 on failure with err set. */
int enclaver_nsm_seed_rng (const char *device, char *err, size_t errlen);

#endif
