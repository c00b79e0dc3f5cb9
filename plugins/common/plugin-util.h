/* enclaver plugins/: helpers the optional stages share (linked into each .so; they see
 * only the public headers, like any third-party stage). */
#ifndef ENCLAVER_PLUGIN_UTIL_H
#define ENCLAVER_PLUGIN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <enclaver/context.h>

/* A list option: items separated by commas or white space.  NULL-terminated vector of
 * malloc'd strings (free with plugin_strv_free); *n counts them.  Empty items are
 * skipped. */
char **plugin_split_list (const char *s, size_t *n);
void plugin_strv_free (char **v);

/* Where an output named by an option goes: VALUE when given (relative to the build's
 * output directory), else the file beside the EIF with SUFFIX (".spdx.json").
 * malloc'd. */
char *plugin_output_path (const enclaver_ctx_t *ctx, const char *value, const char *suffix);

/* Write DATA as the build output PATH (a temporary file renamed into place only when
 * the whole build succeeds).  *tmp (may be NULL) borrows the temporary name. */
int plugin_write_output (enclaver_ctx_t *ctx, const char *path, const void *data, size_t len, const char **tmp,
                         enclaver_error_t *err);

/* Read a whole (host) file of at most MAX bytes, NUL-terminated; a FIFO, socket or
 * device is refused without blocking.  Errors name PATH. */
int plugin_read_file (const char *path, size_t max, char **out, size_t *len, enclaver_error_t *err);

/* Lowercase hex of LEN bytes into OUT (2 * LEN + 1 bytes). */
void plugin_hex (const unsigned char *p, size_t len, char *out);
/* SHA-256 of a host file as 64 hex digits (and its size). */
int plugin_file_sha256 (const char *path, char out[65], uint64_t *size, enclaver_error_t *err);
/* SHA-256 of a buffer as 64 hex digits. */
void plugin_sha256_hex (const void *p, size_t len, char out[65]);

/* "12.3 MiB" style, for logs. */
void plugin_human_size (uint64_t n, char out[32]);

#endif
