/* enclaver: what the registry client (registry.c) shares with the push side (push.c):
 * one HTTP exchange with the registry, with auth, retries and the response headers. */
#ifndef ENCLAVER_OCI_REGISTRY_INTERNAL_H
#define ENCLAVER_OCI_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include "oci/oci.h"

#define OCI_ACCEPT_MANIFESTS \
  "Accept: " ENCLAVER_MT_OCI_INDEX ", " ENCLAVER_MT_OCI_MANIFEST ", " ENCLAVER_MT_DOCKER_LIST ", " ENCLAVER_MT_DOCKER_MANIFEST

struct xfer
{
  /* request */
  const char *what;
  uint64_t range_from;
  int64_t expect_size; /* blob size or -1 */
  struct oci_sink *sink;
  char *mem;
  size_t mem_len, mem_max;
  int mem_overflow;
  /* response (of the last hop) */
  long status;
  char *content_type, *docker_digest, *content_range, *retry_after;
  char *www;      /* NUL-separated WWW-Authenticate values, double-NUL terminated */
  size_t www_len;
  int64_t content_length;
  int started;
  char *abort_msg;
  char ebody[4096];
  size_t ebody_len;
  /* uploads (push.c): the method, the request body (a file range or memory), more
   * request headers, and the response headers an upload needs */
  const char *method; /* NULL: GET */
  int has_body;
  int up_fd;
  const char *up_mem;
  uint64_t up_off, up_len, up_pos;
  struct curl_slist *extra; /* the caller's */
  int no_transport_retry;   /* a transport error goes back to the caller, which resumes */
  int transport_failed;
  char *location, *range;
  int prog_slot; /* oci_progress_blob_start's slot of the blob this moves, or 0 */
};

/* Perform METHOD path (or an absolute URL the registry gave, e.g. an upload Location)
 * on the registry: x carries the body target and, for uploads, the request body.  0 on
 * a 2xx answer (x->status, headers filled), else -1 with *err. */
int oci_registry_request (struct oci_registry *r, const char *path, const char *accept, const char *scope,
                          struct xfer *x, enclaver_error_t *err) ENCLAVER_INTERNAL;
void oci_xfer_clear (struct xfer *x) ENCLAVER_INTERNAL;
/* The registry's name for messages. */
const char *oci_registry_display (const struct oci_registry *r) ENCLAVER_INTERNAL;
/* Monotonic seconds, for rates (progress.c). */
double oci_now_s (void) ENCLAVER_INTERNAL;
/* Progress of one blob (progress.c): start gives a slot (0: none drawn), at reports how
 * many bytes of it are done (from its start: a resume goes on, a restart goes back), done
 * ends it (ok: its line stays, counted in the summary). */
int oci_progress_blob_start (const char *digest, uint64_t size) ENCLAVER_INTERNAL;
void oci_progress_blob_at (int slot, uint64_t done) ENCLAVER_INTERNAL;
void oci_progress_blob_done (int slot, const char *digest, uint64_t size, int ok) ENCLAVER_INTERNAL;

#endif
