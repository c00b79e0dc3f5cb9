/* enclaver: EIF internals shared by the writer, the reader, signing and the CLI. */
#ifndef ENCLAVER_EIF_INTERNAL_H
#define ENCLAVER_EIF_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <enclaver/eif.h>
#include "util.h"
#include "common/cbor.h"

/* Streaming buffer size for copies and hashing. */
#define EIF_IO_CHUNK (256u * 1024)

/* ---- big-endian helpers ---- */
static inline void
eif_put_be16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}
static inline void
eif_put_be32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (24 - 8 * i));
}
static inline void
eif_put_be64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (56 - 8 * i));
}
static inline uint16_t
eif_get_be16 (const uint8_t *p)
{
  return (uint16_t) ((p[0] << 8) | p[1]);
}
static inline uint32_t
eif_get_be32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}
static inline uint64_t
eif_get_be64 (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Header field offsets. */
#define EIF_OFF_MAGIC 0
#define EIF_OFF_VERSION 4
#define EIF_OFF_FLAGS 6
#define EIF_OFF_DEFAULT_MEM 8
#define EIF_OFF_DEFAULT_CPUS 16
#define EIF_OFF_RESERVED 24
#define EIF_OFF_NUM_SECTIONS 26
#define EIF_OFF_SECTION_OFFSETS 28
#define EIF_OFF_SECTION_SIZES 284
#define EIF_OFF_UNUSED 540
#define EIF_OFF_CRC 544

/* CRC-32/IEEE (zlib crc32) of a concatenation: crc(A||B) from crc(A), crc(B), |B|. */
uint32_t eif_crc32_combine (uint32_t crc_a, uint32_t crc_b, uint64_t len_b) ENCLAVER_INTERNAL;
uint32_t eif_crc32 (uint32_t crc, const void *data, size_t len) ENCLAVER_INTERNAL;

/* ---- PCR0/1/2 accumulation, shared by writer, reader and signer ----
 * kernel and cmdline feed PCR0+PCR1; the first ramdisk PCR0+PCR1; later ramdisks
 * PCR0+PCR2; metadata, signature and anything else feed nothing. */
struct digest_worker;
struct eif_measure
{
  enclaver_pcr_t pcr[3];
  int ramdisks;
  int cur_mask; /* bit i: current section feeds pcr[i] */
  /* Every section feeds two PCRs (0 and 1, or 0 and 2): in eif_measure_update (the
   * reader) the second is hashed on a helper thread while the caller hashes PCR0
   * (a digest worker, started on first use).  The writer hashes on its own workers. */
  struct digest_worker *hasher;
};
int eif_measure_init (struct eif_measure *m, enclaver_error_t *err) ENCLAVER_INTERNAL;
void eif_measure_section (struct eif_measure *m, unsigned type) ENCLAVER_INTERNAL;
int eif_measure_update (struct eif_measure *m, const void *data, size_t len,
                        enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_measure_final (struct eif_measure *m, struct enclaver_eif_measurements *out,
                       enclaver_error_t *err) ENCLAVER_INTERNAL;
void eif_measure_cleanup (struct eif_measure *m) ENCLAVER_INTERNAL;

/* ---- CBOR: the one codec of common/cbor.h (encoder, cursor, limits), with the
 * decoding functions wrapped to report through enclaver_error_t (cbor.c) ---- */
int cbor_get_head (struct cbor_cur *c, unsigned *major, uint64_t *val, enclaver_error_t *err) ENCLAVER_INTERNAL;
int cbor_peek_major (const struct cbor_cur *c) ENCLAVER_INTERNAL;
int cbor_get_container (struct cbor_cur *c, unsigned major, uint64_t *n, enclaver_error_t *err) ENCLAVER_INTERNAL;
int cbor_get_bstr (struct cbor_cur *c, const uint8_t **data, size_t *len, enclaver_error_t *err) ENCLAVER_INTERNAL;
int cbor_get_tstr (struct cbor_cur *c, const char **s, size_t *len, enclaver_error_t *err) ENCLAVER_INTERNAL;
int cbor_get_int (struct cbor_cur *c, int64_t *v, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Array of uints 0..255 -> malloc'd bytes (allocation bounded by the input size). */
int cbor_get_u8_array (struct cbor_cur *c, uint8_t **out, size_t *len, enclaver_error_t *err) ENCLAVER_INTERNAL;
int cbor_skip (struct cbor_cur *c, int depth, enclaver_error_t *err) ENCLAVER_INTERNAL;
/* Set *err to "<what>: offset N: message" at the cursor position; returns -1. */
int cbor_error (struct cbor_cur *c, enclaver_error_t *err, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4))) ENCLAVER_INTERNAL;

/* ---- signatures (sign.c) ---- */
/* The CBOR PcrInfo {register_index: 0, register_value: [pcr0 bytes]} that is signed. */
void eif_pcrinfo_payload (struct cbor_buf *b, const uint8_t pcr0[ENCLAVER_PCR_SIZE]) ENCLAVER_INTERNAL;

struct eif_signature_result
{
  uint8_t *cert_pem; /* NUL-terminated */
  size_t cert_pem_len;
  int has_pcr8;
  uint8_t pcr8[ENCLAVER_PCR_SIZE];
  int cose_alg;
  int ok;
  char *error; /* when !ok */
};
/* Decode and (unless no_verify) verify a signature section (data at file offset base). */
void eif_signature_check (const uint8_t *data, size_t len, uint64_t base,
                          const uint8_t pcr0[ENCLAVER_PCR_SIZE], int no_verify, int ignore_time,
                          struct eif_signature_result *res) ENCLAVER_INTERNAL;
void eif_signature_result_clear (struct eif_signature_result *res) ENCLAVER_INTERNAL;

/* ---- emitter: contiguous sections into a temp file, CRC on the way (writer.c) ----
 * Section data is copied into a ring of buffers; two worker threads take each buffer in
 * turn: one hashes PCR0 and computes the CRC, the other writes the buffer to the file
 * and hashes the section's other PCR (1 or 2).  eif_emitter_end() waits for both. */
struct eif_pipe;
struct eif_emitter
{
  int fd;
  char *tmp_path;
  char *final_path;
  uint64_t off; /* end of the data written so far */
  uint32_t crc_sections;
  uint64_t crc_len;
  uint16_t n;
  uint16_t types[ENCLAVER_EIF_MAX_SECTIONS];
  uint64_t offsets[ENCLAVER_EIF_MAX_SECTIONS];
  uint64_t sizes[ENCLAVER_EIF_MAX_SECTIONS];
  /* current section */
  int in_section;
  uint64_t cur_hdr_off;
  uint64_t cur_size;
  struct eif_measure *measure; /* optional */
  struct eif_pipe *pipe;       /* created by the first write */
  int no_fsync;                /* finish: the caller fsyncs (enclaver_eif_writer_set_fsync) */
};
int eif_emitter_open (struct eif_emitter *e, const char *path, enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_emitter_begin (struct eif_emitter *e, uint16_t type, enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_emitter_write (struct eif_emitter *e, const void *data, size_t len, enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_emitter_write_file (struct eif_emitter *e, int fd, uint64_t off, uint64_t len,
                            enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_emitter_end (struct eif_emitter *e, enclaver_error_t *err) ENCLAVER_INTERNAL;
int eif_emitter_finish (struct eif_emitter *e, uint16_t version, uint16_t flags, uint64_t mem,
                        uint64_t cpus, enclaver_error_t *err) ENCLAVER_INTERNAL;
void eif_emitter_abort (struct eif_emitter *e) ENCLAVER_INTERNAL;

#endif
