/* enclaver runtime: a bidirectional byte pump between two connected descriptors.
 *
 * Shared by the egress proxy (both halves), the ingress, and the launcher's services.
 * relay_start takes two non-blocking stream descriptors (sockets of any family, or
 * pipes for one direction each) and copies a→b and b→a on an ev_loop until both
 * directions ended.  Each direction first tries splice(2) through a private pipe (zero
 * copy; works between TCP and Unix sockets); when the kernel refuses (EINVAL: vsock,
 * some socket types) that direction falls back to a buffer.  Either way a direction
 * holds at most RELAY_DIR_BYTES, so a connection holds at most 64 KiB.
 *
 * Half-close: the end of one direction (read returned 0) is passed on as
 * shutdown(SHUT_WR) on the other descriptor once the pending bytes are written; the
 * other direction goes on.  The relay ends when both directions ended, on an error
 * (reset, EPIPE: the other direction is not drained), or when neither direction moved a
 * byte for idle_ms.  It then closes both descriptors and calls done once, from the
 * loop.  The caller must ignore SIGPIPE (writes use MSG_NOSIGNAL where they can, but
 * splice to a closed socket can raise it). */
#ifndef ENCLAVER_NET_RELAY_H
#define ENCLAVER_NET_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

#define RELAY_DIR_BYTES 32768

struct relay;

struct relay_result
{
  uint64_t a_to_b, b_to_a; /* bytes written to b, to a */
  int err;                 /* 0: both directions ended; ETIMEDOUT: idle; else errno */
  int err_side;            /* with err: 'a' or 'b', the descriptor that failed */
};

typedef void relay_done_fn (void *data, const struct relay_result *res);

struct relay_opts
{
  long long idle_ms;      /* <= 0: no idle timeout */
  int no_splice;          /* 1: always use the buffers (tests, benchmarks) */
};

/* Start relaying between fda and fdb (non-blocking; the relay owns them from now on,
 * also when it fails).  pre_b / pre_a: bytes already read that must be written to b /
 * to a first (for example what a client sent after its CONNECT head); each at most
 * RELAY_DIR_BYTES.  Returns the relay, or NULL with errno (both fds closed, done not
 * called). */
struct relay *relay_start (struct ev_loop *loop, int fda, int fdb, const void *pre_b,
                           size_t pre_b_len, const void *pre_a, size_t pre_a_len,
                           const struct relay_opts *opts, relay_done_fn *done, void *data);

/* Turn off Nagle's algorithm on fd when it is a TCP socket (IPv4 or IPv6); any other
 * descriptor (Unix, vsock, pipe) is left as it is.  A proxy that forwards what it read
 * at once must not let the kernel hold a small write back until the previous one is
 * acknowledged: an app writing a response's head and body separately would otherwise
 * wait for the peer's delayed ACK, about 40 ms per exchange (docs/performance.md). */
void net_set_nodelay (int fd);

/* End the relay now: close both descriptors, free it; done is not called. */
void relay_abort (struct relay *r);

/* 1 when the direction a→b (dir 0) or b→a (dir 1) uses splice. */
int relay_uses_splice (const struct relay *r, int dir);

#endif
