/* Peer comparison: our flattened tree against `umoci unpack` (Debian's umoci) of the
 * same layers.  Every image is generated here with tests/tree/layergen.h.
 *
 * Benign images: compared per path (the root included) on type, mode, uid, gid, size,
 * content sha256, symlink target, link count of non-directories and xattr names (ours
 * are always none: newc cannot carry them).  Each case lists the exact differences it
 * accepts (docs/flatten.md, "Divergences from umoci and Docker"); anything else fails.
 *
 * Hostile images: our flatten must fail with the documented message or neutralise the
 * input as documented (then the tree is checked, and compared with umoci when umoci
 * neutralises it the same way).  Nothing may appear on the host outside the bundle.
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

struct rec
{
  char **lines;
  size_t n, cap;
};

static void
rec_add (struct rec *r, char *line)
{
  if (r->n == r->cap)
    {
      r->cap = r->cap ? r->cap * 2 : 64;
      r->lines = realloc (r->lines, r->cap * sizeof (char *));
      if (!r->lines)
        abort ();
    }
  r->lines[r->n++] = line;
}

static void
rec_free (struct rec *r)
{
  for (size_t i = 0; i < r->n; i++)
    free (r->lines[i]);
  free (r->lines);
  memset (r, 0, sizeof *r);
}

static int
cmp_lines (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int rootless;

static void
rec_sort (struct rec *r)
{
  if (r->n)
    qsort (r->lines, r->n, sizeof (char *), cmp_lines);
}

static void
hexsha (const unsigned char *d, char out[65])
{
  for (int i = 0; i < 32; i++)
    sprintf (out + 2 * i, "%02x", d[i]);
}

static void
sha_str (const char *s, char out[65])
{
  unsigned char d[32];
  unsigned int dl;
  EVP_Digest (s, strlen (s), d, &dl, EVP_sha256 (), NULL);
  hexsha (d, out);
}

/* path|type|mode|uid:gid|size|sha256|target|links|xattrs; directories have size 0
 * and no link count (their nlink is a filesystem artefact). */
static char *
fmt (const char *path, char type, unsigned mode, unsigned uid, unsigned gid, unsigned long long size, const char *sha,
     const char *target, unsigned nlink, const char *xattrs)
{
  char *s;
  if (rootless)
    uid = gid = 0;
  char links[16] = "-";
  if (type != 'd')
    snprintf (links, sizeof links, "%u", nlink);
  if (asprintf (&s, "%s|%c|%04o|%u:%u|%llu|%s|%s|%s|%s", *path ? path : ".", type, mode, uid, gid, size,
                sha ? sha : "-", target ? target : "-", links, xattrs && *xattrs ? xattrs : "-")
      < 0)
    abort ();
  return s;
}

static int
tree_cb (const enclaver_tree_t *t, const enclaver_tree_node_t *n, const char *path, size_t len,
         const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  (void) len;
  char sha[65] = "-";
  if (st->type == ENCLAVER_NODE_REG)
    {
      EVP_MD_CTX *md = EVP_MD_CTX_new ();
      EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
      lg_hash_node (t, n, md, err);
      unsigned char d[32];
      EVP_DigestFinal_ex (md, d, NULL);
      EVP_MD_CTX_free (md);
      hexsha (d, sha);
    }
  char type = "?drlcbp"[st->type >= 1 && st->type <= 6 ? st->type : 0];
  rec_add (ud, fmt (path, type, st->mode, st->uid, st->gid, st->type == ENCLAVER_NODE_DIR ? 0 : st->size,
                    st->type == ENCLAVER_NODE_REG ? sha : NULL, st->link_target, st->nlink, NULL));
  return 0;
}

static struct rec *nftw_rec;
static size_t nftw_base;

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sorted, comma-separated xattr names of a path (not following symlinks). */
static void
xattr_names (const char *fpath, char *out, size_t outsz)
{
  char buf[4096];
  out[0] = '\0';
  ssize_t k = llistxattr (fpath, buf, sizeof buf);
  if (k <= 0)
    return;
  char *names[128];
  size_t n = 0;
  for (char *p = buf; p < buf + k && n < 128; p += strlen (p) + 1)
    if (strcmp (p, "user.rootlesscontainers") != 0) /* umoci --rootless keeps owners there */
      names[n++] = p;
  if (n)
    qsort (names, n, sizeof (char *), cmp_str);
  for (size_t i = 0; i < n; i++)
    {
      size_t o = strlen (out);
      snprintf (out + o, outsz - o, "%s%s", i ? "," : "", names[i]);
    }
}

static int
fs_cb (const char *fpath, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void) flag, (void) ftw;
  const char *rel = strlen (fpath) <= nftw_base ? "" : fpath + nftw_base + 1;
  char sha[65] = "-";
  char target[4200] = "";
  char type = '?';
  unsigned long long size = 0;
  if (S_ISDIR (sb->st_mode))
    type = 'd';
  else if (S_ISLNK (sb->st_mode))
    {
      type = 'l';
      ssize_t k = readlink (fpath, target, sizeof target - 1);
      target[k > 0 ? k : 0] = '\0';
      size = (unsigned long long) strlen (target);
    }
  else if (S_ISREG (sb->st_mode))
    {
      type = 'r';
      size = (unsigned long long) sb->st_size;
      FILE *f = fopen (fpath, "rb");
      if (!f && errno == EACCES && rootless && chmod (fpath, (sb->st_mode & 07777) | 0400) == 0)
        {
          /* --rootless: we own the file but its mode (say 0000) denies us */
          f = fopen (fpath, "rb");
          if (chmod (fpath, sb->st_mode & 07777) != 0)
            tap_diag ("chmod %s back failed", fpath);
        }
      EVP_MD_CTX *md = EVP_MD_CTX_new ();
      EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
      unsigned char buf[65536];
      size_t k;
      while (f && (k = fread (buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate (md, buf, k);
      if (f)
        fclose (f);
      unsigned char d[32];
      EVP_DigestFinal_ex (md, d, NULL);
      EVP_MD_CTX_free (md);
      hexsha (d, sha);
    }
  else if (S_ISCHR (sb->st_mode))
    type = 'c';
  else if (S_ISBLK (sb->st_mode))
    type = 'b';
  else if (S_ISFIFO (sb->st_mode))
    type = 'p';
  char xa[1024];
  xattr_names (fpath, xa, sizeof xa);
  rec_add (nftw_rec, fmt (rel, type, sb->st_mode & 07777, sb->st_uid, sb->st_gid, size, type == 'r' ? sha : NULL,
                          type == 'l' ? target : NULL, (unsigned) sb->st_nlink, xa));
  return 0;
}

static int
sh (const char *cmd)
{
  int r = system (cmd);
  if (r != 0)
    tap_diag ("command failed (%d): %s", r, cmd);
  return r;
}

/* ------------------------------------------------------------------ images */

struct img
{
  char *layers[8];
  size_t n;
  const char *diff_id; /* for the last layer, when set (hostile: mismatch) */
};

static void
add_layer (struct img *im, struct lg *g)
{
  lg_end (g);
  im->layers[im->n++] = lg_write (g, "none", NULL);
}

static void
img_free (struct img *im)
{
  for (size_t i = 0; i < im->n; i++)
    free (im->layers[i]);
  im->n = 0;
}

/* Our flatten; captures what it logs on stderr into *log (malloc'd). */
static enclaver_tree_t *
flatten (struct img *im, const struct enclaver_apply_options *o, char **msg, char **log)
{
  char lp[4300];
  snprintf (lp, sizeof lp, "%s/stderr.log", lg_dir_tmp);
  fflush (stderr);
  int saved = dup (2);
  int fd = open (lp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  dup2 (fd, 2);
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  for (size_t i = 0; t && i < im->n; i++)
    if (enclaver_tree_apply_layer_file (t, im->layers[i], NULL, i + 1 == im->n ? im->diff_id : NULL, o, NULL, &err)
        < 0)
      {
        *msg = strdup (err->msg);
        enclaver_error_release (&err);
        enclaver_tree_free (t);
        t = NULL;
      }
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  off_t sz = lseek (fd, 0, SEEK_END);
  *log = calloc (1, (size_t) sz + 1);
  if (sz > 0 && pread (fd, *log, (size_t) sz, 0) != sz)
    (*log)[0] = '\0';
  close (fd);
  return t;
}

/* umoci unpack into DIR/bundle; 0 on success. */
static int
umoci_unpack (struct img *im, const char *dir, mode_t umask_for_umoci)
{
  char cmd[20000];
  snprintf (cmd, sizeof cmd, "set -e; rm -rf '%s'; mkdir -p '%s'; cd '%s'; umoci init --layout L; umoci new --image L:t",
            dir, dir, dir);
  int bad = sh (cmd);
  for (size_t i = 0; i < im->n && !bad; i++)
    {
      snprintf (cmd, sizeof cmd, "cd '%s' && umoci raw add-layer --image L:t '%s'", dir, im->layers[i]);
      bad = sh (cmd);
    }
  if (bad)
    return -1;
  snprintf (cmd, sizeof cmd, "cd '%s' && umask %03o && umoci unpack %s --image L:t bundle >umoci.log 2>&1", dir,
            (unsigned) umask_for_umoci, rootless ? "--rootless" : "");
  return system (cmd) == 0 ? 0 : -1;
}

static void
walk_ours (enclaver_tree_t *t, struct rec *r)
{
  enclaver_tree_walk (t, NULL, ENCLAVER_TREE_WALK_ROOT, tree_cb, r, NULL);
  rec_sort (r);
}

static void
walk_umoci (const char *dir, struct rec *r)
{
  char root[4400];
  snprintf (root, sizeof root, "%s/bundle/rootfs", dir);
  nftw_rec = r;
  nftw_base = strlen (root);
  nftw (root, fs_cb, 64, FTW_PHYS);
  rec_sort (r);
}

/* Differences as "ours:  LINE" / "umoci: LINE", in order. */
static void
diff_recs (struct rec *ours, struct rec *theirs, struct rec *out)
{
  size_t i = 0, j = 0;
  while (i < ours->n || j < theirs->n)
    {
      int c = i == ours->n ? 1 : j == theirs->n ? -1 : strcmp (ours->lines[i], theirs->lines[j]);
      char *s;
      if (c == 0)
        {
          i++, j++;
          continue;
        }
      if (asprintf (&s, c < 0 ? "ours:  %s" : "umoci: %s", c < 0 ? ours->lines[i++] : theirs->lines[j++]) < 0)
        abort ();
      rec_add (out, s);
    }
}

/* Expected difference lines may say "sha(TEXT)" for the sha256 of TEXT. */
static char *
expand (const char *s)
{
  struct lg b = { 0 };
  const char *p;
  while ((p = strstr (s, "sha(")))
    {
      const char *e = strchr (p, ')');
      lg_put (&b, s, (size_t) (p - s));
      char *txt = strndup (p + 4, (size_t) (e - p - 4));
      char h[65];
      sha_str (txt, h);
      free (txt);
      lg_put (&b, h, 64);
      s = e + 1;
    }
  lg_put (&b, s, strlen (s) + 1);
  char *r = (char *) b.b;
  if (rootless)
    {
      /* fmt() reports every owner as 0:0 then: the 4th field */
      char *f = r;
      for (int i = 0; i < 3 && f; i++)
        f = strchr (f + 1, '|');
      char *end = f ? strchr (f + 1, '|') : NULL;
      if (end)
        {
          char *n = NULL;
          if (asprintf (&n, "%.*s|0:0%s", (int) (f - r), r, end) < 0)
            abort ();
          free (r);
          r = n;
        }
    }
  return r;
}

static void
enclaver_read_file_for_test (const char *path, char **out)
{
  FILE *f = fopen (path, "rb");
  struct lg b = { 0 };
  char buf[4096];
  size_t k;
  while (f && (k = fread (buf, 1, sizeof buf, f)) > 0)
    lg_put (&b, buf, k);
  if (f)
    fclose (f);
  lg_put (&b, "", 1);
  *out = (char *) b.b;
}

/* --------------------------------------------------------------- benign cases */

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

/* -------------------------------------------------------------- hostile cases */

static void
h_dotdot_lead (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "../enclaver-escape-dotdot", "x");
  add_layer (im, &g);
}

static void
h_dotdot_abs (struct img *im)
{
  struct lg g = { 0 };
  lg_file (&g, "/../enclaver-escape-dotdot", "x");
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
  lg_file (&g, "a/b/../../../../enclaver-escape-dotdot", "x");
  add_layer (im, &g);
}

/* symlinks that point outside: entries through them land inside the tree */
static void
h_symlink_escape (struct img *im)
{
  struct lg g = { 0 };
  lg_dir (&g, "tmp/", 0755);
  lg_symlink (&g, "esc", "../../../../../../../tmp");
  lg_file (&g, "esc/enclaver-escape-rel", "rel");
  lg_symlink (&g, "escabs", "/../../tmp");
  lg_file (&g, "escabs/enclaver-escape-abs", "abs");
  add_layer (im, &g);
  lg_file (&g, "esc/enclaver-escape-lower", "lower");
  add_layer (im, &g);
}

static void
h_symlink_escape_check (enclaver_tree_t *t)
{
  char *s = NULL;
  int ok = enclaver_tree_read_file (t, "tmp/enclaver-escape-rel", 100, &s, NULL, NULL) == 0 && strcmp (s, "rel") == 0;
  free (s);
  s = NULL;
  ok = ok && enclaver_tree_read_file (t, "tmp/enclaver-escape-abs", 100, &s, NULL, NULL) == 0 && strcmp (s, "abs") == 0;
  free (s);
  s = NULL;
  ok = ok && enclaver_tree_read_file (t, "tmp/enclaver-escape-lower", 100, &s, NULL, NULL) == 0
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
  { "max-entries", h_entries, "max-entries", 0, 0, 10, 0, NULL, 0 },
  { "max-depth", h_depth, "depth", 0, 0, 0, 5, NULL, 0 },
  { "max-depth-via-symlink", h_depth_symlink, "depth", 0, 0, 0, 5, NULL, 0 },
  { "file-over-4GiB", h_huge_sparse, "4 GiB", 0, 0, 0, 0, NULL, 0 },
  { "diff-id-mismatch", h_diff_id, "diff_id mismatch", 0, 0, 0, 0, NULL, 0 },
  { "not-a-tar", h_not_tar, "not a tar", 0, 0, 0, 0, NULL, 0 },
};

static const char *const ESCAPES[] = { "enclaver-escape-dotdot", "enclaver-escape-rel", "enclaver-escape-abs",
                                       "enclaver-escape-lower" };

/* Nothing named by a hostile entry may appear outside the image, in the places a
 * naive extractor would have put it. */
static int
host_clean (const char *dir)
{
  const char *bases[] = { "/tmp", lg_dir_tmp, dir };
  for (size_t b = 0; b < 3; b++)
    for (size_t i = 0; i < sizeof ESCAPES / sizeof ESCAPES[0]; i++)
      {
        char p[4400];
        struct stat st;
        snprintf (p, sizeof p, "%s/%s", bases[b], ESCAPES[i]);
        if (lstat (p, &st) == 0)
          {
            tap_diag ("found %s", p);
            return 0;
          }
      }
  return 1;
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
  if (system ("command -v umoci >/dev/null 2>&1") != 0)
    tap_skip_all ("umoci is not installed (Debian package umoci)");
  rootless = geteuid () != 0;
  umask (022);
  if (!host_clean (""))
    tap_skip_all ("a file from an earlier escape test is in /tmp; remove /tmp/enclaver-escape-*");

  size_t nb = sizeof BENIGN / sizeof BENIGN[0], nh = sizeof HOSTILE / sizeof HOSTILE[0];
  for (size_t i = 0; i < nb; i++)
    run_benign (&BENIGN[i]);
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
  tap_diag ("%zu benign images: %u identical to umoci, %u with only their documented differences; %u hostile images",
            nb, n_identical, n_divergent, nhost);
  tap_ok (nb + nhost >= 30 && nb >= 25, "at least 30 images, at least 25 of them compared with umoci");
  lg_cleanup ();
  return tap_done ();
}
