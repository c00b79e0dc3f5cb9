/* enclaver: one-job-at-a-time digest thread (see digest-worker.h). */
#include "config.h"

#include "digest-worker.h"

static void *
worker_main (void *arg)
{
  struct digest_worker *w = arg;
  pthread_mutex_lock (&w->mu);
  for (;;)
    {
      int ok;
      while (!w->pending && !w->quit)
        pthread_cond_wait (&w->cv, &w->mu);
      if (!w->pending)
        break;
      pthread_mutex_unlock (&w->mu);
      ok = EVP_DigestUpdate (w->md, w->p, w->n) == 1;
      pthread_mutex_lock (&w->mu);
      if (!ok)
        w->failed = 1;
      w->pending = 0;
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

void
digest_worker_post (struct digest_worker *w, EVP_MD_CTX *md, const void *p, size_t n)
{
  if (!w->started)
    {
      if (EVP_DigestUpdate (md, p, n) != 1)
        w->failed = 1;
      return;
    }
  pthread_mutex_lock (&w->mu);
  while (w->pending)
    pthread_cond_wait (&w->cv, &w->mu);
  w->md = md;
  w->p = p;
  w->n = n;
  w->pending = 1;
  pthread_cond_broadcast (&w->cv);
  pthread_mutex_unlock (&w->mu);
}

int
digest_worker_wait (struct digest_worker *w)
{
  int failed;
  pthread_mutex_lock (&w->mu);
  while (w->pending)
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
      while (w->pending)
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
