/* enclaver tests: the enclaver.yaml parser.
 *
 * Part 1 runs every data-driven case in tests/manifest/cases/ through the library
 * (enclaver_manifest_load_ex / _set_app / _validate / _to_json).  A case is one YAML file
 * NAME.yaml, and NAME.expect next to it says what to expect, one directive a line:
 *   expect-error: SUBSTRING     the load must fail and the message contain SUBSTRING
 *   expect-json: SUBSTRING      the load must succeed and the JSON contain SUBSTRING
 *   expect-not: SUBSTRING       the message/JSON must NOT contain SUBSTRING
 *   expect-json-file: FILE      the JSON must equal FILE (same directory)
 *   expect-warning: SUBSTRING   one of the "no effect yet" warnings contains SUBSTRING
 *   expect-warnings: N          exactly N such warnings (keys accepted but not used yet)
 *   from: IMAGE                 apply the --from override (sources.app may be missing)
 * In SUBSTRINGs, @DIR@ is the cases directory (absolute), @FILE@ the name the
 * manifest was loaded as, and \n a newline.  tests/manifest/cli.sh runs the same cases
 * through `enclaver manifest`.
 *
 * Part 2 covers what a text file cannot hold or should not: non-UTF-8, NUL bytes, size
 * bounds, generated alias bombs and deep nesting, stdin, and the API contracts. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/manifest.h>
#include "tests/tap.h"

static char *
xstrdup_ (const char *s)
{
  char *r = strdup (s);
  if (r == NULL)
    abort ();
  return r;
}

static char *
read_all (const char *path)
{
  FILE *f = fopen (path, "r");
  char *buf;
  long n;
  if (f == NULL)
    return NULL;
  fseek (f, 0, SEEK_END);
  n = ftell (f);
  fseek (f, 0, SEEK_SET);
  buf = malloc ((size_t) n + 1);
  if (buf == NULL || fread (buf, 1, (size_t) n, f) != (size_t) n)
    abort ();
  buf[n] = '\0';
  fclose (f);
  return buf;
}

/* s with @DIR@, @FILE@ and \n replaced (malloc'd). */
static char *
subst (const char *s, const char *dir, const char *file)
{
  size_t cap = strlen (s) * 2 + strlen (dir) * 8 + strlen (file) * 8 + 16, o = 0;
  char *out = malloc (cap);
  if (out == NULL)
    abort ();
  while (*s)
    {
      if (strncmp (s, "@DIR@", 5) == 0)
        {
          if (o + strlen (dir) + 1 >= cap)
            abort ();
          strcpy (out + o, dir);
          o += strlen (dir);
          s += 5;
        }
      else if (strncmp (s, "@FILE@", 6) == 0)
        {
          if (o + strlen (file) + 1 >= cap)
            abort ();
          strcpy (out + o, file);
          o += strlen (file);
          s += 6;
        }
      else if (s[0] == '\\' && s[1] == 'n')
        {
          out[o++] = '\n';
          s += 2;
        }
      else
        out[o++] = *s++;
      if (o + 1 >= cap)
        abort ();
    }
  out[o] = '\0';
  return out;
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
run_case (const char *dir, const char *name)
{
  char *ename = NULL;
  char *text;
  char *line, *save = NULL, *from = NULL, *golden = NULL;
  char *errs[16], *jsons[16], *nots[16], *warns[16];
  size_t nerrs = 0, njsons = 0, nnots = 0, nwarns = 0, i;
  long want_warnings = -1;
  char *warnings = NULL;
  size_t n_warnings = 0;
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  char *json = NULL;
  const char *out;
  bool ok = true;

  if (asprintf (&ename, "%.*s.expect", (int) (strlen (name) - 5), name) < 0)
    abort ();
  text = read_all (ename);
  free (ename);
  if (text == NULL)
    {
      tap_ok (0, "%s: has a .expect file", name);
      return;
    }
  for (line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
#define DIRECTIVE(pfx) (strncmp (line, pfx, strlen (pfx)) == 0 ? line + strlen (pfx) : NULL)
      const char *v;
      if ((v = DIRECTIVE ("expect-error: ")) && nerrs < 16)
        errs[nerrs++] = subst (v, dir, name);
      else if ((v = DIRECTIVE ("expect-json: ")) && njsons < 16)
        jsons[njsons++] = subst (v, dir, name);
      else if ((v = DIRECTIVE ("expect-not: ")) && nnots < 16)
        nots[nnots++] = subst (v, dir, name);
      else if ((v = DIRECTIVE ("expect-warning: ")) && nwarns < 16)
        warns[nwarns++] = subst (v, dir, name);
      else if ((v = DIRECTIVE ("expect-warnings: ")))
        want_warnings = atol (v);
      else if ((v = DIRECTIVE ("expect-json-file: ")))
        golden = xstrdup_ (v);
      else if ((v = DIRECTIVE ("from: ")))
        from = xstrdup_ (v);
      else if (line[0] != '\0' && line[0] != '#')
        tap_ok (0, "%s: unknown directive '%s'", name, line);
    }
  if (nerrs + njsons + nnots + nwarns == 0 && golden == NULL && want_warnings < 0)
    tap_ok (0, "%s: the .expect file expects nothing", name);

  m = enclaver_manifest_load_ex (name, from ? ENCLAVER_MANIFEST_NO_APP_REQUIRED : 0, &err);
  if (m != NULL && from != NULL)
    {
      if (enclaver_manifest_set_app (m, from, &err) < 0 || enclaver_manifest_validate (m, 0, &err) < 0)
        {
          enclaver_manifest_free (m);
          m = NULL;
        }
    }
  if (m != NULL)
    {
      const struct enclaver_manifest_key *k;
      size_t len = 0;
      for (i = 0; (k = enclaver_manifest_unimplemented (m, i)) != NULL; i++)
        {
          char *msg = enclaver_manifest_unimplemented_message (m, k);
          warnings = realloc (warnings, len + strlen (msg) + 2);
          if (warnings == NULL)
            abort ();
          strcpy (warnings + len, msg);
          len += strlen (msg);
          strcpy (warnings + len++, "\n");
          n_warnings++;
          free (msg);
        }
      json = enclaver_manifest_to_json (m, &err);
      enclaver_manifest_free (m);
    }

  if (nerrs > 0)
    {
      ok = tap_ok (json == NULL && err != NULL, "%s: rejected", name);
      out = err ? err->msg : "";
      for (i = 0; i < nerrs; i++)
        ok &= TAP_CONTAINS (out, errs[i], "%s: error mentions %s", name, errs[i]);
    }
  else
    {
      ok = tap_ok (json != NULL, "%s: accepted", name);
      if (!ok && err)
        tap_diag ("  %s", err->msg);
      out = json ? json : "";
      for (i = 0; i < njsons; i++)
        ok &= TAP_CONTAINS (out, jsons[i], "%s: JSON has %s", name, jsons[i]);
      if (golden)
        {
          char *g = read_all (golden);
          char *gs = g ? subst (g, dir, name) : NULL;
          ok &= TAP_STR_EQ (out, gs, "%s: JSON equals %s", name, golden);
          free (g);
          free (gs);
        }
    }
  for (i = 0; i < nnots; i++)
    ok &= tap_ok (strstr (out, nots[i]) == NULL, "%s: output lacks %s", name, nots[i]);
  for (i = 0; i < nwarns; i++)
    ok &= TAP_CONTAINS (warnings ? warnings : "", warns[i], "%s: warns %s", name, warns[i]);
  if (want_warnings >= 0)
    ok &= TAP_INT_EQ (n_warnings, want_warnings, "%s: %ld warnings", name, want_warnings);
  if (!ok && warnings)
    tap_diag ("warnings of %s:\n%s", name, warnings);
  if (!ok)
    tap_diag ("full output of %s:\n%s", name, out);

  for (i = 0; i < nerrs; i++)
    free (errs[i]);
  for (i = 0; i < njsons; i++)
    free (jsons[i]);
  for (i = 0; i < nnots; i++)
    free (nots[i]);
  for (i = 0; i < nwarns; i++)
    free (warns[i]);
  free (warnings);
  free (from);
  free (golden);
  free (json);
  enclaver_error_release (&err);
  free (text);
}

static size_t
run_cases (const char *cases_dir)
{
  DIR *d;
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, cap = 0, i;
  char *cwd;
  int oldcwd = open (".", O_RDONLY | O_DIRECTORY);

  if (chdir (cases_dir) < 0)
    {
      tap_ok (0, "cases directory %s: %s", cases_dir, strerror (errno));
      return 0;
    }
  cwd = getcwd (NULL, 0);
  d = opendir (".");
  while (d && (de = readdir (d)) != NULL)
    {
      size_t l = strlen (de->d_name);
      if (l < 6 || strcmp (de->d_name + l - 5, ".yaml") != 0)
        continue;
      if (n == cap)
        {
          cap = cap ? cap * 2 : 64;
          names = realloc (names, cap * sizeof *names);
          if (names == NULL)
            abort ();
        }
      names[n++] = xstrdup_ (de->d_name);
    }
  if (d)
    closedir (d);
  qsort (names, n, sizeof *names, cmp_names);
  for (i = 0; i < n; i++)
    {
      run_case (cwd, names[i]);
      free (names[i]);
    }
  free (names);
  free (cwd);
  if (oldcwd >= 0)
    {
      if (fchdir (oldcwd) < 0)
        abort ();
      close (oldcwd);
    }
  return n;
}

/* ---- part 2 ---- */

static const char minimal[] = "version: v1\nname: t\ntarget: t:latest\nsources:\n  app: img:1\n";

/* Parse buf; returns the error message (malloc'd) or NULL on success. */
static char *
parse_err (const char *buf, size_t len, unsigned flags)
{
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m = enclaver_manifest_parse_ex (buf, len, "mem.yaml", "/base", flags, &err);
  char *r;
  if (m != NULL)
    {
      enclaver_manifest_free (m);
      return NULL;
    }
  r = xstrdup_ (err ? err->msg : "(no error object)");
  enclaver_error_release (&err);
  return r;
}

static void
test_bytes (void)
{
  char *e;
  static const char bad_utf8[] = "version: v1\nname: \"caf\xe9\"\n";
  static const char overlong[] = "version: v1\nname: \xc0\xaf\n";
  static const char utf16[] = "\xff\xfev\0e\0r\0";
  static const char with_nul[] = "version: v1\nna\0me: x\n";
  static const char good_utf8[] = "version: v1\nname: \"caf\xc3\xa9 \xe2\x9c\x93\"\ntarget: t\nsources: {app: a}\n";

  e = parse_err (bad_utf8, sizeof bad_utf8 - 1, 0);
  TAP_CONTAINS (e, "mem.yaml:2:11: not valid UTF-8 (bad continuation byte)", "Latin-1 byte rejected with line:col");
  free (e);
  e = parse_err (overlong, sizeof overlong - 1, 0);
  TAP_CONTAINS (e, "mem.yaml:2:7: not valid UTF-8", "overlong UTF-8 rejected");
  free (e);
  e = parse_err (utf16, sizeof utf16 - 1, 0);
  TAP_CONTAINS (e, "UTF-16", "UTF-16 BOM named");
  free (e);
  e = parse_err (with_nul, sizeof with_nul - 1, 0);
  TAP_CONTAINS (e, "mem.yaml:2:3: NUL byte", "NUL byte rejected");
  free (e);
  e = parse_err ("version: \"a\\0b\"\n", 16, 0);
  TAP_CONTAINS (e, "NUL character", "escaped NUL in a string rejected");
  free (e);
  e = parse_err (good_utf8, sizeof good_utf8 - 1, 0);
  tap_ok (e == NULL, "valid multi-byte UTF-8 accepted");
  free (e);

  /* A UTF-8 byte order mark is allowed and is not text: several top-level keys still
   * line up, and line 1's columns count from the first character after it. */
  static const char bom_min[] = "\xef\xbb\xbfversion: v1\nname: t\ntarget: t:latest\nsources:\n  app: img:1\n";
  static const char bom_bad_value[] = "\xef\xbb\xbfversion: v9\nname: t\ntarget: t:1\nsources: {app: a}\n";
  static const char bom_bad_byte[] = "\xef\xbb\xbfname: \xff\n";
  static const char bom_late[] = "version: v1\n\xef\xbb\xbfname: t\ntarget: t:1\nsources: {app: a}\n";
  e = parse_err (bom_min, sizeof bom_min - 1, 0);
  tap_ok (e == NULL, "a byte order mark before several top-level keys is accepted%s%s", e ? ": " : "",
          e ? e : "");
  free (e);
  e = parse_err (bom_bad_value, sizeof bom_bad_value - 1, 0);
  TAP_CONTAINS (e, "mem.yaml:1:10: version: unsupported version", "after a byte order mark, line 1 columns skip it");
  free (e);
  e = parse_err (bom_bad_byte, sizeof bom_bad_byte - 1, 0);
  TAP_CONTAINS (e, "mem.yaml:1:7: not valid UTF-8", "a bad byte after a byte order mark: column without it");
  free (e);
  e = parse_err (bom_late, sizeof bom_late - 1, 0);
  tap_ok (e != NULL, "a byte order mark in the middle of the text is not skipped");
  free (e);
}

static void
test_limits (void)
{
  size_t big = ENCLAVER_MANIFEST_MAX_SIZE + 1, i, o;
  char *buf = malloc (big + 1);
  char *e;

  /* size bound: a comment-only document one byte too large */
  memset (buf, '#', big);
  buf[big] = '\0';
  {
    enclaver_error_t err = NULL;
    struct enclaver_manifest *m = enclaver_manifest_parse (buf, big, "big.yaml", NULL, &err);
    tap_ok (m == NULL && err && err->status == EFBIG, "input above the size bound is EFBIG");
    TAP_CONTAINS (err ? err->msg : NULL, "big.yaml: larger than", "size error names the file");
    enclaver_error_release (&err);
    enclaver_manifest_free (m);
  }
  free (buf);

  /* billion laughs: never expanded, refused at the first anchor */
  {
    static const char bomb[] = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                               "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                               "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                               "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";
    e = parse_err (bomb, sizeof bomb - 1, 0);
    TAP_CONTAINS (e, "mem.yaml:1:4: YAML anchors (&a) are not supported", "alias bomb refused");
    free (e);
  }

  /* deep nesting is bounded */
  buf = malloc (4000 * 2 + 16);
  o = 0;
  o += (size_t) sprintf (buf, "x: ");
  for (i = 0; i < 4000; i++)
    buf[o++] = '[';
  for (i = 0; i < 4000; i++)
    buf[o++] = ']';
  buf[o++] = '\n';
  e = parse_err (buf, o, 0);
  TAP_CONTAINS (e, "nesting deeper than", "deep nesting refused");
  free (e);
  free (buf);

  /* many errors are capped with a count of the rest */
  {
    size_t cap = 200 * 40, n = 0;
    char *many = malloc (cap);
    n += (size_t) sprintf (many, "version: v1\nname: t\ntarget: t\nsources: {app: a}\negress:\n  allow:\n");
    for (i = 0; i < 100; i++)
      n += (size_t) sprintf (many + n, "    - \"bad..%zu\"\n", i);
    e = parse_err (many, n, 0);
    TAP_CONTAINS (e, "egress.allow[0]: invalid pattern", "first of many errors shown");
    TAP_CONTAINS (e, "75 more errors not shown", "error list is bounded");
    free (e);
    free (many);
  }
}

static void
test_api (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  char *e, *json;

  /* parse with an explicit dir */
  {
    static const char txt[]
        = "version: v1\nname: t\ntarget: t\nsources: {app: \"oci:img\"}\nhooks: [h.lua, ../x.lua]\n";
    m = enclaver_manifest_parse (txt, sizeof txt - 1, "m.yaml", "/srv/app", &err);
  }
  tap_ok (m != NULL, "parse with dir");
  if (m)
    {
      TAP_STR_EQ (m->dir, "/srv/app", "dir kept");
      TAP_STR_EQ (m->source_app, "oci:/srv/app/img", "oci: path resolved against dir");
      TAP_INT_EQ (m->n_hooks, 2, "two hooks");
      TAP_STR_EQ (m->hooks[1], "/srv/x.lua", "../ resolved lexically");
      TAP_INT_EQ (m->cpu_count, 2, "cpu_count default");
      TAP_INT_EQ (m->memory_mb, 4096, "memory_mb default");
      TAP_INT_EQ (m->egress_proxy_port, 10000, "proxy_port default");
      TAP_INT_EQ (m->status_port, 17000, "status port default");
      TAP_INT_EQ (m->app_log_port, 17001, "app log port default");
      TAP_INT_EQ (m->http_egress_port, 17002, "egress vsock port default");
      TAP_INT_EQ (m->n_pipeline, 0, "no pipeline = default stack");
      TAP_INT_EQ (m->has_egress, 0, "no egress section");
    }
  enclaver_error_release (&err);
  enclaver_manifest_free (m);

  /* sources.app missing: error by default, fine with the flag, validate afterwards */
  {
    static const char noapp[] = "version: v1\nname: t\ntarget: t\n";
    e = parse_err (noapp, sizeof noapp - 1, 0);
    TAP_CONTAINS (e, "missing required key \"sources\"", "missing sources.app is an error");
    free (e);
    m = enclaver_manifest_parse_ex (noapp, sizeof noapp - 1, "n.yaml", NULL,
                                    ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
    tap_ok (m != NULL, "NO_APP_REQUIRED accepts a manifest without sources.app");
    if (m)
      {
        tap_ok (enclaver_manifest_validate (m, 0, &err) < 0, "validate without app fails");
        TAP_CONTAINS (err ? err->msg : NULL, "n.yaml", "validate error names the file");
        enclaver_error_release (&err);
        tap_ok (enclaver_manifest_validate (m, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err) == 0,
                "validate with the flag passes");
        tap_ok (enclaver_manifest_set_app (m, "", &err) < 0, "set_app rejects empty");
        enclaver_error_release (&err);
        tap_ok (enclaver_manifest_set_app (m, "a b", &err) < 0, "set_app rejects whitespace");
        enclaver_error_release (&err);
        tap_ok (enclaver_manifest_set_app (m, "registry.example/app@sha256:0123", &err) == 0,
                "set_app");
        TAP_STR_EQ (m->source_app, "registry.example/app@sha256:0123", "registry ref kept");
        tap_ok (enclaver_manifest_validate (m, 0, &err) == 0, "validate after set_app passes");
        enclaver_error_release (&err);
      }
    enclaver_manifest_free (m);
  }

  /* validate catches hand-made problems too */
  m = enclaver_manifest_parse (minimal, sizeof minimal - 1, "v.yaml", NULL, &err);
  if (m)
    {
      m->api_port = 9000;
      m->has_api = 1;
      m->kms_proxy_port = 9000;
      m->has_kms_proxy = 1;
      tap_ok (enclaver_manifest_validate (m, 0, &err) < 0, "validate finds a port collision");
      TAP_CONTAINS (err ? err->msg : NULL, "port 9000 is also used by", "collision message");
      enclaver_error_release (&err);
      m->api_port = 9001;
      m->cpu_count = 0;
      tap_ok (enclaver_manifest_validate (m, 0, &err) < 0, "validate checks cpu_count");
      TAP_CONTAINS (err ? err->msg : NULL, "defaults.cpu_count: 0 is out of range (must be 1..2147483647)",
                    "validate names both bounds");
      enclaver_error_release (&err);
    }
  else
    tap_ok (0, "minimal manifest parses");
  enclaver_manifest_free (m);

  /* to_json is stable: same input, same bytes; and ends with a newline */
  {
    char *j2;
    struct enclaver_manifest *m2;
    m = enclaver_manifest_parse (minimal, sizeof minimal - 1, "s.yaml", "/d", &err);
    m2 = enclaver_manifest_parse (minimal, sizeof minimal - 1, "s.yaml", "/d", &err);
    json = m ? enclaver_manifest_to_json (m, &err) : NULL;
    j2 = m2 ? enclaver_manifest_to_json (m2, &err) : NULL;
    TAP_STR_EQ (json, j2, "to_json is deterministic");
    tap_ok (json && json[strlen (json) - 1] == '\n', "JSON ends with a newline");
    tap_ok (json && strstr (json, "\"version\"") < strstr (json, "\"vsock_ports\""),
            "keys in schema order");
    free (json);
    free (j2);
    enclaver_manifest_free (m);
    enclaver_manifest_free (m2);
  }

  /* NULL handling */
  tap_ok (enclaver_manifest_load (NULL, &err) == NULL && err != NULL, "load(NULL) is an error");
  enclaver_error_release (&err);
  tap_ok (enclaver_manifest_load ("/nonexistent/enclaver.yaml", &err) == NULL && err
              && err->status == ENOENT,
          "missing file is ENOENT");
  TAP_CONTAINS (err ? err->msg : NULL, "/nonexistent/enclaver.yaml", "missing file named");
  enclaver_error_release (&err);
  enclaver_manifest_free (NULL);

  /* egress pattern checker on its own */
  tap_ok (enclaver_egress_pattern_check ("**.amazonaws.com", &err) == 0, "pattern ** ok");
  tap_ok (enclaver_egress_pattern_check ("2001:db8::/32", &err) == 0, "v6 cidr ok");
  tap_ok (enclaver_egress_pattern_check ("10.1.2.3", &err) == 0, "v4 ok");
  tap_ok (enclaver_egress_pattern_check ("", &err) < 0, "empty pattern rejected");
  enclaver_error_release (&err);
  tap_ok (enclaver_egress_pattern_check ("a.*b.com", &err) < 0, "partial wildcard rejected");
  enclaver_error_release (&err);
  tap_ok (enclaver_egress_pattern_check ("1.2.3.4/-1", &err) < 0, "negative prefix rejected");
  enclaver_error_release (&err);
}

/* Keys accepted with no effect yet (issue #12): the status API, the warnings, and the
 * table of docs/manifest.md against the schema. */
static void
test_no_effect (const char *top)
{
  static const char txt[] = "version: v1\nname: t\ntarget: t\nsources: {app: a}\n"
                            "spire:\n  server_addr: s:8081\n  ca_cert: /ca.pem\n  trust_domain: example.org\n  svid_dir: /run/svid\n";
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  char *path = NULL, *doc, *p;
  size_t rows = 0;
  bool in_table = false;

  TAP_INT_EQ (enclaver_manifest_key_status ("spire"), ENCLAVER_MANIFEST_KEY_NO_EFFECT,
              "spire has no effect yet");
  TAP_INT_EQ (enclaver_manifest_key_status ("spire.trust_domain"),
              ENCLAVER_MANIFEST_KEY_NO_EFFECT, "nor its keys");
  TAP_INT_EQ (enclaver_manifest_key_status ("kms_proxy.listen_port"),
              ENCLAVER_MANIFEST_KEY_IMPLEMENTED, "the KMS proxy is implemented");
  TAP_INT_EQ (enclaver_manifest_key_status ("sources.supervisor"), ENCLAVER_MANIFEST_KEY_NO_EFFECT,
              "0.5.0 spelling known");
  TAP_INT_EQ (enclaver_manifest_key_status ("ingress[3].tls.cert_file"),
              ENCLAVER_MANIFEST_KEY_IMPLEMENTED, "list index in a key path");
  TAP_INT_EQ (enclaver_manifest_key_status ("spire.svid_dir"),
              ENCLAVER_MANIFEST_KEY_NO_EFFECT, "below a no-effect key");
  TAP_INT_EQ (enclaver_manifest_key_status ("sources.app"), ENCLAVER_MANIFEST_KEY_IMPLEMENTED,
              "sources.app implemented");
  TAP_INT_EQ (enclaver_manifest_key_status ("pipeline[].options"),
              ENCLAVER_MANIFEST_KEY_IMPLEMENTED, "pipeline options implemented");
  TAP_INT_EQ (enclaver_manifest_key_status ("vsock_ports.status_port"),
              ENCLAVER_MANIFEST_KEY_IMPLEMENTED, "status port implemented");
  TAP_INT_EQ (enclaver_manifest_key_status ("aux_api"), ENCLAVER_MANIFEST_KEY_UNKNOWN,
              "aux_api unknown");
  TAP_INT_EQ (enclaver_manifest_key_status ("sources.app.x"), ENCLAVER_MANIFEST_KEY_UNKNOWN,
              "below a scalar: unknown");
  TAP_INT_EQ (enclaver_manifest_key_status ("name[0]"), ENCLAVER_MANIFEST_KEY_UNKNOWN,
              "index of a scalar: unknown");
  TAP_INT_EQ (enclaver_manifest_key_status (""), ENCLAVER_MANIFEST_KEY_UNKNOWN, "empty path");

  m = enclaver_manifest_parse (txt, sizeof txt - 1, "w.yaml", "/d", &err);
  tap_ok (m != NULL, "manifest with spire parses");
  if (m)
    {
      const struct enclaver_manifest_key *k = enclaver_manifest_unimplemented (m, 0);
      char *msg = enclaver_manifest_unimplemented_message (m, k);
      tap_ok (k != NULL && enclaver_manifest_unimplemented (m, 1) == NULL, "one key without effect");
      TAP_STR_EQ (msg, "w.yaml:5:1: spire: accepted but has no effect yet in this version "
                       "(enclaver has no SPIFFE workload API)", "the warning");
      free (msg);
    }
  tap_ok (enclaver_manifest_unimplemented (NULL, 0) == NULL, "unimplemented (NULL) is NULL");
  enclaver_manifest_free (m);
  enclaver_error_release (&err);

  if (asprintf (&path, "%s/docs/manifest.md", top) < 0)
    abort ();
  doc = read_all (path);
  tap_ok (doc != NULL, "read %s", path);
  for (p = doc; p && *p;)
    {
      char *nl = strchr (p, '\n');
      if (nl)
        *nl = '\0';
      if (strncmp (p, "### ", 4) == 0)
        in_table = strcmp (p, "### Status of each key") == 0;
      else if (in_table && strncmp (p, "| `", 3) == 0)
        {
          char *key = p + 3, *end = strchr (key, '`');
          const char *st = end ? end + 1 : "";
          int want = -2;
          if (end)
            *end = '\0';
          if (strcmp (st, " | implemented |") == 0)
            want = ENCLAVER_MANIFEST_KEY_IMPLEMENTED;
          else if (strcmp (st, " | accepted, no effect yet |") == 0)
            want = ENCLAVER_MANIFEST_KEY_NO_EFFECT;
          TAP_INT_EQ (enclaver_manifest_key_status (key), want, "docs/manifest.md: %s", key);
          rows++;
        }
      p = nl ? nl + 1 : NULL;
    }
  tap_ok (rows >= 45, "docs/manifest.md lists the status of every key (%zu rows)", rows);
  free (doc);
  free (path);
}

static void
test_stdin (const char *cases_dir)
{
  char *path = NULL;
  int fd, saved = dup (0);
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  char *cwd = getcwd (NULL, 0);

  if (asprintf (&path, "%s/001-minimal.yaml", cases_dir) < 0)
    abort ();
  fd = open (path, O_RDONLY);
  if (fd < 0 || dup2 (fd, 0) < 0)
    {
      tap_ok (0, "open %s for stdin", path);
      free (path);
      free (cwd);
      return;
    }
  close (fd);
  clearerr (stdin);
  m = enclaver_manifest_load ("-", &err);
  tap_ok (m != NULL, "load(\"-\") reads stdin");
  if (m)
    {
      TAP_STR_EQ (m->path, "-", "path is '-'");
      TAP_STR_EQ (m->dir, cwd, "stdin resolves against the current directory");
      TAP_STR_EQ (m->name, "hello", "content from stdin");
    }
  enclaver_manifest_free (m);
  enclaver_error_release (&err);

  /* an invalid manifest on stdin is named <stdin> */
  fd = open ("/dev/null", O_RDONLY);
  dup2 (fd, 0);
  close (fd);
  clearerr (stdin);
  m = enclaver_manifest_load ("-", &err);
  tap_ok (m == NULL, "empty stdin rejected");
  TAP_CONTAINS (err ? err->msg : NULL, "<stdin>: empty manifest", "stdin errors say <stdin>");
  enclaver_error_release (&err);

  dup2 (saved, 0);
  close (saved);
  free (path);
  free (cwd);
}

int
main (void)
{
  const char *top = getenv ("top_srcdir");
  char *cases = NULL;
  size_t n;

  if (top == NULL)
    top = ABS_TOP_SRCDIR;
  if (asprintf (&cases, "%s/tests/manifest/cases", top) < 0)
    abort ();
  n = run_cases (cases);
  tap_ok (n >= 40, "at least 40 data-driven cases (found %zu)", n);
  test_bytes ();
  test_limits ();
  test_api ();
  test_no_effect (top);
  test_stdin (cases);
  free (cases);
  return tap_done ();
}
