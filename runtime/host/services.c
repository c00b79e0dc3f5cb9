/* enclaver host launcher: the table of host services (see hostsvc.h).  A service is
 * added with one line here and its extern.  The front ends (enclaver run, enclaver-run)
 * hand the table to host_run in host_run_config.services. */
#include "config.h"

#include <stddef.h>

#include "services.h"

/* egress.c: the host half of the egress proxy. */
extern const struct host_service host_egress_service;
/* ingress.c: the host half of ingress. */
extern const struct host_service host_ingress_service;
/* nsm-emu.c: the emulated NSM (enclaver run --qemu only). */
extern const struct host_service host_nsm_emu_service;

const struct host_service *const host_services[] = {
  &host_egress_service,
  &host_ingress_service,
  &host_nsm_emu_service,
  NULL,
};
