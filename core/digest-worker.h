/* enclaver: a helper thread that runs one message-digest update at a time, so that a
 * second hash of the same bytes overlaps the caller's own work (the layer digest and
 * DiffID in flatten, the second PCR when reading an EIF). */
#ifndef ENCLAVER_DIGEST_WORKER_H
#define ENCLAVER_DIGEST_WORKER_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "util.h"

struct digest_worker
{
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  EVP_MD_CTX *md;
  const void *p;
  size_t n;
  int pending, quit, started, failed;
};

/* Start the thread (named `name` for perf/top/gdb).  If it cannot start, posts are
 * hashed on the caller's thread instead. */
void digest_worker_start (struct digest_worker *w, const char *name) ENCLAVER_INTERNAL;
/* Hash p[0..n) into md on the worker, after the previous job.  p must stay untouched
 * until the next post or wait returns. */
void digest_worker_post (struct digest_worker *w, EVP_MD_CTX *md, const void *p, size_t n) ENCLAVER_INTERNAL;
/* Wait until the worker is idle; -1 if any update so far failed. */
int digest_worker_wait (struct digest_worker *w) ENCLAVER_INTERNAL;
/* Wait, then stop the thread.  Safe on a worker that never started. */
void digest_worker_stop (struct digest_worker *w) ENCLAVER_INTERNAL;

#endif
