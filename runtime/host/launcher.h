/* enclaver host launcher: one launcher, several enclave backends.
 *
 * `enclaver run` (cli/cmd_run.c), `enclaver ps`/`stop`, and the release image's static
 * `enclaver-run` are thin front ends over this library (runtime/host/, libenclaver-host).
 * The launcher resolves nothing itself: the front end hands it an EIF file and the
 * settings (from flags, the manifest's defaults, Enclaver's defaults), and it
 *
 *   1. runs the pre-flight checks of the backend (nothing is started when one fails);
 *   2. starts the host halves that must exist before the enclave (egress listener);
 *   3. starts the enclave through its backend (Nitro device, QEMU, the tests' fake);
 *   4. runs one event loop (runtime/evloop.c) with the status and log stream
 *      clients (bounded retries and backoff), the ingress listeners, the console in
 *      debug mode, signals and timers;
 *   5. maps the app's end to an exit code (ENCLAVER.md §8) and stops the enclave:
 *      on SIGTERM/SIGINT it sends the supervisor the stop request (see
 *      docs/runtime.md, "Stop request"), waits up to the grace time for the final
 *      status, then terminates; a second signal terminates at once (exit 109).
 *
 * Addresses: every socket goes through runtime/transport.h.  The backend says where the
 * host reaches an enclave port (vsock:CID:PORT on Nitro, tcp:127.0.0.1:HOSTPORT under
 * QEMU's user-mode NIC, unix:PATH in the tests) and where the host listens for the
 * enclave's connections (vsock:any:PORT / tcp:127.0.0.1:PORT / unix:PATH). */
#ifndef ENCLAVER_HOST_LAUNCHER_H
#define ENCLAVER_HOST_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <enclaver/error.h>

/* Enclaver's exit codes (ENCLAVER.md §8). */
enum
{
  HOST_EXIT_APP_SIGNALED = 107,
  HOST_EXIT_ENCLAVE_FATAL = 108,
  HOST_EXIT_INTERRUPTED = 109,
};

/* Enclaver's vsock ports (ENCLAVER.md §9); the manifest's vsock_ports overrides them. */
#define HOST_PORT_STATUS 17000u
#define HOST_PORT_LOG 17001u
#define HOST_PORT_EGRESS 17002u
/* The emulated NSM of `enclaver run --qemu` (nsm-emu.c): its vsock port.  Over QEMU's
 * user-mode NIC the host listens on a free port instead (two emulated enclaves at
 * once), which the kernel command line names (enclaver.nsm=vsock:3:PORT). */
#define HOST_PORT_NSM_EMU 17005u

/* Bounded wait for in-flight connections of the host services once the app has ended. */
#define HOST_NET_DRAIN_MS 5000

struct host_service;

struct host_ingress
{
  uint32_t listen_port; /* the enclave's port */
  char bind_addr[64];   /* the host's listening address (dotted IPv4; "" = 0.0.0.0) */
  uint32_t host_port;   /* the host's TCP port (0 = listen_port); --publish sets both */
};

struct host_run_config
{
  const char *name;      /* --name, else the manifest's name, else the EIF's base name */
  const char *eif_path;
  uint64_t eif_size;
  const char *arch;      /* "x86_64" or "aarch64" (the EIF header's flag) */
  const char *pcr0;      /* hex, for events and state files (may be NULL) */
  const char *image_digest; /* the wrapper image's digest, when run from one (may be NULL) */

  uint64_t memory_mib;
  uint32_t cpu_count;
  const uint32_t *cpu_ids;
  size_t n_cpu_ids;
  uint64_t enclave_cid; /* 0 = auto */
  int debug_mode;       /* forward the console */

  uint32_t status_port, log_port, egress_port;
  int has_egress;       /* start the egress host half before the enclave */
  const struct host_ingress *ingress;
  size_t n_ingress;
  const struct host_service *const *services; /* host halves of the network services
                             (hostsvc.h; NULL-terminated; NULL = none) */
  const json_t *manifest; /* the launched manifest as `enclaver manifest -o json` prints it
                             (the host services read their policy from it), or NULL */

  const char *nsm_emu_ca_dir; /* non-NULL: serve the emulated NSM (emulation only), its
                              development CA kept in this directory (nsm-emu.c) */
  uint8_t nsm_emu_pcr[16][48]; /* the PCRs the emulated NSM reports (the EIF's 0, 1, 2, 8) */

  int json_events;      /* -o json: one JSON line per lifecycle event on stdout */
  int stop_grace_ms;    /* after the stop request, before terminating (0: the default,
                           HOST_STOP_GRACE_DEFAULT_MS = 15 s; keep it above the app's
                           stop_timeout, 10 s by default, so the app's SIGKILL comes from
                           the supervisor and its final status still arrives) */
  int timeout_s;        /* stop the enclave after this long (0 = never), as a signal would */
  int connect_deadline_ms; /* give up on the status stream after this long (0: the default,
                              HOST_CONNECT_DEADLINE_MS = 60 s); see runtime/host/streams.h */
  const char *run_dir;  /* state files for ps/stop (default /run/enclaver, else
                           $XDG_RUNTIME_DIR/enclaver, else /tmp/enclaver-UID) */
};

struct host_enclave
{
  char id[64];   /* "i-...-enc..." on Nitro (nitro-cli's form), "qemu-PID" under QEMU */
  uint64_t cid;
  pid_t pid;     /* the process that holds the enclave (the launcher, or QEMU) */
  void *backend_state;
};

/* An enclave backend.  Each call gets the backend itself (b->self for its state). */
struct host_backend
{
  const char *name; /* "nitro", "qemu", "fake" */
  void *self;
  uint32_t nsm_emu_port; /* set by the nsm-emu service before start: the host port of the
                            emulated NSM, which the QEMU backend names on the kernel
                            command line (enclaver.nsm=vsock:3:PORT) */
  /* Checks that touch nothing: device present and accessible, hugepages, CPU and
   * memory rules.  The message says what to change. */
  int (*check) (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err);
  /* Start the enclave and wait for its heartbeat; fills e. */
  int (*start) (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e,
                enclaver_error_t *err);
  /* The transport address at which the host reaches the enclave's port. */
  int (*enclave_addr) (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                       size_t outlen);
  /* The transport address the host listens on for the enclave's connections to port. */
  int (*host_addr) (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                    size_t outlen);
  /* A descriptor the loop watches (the console, QEMU's exit), or -1; and its handler,
   * which returns 1 when the enclave has ended by itself. */
  int (*event_fd) (struct host_backend *b, const struct host_enclave *e);
  int (*on_event) (struct host_backend *b, struct host_enclave *e);
  /* End the enclave at once (idempotent). */
  void (*terminate) (struct host_backend *b, struct host_enclave *e);
  void (*destroy) (struct host_backend *b);
};

/* Run an enclave to its end; returns the exit code (the app's, or 107/108/109), or -1
 * with err set when it could not be started (the front end exits 1). */
int host_run (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err);

/* The exit code for one status line of the supervisor ({"status":"exited","code":N},
 * "signaled" with a number or a "SIGxxx" string, "fatal"); -1 for "running" or a line
 * that is not a final state. */
int host_status_exit_code (const char *line, size_t len);

#endif
