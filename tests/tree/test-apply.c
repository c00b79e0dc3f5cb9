/* Layer application: semantics and hostile input.  Every layer is generated here. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"

static struct enclaver_apply_options OPTS;

static int
apply_g (enclaver_tree_t *t, struct lg *g, const char *filter, enclaver_error_t *err)
{
  char did[80];
  char *p = lg_write (g, filter, did);
  int r = enclaver_tree_apply_layer_file (t, p, NULL, did, &OPTS, NULL, err);
  free (p);
  return r;
}

/* Apply and expect success. */
static int
ok_apply (enclaver_tree_t *t, struct lg *g, const char *what)
{
  enclaver_error_t err = NULL;
  int r = apply_g (t, g, "none", &err);
  if (r < 0)
    tap_diag ("%s: %s", what, err->msg);
  enclaver_error_release (&err);
  return tap_ok (r == 0, "%s: layer applies", what);
}

/* Apply and expect an error whose message contains needle. */
static void
fail_apply (enclaver_tree_t *t, struct lg *g, const char *what, const char *needle)
{
  enclaver_error_t err = NULL;
  int r = apply_g (t, g, "none", &err);
  tap_ok (r < 0, "%s: rejected", what);
  TAP_CONTAINS (err ? err->msg : NULL, needle, "%s: error names the problem", what);
  enclaver_error_release (&err);
}

static int
type_of (enclaver_tree_t *t, const char *p)
{
  struct enclaver_tree_stat st;
  if (enclaver_tree_stat (t, p, 0, &st, NULL) < 0)
    return 0;
  return st.type;
}

static char *
content (enclaver_tree_t *t, const char *p)
{
  char *s = NULL;
  enclaver_error_t err = NULL;
  if (enclaver_tree_read_file (t, p, 1 << 20, &s, NULL, &err) < 0)
    {
      enclaver_error_release (&err);
      return strdup ("(missing)");
    }
  return s;
}

static void
check_content (enclaver_tree_t *t, const char *p, const char *want, const char *what)
{
  char *s = content (t, p);
  TAP_STR_EQ (s, want, "%s: content of %.60s", what, p);
  free (s);
}

static enclaver_tree_t *
fresh (void)
{
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  if (!t)
    {
      tap_diag ("tree_new: %s", err->msg);
      exit (1);
    }
  return t;
}

/* Lists every path (sorted DFS) as "path:type" lines. */
static int
list_cb (const enclaver_tree_t *t, const enclaver_tree_node_t *n, const char *path, size_t len,
         const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  (void) t, (void) n, (void) len, (void) err;
  char *buf = ud;
  size_t o = strlen (buf);
  snprintf (buf + o, 8192 - o, "%s%s:%c", o ? " " : "", path, "?drlcbp"[st->type]);
  return 0;
}

static void
check_list (enclaver_tree_t *t, const char *want, const char *what)
{
  char buf[8192] = "";
  enclaver_tree_walk (t, NULL, 0, list_cb, buf, NULL);
  TAP_STR_EQ (buf, want, "%s: tree listing", what);
}

static void
test_basic (void)
{
  const char *filters[] = { "none", "gzip", "zstd" };
  for (int f = 0; f < 3; f++)
    {
      enclaver_tree_t *t = fresh ();
      struct lg g = { 0 };
      lg_dir (&g, "etc/", 0755);
      lg_file_full (&g, "etc/passwd", 0644, 0, 0, 1234, "root:x:0:0::/root:/bin/sh\n");
      lg_file_full (&g, "usr/bin/su", 04755, 0, 0, 1000, "SU");
      lg_file_full (&g, "usr/bin/wall", 02755, 0, 5, 1000, "W");
      lg_hdr (&g, "tmp/", '5', 01777, 0, 0, 0, 1000, NULL, 0, 0);
      lg_file_full (&g, "home/u/f", 0600, 1000, 1001, 1000, "user");
      lg_symlink (&g, "bin", "usr/bin");
      enclaver_error_t err = NULL;
      char did[80], got[80];
      char *p = lg_write (&g, filters[f], did);
      int r = enclaver_tree_apply_layer_file (t, p, NULL, did, &OPTS, got, &err);
      free (p);
      if (!tap_ok (r == 0, "basic %s: applies", filters[f]))
        tap_diag ("%s", err->msg);
      enclaver_error_release (&err);
      TAP_STR_EQ (got, did, "basic %s: diff_id computed over the uncompressed tar", filters[f]);
      struct enclaver_tree_stat st;
      enclaver_tree_stat (t, "usr/bin/su", 0, &st, NULL);
      TAP_INT_EQ (st.mode, 04755, "basic %s: setuid kept", filters[f]);
      enclaver_tree_stat (t, "usr/bin/wall", 0, &st, NULL);
      tap_ok (st.mode == 02755 && st.gid == 5, "basic %s: setgid and gid kept", filters[f]);
      enclaver_tree_stat (t, "tmp", 0, &st, NULL);
      tap_ok (st.mode == 01777 && st.type == ENCLAVER_NODE_DIR, "basic %s: sticky dir", filters[f]);
      enclaver_tree_stat (t, "home/u/f", 0, &st, NULL);
      tap_ok (st.uid == 1000 && st.gid == 1001 && st.mode == 0600 && st.size == 4, "basic %s: uid/gid/mode/size",
              filters[f]);
      enclaver_tree_stat (t, "home", 0, &st, NULL);
      tap_ok (st.type == ENCLAVER_NODE_DIR && st.mode == 0755 && st.uid == 0, "basic %s: implicit parent 0755 0:0",
              filters[f]);
      enclaver_tree_stat (t, "etc/passwd", 0, &st, NULL);
      TAP_INT_EQ (st.mtime, 1234, "basic %s: mtime", filters[f]);
      enclaver_tree_stat (t, "bin", 0, &st, NULL);
      tap_ok (st.type == ENCLAVER_NODE_SYMLINK && strcmp (st.link_target, "usr/bin") == 0,
              "basic %s: symlink stored as-is", filters[f]);
      check_content (t, "bin/su", "SU", "basic: lookup through a symlink");
      enclaver_tree_free (t);
    }
}

static void
test_diffid (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "a", "x");
  lg_end (&g);
  char did[80];
  char *p = lg_write (&g, "gzip", did);
  enclaver_error_t err = NULL;
  int r = enclaver_tree_apply_layer_file (
      t, p, NULL, "sha256:0000000000000000000000000000000000000000000000000000000000000000", &OPTS, NULL, &err);
  tap_ok (r < 0, "diff_id mismatch rejected");
  TAP_CONTAINS (err ? err->msg : NULL, "diff_id mismatch", "diff_id mismatch message");
  TAP_CONTAINS (err ? err->msg : NULL, did, "diff_id message shows the real diff_id");
  enclaver_error_release (&err);
  r = enclaver_tree_apply_layer_file (t, p, "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                                      did, &OPTS, NULL, &err);
  tap_ok (r < 0, "blob digest mismatch rejected");
  TAP_CONTAINS (err ? err->msg : NULL, "digest mismatch", "digest mismatch message");
  enclaver_error_release (&err);
  free (p);

  /* a bzip2 / unknown blob */
  char path[4300];
  snprintf (path, sizeof path, "%s/junk.bin", lg_dir_tmp);
  FILE *f = fopen (path, "w");
  fputs ("BZh91AY&SYjunkjunkjunkjunk", f);
  fclose (f);
  r = enclaver_tree_apply_layer_file (t, path, NULL, NULL, &OPTS, NULL, &err);
  tap_ok (r < 0, "non-tar blob (bzip2 magic) rejected");
  enclaver_error_release (&err);
  enclaver_tree_free (t);
}

static void
test_whiteouts (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "a/x", "lower");
  lg_file (&g, "a/y", "lower");
  lg_file (&g, "b/deep/z", "lower");
  lg_file (&g, "c/keep", "lower");
  lg_file (&g, "d/x", "lower");
  lg_file (&g, "e/x", "lower");
  lg_file (&g, "f/x", "lower");
  lg_file (&g, "o/x", "lower");
  lg_file (&g, "o/sub/y", "lower");
  lg_file (&g, "p/q/r/old", "lower");
  ok_apply (t, &g, "whiteout lower");

  lg_file (&g, "a/.wh.x", NULL);              /* file whiteout */
  lg_file (&g, ".wh.b", NULL);                /* directory whiteout */
  lg_file (&g, "d/x", "upper");               /* add, then whiteout: add survives */
  lg_file (&g, "d/.wh.x", NULL);
  lg_file (&g, "e/.wh.x", NULL);              /* whiteout, then add */
  lg_file (&g, "e/x", "upper");
  lg_file (&g, "o/new", "upper");             /* opaque after new entries */
  lg_file (&g, "o/.wh..wh..opq", NULL);
  lg_file (&g, "p/.wh..wh..opq", NULL);       /* opaque, upper entry with implicit parents */
  lg_file (&g, "p/q/r/new", "upper");
  lg_file (&g, ".wh.nonexistent", NULL);      /* harmless */
  lg_file (&g, "f/.wh..wh..opq", NULL);
  ok_apply (t, &g, "whiteout upper");

  tap_ok (type_of (t, "a/x") == 0 && type_of (t, "a/y") == ENCLAVER_NODE_REG, "whiteout removes one lower file");
  tap_ok (type_of (t, "b") == 0, "whiteout removes a lower directory recursively");
  check_content (t, "d/x", "upper", "whiteout after a same-layer add");
  check_content (t, "e/x", "upper", "whiteout before a same-layer add");
  tap_ok (type_of (t, "o/x") == 0 && type_of (t, "o/sub") == 0, "opaque removes lower children");
  check_content (t, "o/new", "upper", "opaque keeps same-layer children (marker after them)");
  tap_ok (type_of (t, "p/q/r/old") == 0 && type_of (t, "p/q/r/new") == ENCLAVER_NODE_REG,
          "opaque keeps upper descendants and their ancestors");
  tap_ok (type_of (t, "f") == ENCLAVER_NODE_DIR && type_of (t, "f/x") == 0, "opaque dir stays, children go");
  check_list (t,
              "a:d a/y:r c:d c/keep:r d:d d/x:r e:d e/x:r f:d o:d o/new:r p:d p/q:d p/q/r:d p/q/r/new:r",
              "whiteouts");
  enclaver_tree_free (t);

  /* the moby TestApplyLayerWhiteouts-style stack */
  t = fresh ();
  lg_file (&g, "foo/abc", "1");
  lg_file (&g, "foo/cde", "1");
  lg_file (&g, "bar", "1");
  lg_file (&g, "baz", "1");
  ok_apply (t, &g, "stack 1");
  lg_file (&g, ".wh.baz", NULL);
  lg_file (&g, "foo/.wh.cde", NULL);
  lg_file (&g, "foo/new", "2");
  ok_apply (t, &g, "stack 2");
  lg_file (&g, "foo/.wh..wh..opq", NULL);
  lg_file (&g, "foo/last", "3");
  lg_file (&g, "baz", "3");
  ok_apply (t, &g, "stack 3");
  check_list (t, "bar:r baz:r foo:d foo/last:r", "stacked whiteouts and opaque");
  enclaver_tree_free (t);
}

static void
test_invalid_whiteouts (void)
{
  const char *bad[] = { ".wh..", ".wh...", "etc/.wh..", ".wh.", "etc/.wh.", ".wh.etc/somefile" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      enclaver_tree_t *t = fresh ();
      struct lg g = { 0 };
      lg_file (&g, "etc/passwd", "x");
      ok_apply (t, &g, "invalid whiteout lower");
      lg_file (&g, bad[i], NULL);
      char what[128];
      snprintf (what, sizeof what, "invalid whiteout '%s'", bad[i]);
      fail_apply (t, &g, what, bad[i]);
      tap_ok (type_of (t, "etc/passwd") == ENCLAVER_NODE_REG, "%s: root untouched", what);
      enclaver_tree_free (t);
    }
  /* whiteout through .. (strict) and through a symlink */
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "etc/whitedout", "x");
  lg_file (&g, "etc/stay", "x");
  lg_symlink (&g, "localetc", "/etc");
  lg_symlink (&g, "dead", "/nonexistent/dir");
  ok_apply (t, &g, "whiteout via symlink lower");
  lg_file (&g, "localetc/.wh.whitedout", NULL);
  lg_file (&g, "dead/.wh.anything", NULL);
  ok_apply (t, &g, "whiteout via symlink upper");
  tap_ok (type_of (t, "etc/whitedout") == 0 && type_of (t, "etc/stay") == ENCLAVER_NODE_REG,
          "whiteout through a symlinked parent removes the target's child");
  tap_ok (type_of (t, "nonexistent") == 0, "whiteout through a dangling symlink is a no-op");
  lg_file (&g, ".wh.localetc", NULL);
  ok_apply (t, &g, "whiteout of a symlink");
  tap_ok (type_of (t, "localetc") == 0 && type_of (t, "etc/stay") == ENCLAVER_NODE_REG,
          "whiteout of a symlink removes only the link");
  lg_file (&g, "dne/../.wh.etc", NULL);
  fail_apply (t, &g, "whiteout with '..'", "'..'");
  tap_ok (type_of (t, "etc") == ENCLAVER_NODE_DIR, "whiteout with '..' did not remove etc");
  enclaver_tree_free (t);
}

static void
test_type_changes (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "d2f/child", "x");
  lg_file (&g, "f2d", "x");
  lg_symlink (&g, "s2d", "/etc");
  lg_file (&g, "etc/keep", "x");
  lg_file (&g, "d2s/child", "x");
  lg_dir (&g, "merge/", 0700);
  lg_file (&g, "merge/old", "x");
  lg_file (&g, "nondir", "x");
  ok_apply (t, &g, "type changes lower");
  lg_file (&g, "d2f", "file now");
  lg_dir (&g, "f2d/", 0711);
  lg_dir (&g, "s2d/", 0755);
  lg_symlink (&g, "d2s", "etc");
  lg_hdr (&g, "merge/", '5', 0750, 7, 8, 0, 5, NULL, 0, 0);
  lg_file (&g, "nondir/foo/bar", "x");
  ok_apply (t, &g, "type changes upper");
  check_content (t, "d2f", "file now", "dir -> file");
  tap_ok (type_of (t, "f2d") == ENCLAVER_NODE_DIR, "file -> dir");
  tap_ok (type_of (t, "s2d") == ENCLAVER_NODE_DIR && type_of (t, "etc/keep") == ENCLAVER_NODE_REG,
          "symlink -> dir replaces the link, target untouched");
  tap_ok (type_of (t, "d2s") == ENCLAVER_NODE_SYMLINK, "dir -> symlink");
  struct enclaver_tree_stat st;
  enclaver_tree_stat (t, "merge", 0, &st, NULL);
  tap_ok (st.mode == 0750 && st.uid == 7 && st.gid == 8 && type_of (t, "merge/old") == ENCLAVER_NODE_REG,
          "dir over dir: new metadata, children kept");
  tap_ok (type_of (t, "nondir") == ENCLAVER_NODE_DIR && type_of (t, "nondir/foo/bar") == ENCLAVER_NODE_REG,
          "a non-directory parent is replaced by a directory");
  enclaver_tree_free (t);
}

static void
test_symlink_escapes (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_symlink (&g, "localetc", "/etc");
  lg_file (&g, "localetc/unbroken", "a");          /* SymlinkAbsolute, same layer */
  lg_symlink (&g, "upout", "/dummy/../etc");
  lg_file (&g, "upout/up", "b");                   /* SymlinkUpAndOut */
  lg_symlink (&g, "rel", "../../../../../etc");
  lg_file (&g, "rel/relfile", "c");                /* relative climb stops at the root */
  lg_symlink (&g, "foo", "/");
  lg_file (&g, "foo/tmp/x", "d");                  /* SymlinkOverridePath */
  lg_symlink (&g, "dummy/etc", "/etc");
  lg_symlink (&g, "chain", "./dummy/etc");
  lg_file (&g, "chain/chained", "e");              /* SymlinkMultipleRelative */
  ok_apply (t, &g, "symlink escapes");
  check_content (t, "etc/unbroken", "a", "absolute symlink resolved in the tree");
  check_content (t, "etc/up", "b", "symlink with /.. resolved in the tree");
  check_content (t, "etc/relfile", "c", "../../.. symlink stops at the root");
  check_content (t, "tmp/x", "d", "symlink to / re-rooted");
  check_content (t, "etc/chained", "e", "symlink chain resolved in the tree");
  tap_ok (type_of (t, "localetc") == ENCLAVER_NODE_SYMLINK && type_of (t, "foo") == ENCLAVER_NODE_SYMLINK,
          "the symlinks themselves are kept");
  lg_dir (&g, "foo/", 0755);
  lg_file (&g, "foo/tmp/x", "f");
  ok_apply (t, &g, "symlink replaced by dir");
  check_content (t, "foo/tmp/x", "f", "dir replacing a symlink to / gets its own content");
  check_content (t, "tmp/x", "d", "root content untouched");
  enclaver_tree_free (t);

  /* lower-layer symlink crossing (lib -> usr/lib) */
  t = fresh ();
  lg_dir (&g, "usr/lib/", 0755);
  lg_symlink (&g, "lib", "usr/lib");
  lg_symlink (&g, "var/run", "/run");
  ok_apply (t, &g, "lower symlinks");
  lg_file (&g, "lib/systemd/system/container.service", "unit");
  lg_file (&g, "var/run/pid", "1");
  ok_apply (t, &g, "entries through lower symlinks");
  check_content (t, "usr/lib/systemd/system/container.service", "unit", "implied dirs through a lower symlink");
  tap_ok (type_of (t, "lib") == ENCLAVER_NODE_SYMLINK, "lib stays a symlink");
  check_content (t, "run/pid", "1", "absolute lower symlink var/run -> /run resolved in the tree");
  enclaver_tree_free (t);

  /* loops */
  t = fresh ();
  lg_symlink (&g, "a", "/b");
  lg_symlink (&g, "b", "/a");
  lg_file (&g, "a/x", "loop");
  fail_apply (t, &g, "symlink loop", "too many levels");
  enclaver_tree_free (t);
  t = fresh ();
  lg_symlink_chain (&g, 41);
  fail_apply (t, &g, "41-hop symlink chain", "too many levels");
  enclaver_tree_free (t);
}

static void
test_names (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "/etc/abs", "abs");
  lg_file (&g, "./dot/./slash//f", "dot");
  ok_apply (t, &g, "absolute and ./ names");
  check_content (t, "etc/abs", "abs", "absolute name re-rooted");
  check_content (t, "dot/slash/f", "dot", "./ and // normalised");
  lg_file (&g, "../victim/dotdot", "x");
  fail_apply (t, &g, "'../' name (strict)", "'..'");
  lg_file (&g, "/../victim/slash-dotdot", "x");
  fail_apply (t, &g, "'/../' name (strict)", "'..'");
  lg_file (&g, "a/../b", "x");
  fail_apply (t, &g, "inner '..' (strict)", "'..'");
  OPTS.lenient = 1;
  lg_file (&g, "a/../b", "lenient");
  ok_apply (t, &g, "inner '..' (lenient)");
  check_content (t, "b", "lenient", "lenient: a/../b collapses to b");
  lg_file (&g, "../../pwned", "x");
  fail_apply (t, &g, "'..' above the root (lenient)", "above the root");
  OPTS.lenient = 0;
  tap_ok (type_of (t, "pwned") == 0 && type_of (t, "victim") == 0, "nothing created from rejected names");

  /* long names: GNU L record, pax path, > 4096 bytes */
  char longname[5200];
  memset (longname, 'n', sizeof longname);
  for (int i = 200; i < 4000; i += 200)
    longname[i] = '/';
  longname[3000] = '\0';
  lg_gnu_long (&g, 'L', longname);
  lg_file (&g, "truncated-gnu", "gnu");
  lg_pax (&g, "path", "pax/long/name/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/file",
          "linkpath", "target/with/a/very/long/name/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
  lg_symlink (&g, "truncated-pax", "t");
  ok_apply (t, &g, "GNU and pax long names");
  check_content (t, longname, "gnu", "GNU long name (3000 bytes)");
  struct enclaver_tree_stat st;
  int r = enclaver_tree_stat (t, "pax/long/name/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/file",
                              0, &st, NULL);
  tap_ok (r == 0 && st.type == ENCLAVER_NODE_SYMLINK && strlen (st.link_target) > 100,
          "pax long path and long linkpath");
  memset (longname, 'q', sizeof longname);
  for (int i = 200; i < 5000; i += 200)
    longname[i] = '/';
  longname[5000] = '\0';
  lg_pax (&g, "path", longname, NULL, NULL);
  lg_file (&g, "x", "x");
  fail_apply (t, &g, "name longer than 4096 bytes", "longer than");
  memset (longname, 'c', 300);
  longname[300] = '\0';
  lg_pax (&g, "path", longname, NULL, NULL);
  lg_file (&g, "x", "x");
  fail_apply (t, &g, "component longer than 255 bytes", "component");
  lg_hdr (&g, "", '0', 0644, 0, 0, 0, 0, NULL, 0, 0);
  fail_apply (t, &g, "empty name", "empty name");
  enclaver_tree_free (t);

  /* root entries */
  t = fresh ();
  lg_hdr (&g, "./", '5', 0700, 5, 5, 0, 99, NULL, 0, 0);
  lg_file (&g, "f", "x");
  ok_apply (t, &g, "root dir entry");
  enclaver_tree_stat (t, "/", 0, &st, NULL);
  tap_ok (st.mode == 0755 && st.uid == 0 && st.type == ENCLAVER_NODE_DIR, "root metadata stays 0755 0:0");
  lg_symlink (&g, ".", "/tmp");
  fail_apply (t, &g, "root as symlink (CVE-2021-29136)", "root directory");
  lg_symlink (&g, "/", "/tmp");
  fail_apply (t, &g, "root '/' as symlink", "root directory");
  enclaver_tree_free (t);
}

static void
test_hardlinks (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "etc/passwd", "pw");
  lg_symlink (&g, "etc/link", "passwd");
  lg_symlink (&g, "localetc", "/etc");
  ok_apply (t, &g, "hardlink lower");
  lg_hardlink (&g, "hl", "etc/passwd");
  lg_hardlink (&g, "hl-abs", "/etc/passwd");
  lg_hardlink (&g, "hl-via-symlink", "localetc/passwd");
  lg_hardlink (&g, "hl-sym", "etc/link");
  lg_hardlink (&g, "etc/passwd", "etc/passwd"); /* to itself */
  ok_apply (t, &g, "hardlinks");
  struct enclaver_tree_stat a, b, c, d;
  enclaver_tree_stat (t, "etc/passwd", 0, &a, NULL);
  enclaver_tree_stat (t, "hl", 0, &b, NULL);
  enclaver_tree_stat (t, "hl-abs", 0, &c, NULL);
  enclaver_tree_stat (t, "hl-via-symlink", 0, &d, NULL);
  tap_ok (a.inode == b.inode && a.inode == c.inode && a.inode == d.inode, "hardlinks share the lower inode");
  TAP_INT_EQ (a.nlink, 4, "nlink counts the names");
  enclaver_tree_stat (t, "hl-sym", 0, &b, NULL);
  tap_ok (b.type == ENCLAVER_NODE_SYMLINK && strcmp (b.link_target, "passwd") == 0,
          "hardlink to a symlink links the symlink");
  lg_file (&g, "hl", "new");
  ok_apply (t, &g, "overwrite one name");
  check_content (t, "hl", "new", "overwritten name has new content");
  check_content (t, "etc/passwd", "pw", "other names keep the old content");
  enclaver_tree_stat (t, "etc/passwd", 0, &a, NULL);
  TAP_INT_EQ (a.nlink, 3, "nlink drops after overwrite");
  lg_file (&g, ".wh.hl-abs", NULL);
  ok_apply (t, &g, "whiteout one name");
  enclaver_tree_stat (t, "etc/passwd", 0, &a, NULL);
  TAP_INT_EQ (a.nlink, 2, "whiteout of one name keeps the others");

  lg_pax (&g, "size", "5", NULL, NULL);
  lg_hdr (&g, "withdata", '1', 0644, 0, 0, 5, 0, "etc/passwd", 0, 0);
  lg_put (&g, "HELLO", 5);
  lg_pad (&g);
  fail_apply (t, &g, "hardlink carrying data (pax size)", "entry 'withdata': hardlink entry carries 5 bytes");
  lg_hdr (&g, "withdata", '1', 0644, 0, 0, 5, 0, "etc/passwd", 0, 0);
  lg_put (&g, "HELLO", 5);
  lg_pad (&g);
  fail_apply (t, &g, "hardlink carrying data (ustar size)", "entry 'withdata' (a hardlink)");
  lg_hardlink (&g, "missing", "no/such/file");
  fail_apply (t, &g, "hardlink to a missing target", "does not exist");
  lg_hardlink (&g, "later", "notyet");
  lg_file (&g, "notyet", "x");
  fail_apply (t, &g, "hardlink before its target", "does not exist");
  lg_hardlink (&g, "escape", "../../../../../etc/passwd");
  fail_apply (t, &g, "hardlink target with '..'", "'..'");
  lg_hardlink (&g, "dirlink", "etc");
  fail_apply (t, &g, "hardlink to a directory", "directory");
  lg_hardlink (&g, "sibling", "../dest-evil/secret");
  fail_apply (t, &g, "hardlink to a sibling prefix", "'..'");
  enclaver_tree_free (t);
}

static void
test_special (void)
{
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  lg_file (&g, "dev/null", "was a file");
  ok_apply (t, &g, "special lower");
  lg_hdr (&g, "dev/null", '3', 0666, 0, 0, 0, 0, NULL, 1, 3);
  lg_hdr (&g, "dev/sda", '4', 0660, 0, 6, 0, 0, NULL, 8, 0);
  lg_hdr (&g, "run/fifo", '6', 0644, 0, 0, 0, 0, NULL, 0, 0);
  lg_file (&g, "after", "x");
  ok_apply (t, &g, "device nodes and FIFOs");
  tap_ok (type_of (t, "dev/null") == 0 && type_of (t, "dev/sda") == 0 && type_of (t, "run/fifo") == 0,
          "device nodes and FIFOs are dropped (and hide the lower path)");
  tap_ok (type_of (t, "after") == ENCLAVER_NODE_REG, "entries after dropped ones still apply");
  lg_file (&g, "devdir/child", "lower");
  lg_file (&g, "devdir2/child", "lower");
  ok_apply (t, &g, "special: lower directories");
  lg_hdr (&g, "devdir", '3', 0600, 0, 0, 0, 0, NULL, 1, 3);
  lg_hdr (&g, "devdir2", '6', 0600, 0, 0, 0, 0, NULL, 0, 0);
  ok_apply (t, &g, "device node and FIFO over lower directories");
  tap_ok (type_of (t, "devdir") == 0 && type_of (t, "devdir/child") == 0 && type_of (t, "devdir2") == 0,
          "a dropped device node or FIFO removes a lower directory with its subtree");
  lg_file (&g, "samedir/child", "same layer");
  lg_hdr (&g, "samedir", '3', 0600, 0, 0, 0, 0, NULL, 1, 3);
  fail_apply (t, &g, "device node replacing a directory of the same layer", "same layer");
  lg_file (&g, "devdup", "file");
  lg_hdr (&g, "devdup", '6', 0600, 0, 0, 0, 0, NULL, 0, 0);
  fail_apply (t, &g, "file and FIFO at one path in one layer", "duplicate");

  /* xattrs */
  lg_pax (&g, "SCHILY.xattr.security.capability", "\x01\x02", "SCHILY.xattr.user.x", "v");
  lg_file (&g, "bin/ping", "ping");
  ok_apply (t, &g, "xattrs");
  struct enclaver_tree_stat st;
  enclaver_tree_stat (t, "bin/ping", 0, &st, NULL);
  tap_ok (st.has_xattrs, "xattr presence recorded");

  /* uid/gid beyond 32 bits */
  lg_pax (&g, "uid", "4294967296", NULL, NULL);
  lg_file (&g, "biguid", "x");
  fail_apply (t, &g, "uid 2^32", "uid/gid");
  lg_pax (&g, "uid", "4294967295", "gid", "4294967295");
  lg_file (&g, "maxuid", "x");
  ok_apply (t, &g, "uid 2^32-1");
  enclaver_tree_stat (t, "maxuid", 0, &st, NULL);
  tap_ok (st.uid == 4294967295u && st.gid == 4294967295u, "uid/gid 2^32-1 kept");

  /* duplicates */
  lg_file (&g, "dup", "one");
  lg_file (&g, "dup", "one");
  ok_apply (t, &g, "identical duplicate");
  lg_file (&g, "dup2", "one");
  lg_file (&g, "dup2", "two");
  fail_apply (t, &g, "conflicting duplicate (strict)", "duplicate");
  lg_file (&g, "dup3", "one");
  lg_symlink (&g, "dup3", "one");
  fail_apply (t, &g, "conflicting duplicate of another type", "duplicate");
  lg_dir (&g, "dd/", 0755);
  lg_hdr (&g, "./dd", '5', 0700, 0, 0, 0, 1000, NULL, 0, 0);
  fail_apply (t, &g, "duplicate dir with other metadata ('./' variant)", "duplicate");
  OPTS.lenient = 1;
  lg_file (&g, "dup4", "one");
  lg_file (&g, "dup4", "two");
  ok_apply (t, &g, "conflicting duplicate (lenient)");
  check_content (t, "dup4", "two", "lenient: last duplicate wins");
  OPTS.lenient = 0;
  lg_file (&g, "sdir/a", "x");
  lg_file (&g, "sdir", "file");
  fail_apply (t, &g, "file replacing a directory of the same layer", "same layer");

  /* a libarchive warning (pax path that is not UTF-8) is an error naming the entry */
  lg_pax (&g, "path", "bad\xff\xfename", NULL, NULL);
  lg_file (&g, "x", "x");
  fail_apply (t, &g, "libarchive warning", "libarchive warning at entry 'bad");

  /* corrupt header checksum */
  lg_file (&g, "good", "x");
  g.b[148] = '7';
  fail_apply (t, &g, "bad header checksum", "layer");
  enclaver_tree_free (t);
}

static void
test_sparse_and_limits (void)
{
  /* sparse file via libarchive's pax writer (GNU.sparse 1.0) */
  char path[4300];
  snprintf (path, sizeof path, "%s/sparse.tar", lg_dir_tmp);
  for (int big = 0; big < 2; big++)
    {
      lg_sparse_tar (path, "sparse", big ? (1ll << 40) : 1 << 20, 512 * 1024, 4096);
      enclaver_tree_t *t = fresh ();
      enclaver_error_t err = NULL;
      int r = enclaver_tree_apply_layer_file (t, path, NULL, NULL, &OPTS, NULL, &err);
      if (!big)
        {
          if (!tap_ok (r == 0, "sparse file applies"))
            tap_diag ("%s", err->msg);
          char *s = NULL;
          size_t len = 0;
          enclaver_error_release (&err);
          enclaver_tree_read_file (t, "sparse", 2 << 20, &s, &len, NULL);
          int good = s && len == (1 << 20) && s[0] == 0 && s[512 * 1024 - 1] == 0 && s[512 * 1024] == 'S'
                     && s[512 * 1024 + 4095] == 'S' && s[512 * 1024 + 4096] == 0;
          tap_ok (good, "sparse file: holes read as zeros, data at its offset");
          free (s);
        }
      else
        {
          tap_ok (r < 0, "sparse file of 1 TiB logical size is refused");
          TAP_CONTAINS (err ? err->msg : NULL, "4 GiB", "sparse 1 TiB: error names the newc limit");
          enclaver_error_release (&err);
        }
      enclaver_tree_free (t);
    }

  /* zip-bomb-like expansion beyond max-bytes */
  enclaver_tree_t *t = fresh ();
  struct lg g = { 0 };
  size_t n = 8 << 20;
  char *zeros = calloc (1, n + 1);
  memset (zeros, 'z', n);
  lg_file (&g, "bomb", zeros);
  free (zeros);
  lg_end (&g);
  char *p = lg_write (&g, "gzip", NULL);
  struct enclaver_apply_options o = OPTS;
  o.max_bytes = 1 << 20;
  enclaver_error_t err = NULL;
  int r = enclaver_tree_apply_layer_file (t, p, NULL, NULL, &o, NULL, &err);
  tap_ok (r < 0, "expansion beyond max-bytes refused");
  TAP_CONTAINS (err ? err->msg : NULL, "max-bytes", "bomb: error names the limit");
  TAP_CONTAINS (err ? err->msg : NULL, "bomb", "bomb: error names the entry");
  enclaver_error_release (&err);
  free (p);
  enclaver_tree_free (t);

  /* entry count and depth */
  t = fresh ();
  for (int i = 0; i < 20; i++)
    {
      char nm[32];
      snprintf (nm, sizeof nm, "f%d", i);
      lg_file (&g, nm, "x");
    }
  o = OPTS;
  o.max_entries = 10;
  p = lg_write (&g, "none", NULL);
  r = enclaver_tree_apply_layer_file (t, p, NULL, NULL, &o, NULL, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "the flatten limit max_entries"), "entry count limit");
  enclaver_error_release (&err);
  free (p);
  lg_file (&g, "a/b/c/d/e/f/g/h", "x");
  o = OPTS;
  o.max_depth = 5;
  p = lg_write (&g, "none", NULL);
  r = enclaver_tree_apply_layer_file (t, p, NULL, NULL, &o, NULL, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "depth"), "path depth limit");
  enclaver_error_release (&err);
  free (p);
  enclaver_tree_free (t);
}

static void
test_api (void)
{
  enclaver_tree_t *t = fresh ();
  enclaver_error_t err = NULL;
  struct enclaver_tree_attr a = { .mode = 0644, .uid = 1, .gid = 2, .mtime = 3 };
  tap_ok (enclaver_tree_add_file (t, "/opt/app/cfg", &a, "cfg", 3, ENCLAVER_TREE_MKPARENTS, &err) == 0,
          "api: add file with parents");
  tap_ok (enclaver_tree_add_file (t, "opt/app/cfg", &a, "x", 1, 0, &err) < 0 && err->status == EEXIST,
          "api: EEXIST without REPLACE");
  enclaver_error_release (&err);
  tap_ok (enclaver_tree_add_file (t, "nope/x", &a, "x", 1, 0, &err) < 0, "api: missing parent without MKPARENTS");
  enclaver_error_release (&err);
  tap_ok (enclaver_tree_add_symlink (t, "cfglink", &a, "/opt/app/cfg", 0, &err) == 0, "api: symlink");
  struct enclaver_tree_stat st;
  tap_ok (enclaver_tree_stat (t, "cfglink", ENCLAVER_TREE_FOLLOW, &st, NULL) == 0 && st.type == ENCLAVER_NODE_REG
              && st.size == 3,
          "api: stat follows with FOLLOW");
  tap_ok (enclaver_tree_add_hardlink (t, "opt/hl", "opt/app/cfg", 0, &err) == 0, "api: hardlink");
  tap_ok (enclaver_tree_remove (t, "opt/app", &err) == 0, "api: remove dir");
  check_content (t, "opt/hl", "cfg", "api: hardlink survives removal of the other name");
  tap_ok (enclaver_tree_remove (t, "/", &err) < 0, "api: root cannot be removed");
  enclaver_error_release (&err);
  tap_ok (enclaver_tree_lookup (t, "../etc", 0, &err) == NULL, "api: '..' refused");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_tree_count (t), 3, "api: count of names");
  enclaver_tree_free (t);
}

int
main (void)
{
  enclaver_apply_options_init (&OPTS);
  OPTS.log_source = "test";
  test_basic ();
  test_diffid ();
  test_whiteouts ();
  test_invalid_whiteouts ();
  test_type_changes ();
  test_symlink_escapes ();
  test_names ();
  test_hardlinks ();
  test_special ();
  test_sparse_and_limits ();
  test_api ();
  lg_cleanup ();
  return tap_done ();
}
