/* enclaver runtime: TLS termination on an ev_loop (see tlspump.h).
 *
 * One function, pump(), moves whatever can move without blocking, in both directions,
 * and computes from OpenSSL's WANT_READ/WANT_WRITE answers and the plain socket's EAGAIN
 * which conditions each descriptor has to wait for; every event just calls it again.
 * SSL_write is retried with the same bytes (the up buffer is refilled only when empty),
 * as OpenSSL requires.  Bytes OpenSSL already decrypted (SSL_pending) are read in the
 * same pass, so nothing waits for a readable socket that will never come. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "common/xalloc.h"
#include "net/relay.h"
#include "net/tlspump.h"

/* Passes of one wake-up before the pump yields to the loop's other connections. */
#define PUMP_PASSES 16

struct tls_pump
{
  struct ev_loop *loop;
  SSL *ssl;
  int tfd, pfd;
  int hs_done;
  char down[TLS_PUMP_BUF]; /* client → app (decrypted) */
  size_t dlen, doff;
  int down_eof, down_shut;
  char up[TLS_PUMP_BUF]; /* app → client (to encrypt) */
  size_t ulen, uoff;
  int up_eof, up_shut;
  long long timer, resume, last, handshake_ms, idle_ms, started;
  struct tls_pump_result res;
  tls_pump_done_fn *done;
  void *data;
};

enum
{
  GO_ON = 0,
  FINISHED = 1
};

static void on_fd (struct ev_loop *l, int fd, void *data, int mask);

static void
set_mask (struct tls_pump *p, int fd, int want)
{
  int cur = ev_file_mask (p->loop, fd);
  if (cur & ~want)
    ev_del_file (p->loop, fd, cur & ~want);
  /* When epoll refuses (it accepted the descriptor before; only memory can fail), the
   * connection stalls and the idle or handshake timer ends it. */
  if (want & ~cur)
    (void) ev_add_file (p->loop, fd, want & ~cur, on_fd, p);
}

static void
release (struct tls_pump *p)
{
  ev_del_file (p->loop, p->tfd, EV_READABLE | EV_WRITABLE);
  ev_del_file (p->loop, p->pfd, EV_READABLE | EV_WRITABLE);
  if (p->timer)
    ev_del_timer (p->loop, p->timer);
  if (p->resume)
    ev_del_timer (p->loop, p->resume);
  SSL_free (p->ssl);
  close (p->tfd);
  close (p->pfd);
}

static void
finish (struct tls_pump *p)
{
  struct tls_pump_result res = p->res;
  tls_pump_done_fn *done = p->done;
  void *data = p->data;
  res.handshake_done = p->hs_done;
  release (p);
  free (p);
  done (data, &res);
}

/* The TLS error of a failed call, as p->res: EPROTO with OpenSSL's reason, or the
 * socket's errno. */
static int
tls_failed (struct tls_pump *p, int e, const char *what)
{
  unsigned long code = ERR_get_error ();
  if (e == SSL_ERROR_SYSCALL && code == 0)
    {
      p->res.err = errno ? errno : ECONNRESET;
      p->res.err_side = 'c';
      snprintf (p->res.why, sizeof p->res.why, "%s: %s", what, strerror (p->res.err));
    }
  else
    {
      char r[160];
      ERR_error_string_n (code, r, sizeof r);
      p->res.err = EPROTO;
      p->res.err_side = 'c';
      snprintf (p->res.why, sizeof p->res.why, "%s: %s", what, code ? r : "protocol error");
    }
  ERR_clear_error ();
  return FINISHED;
}

/* One pass in both directions.  *need_t / *need_p get the conditions to wait for;
 * *moved is set when a byte or a state moved. */
static int
pass (struct tls_pump *p, int *need_t, int *need_p, int *moved)
{
  int n, e;
  *need_t = *need_p = 0;
  *moved = 0;
  if (!p->hs_done)
    {
      ERR_clear_error ();
      errno = 0;
      n = SSL_do_handshake (p->ssl);
      if (n == 1)
        {
          p->hs_done = 1;
          *moved = 1;
        }
      else
        {
          e = SSL_get_error (p->ssl, n);
          if (e == SSL_ERROR_WANT_READ)
            *need_t |= EV_READABLE;
          else if (e == SSL_ERROR_WANT_WRITE)
            *need_t |= EV_WRITABLE;
          else if (e == SSL_ERROR_SYSCALL && ERR_peek_error () == 0 && errno == 0)
            {
              /* the client closed before finishing the handshake (a port scan, a probe) */
              p->res.err = ECONNRESET;
              p->res.err_side = 'c';
              snprintf (p->res.why, sizeof p->res.why, "the client closed during the TLS handshake");
              return FINISHED;
            }
          else
            return tls_failed (p, e, "TLS handshake failed");
          return GO_ON;
        }
    }

  /* client → app */
  if (!p->down_eof && p->dlen < sizeof p->down)
    {
      ERR_clear_error ();
      errno = 0;
      n = SSL_read (p->ssl, p->down + p->dlen, (int) (sizeof p->down - p->dlen));
      if (n > 0)
        {
          p->dlen += (size_t) n;
          *moved = 1;
        }
      else
        {
          e = SSL_get_error (p->ssl, n);
          if (e == SSL_ERROR_WANT_READ)
            *need_t |= EV_READABLE;
          else if (e == SSL_ERROR_WANT_WRITE)
            *need_t |= EV_WRITABLE;
          else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error () == 0 && errno == 0))
            {
              /* close_notify, or a plain EOF: the client has nothing more to say */
              p->down_eof = 1;
              *moved = 1;
            }
          else
            return tls_failed (p, e, "TLS read");
        }
    }
  if (p->doff < p->dlen)
    {
      ssize_t w = send (p->pfd, p->down + p->doff, p->dlen - p->doff, MSG_NOSIGNAL);
      if (w > 0)
        {
          p->doff += (size_t) w;
          p->res.to_app += (uint64_t) w;
          if (p->doff == p->dlen)
            p->doff = p->dlen = 0;
          *moved = 1;
        }
      else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        *need_p |= EV_WRITABLE;
      else if (w < 0 && errno != EINTR)
        {
          p->res.err = errno;
          p->res.err_side = 'a';
          return FINISHED;
        }
    }
  if (p->down_eof && p->dlen == 0 && !p->down_shut)
    {
      shutdown (p->pfd, SHUT_WR);
      p->down_shut = 1;
      *moved = 1;
    }

  /* app → client */
  if (!p->up_eof && p->ulen == 0)
    {
      ssize_t r = recv (p->pfd, p->up, sizeof p->up, 0);
      if (r > 0)
        {
          p->ulen = (size_t) r;
          p->uoff = 0;
          *moved = 1;
        }
      else if (r == 0)
        {
          p->up_eof = 1;
          *moved = 1;
        }
      else if (errno == EAGAIN || errno == EWOULDBLOCK)
        *need_p |= EV_READABLE;
      else if (errno != EINTR)
        {
          p->res.err = errno;
          p->res.err_side = 'a';
          return FINISHED;
        }
    }
  if (p->uoff < p->ulen)
    {
      ERR_clear_error ();
      n = SSL_write (p->ssl, p->up + p->uoff, (int) (p->ulen - p->uoff));
      if (n > 0)
        {
          p->uoff += (size_t) n;
          p->res.to_client += (uint64_t) n;
          if (p->uoff == p->ulen)
            p->uoff = p->ulen = 0;
          *moved = 1;
        }
      else
        {
          e = SSL_get_error (p->ssl, n);
          if (e == SSL_ERROR_WANT_WRITE)
            *need_t |= EV_WRITABLE;
          else if (e == SSL_ERROR_WANT_READ)
            *need_t |= EV_READABLE;
          else
            return tls_failed (p, e, "TLS write");
        }
    }
  if (p->up_eof && p->ulen == 0 && !p->up_shut)
    {
      ERR_clear_error ();
      n = SSL_shutdown (p->ssl); /* sends close_notify; the client's answer is not awaited */
      e = n < 0 ? SSL_get_error (p->ssl, n) : SSL_ERROR_NONE;
      if (e == SSL_ERROR_WANT_WRITE)
        *need_t |= EV_WRITABLE;
      else
        {
          ERR_clear_error ();
          shutdown (p->tfd, SHUT_WR);
          p->up_shut = 1;
          *moved = 1;
        }
    }
  if (p->down_shut && p->up_shut)
    return FINISHED;
  return GO_ON;
}

static long long
on_resume (struct ev_loop *l, long long id, void *data);

static void
pump (struct tls_pump *p)
{
  int need_t = 0, need_p = 0, moved = 0, i;
  for (i = 0; i < PUMP_PASSES; i++)
    {
      if (pass (p, &need_t, &need_p, &moved) == FINISHED)
        {
          finish (p);
          return;
        }
      if (moved)
        p->last = ev_now_ms ();
      else
        break;
    }
  if (moved && p->resume == 0)
    /* still moving after PUMP_PASSES: let the other connections run, then go on */
    p->resume = ev_add_timer (p->loop, 0, on_resume, p);
  set_mask (p, p->tfd, need_t);
  set_mask (p, p->pfd, need_p);
}

static long long
on_resume (struct ev_loop *l, long long id, void *data)
{
  struct tls_pump *p = data;
  (void) l, (void) id;
  p->resume = 0;
  pump (p);
  return EV_TIMER_DONE;
}

static void
on_fd (struct ev_loop *l, int fd, void *data, int mask)
{
  (void) l, (void) fd, (void) mask;
  pump (data);
}

#define TICK_MS 1000

static long long
on_tick (struct ev_loop *l, long long id, void *data)
{
  struct tls_pump *p = data;
  long long now = ev_now_ms ();
  (void) l, (void) id;
  if (!p->hs_done && p->handshake_ms > 0 && now - p->started >= p->handshake_ms)
    {
      p->timer = 0;
      p->res.err = ETIMEDOUT;
      p->res.err_side = 'c';
      snprintf (p->res.why, sizeof p->res.why, "no TLS handshake within %lld ms", p->handshake_ms);
      finish (p);
      return EV_TIMER_DONE;
    }
  if (p->idle_ms > 0 && now - p->last >= p->idle_ms)
    {
      p->timer = 0;
      p->res.err = ETIMEDOUT;
      p->res.err_side = 'c';
      snprintf (p->res.why, sizeof p->res.why, "no traffic for %lld ms", p->idle_ms);
      finish (p);
      return EV_TIMER_DONE;
    }
  return TICK_MS;
}

struct tls_pump *
tls_pump_start (struct ev_loop *loop, SSL_CTX *ctx, int tls_fd, int plain_fd, long long handshake_ms,
                long long idle_ms, tls_pump_done_fn *done, void *data)
{
  struct tls_pump *p;
  SSL *ssl = SSL_new (ctx);
  if (ssl == NULL || SSL_set_fd (ssl, tls_fd) != 1)
    {
      SSL_free (ssl);
      ERR_clear_error ();
      close (tls_fd);
      close (plain_fd);
      errno = ENOMEM;
      return NULL;
    }
  SSL_set_accept_state (ssl);
  net_set_nodelay (tls_fd);
  net_set_nodelay (plain_fd);
  p = xcalloc (1, sizeof *p);
  p->loop = loop;
  p->ssl = ssl;
  p->tfd = tls_fd;
  p->pfd = plain_fd;
  p->handshake_ms = handshake_ms;
  p->idle_ms = idle_ms;
  p->started = p->last = ev_now_ms ();
  p->done = done;
  p->data = data;
  p->timer = ev_add_timer (loop, TICK_MS, on_tick, p);
  /* The client speaks first: wait for its hello. */
  if (ev_add_file (loop, tls_fd, EV_READABLE, on_fd, p) < 0)
    {
      int e = errno;
      release (p);
      free (p);
      errno = e;
      return NULL;
    }
  return p;
}

void
tls_pump_abort (struct tls_pump *p)
{
  if (p == NULL)
    return;
  release (p);
  free (p);
}

/* err already says what failed: add OpenSSL's reason, free ctx. */
static int
ctx_fail (SSL_CTX *ctx, char *err, size_t errlen)
{
  char r[200] = "";
  unsigned long code = ERR_get_error ();
  size_t n;
  if (code)
    ERR_error_string_n (code, r, sizeof r);
  n = strlen (err);
  if (code && n + 3 < errlen)
    snprintf (err + n, errlen - n, " (%s)", r);
  ERR_clear_error ();
  SSL_CTX_free (ctx);
  return -1;
}

SSL_CTX *
tls_server_ctx_load (const char *cert_file, const char *key_file, char *err, size_t errlen)
{
  SSL_CTX *ctx;
  ERR_clear_error ();
  if (access (cert_file, R_OK) < 0)
    {
      snprintf (err, errlen, "cannot read the certificate %s: %s", cert_file, strerror (errno));
      return NULL;
    }
  if (access (key_file, R_OK) < 0)
    {
      snprintf (err, errlen, "cannot read the private key %s: %s", key_file, strerror (errno));
      return NULL;
    }
  ctx = SSL_CTX_new (TLS_server_method ());
  if (ctx == NULL)
    {
      snprintf (err, errlen, "cannot create a TLS context");
      ctx_fail (NULL, err, errlen);
      return NULL;
    }
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  SSL_CTX_set_options (ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
                                | SSL_OP_NO_CLIENT_RENEGOTIATION
#endif
  );
  SSL_CTX_set_mode (ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                             | SSL_MODE_RELEASE_BUFFERS);
  /* TLS 1.2: forward secrecy and AEAD only (1.3's suites are all of that kind). */
  if (SSL_CTX_set_cipher_list (ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL") != 1)
    {
      snprintf (err, errlen, "cannot set the TLS ciphers");
      ctx_fail (ctx, err, errlen);
      return NULL;
    }
  if (SSL_CTX_use_certificate_chain_file (ctx, cert_file) != 1)
    {
      snprintf (err, errlen, "%s is not a PEM certificate (chain)", cert_file);
      ctx_fail (ctx, err, errlen);
      return NULL;
    }
  if (SSL_CTX_use_PrivateKey_file (ctx, key_file, SSL_FILETYPE_PEM) != 1)
    {
      snprintf (err, errlen, "%s is not a PEM private key, or it does not match the certificate %s", key_file,
                cert_file);
      ctx_fail (ctx, err, errlen);
      return NULL;
    }
  if (SSL_CTX_check_private_key (ctx) != 1)
    {
      snprintf (err, errlen, "the private key %s does not match the certificate %s", key_file, cert_file);
      ctx_fail (ctx, err, errlen);
      return NULL;
    }
  return ctx;
}
