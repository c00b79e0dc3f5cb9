/* enclaver runtime: stream-socket transport (AF_VSOCK in enclaves, AF_UNIX in tests, TCP
 * under emulation). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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
  if (strncmp (spec, "tcp:", 4) == 0)
    {
      const char *rest = spec + 4, *colon = strrchr (rest, ':');
      char host[16];
      struct in_addr in;
      size_t hl;
      out->kind = ENCLAVER_TRANSPORT_TCP;
      if (colon == NULL || (hl = (size_t) (colon - rest)) == 0 || hl >= sizeof host)
        return rt_err (err, errlen, "bad tcp address '%s' (expected tcp:IPV4:PORT)", spec);
      memcpy (host, rest, hl);
      host[hl] = '\0';
      if (inet_pton (AF_INET, host, &in) != 1)
        return rt_err (err, errlen, "bad IPv4 address '%s' in address '%s' (expected tcp:IPV4:PORT)",
                       host, spec);
      if (parse_u32 (colon + 1, strlen (colon + 1), &out->port) < 0 || out->port > 65535)
        return rt_err (err, errlen, "bad tcp port in address '%s' (0 to 65535)", spec);
      out->ip = in.s_addr;
      return 0;
    }
  return rt_err (err, errlen,
                 "unknown transport address '%s' (expected vsock:CID:PORT, unix:PATH or "
                 "tcp:IPV4:PORT)",
                 spec);
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
  else if (a->kind == ENCLAVER_TRANSPORT_TCP)
    {
      struct sockaddr_in *in = (struct sockaddr_in *) ss;
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = a->ip;
      in->sin_port = htons ((uint16_t) a->port);
      *len = sizeof *in;
      *family = AF_INET;
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

/* Emulation mode: -1 until known. */
static int emulation_mode = -1;

static int
emulation_parse (const char *v, size_t n)
{
  if (n == 3 && memcmp (v, "tcp", 3) == 0)
    return ENCLAVER_EMULATION_TCP;
  if (n == 5 && memcmp (v, "vsock", 5) == 0)
    return ENCLAVER_EMULATION_VSOCK;
  if (n == 0 || (n == 4 && memcmp (v, "none", 4) == 0) || (n == 3 && memcmp (v, "off", 3) == 0))
    return ENCLAVER_EMULATION_NONE;
  return -1;
}

enum enclaver_emulation
enclaver_transport_emulation_from_cmdline (const char *cmdline)
{
  static const char key[] = "enclaver.emulation=";
  const char *p = cmdline;
  int mode = ENCLAVER_EMULATION_NONE;
  while (p && *p)
    {
      size_t n;
      while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
      n = strcspn (p, " \t\n");
      if (n > sizeof key - 1 && memcmp (p, key, sizeof key - 1) == 0)
        {
          int m = emulation_parse (p + sizeof key - 1, n - (sizeof key - 1));
          mode = m < 0 ? ENCLAVER_EMULATION_NONE : m; /* the last one wins */
        }
      p += n;
    }
  return (enum enclaver_emulation) mode;
}

int
enclaver_transport_set_emulation (const char *mode)
{
  int m = mode ? emulation_parse (mode, strlen (mode)) : ENCLAVER_EMULATION_NONE;
  if (m < 0)
    return -1;
  emulation_mode = m;
  return 0;
}

enum enclaver_emulation
enclaver_transport_emulation (void)
{
  const char *env;
  if (emulation_mode >= 0)
    return (enum enclaver_emulation) emulation_mode;
  env = getenv ("ENCLAVER_EMULATION");
  if (env != NULL && enclaver_transport_set_emulation (env) == 0)
    return (enum enclaver_emulation) emulation_mode;
  emulation_mode = ENCLAVER_EMULATION_NONE;
  {
    char buf[4097];
    int fd = open ("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
      {
        ssize_t r = read (fd, buf, sizeof buf - 1);
        close (fd);
        if (r > 0)
          {
            buf[r] = '\0';
            emulation_mode = enclaver_transport_emulation_from_cmdline (buf);
          }
      }
  }
  return (enum enclaver_emulation) emulation_mode;
}

int
enclaver_transport_map (enum enclaver_emulation mode, const char *spec, int listening, char *out,
                        size_t outlen)
{
  struct enclaver_transport_addr a;
  char e[8];
  int n;
  if (mode != ENCLAVER_EMULATION_NONE && spec != NULL
      && enclaver_transport_parse (spec, &a, e, sizeof e) == 0 && a.kind == ENCLAVER_TRANSPORT_VSOCK)
    {
      if (mode == ENCLAVER_EMULATION_TCP && listening && a.cid == ENCLAVER_VSOCK_CID_ANY)
        n = snprintf (out, outlen, "tcp:0.0.0.0:%" PRIu32, a.port);
      else if (mode == ENCLAVER_EMULATION_TCP && !listening
               && (a.cid == ENCLAVER_VSOCK_CID_HOST || a.cid == ENCLAVER_VSOCK_CID_PARENT))
        n = snprintf (out, outlen, "tcp:" ENCLAVER_EMU_HOST_IP ":%" PRIu32, a.port);
      else if (mode == ENCLAVER_EMULATION_VSOCK && !listening && a.cid == ENCLAVER_VSOCK_CID_PARENT)
        n = snprintf (out, outlen, "vsock:%u:%" PRIu32, ENCLAVER_VSOCK_CID_HOST, a.port);
      else
        n = snprintf (out, outlen, "%s", spec);
    }
  else
    n = snprintf (out, outlen, "%s", spec ? spec : "");
  return n >= 0 && (size_t) n < outlen ? 0 : -1;
}

uint32_t
enclaver_transport_local_port (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset (&ss, 0, sizeof ss);
  if (getsockname (fd, (struct sockaddr *) &ss, &len) < 0)
    return 0;
  if (ss.ss_family == AF_INET)
    return ntohs (((struct sockaddr_in *) &ss)->sin_port);
  if (ss.ss_family == AF_VSOCK)
    return ((struct sockaddr_vm *) &ss)->svm_port;
  return 0;
}

/* spec under the emulation mode in force: buf, or spec itself when it does not fit. */
static const char *
mapped (const char *spec, int listening, char *buf, size_t len)
{
  if (spec == NULL || enclaver_transport_emulation () == ENCLAVER_EMULATION_NONE
      || enclaver_transport_map (enclaver_transport_emulation (), spec, listening, buf, len) < 0)
    return spec;
  return buf;
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
  char mbuf[160];
  int fd, e;

  spec = mapped (spec, 1, mbuf, sizeof mbuf);
  fd = spec_socket (spec, &a, &ss, &len, err, errlen);
  if (fd < 0)
    return -1;
  if (a.kind == ENCLAVER_TRANSPORT_TCP)
    {
      int one = 1;
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
  if (a.kind == ENCLAVER_TRANSPORT_UNIX)
    {
      struct stat st;
      /* Replace a stale socket left by an earlier run, never any other kind of file. */
      if (lstat (a.path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (a.path);
    }
  if (bind (fd, (struct sockaddr *) &ss, len) < 0 || listen (fd, ENCLAVER_TRANSPORT_BACKLOG) < 0)
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
enclaver_transport_connect_nb (const char *spec, int *in_progress, char *err, size_t errlen)
{
  struct enclaver_transport_addr a;
  struct sockaddr_storage ss;
  socklen_t len;
  char mbuf[160];
  int fd, e, r, fl;

  *in_progress = 0;
  spec = mapped (spec, 0, mbuf, sizeof mbuf);
  fd = spec_socket (spec, &a, &ss, &len, err, errlen);
  if (fd < 0)
    return -1;
  fl = fcntl (fd, F_GETFL);
  if (fl < 0 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) < 0)
    {
      e = errno;
      rt_err (err, errlen, "connect to %s: %s", spec, strerror (e));
      close (fd);
      errno = e;
      return -1;
    }
  do
    r = connect (fd, (struct sockaddr *) &ss, len);
  while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EINPROGRESS || errno == EAGAIN))
    {
      /* EAGAIN: a Unix socket whose listener's backlog is full; no connection is
       * pending, so the caller treats it as refused (the peer is overloaded). */
      *in_progress = errno == EINPROGRESS ? 1 : 2;
      return fd;
    }
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
enclaver_transport_connect (const char *spec, char *err, size_t errlen)
{
  struct enclaver_transport_addr a;
  struct sockaddr_storage ss;
  socklen_t len;
  char mbuf[160];
  int fd, e, r;

  spec = mapped (spec, 0, mbuf, sizeof mbuf);
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
