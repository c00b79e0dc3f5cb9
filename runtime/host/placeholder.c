/* enclaver host launcher: placeholder host services for the egress and ingress ports.
 * They bind the ports at the right moment (so a port in use stops the run before the
 * enclave starts), and accept, log and close each connection.  The egress dialler and
 * the ingress splicer replace them, each its own half (hostsvc.c). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/log.h>

#include "evloop.h"
#include "hostsvc.h"
#include "streams.h"

#define SRC "run"

struct ph_listener
{
  const struct host_svc_ctx *ctx;
  const char *kind;
  uint32_t port;
  int fd;
};

struct ph_state
{
  const struct host_svc_ctx *ctx;
  struct ph_listener *lst;
  size_t n;
};

static void
ph_accept (struct ev_loop *loop, int fd, void *data, int mask)
{
  struct ph_listener *ls = data;
  (void) loop;
  (void) mask;
  for (;;)
    {
      int cfd = -1, r;
      r = host_sock_accept_checked (fd, &cfd, ls->ctx->e->cid, ls->kind, ls->port, ls->ctx->name);
      if (r < 0)
        return;
      if (r == 0)
        continue; /* refused, closed and logged */
      enclaver_log (ENCLAVER_LOG_INFO, SRC,
                    "%s connection on port %" PRIu32 " closed: the %s proxy is not available yet", ls->kind,
                    ls->port, ls->kind);
      close (cfd);
    }
}

static void ph_destroy (void *state);

static int
ph_listen (struct ph_state *s, const char *kind, uint32_t port, const char *addr, enclaver_error_t *err)
{
  char e[512];
  struct ph_listener *ls = &s->lst[s->n];
  int fd = host_sock_listen (addr, e, sizeof e);
  if (fd < 0)
    return enclaver_make_error (err, errno ? errno : EINVAL, "%s listener for port %" PRIu32 ": %s", kind, port,
                                e);
  ls->ctx = s->ctx;
  ls->kind = kind;
  ls->port = port;
  ls->fd = fd;
  s->n++;
  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "%s listener on %s", kind, addr);
  return 0;
}

static int
ph_prepare (const struct host_svc_ctx *ctx, void **state, int egress, enclaver_error_t *err)
{
  const struct host_run_config *c = ctx->c;
  struct ph_state *s;
  char addr[256];
  size_t i, want = egress ? (size_t) (c->has_egress != 0) : c->n_ingress;

  *state = NULL;
  if (want == 0)
    return 0;
  s = calloc (1, sizeof *s);
  if (s == NULL || (s->lst = calloc (want, sizeof *s->lst)) == NULL)
    abort ();
  s->ctx = ctx;
  if (egress)
    {
      if (ctx->b->host_addr (ctx->b, ctx->e, c->egress_port, addr, sizeof addr) < 0)
        {
          ph_destroy (s);
          return enclaver_make_error (err, EINVAL, "egress: no host address for port %" PRIu32, c->egress_port);
        }
      if (ph_listen (s, "egress", c->egress_port, addr, err) < 0)
        {
          ph_destroy (s);
          return -1;
        }
    }
  else
    for (i = 0; i < c->n_ingress; i++)
      {
        snprintf (addr, sizeof addr, "tcp:127.0.0.1:%" PRIu32, c->ingress[i].listen_port);
        if (ph_listen (s, "ingress", c->ingress[i].listen_port, addr, err) < 0)
          {
            ph_destroy (s);
            return -1;
          }
      }
  /* Served from now on: the loop runs only once the enclave started, and the peer
   * check needs its CID (read at accept time). */
  for (i = 0; i < s->n; i++)
    if (ev_add_file (ctx->loop, s->lst[i].fd, EV_READABLE, ph_accept, &s->lst[i]) < 0)
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "epoll: %s", strerror (errno));
  *state = s;
  return 0;
}

static int
ph_prepare_egress (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err)
{
  return ph_prepare (ctx, state, 1, err);
}

static int
ph_prepare_ingress (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err)
{
  return ph_prepare (ctx, state, 0, err);
}

static void
ph_stop_accepting (void *state)
{
  struct ph_state *s = state;
  size_t i;
  for (i = 0; i < s->n; i++)
    if (s->lst[i].fd >= 0)
      {
        ev_del_file (s->ctx->loop, s->lst[i].fd, EV_READABLE);
        close (s->lst[i].fd);
        s->lst[i].fd = -1;
      }
}

static void
ph_destroy (void *state)
{
  struct ph_state *s = state;
  if (s == NULL)
    return;
  ph_stop_accepting (s);
  free (s->lst);
  free (s);
}

const struct host_service host_egress_placeholder_service = {
  .name = "egress",
  .prepare = ph_prepare_egress,
  .stop_accepting = ph_stop_accepting,
  .destroy = ph_destroy,
};

const struct host_service host_ingress_placeholder_service = {
  .name = "ingress",
  .prepare = ph_prepare_ingress,
  .stop_accepting = ph_stop_accepting,
  .destroy = ph_destroy,
};
