/* Tests for the libc-only helpers of common/ (shared by the core and the runtime). */
#include "config.h"

#include <string.h>

#include <jansson.h>

#include "common/fdio.h"
#include "common/jsonl.h"
#include "common/logline.h"
#include "common/paths.h"
#include "common/strbuf.h"
#include "common/xalloc.h"
#include "tests/tap.h"

/* s (n bytes) as a JSON string, parsed back by jansson; NULL if it is not valid JSON. */
static char *
roundtrip (const char *s, size_t n, size_t *outlen)
{
  struct strbuf sb;
  json_error_t je;
  json_t *v;
  char *r = NULL;

  strbuf_init (&sb);
  jsonl_string (&sb, s, n);
  v = json_loadb (sb.data, sb.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (v && json_is_string (v))
    {
      *outlen = json_string_length (v);
      r = xmalloc (*outlen + 1);
      memcpy (r, json_string_value (v), *outlen + 1);
    }
  else
    tap_diag ("not valid JSON: %s (%s)", sb.data, je.text);
  json_decref (v);
  strbuf_free (&sb);
  return r;
}

static void
check_json_escapes (void)
{
  struct strbuf sb;
  char all[256];
  char *r;
  size_t n, i;
  int bad = 0;
  static const struct
  {
    const char *in, *want, *what;
  } utf8[] = {
    { "\xc3\xa9", "\xc3\xa9", "two-byte sequence kept" },
    { "\xe2\x82\xac", "\xe2\x82\xac", "three-byte sequence kept" },
    { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "four-byte sequence kept" },
    { "\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd", "overlong NUL replaced" },
    { "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate replaced" },
    { "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "above U+10FFFF replaced" },
    { "a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd", "a sequence cut at the end replaced" },
  };

  /* Every ASCII byte (NUL included) survives the round trip exactly. */
  for (i = 0; i < 128; i++)
    all[i] = (char) i;
  r = roundtrip (all, 128, &n);
  tap_ok (r && n == 128 && memcmp (r, all, 128) == 0, "all 128 ASCII bytes round-trip through JSON");
  free (r);
  /* Every single high byte is invalid alone: one U+FFFD each, and still valid JSON. */
  for (i = 128; i < 256; i++)
    {
      char b = (char) i;
      r = roundtrip (&b, 1, &n);
      if (!r || n != 3 || memcmp (r, "\xef\xbf\xbd", 3) != 0)
        bad++;
      free (r);
    }
  TAP_INT_EQ (bad, 0, "each lone byte >= 0x80 becomes U+FFFD");
  for (i = 0; i < sizeof utf8 / sizeof utf8[0]; i++)
    {
      r = roundtrip (utf8[i].in, strlen (utf8[i].in), &n);
      TAP_STR_EQ (r, utf8[i].want, "UTF-8: %s", utf8[i].what);
      free (r);
    }

  strbuf_init (&sb);
  jsonl_string (&sb, "a\"b\\c\n\t\r\x01\x7f", 10);
  TAP_STR_EQ (sb.data, "\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u007f\"", "short escapes, \\u00XX for the other controls");
  strbuf_free (&sb);
}

static void
check_objects (void)
{
  struct strbuf sb;
  struct jsonl j;

  strbuf_init (&sb);
  jsonl_begin (&j, &sb);
  jsonl_str (&j, "status", "fatal");
  jsonl_str (&j, "skipped", NULL);
  jsonl_int (&j, "code", -3);
  jsonl_strn (&j, "error", "abcdef", 3);
  jsonl_end (&j);
  TAP_STR_EQ (sb.data, "{\"status\":\"fatal\",\"code\":-3,\"error\":\"abc\"}\n", "an object line, members in order");
  strbuf_free (&sb);
}

static void
check_strbuf_and_lines (void)
{
  char small[16];
  struct strbuf sb;
  char line[64];
  char longmsg[200];
  struct timespec ts = { 1764817200, 123456789 }; /* 2025-12-04T03:00:00.123Z */
  char t[40];

  strbuf_init_fixed (&sb, small, sizeof small);
  strbuf_adds (&sb, "0123456789");
  strbuf_addf (&sb, "%s-%d", "abcdef", 42);
  TAP_STR_EQ (small, "0123456789abcde", "fixed storage: cut to fit, NUL-terminated");
  tap_ok (sb.truncated && sb.len == 15, "... and marked truncated");

  strbuf_init (&sb);
  for (int i = 0; i < 1000; i++)
    strbuf_addc (&sb, 'x');
  strbuf_addf (&sb, "%d", 7);
  tap_ok (sb.len == 1001 && sb.data[1000] == '7' && sb.data[1001] == '\0', "growable storage grows");
  free (strbuf_release (&sb));

  strbuf_init (&sb);
  logline_text (&sb, "enclaver", "stage:fetch:0", LOGLINE_INFO, "pulled", 6);
  logline_text (&sb, "enclaver", NULL, LOGLINE_ERROR, "bad", 3);
  logline_text (&sb, "enclaver", NULL, LOGLINE_WARNING, "odd", 3);
  TAP_STR_EQ (sb.data, "enclaver: [stage:fetch:0] pulled\nenclaver: error: bad\nenclaver: warning: odd\n",
              "text lines: source in brackets, error/warning tags");
  strbuf_free (&sb);

  memset (longmsg, 'm', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = '\0';
  strbuf_init_fixed (&sb, line, sizeof line);
  logline_text (&sb, "enclaver-init", NULL, LOGLINE_INFO, longmsg, strlen (longmsg));
  tap_ok (sb.len == sizeof line - 1 && line[sb.len - 1] == '\n' && strncmp (line, "enclaver-init: mmm", 18) == 0,
          "a long message in fixed storage is cut and the line still ends with its newline");

  logline_time (t, sizeof t, &ts);
  TAP_STR_EQ (t, "2025-12-04T03:00:00.123Z", "RFC 3339 UTC time with milliseconds");
  TAP_STR_EQ (logline_level_name (LOGLINE_DEBUG), "debug", "level name");
  TAP_STR_EQ (logline_level_name (99), "trace", "out-of-range level clamped");
}

static void
check_paths (void)
{
  char *p;
  p = enclaver_path_join_abs ("/a/b", "../c/./d//e/..");
  TAP_STR_EQ (p, "/a/c/d", "join and normalise");
  free (p);
  p = enclaver_path_join_abs ("/x", "/../../y");
  TAP_STR_EQ (p, "/y", "an absolute path ignores dir and cannot climb above /");
  free (p);
  p = enclaver_path_normalise_abs ("/");
  TAP_STR_EQ (p, "/", "root stays root");
  free (p);
}

static void
check_io (void)
{
  int p[2];
  char buf[8] = { 0 };
  tap_ok (pipe (p) == 0, "pipe");
  TAP_INT_EQ (enclaver_write_all (p[1], "hello", 5), 0, "write_all");
  TAP_INT_EQ (read (p[0], buf, sizeof buf), 5, "all bytes arrived");
  close (p[0]);
  TAP_INT_EQ (enclaver_write_all (-1, "x", 1), -1, "write_all to a bad fd fails");
  close (p[1]);
}

int
main (void)
{
  char *d = xstrdup (NULL);
  tap_ok (d == NULL, "xstrdup (NULL) is NULL");
  d = xasprintf ("%s-%d", "a", 1);
  TAP_STR_EQ (d, "a-1", "xasprintf");
  free (d);
  d = xcalloc (4, 4);
  tap_ok (d && d[0] == 0 && d[15] == 0, "xcalloc zeroes");
  free (d);
  check_json_escapes ();
  check_objects ();
  check_strbuf_and_lines ();
  check_paths ();
  check_io ();
  return tap_done ();
}
