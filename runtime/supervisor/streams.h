/* enclaver-supervisor: the status and log streams (servers, clients, replay buffer). */
#ifndef ENCLAVER_SV_STREAMS_H
#define ENCLAVER_SV_STREAMS_H

#include <poll.h>
#include <stddef.h>

#define SV_LOG_REPLAY 131072       /* 128 KiB retained for late log clients */
#define SV_CLIENT_MAX_PENDING (4u << 20) /* queued for one client at most (see sv_server.lossy) */
#define SV_STATUS_MAX_CLIENTS 1024 /* status clients at once; one more is accepted and closed */
#define SV_LOG_MAX_CLIENTS 64      /* log clients at once; likewise */
#define SV_ACCEPT_PAUSE_MS 100     /* out of descriptors: the listener rests this long */
#define SV_REQUEST_LINE_MAX 256 /* a client's request line; a longer one is dropped whole */

/* Byte ring keeping the most recent `cap` bytes. */
struct sv_ring
{
  char *data;
  size_t cap, start, len;
};
void sv_ring_init (struct sv_ring *r, size_t cap);
void sv_ring_free (struct sv_ring *r);
void sv_ring_append (struct sv_ring *r, const char *p, size_t n);
/* Copy the retained bytes, oldest first, into out (which must hold r->len bytes). */
void sv_ring_copy (const struct sv_ring *r, char *out);

struct sv_client
{
  int fd;
  char *buf;
  size_t off, len, cap;
  char in[SV_REQUEST_LINE_MAX]; /* the client's current input line */
  size_t in_len;
  int in_skip;                  /* inside a line that was too long */
  unsigned id;                  /* 1, 2, ... per server, for messages */
  char last;                    /* the last byte queued (a drop note starts a line) */
  unsigned long long dropped;   /* bytes dropped since the last note (lossy servers) */
  unsigned long long dropped_all; /* bytes dropped for this client in all */
  struct sv_server *server;
  struct sv_client *next;
};

/* Called for every complete input line of a client (without the '\n'), when set. */
typedef void sv_line_fn (void *ctx, const char *line, size_t len);

struct sv_server
{
  const char *name;  /* "status" or "log", for messages */
  int lfd;
  struct sv_client *clients;
  sv_line_fn *on_line; /* NULL: input is read and discarded */
  void *ctx;
  /* A lossy server (the log stream) never lets a client hold up the writer: once a
   * client has SV_CLIENT_MAX_PENDING bytes queued, what follows is dropped for it and
   * counted, until it has read half of its queue; then a note saying how many bytes are
   * missing goes into its stream, and a line onto the console.  A client of a server
   * that is not lossy (the status stream) is closed instead. */
  int lossy;
  size_t max_clients;  /* 0: SV_STATUS_MAX_CLIENTS */
  size_t nclients;
  unsigned next_id;
  int full_noted;      /* the "too many clients" line was printed */
  long long paused_until; /* ms (CLOCK_MONOTONIC): the listener rests (EMFILE) */
};

/* Queue bytes for one client (dropped and closed when it falls too far behind). */
void sv_client_queue (struct sv_client *c, const char *p, size_t n);
/* Queue bytes for every client of a server. */
void sv_server_broadcast (struct sv_server *s, const char *p, size_t n);
/* Accept one pending connection; returns the new client or NULL. */
struct sv_client *sv_server_accept (struct sv_server *s);
/* Milliseconds until a resting listener wants to be polled again (-1: none rests). */
int sv_server_timeout (const struct sv_server *s);
/* The text of a drop note (exposed for the unit test). */
size_t sv_drop_note (char *buf, size_t cap, int newline, unsigned long long bytes);
/* Number of pollfds a server needs (listener + clients), and filling them. */
size_t sv_server_nfds (const struct sv_server *s);
size_t sv_server_fill (const struct sv_server *s, struct pollfd *p);
/* Handle poll results for this server's clients (p as filled by sv_server_fill):
 * flushes writable clients and closes hung-up or failed ones.  Input is split into lines
 * of at most SV_REQUEST_LINE_MAX bytes for on_line (longer lines are dropped), or
 * discarded when there is no on_line. */
void sv_server_service (struct sv_server *s, const struct pollfd *p, size_t n);
/* Try to write everything still pending, waiting at most timeout_ms in total. */
void sv_server_flush (struct sv_server *s, int timeout_ms);
int sv_server_pending (const struct sv_server *s);
void sv_server_close (struct sv_server *s);

/* Requests a status client may send (docs/runtime.md, "Stop request"). */
enum sv_request
{
  SV_REQUEST_NONE = 0, /* not a request: ignored */
  SV_REQUEST_STOP = 1, /* {"request":"stop"} */
  SV_REQUEST_UNKNOWN = 2, /* {"request":"other"}: ignored, noted on the console */
};
enum sv_request sv_request_parse (const char *line, size_t len);

/* Format a status line (with trailing '\n') into a malloc'd string.
 * kind: "running", "exited" (value = code), "signaled" (value = signal number),
 * "fatal" (text = error message, JSON-escaped). */
char *sv_status_line (const char *kind, int value, const char *text);

#endif
