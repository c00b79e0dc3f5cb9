/* enclaver: a helper thread that runs message-digest updates in the order they are
 * posted, so that a second hash of the same bytes overlaps the caller's own work (the
 * layer digest and DiffID in flatten, the second PCR when reading an EIF).  Up to
 * DIGEST_WORKER_QUEUE jobs wait in its queue: a post returns at once unless the queue
 * is full, so a caller that fills a ring of buffers does not wait on each job. */
#ifndef ENCLAVER_DIGEST_WORKER_H
#define ENCLAVER_DIGEST_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "util.h"

#define DIGEST_WORKER_QUEUE 16

struct digest_job
{
  EVP_MD_CTX *md;
  const void *p;
  size_t n;
};

struct digest_worker
{
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct digest_job q[DIGEST_WORKER_QUEUE];
  uint64_t posted; /* jobs posted so far; job k (1-based) sits in q[(k - 1) % QUEUE] */
  uint64_t done;   /* jobs finished so far (in order) */
  int quit, started, failed;
};

/* Start the thread (named `name` for perf/top/gdb).  If it cannot start, posts are
 * hashed on the caller's thread instead. */
void digest_worker_start (struct digest_worker *w, const char *name) ENCLAVER_INTERNAL;
/* Queue "hash p[0..n) into md" after the jobs posted before; waits only while the
 * queue is full.  Returns the job's ticket for digest_worker_wait_for.  p must stay
 * untouched until that job is done (wait_for its ticket, or wait). */
uint64_t digest_worker_post (struct digest_worker *w, EVP_MD_CTX *md, const void *p, size_t n) ENCLAVER_INTERNAL;
/* Wait until the job with this ticket (and every one before it) is done; ticket 0
 * returns at once. */
void digest_worker_wait_for (struct digest_worker *w, uint64_t ticket) ENCLAVER_INTERNAL;
/* Wait until the worker is idle; -1 if any update so far failed. */
int digest_worker_wait (struct digest_worker *w) ENCLAVER_INTERNAL;
/* Wait, then stop the thread.  Safe on a worker that never started. */
void digest_worker_stop (struct digest_worker *w) ENCLAVER_INTERNAL;

#endif
