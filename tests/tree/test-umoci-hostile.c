/* Peer comparison, hostile images (tests/tree/umoci-peer.h has the shared part): our
 * flatten must fail with the documented message or neutralise the input as documented
 * (then the tree is checked, and compared with `umoci unpack` when umoci neutralises it
 * the same way).  Nothing may appear on the host outside the bundle: the entries that
 * try to escape are named with a tag unique to this run (escape_tag), so a file an
 * earlier run left behind can neither hide nor fake an escape of this one.
 *
 * Skips when umoci is not installed. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"
#include "tests/tree/umoci-peer.h"

/* "enclaver-escape-PID-TIME-": the prefix of every name an escaping entry would
 * create on the host, fresh for each run. */
static char escape_tag[64];

static const char *const ESCAPES[] = { "dotdot", "rel", "abs", "lower" };

/* DIR/ (may be empty) + this run's escape name of KIND; one of four static buffers */
static const char *
esc (const char *dir, const char *kind)
{
  static char bufs[4][256];
  static unsigned next;
  char *b = bufs[next++ % 4];
  snprintf (b, sizeof bufs[0], "%s%s%s", dir, escape_tag, kind);
  return b;
}

/* -------------------------------------------------------------- hostile cases */

static void
h_dotdot_lead (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, esc ("../", "dotdot"), "x");
  add_layer (im, &g);
}

static void
h_dotdot_abs (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, esc ("/../", "dotdot"), "x");
  add_layer (im, &g);
}

static void
h_dotdot_inner (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a/../b", "x");
  add_layer (im, &g);
}

static void
h_dotdot_deep (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, esc ("a/b/../../../../", "dotdot"), "x");
  add_layer (im, &g);
}

/* symlinks that point outside: entries through them land inside the tree */
static void
h_symlink_escape (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "tmp/", 0755);
  lg_symlink (&g, "esc", "../../../../../../../tmp");
  lg_file (&g, esc ("esc/", "rel"), "rel");
  lg_symlink (&g, "escabs", "/../../tmp");
  lg_file (&g, esc ("escabs/", "abs"), "abs");
  add_layer (im, &g);
  lg_file (&g, esc ("esc/", "lower"), "lower");
  add_layer (im, &g);
}

static void
h_symlink_escape_check (enclaver_tree_t *t)
{
  char *s = NULL;
  int ok = enclaver_tree_read_file (t, esc ("tmp/", "rel"), 100, &s, NULL, NULL) == 0 && strcmp (s, "rel") == 0;
  free (s);
  s = NULL;
  ok = ok && enclaver_tree_read_file (t, esc ("tmp/", "abs"), 100, &s, NULL, NULL) == 0 && strcmp (s, "abs") == 0;
  free (s);
  s = NULL;
  ok = ok && enclaver_tree_read_file (t, esc ("tmp/", "lower"), 100, &s, NULL, NULL) == 0
       && strcmp (s, "lower") == 0;
  free (s);
  tap_ok (ok, "symlink-escape: the entries landed in the image's /tmp");
}

/* a hardlink through a symlink that points outside cannot reach a host file */
static void
h_hardlink_escape (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "esc", "../../../../../../..");
  lg_hardlink (&g, "passwd", "esc/etc/passwd");
  add_layer (im, &g);
}

static void
h_hardlink_dotdot (struct img *im)
{
  struct lg g = { 0 };
  lg_hardlink (&g, "passwd", "../../../../../etc/passwd");
  add_layer (im, &g);
}

static void
h_hardlink_missing (struct img *im)
{
  struct lg g = { 0 };
  lg_hardlink (&g, "missing", "no/such/file");
  add_layer (im, &g);
}

static void
h_hardlink_forward (struct img *im)
{
  struct lg g = { 0 };
  lg_hardlink (&g, "later", "notyet");
  lg_file (&g, "notyet", "x");
  add_layer (im, &g);
}

static void
h_hardlink_dir (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_hardlink (&g, "dirlink", "etc");
  add_layer (im, &g);
}

static void
h_hardlink_root (struct img *im)
{
  struct lg g = { 0 };
  lg_hardlink (&g, "rootlink", "/");
  add_layer (im, &g);
}

static void
h_hardlink_data (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "t", "target");
  lg_pax (&g, "size", "5", NULL, NULL);
  lg_hdr (&g, "withdata", '1', 0644, 0, 0, 5, 0, "t", 0, 0);
  lg_put (&g, "HELLO", 5);
  lg_pad (&g);
  add_layer (im, &g);
}

static void
h_whiteout_dotdot (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "etc/x", "x");
  add_layer (im, &g);
  lg_file (&g, "dne/../.wh.etc", NULL);
  add_layer (im, &g);
}

/* a whiteout through a symlink pointing outside removes only the image's path */
static void
h_whiteout_escape (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "victim/", 0755);
  lg_file (&g, "victim/x", "x");
  lg_file (&g, "stay", "s");
  lg_symlink (&g, "esc", "../../../../..");
  add_layer (im, &g);
  lg_file (&g, "esc/.wh.victim", NULL);
  add_layer (im, &g);
}

static void
h_whiteout_escape_check (enclaver_tree_t *t)
{
  tap_ok (enclaver_tree_lookup (t, "victim", 0, NULL) == NULL && enclaver_tree_lookup (t, "stay", 0, NULL) != NULL,
          "whiteout-escape: only the image's /victim was removed");
}

static const char *invalid_wh_name;

static void
h_whiteout_invalid (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "etc/passwd", "x");
  add_layer (im, &g);
  lg_file (&g, invalid_wh_name, NULL);
  add_layer (im, &g);
}

static void
h_root_symlink (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, ".", "/tmp");
  lg_file (&g, "f", "x");
  add_layer (im, &g);
}

static void
h_root_file (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, ".", "root as a file");
  add_layer (im, &g);
}

static void
h_dup_conflict (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "dup", "one");
  lg_file (&g, "dup", "two");
  add_layer (im, &g);
}

static void
h_dup_type (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "dup", "one");
  lg_symlink (&g, "./dup", "one");
  add_layer (im, &g);
}

static void
h_dup_dir_meta (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "dd/", 0755);
  lg_hdr (&g, "./dd", '5', 0700, 0, 0, 0, 1000, NULL, 0, 0);
  add_layer (im, &g);
}

static void
h_dir_replaced_same_layer (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "sdir/a", "x");
  lg_file (&g, "sdir", "file");
  add_layer (im, &g);
}

static void
h_name_too_long (struct img *im)
{
  struct lg g = { 0 };
  char longname[5200];
  memset (longname, 'q', sizeof longname);
  for (int i = 200; i < 5000; i += 200)
    longname[i] = '/';
  longname[5000] = '\0';
  lg_pax (&g, "path", longname, NULL, NULL);
  lg_file (&g, "x", "x");
  add_layer (im, &g);
}

static void
h_link_too_long (struct img *im)
{
  struct lg g = { 0 };
  char longname[5200];
  memset (longname, 'k', sizeof longname);
  for (int i = 200; i < 5000; i += 200)
    longname[i] = '/';
  longname[5000] = '\0';
  lg_pax (&g, "linkpath", longname, NULL, NULL);
  lg_symlink (&g, "l", "x");
  add_layer (im, &g);
}

static void
h_component_too_long (struct img *im)
{
  struct lg g = { 0 };
  char longname[400];
  memset (longname, 'c', 300);
  longname[300] = '\0';
  lg_pax (&g, "path", longname, NULL, NULL);
  lg_file (&g, "x", "x");
  add_layer (im, &g);
}

static void
h_empty_name (struct img *im)
{
  struct lg g = { 0 };
  lg_hdr (&g, "", '0', 0644, 0, 0, 0, 0, NULL, 0, 0);
  add_layer (im, &g);
}

static void
h_empty_symlink (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "empty", "");
  add_layer (im, &g);
}

static void
h_non_utf8_pax (struct img *im)
{
  struct lg g = { 0 };
  lg_pax (&g, "path", "bad\xff\xfename", NULL, NULL);
  lg_file (&g, "x", "x");
  add_layer (im, &g);
}

static void
h_bad_checksum (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "good", "x");
  g.b[148] = '7';
  add_layer (im, &g);
}

static void
h_uid_2_32 (struct img *im)
{
  struct lg g = { 0 };
  lg_pax (&g, "uid", "4294967296", NULL, NULL);
  lg_file (&g, "biguid", "x");
  add_layer (im, &g);
}

static void
h_symlink_loop (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink (&g, "a", "/b");
  lg_symlink (&g, "b", "/a");
  lg_file (&g, "a/x", "loop");
  add_layer (im, &g);
}

static void
h_symlink_41 (struct img *im)
{
  struct lg g = { 0 };
  lg_symlink_chain (&g, 41);
  add_layer (im, &g);
}

static void
h_bytes (struct img *im)
{
  struct lg g = { 0 };
  char *big = malloc (2 << 20);
  memset (big, 'z', (2 << 20) - 1);
  big[(2 << 20) - 1] = '\0';
  lg_file (&g, "bomb", big);
  free (big);
  add_layer (im, &g);
}

static void
h_entries (struct img *im)
{
  struct lg g = { 0 };
  for (int i = 0; i < 20; i++)
    {
      char nm[32];
      snprintf (nm, sizeof nm, "f%d", i);
      lg_file (&g, nm, "x");
    }
  add_layer (im, &g);
}

static void
h_depth (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a/b/c/d/e/f/g/h", "x");
  add_layer (im, &g);
}

static void
h_depth_symlink (struct img *im)
{
  /* depth reached through a symlink's target, not the entry's own name */
  struct lg g = { 0 };
  lg_dir (&g, "a/", 0755);
  lg_dir (&g, "a/b/", 0755);
  lg_dir (&g, "a/b/c/", 0755);
  lg_dir (&g, "a/b/c/d/", 0755);
  lg_symlink (&g, "s", "a/b/c/d");
  lg_file (&g, "s/e/f", "x");
  add_layer (im, &g);
}

static void
h_huge_sparse (struct img *im)
{
  char p[4300];
  snprintf (p, sizeof p, "%s/huge-sparse.tar", lg_dir_tmp);
  lg_sparse_tar (p, "sparse", 1ll << 40, 512 * 1024, 4096);
  im->layers[im->n++] = strdup (p);
}

static void
h_diff_id (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "a", "x");
  add_layer (im, &g);
  im->diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
}

static void
h_not_tar (struct img *im)
{
  char p[4300];
  snprintf (p, sizeof p, "%s/junk.bin", lg_dir_tmp);
  FILE *f = fopen (p, "w");
  fputs ("BZh91AY&SYjunkjunkjunkjunk", f);
  fclose (f);
  im->layers[im->n++] = strdup (p);
}

static void
h_truncated (struct img *im)
{
  struct lg g = { 0 };
  char data[2000];
  memset (data, 'd', sizeof data - 1);
  data[sizeof data - 1] = '\0';
  lg_file (&g, "f", data);
  g.len = 512 + 700; /* header and part of the data */
  im->layers[im->n++] = lg_write (&g, "none", NULL);
}

static void
h_unknown_type_check (enclaver_tree_t *t)
{
  struct enclaver_tree_stat a, b;
  tap_ok (enclaver_tree_stat (t, "contig", 0, &a, NULL) == 0 && enclaver_tree_stat (t, "weird", 0, &b, NULL) == 0
              && a.type == ENCLAVER_NODE_REG && b.type == ENCLAVER_NODE_REG,
          "unknown-type: contiguous ('7') and unknown ('Z') entries are read as regular files");
}

static void
h_unsupported_type (struct img *im)
{
  struct lg g = { 0 };
  lg_hdr (&g, "contig", '7', 0644, 0, 0, 0, 0, NULL, 0, 0); /* contiguous file: regular */
  lg_hdr (&g, "weird", 'Z', 0644, 0, 0, 0, 0, NULL, 0, 0);
  add_layer (im, &g);
}

struct hcase
{
  const char *name;
  void (*build) (struct img *);
  const char *error;               /* our flatten must fail with this; NULL: neutralised */
  int lenient;
  uint64_t max_bytes, max_entries; /* 0: default */
  unsigned max_depth;
  void (*check) (enclaver_tree_t *); /* neutralised: what the tree must hold */
  int compare;                       /* neutralised: also identical to umoci */
};

static const struct hcase HOSTILE[] = {
  { "dotdot-lead", h_dotdot_lead, "'..'", 0, 0, 0, 0, NULL, 0 },
  { "dotdot-abs", h_dotdot_abs, "'..'", 0, 0, 0, 0, NULL, 0 },
  { "dotdot-inner", h_dotdot_inner, "'..'", 0, 0, 0, 0, NULL, 0 },
  { "dotdot-inner-lenient", h_dotdot_inner, NULL, 1, 0, 0, 0, NULL, 1 },
  { "dotdot-above-lenient", h_dotdot_deep, "above the root", 1, 0, 0, 0, NULL, 0 },
  { "symlink-escape", h_symlink_escape, NULL, 0, 0, 0, 0, h_symlink_escape_check, 1 },
  { "hardlink-escape", h_hardlink_escape, "does not exist", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-dotdot", h_hardlink_dotdot, "'..'", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-missing", h_hardlink_missing, "does not exist", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-forward", h_hardlink_forward, "does not exist", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-dir", h_hardlink_dir, "is a directory", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-root", h_hardlink_root, "hardlink", 0, 0, 0, 0, NULL, 0 },
  { "hardlink-data", h_hardlink_data, "carries 5 bytes", 0, 0, 0, 0, NULL, 0 },
  { "whiteout-dotdot", h_whiteout_dotdot, "'..'", 0, 0, 0, 0, NULL, 0 },
  { "whiteout-escape", h_whiteout_escape, NULL, 0, 0, 0, 0, h_whiteout_escape_check, 1 },
  { "whiteout-invalid", h_whiteout_invalid, "(the name)", 0, 0, 0, 0, NULL, 0 },
  { "root-symlink", h_root_symlink, "type of the root directory", 0, 0, 0, 0, NULL, 0 },
  { "root-file", h_root_file, "type of the root directory", 0, 0, 0, 0, NULL, 0 },
  { "dup-conflict", h_dup_conflict, "duplicate entry", 0, 0, 0, 0, NULL, 0 },
  { "dup-conflict-lenient", h_dup_conflict, NULL, 1, 0, 0, 0, NULL, 0 },
  { "dup-type", h_dup_type, "duplicate entry", 0, 0, 0, 0, NULL, 0 },
  { "dup-dir-meta", h_dup_dir_meta, "duplicate entry", 0, 0, 0, 0, NULL, 0 },
  { "dir-replaced-same-layer", h_dir_replaced_same_layer, "same layer", 0, 0, 0, 0, NULL, 0 },
  { "name-too-long", h_name_too_long, "longer than 4096 bytes", 0, 0, 0, 0, NULL, 0 },
  { "link-too-long", h_link_too_long, "symlink target length", 0, 0, 0, 0, NULL, 0 },
  { "component-too-long", h_component_too_long, "component", 0, 0, 0, 0, NULL, 0 },
  { "empty-name", h_empty_name, "empty name", 0, 0, 0, 0, NULL, 0 },
  { "empty-symlink", h_empty_symlink, "symlink target length 0", 0, 0, 0, 0, NULL, 0 },
  { "non-utf8-pax", h_non_utf8_pax, "libarchive warning at entry 'bad", 0, 0, 0, 0, NULL, 0 },
  { "bad-checksum", h_bad_checksum, "layer", 0, 0, 0, 0, NULL, 0 },
  { "truncated", h_truncated, "layer", 0, 0, 0, 0, NULL, 0 },
  { "unknown-type", h_unsupported_type, NULL, 0, 0, 0, 0, h_unknown_type_check, 0 },
  { "uid-2^32", h_uid_2_32, "uid/gid 4294967296", 0, 0, 0, 0, NULL, 0 },
  { "symlink-loop", h_symlink_loop, "too many levels", 0, 0, 0, 0, NULL, 0 },
  { "symlink-41-hops", h_symlink_41, "too many levels", 0, 0, 0, 0, NULL, 0 },
  { "max-bytes", h_bytes, "max-bytes", 0, 1 << 20, 0, 0, NULL, 0 },
  { "max-entries", h_entries, "the flatten limit max_entries", 0, 0, 10, 0, NULL, 0 },
  { "max-depth", h_depth, "depth", 0, 0, 0, 5, NULL, 0 },
  { "max-depth-via-symlink", h_depth_symlink, "depth", 0, 0, 0, 5, NULL, 0 },
  { "file-over-4GiB", h_huge_sparse, "4 GiB", 0, 0, 0, 0, NULL, 0 },
  { "diff-id-mismatch", h_diff_id, "diff_id mismatch", 0, 0, 0, 0, NULL, 0 },
  { "not-a-tar", h_not_tar, "not a tar", 0, 0, 0, 0, NULL, 0 },
};


/* Nothing named by a hostile entry may appear outside the image, in the places a
 * naive extractor would have put it: the host's /tmp (where the symlinks point), the
 * test's directory, umoci's directory and its bundle (rootfs/..).  A file found is
 * reported, then removed so that it cannot linger; the point fails all the same. */
static int
host_clean (const char *dir)
{
  char bundle[4400];
  snprintf (bundle, sizeof bundle, "%s/bundle", dir);
  const char *bases[] = { "/tmp", lg_dir_tmp, dir, bundle };
  int clean = 1;
  for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
    for (size_t i = 0; i < sizeof ESCAPES / sizeof ESCAPES[0]; i++)
      {
        char p[4700];
        struct stat st;
        snprintf (p, sizeof p, "%s/%s%s", bases[b], escape_tag, ESCAPES[i]);
        if (lstat (p, &st) == 0)
          {
            tap_diag ("found %s: an entry escaped the image", p);
            if (unlink (p) != 0)
              tap_diag ("cannot remove %s: %s", p, strerror (errno));
            clean = 0;
          }
      }
  return clean;
}

/* Files left in /tmp by an earlier run (this one's names differ): only noted. */
static void
note_stale_escapes (void)
{
  glob_t g;
  if (glob ("/tmp/enclaver-escape-*", 0, NULL, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++)
      tap_diag ("note: %s is left from an earlier run (this run checks %s*)", g.gl_pathv[i], escape_tag);
  globfree (&g);
}

static void
run_hostile (const struct hcase *c, const char *variant)
{
  char name[128];
  snprintf (name, sizeof name, "%s%s%s", c->name, variant ? " " : "", variant ? variant : "");
  struct img im = { 0 };
  c->build (&im);
  struct enclaver_apply_options o;
  enclaver_apply_options_init (&o);
  o.lenient = c->lenient;
  if (c->max_bytes)
    o.max_bytes = c->max_bytes;
  if (c->max_entries)
    o.max_entries = c->max_entries;
  if (c->max_depth)
    o.max_depth = c->max_depth;
  char *msg = NULL, *log = NULL;
  enclaver_tree_t *t = flatten (&im, &o, &msg, &log);
  char dir[4300];
  snprintf (dir, sizeof dir, "%s/umoci-h-%s", lg_dir_tmp, c->name);
  /* umoci is not asked about a mismatching diff_id (it computes its own) nor about
   * the 1 TiB sparse file (it writes the holes out, for minutes) */
  int umoci_ok = im.diff_id || c->build == h_huge_sparse ? -1 : umoci_unpack (&im, dir, 022) == 0;
  if (c->error)
    {
      tap_ok (t == NULL, "hostile %s: rejected", name);
      TAP_CONTAINS (msg, strcmp (c->error, "(the name)") == 0 ? variant : c->error,
                    "hostile %s: the error names the problem", name);
      if (msg && !strstr (msg, "layer "))
        tap_diag ("error does not name the layer: %s", msg);
      tap_ok (msg && strstr (msg, "layer /"), "hostile %s: the error names the layer", name);
    }
  else
    {
      if (!tap_ok (t != NULL, "hostile %s: neutralised (accepted)", name))
        tap_diag ("%s", msg);
      if (t && c->check)
        c->check (t);
      if (t && c->compare)
        {
          struct rec ours = { 0 }, theirs = { 0 }, diffs = { 0 };
          walk_ours (t, &ours);
          if (umoci_ok == 1)
            walk_umoci (dir, &theirs);
          diff_recs (&ours, &theirs, &diffs);
          for (size_t i = 0; i < diffs.n; i++)
            tap_diag ("  %s", diffs.lines[i]);
          tap_ok (umoci_ok == 1 && diffs.n == 0, "hostile %s: same tree as umoci unpack", name);
          rec_free (&ours);
          rec_free (&theirs);
          rec_free (&diffs);
        }
    }
  if (umoci_ok >= 0)
    tap_diag ("hostile %s: umoci %s it", name, umoci_ok ? "unpacked" : "refused");
  tap_ok (host_clean (dir), "hostile %s: nothing written outside the image", name);
  free (msg);
  free (log);
  enclaver_tree_free (t);
  img_free (&im);
}

int
main (void)
{
  umoci_require ();
  snprintf (escape_tag, sizeof escape_tag, "enclaver-escape-%ld-%lld-", (long) getpid (), (long long) time (NULL));
  note_stale_escapes ();
  if (!tap_ok (host_clean (""), "no file named %s* exists before the run", escape_tag))
    return tap_done ();

  size_t nh = sizeof HOSTILE / sizeof HOSTILE[0];
  static const char *const bad_wh[] = { ".wh..", ".wh...", "etc/.wh..", ".wh.", "etc/.wh.", ".wh.etc/somefile" };
  unsigned nhost = 0;
  for (size_t i = 0; i < nh; i++)
    {
      if (HOSTILE[i].build == h_whiteout_invalid)
        for (size_t k = 0; k < sizeof bad_wh / sizeof bad_wh[0]; k++)
          {
            invalid_wh_name = bad_wh[k];
            run_hostile (&HOSTILE[i], bad_wh[k]);
            nhost++;
          }
      else
        {
          run_hostile (&HOSTILE[i], NULL);
          nhost++;
        }
    }
  tap_diag ("%u hostile images", nhost);
  tap_ok (nhost >= 5, "at least 5 hostile images");
  lg_cleanup ();
  return tap_done ();
}
