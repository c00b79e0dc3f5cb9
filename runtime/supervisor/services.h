/* enclaver-supervisor: the network services it runs (services.c). */
#ifndef ENCLAVER_SV_SERVICES_H
#define ENCLAVER_SV_SERVICES_H

#include "net.h"

/* In start order; NULL-terminated. */
extern const struct sv_service *const sv_services[];

#endif
