/* enclaver runtime: stream-socket transport chosen by an address string.
 *
 *   vsock:CID:PORT    AF_VSOCK; CID is a number or "any" (VMADDR_CID_ANY, for listening),
 *                     "host" (2) or "parent" (3).  vsock:PORT is short for vsock:any:PORT.
 *   unix:PATH         AF_UNIX stream socket at PATH (tests, local emulation).
 *   tcp:HOST:PORT     TCP over IPv4; HOST is a dotted address (0.0.0.0 listens on every
 *                     interface, which only the emulated guest does; the host side uses
 *                     127.0.0.1).  Used under emulation (docs/run.md).
 *
 * Emulation: when the kernel command line has enclaver.emulation=tcp (or the
 * environment ENCLAVER_EMULATION=tcp, or enclaver_transport_set_emulation()), vsock
 * addresses are mapped onto QEMU's user-mode NIC by enclaver_transport_map():
 * listening on vsock:any:P becomes tcp:0.0.0.0:P (reached through QEMU's hostfwd), and
 * connecting to vsock:2:P or vsock:3:P (the host, the parent) becomes tcp:10.0.2.2:P
 * (slirp's alias for the host's 127.0.0.1).  enclaver.emulation=vsock (QEMU with a real
 * vhost-vsock device, where the host is CID 2) maps connections to CID 3 onto CID 2.
 * listen and connect apply the mapping themselves, so no caller needs code of its own.
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
  ENCLAVER_TRANSPORT_TCP = 3,
};

enum enclaver_emulation
{
  ENCLAVER_EMULATION_NONE = 0,
  ENCLAVER_EMULATION_TCP = 1,   /* QEMU user-mode NIC */
  ENCLAVER_EMULATION_VSOCK = 2, /* QEMU vhost-vsock: the host is CID 2, not 3 */
};

/* Slirp's fixed addresses (EMULATION.md). */
#define ENCLAVER_EMU_GUEST_IP "10.0.2.15"
#define ENCLAVER_EMU_HOST_IP "10.0.2.2"

/* Listen backlog of every listener made here (the streams, ingress, the proxies): the
 * supervisor accepts in batches, so a burst of clients waits here, not refused. */
#define ENCLAVER_TRANSPORT_BACKLOG 512
#define ENCLAVER_VSOCK_CID_ANY 0xFFFFFFFFu
#define ENCLAVER_VSOCK_CID_HOST 2u
#define ENCLAVER_VSOCK_CID_PARENT 3u

struct enclaver_transport_addr
{
  enum enclaver_transport_kind kind;
  uint32_t cid;   /* vsock */
  uint32_t port;  /* vsock, tcp */
  uint32_t ip;    /* tcp: IPv4 address in network byte order */
  char path[108]; /* unix (sun_path size) */
};

/* Parse an address string.  0, or -1 with err set. */
int enclaver_transport_parse (const char *spec, struct enclaver_transport_addr *out, char *err,
                              size_t errlen);

/* The emulation mode in force: set explicitly, else ENCLAVER_EMULATION from the
 * environment, else enclaver.emulation= on /proc/cmdline (read once). */
enum enclaver_emulation enclaver_transport_emulation (void);

/* Set the mode ("tcp", "vsock", "none" or NULL); overrides environment and cmdline.
 * 0, or -1 for an unknown mode. */
int enclaver_transport_set_emulation (const char *mode);

/* The mode named by a kernel command line (enclaver.emulation=tcp|vsock). */
enum enclaver_emulation enclaver_transport_emulation_from_cmdline (const char *cmdline);

/* The address actually used for spec under mode (listening or connecting): a copy of
 * spec when nothing maps.  0, or -1 when out is too small. */
int enclaver_transport_map (enum enclaver_emulation mode, const char *spec, int listening,
                            char *out, size_t outlen);

/* Bind and listen (backlog 16); a stale Unix socket file is replaced.  Returns a
 * close-on-exec listening fd, or -1 with err set (errno preserved). */
int enclaver_transport_listen (const char *spec, char *err, size_t errlen);

/* Connect; returns a close-on-exec blocking stream fd, or -1 with err set (errno preserved). */
int enclaver_transport_connect (const char *spec, char *err, size_t errlen);

/* Connect without blocking: a non-blocking close-on-exec fd, with *in_progress = 1 when
 * the connection is still being set up (wait for EV_WRITABLE, then read SO_ERROR), or
 * 2 when a Unix socket's backlog was full (EAGAIN: treat like a refused connection or
 * retry later).  -1 with err set (errno preserved) when it failed at once. */
int enclaver_transport_connect_nb (const char *spec, int *in_progress, char *err, size_t errlen);

/* The local port of a bound socket (for tcp:127.0.0.1:0), or 0. */
uint32_t enclaver_transport_local_port (int fd);

/* Accept a connection on a listening fd (close-on-exec, non-blocking when nonblock).
 * -1 with errno on failure. */
int enclaver_transport_accept (int lfd, int nonblock);

#endif
