/* enclaver host launcher: a small single-threaded event loop.
 *
 * The shape of Redis's ae.c: file events (fd, mask, one callback per direction, data)
 * and time events (milliseconds, a callback that returns the delay to the next run or
 * EV_TIMER_DONE) in one structure; ev_process() is one step (wait for the nearest timer
 * or a ready descriptor, run the callbacks); ev_run() repeats it until ev_stop().  The
 * poller is epoll.  Signals arrive through a signalfd as ordinary file events
 * (ev_watch_signals).  No threads; every connection is a small struct its owner frees. */
#ifndef ENCLAVER_HOST_EVLOOP_H
#define ENCLAVER_HOST_EVLOOP_H

#include <signal.h>

#define EV_NONE 0
#define EV_READABLE 1
#define EV_WRITABLE 2

#define EV_TIMER_DONE (-1LL)

struct ev_loop;

/* mask: the EV_READABLE or EV_WRITABLE condition that fired (or EV_READABLE for an
 * error/hang-up, so the reader sees the EOF or the error). */
typedef void ev_file_fn (struct ev_loop *l, int fd, void *data, int mask);
/* Returns the delay in ms before the next run, or EV_TIMER_DONE to delete the timer. */
typedef long long ev_timer_fn (struct ev_loop *l, long long id, void *data);
typedef void ev_signal_fn (struct ev_loop *l, int signo, void *data);

struct ev_loop *ev_loop_new (void);
/* Closes the epoll and signal descriptors and restores the signal mask; the file
 * descriptors registered by callers are theirs to close. */
void ev_loop_free (struct ev_loop *l);

/* Watch fd for mask (added to what is already watched); fn runs for the conditions in
 * mask.  0, or -1 with errno. */
int ev_add_file (struct ev_loop *l, int fd, int mask, ev_file_fn *fn, void *data);
/* Stop watching fd for mask (EV_READABLE|EV_WRITABLE: forget it).  Safe from callbacks. */
void ev_del_file (struct ev_loop *l, int fd, int mask);
int ev_file_mask (const struct ev_loop *l, int fd);

/* Run fn after ms milliseconds; returns the timer id (> 0). */
long long ev_add_timer (struct ev_loop *l, long long ms, ev_timer_fn *fn, void *data);
/* 0, or -1 when there is no such timer.  Safe from callbacks. */
int ev_del_timer (struct ev_loop *l, long long id);

/* Block the signals of set and deliver them to fn through a signalfd (the previous mask
 * is restored by ev_loop_free).  0, or -1 with errno. */
int ev_watch_signals (struct ev_loop *l, const sigset_t *set, ev_signal_fn *fn, void *data);

/* One step: waits at most until the nearest timer (forever when there is none and
 * !nowait), runs the ready file callbacks, then the due timers.  Returns the number of
 * events processed, or -1 with errno when the poller failed. */
int ev_process (struct ev_loop *l, int nowait);
/* ev_process until ev_stop; 0, or -1 when the poller failed. */
int ev_run (struct ev_loop *l);
void ev_stop (struct ev_loop *l);

/* CLOCK_MONOTONIC in milliseconds. */
long long ev_now_ms (void);

#endif
