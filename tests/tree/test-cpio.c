/* newc writer: exact bytes for a small tree (expectations written out by hand from
 * the newc format), the linuxkit-mode bootstrap archive, SOURCE_DATE_EPOCH, and
 * independence from umask/TZ/cwd. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <enclaver/cpio.h>
#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"

struct buf
{
  unsigned char *b;
  size_t len;
  int calls;
};

static int
sink (void *ud, const void *p, size_t n, enclaver_error_t *err)
{
  (void) err;
  struct buf *b = ud;
  b->b = realloc (b->b, b->len + n);
  memcpy (b->b + b->len, p, n);
  b->len += n;
  b->calls++;
  return 0;
}

static int
failing_sink (void *ud, const void *p, size_t n, enclaver_error_t *err)
{
  (void) ud, (void) p, (void) n;
  return enclaver_make_error (err, ENOSPC, "sink full");
}

static void
bytes_eq (const struct buf *b, const char *want, size_t want_len, const char *what)
{
  int ok = b->len == want_len && memcmp (b->b, want, want_len) == 0;
  tap_ok (ok, "%s: exact bytes", what);
  if (!ok)
    {
      size_t i = 0;
      while (i < b->len && i < want_len && b->b[i] == (unsigned char) want[i])
        i++;
      tap_diag ("  length %zu vs %zu, first difference at offset %zu", b->len, want_len, i);
    }
}

/* 13 fields of a newc header as one string, for readability below. */
#define H(ino, mode, uid, gid, nlink, mtime, size, maj, min, rmaj, rmin, namesize) \
  "070701" ino mode uid gid nlink mtime size maj min rmaj rmin namesize "00000000"

static void
test_small_tree (void)
{
  enclaver_error_t err = NULL;
  enclaver_tree_t *t = enclaver_tree_new (&err);
  struct enclaver_tree_attr d = { .mode = 0755, .uid = 1, .gid = 2, .mtime = 100 };
  struct enclaver_tree_attr f = { .mode = 04644, .uid = 0, .gid = 0, .mtime = 200 };
  struct enclaver_tree_attr l = { .mode = 0777, .mtime = 300 };
  enclaver_tree_add_dir (t, "a", &d, 0, &err);
  enclaver_tree_add_file (t, "a/f", &f, "hi", 2, 0, &err);
  enclaver_tree_add_hardlink (t, "a/g", "a/f", 0, &err);
  enclaver_tree_add_symlink (t, "l", &l, "a/f", 0, &err);
  struct enclaver_tree_attr c = { .mode = 0600, .mtime = 5, .rdev_major = 1, .rdev_minor = 3 };
  enclaver_tree_add_node (t, "a-c", ENCLAVER_NODE_CHR, &c, 0, &err);
  tap_ok (err == NULL, "small tree built");
  enclaver_error_release (&err);

  struct buf out = { 0 };
  struct enclaver_cpio_options o;
  enclaver_cpio_options_init (&o);
  enclaver_cpio_writer_t *w = enclaver_cpio_writer_new (&o, sink, &out);
  int r = enclaver_cpio_add_tree (w, t, NULL, 0, &err);
  r |= enclaver_cpio_finish (w, &err);
  tap_ok (r == 0, "small tree written");
  /* Order: depth-first, children by raw bytes: "a" < "a-c" < "l" at the root ('-' is
   * not compared against '/': siblings only), then a's children f, g.
   * a     dir  ino 721 (0x2d1) mode 040755 = 0x41ed, uid 1, gid 2, nlink 2, mtime 100 = 0x64
   *       name "a\0" (2): 110+2 = 112, already 4-aligned
   * a/f   reg  ino 722, mode 0104644 = 0x89a4, nlink 2 (two names), mtime 200 = 0xc8, size 2
   *       name "a/f\0" (4): 114 -> pad 2; data "hi" -> pad 2
   * a/g   same ino 722, size 0 (data went with the first name); 114 -> pad 2
   * a-c   chr  ino 723, mode 020600 = 0x2180, nlink 1, mtime 5, rdev 1:3; "a-c\0" 114 -> pad 2
   * l     lnk  ino 724, mode 0120777 = 0xa1ff, nlink 1, mtime 300 = 0x12c, size 3 "a/f"
   *       "l\0" 112; data 3 -> pad 1
   * trailer ino 0, nlink 1, namesize 11: 121 -> pad 3 */
  static const char want[] =
    H ("000002d1", "000041ed", "00000001", "00000002", "00000002", "00000064", "00000000", "00000000", "00000000",
       "00000000", "00000000", "00000002") "a\0"
    H ("000002d2", "000089a4", "00000000", "00000000", "00000002", "000000c8", "00000002", "00000000", "00000000",
       "00000000", "00000000", "00000004") "a/f\0" "\0\0" "hi\0\0"
    H ("000002d2", "000089a4", "00000000", "00000000", "00000002", "000000c8", "00000000", "00000000", "00000000",
       "00000000", "00000000", "00000004") "a/g\0" "\0\0"
    H ("000002d3", "00002180", "00000000", "00000000", "00000001", "00000005", "00000000", "00000000", "00000000",
       "00000001", "00000003", "00000004") "a-c\0" "\0\0"
    H ("000002d4", "0000a1ff", "00000000", "00000000", "00000001", "0000012c", "00000003", "00000000", "00000000",
       "00000000", "00000000", "00000002") "l\0" "a/f\0"
    H ("00000000", "00000000", "00000000", "00000000", "00000001", "00000000", "00000000", "00000000", "00000000",
       "00000000", "00000000", "0000000b") "TRAILER!!!\0" "\0\0\0";
  bytes_eq (&out, want, sizeof want - 1, "small tree");
  TAP_INT_EQ (enclaver_cpio_size (w), sizeof want - 1, "size counter");
  enclaver_cpio_writer_free (w);
  free (out.b);

  /* SOURCE_DATE_EPOCH clamps (150: a keeps 100, a/f 200 -> 150) and prefix */
  memset (&out, 0, sizeof out);
  o.source_date_epoch = 150;
  w = enclaver_cpio_writer_new (&o, sink, &out);
  r = enclaver_cpio_add_tree (w, t, "rootfs", ENCLAVER_CPIO_TREE_ROOT, &err);
  r |= enclaver_cpio_finish (w, &err);
  tap_ok (r == 0, "prefixed tree written");
  tap_ok (out.len > 220 && memcmp (out.b + 110, "rootfs\0", 7) == 0, "prefix directory emitted first");
  tap_ok (memcmp (out.b + 6 + 8, "000041ed", 8) == 0, "prefix directory has the root's mode");
  const char *af = memmem (out.b, out.len, "rootfs/a/f", 11);
  tap_ok (af && memcmp (af - 110 + 6 + 5 * 8, "00000096", 8) == 0, "mtime 200 clamped to SOURCE_DATE_EPOCH 150");
  const char *a = memmem (out.b, out.len, "rootfs/a\0", 9);
  tap_ok (a && memcmp (a - 110 + 6 + 5 * 8, "00000064", 8) == 0, "mtime 100 below SOURCE_DATE_EPOCH kept");
  enclaver_cpio_writer_free (w);
  free (out.b);

  memset (&out, 0, sizeof out);
  o.force_mtime = 1;
  w = enclaver_cpio_writer_new (&o, sink, &out);
  enclaver_cpio_add_tree (w, t, NULL, 0, &err);
  enclaver_cpio_finish (w, &err);
  a = memmem (out.b, out.len, "a\0", 2);
  tap_ok (memcmp (out.b + 6 + 5 * 8, "00000096", 8) == 0, "force_mtime sets every mtime to SOURCE_DATE_EPOCH");
  (void) a;
  enclaver_cpio_writer_free (w);
  free (out.b);

  /* sink failure propagates */
  w = enclaver_cpio_writer_new (NULL, failing_sink, NULL);
  r = enclaver_cpio_add_tree (w, t, NULL, 0, &err);
  if (r == 0)
    r = enclaver_cpio_finish (w, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "sink full"), "sink errors propagate");
  enclaver_error_release (&err);
  enclaver_cpio_writer_free (w);

  /* names too long and files too large */
  memset (&out, 0, sizeof out);
  w = enclaver_cpio_writer_new (NULL, sink, &out);
  char longname[4200];
  memset (longname, 'x', sizeof longname);
  longname[4096] = '\0';
  struct enclaver_cpio_entry e = { .name = longname, .type = ENCLAVER_NODE_DIR, .mode = 0755 };
  tap_ok (enclaver_cpio_add (w, &e, NULL, &err) < 0, "names of 4096 bytes refused");
  enclaver_error_release (&err);
  struct enclaver_cpio_entry big = { .name = "big", .type = ENCLAVER_NODE_REG, .size = 1ull << 32 };
  tap_ok (enclaver_cpio_add (w, &big, "", &err) < 0 && err && strstr (err->msg, "4 GiB"), "4 GiB files refused");
  enclaver_error_release (&err);
  enclaver_cpio_writer_free (w);
  free (out.b);
  enclaver_tree_free (t);
}

static void
test_bootstrap (void)
{
  struct buf out = { 0 };
  enclaver_error_t err = NULL;
  int r = enclaver_cpio_write_bootstrap ("INIT", 4, "NSMKO!", 6, sink, &out, &err);
  tap_ok (r == 0, "bootstrap written");
  /* linuxkit rules (EIF.md §5.2): ino from 721 per entry incl. the trailer, dev 3:1,
   * mtime 1492533000 = 0x58f63f08, nlink 2 for the dir, 1 otherwise, lowercase hex.
   * dev:    110 + "dev\0" = 114 -> pad 2                        = 116
   * init:   110 + "init\0" = 115 -> pad 1, data 4                = 116 + 4
   * nsm.ko: 110 + "nsm.ko\0" = 117 -> pad 3, data 6 -> pad 2    = 120 + 8
   * trailer: ino 724, nlink 1, rest 0; 121 -> pad 3              = 124
   * total 488, padded with zeros to 512. */
  static const char want[] =
    H ("000002d1", "000041ed", "00000000", "00000000", "00000002", "58f63f08", "00000000", "00000003", "00000001",
       "00000000", "00000000", "00000004") "dev\0" "\0\0"
    H ("000002d2", "000081ed", "00000000", "00000000", "00000001", "58f63f08", "00000004", "00000003", "00000001",
       "00000000", "00000000", "00000005") "init\0" "\0" "INIT"
    H ("000002d3", "000081ed", "00000000", "00000000", "00000001", "58f63f08", "00000006", "00000003", "00000001",
       "00000000", "00000000", "00000007") "nsm.ko\0" "\0\0\0" "NSMKO!\0\0"
    H ("000002d4", "00000000", "00000000", "00000000", "00000001", "00000000", "00000000", "00000000", "00000000",
       "00000000", "00000000", "0000000b") "TRAILER!!!\0" "\0\0\0";
  char full[512];
  memset (full, 0, sizeof full);
  memcpy (full, want, sizeof want - 1);
  TAP_INT_EQ (sizeof want - 1, 488, "bootstrap: hand count of the unpadded archive");
  bytes_eq (&out, full, sizeof full, "bootstrap (linuxkit mode)");
  /* the first header quoted in EIF.md §8.2 for the real blobs */
  static const char spec_first[] = "070701000002d1000041ed00000000000000000000000258f63f080000000000000003000000010000000000000000000000040000000000dev";
  tap_ok (out.len >= sizeof spec_first - 1 && memcmp (out.b, spec_first, 110) == 0 && memcmp (out.b + 110, "dev", 3) == 0,
          "bootstrap: first header equals the one derived in EIF.md 8.2");
  free (out.b);

  /* a larger body: length stays a multiple of 512 */
  memset (&out, 0, sizeof out);
  char *init = malloc (10001);
  memset (init, 'I', 10001);
  r = enclaver_cpio_write_bootstrap (init, 10001, "K", 1, sink, &out, &err);
  tap_ok (r == 0 && out.len % 512 == 0, "bootstrap padded to 512 bytes");
  tap_ok (memmem (out.b, out.len, "TRAILER!!!", 10) != NULL, "bootstrap has the trailer");
  free (init);
  free (out.b);
}

/* Build a layer, flatten it and write the cpio in a child with the given umask, TZ
 * and cwd; the child writes the bytes to a pipe. */
static int
run_child (const char *layer, mode_t mask, const char *tz, const char *cwd, struct buf *out)
{
  int p[2];
  if (pipe (p) < 0)
    return -1;
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (p[0]);
      umask (mask);
      setenv ("TZ", tz, 1);
      tzset ();
      if (chdir (cwd) < 0)
        _exit (3);
      enclaver_error_t err = NULL;
      enclaver_tree_t *t = enclaver_tree_new (&err);
      if (!t || enclaver_tree_apply_layer_file (t, layer, NULL, NULL, NULL, NULL, &err) < 0)
        _exit (4);
      struct buf b = { 0 };
      struct enclaver_cpio_options o;
      enclaver_cpio_options_init (&o);
      enclaver_cpio_writer_t *w = enclaver_cpio_writer_new (&o, sink, &b);
      if (enclaver_cpio_add_tree (w, t, "rootfs", ENCLAVER_CPIO_TREE_ROOT, &err) < 0
          || enclaver_cpio_finish (w, &err) < 0)
        _exit (5);
      size_t off = 0;
      while (off < b.len)
        {
          ssize_t n = write (p[1], b.b + off, b.len - off);
          if (n <= 0)
            _exit (6);
          off += (size_t) n;
        }
      _exit (0);
    }
  close (p[1]);
  unsigned char tmp[65536];
  ssize_t n;
  while ((n = read (p[0], tmp, sizeof tmp)) > 0)
    sink (out, tmp, (size_t) n, NULL);
  close (p[0]);
  int st;
  waitpid (pid, &st, 0);
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static void
test_reproducible (void)
{
  struct lg g = { 0 };
  lg_dir (&g, "etc/", 0755);
  lg_file_full (&g, "etc/z", 0600, 5, 6, 1700000000, "zzz");
  lg_file_full (&g, "etc/a", 0644, 0, 0, 1600000000, "aaaa");
  lg_file (&g, "b/c/d", "ddddd");
  lg_hardlink (&g, "etc/a-link", "etc/a");
  lg_symlink (&g, "s", "/etc/z");
  lg_end (&g);
  char *layer = lg_write (&g, "gzip", NULL);
  struct buf one = { 0 }, two = { 0 };
  int r1 = run_child (layer, 022, "UTC", "/", &one);
  int r2 = run_child (layer, 077, "Pacific/Kiritimati", lg_dir_tmp, &two);
  tap_ok (r1 == 0 && r2 == 0, "both runs succeeded (%d, %d)", r1, r2);
  tap_ok (one.len > 0 && one.len == two.len && memcmp (one.b, two.b, one.len) == 0,
          "identical bytes with different umask, TZ and cwd");
  /* the emitted mode of etc/z is the layer's 0600 whatever the umask */
  const char *z = memmem (one.b, one.len, "rootfs/etc/z", 13);
  tap_ok (z && memcmp (z - 110 + 6 + 8, "00008180", 8) == 0, "modes come from the layer, not the umask");
  /* GNU cpio can read it.  Only a missing cpio is a skip: when it is installed,
     any failure to run it or to list the archive is a failure. */
  if (system ("command -v cpio >/dev/null 2>&1") != 0)
    tap_ok (1, "# SKIP GNU cpio not installed (Debian package cpio): archive not listed by it");
  else
    {
      char path[4300], errpath[4300], cmd[9000];
      snprintf (path, sizeof path, "%s/out.cpio", lg_dir_tmp);
      snprintf (errpath, sizeof errpath, "%s/cpio.err", lg_dir_tmp);
      FILE *f = fopen (path, "w");
      int wrote = f != NULL && fwrite (one.b, 1, one.len, f) == one.len;
      if (f != NULL && fclose (f) != 0)
        wrote = 0;
      tap_ok (wrote, "archive written to %s for GNU cpio", path);
      snprintf (cmd, sizeof cmd, "cpio --quiet -it < '%s' 2>'%s'", path, errpath);
      FILE *pp = popen (cmd, "r");
      char list[4096] = "";
      size_t n = pp ? fread (list, 1, sizeof list - 1, pp) : 0;
      list[n] = '\0';
      int st = pp ? pclose (pp) : -1;
      if (!tap_ok (st == 0, "GNU cpio reads the archive (status %d)", st))
        {
          char msg[1024] = "";
          FILE *ef = fopen (errpath, "r");
          size_t m = ef ? fread (msg, 1, sizeof msg - 1, ef) : 0;
          msg[m] = '\0';
          if (ef)
            fclose (ef);
          tap_diag ("cpio said: %s", msg);
        }
      TAP_STR_EQ (list, "rootfs\nrootfs/b\nrootfs/b/c\nrootfs/b/c/d\nrootfs/etc\nrootfs/etc/a\nrootfs/etc/a-link\nrootfs/etc/z\nrootfs/s\n",
                  "GNU cpio lists the archive in emission order");
    }
  free (one.b);
  free (two.b);
  free (layer);
}

int
main (void)
{
  test_small_tree ();
  test_bootstrap ();
  test_reproducible ();
  lg_cleanup ();
  return tap_done ();
}
