/* Tests for the stage plugin loader, with deliberately broken plugins. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <enclaver/loader.h>
#include "tests/tap.h"
#include "tests/core/testlib.h"

/* Load path into a fresh loader; return the error message (static) or NULL. */
static const char *
load_error (const char *path)
{
  static char msg[2048];
  enclaver_loader_t *l = enclaver_loader_new ();
  const struct enclaver_stage_desc *d = NULL;
  enclaver_error_t err = NULL;
  int r = enclaver_loader_load_file (l, path, &d, &err);
  enclaver_loader_free (l);
  if (r == 0)
    return NULL;
  snprintf (msg, sizeof msg, "%s", err->msg);
  enclaver_error_release (&err);
  return msg;
}

int
main (void)
{
  enclaver_loader_t *l = enclaver_loader_new ();
  const struct enclaver_stage_desc *d = NULL, *d2 = NULL;
  enclaver_error_t err = NULL;
  const char *msg;
  char *tmp = make_tmpdir ();
  char path[600];
  FILE *f;
  struct enclaver_stage_option opt = { ENCLAVER_OPT_SIZE, "size", NULL, 0, 0, "x" };
  uint64_t sz = 0;

  /* A good plugin. */
  TAP_INT_EQ (enclaver_loader_load_file (l, plugin_path ("rec-a"), &d, &err), 0, "good plugin loads");
  tap_ok (d && strcmp (d->name, "rec-a") == 0, "descriptor name");
  tap_ok (d && d->abi_major == ENCLAVER_STAGE_ABI_MAJOR && d->abi_minor == ENCLAVER_STAGE_ABI_MINOR,
          "descriptor ABI");
  tap_ok (d && d->options && strcmp (d->options[0].name, "trace") == 0, "option table visible");
  TAP_INT_EQ (enclaver_loader_load_file (l, plugin_path ("rec-a"), &d2, &err), 0, "same file twice is fine");
  tap_ok (d == d2 && enclaver_loader_count (l) == 1, "same file loaded once");

  /* Duplicate name from another file. */
  TAP_INT_EQ (enclaver_loader_load_file (l, plugin_path ("rec-dup"), &d2, &err), -1, "duplicate name refused");
  TAP_CONTAINS (err ? err->msg : NULL, "duplicate stage name 'rec-a'", "duplicate: reason");
  TAP_CONTAINS (err ? err->msg : NULL, "rec-dup.so", "duplicate: names the file");
  TAP_CONTAINS (err ? err->msg : NULL, "rec-a.so", "duplicate: names the first file");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_loader_count (l), 1, "refused plugin not registered");

  /* Broken plugins: each refused before any plugin code runs (their run() aborts). */
  msg = load_error (plugin_path ("bad-major"));
  TAP_CONTAINS (msg, "bad-major.so", "wrong major: names the file");
  TAP_CONTAINS (msg, "major versions differ", "wrong major: reason");
  msg = load_error (plugin_path ("bad-minor"));
  TAP_CONTAINS (msg, "bad-minor.so", "newer minor: names the file");
  TAP_CONTAINS (msg, "newer than this enclaver", "newer minor: reason");
  msg = load_error (plugin_path ("bad-short"));
  TAP_CONTAINS (msg, "bad-short.so", "short struct: names the file");
  TAP_CONTAINS (msg, "stage descriptor is 16 bytes", "short struct: reason");
  msg = load_error (plugin_path ("no-sym"));
  TAP_CONTAINS (msg, "no-sym.so", "no symbol: names the file");
  TAP_CONTAINS (msg, "no 'enclaver_stage_descriptor' symbol", "no symbol: reason");
  msg = load_error (plugin_path ("unloadable"));
  TAP_CONTAINS (msg, "unloadable.so: cannot load", "unloadable: names the file");
  TAP_CONTAINS (msg, "enclaver_test_function_that_does_not_exist", "unloadable: dlopen's reason");
  msg = load_error (plugin_path ("bad-name"));
  TAP_CONTAINS (msg, "invalid stage name", "bad name refused");
  snprintf (path, sizeof path, "%s/garbage.so", tmp);
  f = fopen (path, "w");
  fputs ("this is not an ELF file\n", f);
  fclose (f);
  msg = load_error (path);
  TAP_CONTAINS (msg, "garbage.so: cannot load", "a text file named .so is refused");
  msg = load_error ("/nonexistent/dir/x.so");
  TAP_CONTAINS (msg, "/nonexistent/dir/x.so: No such file", "missing file");
  msg = load_error (tmp);
  TAP_CONTAINS (msg, "not a regular file", "a directory is refused");

  /* Name lookup along the search path. */
  enclaver_loader_free (l);
  l = enclaver_loader_new ();
  enclaver_loader_add_dir (l, tmp);
  enclaver_loader_add_dir (l, plugin_dir ());
  enclaver_loader_add_dir (l, plugin_dir ());
  TAP_INT_EQ (enclaver_loader_n_dirs (l), 2, "duplicate directories collapse");
  TAP_INT_EQ (enclaver_loader_load_name (l, "rec-b", &d, &err), 0, "load by name");
  TAP_CONTAINS (enclaver_loader_path_of (l, d), "tests/plugins/.libs/rec-b.so", "found in the second dir");
  TAP_INT_EQ (enclaver_loader_load_name (l, "nothere", &d, &err), -1, "unknown name");
  TAP_CONTAINS (err ? err->msg : NULL, "stage 'nothere' not found (searched: ", "unknown name: reason");
  TAP_CONTAINS (err ? err->msg : NULL, tmp, "unknown name: lists the searched dirs");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_loader_load_name (l, "../etc/x", &d, &err), -1, "path-like names refused");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_loader_load_name (l, "rec-dup", &d, &err), -1, "file name must match the stage name");
  TAP_CONTAINS (err ? err->msg : NULL, "declares stage 'rec-a'", "mismatch: reason");
  enclaver_error_release (&err);

  /* Scan: good ones load, broken ones are reported and skipped. */
  enclaver_loader_free (l);
  l = enclaver_loader_new ();
  enclaver_loader_add_dir (l, plugin_dir ());
  {
    int n = enclaver_loader_scan (l, NULL, NULL, &err);
    size_t i;
    int have_a = 0, have_b = 0, have_c = 0, have_bad = 0;
    for (i = 0; i < enclaver_loader_count (l); i++)
      {
        const char *nm = enclaver_loader_desc (l, i)->name;
        have_a |= strcmp (nm, "rec-a") == 0;
        have_b |= strcmp (nm, "rec-b") == 0;
        have_c |= strcmp (nm, "rec-c") == 0;
        have_bad |= strncmp (nm, "bad", 3) == 0 || strcmp (nm, "unloadable") == 0;
      }
    TAP_INT_EQ (n, 3, "scan loads the three good plugins");
    tap_ok (have_a && have_b && have_c && !have_bad, "scan skips every broken plugin");
  }

  /* Scan: a directory without plugins loads none (its list of names stays empty). */
  enclaver_loader_free (l);
  l = enclaver_loader_new ();
  {
    char empty[300];
    snprintf (empty, sizeof empty, "%s/empty", tmp);
    mkdir (empty, 0755);
    enclaver_loader_add_dir (l, empty);
    TAP_INT_EQ (enclaver_loader_scan (l, NULL, NULL, &err), 0, "scan of a directory without plugins loads none");
    TAP_INT_EQ (enclaver_loader_count (l), 0, "... and lists none");
    rmdir (empty);
  }

  /* ENCLAVER_PLUGIN_PATH comes before the build tree and pkglibdir. */
  enclaver_loader_free (l);
  l = enclaver_loader_new ();
  setenv ("ENCLAVER_PLUGIN_PATH", "/first:/second", 1);
  enclaver_loader_add_dir (l, "/cli");
  enclaver_loader_add_default_dirs (l);
  TAP_STR_EQ (enclaver_loader_dir (l, 0), "/cli", "--plugin-dir first");
  TAP_STR_EQ (enclaver_loader_dir (l, 1), "/first", "ENCLAVER_PLUGIN_PATH second");
  TAP_STR_EQ (enclaver_loader_dir (l, 2), "/second", "ENCLAVER_PLUGIN_PATH order kept");
  TAP_STR_EQ (enclaver_loader_dir (l, enclaver_loader_n_dirs (l) - 1), PKGLIBDIR, "pkglibdir last");
  enclaver_loader_free (l);

  /* Option value parsing. */
  TAP_INT_EQ (enclaver_option_parse (&opt, "4M", &sz, &err), 0, "size with suffix");
  TAP_INT_EQ (sz, 4u << 20, "4M = 4 MiB");
  TAP_INT_EQ (enclaver_option_parse (&opt, "12 apples", &sz, &err), -1, "bad size refused");
  TAP_CONTAINS (err ? err->msg : NULL, "option 'size': '12 apples' is not a size", "bad size message");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_option_parse (&opt, "99999999999T", &sz, &err), -1, "overflowing size refused");
  enclaver_error_release (&err);

  unlink (path);
  rmdir (tmp);
  return tap_done ();
}
