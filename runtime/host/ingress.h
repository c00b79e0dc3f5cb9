/* enclaver host launcher: the host half of ingress (ingress.c) and `--publish`. */
#ifndef ENCLAVER_HOST_INGRESS_H
#define ENCLAVER_HOST_INGRESS_H

#include <stddef.h>

#include <enclaver/error.h>

#include "launcher.h"

/* Apply one --publish [ADDR:]HOSTPORT:PORT (docker run -p's form) to the manifest's
 * ingress ports ing[0..n): the entry whose listen_port is PORT gets ADDR (dotted IPv4,
 * default 0.0.0.0) and HOSTPORT.  0, or -1 with err naming the value and saying what is
 * wrong (not the form, a port out of range, PORT not an ingress port of the manifest). */
int host_ingress_publish (struct host_ingress *ing, size_t n, const char *spec, enclaver_error_t *err);

/* Only the syntax of spec (for the option parser, before the manifest is known). */
int host_ingress_publish_check (const char *spec, enclaver_error_t *err);

#endif
