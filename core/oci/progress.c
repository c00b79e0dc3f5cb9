/* enclaver: the progress display of blob transfers (pulls and pushes; docs/image.md).
 *
 * Mode 1 (stderr is a terminal, or asked for): a block at the bottom of the terminal
 * with one line per blob in flight -- its digest, the bytes done and the size, the rate
 * and the time left --, then a line over the whole transfer, redrawn at most five times a
 * second; a blob that completes leaves one line above the block.  Mode 2: nothing drawn,
 * a summary log record at the end.  Mode 0 (--no-progress, -q, JSON logs): nothing.
 * The transfer threads report positions by slot; one lock guards the state and the
 * drawing, and the logger takes it around every line it prints (the block is erased
 * first, and drawn again on the next report), so log lines never land inside it. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/registry-internal.h"
#include <enclaver/log.h>

#define SLOTS 32
#define REDRAW_S 0.2
#define RATE_AFTER_S 0.5 /* no rate or ETA before that much of a blob's time */

struct slot
{
  int used;
  char digest[20]; /* "sha256:" + 12 hex */
  uint64_t size, done, from;
  double t0;
};

static struct
{
  pthread_mutex_t lock;
  int mode, active, push;
  size_t items, finished;
  uint64_t bytes;  /* of the finished blobs */
  uint64_t total;  /* sizes of the blobs started */
  double start, last_draw;
  int drawn;       /* lines of the block on the terminal now */
  struct slot s[SLOTS];
} prog = { .lock = PTHREAD_MUTEX_INITIALIZER };

double
oci_now_s (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static void
human (uint64_t b, char *buf, size_t n)
{
  if (b >= 1000000000ull)
    snprintf (buf, n, "%.2f GB", (double) b / 1e9);
  else if (b >= 1000000)
    snprintf (buf, n, "%.1f MB", (double) b / 1e6);
  else if (b >= 1000)
    snprintf (buf, n, "%.1f kB", (double) b / 1e3);
  else
    snprintf (buf, n, "%llu B", (unsigned long long) b);
}

static void
clock_text (double secs, char *buf, size_t n)
{
  unsigned long s = (unsigned long) (secs + 0.5);
  if (s >= 3600)
    snprintf (buf, n, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf (buf, n, "%lu:%02lu", s / 60, s % 60);
}

/* Erase the block: the cursor goes back to where it began. */
static void
erase_locked (void)
{
  if (prog.drawn > 0)
    fprintf (stderr, "\r\033[%dA\033[J", prog.drawn);
  prog.drawn = 0;
}

static void
draw_locked (double now)
{
  char a[32], b[32], r[32], eta[32];
  erase_locked ();
  for (int i = 0; i < SLOTS; i++)
    {
      const struct slot *s = &prog.s[i];
      double dt = now - s->t0;
      if (!s->used)
        continue;
      human (s->done, a, sizeof a);
      human (s->size, b, sizeof b);
      if (dt >= RATE_AFTER_S && s->done > s->from)
        {
          double rate = (double) (s->done - s->from) / dt;
          human ((uint64_t) rate, r, sizeof r);
          strcat (r, "/s");
          if (s->size >= s->done)
            clock_text ((double) (s->size - s->done) / rate, eta, sizeof eta);
          else
            snprintf (eta, sizeof eta, "--:--");
        }
      else
        snprintf (r, sizeof r, "-- B/s"), snprintf (eta, sizeof eta, "--:--");
      fprintf (stderr, "\033[K%s  %s %s / %s  %s  ETA %s\n", s->digest, prog.push ? "push" : "pull", a, b, r, eta);
      prog.drawn++;
    }
  {
    uint64_t moved = prog.bytes;
    for (int i = 0; i < SLOTS; i++)
      if (prog.s[i].used)
        moved += prog.s[i].done;
    human (moved, a, sizeof a);
  }
  human (prog.total, b, sizeof b);
  fprintf (stderr, "\033[K%s: %zu/%zu blobs done, %s of %s\n", prog.push ? "pushing" : "pulling", prog.finished,
           prog.items, a, b);
  prog.drawn++;
  fflush (stderr);
  prog.last_draw = now;
}

/* The logger's hook: before a line (erase the block, hold the lock), after it (release). */
static void
log_hook (int before)
{
  if (before)
    {
      pthread_mutex_lock (&prog.lock);
      erase_locked ();
      fflush (stderr);
    }
  else
    pthread_mutex_unlock (&prog.lock);
}

void
oci_progress_begin (int mode, size_t n_items, int push)
{
  pthread_mutex_lock (&prog.lock);
  if (mode < 0)
    mode = isatty (2) ? 1 : 2;
  /* The block is terminal drawing outside the logger: none with -q or JSON logs. */
  if (enclaver_log_get_level () < ENCLAVER_LOG_INFO || enclaver_log_get_format () != ENCLAVER_LOG_TEXT)
    mode = 0;
  memset (prog.s, 0, sizeof prog.s);
  prog.mode = mode;
  prog.push = push;
  prog.items = n_items;
  prog.finished = 0;
  prog.bytes = prog.total = 0;
  prog.drawn = 0;
  prog.active = 1;
  prog.start = oci_now_s ();
  prog.last_draw = 0;
  pthread_mutex_unlock (&prog.lock);
  if (mode == 1)
    enclaver_log_set_line_hook (log_hook);
}

int
oci_progress_blob_start (const char *digest, uint64_t size)
{
  int k = 0;
  pthread_mutex_lock (&prog.lock);
  prog.total += size;
  if (prog.active && prog.mode == 1)
    for (int i = 0; i < SLOTS && k == 0; i++)
      if (!prog.s[i].used)
        {
          struct slot *s = &prog.s[i];
          memset (s, 0, sizeof *s);
          s->used = 1;
          snprintf (s->digest, sizeof s->digest, "%.19s", digest);
          s->size = size;
          s->t0 = oci_now_s ();
          k = i + 1;
          draw_locked (s->t0);
        }
  pthread_mutex_unlock (&prog.lock);
  return k;
}

void
oci_progress_blob_at (int k, uint64_t done)
{
  double now;
  if (k <= 0 || k > SLOTS)
    return;
  pthread_mutex_lock (&prog.lock);
  if (prog.active && prog.s[k - 1].used)
    {
      struct slot *s = &prog.s[k - 1];
      if (done < s->done)
        {
          /* started again (a server that ignored Range, a new upload session) */
          s->from = done;
          s->t0 = oci_now_s ();
        }
      s->done = done;
      now = oci_now_s ();
      if (now - prog.last_draw >= REDRAW_S)
        draw_locked (now);
    }
  pthread_mutex_unlock (&prog.lock);
}

void
oci_progress_blob_done (int k, const char *digest, uint64_t size, int ok)
{
  pthread_mutex_lock (&prog.lock);
  if (ok)
    {
      prog.finished++;
      prog.bytes += size;
    }
  if (k > 0 && k <= SLOTS && prog.s[k - 1].used)
    {
      struct slot *s = &prog.s[k - 1];
      double now = oci_now_s (), dt = now - s->t0;
      char a[32], r[32];
      erase_locked ();
      if (ok)
        {
          human (size, a, sizeof a);
          human ((uint64_t) ((double) (size - (s->from < size ? s->from : 0)) / (dt > 0.001 ? dt : 0.001)), r,
                 sizeof r);
          fprintf (stderr, "\033[K%.19s  %s %s in %.1f s, %s/s\n", digest, prog.push ? "pushed" : "pulled", a, dt, r);
        }
      s->used = 0;
      draw_locked (now);
    }
  pthread_mutex_unlock (&prog.lock);
}

void
oci_progress_end (void)
{
  size_t n;
  uint64_t bytes;
  double secs;
  int push, active;

  enclaver_log_set_line_hook (NULL);
  pthread_mutex_lock (&prog.lock);
  if (prog.mode == 1)
    {
      erase_locked ();
      fflush (stderr);
    }
  active = prog.active;
  n = prog.finished;
  bytes = prog.bytes;
  push = prog.push;
  secs = oci_now_s () - prog.start;
  prog.active = 0;
  pthread_mutex_unlock (&prog.lock);
  if (active && n > 0)
    {
      char a[32];
      human (bytes, a, sizeof a);
      /* A log record (outside the lock: the logger takes it): -q hides it, --log-format
       * json makes it a JSON line. */
      enclaver_log_info ("%s %zu blob%s, %s in %.1f s", push ? "uploaded" : "fetched", n, n == 1 ? "" : "s", a, secs);
    }
}
