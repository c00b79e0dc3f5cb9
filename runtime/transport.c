/* enclaver runtime: stream-socket transport (AF_VSOCK in enclaves, AF_UNIX in tests). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "rtutil.h"
#include "transport.h"

static int
parse_u32 (const char *s, size_t n, uint32_t *out)
{
  uint64_t v = 0;
  size_t i;
  if (n == 0 || n > 10)
    return -1;
  for (i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      v = v * 10 + (uint64_t) (s[i] - '0');
    }
  if (v > UINT32_MAX)
    return -1;
  *out = (uint32_t) v;
  return 0;
}

static int
parse_cid (const char *s, size_t n, uint32_t *out)
{
  if (n == 3 && memcmp (s, "any", 3) == 0)
    *out = ENCLAVER_VSOCK_CID_ANY;
  else if (n == 4 && memcmp (s, "host", 4) == 0)
    *out = ENCLAVER_VSOCK_CID_HOST;
  else if (n == 6 && memcmp (s, "parent", 6) == 0)
    *out = ENCLAVER_VSOCK_CID_PARENT;
  else
    return parse_u32 (s, n, out);
  return 0;
}

int
enclaver_transport_parse (const char *spec, struct enclaver_transport_addr *out, char *err,
                          size_t errlen)
{
  memset (out, 0, sizeof *out);
  if (spec == NULL)
    return rt_err (err, errlen, "missing transport address");
  if (strncmp (spec, "vsock:", 6) == 0)
    {
      const char *rest = spec + 6, *colon = strchr (rest, ':');
      out->kind = ENCLAVER_TRANSPORT_VSOCK;
      if (colon == NULL)
        {
          out->cid = ENCLAVER_VSOCK_CID_ANY;
          if (parse_u32 (rest, strlen (rest), &out->port) < 0)
            return rt_err (err, errlen, "bad vsock port in address '%s' (expected vsock:CID:PORT)",
                           spec);
          return 0;
        }
      if (parse_cid (rest, (size_t) (colon - rest), &out->cid) < 0)
        return rt_err (err, errlen,
                       "bad vsock CID in address '%s' (a number, any, host or parent)", spec);
      if (parse_u32 (colon + 1, strlen (colon + 1), &out->port) < 0)
        return rt_err (err, errlen, "bad vsock port in address '%s' (expected vsock:CID:PORT)",
                       spec);
      return 0;
    }
  if (strncmp (spec, "unix:", 5) == 0)
    {
      const char *p = spec + 5;
      size_t n = strlen (p);
      out->kind = ENCLAVER_TRANSPORT_UNIX;
      if (n == 0)
        return rt_err (err, errlen, "empty path in address '%s'", spec);
      if (n >= sizeof out->path)
        return rt_err (err, errlen, "unix socket path too long (%zu bytes, max %zu): %s", n,
                       sizeof out->path - 1, p);
      memcpy (out->path, p, n + 1);
      return 0;
    }
  return rt_err (err, errlen,
                 "unknown transport address '%s' (expected vsock:CID:PORT or unix:PATH)", spec);
}

static int
make_sockaddr (const struct enclaver_transport_addr *a, struct sockaddr_storage *ss,
               socklen_t *len, int *family)
{
  memset (ss, 0, sizeof *ss);
  if (a->kind == ENCLAVER_TRANSPORT_VSOCK)
    {
      struct sockaddr_vm *vm = (struct sockaddr_vm *) ss;
      vm->svm_family = AF_VSOCK;
      vm->svm_cid = a->cid;
      vm->svm_port = a->port;
      *len = sizeof *vm;
      *family = AF_VSOCK;
    }
  else
    {
      struct sockaddr_un *un = (struct sockaddr_un *) ss;
      un->sun_family = AF_UNIX;
      memcpy (un->sun_path, a->path, strlen (a->path) + 1);
      *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (a->path) + 1);
      *family = AF_UNIX;
    }
  return 0;
}

/* Parse spec into *a and *ss and open a stream socket of its family: the fd, or -1
 * with err and errno set. */
static int
spec_socket (const char *spec, struct enclaver_transport_addr *a, struct sockaddr_storage *ss, socklen_t *len,
             char *err, size_t errlen)
{
  int family, fd, e;
  if (enclaver_transport_parse (spec, a, err, errlen) < 0)
    {
      errno = EINVAL;
      return -1;
    }
  make_sockaddr (a, ss, len, &family);
  fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      e = errno;
      rt_err (err, errlen, "socket for %s: %s", spec, strerror (e));
      errno = e;
      return -1;
    }
  return fd;
}

int
enclaver_transport_listen (const char *spec, char *err, size_t errlen)
{
  struct enclaver_transport_addr a;
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, e;

  fd = spec_socket (spec, &a, &ss, &len, err, errlen);
  if (fd < 0)
    return -1;
  if (a.kind == ENCLAVER_TRANSPORT_UNIX)
    {
      struct stat st;
      /* Replace a stale socket left by an earlier run, never any other kind of file. */
      if (lstat (a.path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (a.path);
    }
  if (bind (fd, (struct sockaddr *) &ss, len) < 0 || listen (fd, 16) < 0)
    {
      e = errno;
      rt_err (err, errlen, "listen on %s: %s", spec, strerror (e));
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

int
enclaver_transport_connect (const char *spec, char *err, size_t errlen)
{
  struct enclaver_transport_addr a;
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, e, r;

  fd = spec_socket (spec, &a, &ss, &len, err, errlen);
  if (fd < 0)
    return -1;
  do
    r = connect (fd, (struct sockaddr *) &ss, len);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      e = errno;
      rt_err (err, errlen, "connect to %s: %s", spec, strerror (e));
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

int
enclaver_transport_accept (int lfd, int nonblock)
{
  int fd;
  do
    fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
  while (fd < 0 && errno == EINTR);
  return fd;
}
