/* enclaver tests: a tiny TAP producer.  Each test program prints "1..N" at the end
 * (plan last is valid TAP), "ok N - name" / "not ok N - name", and exits 0 when
 * every check passed, 1 otherwise.  A skipped program exits 77 after "1..0 # SKIP". */
#ifndef ENCLAVER_TAP_H
#define ENCLAVER_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__ ((format (printf, 2, 3), unused)) static int
tap_ok (int cond, const char *fmt, ...)
{
  va_list ap;
  tap_n++;
  printf ("%sok %d - ", cond ? "" : "not ", tap_n);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
  if (!cond)
    tap_failed++;
  return cond;
}

__attribute__ ((format (printf, 1, 2), unused)) static void
tap_diag (const char *fmt, ...)
{
  va_list ap;
  printf ("# ");
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
}

__attribute__ ((unused)) static int
tap_done (void)
{
  printf ("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

__attribute__ ((unused, noreturn)) static void
tap_skip_all (const char *why)
{
  printf ("1..0 # SKIP %s\n", why);
  exit (77);
}

#define TAP_STR_EQ(a, b, ...) \
  (tap_ok ((a) != NULL && (b) != NULL && strcmp ((a), (b)) == 0, __VA_ARGS__) \
     ? 1 : (tap_diag ("  got:      '%s'", (a) ? (a) : "(null)"), \
            tap_diag ("  expected: '%s'", (b) ? (b) : "(null)"), 0))
#define TAP_INT_EQ(a, b, ...) \
  (tap_ok ((long long) (a) == (long long) (b), __VA_ARGS__) \
     ? 1 : (tap_diag ("  got %lld, expected %lld", (long long) (a), (long long) (b)), 0))
#define TAP_CONTAINS(hay, needle, ...) \
  (tap_ok ((hay) != NULL && strstr ((hay), (needle)) != NULL, __VA_ARGS__) \
     ? 1 : (tap_diag ("  '%s' does not contain '%s'", (hay) ? (hay) : "(null)", (needle)), 0))

#endif
