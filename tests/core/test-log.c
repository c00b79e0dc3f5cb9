/* Tests for the JSON log records (docs/logging.md): each line parsed back with jansson. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <unistd.h>

#include <jansson.h>

#include <enclaver/error.h>
#include <enclaver/log.h>
#include "tests/tap.h"
#include "tests/core/testlib.h"

#define MAX_RECORDS 16

static json_t *records[MAX_RECORDS];
static size_t nrecords;
static int all_valid;

static void
clear_records (void)
{
  size_t i;
  for (i = 0; i < nrecords; i++)
    json_decref (records[i]);
  nrecords = 0;
}

/* Run fn with stderr redirected to a file; parse every line of it as one JSON object. */
static size_t
capture (void (*fn) (void))
{
  static char path[512];
  const char *out, *p;
  int saved, fd;

  clear_records ();
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
  out = slurp (path);
  all_valid = 1;
  for (p = out; *p;)
    {
      const char *nl = strchr (p, '\n');
      json_error_t je;
      json_t *o;
      if (nl == NULL)
        {
          tap_diag ("unterminated line: %s", p);
          all_valid = 0;
          break;
        }
      o = json_loadb (p, (size_t) (nl - p), JSON_REJECT_DUPLICATES, &je);
      if (o == NULL || !json_is_object (o) || nrecords == MAX_RECORDS)
        {
          tap_diag ("not a JSON object line: %.*s (%s)", (int) (nl - p), p, je.text);
          all_valid = 0;
          json_decref (o);
        }
      else
        records[nrecords++] = o;
      p = nl + 1;
    }
  return nrecords;
}

static const char *
str (size_t i, const char *key)
{
  json_t *v = i < nrecords ? json_object_get (records[i], key) : NULL;
  return json_is_string (v) ? json_string_value (v) : NULL;
}

static long long
num (size_t i, const char *key)
{
  json_t *v = i < nrecords ? json_object_get (records[i], key) : NULL;
  return json_is_integer (v) ? json_integer_value (v) : -999;
}

static int
has (size_t i, const char *key)
{
  return i < nrecords && json_object_get (records[i], key) != NULL;
}

static int
is_rfc3339_utc (const char *t)
{
  regex_t re;
  int ok;
  if (t == NULL)
    return 0;
  regcomp (&re, "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z$",
           REG_EXTENDED | REG_NOSUB);
  ok = regexec (&re, t, 0, NULL, 0) == 0;
  regfree (&re);
  return ok;
}

static void
log_plain (void)
{
  enclaver_log (ENCLAVER_LOG_INFO, "stage:fetch:0", "pulled %d layers", 3);
  enclaver_log (ENCLAVER_LOG_DEBUG, NULL, "hidden at info level");
  enclaver_log (ENCLAVER_LOG_WARNING, NULL, "quote \" and newline\n here");
  enclaver_log (ENCLAVER_LOG_ERROR, "plugins", "bad thing");
  enclaver_log (ENCLAVER_LOG_INFO, NULL, "bytes \xff\xfe and \xc3\xa9");
}

static void
log_running_stage (void)
{
  enclaver_log_set_stage ("flatten", 2);
  enclaver_log (ENCLAVER_LOG_WARNING, NULL, "from a helper while flatten runs");
  enclaver_log (ENCLAVER_LOG_WARNING, "lua", "from a component while flatten runs");
  enclaver_log_set_stage (NULL, -1);
  enclaver_log (ENCLAVER_LOG_WARNING, NULL, "after the stage");
}

static void
log_fields (void)
{
  struct enclaver_field f[] = {
    ENCLAVER_FIELD_STR ("layer", "sha256:aa"), ENCLAVER_FIELD_STR ("digest", "sha256:aa"),
    ENCLAVER_FIELD_NUM ("line", 7),            ENCLAVER_FIELD_STR ("msg", "a field may not replace msg"),
    ENCLAVER_FIELD_STR ("layer", "sha256:dup"), ENCLAVER_FIELD_STR ("file", NULL),
  };
  enclaver_log_fields (ENCLAVER_LOG_WARNING, "stage:flatten:1", f, sizeof f / sizeof f[0], "layer %s: odd", "sha256:aa");
}

static enclaver_error_t err3;

static void
log_err3 (void)
{
  enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, err3, 0);
}

/* An error that failed a stage, printed after the pipeline stopped. */
static void
log_stage_error (void)
{
  enclaver_error_t e = NULL;
  enclaver_make_error (&e, EINVAL, "layer sha256:cc: entry 'etc/x': bad");
  enclaver_error_set_field (&e, "file", "etc/x");
  enclaver_error_set_field (&e, "layer", "sha256:cc");
  enclaver_error_wrap (&e, "stage %s", "flatten");
  enclaver_error_set_field (&e, "stage", "flatten");
  enclaver_error_set_field_int (&e, "stage_index", 1);
  enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, e, 0);
  enclaver_error_release (&e);
}

static void
warn_release (void)
{
  enclaver_error_t e = NULL;
  enclaver_make_error (&e, EIO, "cannot read x.eif");
  enclaver_error_set_field (&e, "file", "x.eif");
  enclaver_error_warn_and_release (&e, "signing certificate");
}

int
main (void)
{
  struct enclaver_field f1[] = { ENCLAVER_FIELD_STR ("file", "m.yaml"), ENCLAVER_FIELD_STR ("key", "defaults.memory_mb"),
                                 ENCLAVER_FIELD_NUM ("line", 3), ENCLAVER_FIELD_NUM ("column", 5) };
  struct enclaver_field f2[] = { ENCLAVER_FIELD_STR ("file", "m.yaml"), ENCLAVER_FIELD_NUM ("line", 9),
                                 ENCLAVER_FIELD_NUM ("column", 1) };
  size_t i;

  enclaver_log_set_level (ENCLAVER_LOG_INFO);
  enclaver_log_set_format (ENCLAVER_LOG_JSON);
  TAP_INT_EQ (enclaver_log_get_format (), ENCLAVER_LOG_JSON, "format set to json");

  TAP_INT_EQ (capture (log_plain), 4, "four records (debug hidden)");
  tap_ok (all_valid, "every line is one JSON object");
  for (i = 0; i < nrecords; i++)
    tap_ok (is_rfc3339_utc (str (i, "time")), "record %zu: time is RFC 3339 UTC (%s)", i, str (i, "time"));
  TAP_STR_EQ (str (0, "level"), "info", "level");
  TAP_STR_EQ (str (0, "stage"), "fetch", "stage from the stage source");
  TAP_INT_EQ (num (0, "stage_index"), 0, "stage_index from the stage source");
  tap_ok (!has (0, "component") && !has (0, "source"), "no component for a stage source");
  TAP_STR_EQ (str (0, "msg"), "pulled 3 layers", "msg");
  TAP_STR_EQ (str (1, "level"), "warning", "warning level");
  TAP_STR_EQ (str (1, "msg"), "quote \" and newline\n here", "quotes and newlines survive, one line per record");
  tap_ok (!has (1, "stage") && !has (1, "component"), "no stage, no component when there are none");
  TAP_STR_EQ (str (2, "level"), "error", "error level");
  TAP_STR_EQ (str (2, "component"), "plugins", "a non-stage source is the component");
  TAP_STR_EQ (str (3, "msg"), "bytes \xef\xbf\xbd\xef\xbf\xbd and \xc3\xa9",
              "invalid UTF-8 becomes U+FFFD, valid UTF-8 is kept");

  TAP_INT_EQ (capture (log_running_stage), 3, "three records around a running stage");
  TAP_STR_EQ (str (0, "stage"), "flatten", "the running stage names records without a source");
  TAP_INT_EQ (num (0, "stage_index"), 2, "... with its index");
  TAP_STR_EQ (str (1, "stage"), "flatten", "a component's record names the running stage");
  TAP_STR_EQ (str (1, "component"), "lua", "... and the component");
  tap_ok (!has (2, "stage"), "no stage once it stopped");

  TAP_INT_EQ (capture (log_fields), 1, "one record with fields");
  TAP_STR_EQ (str (0, "layer"), "sha256:aa", "string field");
  TAP_STR_EQ (str (0, "digest"), "sha256:aa", "digest field");
  TAP_INT_EQ (num (0, "line"), 7, "integer field is a JSON integer");
  TAP_STR_EQ (str (0, "msg"), "layer sha256:aa: odd", "a field named msg does not replace the message");
  tap_ok (!has (0, "file"), "a NULL field is left out");
  tap_ok (all_valid, "a repeated field key is written once (no duplicate keys)");

  enclaver_error_add (&err3, EINVAL, f1, sizeof f1 / sizeof f1[0], "m.yaml:3:5: defaults.memory_mb: not a number");
  enclaver_error_add (&err3, EINVAL, f2, sizeof f2 / sizeof f2[0], "m.yaml:9:1: unknown key \"x\"");
  enclaver_error_add (&err3, EINVAL, NULL, 0, "m.yaml: 1 more errors not shown");
  enclaver_error_set_field (&err3, "file", "m.yaml");
  TAP_INT_EQ (capture (log_err3), 3, "an error with three problems gives three records");
  tap_ok (all_valid, "... each a JSON object line");
  for (i = 0; i < 3; i++)
    TAP_STR_EQ (str (i, "level"), "error", "record %zu is an error", i);
  TAP_STR_EQ (str (0, "msg"), "m.yaml:3:5: defaults.memory_mb: not a number", "record 0: its own message");
  TAP_STR_EQ (str (0, "file"), "m.yaml", "record 0: file");
  TAP_INT_EQ (num (0, "line"), 3, "record 0: line");
  TAP_INT_EQ (num (0, "column"), 5, "record 0: column");
  TAP_STR_EQ (str (0, "key"), "defaults.memory_mb", "record 0: key");
  TAP_STR_EQ (str (1, "msg"), "m.yaml:9:1: unknown key \"x\"", "record 1: its own message");
  TAP_INT_EQ (num (1, "line"), 9, "record 1: line");
  tap_ok (!has (1, "key"), "record 1: no key");
  TAP_STR_EQ (str (2, "file"), "m.yaml", "record 2: the error's file");
  tap_ok (!has (2, "line"), "record 2: no line");
  enclaver_error_release (&err3);

  TAP_INT_EQ (capture (log_stage_error), 1, "a stage failure: one record");
  TAP_STR_EQ (str (0, "stage"), "flatten", "the failed stage is the record's stage");
  TAP_INT_EQ (num (0, "stage_index"), 1, "... with its index");
  TAP_STR_EQ (str (0, "layer"), "sha256:cc", "layer field");
  TAP_STR_EQ (str (0, "file"), "etc/x", "file field");
  TAP_STR_EQ (str (0, "msg"), "stage flatten: layer sha256:cc: entry 'etc/x': bad", "msg as in the text output");

  TAP_INT_EQ (capture (warn_release), 1, "warn_and_release: one record");
  TAP_STR_EQ (str (0, "level"), "warning", "at warning level");
  TAP_STR_EQ (str (0, "component"), "signing certificate", "with its source as the component");
  TAP_STR_EQ (str (0, "file"), "x.eif", "and the error's fields");

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  TAP_INT_EQ (capture (log_plain), 1, "-q: only the error record");
  enclaver_log_set_format (ENCLAVER_LOG_TEXT);
  clear_records ();
  return tap_done ();
}
