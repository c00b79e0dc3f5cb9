/* Peer comparison, benign images: our flattened tree against `umoci unpack`
 * (Debian's umoci) of the same layers, generated here with tests/tree/layergen.h.
 *
 * Compared per path (the root included) on type, mode, uid, gid, size, content
 * sha256, symlink target, link count of non-directories and xattr names (ours are
 * always none: newc cannot carry them).  Each case lists the exact differences it
 * accepts (docs/flatten.md, "Divergences from umoci and Docker"); anything else fails.
 * The hostile images are in tests/tree/test-umoci-hostile.c.
 *
 * Skips when umoci is not installed. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"
#include "tests/tree/umoci-peer.h"

static void
b_modes_layer (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file_full (&g, "etc/passwd", 0644, 0, 0, 1000, "root:x:0:0::/root:/bin/sh\n");
  lg_file_full (&g, "etc/shadow", 0640, 0, 42, 1000, "root:*::0:::::\n");
  lg_dir (&g, "usr/", 0755);
  lg_dir (&g, "usr/bin/", 0755);
  lg_file_full (&g, "usr/bin/su", 04755, 0, 0, 1000, "SU binary");
  lg_file_full (&g, "usr/bin/wall", 02755, 0, 5, 1000, "WALL");
  lg_hardlink (&g, "usr/bin/su-again", "usr/bin/su");
  lg_hdr (&g, "tmp/", '5', 01777, 0, 0, 0, 1000, NULL, 0, 0);
  lg_dir (&g, "home/", 0755);
  lg_hdr (&g, "home/u/", '5', 0700, 1000, 1000, 0, 1000, NULL, 0, 0);
  lg_file_full (&g, "home/u/notes", 0600, 1000, 1000, 1000, "private");
  lg_file_full (&g, "home/u/empty", 0644, 1000, 100, 1000, NULL);
  lg_symlink (&g, "bin", "usr/bin");
  lg_symlink (&g, "etc/localtime", "/usr/share/zoneinfo/UTC");
  lg_file (&g, "home/caf\xc3\xa9", "utf-8");
  lg_dir (&g, "long/", 0755);
  lg_pax (&g, "path",
          "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          NULL, NULL);
  lg_file (&g, "x", "long");
  add_layer (im, &g);
}

/* modes, owners, symlinks, hardlinks, UTF-8 names, long names, empty files */
static void
b_modes (struct img *im)
{
  b_modes_layer (im);
}

/* whiteouts and opaque directories on top of the modes layer */
static void
b_whiteouts (struct img *im)
{
  struct lg g = { 0 };
  b_modes_layer (im);
  lg_dir (&g, "a/", 0755);
  lg_file (&g, "a/x", "x");
  lg_file (&g, "a/y", "y");
  lg_dir (&g, "o/", 0755);
  lg_file (&g, "o/x", "x");
  lg_dir (&g, "o/sub/", 0755);
  lg_file (&g, "o/sub/y", "y");
  lg_dir (&g, "gone/", 0755);
  lg_file (&g, "gone/z", "z");
  lg_dir (&g, "d/", 0755);
  lg_file (&g, "d/x", "lower");
  add_layer (im, &g);
  lg_dir (&g, "a/", 0755);
  lg_file (&g, "a/.wh.x", NULL);
  lg_file (&g, ".wh.gone", NULL);
  lg_dir (&g, "o/", 0755);
  lg_file (&g, "o/.wh..wh..opq", NULL);
  lg_file (&g, "o/new", "new");
  lg_dir (&g, "d/", 0755);
  lg_file (&g, "d/x", "upper");
  lg_file (&g, "d/.wh.x", NULL);
  lg_file (&g, "usr/bin/.wh.wall", NULL);
  add_layer (im, &g);
}

/* type changes, entries through lower symlinks, breaking a hardlink */
static void
b_type_changes (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "usr/", 0755);
  lg_dir (&g, "usr/lib/", 0755);
  lg_symlink (&g, "lib", "usr/lib");
  lg_dir (&g, "var/", 0755);
  lg_dir (&g, "run/", 0755);
  lg_symlink (&g, "var/run", "/run");
  lg_dir (&g, "d2f/", 0755);
  lg_file (&g, "d2f/child", "c");
  lg_file (&g, "f2d", "f");
  lg_symlink (&g, "s2d", "usr");
  lg_dir (&g, "d2s/", 0755);
  lg_file (&g, "h1", "shared");
  lg_hardlink (&g, "h2", "h1");
  add_layer (im, &g);
  lg_file (&g, "d2f", "now a file");
  lg_dir (&g, "f2d/", 0711);
  lg_dir (&g, "s2d/", 0755);
  lg_symlink (&g, "d2s", "usr");
  lg_file (&g, "lib/libfoo.so", "foo");
  lg_file (&g, "var/run/pid", "1");
  lg_file (&g, "h2", "broken link");
  add_layer (im, &g);
}

/* file and directory whiteouts, recursive, at several depths */
static void
b_wh_basic (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "a/", 0755);
  lg_file (&g, "a/x", "x");
  lg_file (&g, "a/y", "y");
  lg_dir (&g, "b/", 0755);
  lg_dir (&g, "b/deep/", 0700);
  lg_dir (&g, "b/deep/er/", 0755);
  lg_file (&g, "b/deep/er/z", "z");
  lg_dir (&g, "c/", 0755);
  lg_dir (&g, "c/d/", 0755);
  lg_file (&g, "c/d/gone", "g");
  lg_file (&g, "c/d/stay", "s");
  add_layer (im, &g);
  lg_file (&g, "a/.wh.x", NULL);
  lg_file (&g, ".wh.b", NULL);
  lg_file (&g, "c/d/.wh.gone", NULL);
  lg_file (&g, ".wh.nonexistent", NULL);
  add_layer (im, &g);
}

/* a whiteout and an entry of the same name in one layer, in both orders */
static void
b_wh_order (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "d/", 0755);
  lg_file (&g, "d/x", "lower");
  lg_dir (&g, "e/", 0755);
  lg_file (&g, "e/x", "lower");
  lg_dir (&g, "f/", 0755);
  lg_file (&g, "f/sub/y", "lower");
  add_layer (im, &g);
  lg_file (&g, "d/x", "upper");
  lg_file (&g, "d/.wh.x", NULL);
  lg_file (&g, "e/.wh.x", NULL);
  lg_file (&g, "e/x", "upper");
  lg_dir (&g, "f/sub/", 0750);
  lg_file (&g, "f/sub/new", "upper");
  lg_file (&g, "f/.wh.sub", NULL);
  add_layer (im, &g);
}

/* opaque marker before the directory's new entries */
static void
b_opq_first (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "o/", 0755);
  lg_file (&g, "o/x", "x");
  lg_dir (&g, "o/sub/", 0755);
  lg_file (&g, "o/sub/y", "y");
  add_layer (im, &g);
  lg_dir (&g, "o/", 0750);
  lg_file (&g, "o/.wh..wh..opq", NULL);
  lg_file (&g, "o/new", "new");
  lg_dir (&g, "o/sub/", 0755);
  lg_file (&g, "o/sub/z", "z");
  add_layer (im, &g);
}

/* opaque marker after the directory's new entries */
static void
b_opq_last (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "o/", 0755);
  lg_file (&g, "o/x", "x");
  lg_dir (&g, "o/sub/", 0755);
  lg_file (&g, "o/sub/y", "y");
  add_layer (im, &g);
  lg_dir (&g, "o/", 0755);
  lg_file (&g, "o/new", "new");
  lg_dir (&g, "o/sub/", 0755);
  lg_file (&g, "o/sub/z", "z");
  lg_file (&g, "o/.wh..wh..opq", NULL);
  add_layer (im, &g);
}

/* opaque directory whose new entries come only through implicit parents, an opaque
 * directory that stays empty, an opaque marker in a directory new in this layer */
static void
b_opq_deep (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "p/", 0755);
  lg_dir (&g, "p/q/", 0755);
  lg_dir (&g, "p/q/r/", 0755);
  lg_file (&g, "p/q/r/old", "old");
  lg_file (&g, "p/q/sibling", "s");
  lg_dir (&g, "f/", 0755);
  lg_file (&g, "f/x", "x");
  add_layer (im, &g);
  lg_dir (&g, "p/", 0755);
  lg_file (&g, "p/.wh..wh..opq", NULL);
  lg_dir (&g, "p/q/", 0755);
  lg_dir (&g, "p/q/r/", 0755);
  lg_file (&g, "p/q/r/new", "new");
  lg_dir (&g, "f/", 0755);
  lg_file (&g, "f/.wh..wh..opq", NULL);
  lg_dir (&g, "n/", 0755);
  lg_file (&g, "n/.wh..wh..opq", NULL);
  lg_file (&g, "n/k", "k");
  add_layer (im, &g);
}

/* moby's TestApplyLayerWhiteouts-style stack of three layers */
static void
b_opq_stack (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "foo/", 0755);
  lg_file (&g, "foo/abc", "1");
  lg_file (&g, "foo/cde", "1");
  lg_file (&g, "bar", "1");
  lg_file (&g, "baz", "1");
  add_layer (im, &g);
  lg_file (&g, ".wh.baz", NULL);
  lg_dir (&g, "foo/", 0755);
  lg_file (&g, "foo/.wh.cde", NULL);
  lg_file (&g, "foo/new", "2");
  add_layer (im, &g);
  lg_dir (&g, "foo/", 0755);
  lg_file (&g, "foo/.wh..wh..opq", NULL);
  lg_file (&g, "foo/last", "3");
  lg_file (&g, "baz", "3");
  add_layer (im, &g);
}

/* whiteouts whose directory is a lower symlink, through a dangling symlink, of a
 * symlink itself */
static void
b_wh_symlink (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file (&g, "etc/whitedout", "x");
  lg_file (&g, "etc/stay", "x");
  lg_symlink (&g, "localetc", "/etc");
  lg_symlink (&g, "dead", "/nonexistent/dir");
  lg_symlink (&g, "gonelink", "etc");
  add_layer (im, &g);
  lg_file (&g, "localetc/.wh.whitedout", NULL);
  lg_file (&g, "dead/.wh.anything", NULL);
  lg_file (&g, ".wh.gonelink", NULL);
  add_layer (im, &g);
}

/* a whiteout of one name of a hardlink set keeps the others */
static void
b_wh_hardlink (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a", "shared");
  lg_hardlink (&g, "b", "a");
  lg_hardlink (&g, "c", "a");
  add_layer (im, &g);
  lg_file (&g, ".wh.b", NULL);
  add_layer (im, &g);
}

/* a directory with a subtree replaced by a file, a symlink and a hardlink */
static void
b_dir_to_file (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "d1/", 0755);
  lg_dir (&g, "d1/sub/", 0755);
  lg_file (&g, "d1/sub/f", "f");
  lg_dir (&g, "d2/", 0755);
  lg_file (&g, "d2/f", "f");
  lg_dir (&g, "d3/", 0755);
  lg_file (&g, "d3/f", "f");
  lg_file (&g, "src", "src");
  add_layer (im, &g);
  lg_file_full (&g, "d1", 0600, 3, 4, 1000, "d1 is a file");
  lg_symlink (&g, "d2", "d1");
  lg_hardlink (&g, "d3", "src");
  add_layer (im, &g);
}

/* a file, a symlink and a hardlinked name replaced by directories with children */
static void
b_file_to_dir (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "f", "file");
  lg_symlink (&g, "s", "/etc");
  lg_dir (&g, "etc/", 0755);
  lg_file (&g, "etc/keep", "k");
  lg_file (&g, "h1", "hl");
  lg_hardlink (&g, "h2", "h1");
  add_layer (im, &g);
  lg_dir (&g, "f/", 0711);
  lg_file (&g, "f/child", "c");
  lg_dir (&g, "s/", 0755);
  lg_file (&g, "s/own", "o");
  lg_dir (&g, "h2/", 0700);
  add_layer (im, &g);
}

/* a symlink replaced by a file and a file replaced by a symlink, and back again */
static void
b_link_file_swap (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "s2f", "target");
  lg_file (&g, "f2s", "file");
  lg_dir (&g, "back/", 0755);
  lg_file (&g, "back/x", "x");
  add_layer (im, &g);
  lg_file (&g, "s2f", "now a file");
  lg_symlink (&g, "f2s", "s2f");
  lg_file (&g, "back", "file");
  add_layer (im, &g);
  lg_dir (&g, "back/", 0700);
  lg_file (&g, "back/y", "y");
  add_layer (im, &g);
}

/* a directory over a directory: new metadata, children kept */
static void
b_dir_merge (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "merge/", 0700);
  lg_file (&g, "merge/old", "x");
  lg_hdr (&g, "merge/sub/", '5', 0755, 1, 1, 0, 1000, NULL, 0, 0);
  add_layer (im, &g);
  lg_hdr (&g, "merge/", '5', 0750, 7, 8, 0, 5, NULL, 0, 0);
  lg_file (&g, "merge/new", "y");
  lg_hdr (&g, "merge/sub", '5', 02775, 9, 9, 0, 5, NULL, 0, 0); /* no trailing slash */
  add_layer (im, &g);
}

/* a non-directory where a parent directory is needed is replaced by a directory */
static void
b_nondir_parent (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "nondir", "x");
  lg_symlink (&g, "dangling", "/nowhere");
  add_layer (im, &g);
  lg_dir (&g, "nondir/", 0755);
  lg_dir (&g, "nondir/foo/", 0755);
  lg_file (&g, "nondir/foo/bar", "x");
  add_layer (im, &g);
}

/* hardlinks: in one layer, to a lower file, through a symlinked parent, absolute,
 * to a symlink, to itself, chains */
static void
b_hardlinks (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file_full (&g, "etc/passwd", 0600, 5, 6, 1000, "pw");
  lg_symlink (&g, "etc/link", "passwd");
  lg_symlink (&g, "localetc", "/etc");
  lg_file_full (&g, "suid", 04711, 0, 0, 1000, "suid");
  lg_hardlink (&g, "suid2", "suid");
  add_layer (im, &g);
  lg_hardlink (&g, "hl", "etc/passwd");
  lg_hardlink (&g, "hl-abs", "/etc/passwd");
  lg_hardlink (&g, "hl-via-symlink", "localetc/passwd");
  lg_hardlink (&g, "hl-sym", "etc/link");
  lg_hardlink (&g, "hl-chain", "hl");
  lg_file (&g, "new", "new");
  lg_hardlink (&g, "new2", "./new");
  add_layer (im, &g);
}

/* a later full entry breaks a hardlink, in the same layer and in an upper one */
static void
b_hardlink_break (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a", "shared");
  lg_hardlink (&g, "b", "a");
  lg_hardlink (&g, "c", "a");
  lg_file (&g, "p", "pp");
  lg_hardlink (&g, "q", "p");
  add_layer (im, &g);
  lg_file (&g, "b", "mine");
  lg_file_full (&g, "p", 0600, 0, 0, 1000, "new p");
  lg_hardlink (&g, "r", "p");
  add_layer (im, &g);
}

/* symlinks in the same layer: absolute, with '/..', chains */
static void
b_symlink_same_layer (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_symlink (&g, "localetc", "/etc");
  lg_file (&g, "localetc/unbroken", "a");
  lg_symlink (&g, "upout", "/dummy/../etc");
  lg_file (&g, "upout/up", "b");
  lg_dir (&g, "dummy/", 0755);
  lg_symlink (&g, "dummy/etc", "/etc");
  lg_symlink (&g, "chain", "./dummy/etc");
  lg_file (&g, "chain/chained", "e");
  add_layer (im, &g);
}

/* relative symlinks that climb above the root, a symlink to / */
static void
b_symlink_climb (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_dir (&g, "x/", 0755);
  lg_dir (&g, "x/y/", 0755);
  lg_symlink (&g, "x/y/rel", "../../../../../etc");
  lg_file (&g, "x/y/rel/relfile", "c");
  lg_symlink (&g, "foo", "/");
  lg_file (&g, "foo/tmp/x", "d");
  lg_symlink (&g, "dots", "../..");
  lg_file (&g, "dots/atroot", "r");
  add_layer (im, &g);
}

/* entries through symlinks of a lower layer, creating missing directories */
static void
b_symlink_lower (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "usr/", 0755);
  lg_dir (&g, "usr/lib/", 0755);
  lg_symlink (&g, "lib", "usr/lib");
  lg_dir (&g, "var/", 0755);
  lg_dir (&g, "run/", 0755);
  lg_symlink (&g, "var/run", "/run");
  lg_symlink (&g, "abs", "/usr/lib");
  add_layer (im, &g);
  lg_dir (&g, "lib/systemd/", 0755);
  lg_dir (&g, "lib/systemd/system/", 0755);
  lg_file (&g, "lib/systemd/system/container.service", "unit");
  lg_file (&g, "var/run/pid", "1");
  lg_file (&g, "abs/libx.so", "x");
  add_layer (im, &g);
}

/* a symlink to / replaced by a directory in a later layer */
static void
b_symlink_to_dir (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "foo", "/");
  lg_dir (&g, "tmp/", 0755);
  lg_file (&g, "foo/tmp/x", "root");
  add_layer (im, &g);
  lg_dir (&g, "foo/", 0755);
  lg_dir (&g, "foo/tmp/", 0755);
  lg_file (&g, "foo/tmp/x", "own");
  add_layer (im, &g);
}

/* symlinks stored as-is: dangling, to itself, to '..', odd targets, long targets */
static void
b_symlink_kinds (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "dangling", "/no/such/thing");
  lg_symlink (&g, "self", "self");
  lg_symlink (&g, "up", "..");
  lg_symlink (&g, "climb", "../../../etc/shadow");
  lg_symlink (&g, "dot", ".");
  lg_symlink (&g, "space", "a b  c");
  lg_symlink (&g, "slashes", "//etc///passwd/");
  lg_hdr (&g, "mode0700", '2', 0700, 3, 4, 0, 1000, "x", 0, 0);
  lg_pax (&g, "linkpath",
          "/very/long/target/ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt",
          NULL, NULL);
  lg_symlink (&g, "longtarget", "t");
  add_layer (im, &g);
}

/* pax long names and link names, UTF-8 pax names */
static void
b_pax_long (struct img *im)
{
  struct lg g = { 0 };
  char longdir[400];
  memset (longdir, 'd', 150);
  memcpy (longdir + 150, "/", 2);
  lg_dir (&g, "pax/", 0755);
  lg_pax (&g, "path", "pax/long/name/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/file",
          "linkpath", "target/with/a/very/long/name/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
  lg_symlink (&g, "truncated-pax", "t");
  lg_pax (&g, "path", "pax/long/name/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/data",
          NULL, NULL);
  lg_file (&g, "truncated-file", "pax data");
  lg_pax (&g, "path", "pax/hl-with-a-long-name-wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
          "linkpath", "pax/long/name/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/data");
  lg_hardlink (&g, "truncated-hl", "t");
  lg_pax (&g, "path", "pax/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xf0\x9f\x90\xb3", NULL, NULL);
  lg_file (&g, "x", "utf-8 pax");
  add_layer (im, &g);
}

/* GNU long name ('L') and long link ('K') records */
static void
b_gnu_long (struct img *im)
{
  struct lg g = { 0 };
  char longname[3100];
  memset (longname, 'n', sizeof longname);
  for (int i = 200; i < 3000; i += 200)
    longname[i] = '/';
  longname[3000] = '\0';
  lg_gnu_long (&g, 'L', longname);
  lg_file (&g, "truncated-gnu", "gnu");
  lg_gnu_long (&g, 'L', "gnu/symlink-with-a-long-name-sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss");
  lg_gnu_long (&g, 'K', "/target/kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
  lg_symlink (&g, "t1", "t");
  lg_gnu_long (&g, 'K', longname);
  lg_hardlink (&g, "gnu/hardlink", "t");
  add_layer (im, &g);
}

/* every combination of setuid, setgid and sticky on files and directories */
static void
b_special_bits (struct img *im)
{
  struct lg g = { 0 };
  static const unsigned modes[] = { 07777, 04755, 02755, 01755, 06711, 05700, 03777, 04000, 0, 0444, 02710 };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    {
      char nm[32];
      snprintf (nm, sizeof nm, "f%04o", modes[i]);
      lg_file_full (&g, nm, modes[i], 0, 0, 1000, nm);
      snprintf (nm, sizeof nm, "d%04o/", modes[i] | 0700);
      lg_hdr (&g, nm, '5', modes[i] | 0700, 0, 0, 0, 1000, NULL, 0, 0);
    }
  add_layer (im, &g);
}

/* numeric owners: ustar octal up to its maximum, pax beyond it; names are ignored */
static void
b_owners (struct img *im)
{
  struct lg g = { 0 };
  lg_file_full (&g, "u1", 0644, 1, 2, 1000, "1");
  lg_file_full (&g, "nobody", 0644, 65534, 65534, 1000, "n");
  lg_file_full (&g, "ustar-max", 0644, 2097151, 2097150, 1000, "m");
  lg_pax (&g, "uid", "100000", "gid", "200000");
  lg_file (&g, "pax-subuid", "s");
  lg_pax (&g, "uid", "2000000000", "gid", "3000000000");
  lg_file (&g, "pax-big", "b");
  lg_pax (&g, "uname", "nosuchuser", "gname", "nosuchgroup");
  lg_file_full (&g, "named", 0644, 7, 8, 1000, "named");
  lg_hdr (&g, "owned-dir/", '5', 0750, 1000, 1001, 0, 1000, NULL, 0, 0);
  lg_hdr (&g, "owned-link", '2', 0777, 33, 34, 0, 1000, "u1", 0, 0);
  add_layer (im, &g);
}

static char sparse_path[4300];

/* a sparse file (GNU sparse 1.0 in pax) next to an ordinary one */
static void
b_sparse (struct img *im)
{
  snprintf (sparse_path, sizeof sparse_path, "%s/sparse.tar", lg_dir_tmp);
  lg_sparse_tar (sparse_path, "sparse", 1 << 20, 512 * 1024, 4096);
  im->layers[im->n++] = strdup (sparse_path);
}

/* empty, 512-byte-multiple and larger files */
static void
b_sizes (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "empty", NULL);
  char *buf = malloc (300001);
  memset (buf, 'b', 512);
  buf[512] = '\0';
  lg_file (&g, "exact512", buf);
  for (int i = 0; i < 300000; i++)
    buf[i] = (char) ('a' + i % 23);
  buf[300000] = '\0';
  lg_file (&g, "big", buf);
  free (buf);
  lg_file (&g, "nl", "\n");
  add_layer (im, &g);
}

/* identical duplicate entries are accepted; './name' and 'name' are one path;
 * absolute names are re-rooted */
static void
b_names (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file (&g, "etc/dup", "same");
  lg_file (&g, "./etc/dup", "same");
  lg_file (&g, "/etc/abs", "abs");
  lg_file (&g, "./dot/./slash//f", "dot");
  lg_dir (&g, "etc", 0755);
  lg_dir (&g, "./etc/", 0755);
  lg_file (&g, "trailing.", "t");
  lg_file (&g, "..dots", "d");
  lg_file (&g, "...", "3");
  lg_file (&g, "name with spaces", "s");
  lg_file (&g, "\x01" "ctl", "c");
  add_layer (im, &g);
}

/* a hardlink to itself, of a lower file and of one from the same layer: no-ops */
static void
b_hardlink_self (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "lower", "l");
  add_layer (im, &g);
  lg_hardlink (&g, "lower", "lower");
  lg_file (&g, "same", "s");
  lg_hardlink (&g, "same", "./same");
  add_layer (im, &g);
}

static void
c_hardlink_self (enclaver_tree_t *t)
{
  struct enclaver_tree_stat a, b;
  tap_ok (enclaver_tree_stat (t, "lower", 0, &a, NULL) == 0 && enclaver_tree_stat (t, "same", 0, &b, NULL) == 0
              && a.type == ENCLAVER_NODE_REG && b.type == ENCLAVER_NODE_REG && a.nlink == 1 && b.nlink == 1
              && a.size == 1 && b.size == 1,
          "hardlink-self: both files kept, one name each");
}

static void
c_hardlink_into_self (enclaver_tree_t *t)
{
  struct enclaver_tree_stat st;
  char *s = NULL;
  tap_ok (enclaver_tree_stat (t, "x", 0, &st, NULL) == 0 && st.type == ENCLAVER_NODE_DIR
              && enclaver_tree_read_file (t, "x/y", 100, &s, NULL, NULL) == 0 && strcmp (s, "data of x") == 0,
          "hardlink-into-self: x became a directory, x/y keeps the file");
  free (s);
}

/* a file where a parent directory is needed and no directory entry replaces it */
static void
b_nondir_implicit (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "nondir", "x");
  add_layer (im, &g);
  lg_file (&g, "nondir/foo/bar", "x");
  add_layer (im, &g);
}

static void
c_nondir_implicit (enclaver_tree_t *t)
{
  struct enclaver_tree_stat st;
  tap_ok (enclaver_tree_stat (t, "nondir", 0, &st, NULL) == 0 && st.type == ENCLAVER_NODE_DIR
              && enclaver_tree_lookup (t, "nondir/foo/bar", 0, NULL) != NULL,
          "nondir-implicit: the file became a directory holding the new entry");
}

static void
c_xattrs (enclaver_tree_t *t)
{
  struct enclaver_tree_stat st;
  tap_ok (enclaver_tree_stat (t, "bin/ping", 0, &st, NULL) == 0 && st.has_xattrs,
          "xattrs: their presence is recorded on the node");
}

/* a hardlink whose own path needs its target's name as a directory (x/y -> x) */
static void
b_hardlink_into_self (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "x", "data of x");
  add_layer (im, &g);
  lg_hardlink (&g, "x/y", "x");
  add_layer (im, &g);
}

/* parent directories that the layer does not list */
static void
b_implicit_parents (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a/b/c/file", "deep");
  lg_symlink (&g, "s/t/link", "/a");
  add_layer (im, &g);
}

/* the root entry: ignored by us (the root stays 0755 0:0) */
static void
b_root_entry (struct img *im)
{
  struct lg g = { 0 };
  lg_hdr (&g, "./", '5', 0700, 5, 5, 0, 99, NULL, 0, 0);
  lg_file (&g, "f", "x");
  add_layer (im, &g);
  lg_hdr (&g, "/", '5', 0750, 6, 6, 0, 99, NULL, 0, 0);
  lg_file (&g, "g", "y");
  add_layer (im, &g);
}

/* device nodes and FIFOs: dropped by us, and they hide the lower path */
static void
b_devices (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "dev/", 0755);
  lg_file (&g, "dev/null", "was a file");
  lg_dir (&g, "run/", 0755);
  add_layer (im, &g);
  lg_hdr (&g, "dev/null", '3', 0666, 0, 0, 0, 0, NULL, 1, 3);
  lg_hdr (&g, "dev/sda", '4', 0660, 0, 6, 0, 0, NULL, 8, 0);
  lg_hdr (&g, "run/fifo", '6', 0644, 0, 0, 0, 0, NULL, 0, 0);
  lg_file (&g, "after", "x");
  add_layer (im, &g);
}

/* xattrs: present in the layer, not in a newc ramdisk */
static void
b_xattrs (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "bin/", 0755);
  /* a pax record with a binary value (vfs_cap_data v2: cap_net_raw permitted and
   * effective), written with the raw helpers because lg_pax takes C strings */
  static const char cap[] = "57 SCHILY.xattr.security.capability=\x01\x00\x00\x02\x00\x20\x00\x00"
                            "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\n";
  lg_hdr (&g, "PaxHeader", 'x', 0644, 0, 0, sizeof cap - 1, 0, NULL, 0, 0);
  lg_put (&g, cap, sizeof cap - 1);
  lg_pad (&g);
  lg_file (&g, "bin/ping", "ping");
  lg_pax (&g, "SCHILY.xattr.user.note", "hello", NULL, NULL);
  lg_file (&g, "noted", "n");
  add_layer (im, &g);
}

/* whiteout timing: the same layer whites out lower/.wh.x through the symlink 'link'
 * and then repoints 'link'; umoci resolves the whiteout through the old link as it
 * reads it, we resolve it at the end of the layer through the new one. */
static void
b_wh_timing (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "old/", 0755);
  lg_file (&g, "old/x", "old x");
  lg_dir (&g, "new/", 0755);
  lg_file (&g, "new/x", "new x");
  lg_symlink (&g, "link", "old");
  add_layer (im, &g);
  lg_file (&g, "link/.wh.x", NULL);
  lg_symlink (&g, "link", "new");
  add_layer (im, &g);
}

/* a device node over a lower directory */
static void
b_device_over_dir (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "d/", 0755);
  lg_file (&g, "d/child", "c");
  add_layer (im, &g);
  lg_hdr (&g, "d", '3', 0600, 0, 0, 0, 0, NULL, 1, 3);
  add_layer (im, &g);
}

static unsigned n_identical, n_divergent;

struct bcase
{
  const char *name;
  void (*build) (struct img *);
  const char *const *expect; /* exact accepted differences; NULL: none */
  mode_t umask;              /* for umoci (0 = 022) */
  int root_only;             /* umoci --rootless cannot express it */
  const char *warning;       /* our flatten must log this */
  const char *umoci_error;   /* umoci refuses the image with this message; we accept it */
  void (*check) (enclaver_tree_t *); /* what our tree must hold */
};

static const char *const x_devices[] = {
  "umoci: dev/null|c|0666|0:0|0|-|-|1|-",
  "umoci: dev/sda|b|0660|0:6|0|-|-|1|-",
  "umoci: run/fifo|p|0644|0:0|0|-|-|1|-",
  NULL,
};
static const char *const x_device_over_dir[] = {
  "umoci: d|c|0600|0:0|0|-|-|1|-",
  NULL,
};
static const char *const x_xattrs[] = {
  "ours:  bin/ping|r|0644|0:0|4|sha(ping)|-|1|-",
  "ours:  noted|r|0644|0:0|1|sha(n)|-|1|-",
  "umoci: bin/ping|r|0644|0:0|4|sha(ping)|-|1|security.capability",
  "umoci: noted|r|0644|0:0|1|sha(n)|-|1|user.note",
  NULL,
};
static const char *const x_implicit[] = {
  "ours:  .|d|0755|0:0|0|-|-|-|-",
  "umoci: .|d|0700|0:0|0|-|-|-|-",
  "ours:  a/b/c|d|0755|0:0|0|-|-|-|-",
  "ours:  a/b|d|0755|0:0|0|-|-|-|-",
  "ours:  a|d|0755|0:0|0|-|-|-|-",
  "ours:  s/t|d|0755|0:0|0|-|-|-|-",
  "ours:  s|d|0755|0:0|0|-|-|-|-",
  "umoci: a/b/c|d|0700|0:0|0|-|-|-|-",
  "umoci: a/b|d|0700|0:0|0|-|-|-|-",
  "umoci: a|d|0700|0:0|0|-|-|-|-",
  "umoci: s/t|d|0700|0:0|0|-|-|-|-",
  "umoci: s|d|0700|0:0|0|-|-|-|-",
  NULL,
};
static const char *const x_wh_timing[] = {
  "ours:  old/x|r|0644|0:0|5|sha(old x)|-|1|-",
  "umoci: new/x|r|0644|0:0|5|sha(new x)|-|1|-",
  NULL,
};

static const char *const x_symlink_mode[] = {
  "ours:  mode0700|l|0700|3:4|1|-|x|1|-",
  "umoci: mode0700|l|0777|3:4|1|-|x|1|-",
  NULL,
};
static const char *const x_root_entry[] = {
  "ours:  .|d|0755|0:0|0|-|-|-|-",
  "umoci: .|d|0750|6:6|0|-|-|-|-",
  NULL,
};

#define LOWER_SYMLINK_WARNING "passed through a symlink from a lower layer"
static const struct bcase BENIGN[] = {
  { .name = "modes", .build = b_modes },
  { .name = "whiteouts", .build = b_whiteouts },
  { .name = "type-changes", .build = b_type_changes, .warning = LOWER_SYMLINK_WARNING },
  { .name = "wh-basic", .build = b_wh_basic },
  { .name = "wh-order", .build = b_wh_order },
  { .name = "opq-first", .build = b_opq_first },
  { .name = "opq-last", .build = b_opq_last },
  { .name = "opq-deep", .build = b_opq_deep },
  { .name = "opq-stack", .build = b_opq_stack },
  { .name = "wh-symlink", .build = b_wh_symlink },
  { .name = "wh-hardlink", .build = b_wh_hardlink },
  { .name = "dir-to-file", .build = b_dir_to_file },
  { .name = "file-to-dir", .build = b_file_to_dir },
  { .name = "link-file-swap", .build = b_link_file_swap },
  { .name = "dir-merge", .build = b_dir_merge },
  { .name = "nondir-parent", .build = b_nondir_parent },
  { .name = "hardlinks", .build = b_hardlinks },
  { .name = "hardlink-break", .build = b_hardlink_break },
  { .name = "symlink-same-layer", .build = b_symlink_same_layer },
  { .name = "symlink-climb", .build = b_symlink_climb },
  { .name = "symlink-lower", .build = b_symlink_lower, .warning = LOWER_SYMLINK_WARNING },
  { .name = "symlink-to-dir", .build = b_symlink_to_dir },
  { .name = "symlink-kinds", .build = b_symlink_kinds, .expect = x_symlink_mode },
  { .name = "pax-long", .build = b_pax_long },
  { .name = "gnu-long", .build = b_gnu_long },
  { .name = "special-bits", .build = b_special_bits },
  { .name = "owners", .build = b_owners },
  { .name = "sparse", .build = b_sparse },
  { .name = "sizes", .build = b_sizes },
  { .name = "names", .build = b_names },
  { .name = "root-entry", .build = b_root_entry, .expect = x_root_entry },
  { .name = "implicit-parents", .build = b_implicit_parents, .expect = x_implicit, .umask = 077 },
  { .name = "devices", .build = b_devices, .expect = x_devices, .root_only = 1,
    .warning = "dropping device node 'dev/null'" },
  { .name = "device-over-dir", .build = b_device_over_dir, .expect = x_device_over_dir, .root_only = 1,
    .warning = "dropping device node 'd'" },
  { .name = "xattrs", .build = b_xattrs, .expect = x_xattrs, .root_only = 1,
    .warning = "file capabilities are lost", .check = c_xattrs },
  { .name = "wh-timing", .build = b_wh_timing, .expect = x_wh_timing },
  { .name = "hardlink-self", .build = b_hardlink_self, .umoci_error = "unpack entry: lower: link: ",
    .check = c_hardlink_self },
  { .name = "hardlink-into-self", .build = b_hardlink_into_self, .umoci_error = "not a directory",
    .warning = "1 non-directory from a lower layer was replaced by directories", .check = c_hardlink_into_self },
  { .name = "nondir-implicit", .build = b_nondir_implicit, .umoci_error = "not a directory",
    .warning = "1 non-directory from a lower layer was replaced by directories", .check = c_nondir_implicit },
};


static void
run_benign (const struct bcase *c)
{
  if (c->root_only && rootless)
    {
      tap_ok (1, "%s # SKIP umoci --rootless cannot create it", c->name);
      return;
    }
  struct img im = { 0 };
  c->build (&im);
  char dir[4300];
  snprintf (dir, sizeof dir, "%s/umoci-%s", lg_dir_tmp, c->name);
  int ur = umoci_unpack (&im, dir, c->umask ? c->umask : 022);
  if (c->umoci_error)
    {
      char lp[4400], *ulog = NULL;
      struct enclaver_apply_options o;
      enclaver_apply_options_init (&o);
      char *msg = NULL, *log = NULL;
      snprintf (lp, sizeof lp, "%s/umoci.log", dir);
      enclaver_read_file_for_test (lp, &ulog);
      tap_ok (ur != 0, "%s: umoci refuses the image", c->name);
      TAP_CONTAINS (ulog, c->umoci_error, "%s: umoci's error", c->name);
      enclaver_tree_t *t = flatten (&im, &o, &msg, &log);
      if (!tap_ok (t != NULL, "%s: our flatten succeeded", c->name))
        tap_diag ("%s", msg);
      if (c->warning)
        TAP_CONTAINS (log, c->warning, "%s: our flatten warns", c->name);
      if (t && c->check)
        c->check (t);
      enclaver_tree_free (t);
      free (ulog);
      free (msg);
      free (log);
      img_free (&im);
      n_divergent++;
      return;
    }
  if (!tap_ok (ur == 0, "%s: umoci built and unpacked the image", c->name))
    {
      char cmd[4400];
      snprintf (cmd, sizeof cmd, "tail -n 3 '%s/umoci.log' | sed 's/^/# /'", dir);
      fflush (stdout);
      if (system (cmd) != 0)
        tap_diag ("no umoci log");
      img_free (&im);
      return;
    }
  struct enclaver_apply_options o;
  enclaver_apply_options_init (&o);
  char *msg = NULL, *log = NULL;
  enclaver_tree_t *t = flatten (&im, &o, &msg, &log);
  if (!tap_ok (t != NULL, "%s: our flatten succeeded", c->name))
    tap_diag ("%s", msg);
  if (c->warning)
    TAP_CONTAINS (log, c->warning, "%s: our flatten warns", c->name);
  else if (log && *log)
    tap_diag ("%s: %s", c->name, log);

  struct rec ours = { 0 }, theirs = { 0 }, diffs = { 0 }, want = { 0 };
  if (t)
    walk_ours (t, &ours);
  walk_umoci (dir, &theirs);
  diff_recs (&ours, &theirs, &diffs);
  rec_sort (&diffs);
  for (const char *const *e = c->expect; e && *e; e++)
    rec_add (&want, expand (*e));
  rec_sort (&want);

  int same = diffs.n == want.n;
  for (size_t i = 0; same && i < diffs.n; i++)
    same = strcmp (diffs.lines[i], want.lines[i]) == 0;
  if (!same)
    {
      for (size_t i = 0; i < diffs.n; i++)
        tap_diag ("  got      %s", diffs.lines[i]);
      for (size_t i = 0; i < want.n; i++)
        tap_diag ("  expected %s", want.lines[i]);
    }
  if (want.n == 0)
    tap_ok (same && ours.n > 1, "%s: %zu paths identical to umoci unpack (%zu differences)", c->name, ours.n,
            diffs.n);
  else
    tap_ok (same && ours.n >= 1, "%s: %zu paths; exactly the %zu documented differences from umoci unpack",
            c->name, ours.n, want.n);
  if (same)
    {
      if (want.n)
        n_divergent++;
      else
        n_identical++;
    }

  if (t && c->check)
    c->check (t);
  rec_free (&ours);
  rec_free (&theirs);
  rec_free (&diffs);
  rec_free (&want);
  free (msg);
  free (log);
  enclaver_tree_free (t);
  img_free (&im);
}

int
main (void)
{
  umoci_require ();
  size_t nb = sizeof BENIGN / sizeof BENIGN[0];
  for (size_t i = 0; i < nb; i++)
    run_benign (&BENIGN[i]);
  tap_diag ("%zu benign images: %u identical to umoci, %u with only their documented differences", nb, n_identical,
            n_divergent);
  tap_ok (nb >= 25, "at least 25 benign images compared with umoci");
  lg_cleanup ();
  return tap_done ();
}
