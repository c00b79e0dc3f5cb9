/* enclaver runtime: NSM GetRandom and kernel RNG seeding. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/random.h>

#include "nsm.h"
#include "rtutil.h"

/* Local copy of the uapi definitions (linux/nsm.h, kernel >= 6.8). */
struct rt_nsm_iovec
{
  uint64_t addr, len;
};
struct rt_nsm_raw
{
  struct rt_nsm_iovec request, response;
};
#define RT_NSM_IOCTL_RAW _IOWR (0x0A, 0, struct rt_nsm_raw)

const uint8_t enclaver_nsm_get_random_request[10] = { 0x69, 'G', 'e', 't', 'R', 'a',
                                                      'n',  'd', 'o', 'm' };

/* CBOR item head: major type and argument (any width). */
static int
cbor_head (const uint8_t *p, size_t len, size_t *pos, int *major, uint64_t *arg)
{
  uint8_t ib, ai;
  size_t need, i;
  if (*pos >= len)
    return -1;
  ib = p[(*pos)++];
  *major = ib >> 5;
  ai = ib & 0x1f;
  if (ai < 24)
    {
      *arg = ai;
      return 0;
    }
  if (ai > 27)
    return -1; /* indefinite lengths and reserved values are not used by the NSM */
  need = (size_t) 1 << (ai - 24);
  if (len - *pos < need)
    return -1;
  *arg = 0;
  for (i = 0; i < need; i++)
    *arg = (*arg << 8) | p[(*pos)++];
  return 0;
}

static int
cbor_text_is (const uint8_t *p, size_t len, size_t *pos, const char *want, char *got,
              size_t gotlen)
{
  int major;
  uint64_t n;
  if (cbor_head (p, len, pos, &major, &n) < 0 || major != 3 || n > len - *pos)
    return -1;
  if (got)
    snprintf (got, gotlen, "%.*s", (int) (n < 64 ? n : 64), (const char *) p + *pos);
  if (strlen (want) != n || memcmp (p + *pos, want, n) != 0)
    {
      *pos += n;
      return 0;
    }
  *pos += n;
  return 1;
}

int
enclaver_nsm_parse_get_random (const uint8_t *resp, size_t len, const uint8_t **data,
                               size_t *n, char *err, size_t errlen)
{
  size_t pos = 0;
  int major, r;
  uint64_t arg;
  char key[80] = "";

  if (cbor_head (resp, len, &pos, &major, &arg) < 0)
    return rt_err (err, errlen, "NSM response: truncated at offset 0");
  if (major != 5 || arg != 1)
    return rt_err (err, errlen, "NSM response: expected a one-entry map at offset 0");
  r = cbor_text_is (resp, len, &pos, "GetRandom", key, sizeof key);
  if (r < 0)
    return rt_err (err, errlen, "NSM response: bad variant name at offset 1");
  if (r == 0)
    {
      if (strcmp (key, "Error") == 0)
        {
          char code[80] = "";
          if (cbor_text_is (resp, len, &pos, "", code, sizeof code) < 0)
            snprintf (code, sizeof code, "(unreadable code)");
          return rt_err (err, errlen, "NSM returned an error: %s", code);
        }
      return rt_err (err, errlen, "NSM response: unexpected variant '%s' (wanted GetRandom)",
                     key);
    }
  if (cbor_head (resp, len, &pos, &major, &arg) < 0 || major != 5 || arg != 1)
    return rt_err (err, errlen, "NSM response: GetRandom body is not a one-entry map (offset %zu)",
                   pos);
  r = cbor_text_is (resp, len, &pos, "random", key, sizeof key);
  if (r <= 0)
    return rt_err (err, errlen, "NSM response: expected key 'random' at offset %zu", pos);
  if (cbor_head (resp, len, &pos, &major, &arg) < 0 || major != 2)
    return rt_err (err, errlen, "NSM response: 'random' is not a byte string (offset %zu)", pos);
  if (arg > len - pos)
    return rt_err (err, errlen,
                   "NSM response: byte string of %llu bytes overruns the %zu-byte response",
                   (unsigned long long) arg, len);
  *data = resp + pos;
  *n = (size_t) arg;
  pos += (size_t) arg;
  if (pos != len)
    return rt_err (err, errlen, "NSM response: %zu trailing bytes after offset %zu", len - pos,
                   pos);
  return 0;
}

long
enclaver_nsm_get_random (int fd, uint8_t *out, size_t cap, char *err, size_t errlen)
{
  uint8_t *resp = xmalloc (ENCLAVER_NSM_RESPONSE_MAX);
  uint8_t req[sizeof enclaver_nsm_get_random_request];
  struct rt_nsm_raw m;
  const uint8_t *data;
  size_t n;
  long r = -1;

  memcpy (req, enclaver_nsm_get_random_request, sizeof req);
  m.request.addr = (uintptr_t) req;
  m.request.len = sizeof req;
  m.response.addr = (uintptr_t) resp;
  m.response.len = ENCLAVER_NSM_RESPONSE_MAX; /* always the full 12 KiB (QEMU insists) */
  if (ioctl (fd, RT_NSM_IOCTL_RAW, &m) != 0)
    rt_err (err, errlen, "NSM GetRandom ioctl: %s", strerror (errno));
  else if (m.response.len > ENCLAVER_NSM_RESPONSE_MAX)
    rt_err (err, errlen, "NSM GetRandom: response length %llu exceeds the buffer",
            (unsigned long long) m.response.len);
  else if (enclaver_nsm_parse_get_random (resp, (size_t) m.response.len, &data, &n, err, errlen)
           == 0)
    {
      if (n > cap)
        n = cap;
      memcpy (out, data, n);
      r = (long) n;
    }
  free (resp);
  return r;
}

int
enclaver_nsm_seed_rng (const char *device, char *err, size_t errlen)
{
  uint8_t buf[256];
  struct
  {
    int entropy_count;
    int buf_size;
    uint8_t data[sizeof buf];
  } pool;
  long n;
  int fd, rfd, r = 1;

  fd = open (device, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
        return 0;
      return rt_err (err, errlen, "open %s: %s", device, strerror (errno));
    }
  n = enclaver_nsm_get_random (fd, buf, sizeof buf, err, errlen);
  close (fd);
  if (n < 0)
    return -1;
  if (n == 0)
    return rt_err (err, errlen, "NSM GetRandom returned no bytes");
  rfd = open ("/dev/random", O_WRONLY | O_CLOEXEC);
  if (rfd < 0)
    return rt_err (err, errlen, "open /dev/random: %s", strerror (errno));
  /* RNDADDENTROPY mixes the bytes in and credits them (needs CAP_SYS_ADMIN); without
   * the capability, a plain write still mixes them in without credit. */
  pool.entropy_count = (int) n * 8;
  pool.buf_size = (int) n;
  memcpy (pool.data, buf, (size_t) n);
  if (ioctl (rfd, RNDADDENTROPY, &pool) != 0)
    {
      if (enclaver_write_all (rfd, buf, (size_t) n) < 0)
        r = rt_err (err, errlen, "write /dev/random: %s", strerror (errno));
    }
  close (rfd);
  explicit_bzero (buf, sizeof buf);
  explicit_bzero (&pool, sizeof pool);
  return r;
}
