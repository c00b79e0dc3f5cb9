/* enclaver host launcher: the enclave's boot heartbeat (EIF.md §6), parent side.
 *
 * The enclave's init connects to the parent (vsock CID 3, port 9000), sends 0xB7 and
 * waits for it back; the launcher has bound the listener before NE_START_ENCLAVE, so the
 * connection cannot be refused, and waits for it with nitro-cli's timeout. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "heartbeat.h"
#include "transport.h"

#define NE_TIMEOUT_UNIT_MS 90000 /* nitro-cli's TIMEOUT_MINUTE_MS */
#define NE_TIMEOUT_EIF_STEP (6ull << 30)
#define NE_TIMEOUT_MEM_STEP_MIB (100ull << 10)

int
ne_heartbeat_timeout_ms (uint64_t eif_size, uint64_t memory_mib)
{
  uint64_t eif_units = eif_size ? 1 + (eif_size - 1) / NE_TIMEOUT_EIF_STEP : 1;
  uint64_t mem_units = memory_mib ? 1 + (memory_mib - 1) / NE_TIMEOUT_MEM_STEP_MIB : 0;
  uint64_t ms = (eif_units + mem_units) * NE_TIMEOUT_UNIT_MS;
  return ms > INT_MAX ? INT_MAX : (int) ms;
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is readable or the deadline passes: 1, 0 on timeout, -1 on error. */
static int
wait_readable (int fd, int64_t deadline)
{
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int64_t left = deadline - now_ms ();
      int r;
      if (left <= 0)
        return 0;
      r = poll (&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
      if (r > 0)
        return 1;
      if (r == 0)
        continue; /* re-check the clock */
      if (errno != EINTR)
        return -1;
    }
}

static void
fmt_secs (char *buf, size_t len, int ms)
{
  if (ms % 1000 == 0)
    snprintf (buf, len, "%d s", ms / 1000);
  else
    snprintf (buf, len, "%d ms", ms);
}

/* The peer's vsock CID, or 0 when the socket is not AF_VSOCK. */
static uint64_t
peer_vsock_cid (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset (&ss, 0, sizeof ss);
  if (getpeername (fd, (struct sockaddr *) &ss, &len) < 0 || ss.ss_family != AF_VSOCK)
    return 0;
  return ((struct sockaddr_vm *) &ss)->svm_cid;
}

int
ne_heartbeat_wait (int lfd, int timeout_ms, uint64_t expect_cid, char *why, size_t whylen)
{
  int64_t deadline = now_ms () + (timeout_ms > 0 ? timeout_ms : 0);
  char t[32];
  unsigned char b;
  int fd, r;
  ssize_t n;

  fmt_secs (t, sizeof t, timeout_ms);
  for (;;)
    {
      r = wait_readable (lfd, deadline);
      if (r == 0)
        {
          snprintf (why, whylen, "no heartbeat connection from the enclave within %s", t);
          return -1;
        }
      if (r < 0)
        {
          snprintf (why, whylen, "waiting for the heartbeat connection: %s", strerror (errno));
          return -1;
        }
      fd = enclaver_transport_accept (lfd, 1);
      if (fd < 0)
        {
          if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
            continue;
          snprintf (why, whylen, "accepting the heartbeat connection: %s", strerror (errno));
          return -1;
        }
      if (expect_cid != 0)
        {
          uint64_t cid = peer_vsock_cid (fd);
          if (cid != 0 && cid != expect_cid)
            {
              /* Another enclave's init (several per host): not ours, keep waiting. */
              close (fd);
              continue;
            }
        }
      break;
    }

  r = wait_readable (fd, deadline);
  if (r <= 0)
    {
      if (r == 0)
        snprintf (why, whylen, "the enclave connected but sent no heartbeat byte within %s", t);
      else
        snprintf (why, whylen, "waiting for the heartbeat byte: %s", strerror (errno));
      close (fd);
      return -1;
    }
  do
    n = read (fd, &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    {
      if (n == 0)
        snprintf (why, whylen, "the enclave closed the heartbeat connection without sending");
      else
        snprintf (why, whylen, "reading the heartbeat byte: %s", strerror (errno));
      close (fd);
      return -1;
    }
  if (b != NE_HEARTBEAT_BYTE)
    {
      snprintf (why, whylen, "the enclave sent heartbeat byte 0x%02x, not 0x%02x", b,
                NE_HEARTBEAT_BYTE);
      close (fd);
      return -1;
    }
  /* send, not write: an init that went away must not kill the launcher with SIGPIPE. */
  do
    n = send (fd, &b, 1, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    {
      snprintf (why, whylen, "answering the heartbeat: %s", n < 0 ? strerror (errno) : "short write");
      close (fd);
      return -1;
    }
  close (fd);
  return 0;
}
