/* enclaver host launcher: the host services the front ends run (services.c). */
#ifndef ENCLAVER_HOST_SERVICES_H
#define ENCLAVER_HOST_SERVICES_H

#include "hostsvc.h"

/* In start order; NULL-terminated. */
extern const struct host_service *const host_services[];

#endif
