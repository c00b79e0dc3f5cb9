/* enclaver: the registry of live temporary paths, and the signal handler that removes
 * them (see include/enclaver/tempfiles.h).
 *
 * The registry is a fixed array of slots, each an atomic pointer to a malloc'd path.
 * Registering and forgetting take a mutex among themselves; the signal handler takes
 * nothing: it swaps each slot's pointer with NULL (so the path is handled once and
 * never freed under a reader) and unlinks it.
 *
 * A thread creating a temporary file blocks the handled signals in itself and counts
 * itself in `inflight` from before the file exists until it is registered; the
 * handler (necessarily on another thread then) first raises `dying`, which stops new
 * creations, and waits for `inflight` to drop to zero, so a file created at the
 * moment the signal arrives is still removed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <enclaver/tempfiles.h>

#define N_SLOTS 4096
#define MAX_DEPTH 16

/* A slot holds a malloc'd path; its lowest bit (malloc aligns) says "directory". */
static _Atomic (uintptr_t) slots[N_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int inflight;
static atomic_int dying;
static const int handled[] = { SIGINT, SIGTERM, SIGHUP };

/* Block the handled signals in this thread (so that the handler never runs on a
 * thread holding `lock`, which would make it wait for creations stuck on it). */
static void
block_signals (sigset_t *old)
{
  sigset_t set;
  sigemptyset (&set);
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    sigaddset (&set, handled[i]);
  pthread_sigmask (SIG_BLOCK, &set, old);
}

static int
reg (const char *path, int is_dir)
{
  char *copy = strdup (path);
  int rc = -1;
  if (copy == NULL)
    return -1;
  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < N_SLOTS; i++)
    if (atomic_load (&slots[i]) == 0)
      {
        atomic_store (&slots[i], (uintptr_t) copy | (is_dir ? 1u : 0u));
        rc = 0;
        break;
      }
  pthread_mutex_unlock (&lock);
  if (rc < 0)
    {
      free (copy);
      errno = EMFILE;
    }
  return rc;
}

int
enclaver_temp_register (const char *path, int is_dir)
{
  sigset_t old;
  block_signals (&old);
  int rc = reg (path, is_dir);
  int e = errno;
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  errno = e;
  return rc;
}

void
enclaver_temp_forget (const char *path)
{
  sigset_t old;
  if (path == NULL)
    return;
  block_signals (&old);
  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < N_SLOTS; i++)
    {
      uintptr_t v = atomic_load (&slots[i]);
      if (v && strcmp ((const char *) (v & ~(uintptr_t) 1), path) == 0)
        {
          /* The handler may have taken it meanwhile: then it is its to keep. */
          v = atomic_exchange (&slots[i], 0);
          free ((char *) (v & ~(uintptr_t) 1));
          break;
        }
    }
  pthread_mutex_unlock (&lock);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

int
enclaver_temp_unlink (const char *path)
{
  int rc = unlink (path);
  int e = errno;
  enclaver_temp_forget (path);
  errno = e;
  return rc;
}

int
enclaver_temp_holds (const struct stat *st)
{
  int found = 0;
  sigset_t old;
  block_signals (&old);
  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < N_SLOTS && !found; i++)
    {
      uintptr_t v = atomic_load (&slots[i]);
      struct stat rs;
      if (v && lstat ((const char *) (v & ~(uintptr_t) 1), &rs) == 0)
        found = rs.st_dev == st->st_dev && rs.st_ino == st->st_ino;
    }
  pthread_mutex_unlock (&lock);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return found;
}

unsigned
enclaver_temp_count (void)
{
  unsigned n = 0;
  for (size_t i = 0; i < N_SLOTS; i++)
    n += atomic_load (&slots[i]) != 0;
  return n;
}

/* Block the handled signals in this thread and count it as creating a temporary;
 * -1 (EINTR) when a handler is already removing everything. */
static int
create_begin (sigset_t *old)
{
  block_signals (old);
  atomic_fetch_add (&inflight, 1);
  if (atomic_load (&dying))
    {
      atomic_fetch_sub (&inflight, 1);
      pthread_sigmask (SIG_SETMASK, old, NULL);
      errno = EINTR;
      return -1;
    }
  return 0;
}

static void
create_end (sigset_t *old)
{
  int e = errno;
  atomic_fetch_sub (&inflight, 1);
  pthread_sigmask (SIG_SETMASK, old, NULL);
  errno = e;
}

int
enclaver_temp_mkostemp (char *tmpl, int flags)
{
  sigset_t old;
  int fd;
  if (create_begin (&old) < 0)
    return -1;
  fd = mkostemp (tmpl, flags);
  if (fd >= 0 && reg (tmpl, 0) < 0)
    {
      int e = errno;
      close (fd);
      unlink (tmpl);
      errno = e;
      fd = -1;
    }
  create_end (&old);
  return fd;
}

char *
enclaver_temp_mkdtemp (char *tmpl)
{
  sigset_t old;
  char *d;
  if (create_begin (&old) < 0)
    return NULL;
  d = mkdtemp (tmpl);
  if (d && reg (tmpl, 1) < 0)
    {
      int e = errno;
      rmdir (tmpl);
      errno = e;
      d = NULL;
    }
  create_end (&old);
  return d;
}

/* ------------------------------------------------------------------ removal
 * Only async-signal-safe calls from here on: unlinkat, openat, getdents64, lseek,
 * close. */

struct dent64
{
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static void
remove_at (int dirfd, const char *name, int depth)
{
  if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
    return;
  if (depth >= MAX_DEPTH)
    return;
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  /* Entries removed while reading may make getdents skip others: read again until a
   * pass finds nothing (bounded, for entries that cannot be removed). */
  for (int pass = 0; pass < 8; pass++)
    {
      _Alignas (8) char buf[2048];
      long n;
      int seen = 0;
      if (lseek (fd, 0, SEEK_SET) < 0)
        break;
      while ((n = syscall (SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < n;)
          {
            struct dent64 *d = (struct dent64 *) (buf + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.' && (d->d_name[1] == '\0' || (d->d_name[1] == '.' && d->d_name[2] == '\0')))
              continue;
            seen++;
            remove_at (fd, d->d_name, depth + 1);
          }
      if (seen == 0)
        break;
    }
  close (fd);
  unlinkat (dirfd, name, AT_REMOVEDIR);
}

/* Take each slot's path (so that it is handled once) and remove it.  free_them is 0
 * in the signal handler: another thread may be inside malloc. */
static void
remove_all (int free_them)
{
  for (size_t i = 0; i < N_SLOTS; i++)
    {
      uintptr_t v = atomic_exchange (&slots[i], 0);
      char *p = (char *) (v & ~(uintptr_t) 1);
      if (v == 0)
        continue;
      if (v & 1)
        remove_at (AT_FDCWD, p, 0);
      else
        unlink (p);
      if (free_them)
        free (p);
    }
}

void
enclaver_temp_remove_all (void)
{
  sigset_t old;
  block_signals (&old);
  pthread_mutex_lock (&lock);
  remove_all (1);
  pthread_mutex_unlock (&lock);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

static void
on_signal (int sig)
{
  int saved = errno;
  atomic_store (&dying, 1);
  /* Wait (at most about 2 s) for threads that are between creating a temporary and
   * registering it. */
  for (int i = 0; i < 2000 && atomic_load (&inflight) > 0; i++)
    {
      struct timespec ts = { 0, 1000000 };
      nanosleep (&ts, NULL);
    }
  remove_all (0);
  /* Die of the signal itself (the parent sees 128 + sig): with the default action
   * restored, the re-raised signal is delivered as soon as the handler returns. */
  signal (sig, SIG_DFL);
  raise (sig);
  errno = saved;
}

void
enclaver_temp_install_signal_handlers (void)
{
  struct sigaction sa, old;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    sigaddset (&sa.sa_mask, handled[i]);
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    {
      if (sigaction (handled[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        continue; /* nohup and the like: keep ignoring it */
      sigaction (handled[i], &sa, NULL);
    }
}
