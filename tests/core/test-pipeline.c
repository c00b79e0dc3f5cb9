/* Tests for the pipeline runner: order, failures, fini, hooks, outputs, options. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <enclaver/pipeline.h>
#include "tests/tap.h"
#include "tests/core/testlib.h"

static char events[4096];
static char tracefile[600];
static char *tmpdir;

static int
hook_rec (enclaver_ctx_t *ctx, const char *event, void *ud, enclaver_error_t *err)
{
  (void) ud;
  (void) err;
  strcat (events, event);
  if (strcmp (event, "error") == 0)
    {
      strcat (events, "=");
      strcat (events, enclaver_ctx_failure (ctx) ? enclaver_ctx_failure (ctx) : "(none)");
    }
  strcat (events, ";");
  return 0;
}

static int
hook_veto (enclaver_ctx_t *ctx, const char *event, void *ud, enclaver_error_t *err)
{
  (void) ctx;
  (void) ud;
  return enclaver_make_error (err, EPERM, "vetoed %s", event);
}

/* A binding's stage factory: records the entry, then appends rec-a in its place. */
static char factory_seen[256];

static int
factory_rec (enclaver_pipeline_t *p, const struct enclaver_pipeline_entry *e, void *userdata,
             enclaver_error_t *err)
{
  snprintf (factory_seen, sizeof factory_seen, "%s:%s=%s:%s", e->path, e->n_options ? e->options[0].key : "",
            e->n_options ? e->options[0].value : "", (const char *) userdata);
  return enclaver_pipeline_append_name (p, "rec-a", NULL, 0, err);
}

static const struct enclaver_hook_ops rec_hook_ops = { "rec", factory_rec };

static const char *const all_events[] = { "before:*", "after:*", "done", "error", NULL };

/* Build a pipeline of rec-* stages; opts[i] is "key=value,key=value" for stage i (or NULL). */
static int
run3 (enclaver_loader_t *l, const char *const names[], const char *const optstr[], int veto_before_b,
      enclaver_error_t *err)
{
  enclaver_pipeline_t *p = enclaver_pipeline_new (l);
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  int i, r = 0;

  unlink (tracefile);
  events[0] = '\0';
  for (i = 0; all_events[i]; i++)
    enclaver_ctx_hook_add (ctx, all_events[i], hook_rec, NULL, NULL, err);
  if (veto_before_b)
    enclaver_ctx_hook_add (ctx, "before:rec-b", hook_veto, NULL, NULL, err);
  for (i = 0; names[i] && r == 0; i++)
    {
      struct enclaver_kv kv[8];
      size_t n = 0;
      char buf[1024], *save = NULL, *tok;
      kv[n].key = "trace";
      kv[n++].value = tracefile;
      if (optstr && optstr[i])
        {
          snprintf (buf, sizeof buf, "%s", optstr[i]);
          for (tok = strtok_r (buf, ",", &save); tok && n < 8; tok = strtok_r (NULL, ",", &save))
            {
              char *eq = strchr (tok, '=');
              *eq = '\0';
              kv[n].key = tok;
              kv[n++].value = eq + 1;
            }
        }
      r = enclaver_pipeline_append_name (p, names[i], kv, n, err);
    }
  if (r == 0)
    r = enclaver_pipeline_run (p, ctx, err);
  enclaver_pipeline_free (p);
  enclaver_ctx_free (ctx);
  return r;
}

/* A stage defined in the test itself, to check the option table rules. */
struct req_config
{
  char *where;
  int flag;
};
static const struct enclaver_stage_option req_options[] = {
  { ENCLAVER_OPT_STRING, "where", NULL, ENCLAVER_OPT_REQUIRED, offsetof (struct req_config, where), "a place" },
  { ENCLAVER_OPT_BOOL, "flag", NULL, 0, offsetof (struct req_config, flag), "a flag" },
  { 0, NULL, NULL, 0, 0, NULL },
};
static char seen_where[256];
static int
req_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct req_config *c = enclaver_stage_get_config (st);
  (void) ctx;
  (void) err;
  snprintf (seen_where, sizeof seen_where, "%s/%d/%s", c->where, c->flag, enclaver_stage_name (st));
  return 0;
}
static const struct enclaver_stage_desc req_desc = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = sizeof (struct enclaver_stage_desc), .name = "req", .options = req_options,
  .config_size = sizeof (struct req_config), .run = req_run,
};

/* check() (ABI 1.1): every stage's check runs before the first run; a 1.0-sized
 * descriptor's check member is never read. */
static char chk_trace[256];
static int chk_fail;
static int
chk_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  (void) ctx;
  strcat (chk_trace, "check:");
  strcat (chk_trace, enclaver_stage_name (st));
  strcat (chk_trace, ";");
  if (chk_fail && strcmp (enclaver_stage_name (st), "chk-b") == 0)
    return enclaver_make_error (err, ENOENT, "asked to fail in check");
  return 0;
}
static int
chk_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  (void) ctx;
  (void) err;
  strcat (chk_trace, "run:");
  strcat (chk_trace, enclaver_stage_name (st));
  strcat (chk_trace, ";");
  return 0;
}
static const struct enclaver_stage_desc chk_a = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = sizeof (struct enclaver_stage_desc), .name = "chk-a", .run = chk_run, .check = chk_check,
};
static const struct enclaver_stage_desc chk_b = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = sizeof (struct enclaver_stage_desc), .name = "chk-b", .run = chk_run, .check = chk_check,
};
/* As a stage built against ABI 1.0 declares itself: check lies beyond struct_size. */
static const struct enclaver_stage_desc chk_old = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = 0, .struct_size = ENCLAVER_STAGE_DESC_MIN_SIZE,
  .name = "chk-old", .run = chk_run, .check = chk_check,
};

static int
run_chk (enclaver_error_t *err)
{
  enclaver_pipeline_t *p = enclaver_pipeline_new (NULL);
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  int r;
  chk_trace[0] = '\0';
  r = enclaver_pipeline_append (p, &chk_a, NULL, 0, err);
  if (r == 0)
    r = enclaver_pipeline_append (p, &chk_old, NULL, 0, err);
  if (r == 0)
    r = enclaver_pipeline_append (p, &chk_b, NULL, 0, err);
  if (r == 0)
    r = enclaver_pipeline_run (p, ctx, err);
  enclaver_pipeline_free (p);
  enclaver_ctx_free (ctx);
  return r;
}

static int
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir (d)))
    if (de->d_name[0] != '.')
      n++;
  if (d)
    closedir (d);
  return n;
}

int
main (void)
{
  enclaver_loader_t *l = enclaver_loader_new ();
  enclaver_error_t err = NULL;
  static const char *const abc[] = { "rec-a", "rec-b", "rec-c", NULL };
  char out_path[600], opt[800];
  struct stat st;

  tmpdir = make_tmpdir ();
  snprintf (tracefile, sizeof tracefile, "%s/trace", tmpdir);
  enclaver_loader_add_dir (l, plugin_dir ());

  /* 1. Everything succeeds. */
  TAP_INT_EQ (run3 (l, abc, NULL, 0, &err), 0, "three stages run");
  TAP_STR_EQ (slurp (tracefile),
              "rec-a:0:init\nrec-b:1:init\nrec-c:2:init\n"
              "rec-a:0:run\nrec-b:1:run\nrec-c:2:run\n"
              "rec-c:2:fini\nrec-b:1:fini\nrec-a:0:fini\n",
              "init all, run in order, fini in reverse");
  TAP_STR_EQ (events,
              "before:rec-a;after:rec-a;before:rec-b;after:rec-b;before:rec-c;after:rec-c;done;",
              "hooks fire in order and done at the end");

  /* 2. A stage fails in run(). */
  {
    static const char *const o[] = { NULL, "fail_run=true", NULL };
    TAP_INT_EQ (run3 (l, abc, o, 0, &err), -1, "failing run fails the pipeline");
    TAP_STR_EQ (err ? err->msg : NULL, "stage rec-b: asked to fail in run", "error names the stage");
    enclaver_error_release (&err);
    TAP_STR_EQ (slurp (tracefile),
                "rec-a:0:init\nrec-b:1:init\nrec-c:2:init\n"
                "rec-a:0:run\nrec-b:1:run\n"
                "rec-c:2:fini\nrec-b:1:fini\nrec-a:0:fini\n",
                "later stages do not run; every initialised stage is finalised");
    TAP_STR_EQ (events, "before:rec-a;after:rec-a;before:rec-b;error=stage rec-b: asked to fail in run;",
                "no after: for the failed stage, error hook sees the message, no done");
  }

  /* 3. A stage fails in init(). */
  {
    static const char *const o[] = { NULL, "fail_init=yes", NULL };
    TAP_INT_EQ (run3 (l, abc, o, 0, &err), -1, "failing init fails the pipeline");
    TAP_STR_EQ (err ? err->msg : NULL, "stage rec-b: init: asked to fail in init", "init error names the stage");
    enclaver_error_release (&err);
    TAP_STR_EQ (slurp (tracefile), "rec-a:0:init\nrec-b:1:init\nrec-a:0:fini\n",
                "nothing runs; only the stage whose init succeeded is finalised");
  }

  /* 4. A before: hook vetoes a stage. */
  TAP_INT_EQ (run3 (l, abc, NULL, 1, &err), -1, "a failing before: hook stops the build");
  TAP_STR_EQ (err ? err->msg : NULL, "hook before:rec-b: vetoed before:rec-b", "hook error message");
  enclaver_error_release (&err);
  TAP_STR_EQ (slurp (tracefile),
              "rec-a:0:init\nrec-b:1:init\nrec-c:2:init\nrec-a:0:run\n"
              "rec-c:2:fini\nrec-b:1:fini\nrec-a:0:fini\n",
              "vetoed stage never runs");

  /* 5. Outputs are committed only when everything succeeded. */
  snprintf (out_path, sizeof out_path, "%s/out.eif", tmpdir);
  snprintf (opt, sizeof opt, "output=%s", out_path);
  {
    const char *o[] = { opt, "fail_run=1", NULL };
    TAP_INT_EQ (run3 (l, abc, o, 0, &err), -1, "pipeline with output fails later");
    enclaver_error_release (&err);
    tap_ok (stat (out_path, &st) < 0 && errno == ENOENT, "no output after a failed build");
    TAP_INT_EQ (count_entries (tmpdir), 1, "no temporary file left behind (only the trace)");
  }
  {
    const char *o[] = { opt, NULL, NULL };
    TAP_INT_EQ (run3 (l, abc, o, 0, &err), 0, "pipeline with output succeeds");
    TAP_STR_EQ (slurp (out_path), "partial", "output renamed into place");
    TAP_INT_EQ (count_entries (tmpdir), 2, "only trace and output in the directory");
    unlink (out_path);
  }

  /* 6. Option validation. */
  {
    static const char *const o[] = { "trase=x", NULL, NULL };
    TAP_INT_EQ (run3 (l, abc, o, 0, &err), -1, "unknown option refused");
    TAP_STR_EQ (err ? err->msg : NULL, "stage 'rec-a': unknown option 'trase' (did you mean 'trace'?)",
                "unknown option: did-you-mean");
    enclaver_error_release (&err);
    TAP_STR_EQ (slurp (tracefile), "", "nothing ran");
  }
  {
    static const char *const o[] = { "zzzzzz=1", NULL, NULL };
    run3 (l, abc, o, 0, &err);
    TAP_CONTAINS (err ? err->msg : NULL, "unknown option 'zzzzzz'", "unknown option without a close match");
    enclaver_error_release (&err);
  }
  {
    static const char *const o[] = { NULL, NULL, "fail_run=maybe" };
    run3 (l, abc, o, 0, &err);
    TAP_STR_EQ (err ? err->msg : NULL, "stage 'rec-c': option 'fail_run': 'maybe' is not a boolean (true/false)",
                "bad bool value");
    enclaver_error_release (&err);
  }
  {
    static const char *const o[] = { "count=7,size=2M", NULL, NULL };
    static const char *const a_only[] = { "rec-a", NULL };
    enclaver_pipeline_t *p = enclaver_pipeline_new (l);
    enclaver_ctx_t *ctx = enclaver_ctx_new ();
    struct enclaver_kv kv[2] = { { "count", "7" }, { "size", "2M" } };
    (void) o;
    (void) a_only;
    enclaver_pipeline_append_name (p, "rec-a", kv, 2, &err);
    TAP_INT_EQ (enclaver_pipeline_run (p, ctx, &err), 0, "typed options parsed");
    TAP_STR_EQ (enclaver_ctx_get_param (ctx, "result-json"), "{\"stage\":\"rec-a\",\"count\":7,\"size\":2097152}",
                "int and size options reach the stage");
    enclaver_pipeline_free (p);
    enclaver_ctx_free (ctx);
    p = enclaver_pipeline_new (l);
    ctx = enclaver_ctx_new ();
    enclaver_pipeline_append_name (p, "rec-a", NULL, 0, &err);
    enclaver_pipeline_run (p, ctx, &err);
    TAP_STR_EQ (enclaver_ctx_get_param (ctx, "result-json"), "{\"stage\":\"rec-a\",\"count\":3,\"size\":1024}",
                "defaults applied");
    enclaver_pipeline_free (p);
    enclaver_ctx_free (ctx);
  }
  {
    enclaver_pipeline_t *p = enclaver_pipeline_new (l);
    struct enclaver_kv kv[2] = { { "flag", "on" }, { "flag", "off" } };
    TAP_INT_EQ (enclaver_pipeline_append (p, &req_desc, NULL, 0, &err), -1, "missing required option");
    TAP_STR_EQ (err ? err->msg : NULL, "stage 'req': required option 'where' is missing (a place)",
                "required option message");
    enclaver_error_release (&err);
    TAP_INT_EQ (enclaver_pipeline_append (p, &req_desc, kv, 2, &err), -1, "option given twice");
    TAP_CONTAINS (err ? err->msg : NULL, "option 'flag' given twice", "duplicate option message");
    enclaver_error_release (&err);
    kv[0].key = "where";
    kv[0].value = "here";
    TAP_INT_EQ (enclaver_pipeline_append (p, &req_desc, kv, 2, &err), 0, "required option given");
    {
      enclaver_ctx_t *ctx = enclaver_ctx_new ();
      TAP_INT_EQ (enclaver_pipeline_run (p, ctx, &err), 0, "in-process stage runs");
      TAP_STR_EQ (seen_where, "here/0/req", "config block filled");
      enclaver_ctx_free (ctx);
    }
    enclaver_pipeline_free (p);
  }

  /* 6a. overrides (enclaver build --stage-opt) and instance names. */
  {
    enclaver_pipeline_t *p = enclaver_pipeline_new (l);
    enclaver_ctx_t *ctx = enclaver_ctx_new ();
    struct enclaver_kv ov[3] = { { "req.flag", "on" }, { "req.where", "there" }, { "nosuch.x", "1" } };
    struct enclaver_kv kv[1] = { { "where", "here" } };
    struct enclaver_kv bad[1] = { { "noddot", "1" } };
    TAP_INT_EQ (enclaver_pipeline_set_overrides (p, bad, 1, &err), -1, "an override without STAGE. is refused");
    TAP_CONTAINS (err ? err->msg : NULL, "'noddot': expected STAGE.OPTION=VALUE", "... saying what is expected");
    enclaver_error_release (&err);
    TAP_INT_EQ (enclaver_pipeline_set_overrides (p, ov, 3, &err), 0, "overrides accepted");
    TAP_INT_EQ (enclaver_pipeline_append (p, &req_desc, kv, 1, &err), 0, "stage with overrides appended");
    TAP_INT_EQ (enclaver_pipeline_run (p, ctx, &err), 0, "... and runs");
    TAP_STR_EQ (seen_where, "there/1/req", "an override replaces the entry's value and adds a key");
    TAP_STR_EQ (enclaver_pipeline_unused_override (p), "nosuch.x", "the override no stage took is reported");
    enclaver_pipeline_free (p);
    enclaver_ctx_free (ctx);

    p = enclaver_pipeline_new (l);
    ctx = enclaver_ctx_new ();
    events[0] = '\0';
    enclaver_ctx_hook_add (ctx, "before:req", hook_rec, NULL, NULL, &err);
    enclaver_ctx_hook_add (ctx, "after:req:two", hook_rec, NULL, NULL, &err);
    TAP_INT_EQ (enclaver_pipeline_append_as (p, &req_desc, "req:Two", kv, 1, &err), -1,
                "an instance name with upper case is refused");
    TAP_CONTAINS (err ? err->msg : NULL, "invalid instance name 'req:Two'", "... naming it");
    enclaver_error_release (&err);
    TAP_INT_EQ (enclaver_pipeline_append_as (p, &req_desc, "req:two", kv, 1, &err), 0, "instance name req:two");
    TAP_STR_EQ (enclaver_pipeline_stage_name (p, 0), "req:two", "the pipeline knows the stage by it");
    TAP_INT_EQ (enclaver_pipeline_run (p, ctx, &err), 0, "named instance runs");
    TAP_STR_EQ (seen_where, "here/0/req:two", "enclaver_stage_name() is the instance name");
    TAP_STR_EQ (events, "before:req:two;after:req:two;",
                "its events are before:/after:req:two; a before:req hook matches the instance too");
    enclaver_pipeline_free (p);
    enclaver_ctx_free (ctx);
  }

  /* 6b. check() before any run; a 1.0 descriptor's is not called. */
  chk_fail = 0;
  TAP_INT_EQ (run_chk (&err), 0, "pipeline with check() stages runs");
  TAP_STR_EQ (chk_trace, "check:chk-a;check:chk-b;run:chk-a;run:chk-old;run:chk-b;",
              "every check before the first run; none for a 1.0-sized descriptor");
  chk_fail = 1;
  TAP_INT_EQ (run_chk (&err), -1, "a failing check fails the run");
  TAP_STR_EQ (err ? err->msg : NULL, "stage chk-b: asked to fail in check", "check error names the stage");
  TAP_STR_EQ (chk_trace, "check:chk-a;check:chk-b;", "no stage runs after a failed check");
  enclaver_error_release (&err);

  /* 7. Pipelines from a manifest. */
  {
    struct enclaver_manifest m;
    struct enclaver_pipeline_entry e[3];
    struct enclaver_kv kv[1] = { { "count", "11" } };
    enclaver_pipeline_t *p = enclaver_pipeline_new (l);
    enclaver_ctx_t *ctx = enclaver_ctx_new ();
    memset (&m, 0, sizeof m);
    memset (e, 0, sizeof e);
    m.path = "enclaver.yaml";
    e[0].kind = ENCLAVER_PIPELINE_BUILTIN;
    e[0].name = "rec-b";
    e[0].line = 3;
    e[1].kind = ENCLAVER_PIPELINE_PLUGIN;
    e[1].path = plugin_path ("rec-c");
    e[1].options = kv;
    e[1].n_options = 1;
    e[1].line = 4;
    m.pipeline = e;
    m.n_pipeline = 2;
    TAP_INT_EQ (enclaver_pipeline_from_manifest (p, &m, &err), 0, "manifest pipeline built");
    TAP_INT_EQ (enclaver_pipeline_count (p), 2, "two entries");
    TAP_STR_EQ (enclaver_pipeline_stage_name (p, 1), "rec-c", "plugin entry by path");
    TAP_INT_EQ (enclaver_pipeline_run (p, ctx, &err), 0, "manifest pipeline runs");
    TAP_STR_EQ (enclaver_ctx_get_param (ctx, "trace"), "rec-b,rec-c", "in manifest order");
    TAP_CONTAINS (enclaver_ctx_get_param (ctx, "result-json"), "\"count\":11", "options from the manifest");
    enclaver_pipeline_free (p);
    enclaver_ctx_free (ctx);

    p = enclaver_pipeline_new (l);
    e[1].path = "/nonexistent/plugin.so";
    TAP_INT_EQ (enclaver_pipeline_from_manifest (p, &m, &err), -1, "missing plugin file");
    TAP_CONTAINS (err ? err->msg : NULL, "enclaver.yaml:4: pipeline[1]: plugin /nonexistent/plugin.so",
                  "error names the manifest line and the entry");
    enclaver_error_release (&err);
    enclaver_pipeline_free (p);

    /* "- lua:" entries go to the registered binding, and only to it. */
    p = enclaver_pipeline_new (l);
    e[1].kind = ENCLAVER_PIPELINE_LUA;
    e[1].path = "/m/stage.lua";
    TAP_INT_EQ (enclaver_pipeline_from_manifest (p, &m, &err), -1, "Lua entry without a binding refused");
    TAP_STR_EQ (err ? err->msg : NULL,
                "enclaver.yaml:4: pipeline[1]: Lua stage /m/stage.lua: no Lua binding is registered in this program",
                "error names the entry and the missing binding");
    enclaver_error_release (&err);
    enclaver_pipeline_free (p);
    p = enclaver_pipeline_new (l);
    enclaver_pipeline_set_hooks (p, &rec_hook_ops, (void *) "ud");
    TAP_INT_EQ (enclaver_pipeline_from_manifest (p, &m, &err), 0, "Lua entry built by the binding's factory");
    TAP_STR_EQ (factory_seen, "/m/stage.lua:count=11:ud", "factory gets the entry's path, options and userdata");
    TAP_INT_EQ (enclaver_pipeline_count (p), 2, "factory's stage appended");
    TAP_STR_EQ (enclaver_pipeline_stage_name (p, 1), "rec-a", "in the entry's place");
    enclaver_pipeline_free (p);

    p = enclaver_pipeline_new (l);
    m.n_pipeline = 0;
    TAP_INT_EQ (enclaver_pipeline_from_manifest (p, &m, &err), -1, "default stack needs the built-in stages");
    TAP_CONTAINS (err ? err->msg : NULL, "stage 'fetch' not found", "default stack starts with fetch");
    enclaver_error_release (&err);
    enclaver_pipeline_free (p);
  }

  unlink (tracefile);
  rmdir (tmpdir);
  enclaver_loader_free (l);
  return tap_done ();
}
