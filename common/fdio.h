/* enclaver common helpers: safe I/O on file descriptors. */
#ifndef ENCLAVER_COMMON_FDIO_H
#define ENCLAVER_COMMON_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/base.h"

/* Write all of buf to fd, retrying on EINTR and short writes.  0, or -1 with errno. */
int enclaver_write_all (int fd, const void *buf, size_t len) ENCLAVER_INTERNAL;
/* The same at file offset off (pwrite).  0, or -1 with errno. */
int enclaver_pwrite_all (int fd, const void *buf, size_t len, uint64_t off) ENCLAVER_INTERNAL;

/* Open a file the program reads by name (read-only, O_CLOEXEC, plus flags such as
 * O_NOFOLLOW) so that what is there cannot block it: the open is non-blocking (a FIFO
 * without a writer, a tty, a socket), the result is checked with fstat, and only then
 * is O_NONBLOCK cleared.  dfd is a directory descriptor or AT_FDCWD.  Returns the
 * descriptor; -1 with errno on failure, and when path is not a regular file errno is
 * EISDIR (a directory) or EINVAL (anything else) and *kind (when not NULL) gets its
 * S_IFMT bits (0 for other failures). */
int enclaver_open_regular (int dfd, const char *path, int flags, mode_t *kind) ENCLAVER_INTERNAL;
/* "a FIFO", "a socket", "a directory", ... for the S_IFMT bits of a file, for messages. */
const char *enclaver_file_kind (mode_t kind) ENCLAVER_INTERNAL;

#endif
