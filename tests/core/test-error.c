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
static enclaver_error_t multi;

static void
log_multi (void)
{
  enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, multi, 0);
}

static void
log_multi_each (void)
{
  enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, multi, ENCLAVER_LOG_EACH);
}

static void
log_with_fields (void)
{
  struct enclaver_field f[] = { ENCLAVER_FIELD_STR ("layer", "sha256:aa") };
  enclaver_log_fields (ENCLAVER_LOG_WARNING, "stage:flatten:1", f, 1, "layer %s: odd", "sha256:aa");
}

static void
log_dropped (void)
{
  enclaver_error_t e = NULL;
  enclaver_make_error (&e, EIO, "first one");
  enclaver_make_error (&e, EIO, "later one");
  enclaver_log_err (ENCLAVER_LOG_INFO, NULL, e, 0);
  enclaver_error_release (&e);
}

/* The problem list and the fields of one error. */
static void
problems_and_fields (void)
{
  enclaver_error_t e = NULL, other = NULL;
  const struct enclaver_field *got[8];
  struct enclaver_field f1[] = { ENCLAVER_FIELD_STR ("file", "m.yaml"), ENCLAVER_FIELD_NUM ("line", 1),
                                 ENCLAVER_FIELD_NUM ("column", 2) };
  struct enclaver_field f2[] = { ENCLAVER_FIELD_STR ("file", "m.yaml"), ENCLAVER_FIELD_NUM ("line", 3),
                                 ENCLAVER_FIELD_STR ("key", NULL) };
  char *m;
  size_t n;

  TAP_INT_EQ (enclaver_error_add (&e, EINVAL, f1, 3, "m.yaml:%d:%d: first", 1, 2), -1, "add returns -1");
  TAP_INT_EQ (enclaver_error_count (e), 1, "one problem");
  enclaver_error_add (&e, ENOENT, f2, 3, "m.yaml:3:4: second");
  enclaver_error_add (&e, EIO, NULL, 0, "m.yaml: third");
  TAP_INT_EQ (enclaver_error_count (e), 3, "three problems");
  TAP_INT_EQ (e->status, EINVAL, "the status is the first problem's");
  TAP_STR_EQ (e->msg, "m.yaml:1:2: first\nm.yaml:3:4: second\nm.yaml: third", "msg joins the problems");
  TAP_STR_EQ (enclaver_error_get_field (e, 0, "file"), "m.yaml", "problem 0 has its file");
  TAP_STR_EQ (enclaver_error_get_field (e, 1, "file"), "m.yaml", "problem 1 has its file");
  tap_ok (enclaver_error_get_field (e, 2, "file") == NULL, "problem 2 has no file");
  tap_ok (enclaver_error_get_field (e, 1, "key") == NULL, "a NULL string field is left out");
  n = enclaver_error_fields (e, 1, got, 8);
  TAP_INT_EQ (n, 2, "problem 1 has two fields");
  tap_ok (n == 2 && got[1]->type == ENCLAVER_FIELD_INT && got[1]->num == 3 && strcmp (got[1]->key, "line") == 0,
          "the line is an integer field");

  enclaver_error_set_field (&e, "layer", "sha256:bb");
  enclaver_error_set_field (&e, "layer", "sha256:cc");
  enclaver_error_set_field (&e, "file", "outer.tar");
  TAP_STR_EQ (enclaver_error_get_field (e, 2, "layer"), "sha256:bb",
              "a field of the error reaches every problem; the first one set stays");
  TAP_STR_EQ (enclaver_error_get_field (e, 0, "file"), "m.yaml", "a problem's own field wins");
  TAP_STR_EQ (enclaver_error_get_field (e, 2, "file"), "outer.tar", "... else the error's");
  n = enclaver_error_fields (e, 0, got, 8);
  TAP_INT_EQ (n, 4, "problem 0: file, line, column, layer");
  TAP_INT_EQ (enclaver_error_fields (e, 0, got, 2), 2, "fields stop at max");

  enclaver_error_wrap (&e, "build %s", "x");
  TAP_STR_EQ (e->msg, "build x: m.yaml:1:2: first\nm.yaml:3:4: second\nm.yaml: third",
              "wrap prefixes the message (text unchanged)");
  m = enclaver_error_problem_msg (e, 0);
  TAP_STR_EQ (m, "build x: m.yaml:1:2: first", "problem 0 with its context");
  free (m);
  m = enclaver_error_problem_msg (e, 1);
  TAP_STR_EQ (m, "build x: m.yaml:3:4: second", "problem 1 gets the context too");
  free (m);
  m = enclaver_error_problem_msg (e, 2);
  TAP_STR_EQ (m, "build x: m.yaml: third", "problem 2 gets the context too");
  free (m);
  tap_ok (enclaver_error_problem_msg (e, 3) == NULL, "no problem 3");

  enclaver_make_error (&other, EPERM, "not this one");
  enclaver_error_move (&e, &other);
  tap_ok (other == NULL, "move clears the source");
  TAP_STR_EQ (enclaver_error_dropped (e, 0), "not this one", "moving into a pending error drops the newcomer");
  enclaver_make_error (&other, EPERM, "moved");
  enclaver_error_t fresh = NULL;
  enclaver_error_move (&fresh, &other);
  TAP_STR_EQ (fresh ? fresh->msg : NULL, "moved", "move into an empty handle");
  enclaver_error_release (&fresh);
  enclaver_error_release (&e);

  /* A single error: a copy of its message; the set-field no-ops. */
  TAP_INT_EQ (enclaver_error_set_field (&e, "file", "x"), -1, "set_field on no error returns -1");
  tap_ok (e == NULL, "... and makes none");
  enclaver_make_errno (&e, ENOENT, "open %s", "/x");
  m = enclaver_error_problem_msg (e, 0);
  TAP_STR_EQ (m, "open /x: No such file or directory", "problem 0 of a plain error is its message");
  free (m);
  TAP_INT_EQ (enclaver_error_count (e), 1, "a plain error has one problem");
  enclaver_error_release (&e);

  enclaver_error_add (&multi, EINVAL, f1, 3, "m.yaml:1:2: first");
  enclaver_error_add (&multi, EINVAL, f2, 3, "m.yaml:3:4: second");
  enclaver_error_add (&multi, EINVAL, NULL, 0, "m.yaml: third");
}

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

  TAP_INT_EQ (enclaver_log_parse_format ("json"), ENCLAVER_LOG_JSON, "parse json");
  TAP_INT_EQ (enclaver_log_parse_format ("text"), ENCLAVER_LOG_TEXT, "parse text");
  TAP_INT_EQ (enclaver_log_parse_format ("xml"), -1, "reject unknown format");
  enclaver_log_set_level (ENCLAVER_LOG_INFO);
  enclaver_log_set_format (ENCLAVER_LOG_TEXT);

  /* Several problems, fields: the text output is the message as before. */
  problems_and_fields ();
  out = capture_stderr (log_multi);
  TAP_STR_EQ (out, "enclaver: error: m.yaml:1:2: first\nm.yaml:3:4: second\nm.yaml: third\n",
              "text: an error with three problems prints as one entry, as before");
  out = capture_stderr (log_multi_each);
  TAP_STR_EQ (out,
              "enclaver: error: m.yaml:1:2: first\nenclaver: error: m.yaml:3:4: second\n"
              "enclaver: error: m.yaml: third\n",
              "text with ENCLAVER_LOG_EACH: one tagged line per problem");
  out = capture_stderr (log_with_fields);
  TAP_STR_EQ (out, "enclaver: [stage:flatten:1] warning: layer sha256:aa: odd\n",
              "text: fields are not shown");
  enclaver_log_set_level (ENCLAVER_LOG_DEBUG);
  out = capture_stderr (log_dropped);
  TAP_CONTAINS (out, "enclaver: first one\nenclaver: second error while one was pending: later one\n",
                "a dropped second error is shown at debug level after the error");
  enclaver_log_set_level (ENCLAVER_LOG_INFO);
  out = capture_stderr (log_dropped);
  tap_ok (strstr (out, "later one") == NULL, "... and not at info level");

  enclaver_make_error (&pending, EIO, "something odd");
  out = capture_stderr (warn_pending);
  TAP_CONTAINS (out, "enclaver: [hook] warning: something odd", "warn_and_release logs a warning");
  tap_ok (pending == NULL, "warn_and_release releases");
  enclaver_error_release (&multi);
  return tap_done ();
}
