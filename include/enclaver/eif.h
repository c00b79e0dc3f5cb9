/* enclaver: AWS Nitro Enclaves image files (EIF v4).
 *
 * - PCR calculator (enclaver_pcr_*): SHA-384 over a byte stream, then one TPM-style
 *   extend of a zero register: PCR = SHA384(48 x 0x00 || SHA384(data)).
 * - Streaming writer (enclaver_eif_writer_*): sections are copied from files, buffers
 *   or read callbacks straight into a temporary file next to the output; PCR0/1/2 and
 *   the CRC are computed on the way, so memory does not grow with the section sizes.
 *   enclaver_eif_writer_finish() appends the signature (optional), writes the header
 *   and renames the temporary file into place.
 * - Reader/validator (enclaver_eif_read*): walks the offset table and the sections
 *   sequentially, checks both agree, validates every field, recomputes the CRC and the
 *   PCRs and verifies the signature.  Hostile input gives an error naming the offset.
 * - Signing (enclaver_eif_sign): adds or replaces the signature section of an EIF.
 *
 * Format facts: docs/eif.md and the EIF specification it cites.  All multi-byte
 * integers in the file are big-endian. */
#ifndef ENCLAVER_EIF_H
#define ENCLAVER_EIF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <enclaver/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_EIF_MAGIC "\x2e\x65\x69\x66" /* ".eif" */
#define ENCLAVER_EIF_VERSION 4
#define ENCLAVER_EIF_HEADER_SIZE 548
#define ENCLAVER_EIF_SECTION_HEADER_SIZE 12
#define ENCLAVER_EIF_MAX_SECTIONS 32
#define ENCLAVER_EIF_CRC_OFFSET 544
#define ENCLAVER_EIF_SIGNATURE_MAX_SIZE 32768
#define ENCLAVER_EIF_DEFAULT_MEM 1073741824ULL
#define ENCLAVER_EIF_DEFAULT_CPUS 2ULL
/* The reader refuses metadata sections larger than this (it parses them as JSON). */
#define ENCLAVER_EIF_METADATA_MAX_SIZE (16u * 1024 * 1024)
/* nitro-cli / eif_build limit for --metadata (custom metadata) files. */
#define ENCLAVER_EIF_CUSTOM_METADATA_MAX_SIZE 4096

#define ENCLAVER_PCR_SIZE 48          /* SHA-384 */
#define ENCLAVER_PCR_HEX_SIZE 97      /* 96 lowercase hex digits + NUL */
/* Value of Measurements.HashAlgorithm printed by nitro-cli. */
#define ENCLAVER_PCR_HASH_ALGORITHM "Sha384 { ... }"

enum enclaver_eif_section_type
{
  ENCLAVER_EIF_SECTION_INVALID = 0,
  ENCLAVER_EIF_SECTION_KERNEL = 1,
  ENCLAVER_EIF_SECTION_CMDLINE = 2,
  ENCLAVER_EIF_SECTION_RAMDISK = 3,
  ENCLAVER_EIF_SECTION_SIGNATURE = 4,
  ENCLAVER_EIF_SECTION_METADATA = 5,
};

enum enclaver_eif_arch
{
  ENCLAVER_EIF_ARCH_X86_64 = 0,
  ENCLAVER_EIF_ARCH_AARCH64 = 1, /* header flags bit 0 */
};

/* "kernel", "cmdline", "ramdisk", "signature", "metadata", or "invalid(N)"-style
 * "unknown" for anything else. */
const char *enclaver_eif_section_type_name (unsigned type);
/* "x86_64" / "aarch64" -> 0 and sets *arch; -1 for anything else. */
int enclaver_eif_arch_parse (const char *s, enum enclaver_eif_arch *arch);
const char *enclaver_eif_arch_name (enum enclaver_eif_arch arch);

/* ------------------------------------------------------------------------- */
/* PCRs */

/* A running PCR computation.  Initialise with enclaver_pcr_init(); every successful
 * init must be matched by enclaver_pcr_final() or enclaver_pcr_cleanup(). */
typedef struct enclaver_pcr_s
{
  void *md; /* EVP_MD_CTX * */
} enclaver_pcr_t;

int enclaver_pcr_init (enclaver_pcr_t *pcr, enclaver_error_t *err);
int enclaver_pcr_update (enclaver_pcr_t *pcr, const void *data, size_t len, enclaver_error_t *err);
/* Write SHA384(0^48 || SHA384(data)) to out and release the context. */
int enclaver_pcr_final (enclaver_pcr_t *pcr, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err);
/* Release a context without producing a value (safe on a zeroed or finished struct). */
void enclaver_pcr_cleanup (enclaver_pcr_t *pcr);
/* One-shot helpers. */
int enclaver_pcr_of_buffer (const void *data, size_t len, uint8_t out[ENCLAVER_PCR_SIZE],
                            enclaver_error_t *err);
/* `nitro-cli pcr --input FILE`: PCR of the file's bytes (streamed). */
int enclaver_pcr_of_file (const char *path, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err);
/* PCR8: PCR of the DER encoding of the first certificate in a PEM buffer/file. */
int enclaver_pcr_of_cert_pem (const void *pem, size_t len, uint8_t out[ENCLAVER_PCR_SIZE],
                              enclaver_error_t *err);
int enclaver_pcr_of_cert_file (const char *path, uint8_t out[ENCLAVER_PCR_SIZE], enclaver_error_t *err);
/* 96 lowercase hex digits + NUL. */
void enclaver_pcr_to_hex (const uint8_t pcr[ENCLAVER_PCR_SIZE], char out[ENCLAVER_PCR_HEX_SIZE]);
/* Parse 96 hex digits (either case, optional "0x"); 0 on success, -1 otherwise. */
int enclaver_pcr_from_hex (const char *hex, uint8_t out[ENCLAVER_PCR_SIZE]);

/* PCR0/1/2 (always) and PCR8 (when signed) of an image. */
struct enclaver_eif_measurements
{
  uint8_t pcr0[ENCLAVER_PCR_SIZE];
  uint8_t pcr1[ENCLAVER_PCR_SIZE];
  uint8_t pcr2[ENCLAVER_PCR_SIZE];
  uint8_t pcr8[ENCLAVER_PCR_SIZE];
  int has_pcr8;
};

/* ------------------------------------------------------------------------- */
/* Metadata section */

/* The fields of the metadata JSON.  NULL strings are written as "".  docker_info and
 * custom_metadata are JSON texts (NULL = null); they are re-serialised compactly with
 * sorted keys, as serde_json does. */
struct enclaver_eif_metadata
{
  const char *image_name;
  const char *image_version;
  const char *build_time;         /* e.g. "2020-01-01T00:00:00+00:00" */
  const char *build_tool;         /* e.g. "eif_build" */
  const char *build_tool_version; /* e.g. "0.3.1" */
  const char *operating_system;   /* e.g. "OS" */
  const char *kernel_version;     /* e.g. "kernel" */
  const char *docker_info;        /* JSON text or NULL */
  const char *custom_metadata;    /* JSON text or NULL */
};

/* Compact JSON exactly as the reference builder writes it (fixed key order, no
 * whitespace, no trailing newline).  Returns a malloc'd NUL-terminated string. */
char *enclaver_eif_metadata_json (const struct enclaver_eif_metadata *md, size_t *len,
                                  enclaver_error_t *err);

/* ------------------------------------------------------------------------- */
/* Writer */

/* Read callback for streamed sections: fill up to len bytes of buf and return the
 * count, 0 at end of data, or -1 with errno set on failure. */
typedef ssize_t (*enclaver_eif_read_fn) (void *opaque, void *buf, size_t len);

typedef struct enclaver_eif_writer_s enclaver_eif_writer_t;

/* Start writing an EIF that will be renamed to `path` by _finish().  The data goes to
 * a temporary file in the same directory (removed again by _free() if not finished). */
enclaver_eif_writer_t *enclaver_eif_writer_new (const char *path, enclaver_error_t *err);
/* Default x86_64.  Call before _finish(). */
void enclaver_eif_writer_set_arch (enclaver_eif_writer_t *w, enum enclaver_eif_arch arch);
/* Header default_mem / default_cpus (unused by the hypervisor; defaults 1 GiB, 2). */
void enclaver_eif_writer_set_defaults (enclaver_eif_writer_t *w, uint64_t mem, uint64_t cpus);
/* Default 1: _finish() fsyncs the file before renaming it to `path`.  0: it does not,
 * for a caller that makes the file durable itself before publishing it (the build
 * pipeline's output commit fsyncs every output once, then renames it). */
void enclaver_eif_writer_set_fsync (enclaver_eif_writer_t *w, int on);
/* Sign with an EC P-384 key (PEM files).  Loads and checks both now; the signature
 * section is written by _finish().  The certificate file is stored verbatim. */
int enclaver_eif_writer_set_signer (enclaver_eif_writer_t *w, const char *cert_path,
                                    const char *key_path, enclaver_error_t *err);

/* Sections must be added in the reference order: kernel, cmdline, metadata, then one
 * or more ramdisks (the first is the bootstrap ramdisk measured into PCR1).  The
 * signature section is added by _finish(). */
int enclaver_eif_writer_add_buffer (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                    const void *data, size_t len, enclaver_error_t *err);
int enclaver_eif_writer_add_file (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                  const char *path, enclaver_error_t *err);
int enclaver_eif_writer_add_stream (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                    enclaver_eif_read_fn fn, void *opaque, enclaver_error_t *err);
/* Push-style section: begin, write any number of times (the data is copied, so the
 * caller's buffer is free again on return), end.  No other section can be added while
 * one is open.  Writing, CRC and hashing run on worker threads behind these calls. */
int enclaver_eif_writer_begin_section (enclaver_eif_writer_t *w, enum enclaver_eif_section_type type,
                                       enclaver_error_t *err);
int enclaver_eif_writer_write (enclaver_eif_writer_t *w, const void *data, size_t len, enclaver_error_t *err);
/* Like _write for len bytes of the file fd from offset: they are hashed from a
 * read-only mapping and copied into the EIF in the kernel (copy_file_range; pwrite from
 * the mapping where the filesystems refuse it), never through a buffer.  fd must stay
 * open, and those bytes unchanged, until the section ends. */
int enclaver_eif_writer_write_file (enclaver_eif_writer_t *w, int fd, uint64_t offset, uint64_t len,
                                    enclaver_error_t *err);
int enclaver_eif_writer_end_section (enclaver_eif_writer_t *w, enclaver_error_t *err);
/* Shorthand: enclaver_eif_metadata_json() + add_buffer(METADATA). */
int enclaver_eif_writer_add_metadata (enclaver_eif_writer_t *w, const struct enclaver_eif_metadata *md,
                                      enclaver_error_t *err);
/* Write the signature (if a signer is set) and the header, fsync, rename into place.
 * m (may be NULL) receives the measurements. */
int enclaver_eif_writer_finish (enclaver_eif_writer_t *w, struct enclaver_eif_measurements *m,
                                enclaver_error_t *err);
/* Free the writer; removes the temporary file unless _finish() succeeded. */
void enclaver_eif_writer_free (enclaver_eif_writer_t *w);

/* ------------------------------------------------------------------------- */
/* Reader / validator */

struct enclaver_eif_section_info
{
  uint16_t type;
  uint16_t flags;
  uint64_t offset; /* of the 12-byte section header */
  uint64_t size;   /* of the data */
};

struct enclaver_eif_info
{
  uint64_t file_size;
  uint16_t version;
  uint16_t flags;
  uint64_t default_mem;
  uint64_t default_cpus;
  uint16_t num_sections;
  struct enclaver_eif_section_info sections[ENCLAVER_EIF_MAX_SECTIONS];

  uint32_t crc_stored;
  uint32_t crc_computed;
  int crc_ok;

  struct enclaver_eif_measurements measurements;

  /* Metadata section (NULL when absent), NUL-terminated, validated as a JSON object. */
  char *metadata;
  size_t metadata_len;

  /* Signature section. */
  int is_signed;          /* a signature section exists */
  int signature_ok;       /* COSE verifies, payload == PCR0, certificate currently valid */
  char *signature_error;  /* why signature_ok is 0 (NULL when ok or unsigned) */
  char *cert_pem;         /* signing certificate as stored (NUL-terminated), or NULL */
  size_t cert_pem_len;
  int cose_alg;           /* COSE algorithm id from the protected header (-35 = ES384) */
};

enum
{
  /* Skip COSE verification (the certificate and PCR8 are still decoded; signature_ok
   * stays 0 with signature_error "signature not checked"). */
  ENCLAVER_EIF_READ_NO_SIGNATURE_CHECK = 1 << 0,
  /* Do not check the certificate validity period against the current time. */
  ENCLAVER_EIF_READ_IGNORE_CERT_TIME = 1 << 1,
};

/* Read and validate an EIF.  Structural problems (truncation, bad magic or version,
 * offsets/sizes outside the file, overlapping sections, invalid section types, table
 * vs. sequential walk disagreement, missing kernel/cmdline/ramdisk/metadata, bad
 * metadata JSON, oversized signature) fail with an error naming the offset.  A CRC
 * mismatch or a bad signature is reported in info->crc_ok / info->signature_ok (use
 * enclaver_eif_check() to turn them into an error).  On success free with
 * enclaver_eif_info_clear(). */
int enclaver_eif_read (const char *path, unsigned flags, struct enclaver_eif_info *info,
                       enclaver_error_t *err);
int enclaver_eif_read_fd (int fd, const char *name, unsigned flags, struct enclaver_eif_info *info,
                          enclaver_error_t *err);
int enclaver_eif_read_buffer (const void *data, size_t len, unsigned flags,
                              struct enclaver_eif_info *info, enclaver_error_t *err);
/* The SigningCertificate object of `nitro-cli describe-eif` for a PEM certificate, as
 * compact JSON text: {"IssuerName":{long-name: value...},"Algorithm":...,
 * "NotBefore":...,"NotAfter":...,"Signature":"XX:XX:..."}.  malloc'd. */
char *enclaver_eif_cert_info_json (const void *pem, size_t len, enclaver_error_t *err);
/* Error if the CRC does not match or a signature exists and does not verify. */
int enclaver_eif_check (const struct enclaver_eif_info *info, enclaver_error_t *err);
void enclaver_eif_info_clear (struct enclaver_eif_info *info);

/* ------------------------------------------------------------------------- */
/* Signing */

/* Build the signature section data for `pcr0` (CBOR array of {signing_certificate,
 * signature}, untagged COSE_Sign1 ES384).  cert_pem is stored verbatim; key_pem must be
 * an EC P-384 private key matching the certificate.  Returns a malloc'd buffer. */
uint8_t *enclaver_eif_make_signature (const void *cert_pem, size_t cert_len, const void *key_pem,
                                      size_t key_len, const uint8_t pcr0[ENCLAVER_PCR_SIZE],
                                      size_t *out_len, enclaver_error_t *err);
/* Add or replace the signature of the EIF `in`, writing `out` (NULL or equal to `in`:
 * replace in place, atomically).  The input must be structurally valid with a good
 * CRC.  PCR0/1/2 are unchanged; m (may be NULL) receives the new measurements. */
int enclaver_eif_sign (const char *in, const char *out, const char *cert_path, const char *key_path,
                       struct enclaver_eif_measurements *m, enclaver_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
