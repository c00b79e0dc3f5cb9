/* enclaver-supervisor: the table of network services (see net.h).  A service is added
 * with one line here and one extern below; its start() decides from the manifest
 * whether it runs. */
#include "config.h"

#include <stddef.h>

#include "services.h"

extern const struct sv_service sv_egress_service;
extern const struct sv_service sv_ingress_service;
extern const struct sv_service sv_kms_service;
extern const struct sv_service sv_api_service;

/* Start order as odyn's: egress, ingress, the KMS proxy, the API last. */
const struct sv_service *const sv_services[] = {
  &sv_egress_service,
  &sv_ingress_service,
  &sv_kms_service,
  &sv_api_service,
  NULL,
};
