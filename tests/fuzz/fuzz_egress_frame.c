/* enclaver: libFuzzer target for the framing of the egress port 17002
 * (runtime/net/egressproto.c, ENCLAVER.md §9): a u16 little-endian length and that
 * many bytes of JSON, the connect request {"host","port"} and the replies "Ok" /
 * {"Err":{"os_code","message"}}.
 *
 * The input is the byte stream one side receives.  It is read through a pipe in
 * pieces (the frame reader never reads past its frame, so what follows is the raw
 * upstream data); the frame's JSON is decoded as a request and as a reply, and what
 * decodes must encode again to a frame that decodes to the same. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>

#include "net/egressproto.h"

#include "fuzz.h"

static void
decode (const char *body, size_t len)
{
  char host[EGRESS_HOST_MAX + 1], host2[EGRESS_HOST_MAX + 1], msg[512], msg2[512], err[256], frame[2 + EGRESS_FRAME_MAX];
  unsigned port, port2;
  int ok, ok2, code, code2, n;

  if (egress_decode_request (body, len, host, sizeof host, &port, err, sizeof err) == 0)
    {
      FUZZ_CHECK (port >= 1 && port <= 65535 && host[0] != '\0');
      n = egress_encode_request (frame, sizeof frame, host, port);
      FUZZ_CHECK (n > 2 && (size_t) n == 2 + ((size_t) (uint8_t) frame[0] | (size_t) (uint8_t) frame[1] << 8));
      FUZZ_CHECK (egress_decode_request (frame + 2, (size_t) n - 2, host2, sizeof host2, &port2, err, sizeof err) == 0);
      FUZZ_CHECK (port == port2 && strcmp (host, host2) == 0);
    }
  else
    FUZZ_CHECK (err[0] != '\0');
  if (egress_decode_reply (body, len, &ok, &code, msg, sizeof msg, err, sizeof err) == 0)
    {
      n = ok ? egress_encode_ok (frame, sizeof frame) : egress_encode_err (frame, sizeof frame, code, msg);
      FUZZ_CHECK (n > 2);
      FUZZ_CHECK (egress_decode_reply (frame + 2, (size_t) n - 2, &ok2, &code2, msg2, sizeof msg2, err, sizeof err) == 0);
      FUZZ_CHECK (ok == ok2 && (ok || (code == code2 && strcmp (msg, msg2) == 0)));
    }
  else
    FUZZ_CHECK (err[0] != '\0');
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int p[2];
  struct egress_frame f;
  size_t off = 0;
  int r = 0;

  if (size > 60000) /* the pipe holds 64 KiB: the writer never blocks */
    return 0;
  FUZZ_CHECK (pipe2 (p, O_NONBLOCK | O_CLOEXEC) == 0);
  memset (&f, 0, sizeof f);
  /* Deliver in pieces of 1, 2, 3, ... bytes; the reader sees EAGAIN in between. */
  for (size_t piece = 1; off < size && r == 0; piece++)
    {
      size_t n = piece < size - off ? piece : size - off;
      FUZZ_CHECK (write (p[1], data + off, n) == (ssize_t) n);
      off += n;
      r = egress_frame_read (&f, p[0]);
      FUZZ_CHECK (r == 1 || r == -1 || (r == 0 && errno == EAGAIN));
    }
  if (r == 0)
    {
      close (p[1]);
      p[1] = -1;
      r = egress_frame_read (&f, p[0]);
      FUZZ_CHECK (r == -1);
    }
  if (r == 1)
    {
      size_t len;
      const char *body = egress_frame_body (&f, &len);
      FUZZ_CHECK (len <= EGRESS_FRAME_MAX && f.have == 2 + len);
      FUZZ_CHECK (len == ((size_t) data[0] | (size_t) data[1] << 8) && memcmp (body, data + 2, len) == 0);
      /* the rest is still in the pipe, untouched */
      if (p[1] >= 0)
        close (p[1]);
      p[1] = -1;
      size_t rest = 0;
      char buf[4096];
      ssize_t k;
      while ((k = read (p[0], buf, sizeof buf)) > 0)
        {
          FUZZ_CHECK (memcmp (buf, data + 2 + len + rest, (size_t) k) == 0);
          rest += (size_t) k;
        }
      FUZZ_CHECK (2 + len + rest == off);
      decode (body, len);
    }
  else
    FUZZ_CHECK (errno == EMSGSIZE || errno == ECONNRESET);
  close (p[0]);
  if (p[1] >= 0)
    close (p[1]);
  return 0;
}
