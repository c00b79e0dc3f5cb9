/* enclaver-supervisor: the network services (egress proxy, ingress, attestation API,
 * KMS proxy) and the one thread that runs them.
 *
 * The main thread keeps its poll loop for the app, signals and the status/log streams
 * (main.c).  Every network service runs on ONE other thread with one ev_loop
 * (runtime/evloop.c), so a slow or hostile peer can never delay the app's status or
 * its exit.  Life cycle:
 *
 *   sv_net_new      main thread, after the configuration is read;
 *   sv_net_start    main thread, before the app starts: each service's start() opens
 *                   its listeners on the (not yet running) loop and adds to the app's
 *                   environment; then the thread starts.  A failure is fatal: the app
 *                   is not started and the status says why;
 *   sv_net_shutdown any thread, once the app has ended: each service stops accepting,
 *                   in-flight connections get a bounded drain time, the loop ends;
 *   sv_net_stop     main thread, at exit: joins the thread;
 *   sv_net_free     main thread: destroys the services.
 *
 * The services never touch the main thread's state.  Their log lines go through
 * sv_net_log: to the console at once, and through a pipe to the main loop, which puts
 * them into the app's log stream (like odyn's own lines). */
#ifndef ENCLAVER_SV_NET_H
#define ENCLAVER_SV_NET_H

#include <stddef.h>
#include <jansson.h>

struct ev_loop;
struct sv_net;

/* Default bounded drain of in-flight connections once the app has ended (seconds);
 * supervisor.json "net": {"drain_timeout": N} changes it. */
#define SV_NET_DRAIN_DEFAULT 5

struct sv_net_ctx
{
  struct ev_loop *loop;   /* the network thread's loop (not running during start) */
  const json_t *config;   /* the whole supervisor.json object (never NULL; {} without one) */
  const json_t *manifest; /* config["manifest"]: the normalised manifest as `enclaver
                             manifest -o json` prints it, or NULL */
  const char *rootfs;     /* where the image's files are: "/" in an enclave, a directory
                             in tests (the supervisor's --rootfs) */
  struct sv_net *net;
};

struct sv_service
{
  const char *name; /* "egress", "ingress", "api", "kms"; also its supervisor.json key */
  /* Main thread, before the app starts.  Parse your part of the manifest / config, open
   * listeners, register them on ctx->loop, call sv_net_setenv for the app's environment.
   * 0 = started, or not configured (*state left NULL); -1 with err = fatal. */
  int (*start) (const struct sv_net_ctx *ctx, void **state, char *err, size_t errlen);
  /* Network thread, once the app has ended: close the listeners. */
  void (*stop_accepting) (void *state);
  /* Network thread: connections still in flight (shutdown waits for 0, bounded). */
  size_t (*active) (void *state);
  /* Main thread, after the network thread ended. */
  void (*destroy) (void *state);
};

/* The services' own supervisor.json keys (each an object; svconfig.c accepts them). */
int sv_net_is_service_key (const char *key);

/* services: NULL-terminated, in start order (main.c passes sv_services of services.h);
 * config: the whole supervisor.json (copied; may be NULL).  Never fails but for
 * resources: NULL with err. */
struct sv_net *sv_net_new (const struct sv_service *const *services, const json_t *config, char *err,
                           size_t errlen);
/* Before sv_net_start: where the services read the image's files (default "/"; the
 * string must outlive n). */
void sv_net_set_rootfs (struct sv_net *n, const char *rootfs);
/* Start every service, then the thread.  0, or -1 with err naming the service. */
int sv_net_start (struct sv_net *n, char *err, size_t errlen);
/* KEY=VALUE strings the services added for the app (owned by n; NULL-terminated). */
char *const *sv_net_env (const struct sv_net *n);
/* During start only: set an environment variable of the app (replaces an earlier one). */
void sv_net_setenv (struct sv_net *n, const char *key, const char *value);
/* The read end of the services' log pipe (non-blocking), or -1 without services. */
int sv_net_log_fd (const struct sv_net *n);
/* Ask the network thread to stop accepting and drain (idempotent; any thread). */
void sv_net_shutdown (struct sv_net *n);
/* Shut down and join the thread (it ends within the drain time); idempotent.  The log
 * pipe stays readable until sv_net_free. */
void sv_net_stop (struct sv_net *n);
/* sv_net_stop, destroy the services, free n. */
void sv_net_free (struct sv_net *n);
/* Any thread: one line "enclaver-supervisor: ..." to the console and the app's log. */
void sv_net_log (struct sv_net *n, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Number of services started (state non-NULL). */
size_t sv_net_running (const struct sv_net *n);

#endif
