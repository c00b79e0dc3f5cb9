/* enclaver host launcher: the enclave's boot heartbeat, parent side (part of ne.h). */
#ifndef ENCLAVER_HOST_HEARTBEAT_H
#define ENCLAVER_HOST_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

/* The nitro-cli heartbeat timeout: 90 s x ceil(EIF size / 6 GiB) + 90 s x ceil(memory / 100 GiB). */
int ne_heartbeat_timeout_ms (uint64_t eif_size, uint64_t memory_mib);

/* The heartbeat (EIF.md §6): wait on the listening fd lfd up to timeout_ms in all for
 * one connection (on vsock, only from expect_cid unless it is 0), read one byte, require
 * 0xB7, write it back.  0, or -1 with why (e.g. "no connection within 90 s") in buf. */
#define NE_HEARTBEAT_BYTE 0xB7
int ne_heartbeat_wait (int lfd, int timeout_ms, uint64_t expect_cid, char *why, size_t whylen);

#endif
