/* Peer comparison: our flattened tree against `umoci unpack` (Debian's umoci) of the
 * same layers, for the benign cases.  Compared per path: type, mode, uid, gid, size,
 * content sha256 and symlink target.  Skips when umoci is not installed. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

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
    }
  r->lines[r->n++] = line;
}

static int
cmp_lines (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int rootless;

static void
hexsha (const unsigned char *d, char out[65])
{
  for (int i = 0; i < 32; i++)
    sprintf (out + 2 * i, "%02x", d[i]);
}

static char *
fmt (const char *path, char type, unsigned mode, unsigned uid, unsigned gid, unsigned long long size, const char *sha,
     const char *target)
{
  char *s;
  if (rootless)
    uid = gid = 0;
  if (asprintf (&s, "%s|%c|%04o|%u:%u|%llu|%s|%s", path, type, mode, uid, gid, size, sha ? sha : "-",
                target ? target : "-")
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
      unsigned char buf[65536];
      uint64_t off = 0;
      ssize_t k;
      while ((k = enclaver_tree_node_read (t, n, off, buf, sizeof buf, err)) > 0)
        {
          EVP_DigestUpdate (md, buf, (size_t) k);
          off += (uint64_t) k;
        }
      unsigned char d[32];
      EVP_DigestFinal_ex (md, d, NULL);
      EVP_MD_CTX_free (md);
      hexsha (d, sha);
    }
  char type = st->type == ENCLAVER_NODE_DIR ? 'd' : st->type == ENCLAVER_NODE_REG ? 'r'
              : st->type == ENCLAVER_NODE_SYMLINK ? 'l' : '?';
  rec_add (ud, fmt (path, type, st->mode, st->uid, st->gid, st->type == ENCLAVER_NODE_DIR ? 0 : st->size,
                    st->type == ENCLAVER_NODE_REG ? sha : NULL, st->link_target));
  return 0;
}

static struct rec *nftw_rec;
static size_t nftw_base;

static int
fs_cb (const char *fpath, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void) flag, (void) ftw;
  if (strlen (fpath) <= nftw_base)
    return 0;
  const char *rel = fpath + nftw_base + 1;
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
  rec_add (nftw_rec, fmt (rel, type, sb->st_mode & 07777, sb->st_uid, sb->st_gid, size, type == 'r' ? sha : NULL,
                          type == 'l' ? target : NULL));
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

/* Compare one image made of the given layers (uncompressed tar files). */
static void
compare (const char *name, char **layers, size_t n)
{
  char dir[4300], cmd[20000];
  snprintf (dir, sizeof dir, "%s/umoci-%s", lg_dir_tmp, name);
  snprintf (cmd, sizeof cmd,
            "set -e; mkdir -p '%s'; cd '%s'; umoci init --layout L; umoci new --image L:t", dir, dir);
  int bad = sh (cmd);
  for (size_t i = 0; i < n && !bad; i++)
    {
      snprintf (cmd, sizeof cmd, "cd '%s' && umoci raw add-layer --image L:t '%s'", dir, layers[i]);
      bad = sh (cmd);
    }
  if (!bad)
    {
      snprintf (cmd, sizeof cmd, "cd '%s' && umoci unpack %s --image L:t bundle >/dev/null 2>&1", dir,
                rootless ? "--rootless" : "");
      bad = sh (cmd);
    }
  if (!tap_ok (!bad, "%s: umoci built and unpacked the image", name))
    return;

  struct rec ours = { 0 }, theirs = { 0 };
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++)
    if (enclaver_tree_apply_layer_file (t, layers[i], NULL, NULL, NULL, NULL, &err) < 0)
      {
        tap_diag ("%s: %s", name, err->msg);
        enclaver_error_release (&err);
        ok = 0;
      }
  tap_ok (ok, "%s: our flatten succeeded", name);
  enclaver_tree_walk (t, NULL, 0, tree_cb, &ours, NULL);
  enclaver_tree_free (t);

  char root[4400];
  snprintf (root, sizeof root, "%s/bundle/rootfs", dir);
  nftw_rec = &theirs;
  nftw_base = strlen (root);
  nftw (root, fs_cb, 64, FTW_PHYS);

  qsort (ours.lines, ours.n, sizeof (char *), cmp_lines);
  qsort (theirs.lines, theirs.n, sizeof (char *), cmp_lines);
  size_t i = 0, j = 0, diffs = 0;
  while (i < ours.n || j < theirs.n)
    {
      int c = i == ours.n ? 1 : j == theirs.n ? -1 : strcmp (ours.lines[i], theirs.lines[j]);
      if (c == 0)
        {
          i++, j++;
          continue;
        }
      diffs++;
      if (c < 0)
        tap_diag ("  only ours:  %s", ours.lines[i++]);
      else
        tap_diag ("  only umoci: %s", theirs.lines[j++]);
    }
  tap_ok (diffs == 0 && ours.n > 0, "%s: %zu paths identical to umoci unpack (%zu differences)", name, ours.n, diffs);
  for (i = 0; i < ours.n; i++)
    free (ours.lines[i]);
  for (j = 0; j < theirs.n; j++)
    free (theirs.lines[j]);
  free (ours.lines);
  free (theirs.lines);
}

int
main (void)
{
  if (system ("command -v umoci >/dev/null 2>&1") != 0)
    tap_skip_all ("umoci is not installed (Debian package umoci)");
  rootless = geteuid () != 0;
  struct lg g = { 0 };
  char *L[4];

  /* 1. modes, owners, symlinks, hardlinks, UTF-8 names, long names, empty files */
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
  lg_end (&g);
  L[0] = lg_write (&g, "none", NULL);
  compare ("modes", L, 1);

  /* 2. whiteouts and opaque directories on top of layer 1 */
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
  lg_end (&g);
  L[1] = lg_write (&g, "none", NULL);
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
  lg_end (&g);
  L[2] = lg_write (&g, "none", NULL);
  compare ("whiteouts", L, 3);

  /* 3. type changes, entries through lower symlinks, breaking a hardlink */
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
  lg_end (&g);
  char *T[2];
  T[0] = lg_write (&g, "none", NULL);
  lg_file (&g, "d2f", "now a file");
  lg_dir (&g, "f2d/", 0711);
  lg_dir (&g, "s2d/", 0755);
  lg_symlink (&g, "d2s", "usr");
  lg_file (&g, "lib/libfoo.so", "foo");
  lg_file (&g, "var/run/pid", "1");
  lg_file (&g, "h2", "broken link");
  lg_end (&g);
  T[1] = lg_write (&g, "none", NULL);
  compare ("type-changes", T, 2);

  for (int i = 0; i < 3; i++)
    free (L[i]);
  free (T[0]);
  free (T[1]);
  lg_cleanup ();
  return tap_done ();
}
