/* enclaver host launcher: the "local" backend, for tests.  The "enclave" is the real
 * enclaver-supervisor run as a local process, its status and log streams on unix:
 * addresses in a directory; host_run() is thereby tested end to end without a VM. */
#ifndef ENCLAVER_HOST_BACKEND_LOCAL_H
#define ENCLAVER_HOST_BACKEND_LOCAL_H

#include <stdint.h>

#include "launcher.h"

struct host_local_options
{
  const char *supervisor; /* the enclaver-supervisor binary */
  const char *dir;        /* where the sockets (enclave-PORT.sock, host-PORT.sock) and the
                             console (console.log) go; must exist */
  char *const *args;      /* more supervisor arguments, after --status-addr/--log-addr
                             (e.g. --no-config --linger 0 -- /bin/sh -c ...); may be NULL */
  const char *wait_file;  /* when set, start() returns only once this file exists (a test
                             makes the launcher's clients late this way) */
  uint64_t cid;           /* the CID reported for the enclave (0: 16) */
};

/* A backend (destroy() frees it), or NULL with errno. */
struct host_backend *host_backend_local_new (const struct host_local_options *o);

#endif
