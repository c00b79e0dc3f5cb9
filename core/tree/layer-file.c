/* enclaver: apply one layer blob file to the in-memory tree: read it, inflate it
 * (ISA-L for gzip when built with it, else libarchive's filters), hash the blob
 * (digest) and the tar stream (DiffID) on digest workers, and hand the tar to
 * enclaver_tree_apply_archive (core/tree/apply.c).  Nothing is written to the host. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include <enclaver/log.h>
#include <enclaver/tree.h>
#include "digest-worker.h"
#include "tree-internal.h"


/* Read and inflate in pieces this large: large enough that handing each piece to a
 * hashing thread costs little. */
#define LAYER_IO_BUF (256u * 1024)
/* Pieces in flight: compressed input (read, waiting for the blob digest) and
 * decompressed output (inflated, waiting for the DiffID and the tar reader). */
#define LAYER_IN_SLOTS 8
#define LAYER_OUT_SLOTS 8

/* A layer is a pipeline of four threads joined by bounded rings:
 *   layer-inflate   reads the blob into the input ring and inflates it into the
 *                   output ring (ISA-L, or libarchive's filters);
 *   layer-digest    SHA-256 of every input piece (the blob digest);
 *   layer-diffid    SHA-256 of every output piece (the DiffID);
 *   the caller      parses the tar from the output ring and applies it to the tree.
 * A piece of input is reused once the blob digest is done with it (ISA-L and
 * libarchive hold at most the last one); a piece of output once the DiffID is done
 * with it and the tar reader has asked for the next one (libarchive keeps a buffer
 * until its next read callback).  At most LAYER_IN_SLOTS + LAYER_OUT_SLOTS pieces
 * (4 MiB) are in flight.  Without threads (pthread_create failing) every step runs
 * on the caller in turn. */

#ifdef HAVE_ISAL
/* gzip blobs inflated by ISA-L instead of libarchive's gzip filter (zlib). */
enum
{
  GZ_HEADER, /* before a member's header (or the end of the gzip data) */
  GZ_BODY,   /* inside a member's deflate data or trailer */
  GZ_DONE,
};

struct gz_reader
{
  struct inflate_state st;
  int phase;
  uint64_t member;     /* 1-based number of the current member */
  uint64_t member_off; /* file offset of its header */
  uint64_t in_off;     /* bytes read from the file so far */
  int eof;             /* read() returned 0 */
  char err[256];
};
#endif

struct layer_io
{
  int fd;
  EVP_MD_CTX *blob_md;
  EVP_MD_CTX *diff_md;
  struct archive *raw; /* libarchive's decompressor; NULL when gz is used */
#ifdef HAVE_ISAL
  struct gz_reader *gz;
#endif
  unsigned char in[LAYER_IN_SLOTS][LAYER_IO_BUF];
  uint64_t in_ticket[LAYER_IN_SLOTS]; /* blob digest job of each input piece */
  unsigned in_i;
  unsigned char out[LAYER_OUT_SLOTS][LAYER_IO_BUF];
  uint64_t out_ticket[LAYER_OUT_SLOTS]; /* DiffID job of each output piece */
  la_ssize_t out_len[LAYER_OUT_SLOTS];  /* > 0 data, 0 the end, -1 an error */
  uint64_t stream_bytes;
  uint64_t stream_limit;
  int over_limit;
  int rest_errno; /* reading the blob after the compressed stream failed */
  char err[512];  /* why the stream failed (the last piece has length -1) */
  struct digest_worker hb; /* blob digest */
  struct digest_worker hd; /* DiffID */
  /* the inflate thread and the output ring it shares with the tar reader */
  pthread_t th;
  int th_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t produced; /* pieces filled, the last one included */
  uint64_t released; /* pieces the tar reader is done with */
  int quit;
  /* the tar reader's own state */
  uint64_t taken;
  int holding, at_end;
  la_ssize_t end_len;
};

/* Read the next piece of the blob into the input ring, posting it to the blob digest.
 * Returns the count, 0 at the end, -1 with errno on failure. */
static ssize_t
read_input (struct layer_io *io, unsigned char **out)
{
  unsigned k = io->in_i;
  unsigned char *b = io->in[k];
  digest_worker_wait_for (&io->hb, io->in_ticket[k]);
  io->in_ticket[k] = 0;
  for (;;)
    {
      ssize_t n = read (io->fd, b, sizeof io->in[0]);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n;
      if (io->blob_md)
        io->in_ticket[k] = digest_worker_post (&io->hb, io->blob_md, b, (size_t) n);
      io->in_i = (k + 1) % LAYER_IN_SLOTS;
      *out = b;
      return n;
    }
}

static la_ssize_t
file_read_cb (struct archive *a, void *ud, const void **buf)
{
  unsigned char *b = NULL;
  ssize_t n = read_input (ud, &b);
  if (n < 0)
    {
      archive_set_error (a, errno, "read error");
      return -1;
    }
  *buf = b;
  return n;
}

#ifdef HAVE_ISAL
/* ISA-L inflate of a gzip blob.  Members, the end of the gzip data and errors follow
 * libarchive's gzip filter (3.6/3.7) so that both paths produce the same stream:
 *  - a member's header is accepted on the rules of libarchive's peek_at_header: magic
 *    1f 8b, method 8, no reserved flag bit, then the optional extra field, name,
 *    comment and header CRC (present, not verified);
 *  - after a member, data that is not such a header, or a header cut short by the end
 *    of the file, ends the gzip data: those bytes are only hashed (blob digest);
 *  - a header with an extra field but no name, comment or header CRC that the file
 *    cuts short is a truncation error (libarchive takes it and then finds no data).
 * The header is parsed here rather than by ISA-L's ISAL_GZIP mode, which accepts
 * reserved flag bits and checks the header CRC, so it would disagree with libarchive on
 * what starts a member.  ISA-L then inflates the deflate data (ISAL_GZIP_NO_HDR_VER)
 * and checks the 8-byte trailer: CRC32 of the member's data and ISIZE, its length mod
 * 2^32.  libarchive does not look at the trailer: a bad CRC32 or ISIZE fails only here. */

#define GZ_FHCRC 0x02u
#define GZ_FEXTRA 0x04u
#define GZ_FNAME 0x08u
#define GZ_FCOMMENT 0x10u

enum
{
  GZH_FIXED, /* the 10 fixed bytes, and the 2 of XLEN when there is an extra field */
  GZH_EXTRA,
  GZH_NAME,
  GZH_COMMENT,
  GZH_HCRC,
  GZH_END,
};

/* The first 4 bytes of a member as libarchive's gzip filter accepts them: magic, method
 * 8 (deflate), no reserved flag bit. */
static int
gz_magic_ok (const unsigned char *h)
{
  return h[0] == 0x1f && h[1] == 0x8b && h[2] == 8 && (h[3] & 0xe0) == 0;
}

static int
gz_next_step (unsigned flags, int step)
{
  static const unsigned flag_of[] = { 0, GZ_FEXTRA, GZ_FNAME, GZ_FCOMMENT, GZ_FHCRC };
  for (step++; step < GZH_END; step++)
    if (flags & flag_of[step])
      return step;
  return GZH_END;
}

/* Read the next input buffer; every byte read goes to the blob digest, as in
 * file_read_cb.  Called only once ISA-L has taken all of the previous one, so it
 * holds no pointer into the piece of the ring refilled here. */
static ssize_t
gz_fill (struct layer_io *io)
{
  struct gz_reader *g = io->gz;
  unsigned char *b = NULL;
  ssize_t n;
  if (g->eof)
    return 0;
  n = read_input (io, &b);
  if (n < 0)
    {
      snprintf (g->err, sizeof g->err, "read error at offset %llu: %s", (unsigned long long) g->in_off,
                strerror (errno));
      return -1;
    }
  if (n == 0)
    {
      g->eof = 1;
      return 0;
    }
  g->in_off += (uint64_t) n;
  g->st.next_in = b;
  g->st.avail_in = (uint32_t) n;
  return n;
}

/* Take the header of the next member.  1: a member starts; 0: the gzip data ended
 * (what follows is not a member); -1: error in g->err. */
static int
gz_header (struct layer_io *io)
{
  struct gz_reader *g = io->gz;
  unsigned char fixed[12];
  uint32_t have = 0, need = 10, skip = 0;
  unsigned flags = 0;
  int step = GZH_FIXED;
  g->member_off = g->in_off - g->st.avail_in;
  for (;;)
    {
      while ((step == GZH_EXTRA || step == GZH_HCRC) && skip == 0)
        {
          step = gz_next_step (flags, step);
          if (step == GZH_HCRC)
            skip = 2;
        }
      if (step == GZH_END)
        return 1;
      if (g->st.avail_in == 0)
        {
          ssize_t n = gz_fill (io);
          if (n < 0)
            return -1;
          if (n == 0)
            {
              if (step == GZH_EXTRA && !(flags & (GZ_FNAME | GZ_FCOMMENT | GZ_FHCRC)))
                {
                  snprintf (g->err, sizeof g->err,
                            "truncated gzip input: the file ends inside the extra field of member %llu (offset %llu)",
                            (unsigned long long) g->member, (unsigned long long) g->member_off);
                  return -1;
                }
              if (g->member == 1)
                {
                  snprintf (g->err, sizeof g->err, "truncated gzip input: the file ends inside the gzip header");
                  return -1;
                }
              return 0;
            }
        }
      const unsigned char *p = g->st.next_in;
      uint32_t avail = g->st.avail_in, used;
      switch (step)
        {
        case GZH_FIXED:
          used = need - have < avail ? need - have : avail;
          memcpy (fixed + have, p, used);
          have += used;
          break;
        case GZH_EXTRA:
        case GZH_HCRC:
          used = skip < avail ? skip : avail;
          skip -= used;
          break;
        default: /* a zero-terminated name or comment */
          {
            const unsigned char *z = memchr (p, 0, avail);
            used = z ? (uint32_t) (z - p) + 1 : avail;
            if (z)
              {
                step = gz_next_step (flags, step);
                if (step == GZH_HCRC)
                  skip = 2;
              }
            break;
          }
        }
      g->st.next_in += used;
      g->st.avail_in -= used;
      if (step == GZH_FIXED && have == need)
        {
          if (need == 10)
            {
              if (!gz_magic_ok (fixed))
                {
                  if (g->member > 1)
                    return 0;
                  snprintf (g->err, sizeof g->err, "not a gzip header at offset 0");
                  return -1;
                }
              flags = fixed[3];
              if (flags & GZ_FEXTRA)
                {
                  need = 12;
                  continue;
                }
            }
          else
            skip = (uint32_t) fixed[10] | (uint32_t) fixed[11] << 8;
          step = gz_next_step (flags, GZH_FIXED);
          if (step == GZH_HCRC)
            skip = 2;
        }
    }
}

static const char *
gz_strerror (int r)
{
  switch (r)
    {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate code";
    case ISAL_INVALID_LOOKBACK:
      return "back-reference before the start of the data";
    default:
      return "deflate data rejected";
    }
}

/* Inflate up to cap bytes into out: the count (0 at the end of the gzip data), or -1
 * with the reason in g->err. */
static la_ssize_t
gz_read (struct layer_io *io, unsigned char *out, size_t cap)
{
  struct gz_reader *g = io->gz;
  size_t got = 0;
  int idle = 0;
  if (cap > UINT32_MAX)
    cap = UINT32_MAX;
  while (got < cap && g->phase != GZ_DONE)
    {
      if (g->phase == GZ_HEADER)
        {
          int r = gz_header (io);
          if (r < 0)
            return -1;
          if (r == 0)
            {
              g->phase = GZ_DONE;
              break;
            }
          isal_inflate_reset (&g->st); /* keeps next_in/avail_in */
          g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
          g->phase = GZ_BODY;
          continue;
        }
      if (g->st.avail_in == 0 && gz_fill (io) < 0)
        return -1;
      /* at the end of the file ISA-L still gets called: it may hold decoded data or
       * the trailer's bytes; only when it makes no progress is the member truncated */
      uint32_t in_before = g->st.avail_in;
      int state_before = (int) g->st.block_state;
      g->st.next_out = out + got;
      g->st.avail_out = (uint32_t) (cap - got);
      int r = isal_inflate (&g->st);
      size_t produced = (size_t) (g->st.next_out - (out + got));
      got += produced;
      if (r == ISAL_INCORRECT_CHECKSUM)
        {
          snprintf (g->err, sizeof g->err,
                    "gzip member %llu (offset %llu): the trailer does not match the data (its CRC32 is %08x and its "
                    "length mod 2^32 is %u)",
                    (unsigned long long) g->member, (unsigned long long) g->member_off, (unsigned) g->st.crc,
                    (unsigned) g->st.total_out);
          return -1;
        }
      if (r < 0)
        {
          snprintf (g->err, sizeof g->err, "gzip member %llu (offset %llu): %s (ISA-L error %d) near offset %llu",
                    (unsigned long long) g->member, (unsigned long long) g->member_off, gz_strerror (r), r,
                    (unsigned long long) (g->in_off - g->st.avail_in));
          return -1;
        }
      if (g->st.block_state == ISAL_BLOCK_FINISH)
        {
          g->member++;
          g->phase = GZ_HEADER;
          idle = 0;
          continue;
        }
      /* never spin: ISA-L takes input or gives output on every call */
      if (produced == 0 && g->st.avail_in == in_before && (int) g->st.block_state == state_before)
        {
          idle++;
          if (g->st.avail_in == 0 && g->eof && idle >= 2)
            {
              snprintf (g->err, sizeof g->err,
                        "truncated gzip input: the file (%llu bytes) ends inside member %llu, which starts at offset %llu",
                        (unsigned long long) g->in_off, (unsigned long long) g->member,
                        (unsigned long long) g->member_off);
              return -1;
            }
          if (idle > 8)
            {
              snprintf (g->err, sizeof g->err, "gzip member %llu (offset %llu): the inflater makes no progress",
                        (unsigned long long) g->member, (unsigned long long) g->member_off);
              return -1;
            }
        }
      else
        idle = 0;
    }
  return (la_ssize_t) got;
}

/* ISA-L inflates the blob unless ENCLAVER_INFLATE=zlib, or it does not start with a
 * gzip header that libarchive would take (anything else goes to libarchive, which
 * reads zstd and plain tars and rejects the rest as before). */
static int
gz_wanted (int fd)
{
  const char *e = getenv ("ENCLAVER_INFLATE");
  if (e && strcmp (e, "zlib") == 0)
    return 0;
  if (e && *e && strcmp (e, "isal") != 0)
    {
      static int warned;
      if (!__atomic_exchange_n (&warned, 1, __ATOMIC_RELAXED))
        enclaver_log_warning ("ENCLAVER_INFLATE=%s is neither 'zlib' nor 'isal'; using ISA-L for gzip layers", e);
    }
  unsigned char h[10];
  ssize_t n;
  do
    n = pread (fd, h, sizeof h, 0);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t) sizeof h && gz_magic_ok (h);
}
#endif

/* The decompressed stream: ISA-L's or libarchive's. */
static la_ssize_t
stream_read (struct layer_io *io, void *buf, size_t cap)
{
#ifdef HAVE_ISAL
  if (io->gz)
    return gz_read (io, buf, cap);
#endif
  return archive_read_data (io->raw, buf, cap);
}

/* libarchive's message about the decompressor, or `fallback` when it has none. */
static const char *
raw_error (struct layer_io *io, const char *fallback)
{
  const char *m = archive_error_string (io->raw);
  return m ? m : fallback;
}

static const char *
stream_error (struct layer_io *io)
{
#ifdef HAVE_ISAL
  if (io->gz)
    return io->gz->err[0] ? io->gz->err : "gzip error";
#endif
  return raw_error (io, "error");
}

/* Fill the next piece of the output ring (the caller made sure it is free): inflate
 * into it and post it to the DiffID.  At the end of the stream, read the rest of the
 * blob for its digest (bytes after the compressed stream count too).  Returns 1 when
 * this was the last piece (the end or an error), else 0. */
static int
produce_one (struct layer_io *io)
{
  unsigned k = (unsigned) (io->produced % LAYER_OUT_SLOTS);
  digest_worker_wait_for (&io->hd, io->out_ticket[k]);
  io->out_ticket[k] = 0;
  la_ssize_t n = stream_read (io, io->out[k], sizeof io->out[0]);
  int last = n <= 0;
  if (n < 0)
    snprintf (io->err, sizeof io->err, "%s", stream_error (io));
  else
    {
      io->stream_bytes += (uint64_t) n;
      if (io->stream_bytes > io->stream_limit)
        {
          io->over_limit = 1;
          n = -1;
          last = 1;
        }
      else if (n > 0)
        io->out_ticket[k] = digest_worker_post (&io->hd, io->diff_md, io->out[k], (size_t) n);
    }
  if (n == 0 && io->blob_md)
    {
      unsigned char *rest;
      ssize_t r;
      while ((r = read_input (io, &rest)) > 0)
        ;
      if (r < 0)
        io->rest_errno = errno;
    }
  pthread_mutex_lock (&io->mu);
  io->out_len[k] = n;
  io->produced++;
  pthread_cond_broadcast (&io->cv);
  pthread_mutex_unlock (&io->mu);
  return last;
}

static void *
inflate_main (void *arg)
{
  struct layer_io *io = arg;
  for (;;)
    {
      pthread_mutex_lock (&io->mu);
      while (!io->quit && io->produced >= io->released + LAYER_OUT_SLOTS)
        pthread_cond_wait (&io->cv, &io->mu);
      int quit = io->quit;
      pthread_mutex_unlock (&io->mu);
      if (quit || produce_one (io))
        return NULL;
    }
}

static void
inflate_start (struct layer_io *io)
{
  io->th_started = pthread_create (&io->th, NULL, inflate_main, io) == 0;
  if (io->th_started)
    pthread_setname_np (io->th, "layer-inflate");
}

/* Stop the inflate thread (at once if it is still running: an error elsewhere). */
static void
inflate_stop (struct layer_io *io)
{
  if (!io->th_started)
    return;
  pthread_mutex_lock (&io->mu);
  io->quit = 1;
  pthread_cond_broadcast (&io->cv);
  pthread_mutex_unlock (&io->mu);
  pthread_join (io->th, NULL);
  io->th_started = 0;
}

/* The tar reader's next piece of the decompressed stream: its length (0 at the end,
 * -1 on an error: io->over_limit or io->err say which), the piece in *buf.  The piece
 * returned before is given back to the ring. */
static la_ssize_t
take_piece (struct layer_io *io, unsigned char **buf)
{
  if (io->at_end)
    return io->end_len;
  pthread_mutex_lock (&io->mu);
  if (io->holding)
    {
      io->released++;
      io->holding = 0;
      pthread_cond_broadcast (&io->cv);
    }
  if (!io->th_started && io->produced == io->taken)
    {
      pthread_mutex_unlock (&io->mu);
      produce_one (io);
      pthread_mutex_lock (&io->mu);
    }
  while (io->produced == io->taken)
    pthread_cond_wait (&io->cv, &io->mu);
  unsigned k = (unsigned) (io->taken % LAYER_OUT_SLOTS);
  la_ssize_t n = io->out_len[k];
  io->taken++;
  pthread_mutex_unlock (&io->mu);
  if (n <= 0)
    {
      io->at_end = 1;
      io->end_len = n;
      return n;
    }
  io->holding = 1;
  *buf = io->out[k];
  return n;
}

static la_ssize_t
tar_read_cb (struct archive *a, void *ud, const void **buf)
{
  struct layer_io *io = ud;
  unsigned char *b = NULL;
  la_ssize_t n = take_piece (io, &b);
  if (n < 0)
    {
      if (io->over_limit)
        archive_set_error (a, EFBIG, "uncompressed stream exceeds the limit");
      else
        archive_set_error (a, EIO, "decompression failed: %s", io->err);
      return -1;
    }
  *buf = b;
  return n;
}

/* libarchive as the decompressor (zstd, plain tar, and gzip without ISA-L or with
 * ENCLAVER_INFLATE=zlib). */
static int
open_raw (struct layer_io *io, const char *name, const char *path, enclaver_error_t *err)
{
  io->raw = archive_read_new ();
  if (io->raw == NULL)
    xoom ();
  /* gzip and zstd must be built in: ARCHIVE_WARN means "would run an external program" */
  if (archive_read_support_filter_gzip (io->raw) != ARCHIVE_OK
      || archive_read_support_filter_zstd (io->raw) != ARCHIVE_OK)
    return enclaver_make_error (err, ENOTSUP, "layer %s: this libarchive lacks built-in gzip/zstd support", name);
  archive_read_support_format_raw (io->raw);
  if (archive_read_open (io->raw, io, NULL, file_read_cb, NULL) != ARCHIVE_OK)
    return enclaver_make_error (err, EINVAL, "layer %s: %s: %s", name, path, raw_error (io, "cannot open"));
  struct archive_entry *re;
  int r = archive_read_next_header (io->raw, &re);
  if (r != ARCHIVE_OK)
    return enclaver_make_error (err, EINVAL, "layer %s: %s: not a tar, tar+gzip or tar+zstd blob (%s)", name, path,
                                raw_error (io, "empty"));
  int fc = archive_filter_code (io->raw, 0);
  if (fc != ARCHIVE_FILTER_NONE && fc != ARCHIVE_FILTER_GZIP && fc != ARCHIVE_FILTER_ZSTD)
    return enclaver_make_error (err, EINVAL, "layer %s: unsupported compression %s", name,
                                archive_filter_name (io->raw, 0));
  return 0;
}

static void
hex_digest (EVP_MD_CTX *md, char *out)
{
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestFinal_ex (md, d, &dl);
  strcpy (out, "sha256:");
  for (unsigned i = 0; i < dl; i++)
    sprintf (out + 7 + 2 * i, "%02x", d[i]);
}

int
enclaver_tree_apply_layer_file (enclaver_tree_t *t, const char *path, const char *digest, const char *diff_id,
                                const struct enclaver_apply_options *opts, char *diff_id_out, enclaver_error_t *err)
{
  struct enclaver_apply_options defaults;
  if (opts == NULL)
    {
      enclaver_apply_options_init (&defaults);
      opts = &defaults;
    }
  const char *name = digest ? digest : path;
  struct layer_io *io = xmalloc0 (sizeof *io);
  struct archive *tar = NULL;
  int ret = -1;
  io->fd = enclaver_open_file (path, 0, err);
  if (io->fd < 0)
    {
      enclaver_error_wrap (err, "layer %s", name);
      free (io);
      return -1;
    }
  io->diff_md = EVP_MD_CTX_new ();
  if (io->diff_md == NULL || !EVP_DigestInit_ex (io->diff_md, EVP_sha256 (), NULL))
    xoom ();
  if (digest)
    {
      io->blob_md = EVP_MD_CTX_new ();
      if (io->blob_md == NULL || !EVP_DigestInit_ex (io->blob_md, EVP_sha256 (), NULL))
        xoom ();
    }
  digest_worker_start (&io->hb, "layer-digest");
  digest_worker_start (&io->hd, "layer-diffid");
  pthread_mutex_init (&io->mu, NULL);
  pthread_cond_init (&io->cv, NULL);
  uint64_t budget_left = opts->max_bytes > t->applied_bytes ? opts->max_bytes - t->applied_bytes : 0;
  io->stream_limit = budget_left + (1ull << 30);

#ifdef HAVE_ISAL
  if (gz_wanted (io->fd))
    {
      io->gz = xmalloc0 (sizeof *io->gz);
      isal_inflate_init (&io->gz->st);
      io->gz->member = 1;
    }
  else
#endif
  if (open_raw (io, name, path, err) < 0)
    goto out;
  inflate_start (io);

  tar = archive_read_new ();
  if (tar == NULL)
    xoom ();
  archive_read_support_format_tar (tar);
  if (archive_read_open (tar, io, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
    {
      enclaver_make_error (err, EINVAL, "layer %s: not a tar stream: %s", name,
                           archive_error_string (tar) ? archive_error_string (tar) : "unknown");
      goto out;
    }
  if (enclaver_tree_apply_archive (t, tar, name, opts, err) < 0)
    {
      if (io->over_limit)
        {
          enclaver_error_release (err);
          enclaver_make_error (err, EFBIG, "layer %s: uncompressed stream larger than %llu bytes (max-bytes + 1 GiB)",
                               name, (unsigned long long) io->stream_limit);
        }
      goto out;
    }
  /* everything after the tar end marker is hashed too (the inflate thread posts the
   * whole stream to the DiffID); take it until the end */
  for (;;)
    {
      unsigned char *b;
      la_ssize_t n = take_piece (io, &b);
      if (n == 0)
        break;
      if (n < 0 && io->over_limit)
        {
          enclaver_make_error (err, EFBIG, "layer %s: uncompressed stream larger than %llu bytes", name,
                               (unsigned long long) io->stream_limit);
          goto out;
        }
      if (n < 0)
        {
          enclaver_make_error (err, EIO, "layer %s: decompression failed after the tar end: %s", name, io->err);
          goto out;
        }
    }
  inflate_stop (io);
  if (digest_worker_wait (&io->hd) < 0 || digest_worker_wait (&io->hb) < 0)
    {
      enclaver_make_error (err, EIO, "layer %s: SHA-256 update failed", name);
      goto out;
    }
  char got[80];
  hex_digest (io->diff_md, got);
  if (diff_id_out)
    strcpy (diff_id_out, got);
  if (diff_id && strcmp (diff_id, got) != 0)
    {
      enclaver_make_error (err, EINVAL, "layer %s: diff_id mismatch: the config says %s, the layer's tar is %s", name,
                           diff_id, got);
      goto out;
    }
  if (digest)
    {
      if (io->rest_errno)
        {
          enclaver_make_errno (err, io->rest_errno, "layer %s: read %s", name, path);
          goto out;
        }
      char blob[80];
      hex_digest (io->blob_md, blob);
      if (strcmp (blob, digest) != 0)
        {
          enclaver_make_error (err, EINVAL, "layer %s: digest mismatch: blob %s hashes to %s", name, path, blob);
          goto out;
        }
    }
  t->stream_bytes += io->stream_bytes;
  ret = 0;
out:
  if (ret < 0)
    {
      enclaver_error_set_field (err, "layer", name);
      enclaver_error_set_field (err, "digest", digest);
    }
  inflate_stop (io);
  if (tar)
    archive_read_free (tar);
  if (io->raw)
    archive_read_free (io->raw);
#ifdef HAVE_ISAL
  free (io->gz);
#endif
  digest_worker_stop (&io->hb);
  digest_worker_stop (&io->hd);
  pthread_cond_destroy (&io->cv);
  pthread_mutex_destroy (&io->mu);
  EVP_MD_CTX_free (io->diff_md);
  if (io->blob_md)
    EVP_MD_CTX_free (io->blob_md);
  close (io->fd);
  free (io);
  return ret;
}
