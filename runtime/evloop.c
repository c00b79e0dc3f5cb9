/* enclaver host launcher: the event loop (see evloop.h).  epoll for descriptors, an
 * unsorted list for the few timers a launcher has, a signalfd for signals. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"

#define EV_MAX_READY 64 /* events taken from epoll per step */

struct ev_file
{
  int mask;
  ev_file_fn *rfn, *wfn;
  void *rdata, *wdata;
};

struct ev_timer
{
  long long id, when;
  ev_timer_fn *fn;
  void *data;
  int deleted;
  struct ev_timer *next;
};

struct ev_loop
{
  int epfd;
  struct ev_file *files; /* indexed by fd */
  int nfiles;
  struct ev_timer *timers;
  long long next_timer_id;
  int stop;
  int sfd;
  ev_signal_fn *sigfn;
  void *sigdata;
  sigset_t oldmask;
};

long long
ev_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new (void)
{
  struct ev_loop *l = calloc (1, sizeof *l);
  if (l == NULL)
    return NULL;
  l->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (l->epfd < 0)
    {
      free (l);
      return NULL;
    }
  l->sfd = -1;
  l->next_timer_id = 1;
  return l;
}

void
ev_loop_free (struct ev_loop *l)
{
  struct ev_timer *t, *next;
  if (l == NULL)
    return;
  for (t = l->timers; t; t = next)
    {
      next = t->next;
      free (t);
    }
  if (l->sfd >= 0)
    {
      /* Drop what is pending before unblocking, so a signal the loop consumed is not
       * delivered a second time with its default action. */
      close (l->sfd);
      sigprocmask (SIG_SETMASK, &l->oldmask, NULL);
    }
  close (l->epfd);
  free (l->files);
  free (l);
}

static int
grow (struct ev_loop *l, int fd)
{
  int n = l->nfiles ? l->nfiles : 64;
  struct ev_file *f;
  if (fd < l->nfiles)
    return 0;
  while (n <= fd)
    n *= 2;
  f = realloc (l->files, (size_t) n * sizeof *f);
  if (f == NULL)
    return -1;
  memset (f + l->nfiles, 0, (size_t) (n - l->nfiles) * sizeof *f);
  l->files = f;
  l->nfiles = n;
  return 0;
}

static int
epoll_update (struct ev_loop *l, int fd, int oldmask, int mask)
{
  struct epoll_event ee;
  memset (&ee, 0, sizeof ee);
  ee.data.fd = fd;
  if (mask & EV_READABLE)
    ee.events |= EPOLLIN;
  if (mask & EV_WRITABLE)
    ee.events |= EPOLLOUT;
  if (mask == EV_NONE)
    return epoll_ctl (l->epfd, EPOLL_CTL_DEL, fd, &ee);
  return epoll_ctl (l->epfd, oldmask == EV_NONE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ee);
}

int
ev_add_file (struct ev_loop *l, int fd, int mask, ev_file_fn *fn, void *data)
{
  struct ev_file *f;
  int old;
  if (fd < 0)
    {
      errno = EBADF;
      return -1;
    }
  if (grow (l, fd) < 0)
    return -1;
  f = &l->files[fd];
  old = f->mask;
  if (epoll_update (l, fd, old, old | mask) < 0)
    return -1;
  f->mask |= mask;
  if (mask & EV_READABLE)
    f->rfn = fn, f->rdata = data;
  if (mask & EV_WRITABLE)
    f->wfn = fn, f->wdata = data;
  return 0;
}

void
ev_del_file (struct ev_loop *l, int fd, int mask)
{
  struct ev_file *f;
  int old;
  if (fd < 0 || fd >= l->nfiles || l->files[fd].mask == EV_NONE)
    return;
  f = &l->files[fd];
  old = f->mask;
  f->mask &= ~mask;
  (void) epoll_update (l, fd, old, f->mask);
  if (!(f->mask & EV_READABLE))
    f->rfn = NULL, f->rdata = NULL;
  if (!(f->mask & EV_WRITABLE))
    f->wfn = NULL, f->wdata = NULL;
}

int
ev_file_mask (const struct ev_loop *l, int fd)
{
  if (fd < 0 || fd >= l->nfiles)
    return EV_NONE;
  return l->files[fd].mask;
}

long long
ev_add_timer (struct ev_loop *l, long long ms, ev_timer_fn *fn, void *data)
{
  struct ev_timer *t = calloc (1, sizeof *t);
  if (t == NULL)
    abort (); /* OOM is not an error path */
  t->id = l->next_timer_id++;
  t->when = ev_now_ms () + (ms > 0 ? ms : 0);
  t->fn = fn;
  t->data = data;
  t->next = l->timers;
  l->timers = t;
  return t->id;
}

int
ev_del_timer (struct ev_loop *l, long long id)
{
  struct ev_timer *t;
  for (t = l->timers; t; t = t->next)
    if (t->id == id && !t->deleted)
      {
        t->deleted = 1; /* freed by the next step, so a running callback stays valid */
        return 0;
      }
  return -1;
}

static void
on_signalfd (struct ev_loop *l, int fd, void *data, int mask)
{
  struct signalfd_siginfo si[8];
  (void) data;
  (void) mask;
  for (;;)
    {
      ssize_t r = read (fd, si, sizeof si);
      size_t i;
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return;
      for (i = 0; i < (size_t) r / sizeof si[0]; i++)
        if (l->sigfn)
          l->sigfn (l, (int) si[i].ssi_signo, l->sigdata);
    }
}

int
ev_watch_signals (struct ev_loop *l, const sigset_t *set, ev_signal_fn *fn, void *data)
{
  if (l->sfd >= 0)
    {
      errno = EBUSY;
      return -1;
    }
  if (sigprocmask (SIG_BLOCK, set, &l->oldmask) < 0)
    return -1;
  l->sfd = signalfd (-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (l->sfd < 0)
    {
      int e = errno;
      sigprocmask (SIG_SETMASK, &l->oldmask, NULL);
      errno = e;
      return -1;
    }
  l->sigfn = fn;
  l->sigdata = data;
  return ev_add_file (l, l->sfd, EV_READABLE, on_signalfd, NULL);
}

/* Free deleted timers; return the nearest due time, or -1 when there is none. */
static long long
nearest_timer (struct ev_loop *l)
{
  struct ev_timer **pp = &l->timers;
  long long best = -1;
  while (*pp)
    {
      struct ev_timer *t = *pp;
      if (t->deleted)
        {
          *pp = t->next;
          free (t);
          continue;
        }
      if (best < 0 || t->when < best)
        best = t->when;
      pp = &t->next;
    }
  return best;
}

static int
run_timers (struct ev_loop *l)
{
  long long now = ev_now_ms (), max_id = l->next_timer_id;
  struct ev_timer *t;
  int n = 0;
  for (t = l->timers; t; t = t->next)
    {
      long long again;
      /* Timers added by a callback of this step wait for the next one. */
      if (t->deleted || t->id >= max_id || t->when > now)
        continue;
      again = t->fn (l, t->id, t->data);
      n++;
      if (again == EV_TIMER_DONE)
        t->deleted = 1;
      else
        t->when = ev_now_ms () + again;
    }
  return n;
}

int
ev_process (struct ev_loop *l, int nowait)
{
  struct epoll_event ev[EV_MAX_READY];
  long long when = nearest_timer (l);
  int timeout = -1, r, i, n = 0;

  if (nowait)
    timeout = 0;
  else if (when >= 0)
    {
      long long d = when - ev_now_ms ();
      timeout = d <= 0 ? 0 : d > 1000000000LL ? 1000000000 : (int) d;
    }
  r = epoll_wait (l->epfd, ev, EV_MAX_READY, timeout);
  if (r < 0)
    {
      if (errno != EINTR)
        return -1;
      r = 0;
    }
  for (i = 0; i < r; i++)
    {
      int fd = ev[i].data.fd, fired = 0;
      struct ev_file *f;
      if (fd >= l->nfiles)
        continue;
      f = &l->files[fd];
      if ((ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (f->mask & EV_READABLE) && f->rfn)
        {
          f->rfn (l, fd, f->rdata, EV_READABLE);
          fired = 1;
          f = &l->files[fd]; /* the callback may have grown the table */
        }
      if ((ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (f->mask & EV_WRITABLE) && f->wfn
          && !(fired && f->wfn == f->rfn && f->wdata == f->rdata && !(ev[i].events & EPOLLOUT)))
        {
          f->wfn (l, fd, f->wdata, EV_WRITABLE);
          fired = 1;
        }
      n += fired;
    }
  return n + run_timers (l);
}

int
ev_run (struct ev_loop *l)
{
  l->stop = 0;
  while (!l->stop)
    if (ev_process (l, 0) < 0)
      return -1;
  return 0;
}

void
ev_stop (struct ev_loop *l)
{
  l->stop = 1;
}
