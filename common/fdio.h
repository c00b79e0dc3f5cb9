/* enclaver common helpers: safe I/O on file descriptors. */
#ifndef ENCLAVER_COMMON_FDIO_H
#define ENCLAVER_COMMON_FDIO_H

#include <stddef.h>
#include <stdint.h>

#include "common/base.h"

/* Write all of buf to fd, retrying on EINTR and short writes.  0, or -1 with errno. */
int enclaver_write_all (int fd, const void *buf, size_t len) ENCLAVER_INTERNAL;
/* The same at file offset off (pwrite).  0, or -1 with errno. */
int enclaver_pwrite_all (int fd, const void *buf, size_t len, uint64_t off) ENCLAVER_INTERNAL;

#endif
