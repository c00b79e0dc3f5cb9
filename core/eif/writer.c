/* enclaver: streaming EIF writer and re-signing of existing EIFs (the metadata JSON is
 * core/eif/metadata.c).
 *
 * Layout (as the reference builder writes it, no padding):
 *   header(548) | kernel | cmdline | metadata | ramdisk0 | ramdisk1.. | [signature]
 * Every section is a 12-byte header (type, flags 0, size) followed by its data.
 * Data is streamed into a temporary file; the section header is patched once the size
 * is known, the CRC is accumulated per section and combined with the header's CRC at
 * the end (crc32_combine), so nothing is read twice and nothing is held in memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <enclaver/tempfiles.h>
#include "eif/eif-internal.h"

/* ------------------------------------------------------------------------- */
/* emitter */

int
eif_emitter_open (struct eif_emitter *e, const char *path, enclaver_error_t *err)
{
  cleanup_free char *d = xstrdup (path);
  cleanup_free char *b = xstrdup (path);
  const char *dir, *base;

  memset (e, 0, sizeof *e);
  e->fd = -1;
  dir = dirname (d);
  base = basename (b);
  if (base[0] == '\0' || strcmp (base, "/") == 0 || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return enclaver_make_error (err, EINVAL, "%s: not a valid output file name", path);
  e->tmp_path = xasprintf ("%s/.%s.XXXXXX", dir, base);
  e->fd = enclaver_temp_mkostemp (e->tmp_path, O_CLOEXEC);
  if (e->fd < 0)
    {
      int saved = errno;
      free (e->tmp_path);
      e->tmp_path = NULL;
      return enclaver_make_errno (err, saved, "create a temporary file in %s for %s", dir, path);
    }
  e->final_path = xstrdup (path);
  e->off = ENCLAVER_EIF_HEADER_SIZE;
  return 0;
}

int
eif_emitter_begin (struct eif_emitter *e, uint16_t type, enclaver_error_t *err)
{
  if (e->in_section)
    return enclaver_make_error (err, EINVAL, "internal: section %u not finished", e->n);
  if (e->n >= ENCLAVER_EIF_MAX_SECTIONS)
    return enclaver_make_error (err, E2BIG, "an EIF holds at most %d sections", ENCLAVER_EIF_MAX_SECTIONS);
  e->in_section = 1;
  e->cur_hdr_off = e->off;
  e->cur_size = 0;
  if (e->measure)
    eif_measure_section (e->measure, type);
  e->types[e->n] = type;
  return 0;
}

/* ---- the pipeline behind eif_emitter_write */

#define EIF_PIPE_SLOTS 32
/* Start writeback every this many bytes, so that the final fsync has little left. */
#define EIF_WRITEBACK_STEP (8u << 20)

struct eif_slot
{
  uint8_t *buf;
  const uint8_t *ext; /* non-NULL: the data is here (a mapping of src_fd), not in buf */
  void *map;          /* with ext: that mapping, this slot's own (unmapped on reuse) */
  size_t map_len;
  int src_fd;         /* with ext: the file it maps, for copy_file_range */
  uint64_t src_off;
  size_t len;
  uint64_t off; /* file offset */
  struct eif_measure *m; /* NULL: not measured */
  int mask;              /* PCRs this data feeds (bit i: m->pcr[i]) */
};

struct eif_pipe
{
  struct eif_emitter *e;
  pthread_mutex_t mu;
  pthread_cond_t work_cv; /* workers wait here for slots */
  pthread_cond_t free_cv; /* the caller waits here for the workers */
  int idle;               /* workers waiting on work_cv */
  int caller_waiting;
  pthread_t th[2];
  int threaded; /* 0: everything runs on the caller's thread */
  int quit;
  struct eif_slot slot[EIF_PIPE_SLOTS];
  uint64_t submitted; /* slots handed to the workers */
  size_t fill;        /* bytes in slot[submitted % EIF_PIPE_SLOTS], not yet handed over */
  uint64_t done[2];   /* slots each worker has finished */
  /* worker 0 */
  uint32_t crc;
  int hash_failed[2]; /* per worker: each writes only its own */
  /* worker 1 */
  int write_errno;
  int no_copy_range; /* copy_file_range refused once: pwrite from the mapping */
  uint64_t synced_to;
};

/* A by-reference slot's mapping (see eif_emitter_write_file). */
static void
slot_unmap (struct eif_slot *s)
{
  if (s->map)
    munmap (s->map, s->map_len);
  s->map = NULL;
  s->map_len = 0;
  s->ext = NULL;
}

/* Worker 0: PCR0 and the section CRC. */
static void
pipe_work0 (struct eif_pipe *p, const struct eif_slot *s)
{
  struct eif_measure *m = s->m;
  const uint8_t *d = s->ext ? s->ext : s->buf;
  p->crc = eif_crc32 (p->crc, d, s->len);
  if (m && (s->mask & 1) && enclaver_pcr_update (&m->pcr[0], d, s->len, NULL) < 0)
    p->hash_failed[0] = 1;
}

/* Worker 1: the file write, the section's other PCR, and early writeback. */
static void
pipe_work1 (struct eif_pipe *p, const struct eif_slot *s)
{
  struct eif_measure *m = s->m;
  const uint8_t *d = s->ext ? s->ext : s->buf;
  if (p->write_errno == 0 && s->ext && !p->no_copy_range)
    {
      /* in the kernel, page cache to page cache (a reflink where the filesystem has
       * them): the bytes never come up into this process for the write */
      loff_t in = (loff_t) s->src_off, out = (loff_t) s->off;
      size_t left = s->len;
      while (left > 0)
        {
          ssize_t r = copy_file_range (s->src_fd, &in, p->e->fd, &out, left, 0);
          if (r < 0 && errno == EINTR)
            continue;
          if (r <= 0)
            {
              if (r == 0 || errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP
                  || errno == EBADF || errno == EPERM)
                p->no_copy_range = 1; /* the rest (and later slots) by pwrite */
              else
                p->write_errno = errno;
              break;
            }
          left -= (size_t) r;
        }
      if (left > 0 && p->write_errno == 0
          && enclaver_pwrite_all (p->e->fd, d + (s->len - left), left, s->off + (s->len - left)) < 0)
        p->write_errno = errno ? errno : EIO;
    }
  else if (p->write_errno == 0 && enclaver_pwrite_all (p->e->fd, d, s->len, s->off) < 0)
    p->write_errno = errno ? errno : EIO;
  for (int i = 1; i < 3; i++)
    if (m && (s->mask & (1 << i)) && enclaver_pcr_update (&m->pcr[i], d, s->len, NULL) < 0)
      p->hash_failed[1] = 1;
  if (p->write_errno == 0 && s->off + s->len >= p->synced_to + EIF_WRITEBACK_STEP)
    {
      /* a hint: errors show up in the final fsync */
      (void) sync_file_range (p->e->fd, (off_t) p->synced_to, (off_t) (s->off + s->len - p->synced_to),
                              SYNC_FILE_RANGE_WRITE);
      p->synced_to = s->off + s->len;
    }
}

struct pipe_worker
{
  struct eif_pipe *p;
  int id;
};

static void *
pipe_worker_main (void *arg)
{
  struct eif_pipe *p = ((struct pipe_worker *) arg)->p;
  int id = ((struct pipe_worker *) arg)->id;
  free (arg);
  pthread_mutex_lock (&p->mu);
  for (;;)
    {
      while (p->done[id] == p->submitted && !p->quit)
        {
          p->idle++;
          pthread_cond_wait (&p->work_cv, &p->mu);
          p->idle--;
        }
      if (p->done[id] == p->submitted)
        break;
      const struct eif_slot *s = &p->slot[p->done[id] % EIF_PIPE_SLOTS];
      pthread_mutex_unlock (&p->mu);
      if (id == 0)
        pipe_work0 (p, s);
      else
        pipe_work1 (p, s);
      pthread_mutex_lock (&p->mu);
      p->done[id]++;
      if (p->caller_waiting)
        pthread_cond_signal (&p->free_cv);
    }
  pthread_mutex_unlock (&p->mu);
  return NULL;
}

static void
pipe_stop_workers (struct eif_pipe *p, int n)
{
  pthread_mutex_lock (&p->mu);
  p->quit = 1;
  pthread_cond_broadcast (&p->work_cv);
  pthread_mutex_unlock (&p->mu);
  for (int i = 0; i < n; i++)
    pthread_join (p->th[i], NULL);
  p->quit = 0;
}

/* A pipe with both workers running, or (when a thread cannot be started) none: then
 * pipe_submit does the work on the caller's thread. */
static struct eif_pipe *
pipe_new (struct eif_emitter *e)
{
  static const char *const names[2] = { "eif-pcr0-crc", "eif-write-pcr" };
  struct eif_pipe *p = xmalloc0 (sizeof *p);
  int started = 0;
  p->e = e;
  for (int i = 0; i < EIF_PIPE_SLOTS; i++)
    p->slot[i].buf = xmalloc (EIF_IO_CHUNK);
  pthread_mutex_init (&p->mu, NULL);
  pthread_cond_init (&p->work_cv, NULL);
  pthread_cond_init (&p->free_cv, NULL);
  for (; started < 2; started++)
    {
      struct pipe_worker *w = xmalloc (sizeof *w);
      w->p = p;
      w->id = started;
      if (pthread_create (&p->th[started], NULL, pipe_worker_main, w) != 0)
        {
          free (w);
          pipe_stop_workers (p, started);
          return p;
        }
      pthread_setname_np (p->th[started], names[started]);
    }
  p->threaded = 1;
  return p;
}

static void
pipe_free (struct eif_pipe *p)
{
  if (p == NULL)
    return;
  if (p->threaded)
    pipe_stop_workers (p, 2);
  pthread_cond_destroy (&p->work_cv);
  pthread_cond_destroy (&p->free_cv);
  pthread_mutex_destroy (&p->mu);
  for (int i = 0; i < EIF_PIPE_SLOTS; i++)
    {
      slot_unmap (&p->slot[i]);
      free (p->slot[i].buf);
    }
  free (p);
}

/* The slot being filled (p->fill bytes in it so far): before its first byte, wait until
 * both workers are done with its previous contents. */
static struct eif_slot *
pipe_fill_slot (struct eif_pipe *p)
{
  struct eif_slot *s = &p->slot[p->submitted % EIF_PIPE_SLOTS];
  if (p->fill == 0 && p->threaded && p->submitted >= EIF_PIPE_SLOTS)
    {
      uint64_t need = p->submitted - EIF_PIPE_SLOTS + 1;
      pthread_mutex_lock (&p->mu);
      while (p->done[0] < need || p->done[1] < need)
        {
          p->caller_waiting = 1;
          pthread_cond_wait (&p->free_cv, &p->mu);
          p->caller_waiting = 0;
        }
      pthread_mutex_unlock (&p->mu);
    }
  if (p->fill == 0 && s->map)
    slot_unmap (s); /* both workers are done with it */
  return s;
}

/* Hand the slot being filled to the workers (or process it here without them). */
static void
pipe_submit (struct eif_pipe *p)
{
  struct eif_slot *s = &p->slot[p->submitted % EIF_PIPE_SLOTS];
  if (p->fill == 0)
    return;
  s->len = p->fill;
  p->fill = 0;
  if (!p->threaded)
    {
      pipe_work0 (p, s);
      pipe_work1 (p, s);
      p->submitted++;
      p->done[0] = p->done[1] = p->submitted;
      return;
    }
  pthread_mutex_lock (&p->mu);
  p->submitted++;
  if (p->idle)
    pthread_cond_broadcast (&p->work_cv);
  pthread_mutex_unlock (&p->mu);
}

/* Wait until every byte written so far is in the file and hashed; report worker errors. */
static int
pipe_drain (struct eif_emitter *e, enclaver_error_t *err)
{
  struct eif_pipe *p = e->pipe;
  int werr, hfail;
  if (p == NULL)
    return 0;
  pipe_submit (p);
  pthread_mutex_lock (&p->mu);
  while (p->done[0] < p->submitted || p->done[1] < p->submitted)
    {
      p->caller_waiting = 1;
      pthread_cond_wait (&p->free_cv, &p->mu);
      p->caller_waiting = 0;
    }
  werr = p->write_errno;
  hfail = p->hash_failed[0] || p->hash_failed[1];
  pthread_mutex_unlock (&p->mu);
  if (werr)
    return enclaver_make_errno (err, werr, "write %s", e->tmp_path);
  if (hfail)
    return enclaver_make_error (err, EIO, "SHA-384 update failed");
  return 0;
}

int
eif_emitter_write (struct eif_emitter *e, const void *data, size_t len, enclaver_error_t *err)
{
  uint64_t at = e->cur_hdr_off + ENCLAVER_EIF_SECTION_HEADER_SIZE + e->cur_size;
  const uint8_t *d = data;
  struct eif_pipe *p;

  if (!e->in_section)
    return enclaver_make_error (err, EINVAL, "internal: write outside a section");
  if (len == 0)
    return 0;
  if (UINT64_MAX - at < len || at + len > (uint64_t) INT64_MAX)
    return enclaver_make_error (err, EFBIG, "%s: section too large", e->final_path);
  if (e->pipe == NULL)
    e->pipe = pipe_new (e);
  p = e->pipe;
  while (len > 0)
    {
      struct eif_slot *s = pipe_fill_slot (p);
      size_t n;
      if (p->fill == 0)
        {
          s->ext = NULL;
          s->off = at;
          s->m = e->measure;
          s->mask = e->measure ? e->measure->cur_mask : 0;
        }
      n = EIF_IO_CHUNK - p->fill < len ? EIF_IO_CHUNK - p->fill : len;
      memcpy (s->buf + p->fill, d, n);
      p->fill += n;
      d += n;
      len -= n;
      at += n;
      e->cur_size += n;
      if (p->fill == EIF_IO_CHUNK)
        pipe_submit (p);
    }
  return 0;
}

/* len bytes of fd from off into the current section, without copying them through a
 * buffer of ours: the workers hash them from read-only mappings of fd and move them
 * into the EIF with copy_file_range.  fd must stay open and its bytes unchanged until
 * the section ends. */
int
eif_emitter_write_file (struct eif_emitter *e, int fd, uint64_t off, uint64_t len, enclaver_error_t *err)
{
  uint64_t at = e->cur_hdr_off + ENCLAVER_EIF_SECTION_HEADER_SIZE + e->cur_size;
  struct eif_pipe *p;

  if (!e->in_section)
    return enclaver_make_error (err, EINVAL, "internal: write outside a section");
  if (len == 0)
    return 0;
  if (UINT64_MAX - at < len || at + len > (uint64_t) INT64_MAX || UINT64_MAX - off < len)
    return enclaver_make_error (err, EFBIG, "%s: section too large", e->final_path);
  if (e->pipe == NULL)
    e->pipe = pipe_new (e);
  p = e->pipe;
  pipe_submit (p); /* the bytes before these */
  const uint64_t page = (uint64_t) sysconf (_SC_PAGESIZE);
  while (len > 0)
    {
      struct eif_slot *s = pipe_fill_slot (p);
      size_t n = len < EIF_IO_CHUNK ? (size_t) len : EIF_IO_CHUNK;
      /* Each slot maps just its own pages (populated here, on the caller's thread) and
       * unmaps them when it is reused: at most EIF_PIPE_SLOTS chunks are mapped at a
       * time, so the mapped page-cache pages do not pile up in the resident set. */
      uint64_t base = off & ~(uint64_t) (page - 1);
      size_t mlen = (size_t) (off + n - base);
      void *m = mmap (NULL, mlen, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t) base);
      if (m == MAP_FAILED)
        return enclaver_make_errno (err, errno, "map the content file at offset %llu", (unsigned long long) off);
      s->map = m;
      s->map_len = mlen;
      s->ext = (const uint8_t *) m + (off - base);
      s->src_fd = fd;
      s->src_off = off;
      s->off = at;
      s->m = e->measure;
      s->mask = e->measure ? e->measure->cur_mask : 0;
      p->fill = n;
      pipe_submit (p);
      off += n;
      at += n;
      len -= n;
      e->cur_size += n;
    }
  return 0;
}

int
eif_emitter_end (struct eif_emitter *e, enclaver_error_t *err)
{
  uint8_t hdr[ENCLAVER_EIF_SECTION_HEADER_SIZE];
  uint32_t crc, data_crc = 0;

  if (!e->in_section)
    return enclaver_make_error (err, EINVAL, "internal: no section to finish");
  if (pipe_drain (e, err) < 0)
    return -1;
  if (e->pipe) /* the workers are idle: the section's CRC is final */
    {
      data_crc = e->pipe->crc;
      e->pipe->crc = 0;
    }
  eif_put_be16 (hdr, e->types[e->n]);
  eif_put_be16 (hdr + 2, 0);
  eif_put_be64 (hdr + 4, e->cur_size);
  if (enclaver_pwrite_all (e->fd, hdr, sizeof hdr, e->cur_hdr_off) < 0)
    return enclaver_make_errno (err, errno, "write %s", e->tmp_path);
  crc = eif_crc32_combine (eif_crc32 (0, hdr, sizeof hdr), data_crc, e->cur_size);
  e->crc_sections = e->crc_len ? eif_crc32_combine (e->crc_sections, crc, sizeof hdr + e->cur_size) : crc;
  e->crc_len += sizeof hdr + e->cur_size;
  e->offsets[e->n] = e->cur_hdr_off;
  e->sizes[e->n] = e->cur_size;
  e->n++;
  e->off = e->cur_hdr_off + sizeof hdr + e->cur_size;
  e->in_section = 0;
  return 0;
}

int
eif_emitter_finish (struct eif_emitter *e, uint16_t version, uint16_t flags, uint64_t mem, uint64_t cpus,
                    enclaver_error_t *err)
{
  uint8_t h[ENCLAVER_EIF_HEADER_SIZE];
  uint32_t crc;

  if (e->in_section)
    return enclaver_make_error (err, EINVAL, "internal: section not finished");
  pipe_free (e->pipe);
  e->pipe = NULL;
  memset (h, 0, sizeof h);
  memcpy (h + EIF_OFF_MAGIC, ENCLAVER_EIF_MAGIC, 4);
  eif_put_be16 (h + EIF_OFF_VERSION, version);
  eif_put_be16 (h + EIF_OFF_FLAGS, flags);
  eif_put_be64 (h + EIF_OFF_DEFAULT_MEM, mem);
  eif_put_be64 (h + EIF_OFF_DEFAULT_CPUS, cpus);
  eif_put_be16 (h + EIF_OFF_NUM_SECTIONS, e->n);
  for (unsigned i = 0; i < e->n; i++)
    {
      eif_put_be64 (h + EIF_OFF_SECTION_OFFSETS + 8 * i, e->offsets[i]);
      eif_put_be64 (h + EIF_OFF_SECTION_SIZES + 8 * i, e->sizes[i]);
    }
  crc = eif_crc32 (0, h, EIF_OFF_CRC);
  if (e->crc_len)
    crc = eif_crc32_combine (crc, e->crc_sections, e->crc_len);
  eif_put_be32 (h + EIF_OFF_CRC, crc);
  if (enclaver_pwrite_all (e->fd, h, sizeof h, 0) < 0)
    return enclaver_make_errno (err, errno, "write %s", e->tmp_path);
  if (ftruncate (e->fd, (off_t) e->off) < 0)
    return enclaver_make_errno (err, errno, "truncate %s", e->tmp_path);
  if (fchmod (e->fd, 0644) < 0)
    return enclaver_make_errno (err, errno, "chmod %s", e->tmp_path);
  if (!e->no_fsync && fsync (e->fd) < 0)
    return enclaver_make_errno (err, errno, "fsync %s", e->tmp_path);
  if (close (e->fd) < 0)
    {
      e->fd = -1;
      return enclaver_make_errno (err, errno, "close %s", e->tmp_path);
    }
  e->fd = -1;
  if (rename (e->tmp_path, e->final_path) < 0)
    return enclaver_make_errno (err, errno, "rename %s to %s", e->tmp_path, e->final_path);
  enclaver_temp_forget (e->tmp_path);
  free (e->tmp_path);
  e->tmp_path = NULL;
  return 0;
}

void
eif_emitter_abort (struct eif_emitter *e)
{
  pipe_free (e->pipe);
  e->pipe = NULL;
  if (e->fd >= 0)
    close (e->fd);
  e->fd = -1;
  if (e->tmp_path)
    enclaver_temp_unlink (e->tmp_path);
  free (e->tmp_path);
  e->tmp_path = NULL;
  free (e->final_path);
  e->final_path = NULL;
}

/* Copy `len` bytes (or until EOF when len == UINT64_MAX) from fd at `off` (or the
 * current position when off == UINT64_MAX) into the current section. */
static int
emit_from_fd (struct eif_emitter *e, int fd, const char *name, uint64_t off, uint64_t len, enclaver_error_t *err)
{
  cleanup_free uint8_t *buf = xmalloc (EIF_IO_CHUNK);
  uint64_t done = 0;

  while (len == UINT64_MAX || done < len)
    {
      size_t want = EIF_IO_CHUNK;
      ssize_t r;
      if (len != UINT64_MAX && len - done < want)
        want = (size_t) (len - done);
      if (off == UINT64_MAX)
        r = read (fd, buf, want);
      else
        r = pread (fd, buf, want, (off_t) (off + done));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return enclaver_make_errno (err, errno, "read %s", name);
      if (r == 0)
        {
          if (len == UINT64_MAX)
            break;
          return enclaver_make_error (err, EIO, "%s: unexpected end of file at offset %llu", name,
                                      (unsigned long long) (off + done));
        }
      if (eif_emitter_write (e, buf, (size_t) r, err) < 0)
        return -1;
      done += (uint64_t) r;
    }
  return 0;
}

/* ------------------------------------------------------------------------- */
/* writer */

enum
{
  STAGE_KERNEL = 0,
  STAGE_CMDLINE,
  STAGE_METADATA,
  STAGE_RAMDISK,
  STAGE_MORE_RAMDISKS,
};

struct enclaver_eif_writer_s
{
  struct eif_emitter e;
  struct eif_measure m;
  int stage;
  int failed;
  int finished;
  int open; /* a push-style section is open */
  enum enclaver_eif_section_type open_type;
  enum enclaver_eif_arch arch;
  uint64_t mem, cpus;
  char *cert_pem, *key_pem;
  size_t cert_len, key_len;
};

enclaver_eif_writer_t *
enclaver_eif_writer_new (const char *path, enclaver_error_t *err)
{
  enclaver_eif_writer_t *w = xmalloc0 (sizeof *w);

  if (eif_measure_init (&w->m, err) < 0)
    {
      free (w);
      return NULL;
    }
  if (eif_emitter_open (&w->e, path, err) < 0)
    {
      eif_measure_cleanup (&w->m);
      free (w);
      return NULL;
    }
  w->e.measure = &w->m;
  w->mem = ENCLAVER_EIF_DEFAULT_MEM;
  w->cpus = ENCLAVER_EIF_DEFAULT_CPUS;
  return w;
}

void
enclaver_eif_writer_set_arch (enclaver_eif_writer_t *w, enum enclaver_eif_arch arch)
{
  w->arch = arch;
}

void
enclaver_eif_writer_set_defaults (enclaver_eif_writer_t *w, uint64_t mem, uint64_t cpus)
{
  w->mem = mem;
  w->cpus = cpus;
}

void
enclaver_eif_writer_set_fsync (enclaver_eif_writer_t *w, int on)
{
  w->e.no_fsync = !on;
}

int
enclaver_eif_writer_set_signer (enclaver_eif_writer_t *w, const char *cert_path, const char *key_path,
                                enclaver_error_t *err)
{
  cleanup_free char *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  uint8_t dummy[ENCLAVER_PCR_SIZE] = { 0 };
  uint8_t *sig;
  size_t sig_len;

  if (enclaver_read_file (cert_path, ENCLAVER_EIF_SIGNATURE_MAX_SIZE, &cert, &cert_len, err) < 0)
    return enclaver_error_wrap (err, "signing certificate");
  if (enclaver_read_file (key_path, 1024 * 1024, &key, &key_len, err) < 0)
    return enclaver_error_wrap (err, "private key");
  /* Sign a dummy value now so that a bad key or certificate fails before any work. */
  sig = enclaver_eif_make_signature (cert, cert_len, key, key_len, dummy, &sig_len, err);
  if (sig == NULL)
    return enclaver_error_wrap (err, "%s / %s", cert_path, key_path);
  free (sig);
  free (w->cert_pem);
  free (w->key_pem);
  w->cert_pem = cert;
  w->key_pem = key;
  w->cert_len = cert_len;
  w->key_len = key_len;
  cert = key = NULL;
  return 0;
}

static const char *const stage_expect[] = {
  "the kernel", "the cmdline", "the metadata", "a ramdisk", "a ramdisk",
};

static int
check_order (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type, enclaver_error_t *err)
{
  static const int stage_type[] = { ENCLAVER_EIF_SECTION_KERNEL, ENCLAVER_EIF_SECTION_CMDLINE,
                                    ENCLAVER_EIF_SECTION_METADATA, ENCLAVER_EIF_SECTION_RAMDISK,
                                    ENCLAVER_EIF_SECTION_RAMDISK };
  if (w->finished)
    return enclaver_make_error (err, EINVAL, "EIF writer already finished");
  if (w->failed)
    return enclaver_make_error (err, EINVAL, "EIF writer: an earlier section failed");
  if ((int) type != stage_type[w->stage])
    return enclaver_make_error (err, EINVAL,
                                "EIF sections go in the order kernel, cmdline, metadata, ramdisk...: "
                                "expected %s, got a %s section",
                                stage_expect[w->stage], enclaver_eif_section_type_name (type));
  return 0;
}

static void
advance (enclaver_eif_writer_t *w)
{
  if (w->stage < STAGE_MORE_RAMDISKS)
    w->stage++;
}

/* Stream data into a new section of the given type (data / fd / callback). */
struct source
{
  const void *data;
  size_t len;
  int fd;
  const char *name;
  enclaver_eif_read_fn fn;
  void *opaque;
};

/* A section failed after it was opened: the writer refuses everything from now on. */
static int
section_failed (enclaver_eif_writer_t *w, enclaver_error_t *err)
{
  w->failed = 1;
  return enclaver_error_wrap (err, "%s section", enclaver_eif_section_type_name (w->open_type));
}

int
enclaver_eif_writer_begin_section (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                   enclaver_error_t *err)
{
  if (check_order (w, type, err) < 0)
    return -1;
  if (w->open)
    return enclaver_make_error (err, EINVAL, "a %s section is still open",
                                enclaver_eif_section_type_name (w->open_type));
  w->open_type = type;
  if (eif_emitter_begin (&w->e, (uint16_t) type, err) < 0)
    return section_failed (w, err);
  w->open = 1;
  return 0;
}

int
enclaver_eif_writer_write (enclaver_eif_writer_t *w, const void *data, size_t len, enclaver_error_t *err)
{
  if (!w->open)
    return enclaver_make_error (err, EINVAL, "no section is open");
  if (w->failed)
    return enclaver_make_error (err, EINVAL, "EIF writer: an earlier section failed");
  if (len && data == NULL)
    return enclaver_make_error (err, EINVAL, "NULL data");
  if (w->open_type == ENCLAVER_EIF_SECTION_CMDLINE && len && memchr (data, '\0', len) != NULL)
    {
      enclaver_make_error (err, EINVAL, "the kernel command line must not contain NUL bytes");
      return section_failed (w, err);
    }
  if (eif_emitter_write (&w->e, data, len, err) < 0)
    return section_failed (w, err);
  return 0;
}

int
enclaver_eif_writer_write_file (enclaver_eif_writer_t *w, int fd, uint64_t offset, uint64_t len,
                                enclaver_error_t *err)
{
  if (!w->open)
    return enclaver_make_error (err, EINVAL, "no section is open");
  if (w->failed)
    return enclaver_make_error (err, EINVAL, "EIF writer: an earlier section failed");
  if (w->open_type == ENCLAVER_EIF_SECTION_CMDLINE)
    return enclaver_make_error (err, EINVAL, "the kernel command line is written from a buffer");
  if (eif_emitter_write_file (&w->e, fd, offset, len, err) < 0)
    return section_failed (w, err);
  return 0;
}

int
enclaver_eif_writer_end_section (enclaver_eif_writer_t *w, enclaver_error_t *err)
{
  if (!w->open)
    return enclaver_make_error (err, EINVAL, "no section is open");
  w->open = 0;
  if (eif_emitter_end (&w->e, err) < 0)
    return section_failed (w, err);
  advance (w);
  return 0;
}

/* A whole section from a buffer, a file descriptor or a read callback. */
static int
add_section (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type, const struct source *src,
             enclaver_error_t *err)
{
  if (enclaver_eif_writer_begin_section (w, type, err) < 0)
    return -1;
  if (src->data || src->len)
    {
      if (enclaver_eif_writer_write (w, src->data, src->len, err) < 0)
        return -1;
    }
  else if (src->fd >= 0 || src->fn)
    {
      cleanup_free uint8_t *buf = xmalloc (EIF_IO_CHUNK);
      for (;;)
        {
          ssize_t r;
          errno = 0;
          r = src->fd >= 0 ? read (src->fd, buf, EIF_IO_CHUNK) : src->fn (src->opaque, buf, EIF_IO_CHUNK);
          if (r < 0 && errno == EINTR)
            continue;
          if (r < 0 && src->fd >= 0)
            {
              enclaver_make_errno (err, errno, "read %s", src->name);
              return section_failed (w, err);
            }
          if (r < 0)
            {
              enclaver_make_errno (err, errno ? errno : EIO, "reading the %s section",
                                   enclaver_eif_section_type_name (type));
              return section_failed (w, err);
            }
          if (r == 0)
            break;
          if ((size_t) r > EIF_IO_CHUNK)
            {
              enclaver_make_error (err, EINVAL, "read callback returned more than it was asked for");
              return section_failed (w, err);
            }
          if (enclaver_eif_writer_write (w, buf, (size_t) r, err) < 0)
            return -1;
        }
    }
  return enclaver_eif_writer_end_section (w, err);
}

int
enclaver_eif_writer_add_buffer (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type, const void *data,
                                size_t len, enclaver_error_t *err)
{
  struct source s = { .data = data, .len = len, .fd = -1 };
  if (len && data == NULL)
    return enclaver_make_error (err, EINVAL, "NULL data");
  return add_section (w, type, &s, err);
}

int
enclaver_eif_writer_add_file (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type, const char *path,
                              enclaver_error_t *err)
{
  cleanup_close int fd = -1;
  struct source s = { .fd = -1, .name = path };

  if (check_order (w, type, err) < 0)
    return -1;
  fd = enclaver_open_file (path, 0, err);
  if (fd < 0)
    return -1;
  s.fd = fd;
  if (add_section (w, type, &s, err) < 0)
    return enclaver_error_wrap (err, "%s", path);
  return 0;
}

int
enclaver_eif_writer_add_stream (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                enclaver_eif_read_fn fn, void *opaque, enclaver_error_t *err)
{
  struct source s = { .fd = -1, .fn = fn, .opaque = opaque };
  if (fn == NULL)
    return enclaver_make_error (err, EINVAL, "NULL read callback");
  return add_section (w, type, &s, err);
}

int
enclaver_eif_writer_add_metadata (enclaver_eif_writer_t *w, const struct enclaver_eif_metadata *md,
                                  enclaver_error_t *err)
{
  cleanup_free char *json = NULL;
  size_t len = 0;

  if (check_order (w, ENCLAVER_EIF_SECTION_METADATA, err) < 0)
    return -1;
  json = enclaver_eif_metadata_json (md, &len, err);
  if (json == NULL)
    return -1;
  return enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_METADATA, json, len, err);
}

int
enclaver_eif_writer_finish (enclaver_eif_writer_t *w, struct enclaver_eif_measurements *m,
                            enclaver_error_t *err)
{
  struct enclaver_eif_measurements meas;

  memset (&meas, 0, sizeof meas);
  if (w->finished)
    return enclaver_make_error (err, EINVAL, "EIF writer already finished");
  if (w->failed)
    return enclaver_make_error (err, EINVAL, "EIF writer: an earlier section failed");
  if (w->open)
    return enclaver_make_error (err, EINVAL, "EIF writer: the %s section is still open",
                                enclaver_eif_section_type_name (w->open_type));
  if (w->stage != STAGE_MORE_RAMDISKS)
    return enclaver_make_error (err, EINVAL, "EIF incomplete: %s section is missing", stage_expect[w->stage]);
  if (eif_measure_final (&w->m, &meas, err) < 0)
    goto fail;
  if (w->cert_pem)
    {
      size_t sig_len = 0;
      cleanup_free uint8_t *sig = enclaver_eif_make_signature (w->cert_pem, w->cert_len, w->key_pem, w->key_len,
                                                               meas.pcr0, &sig_len, err);
      if (sig == NULL)
        goto fail;
      w->e.measure = NULL;
      if (eif_emitter_begin (&w->e, ENCLAVER_EIF_SECTION_SIGNATURE, err) < 0
          || eif_emitter_write (&w->e, sig, sig_len, err) < 0 || eif_emitter_end (&w->e, err) < 0)
        goto fail;
      if (enclaver_pcr_of_cert_pem (w->cert_pem, w->cert_len, meas.pcr8, err) < 0)
        goto fail;
      meas.has_pcr8 = 1;
    }
  if (eif_emitter_finish (&w->e, ENCLAVER_EIF_VERSION, w->arch == ENCLAVER_EIF_ARCH_AARCH64 ? 1 : 0, w->mem,
                          w->cpus, err) < 0)
    goto fail;
  w->finished = 1;
  if (m)
    *m = meas;
  return 0;
fail:
  w->failed = 1;
  return enclaver_error_wrap (err, "write %s", w->e.final_path ? w->e.final_path : "EIF");
}

void
enclaver_eif_writer_free (enclaver_eif_writer_t *w)
{
  if (w == NULL)
    return;
  eif_emitter_abort (&w->e);
  eif_measure_cleanup (&w->m);
  if (w->key_pem)
    {
      explicit_bzero (w->key_pem, w->key_len);
      free (w->key_pem);
    }
  free (w->cert_pem);
  free (w);
}

/* ------------------------------------------------------------------------- */
/* add / replace the signature of an existing EIF */

int
enclaver_eif_sign (const char *in, const char *out, const char *cert_path, const char *key_path,
                   struct enclaver_eif_measurements *m, enclaver_error_t *err)
{
  struct enclaver_eif_info info;
  struct eif_emitter e;
  struct eif_measure meas;
  struct enclaver_eif_measurements check;
  cleanup_close int fd = -1;
  cleanup_free char *cert = NULL, *key = NULL;
  cleanup_free uint8_t *sig = NULL;
  size_t cert_len = 0, key_len = 0, sig_len = 0;
  int replaced = 0, ret = -1, emitting = 0, measuring = 0;

  memset (&info, 0, sizeof info);
  memset (&e, 0, sizeof e);
  e.fd = -1;
  if (out == NULL)
    out = in;
  fd = enclaver_open_file (in, 0, err);
  if (fd < 0)
    return -1;
  if (enclaver_eif_read_fd (fd, in, ENCLAVER_EIF_READ_NO_SIGNATURE_CHECK, &info, err) < 0)
    return -1;
  if (!info.crc_ok)
    {
      enclaver_make_error (err, EINVAL, "%s: CRC mismatch (header at offset 544 says 0x%08x, computed 0x%08x); "
                                        "refusing to sign a damaged image",
                           in, info.crc_stored, info.crc_computed);
      goto out;
    }
  if (info.version < 3)
    {
      enclaver_make_error (err, EINVAL, "%s: EIF version %u has no signature section (version 3 or later needed)",
                           in, info.version);
      goto out;
    }
  if (enclaver_read_file (cert_path, ENCLAVER_EIF_SIGNATURE_MAX_SIZE, &cert, &cert_len, err) < 0)
    {
      enclaver_error_wrap (err, "signing certificate");
      goto out;
    }
  if (enclaver_read_file (key_path, 1024 * 1024, &key, &key_len, err) < 0)
    {
      enclaver_error_wrap (err, "private key");
      goto out;
    }
  sig = enclaver_eif_make_signature (cert, cert_len, key, key_len, info.measurements.pcr0, &sig_len, err);
  explicit_bzero (key, key_len);
  if (sig == NULL)
    {
      enclaver_error_wrap (err, "%s / %s", cert_path, key_path);
      goto out;
    }

  if (eif_measure_init (&meas, err) < 0)
    goto out;
  measuring = 1;
  if (eif_emitter_open (&e, out, err) < 0)
    goto out;
  emitting = 1;
  e.measure = &meas;
  for (unsigned i = 0; i < info.num_sections; i++)
    {
      const struct enclaver_eif_section_info *s = &info.sections[i];
      if (eif_emitter_begin (&e, s->type, err) < 0)
        goto out;
      if (s->type == ENCLAVER_EIF_SECTION_SIGNATURE)
        {
          if (eif_emitter_write (&e, sig, sig_len, err) < 0)
            goto out;
          replaced = 1;
        }
      else if (emit_from_fd (&e, fd, in, s->offset + ENCLAVER_EIF_SECTION_HEADER_SIZE, s->size, err) < 0)
        goto out;
      if (eif_emitter_end (&e, err) < 0)
        goto out;
    }
  if (!replaced)
    {
      if (eif_emitter_begin (&e, ENCLAVER_EIF_SECTION_SIGNATURE, err) < 0
          || eif_emitter_write (&e, sig, sig_len, err) < 0 || eif_emitter_end (&e, err) < 0)
        goto out;
    }
  memset (&check, 0, sizeof check);
  measuring = 0;
  if (eif_measure_final (&meas, &check, err) < 0)
    goto out;
  if (memcmp (check.pcr0, info.measurements.pcr0, ENCLAVER_PCR_SIZE) != 0
      || memcmp (check.pcr1, info.measurements.pcr1, ENCLAVER_PCR_SIZE) != 0
      || memcmp (check.pcr2, info.measurements.pcr2, ENCLAVER_PCR_SIZE) != 0)
    {
      enclaver_make_error (err, EIO, "%s changed while it was being signed", in);
      goto out;
    }
  if (enclaver_pcr_of_cert_pem (cert, cert_len, check.pcr8, err) < 0)
    goto out;
  check.has_pcr8 = 1;
  if (eif_emitter_finish (&e, info.version, info.flags, info.default_mem, info.default_cpus, err) < 0)
    goto out;
  if (m)
    *m = check;
  ret = 0;
out:
  if (emitting) /* first: its workers may still be hashing into meas */
    eif_emitter_abort (&e);
  if (measuring)
    eif_measure_cleanup (&meas);
  enclaver_eif_info_clear (&info);
  return ret;
}
