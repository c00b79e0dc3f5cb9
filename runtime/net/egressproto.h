/* enclaver runtime: the framing of the egress port (17002), shared by both halves.
 *
 * Enclaver's wire format (ENCLAVER.md §9): per vsock connection the enclave sends one
 * frame, a u16 little-endian length followed by that many bytes of JSON
 * {"host":"example.com","port":443}; the host answers with one frame of the same
 * shape, the JSON string "Ok" or {"Err":{"os_code":N,"message":"..."}}, and from then
 * on the connection carries the upstream bytes raw.  Frames are bounded here to
 * EGRESS_FRAME_MAX bytes of JSON (Enclaver allows up to 65535; no real request or
 * reply comes near 4 KiB, so a bigger one is refused as garbage).
 *
 * Encoding and decoding only; the callers do the I/O (non-blocking, with timeouts).
 * Both halves also enforce the same policy, read here from the manifest. */
#ifndef ENCLAVER_NET_EGRESSPROTO_H
#define ENCLAVER_NET_EGRESSPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct netpolicy;

#define EGRESS_FRAME_MAX 4096
#define EGRESS_HOST_MAX 255 /* a DNS name is at most 253 characters; brackets of IPv6 */

/* Accumulates one frame from a stream. */
struct egress_frame
{
  uint8_t buf[2 + EGRESS_FRAME_MAX];
  size_t have;
};

/* Read what fd has (non-blocking) into f.  1: the frame is complete (egress_frame_body);
 * 0: more is needed (EAGAIN); -1: EOF before the end, a read error (errno) or a length
 * over EGRESS_FRAME_MAX (errno EMSGSIZE). Never reads past the frame. */
int egress_frame_read (struct egress_frame *f, int fd);
/* The JSON of a complete frame, and its length. */
const char *egress_frame_body (const struct egress_frame *f, size_t *len);

/* Encode a connect request: the frame (length prefix included) into out.  The length,
 * or -1 when the host is empty or too long or it does not fit. */
int egress_encode_request (char *out, size_t cap, const char *host, unsigned port);
/* Decode a connect request.  0, or -1 with a message in err (not JSON, no "host" string,
 * "port" not an integer in 1..65535, host too long or with control characters). */
int egress_decode_request (const char *json, size_t len, char *host, size_t hostcap, unsigned *port,
                           char *err, size_t errlen);

/* Encode the replies. */
int egress_encode_ok (char *out, size_t cap);
int egress_encode_err (char *out, size_t cap, int os_code, const char *message);
/* Decode a reply: 0 with *ok = 1, or *ok = 0 with os_code and message filled; -1 with a
 * message in err when it is neither. */
int egress_decode_reply (const char *json, size_t len, int *ok, int *os_code, char *message,
                         size_t msgcap, char *err, size_t errlen);

/* The policy of a manifest's "egress" object (as `enclaver manifest -o json` prints it;
 * NULL or a missing list: no patterns).  *n_allow / *n_deny get the number of patterns;
 * no allow pattern gives a policy that denies everything (egress is off).  NULL with a
 * message in err for a bad pattern (the counts are set either way). */
struct netpolicy *egress_policy_from_json (const json_t *egress, size_t *n_allow, size_t *n_deny, char *err,
                                           size_t errlen);

#endif
