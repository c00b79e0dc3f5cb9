/* Tests for the error object and the logging conventions. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <enclaver/error.h>
#include <enclaver/log.h>
#include "tests/tap.h"
#include "tests/core/testlib.h"

/* Run fn with stderr redirected to a file; return what it wrote. */
static const char *
capture_stderr (void (*fn) (void))
{
  static char path[512];
  int saved, fd;
  snprintf (path, sizeof path, "%s/stderr.txt", make_tmpdir ());
  fflush (stderr);
  saved = dup (2);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2 (fd, 2);
  close (fd);
  fn ();
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  return slurp (path);
}

static void
log_some (void)
{
  enclaver_log (ENCLAVER_LOG_INFO, "stage:fetch:0", "pulled %d layers", 3);
  enclaver_log (ENCLAVER_LOG_DEBUG, NULL, "hidden at info level");
  enclaver_log (ENCLAVER_LOG_WARNING, NULL, "quote \" and newline\n here");
  enclaver_log (ENCLAVER_LOG_ERROR, NULL, "bad thing");
}

static enclaver_error_t pending;

static void
warn_pending (void)
{
  enclaver_error_warn_and_release (&pending, "hook");
}

static int
inner (const char *path, enclaver_error_t *err)
{
  return enclaver_make_errno (err, ENOENT, "open %s", path);
}

static int
outer (enclaver_error_t *err)
{
  if (inner ("/no/such", err) < 0)
    return enclaver_error_wrap (err, "layer %s", "sha256:abc");
  return 0;
}

int
main (void)
{
  enclaver_error_t err = NULL;
  const char *out;

  TAP_INT_EQ (enclaver_make_error (&err, EIO, "read %s at %d", "x.eif", 548), -1, "make_error returns -1");
  tap_ok (err != NULL && err->status == EIO, "status carried");
  TAP_STR_EQ (err ? err->msg : NULL, "read x.eif at 548", "message formatted");
  enclaver_make_error (&err, EINVAL, "second");
  TAP_STR_EQ (err->msg, "read x.eif at 548", "a pending error is never overwritten");
  enclaver_error_wrap (&err, "describe %s", "x.eif");
  TAP_STR_EQ (err->msg, "describe x.eif: read x.eif at 548", "wrap prefixes context");
  enclaver_error_release (&err);
  tap_ok (err == NULL, "release clears the handle");
  enclaver_error_release (&err);
  tap_ok (1, "double release is harmless");
  TAP_INT_EQ (enclaver_error_wrap (&err, "nothing"), -1, "wrap of no error returns -1");
  tap_ok (err == NULL, "wrap of no error creates nothing");

  TAP_INT_EQ (outer (&err), -1, "error propagates");
  TAP_STR_EQ (err->msg, "layer sha256:abc: open /no/such: No such file or directory",
              "make_errno appends strerror, wrap adds context");
  TAP_INT_EQ (err->status, ENOENT, "errno kept through wrap");
  enclaver_error_release (&err);
  enclaver_make_error (&err, 0, "zero status");
  TAP_INT_EQ (err->status, EINVAL, "status 0 becomes EINVAL");
  enclaver_error_release (&err);

  enclaver_log_set_format (ENCLAVER_LOG_TEXT);
  enclaver_log_set_level (ENCLAVER_LOG_INFO);
  out = capture_stderr (log_some);
  TAP_CONTAINS (out, "enclaver: [stage:fetch:0] pulled 3 layers\n", "text log has the stage prefix");
  tap_ok (strstr (out, "hidden") == NULL, "debug hidden at info level");
  TAP_CONTAINS (out, "enclaver: warning: quote", "warnings are tagged");
  TAP_CONTAINS (out, "enclaver: error: bad thing\n", "errors are tagged");

  enclaver_log_set_level (ENCLAVER_LOG_DEBUG);
  out = capture_stderr (log_some);
  TAP_CONTAINS (out, "hidden at info level", "-v shows debug");

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  out = capture_stderr (log_some);
  tap_ok (strstr (out, "pulled") == NULL && strstr (out, "bad thing") != NULL, "-q keeps only errors");

  enclaver_log_set_level (ENCLAVER_LOG_INFO);
  enclaver_log_set_format (ENCLAVER_LOG_JSON);
  out = capture_stderr (log_some);
  TAP_CONTAINS (out, "{\"level\":\"info\",\"source\":\"stage:fetch:0\",\"msg\":\"pulled 3 layers\"}\n",
                "JSON log line");
  TAP_CONTAINS (out, "{\"level\":\"warning\",\"msg\":\"quote \\\" and newline\\n here\"}\n",
                "JSON escapes quotes and newlines, one object per line");
  TAP_INT_EQ (enclaver_log_parse_format ("json"), ENCLAVER_LOG_JSON, "parse json");
  TAP_INT_EQ (enclaver_log_parse_format ("xml"), -1, "reject unknown format");
  enclaver_log_set_format (ENCLAVER_LOG_TEXT);

  enclaver_make_error (&pending, EIO, "something odd");
  out = capture_stderr (warn_pending);
  TAP_CONTAINS (out, "enclaver: [hook] warning: something odd", "warn_and_release logs a warning");
  tap_ok (pending == NULL, "warn_and_release releases");
  return tap_done ();
}
