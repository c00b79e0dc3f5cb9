/* enclaver host launcher: the host halves of the enclave's network services (egress
 * dialler, ingress listeners, the emulated NSM), run on the launcher's event loop.
 *
 * host_run() calls, for every service of its configuration's services[] (the front ends
 * pass host_services[] of services.h) in order:
 *   prepare        before the enclave starts: bind the listeners, so that a port in use
 *                  is reported before anything runs (the enclave may connect as soon as
 *                  it boots: egress listens from here on);
 *   started        once the enclave runs (ctx->e->cid is known);
 *   stop_accepting when the app has ended or a stop begins;
 *   active         connections still in flight (the run waits for 0, bounded);
 *   destroy        at the end, after the enclave is gone.
 * Accept vsock peers with host_sock_accept_checked (streams.h), which refuses any CID
 * but the enclave's. */
#ifndef ENCLAVER_HOST_SVC_H
#define ENCLAVER_HOST_SVC_H

#include <stddef.h>

#include <enclaver/error.h>

#include "launcher.h"

struct ev_loop;

struct host_svc_ctx
{
  struct ev_loop *loop;             /* the launcher's loop */
  const struct host_run_config *c;  /* c->manifest: the launched manifest (json), or NULL */
  struct host_backend *b;           /* b->host_addr / b->enclave_addr: addresses of a port */
  const struct host_enclave *e;     /* e->cid is 0 until the enclave started */
  const char *name;                 /* the enclave's name, for log lines */
};

struct host_service
{
  const char *name; /* "egress", "ingress", "nsm-emu" */
  /* 0 (*state = NULL when not configured), or -1 with err: nothing is started. */
  int (*prepare) (const struct host_svc_ctx *ctx, void **state, enclaver_error_t *err);
  int (*started) (void *state, enclaver_error_t *err); /* may be NULL */
  void (*stop_accepting) (void *state);                /* may be NULL */
  size_t (*active) (void *state);                      /* may be NULL */
  void (*destroy) (void *state);
};

#endif
