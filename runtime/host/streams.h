/* enclaver host launcher: sockets, the retrying stream connector and the line splitter.
 *
 * Every limit and timeout of the launcher's streams is named here; docs/run.md
 * has them in one table. */
#ifndef ENCLAVER_HOST_STREAMS_H
#define ENCLAVER_HOST_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

/* Stream clients (status, log): the first retry comes after HOST_CONNECT_FIRST_DELAY_MS,
 * each next one after twice the previous delay, at most HOST_CONNECT_MAX_DELAY_MS, and
 * the client gives up when HOST_CONNECT_DEADLINE_MS have passed since its first attempt
 * (the config's connect_deadline_ms overrides it).  One attempt that neither connects
 * nor fails is abandoned after HOST_CONNECT_ATTEMPT_MS. */
#define HOST_CONNECT_FIRST_DELAY_MS 50
#define HOST_CONNECT_MAX_DELAY_MS 2000
#define HOST_CONNECT_DEADLINE_MS 60000
#define HOST_CONNECT_ATTEMPT_MS 5000
/* A log line longer than this is passed on in pieces of this size. */
#define HOST_LOG_LINE_MAX 4096
/* A status line longer than this is skipped (with a warning); the supervisor's are < 1 KiB
 * plus the fatal message. */
#define HOST_STATUS_LINE_MAX 8192
/* After the final status, the log stream is read until EOF, or until it has been quiet for
 * HOST_LOG_DRAIN_IDLE_MS, and never longer than HOST_LOG_DRAIN_MAX_MS. */
#define HOST_LOG_DRAIN_IDLE_MS 200
#define HOST_LOG_DRAIN_MAX_MS 2000
/* Default wait for the final status after the stop request (config stop_grace_ms). */
#define HOST_STOP_GRACE_DEFAULT_MS 15000
/* Listen backlog of the host listeners (ingress, egress). */
#define HOST_LISTEN_BACKLOG 64

/* Listen on an address: tcp:HOST:PORT (HOST a numeric IPv4 address), or anything
 * runtime/transport.h takes (vsock:..., unix:...).  Non-blocking, close-on-exec.
 * Returns the fd, or -1 with err set. */
int host_sock_listen (const char *spec, char *err, size_t errlen);
/* Start a non-blocking connect; *fd is set on 0 (connected) and 1 (in progress);
 * -1 with err set (errno preserved) when the attempt failed at once. */
int host_sock_connect_start (const char *spec, int *fd, char *err, size_t errlen);
/* Accept one connection (non-blocking, close-on-exec).  For an AF_VSOCK peer, *cid is its
 * CID and the return is 1; for other families 0 (no CID); -1 with errno when none. */
int host_sock_accept (int lfd, int *fd, uint64_t *cid);

/* Host listeners accept only the enclave they launched (ENCLAVER.md §17, Enclaver bug #11:
 * several enclaves on one host).  Pure: 1 when the peer may connect, 0 when refused (why
 * then says why).  AF_VSOCK: allowed when svm_cid == enclave_cid; AF_UNIX and AF_INET(6)
 * peers carry no CID and are allowed (the QEMU backend's user-mode NIC, the tests, and
 * the ingress listeners, which on the host are TCP on 127.0.0.1).  A truncated vsock
 * address or another family is refused. */
struct sockaddr;
int host_peer_allowed (const struct sockaddr *sa, unsigned int len, uint64_t enclave_cid, char *why,
                       size_t whylen);
/* Accept one connection (as host_sock_accept) and apply host_peer_allowed; a refused
 * peer is closed and logged as a warning naming the listener (kind, port) and the
 * enclave.  Returns 1 with *fd for an allowed peer, 0 for a refused one, -1 with errno
 * when none is pending. */
int host_sock_accept_checked (int lfd, int *fd, uint64_t enclave_cid, const char *kind, uint32_t port,
                              const char *enclave_name);
/* The warning host_sock_accept_checked logs for a refused peer. */
void host_peer_log_refused (const char *kind, uint32_t port, const char *why, const char *enclave_name);

/* Splits a byte stream into lines of at most max bytes (without the '\n').  A longer line
 * is delivered in max-sized pieces with partial = 1, or dropped when skip_long (then fn
 * gets line = NULL, partial = 1 once for it). */
typedef void host_line_fn (void *ctx, const char *line, size_t len, int partial);
struct host_lines
{
  char *buf;
  size_t len, max;
  int skip_long, skipping, split;
};
void host_lines_init (struct host_lines *l, size_t max, int skip_long);
void host_lines_free (struct host_lines *l);
void host_lines_feed (struct host_lines *l, const char *p, size_t n, host_line_fn *fn, void *ctx);
/* Deliver what is left (a last line without '\n'). */
void host_lines_finish (struct host_lines *l, host_line_fn *fn, void *ctx);

/* A stream client that connects with bounded retries and exponential backoff. */
struct host_conn;
typedef void host_conn_fn (struct host_conn *c, void *ctx);
struct host_conn
{
  const char *what; /* "status stream", for messages */
  char addr[256];
  int fd;           /* >= 0 once connected */
  int attempts;
  long long started, deadline_ms, delay;
  long long timer;
  int connecting;   /* a non-blocking attempt is in flight */
  char last_err[256];
  struct ev_loop *loop;
  host_conn_fn *on_connected, *on_giveup;
  void *ctx;
};
/* Start connecting (the first attempt is made now).  deadline_ms <= 0: the default. */
void host_conn_start (struct host_conn *c, struct ev_loop *l, const char *what, const char *addr,
                      long long deadline_ms, host_conn_fn *on_connected, host_conn_fn *on_giveup,
                      void *ctx);
/* Stop trying, close the fd if any (idempotent). */
void host_conn_cancel (struct host_conn *c);
/* The connection closed before a single byte arrived: close it and try again within the
 * same deadline (a user-mode NIC, such as QEMU's slirp, accepts on the host side before
 * the enclave listens, then closes).  Returns 0 when a retry is scheduled, -1 when the
 * deadline has passed (on_giveup has then been called). */
int host_conn_reconnect (struct host_conn *c, const char *why);

#endif
