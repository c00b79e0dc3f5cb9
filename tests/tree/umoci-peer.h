/* Peer comparison with `umoci unpack` (Debian's umoci): what tests/tree/test-umoci-benign.c
 * and tests/tree/test-umoci-hostile.c share.  An image is a list of layers generated
 * with tests/tree/layergen.h; flatten() runs ours in memory, umoci_unpack() runs umoci
 * into a bundle, and walk_ours()/walk_umoci() describe both trees as sorted lines
 *
 *   path|type|mode|uid:gid|size|sha256|target|links|xattrs
 *
 * that diff_recs() compares.  Include after "config.h" with _GNU_SOURCE defined. */
#ifndef ENCLAVER_TESTS_UMOCI_PEER_H
#define ENCLAVER_TESTS_UMOCI_PEER_H

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

static __attribute__ ((unused)) void
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

static __attribute__ ((unused)) void
rec_free (struct rec *r)
{
  for (size_t i = 0; i < r->n; i++)
    free (r->lines[i]);
  free (r->lines);
  memset (r, 0, sizeof *r);
}

static __attribute__ ((unused)) int
cmp_lines (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int rootless;

static __attribute__ ((unused)) void
rec_sort (struct rec *r)
{
  if (r->n)
    qsort (r->lines, r->n, sizeof (char *), cmp_lines);
}

static __attribute__ ((unused)) void
hexsha (const unsigned char *d, char out[65])
{
  for (int i = 0; i < 32; i++)
    sprintf (out + 2 * i, "%02x", d[i]);
}

static __attribute__ ((unused)) void
sha_str (const char *s, char out[65])
{
  unsigned char d[32];
  unsigned int dl;
  EVP_Digest (s, strlen (s), d, &dl, EVP_sha256 (), NULL);
  hexsha (d, out);
}

/* path|type|mode|uid:gid|size|sha256|target|links|xattrs; directories have size 0
 * and no link count (their nlink is a filesystem artefact). */
static __attribute__ ((unused)) char *
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

static __attribute__ ((unused)) int
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

static __attribute__ ((unused)) int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sorted, comma-separated xattr names of a path (not following symlinks). */
static __attribute__ ((unused)) void
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

static __attribute__ ((unused)) int
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

static __attribute__ ((unused)) int
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

static __attribute__ ((unused)) void
add_layer (struct img *im, struct lg *g)
{
  lg_end (g);
  im->layers[im->n++] = lg_write (g, "none", NULL);
}

static __attribute__ ((unused)) void
img_free (struct img *im)
{
  for (size_t i = 0; i < im->n; i++)
    free (im->layers[i]);
  im->n = 0;
}

/* Our flatten; captures what it logs on stderr into *log (malloc'd). */
static __attribute__ ((unused)) enclaver_tree_t *
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
static __attribute__ ((unused)) int
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

static __attribute__ ((unused)) void
walk_ours (enclaver_tree_t *t, struct rec *r)
{
  enclaver_tree_walk (t, NULL, ENCLAVER_TREE_WALK_ROOT, tree_cb, r, NULL);
  rec_sort (r);
}

static __attribute__ ((unused)) void
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
static __attribute__ ((unused)) void
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
static __attribute__ ((unused)) char *
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

static __attribute__ ((unused)) void
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

/* umoci is needed by both programs: without it they skip, naming it. */
static __attribute__ ((unused)) void
umoci_require (void)
{
  if (system ("command -v umoci >/dev/null 2>&1") != 0)
    tap_skip_all ("umoci is not installed (Debian package umoci)");
  rootless = geteuid () != 0;
  umask (022);
}

#endif
