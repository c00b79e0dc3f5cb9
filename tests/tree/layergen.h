/* enclaver tests: build layer tarballs byte by byte (ustar headers, pax and GNU long
 * name records), so hostile layers can be expressed exactly, then compress them with
 * libarchive's raw writer (gzip, zstd or none). */
#ifndef ENCLAVER_TEST_LAYERGEN_H
#define ENCLAVER_TEST_LAYERGEN_H

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include <enclaver/tree.h>

struct lg
{
  unsigned char *b;
  size_t len, cap;
};

static __attribute__ ((unused)) void
lg_put (struct lg *g, const void *p, size_t n)
{
  if (g->len + n > g->cap)
    {
      g->cap = (g->len + n) * 2 + 4096;
      g->b = realloc (g->b, g->cap);
      if (!g->b)
        abort ();
    }
  memcpy (g->b + g->len, p, n);
  g->len += n;
}

static __attribute__ ((unused)) void
lg_pad (struct lg *g)
{
  static const unsigned char z[512];
  if (g->len % 512)
    lg_put (g, z, 512 - g->len % 512);
}

/* One ustar header block (name/linkname truncated to the field; use pax/gnu for longer). */
static __attribute__ ((unused)) void
lg_hdr (struct lg *g, const char *name, char type, unsigned mode, unsigned long long uid, unsigned long long gid,
        unsigned long long size, long long mtime, const char *link, unsigned maj, unsigned min)
{
  unsigned char h[512];
  memset (h, 0, sizeof h);
  strncpy ((char *) h, name, 100);
  snprintf ((char *) h + 100, 8, "%07o", mode & 07777);
  snprintf ((char *) h + 108, 8, "%07llo", uid & 07777777);
  snprintf ((char *) h + 116, 8, "%07llo", gid & 07777777);
  snprintf ((char *) h + 124, 12, "%011llo", size & 077777777777ull);
  snprintf ((char *) h + 136, 12, "%011llo", (unsigned long long) mtime & 077777777777ull);
  h[156] = (unsigned char) type;
  if (link)
    strncpy ((char *) h + 157, link, 100);
  memcpy (h + 257, "ustar", 6);
  memcpy (h + 263, "00", 2);
  memcpy (h + 265, "root", 4);
  memcpy (h + 297, "root", 4);
  snprintf ((char *) h + 329, 8, "%07o", maj);
  snprintf ((char *) h + 337, 8, "%07o", min);
  memset (h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++)
    sum += h[i];
  snprintf ((char *) h + 148, 8, "%06o", sum);
  h[155] = ' ';
  lg_put (g, h, 512);
}

/* A pax 'x' header with one or two records ("key=value"), before the next entry. */
static __attribute__ ((unused)) void
lg_pax (struct lg *g, const char *k1, const char *v1, const char *k2, const char *v2)
{
  struct lg body = { 0 };
  const char *ks[2] = { k1, k2 }, *vs[2] = { v1, v2 };
  for (int i = 0; i < 2; i++)
    {
      if (!ks[i])
        continue;
      size_t base = strlen (ks[i]) + strlen (vs[i]) + 3; /* ' ' '=' '\n' */
      size_t n = base + 1;
      for (;;)
        {
          char tmp[32];
          size_t d = (size_t) snprintf (tmp, sizeof tmp, "%zu", n);
          if (base + d == n)
            break;
          n = base + d;
        }
      char pre[32];
      snprintf (pre, sizeof pre, "%zu ", n);
      lg_put (&body, pre, strlen (pre));
      lg_put (&body, ks[i], strlen (ks[i]));
      lg_put (&body, "=", 1);
      lg_put (&body, vs[i], strlen (vs[i]));
      lg_put (&body, "\n", 1);
    }
  lg_hdr (g, "PaxHeader", 'x', 0644, 0, 0, body.len, 0, NULL, 0, 0);
  lg_put (g, body.b, body.len);
  lg_pad (g);
  free (body.b);
}

/* A GNU 'L' (long name) or 'K' (long link) record. */
static __attribute__ ((unused)) void
lg_gnu_long (struct lg *g, char type, const char *value)
{
  lg_hdr (g, "././@LongLink", type, 0644, 0, 0, strlen (value) + 1, 0, NULL, 0, 0);
  lg_put (g, value, strlen (value) + 1);
  lg_pad (g);
}

static __attribute__ ((unused)) void
lg_dir (struct lg *g, const char *name, unsigned mode)
{
  lg_hdr (g, name, '5', mode, 0, 0, 0, 1000, NULL, 0, 0);
}

static __attribute__ ((unused)) void
lg_file_full (struct lg *g, const char *name, unsigned mode, unsigned uid, unsigned gid, long long mtime,
              const char *data)
{
  size_t n = data ? strlen (data) : 0;
  lg_hdr (g, name, '0', mode, uid, gid, n, mtime, NULL, 0, 0);
  if (n)
    {
      lg_put (g, data, n);
      lg_pad (g);
    }
}

static __attribute__ ((unused)) void
lg_file (struct lg *g, const char *name, const char *data)
{
  lg_file_full (g, name, 0644, 0, 0, 1000, data);
}

static __attribute__ ((unused)) void
lg_symlink (struct lg *g, const char *name, const char *target)
{
  lg_hdr (g, name, '2', 0777, 0, 0, 0, 1000, target, 0, 0);
}

/* Symlinks l0 -> l1 -> ... -> l<hops-1> -> d, the directory d/, and a file l0/x reached
 * through all of them. */
static __attribute__ ((unused)) void
lg_symlink_chain (struct lg *g, int hops)
{
  char name[16], target[16];
  for (int i = 0; i < hops; i++)
    {
      snprintf (name, sizeof name, "l%d", i);
      snprintf (target, sizeof target, i == hops - 1 ? "d" : "l%d", i + 1);
      lg_symlink (g, name, target);
    }
  lg_dir (g, "d/", 0755);
  lg_file (g, "l0/x", "deep");
}

static __attribute__ ((unused)) void
lg_hardlink (struct lg *g, const char *name, const char *target)
{
  lg_hdr (g, name, '1', 0644, 0, 0, 0, 1000, target, 0, 0);
}

static __attribute__ ((unused)) void
lg_end (struct lg *g)
{
  static const unsigned char z[1024];
  lg_put (g, z, sizeof z);
}

static char lg_dir_tmp[4096];

/* Write the tar (compressed with filter: "none", "gzip", "zstd") to a new file in the
 * test's temp directory; returns its malloc'd path.  *diff_id (may be NULL) gets
 * "sha256:<hex>" of the tar bytes.  Frees g's buffer. */
static __attribute__ ((unused)) char *
lg_write (struct lg *g, const char *filter, char diff_id[80])
{
  static int seq;
  if (!lg_dir_tmp[0])
    {
      const char *base = getenv ("TMPDIR");
      snprintf (lg_dir_tmp, sizeof lg_dir_tmp, "%s/enclaver-tree-test-XXXXXX", base && *base ? base : "/tmp");
      if (!mkdtemp (lg_dir_tmp))
        abort ();
    }
  char *path = malloc (4200);
  snprintf (path, 4200, "%s/layer-%d.tar%s", lg_dir_tmp, ++seq,
            strcmp (filter, "gzip") == 0 ? ".gz" : strcmp (filter, "zstd") == 0 ? ".zst" : "");
  if (diff_id)
    {
      unsigned char d[32];
      unsigned int dl;
      EVP_Digest (g->b, g->len, d, &dl, EVP_sha256 (), NULL);
      strcpy (diff_id, "sha256:");
      for (unsigned i = 0; i < dl; i++)
        sprintf (diff_id + 7 + 2 * i, "%02x", d[i]);
    }
  struct archive *a = archive_write_new ();
  archive_write_set_format_raw (a);
  if (strcmp (filter, "gzip") == 0)
    archive_write_add_filter_gzip (a);
  else if (strcmp (filter, "zstd") == 0)
    archive_write_add_filter_zstd (a);
  archive_write_set_bytes_per_block (a, 0);
  if (archive_write_open_filename (a, path) != ARCHIVE_OK)
    abort ();
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, "x");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_size (e, (la_int64_t) g->len);
  archive_write_header (a, e);
  if (g->len && archive_write_data (a, g->b, g->len) != (la_ssize_t) g->len)
    abort ();
  archive_entry_free (e);
  archive_write_close (a);
  archive_write_free (a);
  free (g->b);
  memset (g, 0, sizeof *g);
  return path;
}

/* A one-entry pax tar (libarchive's writer) at path holding a sparse regular file
 * `name` of logical size `size` whose only data is `len` bytes of 'S' at `off` (GNU
 * sparse 1.0 records).  Returns path. */
static __attribute__ ((unused)) const char *
lg_sparse_tar (const char *path, const char *name, long long size, long long off, size_t len)
{
  struct archive *a = archive_write_new ();
  archive_write_set_format_pax (a);
  if (archive_write_open_filename (a, path) != ARCHIVE_OK)
    abort ();
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t) size);
  archive_entry_sparse_add_entry (e, (la_int64_t) off, (la_int64_t) len);
  archive_write_header (a, e);
  /* the pax writer takes the logical content up to the end of the last mapped block */
  size_t n = (size_t) off + len;
  char *data = calloc (1, n);
  if (!data)
    abort ();
  memset (data + off, 'S', len);
  archive_write_data (a, data, n);
  free (data);
  archive_entry_free (e);
  archive_write_close (a);
  archive_write_free (a);
  return path;
}

/* Feed the content of a regular file of the tree to md; -1 with *err on a read error. */
static __attribute__ ((unused)) int
lg_hash_node (const enclaver_tree_t *t, const enclaver_tree_node_t *n, EVP_MD_CTX *md, enclaver_error_t *err)
{
  unsigned char buf[65536];
  uint64_t off = 0;
  ssize_t r;
  while ((r = enclaver_tree_node_read (t, n, off, buf, sizeof buf, err)) > 0)
    {
      EVP_DigestUpdate (md, buf, (size_t) r);
      off += (uint64_t) r;
    }
  return r < 0 ? -1 : 0;
}

static __attribute__ ((unused)) void
lg_cleanup (void)
{
  if (lg_dir_tmp[0])
    {
      char cmd[4200];
      snprintf (cmd, sizeof cmd, "rm -rf '%s'", lg_dir_tmp);
      if (system (cmd) != 0)
        fprintf (stderr, "cleanup of %s failed\n", lg_dir_tmp);
    }
}

#endif
