/* Tests for the Lua binding: the ctx API (tests/lua/scripts/api.lua), events in
 * order through a real pipeline, Lua stages, errors with tracebacks, sandbox
 * escapes, limits, and every shipped example. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/lua.h>
#include <enclaver/tree.h>
#include "tests/tap.h"

static char *tmpdir;
static char sentinel[600]; /* a host file no script may create */
static int case_no;

/* ------------------------------------------------------------------ files */

static void
write_text (const char *dir, const char *name, const char *text)
{
  char p[1200];
  FILE *f;
  snprintf (p, sizeof p, "%s/%s", dir, name);
  f = fopen (p, "w");
  if (f == NULL)
    {
      perror (p);
      exit (99);
    }
  fputs (text, f);
  fclose (f);
}

static char *
slurp_file (const char *path)
{
  static char buf[1 << 20];
  FILE *f = fopen (path, "r");
  size_t n = 0;
  buf[0] = '\0';
  if (f)
    {
      n = fread (buf, 1, sizeof buf - 1, f);
      buf[n] = '\0';
      fclose (f);
    }
  return buf;
}

static void
copy_file (const char *src, const char *dir, const char *name)
{
  write_text (dir, name, slurp_file (src));
}

static int
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
      n++;
  closedir (d);
  return n;
}

static const char *
srcdir (void)
{
  const char *s = getenv ("top_srcdir");
  return s ? s : ABS_TOP_SRCDIR;
}

/* ------------------------------------------------------------------ stderr capture */

static int saved_fd = -1;
static char capture_path[700];

static void
capture_begin (void)
{
  int fd;
  fflush (stderr);
  snprintf (capture_path, sizeof capture_path, "%s/stderr.txt", tmpdir);
  fd = open (capture_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  saved_fd = dup (2);
  dup2 (fd, 2);
  close (fd);
}

static const char *
capture_end (void)
{
  fflush (stderr);
  dup2 (saved_fd, 2);
  close (saved_fd);
  return slurp_file (capture_path);
}

/* ------------------------------------------------------------------ test stages */

static char **
strv (const char *a, ...)
{
  char **v = calloc (16, sizeof *v);
  va_list ap;
  int n = 0;
  const char *s = a;
  va_start (ap, a);
  while (s && n < 15)
    {
      v[n++] = strdup (s);
      s = va_arg (ap, const char *);
    }
  va_end (ap);
  return v;
}

static int
t_fetch (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct enclaver_image *img = calloc (1, sizeof *img);
  char digest[80];
  (void) st;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE fetch");
  snprintf (digest, sizeof digest, "sha256:%064d", 0);
  memset (digest + 7, 'a', 64);
  img->source = strdup ("oci:/nowhere");
  img->name = strdup ("docker.io/library/test:1");
  img->digest = strdup (digest);
  img->platform = strdup ("linux/amd64");
  img->entrypoint = strv ("/app/server", NULL);
  img->n_entrypoint = 1;
  img->has_entrypoint = 1;
  img->cmd = strv ("--port", "8000", NULL);
  img->n_cmd = 2;
  img->has_cmd = 1;
  img->env = strv ("PATH=/usr/bin:/bin", "LANG=C", NULL);
  img->n_env = 2;
  img->working_dir = strdup ("/app");
  img->user = strdup ("app");
  img->labels = strv ("org.example=1", NULL);
  img->n_labels = 1;
  return enclaver_ctx_set (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE, img, enclaver_image_free_void, err);
}

static int
t_flatten (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  static const struct
  {
    const char *path, *data;
    unsigned mode;
  } files[] = {
    { "/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644 },
    { "/etc/ssl/certs/ca-certificates.crt", "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n", 0644 },
    { "/usr/share/doc/pkg/README", "docs docs docs\n", 0644 },
    { "/usr/share/doc/pkg/copyright", "(c)\n", 0644 },
    { "/usr/share/man/man1/app.1", ".TH APP 1\n", 0644 },
    { "/usr/share/locale/fr/LC_MESSAGES/app.mo", "fr", 0644 },
    { "/usr/share/locale/en/LC_MESSAGES/app.mo", "en", 0644 },
    { "/usr/share/locale/locale.alias", "alias\n", 0644 },
    { "/usr/bin/app", "#!/bin/sh\n", 0755 },
    { "/app/server", "\177ELF", 0755 },
  };
  struct enclaver_tree_attr a = { .mode = 0644 };
  enclaver_tree_t *t = enclaver_tree_new (err);
  size_t i;
  (void) st;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE flatten");
  if (t == NULL)
    return -1;
  for (i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      a.mode = files[i].mode;
      if (enclaver_tree_add_file (t, files[i].path, &a, files[i].data, strlen (files[i].data),
                                  ENCLAVER_TREE_MKPARENTS, err) < 0)
        {
          enclaver_tree_free (t);
          return -1;
        }
    }
  a.mode = 0777;
  if (enclaver_tree_add_symlink (t, "/bin", &a, "usr/bin", 0, err) < 0)
    {
      enclaver_tree_free (t);
      return -1;
    }
  return enclaver_ctx_set (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE, t, enclaver_tree_free_void, err);
}

static int
t_inject (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  char buf[4096] = "";
  size_t i;
  (void) st;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE inject");
  /* Record what the ramdisk would get, for the tests to look at. */
  for (i = 0; img && i < img->n_env; i++)
    {
      strncat (buf, img->env[i], sizeof buf - strlen (buf) - 2);
      strcat (buf, ";");
    }
  if (enclaver_ctx_set_param (ctx, "test-env", buf, err) < 0)
    return -1;
  buf[0] = '\0';
  for (i = 0; img && img->has_cmd && i < img->n_cmd; i++)
    {
      strncat (buf, img->cmd[i], sizeof buf - strlen (buf) - 2);
      strcat (buf, ";");
    }
  if (enclaver_ctx_set_param (ctx, "test-cmd", buf, err) < 0)
    return -1;
  return enclaver_ctx_set (ctx, ENCLAVER_SLOT_RAMDISKS, "test.ramdisks", strdup ("ramdisks"), free, err);
}

static void
test_measurements (struct enclaver_eif_measurements *m)
{
  enclaver_error_t e = NULL;
  memset (m, 0, sizeof *m);
  enclaver_pcr_of_buffer ("kernel", 6, m->pcr0, &e);
  enclaver_pcr_of_buffer ("bootstrap", 9, m->pcr1, &e);
  enclaver_pcr_of_buffer ("customer", 8, m->pcr2, &e);
  enclaver_error_release (&e);
}

static int
t_measure (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct enclaver_eif_measurements *m = malloc (sizeof *m);
  (void) st;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE measure");
  test_measurements (m);
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE, m, free, err) < 0)
    return -1;
  return enclaver_ctx_hook_fire (ctx, "measured", err);
}

static int
t_emit (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  char final[1200];
  const char *tmp;
  int fd;
  (void) st;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE emit-eif");
  snprintf (final, sizeof final, "%s/test.eif", enclaver_ctx_get_param (ctx, "output-dir"));
  fd = enclaver_ctx_output_open (ctx, final, &tmp, err);
  if (fd < 0)
    return -1;
  if (write (fd, "EIF", 3) != 3)
    {
      close (fd);
      return enclaver_make_error (err, EIO, "write");
    }
  close (fd);
  return enclaver_ctx_add_artifact (ctx, "eif", final, err);
}

static int
t_boom (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  (void) st, (void) ctx;
  enclaver_log (ENCLAVER_LOG_INFO, "test", "STAGE boom");
  return enclaver_make_error (err, EIO, "asked to fail");
}

#define TSTAGE(id, nm, fn)                                                                                    \
  static const struct enclaver_stage_desc id = { .abi_major = ENCLAVER_STAGE_ABI_MAJOR,                       \
                                                 .abi_minor = ENCLAVER_STAGE_ABI_MINOR,                       \
                                                 .struct_size = sizeof (struct enclaver_stage_desc),          \
                                                 .name = nm,                                                  \
                                                 .run = fn }
TSTAGE (d_fetch, "fetch", t_fetch);
TSTAGE (d_flatten, "flatten", t_flatten);
TSTAGE (d_inject, "inject", t_inject);
TSTAGE (d_measure, "measure", t_measure);
TSTAGE (d_emit, "emit-eif", t_emit);
TSTAGE (d_boom, "boom", t_boom);

static const struct enclaver_stage_desc *
stage_by_name (const char *n)
{
  static const struct enclaver_stage_desc *all[] = { &d_fetch, &d_flatten, &d_inject, &d_measure, &d_emit, &d_boom };
  size_t i;
  for (i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp (all[i]->name, n) == 0)
      return all[i];
  return NULL;
}

/* ------------------------------------------------------------------ one build */

static const char *const full_stack[] = { "fetch", "flatten", "inject", "measure", "emit-eif", NULL };

struct build
{
  const char *hook;             /* text of hook.lua, or NULL */
  const char *hook_file;        /* or a file to copy as hook.lua */
  const char *const *stages;    /* NULL = full_stack; "lua" = the Lua stage (stage.lua) */
  const char *stage_script;     /* text of stage.lua */
  const char *stage_file;       /* or a file to copy as stage.lua */
  const struct enclaver_kv *stage_opts;
  size_t n_stage_opts;
  const char *params[8];        /* "key=value" */
  int keep_ctx;
};

struct result
{
  int rc;
  char err[16384];
  const char *log;
  char dir[700];
  char out[760];
  int n_out;
  enclaver_ctx_t *ctx; /* when keep_ctx */
};

static char *
new_case_dir (void)
{
  static char d[700];
  snprintf (d, sizeof d, "%s/case%d", tmpdir, ++case_no);
  mkdir (d, 0755);
  return d;
}

static void
run_build (const struct build *b, const char *dir, struct result *r)
{
  char yaml[2048], mpath[800];
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  enclaver_pipeline_t *p = enclaver_pipeline_new (NULL);
  const char *const *names = b->stages ? b->stages : full_stack;
  size_t i;
  int rc = 0;

  memset (r, 0, sizeof *r);
  snprintf (r->dir, sizeof r->dir, "%s", dir);
  snprintf (r->out, sizeof r->out, "%s/out", dir);
  mkdir (r->out, 0755);
  if (b->hook)
    write_text (dir, "hook.lua", b->hook);
  if (b->hook_file)
    copy_file (b->hook_file, dir, "hook.lua");
  if (b->stage_script)
    write_text (dir, "stage.lua", b->stage_script);
  if (b->stage_file)
    copy_file (b->stage_file, dir, "stage.lua");
  snprintf (yaml, sizeof yaml,
            "version: v1\nname: lua-test\ntarget: \"lua-test:latest\"\nsources:\n  app: \"docker.io/library/test:1\"\n"
            "reproducible:\n  source_date_epoch: 1700000000\n%s",
            b->hook || b->hook_file ? "hooks:\n  - hook.lua\n" : "");
  write_text (dir, "enclaver.yaml", yaml);
  snprintf (mpath, sizeof mpath, "%s/enclaver.yaml", dir);

  capture_begin ();
  m = enclaver_manifest_load (mpath, &err);
  if (m == NULL)
    rc = -1;
  enclaver_ctx_set_param (ctx, "output-dir", r->out, &err);
  enclaver_ctx_set_param (ctx, "custom", "value", &err);
  for (i = 0; i < 8 && b->params[i]; i++)
    {
      char kv[600], *eq;
      snprintf (kv, sizeof kv, "%s", b->params[i]);
      eq = strchr (kv, '=');
      *eq = '\0';
      enclaver_ctx_set_param (ctx, kv, eq + 1, &err);
    }
  for (i = 0; rc == 0 && names[i]; i++)
    {
      if (strcmp (names[i], "lua") == 0)
        {
          char sp[800];
          snprintf (sp, sizeof sp, "%s/stage.lua", dir);
          rc = enclaver_lua_pipeline_append (p, sp, b->stage_opts, b->n_stage_opts, &err);
        }
      else
        rc = enclaver_pipeline_append (p, stage_by_name (names[i]), NULL, 0, &err);
    }
  if (rc == 0)
    rc = enclaver_lua_attach_hooks (ctx, m, NULL, &err);
  if (m && enclaver_ctx_set (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest", m,
                             (void (*) (void *)) enclaver_manifest_free, rc == 0 ? &err : NULL) < 0)
    rc = -1;
  if (rc == 0)
    rc = enclaver_pipeline_run (p, ctx, &err);
  r->rc = rc;
  if (err)
    snprintf (r->err, sizeof r->err, "%s", err->msg);
  enclaver_error_release (&err);
  enclaver_pipeline_free (p);
  if (b->keep_ctx)
    r->ctx = ctx;
  else
    enclaver_ctx_free (ctx);
  r->log = capture_end ();
  r->n_out = count_entries (r->out);
}

/* One TAP line per "CHECK ok ..." / "CHECK FAIL ..." line a script printed; returns
 * how many, and whether "CHECK finished" came. */
static int
tap_checks (const char *log, const char *script, int *finished)
{
  const char *line;
  int n = 0;
  *finished = 0;
  for (line = log; (line = strstr (line, "CHECK ")) != NULL; line++)
    {
      const char *end = strchr (line, '\n');
      int len = end ? (int) (end - line) : (int) strlen (line);
      if (strncmp (line, "CHECK finished", 14) == 0)
        {
          *finished = 1;
          continue;
        }
      n++;
      tap_ok (strncmp (line, "CHECK ok ", 9) == 0, "%s: %.*s", script, len - 6, line + 6);
    }
  return n;
}

/* ------------------------------------------------------------------ tests */

static void
test_api (void)
{
  char path[1200];
  struct build b = { 0 };
  struct result r, r2;
  const char *rnd1, *rnd2;
  char *dir = new_case_dir ();
  int n = 0, finished = 0;
  enclaver_tree_t *t;
  char *motd = NULL;
  char first[64] = "";

  static char script[1200];
  snprintf (script, sizeof script, "%s/tests/lua/scripts/api.lua", srcdir ());
  b.hook_file = script;
  b.keep_ctx = 1;
  snprintf (path, sizeof path, "%s/tests/lua/data/data.txt", srcdir ());
  copy_file (path, dir, "data.txt");
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "api.lua: the build succeeds");
  if (r.rc != 0)
    tap_diag ("error: %s", r.err);
  n = tap_checks (r.log, "api.lua", &finished);
  rnd1 = strstr (r.log, "RANDOM ");
  if (rnd1)
    sscanf (rnd1, "RANDOM %63s", first);
  tap_ok (n > 150, "api.lua ran %d checks", n);
  tap_ok (finished, "api.lua reached the done event");
  TAP_CONTAINS (r.log, "[lua:hook.lua] log from a hook", "ctx.log goes to the build log, named by the script");
  TAP_CONTAINS (r.log, "[lua:hook.lua] CHECK", "print goes to the build log");
  /* What the script changed reached the build. */
  TAP_STR_EQ (enclaver_ctx_get_param (r.ctx, "test-env"), "PATH=/usr/bin:/bin;FOO=baz;",
              "image env edits are what inject sees");
  TAP_STR_EQ (enclaver_ctx_get_param (r.ctx, "test-cmd"), "--port;9000;", "image cmd edit is what inject sees");
  t = enclaver_ctx_get (r.ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  tap_ok (t && enclaver_tree_read_file (t, "/etc/motd", 100, &motd, NULL, NULL) == 0 && strcmp (motd, "replaced\n") == 0,
          "rootfs edits are in the tree");
  free (motd);
  tap_ok (t && enclaver_tree_lookup (t, "/usr/share/doc", 0, NULL) == NULL, "rootfs removal is in the tree");
  enclaver_ctx_free (r.ctx);
  snprintf (path, sizeof path, "%s/api.txt", r.out);
  TAP_STR_EQ (slurp_file (path), "written by api.lua\n", "write_output committed the file at the end");
  TAP_INT_EQ (r.n_out, 2, "out/ holds api.txt and test.eif, no temporary file");

  /* Deterministic math.random: same script, same numbers. */
  snprintf (path, sizeof path, "%s/tests/lua/data/data.txt", srcdir ());
  {
    b.keep_ctx = 0;
    dir = new_case_dir ();
    copy_file (path, dir, "data.txt");
    run_build (&b, dir, &r2);
    rnd2 = strstr (r2.log, "RANDOM ");
    tap_ok (rnd1 && rnd2 && strncmp (rnd2 + 7, first, strlen (first)) == 0 && *first,
            "math.random gives the same value in two builds (%s)", first);
  }
}

/* enclaver.attestation.verify (lua/attest.c) from a hook, over the real documents. */
static void
test_attestation (void)
{
  static const char *const files[] = { "doc-1.cbor", "doc-2.cbor", "aws-nitro-root-g1.pem", "docs.json" };
  static char script[1200];
  struct build b = { 0 };
  struct result r;
  char *dir = new_case_dir ();
  int n = 0, finished = 0;

  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      char src[1200], dst[1200];
      FILE *in, *out;
      size_t k;
      char buf[8192];
      snprintf (src, sizeof src, "%s/tests/attest/vectors/%s", srcdir (), files[i]);
      snprintf (dst, sizeof dst, "%s/%s", dir, files[i]);
      in = fopen (src, "rb");
      out = fopen (dst, "wb");
      if (in == NULL || out == NULL)
        {
          perror (src);
          exit (99);
        }
      while ((k = fread (buf, 1, sizeof buf, in)) > 0)
        fwrite (buf, 1, k, out);
      fclose (in);
      fclose (out);
    }
  snprintf (script, sizeof script, "%s/tests/lua/scripts/attest.lua", srcdir ());
  b.hook_file = script;
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "attest.lua: the build succeeds");
  if (r.rc != 0)
    tap_diag ("error: %s", r.err);
  n = tap_checks (r.log, "attest.lua", &finished);
  tap_ok (n >= 17, "attest.lua ran %d checks", n);
  tap_ok (finished, "attest.lua reached its end");
}

static void
test_events_order (void)
{
  static const char hook[] =
    "local events = { 'before:fetch', 'after:fetch', 'before:flatten', 'after:flatten', 'before:inject',\n"
    "  'after:inject', 'before:measure', 'measured', 'after:measure', 'before:emit-eif', 'after:emit-eif',\n"
    "  'before:boom', 'after:boom', 'done', 'error' }\n"
    "for _, e in ipairs(events) do\n"
    "  enclaver.on(e, function(ctx, ev) print('EV ' .. ev .. (ctx.error and (' ' .. ctx.error) or '')) end)\n"
    "end\n"
    "enclaver.on('before:*', function(ctx, ev) print('WILD ' .. ev) end)\n"
    "enclaver.on('done', function() print('EV done-second') end)\n";
  static const char *const failing[] = { "fetch", "boom", "flatten", NULL };
  struct build b = { .hook = hook };
  struct result r;
  char seq[4096] = "";
  const char *l;

  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "events: build succeeds");
  for (l = r.log; (l = strstr (l, "] ")) != NULL; l++)
    if (strncmp (l + 2, "EV ", 3) == 0 || strncmp (l + 2, "STAGE ", 6) == 0 || strncmp (l + 2, "WILD ", 5) == 0)
      {
        const char *end = strchr (l, '\n');
        strncat (seq, l + 2, (size_t) (end - l - 2));
        strcat (seq, "|");
      }
  TAP_STR_EQ (seq,
              "EV before:fetch|WILD before:fetch|STAGE fetch|EV after:fetch|EV before:flatten|WILD before:flatten|"
              "STAGE flatten|EV after:flatten|EV before:inject|WILD before:inject|STAGE inject|EV after:inject|"
              "EV before:measure|WILD before:measure|STAGE measure|EV measured|EV after:measure|"
              "EV before:emit-eif|WILD before:emit-eif|STAGE emit-eif|EV after:emit-eif|EV done|EV done-second|",
              "events fire in pipeline order, handlers in subscription order");

  b.stages = failing;
  run_build (&b, new_case_dir (), &r);
  seq[0] = '\0';
  for (l = r.log; (l = strstr (l, "] ")) != NULL; l++)
    if (strncmp (l + 2, "EV ", 3) == 0 || strncmp (l + 2, "STAGE ", 6) == 0)
      {
        const char *end = strchr (l, '\n');
        strncat (seq, l + 2, (size_t) (end - l - 2));
        strcat (seq, "|");
      }
  TAP_INT_EQ (r.rc, -1, "events: failing stage fails the build");
  TAP_STR_EQ (seq, "EV before:fetch|STAGE fetch|EV after:fetch|EV before:boom|STAGE boom|EV error stage boom: asked to fail|",
              "the error event fires with ctx.error, nothing after the failed stage");
}

/* One failing hook script: the build stops, the message matches, nothing is written. */
static void
expect_fail (const char *name, const char *hook, const char *event_stage_param, const char *want)
{
  struct build b = { .hook = hook };
  struct result r;
  char *dir = new_case_dir ();

  b.params[0] = event_stage_param;
  unlink (sentinel);
  run_build (&b, dir, &r);
  tap_ok (r.rc < 0 && strstr (r.err, want) != NULL, "%s: fails with '%s'", name, want);
  if (!(r.rc < 0 && strstr (r.err, want) != NULL))
    tap_diag ("rc=%d err=%s", r.rc, r.err);
  tap_ok (r.n_out == 0 && access (sentinel, F_OK) != 0, "%s: nothing written", name);
  tap_ok (strstr (r.log, "STAGE emit-eif") == NULL, "%s: the build stopped", name);
}

static void
test_sandbox (void)
{
  char hook[4096];
  char link[800];

  /* Every escape runs in after:flatten after a write_output that must be discarded. */
#define ESC(body) \
  "enclaver.on('after:fetch', function() enclaver.write_output('early.txt', 'x') end)\n" \
  "enclaver.on('after:flatten', function(ctx)\n" body "\nend)\n"

  snprintf (hook, sizeof hook, ESC ("local f = io.open('%s', 'w') f:write('x') f:close()"), sentinel);
  expect_fail ("io.open", hook, NULL, "global 'io'");
  snprintf (hook, sizeof hook, ESC ("os.execute('touch %s')"), sentinel);
  expect_fail ("os.execute", hook, NULL, "global 'os'");
  expect_fail ("require", ESC ("local os = require('os') os.exit(1)"), NULL, "global 'require'");
  expect_fail ("string.dump", ESC ("load(string.dump(function() end))()"), NULL, "field 'dump'");
  expect_fail ("load of bytecode", ESC ("assert(load('\\27Lua\\84\\0\\25\\147\\r\\n\\26\\n', 'x', 'b'))()"), NULL,
               "attempt to load a binary chunk");
  expect_fail ("debug library", ESC ("debug.sethook()"), NULL, "global 'debug'");
  expect_fail ("dofile", ESC ("dofile('/etc/passwd')"), NULL, "global 'dofile'");
  expect_fail ("getmetatable on ctx", ESC ("getmetatable(ctx).__index = function() end"), NULL,
               "attempt to index a string value");
  expect_fail ("setmetatable on rootfs", ESC ("setmetatable(ctx.rootfs, {})"), NULL, "table expected, got enclaver.rootfs");
  expect_fail ("rawset on manifest view then use", ESC ("rawset(ctx.manifest, 'name', 'x') ctx.manifest.name = 'y'"),
               NULL, "read-only");
  snprintf (hook, sizeof hook, ESC ("ctx.rootfs:write('../../../../../../..%s', 'x')"), sentinel);
  expect_fail ("rootfs write traversal", hook, NULL, "rootfs:write");
  expect_fail ("rootfs symlink escape", ESC ("ctx.rootfs:symlink('../../../../../etc', '/hostetc')\n"
                                             "print(ctx.rootfs:read('/hostetc/hostname'))"),
               NULL, "rootfs:read");
  expect_fail ("read_file traversal", ESC ("print(enclaver.read_file('../../../../etc/passwd'))"), NULL, "'..'");
  expect_fail ("read_file absolute", ESC ("print(enclaver.read_file('/etc/passwd'))"), NULL,
               "outside the manifest directory");
  /* A symlink next to the manifest pointing outside it. */
  snprintf (link, sizeof link, "%s/case%d", tmpdir, case_no + 1);
  mkdir (link, 0755);
  snprintf (link, sizeof link, "%s/case%d/host-passwd", tmpdir, case_no + 1);
  if (symlink ("/etc/passwd", link) != 0)
    tap_diag ("symlink: %s", strerror (errno));
  expect_fail ("read_file through a symlink", ESC ("print(enclaver.read_file('host-passwd'))"), NULL,
               "outside the manifest directory");
  snprintf (hook, sizeof hook, ESC ("enclaver.write_output('%s', 'x')"), sentinel);
  expect_fail ("write_output absolute path", hook, NULL, "not a plain file name");
  expect_fail ("write_output traversal", ESC ("enclaver.write_output('../../x', 'x')"), NULL, "not a plain file name");
  expect_fail ("infinite loop", ESC ("while true do end"), "lua-instructions=2000000", "instruction budget exceeded");
  expect_fail ("infinite loop under pcall",
               ESC ("while true do pcall(function() while true do end end) end"), "lua-instructions=2000000",
               "instruction budget exceeded");
  expect_fail ("infinite loop, error swallowed by xpcall",
               ESC ("for i = 1, 10 do xpcall(function() while true do end end, function() return 'x' end) end\n"
                    "print('survived')"),
               "lua-instructions=2000000", "instruction budget exceeded");
  expect_fail ("memory bomb", ESC ("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 65536) .. i end"),
               "lua-memory=8M", "memory limit exceeded");
  expect_fail ("memory bomb under pcall",
               ESC ("for i = 1, 100 do pcall(string.rep, 'x', 1e9) end print('survived')"), "lua-memory=8M",
               "memory limit exceeded");
  expect_fail ("deep recursion", ESC ("local function f(n) return 1 + f(n + 1) end f(1)"), NULL, "stack overflow");
  expect_fail ("deep C recursion", ESC ("local function f(s) return s:gsub('.', f) end f('xx')"), NULL,
               "stack overflow");
  expect_fail ("error object is a table", ESC ("error({ code = 1 })"), NULL, "(error object is a table value)");
  expect_fail ("error object with __tostring",
               ESC ("error(setmetatable({}, { __tostring = function() while true do end end }))"),
               "lua-instructions=2000000", "(error object is a table value)");
  expect_fail ("ctx.fail swallowed by pcall", ESC ("pcall(ctx.fail, 'policy says no') print('survived')"), NULL,
               "policy says no");
  expect_fail ("collectgarbage stop", ESC ("collectgarbage('stop')"), NULL, "invalid option 'stop'");
  expect_fail ("coroutines are absent", ESC ("coroutine.wrap(function() end)()"), NULL, "global 'coroutine'");
  expect_fail ("subscribe at run time", ESC ("enclaver.on('done', print)"), NULL, "while the script loads");
#undef ESC
}

static void
test_errors (void)
{
  struct build b = { 0 };
  struct result r;

  b.hook = "-- line 1\nlocal function inner()\n  error('boom in inner')\nend\n"
           "enclaver.on('after:flatten', function(ctx)\n  inner()\nend)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook after:flatten: hook.lua:3: boom in inner", "error names event, script and line");
  TAP_CONTAINS (r.err, "stack traceback:", "error carries a traceback");
  TAP_CONTAINS (r.err, "hook.lua:6: in function", "traceback names the calling line");

  b.hook = "enclaver.on('after:fetch', function(ctx)\n  ctx.fail('PCR0 does not match')\nend)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook.lua:2: PCR0 does not match", "ctx.fail: script:line: message");
  TAP_INT_EQ (r.n_out, 0, "ctx.fail: nothing written");

  b.hook = "enclaver.on('after:fetch', function(ctx)\n  local x = nil\n  return x.field\nend)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook.lua:3: attempt to index a nil value (local 'x')", "runtime error with line");

  b.hook = "enclaver.on('after:fetch', function(ctx)\n  ctx.rootfs:list()\nend)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook.lua:2: attempt to index a nil value (field 'rootfs')", "rootfs is nil before flatten");

  b.hook = "enclaver.on('after:fetch', function(ctx)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook.lua:2: 'end' expected", "syntax error names the line");
  tap_ok (strstr (r.log, "STAGE fetch") == NULL, "syntax error stops the build before any stage");

  b.hook = "\033LuaT binary";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "precompiled (binary) Lua chunks are not accepted", "binary script file refused");

  b.hook = "#!/usr/bin/env lua\nenclaver.on('after:fetch', function() error('x') end)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "hook.lua:2: x", "shebang line skipped, line numbers kept");

  b.hook = "enclaver.on('sometime', print)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "unknown event 'sometime'", "bad event name at load time");

  b.hook = "print('nothing')\n";
  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "a script without subscriptions is allowed");
  TAP_CONTAINS (r.log, "subscribes to no event", "... with a warning");

  b.hook = "enclaver.on('done', function() error('done fails') end)\n";
  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "a failing done hook only warns");
  TAP_CONTAINS (r.log, "done fails", "... and is logged");

  b.hook = "enclaver.on('after:fetch', function() end)\n";
  b.params[0] = "lua-memory=lots";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "lua-memory", "bad lua-memory parameter is an error");
  b.params[0] = "lua-instructions=5";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "below the minimum", "too small lua-instructions is an error");
  b.params[0] = NULL;
}

static void
test_lua_stage (void)
{
  static const char *const stack[] = { "fetch", "flatten", "lua", "inject", NULL };
  static const struct enclaver_kv opts[] = { { (char *) "greeting", (char *) "hello" },
                                             { (char *) "n", (char *) "3" } };
  struct build b = { .stages = stack, .stage_opts = opts, .n_stage_opts = 2 };
  struct result r;
  char path[1200];

  b.hook = "enclaver.on('before:lua', function() print('EV before:lua') end)\n"
           "enclaver.on('after:lua', function() print('EV after:lua') end)\n"
           "enclaver.on('after:lua:stage', function(ctx, ev) print('EV ' .. ev) end)\n";
  b.stage_script = "function run(ctx, options)\n"
                   "  ctx.rootfs:write('/greeting', options.greeting .. ' x' .. options.n)\n"
                   "  enclaver.write_output('stage.txt', options.greeting)\n"
                   "  print('RUN ' .. ctx.image.name)\n"
                   "end\n";
  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "Lua stage: build succeeds");
  TAP_CONTAINS (r.log, "EV before:lua", "Lua stage: before:lua fires");
  TAP_CONTAINS (r.log, "RUN docker.io/library/test:1", "Lua stage: run(ctx) sees the image");
  TAP_CONTAINS (r.log, "EV after:lua", "Lua stage: after:lua fires");
  TAP_CONTAINS (r.log, "EV after:lua:stage", "Lua stage: its own event after:lua:stage fires too");
  snprintf (path, sizeof path, "%s/stage.txt", r.out);
  TAP_STR_EQ (slurp_file (path), "hello", "Lua stage: options reach run() and write_output works");

  b.stage_script = "return { run = function(ctx, options) error('stage says no') end }\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "stage lua:stage: stage.lua:1: stage says no",
                "Lua stage: returned table form, error with its name (lua:stage) and the line");
  tap_ok (strstr (r.log, "STAGE inject") == NULL, "Lua stage: failure stops the build");

  b.stage_script = "local x = 1\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "must define a function run(ctx, options)", "Lua stage without run()");

  b.stage_script = "function run(\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "stage.lua:2:", "Lua stage syntax error at init");
  tap_ok (strstr (r.log, "STAGE fetch") == NULL, "Lua stage syntax error stops the build before any stage runs");

  b.stage_script = "enclaver.on('done', print)\nfunction run() end\n";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "a Lua stage cannot subscribe", "Lua stage cannot use enclaver.on");

  b.stage_script = "function run(ctx) while true do end end\n";
  b.params[0] = "lua-instructions=1000000";
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "instruction budget exceeded", "Lua stage: instruction budget applies");
  b.params[0] = NULL;

  {
    enclaver_error_t err = NULL;
    enclaver_pipeline_t *p = enclaver_pipeline_new (NULL);
    TAP_INT_EQ (enclaver_lua_pipeline_append (p, "", NULL, 0, &err), -1, "Lua stage: empty script path refused");
    enclaver_error_release (&err);
    TAP_STR_EQ (enclaver_lua_stage_desc ()->name, "lua", "Lua stage descriptor name");
    enclaver_pipeline_free (p);
  }
}

/* ------------------------------------------------------------------ examples */

static void
example_path (char *buf, size_t size, const char *name)
{
  snprintf (buf, size, "%s/lua/examples/%s", srcdir (), name);
}

static void
test_examples (void)
{
  char ex[1200], path[1200], pcrs[2048], hex0[ENCLAVER_PCR_HEX_SIZE], hex1[ENCLAVER_PCR_HEX_SIZE],
    hex2[ENCLAVER_PCR_HEX_SIZE];
  struct enclaver_eif_measurements m;
  struct build b = { 0 };
  struct result r;
  char *dir;
  enclaver_tree_t *t;
  char *data = NULL;

  test_measurements (&m);
  enclaver_pcr_to_hex (m.pcr0, hex0);
  enclaver_pcr_to_hex (m.pcr1, hex1);
  enclaver_pcr_to_hex (m.pcr2, hex2);

  /* pin-pcrs: match, mismatch, missing file, custom name. */
  example_path (ex, sizeof ex, "pin-pcrs.lua");
  b.hook_file = ex;
  dir = new_case_dir ();
  snprintf (pcrs, sizeof pcrs, "{\"Measurements\":{\"HashAlgorithm\":\"Sha384 { ... }\",\"PCR0\":\"%s\",\"PCR1\":\"%s\","
            "\"PCR2\":\"%s\"}}\n", hex0, hex1, hex2);
  write_text (dir, "pcrs.json", pcrs);
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "pin-pcrs: matching PCRs pass");
  TAP_CONTAINS (r.log, "pin-pcrs: 3 PCRs match pcrs.json", "pin-pcrs: says what it checked");

  dir = new_case_dir ();
  snprintf (pcrs, sizeof pcrs, "{\"PCR0\":\"%s\",\"PCR2\":\"%096d\"}\n", hex0, 0);
  write_text (dir, "prod.json", pcrs);
  b.params[0] = "pin-pcrs-file=prod.json";
  run_build (&b, dir, &r);
  TAP_CONTAINS (r.err, "pin-pcrs: measurements differ from prod.json: PCR2 pinned 000", "pin-pcrs: mismatch fails");
  TAP_INT_EQ (r.n_out, 0, "pin-pcrs: mismatch leaves no EIF");
  b.params[0] = NULL;
  run_build (&b, new_case_dir (), &r);
  TAP_CONTAINS (r.err, "pin-pcrs: cannot read the pinned PCRs", "pin-pcrs: missing file fails");

  /* ci-outputs */
  example_path (ex, sizeof ex, "ci-outputs.lua");
  b.hook_file = ex;
  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "ci-outputs: build succeeds");
  snprintf (path, sizeof path, "%s/pcrs.json", r.out);
  TAP_CONTAINS (slurp_file (path), hex0, "ci-outputs: pcrs.json has PCR0");
  TAP_CONTAINS (slurp_file (path), "\"Measurements\"", "ci-outputs: pcrs.json has the build's shape");
  snprintf (path, sizeof path, "%s/github-output.txt", r.out);
  snprintf (pcrs, sizeof pcrs, "pcr0=%s\npcr1=%s\npcr2=%s\nimage-digest=sha256:", hex0, hex1, hex2);
  TAP_CONTAINS (slurp_file (path), pcrs, "ci-outputs: KEY=VALUE lines");
  /* The pcrs.json it writes is what pin-pcrs accepts. */
  dir = new_case_dir ();
  snprintf (ex, sizeof ex, "%s/pcrs.json", r.out);
  copy_file (ex, dir, "pcrs.json");
  example_path (ex, sizeof ex, "pin-pcrs.lua");
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "ci-outputs' pcrs.json pins the same build with pin-pcrs");

  /* add-ca-bundle */
  example_path (ex, sizeof ex, "add-ca-bundle.lua");
  b.hook_file = ex;
  b.keep_ctx = 1;
  dir = new_case_dir ();
  write_text (dir, "ca-bundle.pem", "-----BEGIN CERTIFICATE-----\nEXTRA\n-----END CERTIFICATE-----\n");
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "add-ca-bundle: build succeeds");
  t = r.ctx ? enclaver_ctx_get (r.ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE) : NULL;
  tap_ok (t && enclaver_tree_read_file (t, "/etc/ssl/certs/ca-certificates.crt", 4096, &data, NULL, NULL) == 0
            && strstr (data, "SYSTEM") && strstr (data, "EXTRA"),
          "add-ca-bundle: bundle appended to the system bundle");
  free (data);
  data = NULL;
  TAP_CONTAINS (r.ctx ? enclaver_ctx_get_param (r.ctx, "test-env") : "", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                "add-ca-bundle: SSL_CERT_FILE set in the image env");
  enclaver_ctx_free (r.ctx);
  dir = new_case_dir ();
  write_text (dir, "ca-bundle.pem", "not a certificate\n");
  run_build (&b, dir, &r);
  TAP_CONTAINS (r.err, "holds no PEM certificate", "add-ca-bundle: rejects a file without certificates");
  enclaver_ctx_free (r.ctx);

  /* strip-docs */
  example_path (ex, sizeof ex, "strip-docs.lua");
  b.hook_file = ex;
  b.params[0] = "strip-docs-keep-locales=en";
  run_build (&b, new_case_dir (), &r);
  TAP_INT_EQ (r.rc, 0, "strip-docs: build succeeds");
  t = r.ctx ? enclaver_ctx_get (r.ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE) : NULL;
  tap_ok (t && !enclaver_tree_lookup (t, "/usr/share/doc", 0, NULL) && !enclaver_tree_lookup (t, "/usr/share/man", 0, NULL)
            && !enclaver_tree_lookup (t, "/usr/share/locale/fr", 0, NULL),
          "strip-docs: docs, man pages and other locales removed");
  tap_ok (t && enclaver_tree_lookup (t, "/usr/share/locale/en/LC_MESSAGES/app.mo", 0, NULL)
            && enclaver_tree_lookup (t, "/usr/share/locale/locale.alias", 0, NULL)
            && enclaver_tree_lookup (t, "/usr/bin/app", 0, NULL),
          "strip-docs: kept locales, locale.alias and binaries stay");
  TAP_CONTAINS (r.log, "strip-docs: removed", "strip-docs: reports what it removed");
  enclaver_ctx_free (r.ctx);
  b.params[0] = NULL;

  /* set-env */
  example_path (ex, sizeof ex, "set-env.lua");
  b.hook_file = ex;
  dir = new_case_dir ();
  write_text (dir, "env.json", "{\"env\":{\"RUST_LOG\":\"info\",\"LANG\":null},\"cmd\":[\"--port\",\"9000\"]}\n");
  run_build (&b, dir, &r);
  TAP_INT_EQ (r.rc, 0, "set-env: build succeeds");
  TAP_STR_EQ (r.ctx ? enclaver_ctx_get_param (r.ctx, "test-env") : "", "PATH=/usr/bin:/bin;RUST_LOG=info;",
              "set-env: variable added, null removes");
  TAP_STR_EQ (r.ctx ? enclaver_ctx_get_param (r.ctx, "test-cmd") : "", "--port;9000;", "set-env: cmd replaced");
  enclaver_ctx_free (r.ctx);
  dir = new_case_dir ();
  write_text (dir, "env.json", "{\"A\":1}\n");
  run_build (&b, dir, &r);
  TAP_CONTAINS (r.err, "env.A must be a string or null", "set-env: rejects a number");
  enclaver_ctx_free (r.ctx);
  b.keep_ctx = 0;
  b.hook_file = NULL;

  /* file-manifest (a Lua stage) */
  {
    static const char *const stack[] = { "fetch", "flatten", "lua", "inject", NULL };
    static const struct enclaver_kv o_json[] = { { (char *) "output", (char *) "files.json" } };
    static const struct enclaver_kv o_text[] = { { (char *) "format", (char *) "text" } };
    static const struct enclaver_kv o_bad[] = { { (char *) "format", (char *) "xml" } };
    char line[400];

    example_path (ex, sizeof ex, "file-manifest.lua");
    b.stages = stack;
    b.stage_file = ex;
    b.stage_opts = o_json;
    b.n_stage_opts = 1;
    run_build (&b, new_case_dir (), &r);
    TAP_INT_EQ (r.rc, 0, "file-manifest: build succeeds");
    snprintf (path, sizeof path, "%s/files.json", r.out);
    TAP_CONTAINS (slurp_file (path), "\"path\": \"/etc/passwd\"", "file-manifest: lists /etc/passwd");
    TAP_CONTAINS (slurp_file (path), "\"sha256\": \"037d604c1c026b9f", "file-manifest: with its sha256");
    TAP_CONTAINS (slurp_file (path), "\"target\": \"usr/bin\"", "file-manifest: symlink targets");
    TAP_CONTAINS (slurp_file (path), "\"count\": 27", "file-manifest: counts every entry");
    b.stage_opts = o_text;
    run_build (&b, new_case_dir (), &r);
    snprintf (path, sizeof path, "%s/file-manifest.txt", r.out);
    snprintf (line, sizeof line, "%s  26  0644  /etc/passwd\n",
              "037d604c1c026b9f815eaeda9bad221290c9f6354587d3ca87f54c4b7466fad4");
    TAP_CONTAINS (slurp_file (path), line, "file-manifest: text format");
    b.stage_opts = o_bad;
    run_build (&b, new_case_dir (), &r);
    TAP_CONTAINS (r.err, "option format must be json or text", "file-manifest: bad option fails");
  }
}

/* The manifest's `- lua:` entries through enclaver_pipeline_from_manifest(). */
static void
test_manifest_pipeline (void)
{
  char *dir = new_case_dir ();
  char mpath[800], out[800];
  enclaver_error_t err = NULL;
  struct enclaver_manifest *m;
  enclaver_pipeline_t *p = enclaver_pipeline_new (NULL);
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  const char *log;
  int rc = -1;

  write_text (dir, "enclaver.yaml",
              "version: v1\nname: lua-test\ntarget: \"t:1\"\nsources:\n  app: \"docker.io/library/test:1\"\n"
              "pipeline:\n  - lua: one.lua\n    options:\n      word: first\n  - lua: sub/two.lua\n");
  write_text (dir, "one.lua", "function run(ctx, o) enclaver.write_output('one.txt', o.word) end\n");
  snprintf (out, sizeof out, "%s/sub", dir);
  mkdir (out, 0755);
  write_text (out, "two.lua", "function run(ctx, o)\n  error('second ' .. tostring(next(o)))\nend\n");
  snprintf (mpath, sizeof mpath, "%s/enclaver.yaml", dir);
  snprintf (out, sizeof out, "%s/out", dir);
  mkdir (out, 0755);
  enclaver_pipeline_set_hooks (p, enclaver_lua_hook_ops (), NULL);
  capture_begin ();
  m = enclaver_manifest_load (mpath, &err);
  if (m && enclaver_pipeline_from_manifest (p, m, &err) == 0)
    {
      enclaver_ctx_set_param (ctx, "output-dir", out, &err);
      enclaver_ctx_set (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest", m,
                        (void (*) (void *)) enclaver_manifest_free, &err);
      m = NULL;
      rc = enclaver_pipeline_run (p, ctx, &err);
    }
  log = capture_end ();
  (void) log;
  TAP_INT_EQ (enclaver_pipeline_count (p), 2, "manifest pipeline: two Lua stages");
  TAP_STR_EQ (enclaver_pipeline_stage_name (p, 0), "lua:one", "manifest pipeline: stage named after its script");
  TAP_STR_EQ (enclaver_pipeline_stage_name (p, 1), "lua:two", "manifest pipeline: the second one has its own name");
  TAP_INT_EQ (rc, -1, "manifest pipeline: second stage fails the build");
  TAP_CONTAINS (err ? err->msg : "", "sub/two.lua:2: second nil", "manifest pipeline: error names sub/two.lua:2");
  TAP_CONTAINS (err ? err->msg : "", "stage lua:two: ", "manifest pipeline: ... and the stage lua:two");
  TAP_INT_EQ (count_entries (out), 0, "manifest pipeline: the first stage's output was discarded");
  enclaver_error_release (&err);
  enclaver_manifest_free (m);
  enclaver_pipeline_free (p);
  enclaver_ctx_free (ctx);
}

static int
rm_cb (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st, (void) flag, (void) ftw;
  return remove (path);
}

int
main (void)
{
  const char *t = getenv ("TMPDIR");
  char tmpl[512];

  snprintf (tmpl, sizeof tmpl, "%s/enclaver-lua-XXXXXX", t ? t : "/tmp");
  tmpdir = mkdtemp (tmpl);
  if (tmpdir == NULL)
    return 99;
  snprintf (sentinel, sizeof sentinel, "%s/pwned", tmpdir);
  enclaver_log_set_level (ENCLAVER_LOG_INFO);

  test_api ();
  test_attestation ();
  test_events_order ();
  test_errors ();
  test_sandbox ();
  test_lua_stage ();
  test_examples ();
  test_manifest_pipeline ();
  nftw (tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return tap_done ();
}
