/* enclaver runtime: TLS termination on an ev_loop (the supervisor's TLS ingress).
 *
 * tls_pump_start takes an accepted connection that speaks TLS (tls_fd) and a plain
 * connection to the app (plain_fd), both non-blocking, runs the server handshake and
 * then copies decrypted bytes to the app and the app's bytes back as TLS records, on the
 * loop, without a thread.  Each direction holds at most TLS_PUMP_BUF bytes of its own
 * (OpenSSL keeps its record buffers on top, released while idle), so a connection stays
 * under 64 KiB.
 *
 * Half-close as in relay.h: the client's close_notify (or its plain EOF) becomes
 * shutdown(SHUT_WR) towards the app once the pending bytes are written; the app's EOF
 * becomes close_notify and shutdown(SHUT_WR) towards the client.  The pump ends when
 * both directions ended, on an error, when the handshake does not finish within
 * handshake_ms, or when no byte moved for idle_ms; it then closes both descriptors,
 * frees the SSL and calls done once, from the loop.  The caller ignores SIGPIPE. */
#ifndef ENCLAVER_NET_TLSPUMP_H
#define ENCLAVER_NET_TLSPUMP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "evloop.h"

#define TLS_PUMP_BUF 8192 /* with OpenSSL's two record buffers (~17 KiB each) under 64 KiB */

struct tls_pump;

struct tls_pump_result
{
  uint64_t to_app, to_client; /* plaintext bytes written to the app, to the client */
  int handshake_done;         /* 0: the connection ended before or in the handshake */
  int err;                    /* 0: both directions ended; ETIMEDOUT: handshake or idle
                                 timeout; EPROTO: a TLS error (why); else errno */
  int err_side;               /* with err: 'c' client side, 'a' app side */
  char why[200];              /* with EPROTO: OpenSSL's reason */
};

typedef void tls_pump_done_fn (void *data, const struct tls_pump_result *res);

/* Start terminating TLS on tls_fd with ctx (a server context; the pump takes a
 * reference).  The pump owns both descriptors from now on, also when it fails.  Returns
 * the pump, or NULL with errno (both closed, done not called). */
struct tls_pump *tls_pump_start (struct ev_loop *loop, SSL_CTX *ctx, int tls_fd, int plain_fd,
                                 long long handshake_ms, long long idle_ms, tls_pump_done_fn *done,
                                 void *data);

/* End the pump now: close both descriptors, free it; done is not called. */
void tls_pump_abort (struct tls_pump *p);

/* A server context with modern defaults (TLS 1.2 and 1.3 only, forward-secret AEAD
 * ciphers for 1.2, no renegotiation, no compression) and the PEM certificate chain and
 * private key of the two files; the key must match the certificate.  NULL with err
 * naming the file and what is wrong. */
SSL_CTX *tls_server_ctx_load (const char *cert_file, const char *key_file, char *err, size_t errlen);

#endif
