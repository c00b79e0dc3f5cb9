/* enclaver tests: a tiny TAP producer.  Each test program prints "1..N" at the end
 * (plan last is valid TAP), "ok N - name" / "not ok N - name", and exits 0 when
 * every check passed, 1 otherwise.  A skipped program prints "1..0 # SKIP why" and
 * exits 0 (the TAP driver would count exit 77 as an error). */
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

/* One output line: prefix, then the formatted text. */
__attribute__ ((format (printf, 2, 0), unused)) static void
tap_vline (const char *prefix, const char *fmt, va_list ap)
{
  printf ("%s", prefix);
  vprintf (fmt, ap);
  printf ("\n");
  fflush (stdout);
}

__attribute__ ((format (printf, 1, 2), unused)) static void
tap_diag (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  tap_vline ("# ", fmt, ap);
  va_end (ap);
}

__attribute__ ((unused)) static int
tap_done (void)
{
  printf ("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

/* The test cannot go on (its own set-up failed): "Bail out!" stops the TAP driver,
 * which counts it as an error, never as a pass. */
__attribute__ ((format (printf, 1, 2), unused, noreturn)) static void
tap_bail (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  tap_vline ("Bail out! ", fmt, ap);
  va_end (ap);
  exit (1);
}

__attribute__ ((unused, noreturn)) static void
tap_skip_all (const char *why)
{
  /* tap-driver.sh counts a non-zero exit (77 included) as an ERROR: the plan says skip. */
  printf ("1..0 # SKIP %s\n", why);
  exit (0);
}

__attribute__ ((format (printf, 2, 0), unused)) static int
tap_vok (int cond, const char *fmt, va_list ap)
{
  tap_n++;
  printf ("%sok %d - ", cond ? "" : "not ", tap_n);
  vprintf (fmt, ap);
  printf ("\n");
  fflush (stdout);
  if (!cond)
    tap_failed++;
  return cond;
}

__attribute__ ((format (printf, 3, 4), unused)) static int
tap_str_eq (const char *a, const char *b, const char *fmt, ...)
{
  va_list ap;
  int ok = a != NULL && b != NULL && strcmp (a, b) == 0;
  va_start (ap, fmt);
  tap_vok (ok, fmt, ap);
  va_end (ap);
  if (!ok)
    {
      tap_diag ("  got:      '%s'", a ? a : "(null)");
      tap_diag ("  expected: '%s'", b ? b : "(null)");
    }
  return ok;
}

__attribute__ ((format (printf, 3, 4), unused)) static int
tap_int_eq (long long a, long long b, const char *fmt, ...)
{
  va_list ap;
  int ok = a == b;
  va_start (ap, fmt);
  tap_vok (ok, fmt, ap);
  va_end (ap);
  if (!ok)
    tap_diag ("  got %lld, expected %lld", a, b);
  return ok;
}

__attribute__ ((format (printf, 3, 4), unused)) static int
tap_contains (const char *hay, const char *needle, const char *fmt, ...)
{
  va_list ap;
  int ok = hay != NULL && needle != NULL && strstr (hay, needle) != NULL;
  va_start (ap, fmt);
  tap_vok (ok, fmt, ap);
  va_end (ap);
  if (!ok)
    tap_diag ("  '%s' does not contain '%s'", hay ? hay : "(null)", needle ? needle : "(null)");
  return ok;
}

#define TAP_STR_EQ(a, b, ...) tap_str_eq ((a), (b), __VA_ARGS__)
#define TAP_INT_EQ(a, b, ...) tap_int_eq ((long long) (a), (long long) (b), __VA_ARGS__)
#define TAP_CONTAINS(hay, needle, ...) tap_contains ((hay), (needle), __VA_ARGS__)

#endif
