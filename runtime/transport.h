/* enclaver runtime: stream-socket transport chosen by an address string.
 *
 *   vsock:CID:PORT    AF_VSOCK; CID is a number or "any" (VMADDR_CID_ANY, for listening),
 *                     "host" (2) or "parent" (3).  vsock:PORT is short for vsock:any:PORT.
 *   unix:PATH         AF_UNIX stream socket at PATH (tests, local emulation).
 *
 * Everything in the runtime that talks vsock goes through these functions, so the same
 * code runs over Unix sockets on a machine without Nitro. */
#ifndef ENCLAVER_TRANSPORT_H
#define ENCLAVER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum enclaver_transport_kind
{
  ENCLAVER_TRANSPORT_VSOCK = 1,
  ENCLAVER_TRANSPORT_UNIX = 2,
};

#define ENCLAVER_VSOCK_CID_ANY 0xFFFFFFFFu
#define ENCLAVER_VSOCK_CID_HOST 2u
#define ENCLAVER_VSOCK_CID_PARENT 3u

struct enclaver_transport_addr
{
  enum enclaver_transport_kind kind;
  uint32_t cid;   /* vsock */
  uint32_t port;  /* vsock */
  char path[108]; /* unix (sun_path size) */
};

/* Parse an address string.  0, or -1 with err set. */
int enclaver_transport_parse (const char *spec, struct enclaver_transport_addr *out, char *err,
                              size_t errlen);

/* Bind and listen (backlog 16); a stale Unix socket file is replaced.  Returns a
 * close-on-exec listening fd, or -1 with err set (errno preserved). */
int enclaver_transport_listen (const char *spec, char *err, size_t errlen);

/* Connect; returns a close-on-exec blocking stream fd, or -1 with err set (errno preserved). */
int enclaver_transport_connect (const char *spec, char *err, size_t errlen);

/* Accept a connection on a listening fd (close-on-exec, non-blocking when nonblock).
 * -1 with errno on failure. */
int enclaver_transport_accept (int lfd, int nonblock);

#endif
