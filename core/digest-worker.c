/* enclaver: digest thread with a bounded job queue (see digest-worker.h). */
#include "config.h"

#include "digest-worker.h"

static void *
worker_main (void *arg)
{
  struct digest_worker *w = arg;
  pthread_mutex_lock (&w->mu);
  for (;;)
    {
      while (w->done == w->posted && !w->quit)
        pthread_cond_wait (&w->cv, &w->mu);
      if (w->done == w->posted)
        break;
      struct digest_job j = w->q[w->done % DIGEST_WORKER_QUEUE];
      pthread_mutex_unlock (&w->mu);
      int ok = EVP_DigestUpdate (j.md, j.p, j.n) == 1;
      pthread_mutex_lock (&w->mu);
      if (!ok)
        w->failed = 1;
      w->done++;
      pthread_cond_broadcast (&w->cv);
    }
  pthread_mutex_unlock (&w->mu);
  return NULL;
}

void
digest_worker_start (struct digest_worker *w, const char *name)
{
  memset (w, 0, sizeof *w);
  pthread_mutex_init (&w->mu, NULL);
  pthread_cond_init (&w->cv, NULL);
  w->started = pthread_create (&w->th, NULL, worker_main, w) == 0;
  if (w->started)
    pthread_setname_np (w->th, name);
}

uint64_t
digest_worker_post (struct digest_worker *w, EVP_MD_CTX *md, const void *p, size_t n)
{
  uint64_t ticket;
  if (!w->started)
    {
      if (EVP_DigestUpdate (md, p, n) != 1)
        w->failed = 1;
      return 0;
    }
  pthread_mutex_lock (&w->mu);
  while (w->posted - w->done >= DIGEST_WORKER_QUEUE)
    pthread_cond_wait (&w->cv, &w->mu);
  w->q[w->posted % DIGEST_WORKER_QUEUE] = (struct digest_job){ md, p, n };
  ticket = ++w->posted;
  pthread_cond_broadcast (&w->cv);
  pthread_mutex_unlock (&w->mu);
  return ticket;
}

void
digest_worker_wait_for (struct digest_worker *w, uint64_t ticket)
{
  if (!w->started || ticket == 0)
    return;
  pthread_mutex_lock (&w->mu);
  while (w->done < ticket)
    pthread_cond_wait (&w->cv, &w->mu);
  pthread_mutex_unlock (&w->mu);
}

int
digest_worker_wait (struct digest_worker *w)
{
  int failed;
  if (!w->started)
    return w->failed ? -1 : 0;
  pthread_mutex_lock (&w->mu);
  while (w->done < w->posted)
    pthread_cond_wait (&w->cv, &w->mu);
  failed = w->failed;
  pthread_mutex_unlock (&w->mu);
  return failed ? -1 : 0;
}

void
digest_worker_stop (struct digest_worker *w)
{
  if (w->started)
    {
      pthread_mutex_lock (&w->mu);
      while (w->done < w->posted)
        pthread_cond_wait (&w->cv, &w->mu);
      w->quit = 1;
      pthread_cond_broadcast (&w->cv);
      pthread_mutex_unlock (&w->mu);
      pthread_join (w->th, NULL);
      w->started = 0;
    }
  pthread_cond_destroy (&w->cv);
  pthread_mutex_destroy (&w->mu);
}
