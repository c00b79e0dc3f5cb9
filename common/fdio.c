/* enclaver common helpers: safe I/O on file descriptors. */
#include "config.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/fdio.h"

int
enclaver_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

int
enclaver_pwrite_all (int fd, const void *buf, size_t len, uint64_t off)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = pwrite (fd, p, len, (off_t) off);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      p += w;
      len -= (size_t) w;
      off += (uint64_t) w;
    }
  return 0;
}
