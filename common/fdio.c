/* enclaver common helpers: safe I/O on file descriptors. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
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

int
enclaver_open_regular (int dfd, const char *path, int flags, mode_t *kind)
{
  struct stat st;
  int fd, fl, e;
  if (kind)
    *kind = 0;
  fd = openat (dfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
  if (fd < 0)
    {
      /* A socket cannot be opened at all (ENXIO): say what is there. */
      e = errno;
      if (e == ENXIO && kind && fstatat (dfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0
          && !S_ISREG (st.st_mode))
        {
          *kind = st.st_mode & S_IFMT;
          e = EINVAL;
        }
      errno = e;
      return -1;
    }
  if (fstat (fd, &st) < 0)
    goto fail;
  if (!S_ISREG (st.st_mode))
    {
      if (kind)
        *kind = st.st_mode & S_IFMT;
      errno = S_ISDIR (st.st_mode) ? EISDIR : EINVAL;
      goto fail;
    }
  fl = fcntl (fd, F_GETFL);
  if (fl < 0 || ((flags & O_NONBLOCK) == 0 && fcntl (fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
    goto fail;
  return fd;
fail:
  e = errno;
  close (fd);
  errno = e;
  return -1;
}

const char *
enclaver_file_kind (mode_t kind)
{
  switch (kind & S_IFMT)
    {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "a file of an unknown type";
    }
}
