/* enclaver: deterministic newc cpio writer (see include/enclaver/cpio.h). */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <enclaver/cpio.h>
#include "util.h"

#define OUT_BUF (64u * 1024u)
#define NEWC_HDR 110

struct link_slot
{
  uint64_t id;
  uint32_t ino;
};

struct enclaver_cpio_writer
{
  struct enclaver_cpio_options o;
  enclaver_cpio_sink_fn sink;
  void *ud;
  enclaver_cpio_file_sink_fn file_sink; /* optional, for content of >= file_min bytes */
  uint64_t file_min;
  unsigned char *buf;
  size_t len;
  uint64_t total;
  uint32_t next_ino;
  struct link_slot *links; /* open addressing, power-of-two size */
  size_t n_links, cap_links;
  int finished;
  int failed;
};

void
enclaver_cpio_options_init (struct enclaver_cpio_options *o)
{
  memset (o, 0, sizeof *o);
  o->mode = ENCLAVER_CPIO_DETERMINISTIC;
  o->source_date_epoch = -1;
}

enclaver_cpio_writer_t *
enclaver_cpio_writer_new (const struct enclaver_cpio_options *opts, enclaver_cpio_sink_fn sink, void *ud)
{
  enclaver_cpio_writer_t *w = xmalloc0 (sizeof *w);
  if (opts)
    w->o = *opts;
  else
    enclaver_cpio_options_init (&w->o);
  if (w->o.pad_to == 0)
    w->o.pad_to = w->o.mode == ENCLAVER_CPIO_LINUXKIT ? 512 : 4;
  w->sink = sink;
  w->ud = ud;
  w->buf = xmalloc (OUT_BUF);
  w->next_ino = ENCLAVER_CPIO_FIRST_INO;
  return w;
}

void
enclaver_cpio_writer_set_file_sink (enclaver_cpio_writer_t *w, enclaver_cpio_file_sink_fn fn, uint64_t min_size)
{
  w->file_sink = fn;
  w->file_min = min_size ? min_size : 1;
}

void
enclaver_cpio_writer_free (enclaver_cpio_writer_t *w)
{
  if (w == NULL)
    return;
  free (w->buf);
  free (w->links);
  free (w);
}

uint64_t
enclaver_cpio_size (const enclaver_cpio_writer_t *w)
{
  return w->total;
}

static int
flush (enclaver_cpio_writer_t *w, enclaver_error_t *err)
{
  if (w->len == 0)
    return 0;
  if (w->sink (w->ud, w->buf, w->len, err) < 0)
    {
      w->failed = 1;
      return -1;
    }
  w->len = 0;
  return 0;
}

static int
put (enclaver_cpio_writer_t *w, const void *data, size_t len, enclaver_error_t *err)
{
  const unsigned char *p = data;
  while (len > 0)
    {
      if (w->len == OUT_BUF && flush (w, err) < 0)
        return -1;
      size_t n = OUT_BUF - w->len;
      if (n > len)
        n = len;
      memcpy (w->buf + w->len, p, n);
      w->len += n;
      w->total += n;
      p += n;
      len -= n;
    }
  return 0;
}

static int
pad (enclaver_cpio_writer_t *w, uint32_t to, enclaver_error_t *err)
{
  static const unsigned char z[512];
  while (w->total % to != 0)
    {
      size_t n = to - (size_t) (w->total % to);
      if (n > sizeof z)
        n = sizeof z;
      if (put (w, z, n, err) < 0)
        return -1;
    }
  return 0;
}

/* Look up (or insert with ino) a hardlink set; returns the slot. */
static struct link_slot *
link_slot (enclaver_cpio_writer_t *w, uint64_t id)
{
  if (w->n_links * 2 >= w->cap_links)
    {
      size_t cap = w->cap_links ? w->cap_links * 2 : 64;
      struct link_slot *n = xreallocarray (NULL, cap, sizeof *n);
      memset (n, 0, cap * sizeof *n);
      for (size_t i = 0; i < w->cap_links; i++)
        if (w->links[i].id)
          {
            size_t h = (size_t) (w->links[i].id * 0x9E3779B97F4A7C15ull) & (cap - 1);
            while (n[h].id)
              h = (h + 1) & (cap - 1);
            n[h] = w->links[i];
          }
      free (w->links);
      w->links = n;
      w->cap_links = cap;
    }
  size_t h = (size_t) (id * 0x9E3779B97F4A7C15ull) & (w->cap_links - 1);
  while (w->links[h].id && w->links[h].id != id)
    h = (h + 1) & (w->cap_links - 1);
  return &w->links[h];
}

static uint32_t
type_bits (int type)
{
  switch (type)
    {
    case ENCLAVER_NODE_DIR: return S_IFDIR;
    case ENCLAVER_NODE_REG: return S_IFREG;
    case ENCLAVER_NODE_SYMLINK: return S_IFLNK;
    case ENCLAVER_NODE_CHR: return S_IFCHR;
    case ENCLAVER_NODE_BLK: return S_IFBLK;
    case ENCLAVER_NODE_FIFO: return S_IFIFO;
    default: return 0;
    }
}

/* Eight lowercase hex digits of v at p (what "%08x" prints; called 13 times per entry,
 * where snprintf showed up in profiles of images with many small files). */
static void
hex8 (char *p, uint32_t v)
{
  static const char digits[] = "0123456789abcdef";
  for (int i = 7; i >= 0; i--)
    {
      p[i] = digits[v & 0xf];
      v >>= 4;
    }
}

static int
header (enclaver_cpio_writer_t *w, const char *name, size_t name_len, uint32_t ino, uint32_t mode, uint32_t uid,
        uint32_t gid, uint32_t nlink, uint32_t mtime, uint32_t size, uint32_t maj, uint32_t min, uint32_t rmaj,
        uint32_t rmin, enclaver_error_t *err)
{
  const uint32_t f[13] = { ino, mode, uid, gid, nlink, mtime, size, maj, min, rmaj, rmin, (uint32_t) (name_len + 1), 0u };
  char h[NEWC_HDR];
  _Static_assert (NEWC_HDR == 6 + 13 * 8, "newc header: magic and 13 fields of 8 hex digits");
  memcpy (h, "070701", 6);
  for (int i = 0; i < 13; i++)
    hex8 (h + 6 + 8 * i, f[i]);
  if (put (w, h, NEWC_HDR, err) < 0 || put (w, name, name_len, err) < 0 || put (w, "", 1, err) < 0)
    return -1;
  return pad (w, 4, err);
}

typedef ssize_t (*data_fn) (void *ud, uint64_t off, void *buf, size_t len, enclaver_error_t *err);
/* Where the data lies in a file (for the file sink): 0 and *fd, *off set, or -1. */
typedef int (*where_fn) (void *ud, int *fd, uint64_t *off, enclaver_error_t *err);

static int
add_entry_at (enclaver_cpio_writer_t *w, const struct enclaver_cpio_entry *e, const void *data, data_fn rd,
              where_fn where, void *rud, enclaver_error_t *err);

static int
add_entry (enclaver_cpio_writer_t *w, const struct enclaver_cpio_entry *e, const void *data, data_fn rd, void *rud,
           enclaver_error_t *err)
{
  return add_entry_at (w, e, data, rd, NULL, rud, err);
}

static int
add_entry_at (enclaver_cpio_writer_t *w, const struct enclaver_cpio_entry *e, const void *data, data_fn rd,
              where_fn where, void *rud, enclaver_error_t *err)
{
  if (w->finished || w->failed)
    return enclaver_make_error (err, EINVAL, "cpio: writer already finished or failed");
  size_t nl = e->name ? strlen (e->name) : 0;
  if (nl == 0 || nl > 4095)
    return enclaver_make_error (err, ENAMETOOLONG, "cpio: name '%.200s' of %zu bytes not in 1..4095", e->name ? e->name : "",
                                nl);
  uint32_t tb = type_bits (e->type);
  if (tb == 0)
    return enclaver_make_error (err, EINVAL, "cpio: '%s': unknown type %d", e->name, e->type);
  int lk = w->o.mode == ENCLAVER_CPIO_LINUXKIT;
  uint64_t size = (e->type == ENCLAVER_NODE_REG || e->type == ENCLAVER_NODE_SYMLINK) ? e->size : 0;
  if (size > UINT32_MAX)
    return enclaver_make_error (err, EFBIG, "cpio: '%s' is %llu bytes; newc cannot store files of 4 GiB or more",
                                e->name, (unsigned long long) size);
  int64_t mt = e->mtime;
  if (!lk && w->o.source_date_epoch >= 0 && (w->o.force_mtime || mt > w->o.source_date_epoch))
    mt = w->o.source_date_epoch;
  if (mt < 0)
    mt = 0;
  if (mt > (int64_t) UINT32_MAX)
    mt = UINT32_MAX;

  uint32_t ino, nlink = 1;
  int write_data = 1;
  if (e->type == ENCLAVER_NODE_DIR)
    nlink = 2;
  if (!lk && e->type == ENCLAVER_NODE_REG && e->link_id != 0)
    {
      struct link_slot *s = link_slot (w, e->link_id);
      nlink = e->nlink ? e->nlink : 1;
      if (s->id)
        {
          ino = s->ino;
          write_data = 0;
          size = 0;
        }
      else
        {
          s->id = e->link_id;
          s->ino = ino = w->next_ino++;
          w->n_links++;
        }
    }
  else
    ino = w->next_ino++;
  uint32_t rmaj = 0, rmin = 0;
  if (e->type == ENCLAVER_NODE_CHR || e->type == ENCLAVER_NODE_BLK)
    {
      rmaj = e->rdev_major;
      rmin = e->rdev_minor;
    }
  if (header (w, e->name, nl, ino, tb | (e->mode & 07777), e->uid, e->gid, nlink, (uint32_t) mt, (uint32_t) size,
              lk ? 3 : 0, lk ? 1 : 0, rmaj, rmin, err) < 0)
    return -1;
  if (write_data && size > 0)
    {
      if (data)
        {
          if (put (w, data, (size_t) size, err) < 0)
            return -1;
        }
      else if (where && w->file_sink && size >= w->file_min)
        {
          int fd;
          uint64_t at;
          if (where (rud, &fd, &at, err) < 0)
            return enclaver_error_wrap (err, "cpio: reading '%s'", e->name);
          if (flush (w, err) < 0)
            return -1;
          if (w->file_sink (w->ud, fd, at, size, err) < 0)
            {
              w->failed = 1;
              return -1;
            }
          w->total += size;
        }
      else if (rd)
        {
          uint64_t off = 0;
          while (off < size)
            {
              if (w->len == OUT_BUF && flush (w, err) < 0)
                return -1;
              size_t room = OUT_BUF - w->len;
              if (room > size - off)
                room = (size_t) (size - off);
              ssize_t n = rd (rud, off, w->buf + w->len, room, err);
              if (n < 0)
                return enclaver_error_wrap (err, "cpio: reading '%s'", e->name);
              if (n == 0)
                return enclaver_make_error (err, EIO, "cpio: '%s' is shorter than its size", e->name);
              w->len += (size_t) n;
              w->total += (uint64_t) n;
              off += (uint64_t) n;
            }
        }
      else
        return enclaver_make_error (err, EINVAL, "cpio: '%s': no data given", e->name);
      if (pad (w, 4, err) < 0)
        return -1;
    }
  return 0;
}

int
enclaver_cpio_add (enclaver_cpio_writer_t *w, const struct enclaver_cpio_entry *e, const void *data,
                   enclaver_error_t *err)
{
  return add_entry (w, e, data, NULL, NULL, err);
}

struct tree_emit
{
  enclaver_cpio_writer_t *w;
  const char *prefix;
  size_t plen;
  char *name;
  size_t cap;
  const enclaver_tree_node_t *node;
  const enclaver_tree_t *tree;
};

static ssize_t
tree_data (void *ud, uint64_t off, void *buf, size_t len, enclaver_error_t *err)
{
  struct tree_emit *te = ud;
  return enclaver_tree_node_read (te->tree, te->node, off, buf, len, err);
}

static int
tree_where (void *ud, int *fd, uint64_t *off, enclaver_error_t *err)
{
  struct tree_emit *te = ud;
  return enclaver_tree_node_content (te->tree, te->node, fd, off, err);
}

static int
emit_node (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, const char *path, size_t path_len,
           const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  struct tree_emit *te = ud;
  (void) tree;
  const char *name = path;
  if (te->plen)
    {
      size_t need = te->plen + 1 + path_len + 1;
      if (need > te->cap)
        {
          te->cap = need * 2;
          te->name = xrealloc (te->name, te->cap);
        }
      memcpy (te->name, te->prefix, te->plen);
      size_t o = te->plen;
      if (path_len)
        {
          te->name[o++] = '/';
          memcpy (te->name + o, path, path_len);
          o += path_len;
        }
      te->name[o] = '\0';
      name = te->name;
    }
  else if (path_len == 0)
    name = ".";
  struct enclaver_cpio_entry e = {
    .name = name,
    .type = st->type,
    .mode = st->mode,
    .uid = st->uid,
    .gid = st->gid,
    .mtime = st->mtime,
    .size = st->size,
    .rdev_major = st->rdev_major,
    .rdev_minor = st->rdev_minor,
  };
  if (st->type == ENCLAVER_NODE_REG && st->nlink > 1)
    {
      e.link_id = st->inode;
      e.nlink = st->nlink;
    }
  te->node = node;
  if (st->type == ENCLAVER_NODE_SYMLINK)
    return add_entry (te->w, &e, st->link_target, NULL, NULL, err);
  return add_entry_at (te->w, &e, NULL, tree_data, tree_where, te, err);
}

int
enclaver_cpio_add_tree (enclaver_cpio_writer_t *w, const enclaver_tree_t *tree, const char *prefix, unsigned flags,
                        enclaver_error_t *err)
{
  struct tree_emit te = { .w = w, .tree = tree };
  cleanup_free char *p = NULL;
  if (prefix && *prefix)
    {
      p = xstrdup (prefix);
      size_t l = strlen (p);
      while (l > 0 && p[l - 1] == '/')
        p[--l] = '\0';
      char *s = p;
      while (*s == '/')
        s++;
      memmove (p, s, strlen (s) + 1);
    }
  te.prefix = p ? p : "";
  te.plen = strlen (te.prefix);
  int r = enclaver_tree_walk (tree, NULL, (flags & ENCLAVER_CPIO_TREE_ROOT) ? ENCLAVER_TREE_WALK_ROOT : 0, emit_node,
                              &te, err);
  free (te.name);
  return r < 0 ? -1 : 0;
}

int
enclaver_cpio_finish (enclaver_cpio_writer_t *w, enclaver_error_t *err)
{
  if (w->finished || w->failed)
    return enclaver_make_error (err, EINVAL, "cpio: writer already finished or failed");
  uint32_t ino = w->o.mode == ENCLAVER_CPIO_LINUXKIT ? w->next_ino++ : 0;
  if (header (w, "TRAILER!!!", 10, ino, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, err) < 0)
    return -1;
  if (pad (w, w->o.pad_to ? w->o.pad_to : 4, err) < 0)
    return -1;
  if (flush (w, err) < 0)
    return -1;
  w->finished = 1;
  return 0;
}

int
enclaver_cpio_write_bootstrap (const void *init, size_t init_len, const void *nsm_ko, size_t nsm_len,
                               enclaver_cpio_sink_fn sink, void *userdata, enclaver_error_t *err)
{
  struct enclaver_cpio_options o;
  enclaver_cpio_options_init (&o);
  o.mode = ENCLAVER_CPIO_LINUXKIT;
  enclaver_cpio_writer_t *w = enclaver_cpio_writer_new (&o, sink, userdata);
  struct enclaver_cpio_entry dev = { .name = "dev", .type = ENCLAVER_NODE_DIR, .mode = 0755,
                                     .mtime = ENCLAVER_LINUXKIT_MTIME };
  struct enclaver_cpio_entry in = { .name = "init", .type = ENCLAVER_NODE_REG, .mode = 0755,
                                    .mtime = ENCLAVER_LINUXKIT_MTIME, .size = init_len };
  struct enclaver_cpio_entry nsm = { .name = "nsm.ko", .type = ENCLAVER_NODE_REG, .mode = 0755,
                                     .mtime = ENCLAVER_LINUXKIT_MTIME, .size = nsm_len };
  int r = -1;
  if (enclaver_cpio_add (w, &dev, NULL, err) == 0 && enclaver_cpio_add (w, &in, init_len ? init : "", err) == 0
      && enclaver_cpio_add (w, &nsm, nsm_len ? nsm_ko : "", err) == 0 && enclaver_cpio_finish (w, err) == 0)
    r = 0;
  enclaver_cpio_writer_free (w);
  if (r < 0)
    enclaver_error_wrap (err, "bootstrap ramdisk");
  return r;
}
