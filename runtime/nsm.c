/* enclaver runtime: the NSM client (see nsm.h) and kernel RNG seeding. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/random.h>

#include "nsm.h"
#include "rtutil.h"
#include "transport.h"

/* Local copy of the uapi definitions (linux/nsm.h, kernel >= 6.8; the legacy driver's
 * struct has the same layout and number). */
struct rt_nsm_iovec
{
  uint64_t addr, len;
};
struct rt_nsm_raw
{
  struct rt_nsm_iovec request, response;
};
#define RT_NSM_IOCTL_RAW _IOWR (0x0A, 0, struct rt_nsm_raw)

/* The CBOR text "GetRandom": also the request the kernel's hwrng sends. */
const uint8_t enclaver_nsm_get_random_request[10] = { 0x69, 'G', 'e', 't', 'R', 'a',
                                                      'n',  'd', 'o', 'm' };

struct enclaver_nsm
{
  enclaver_nsm_exchange_fn fn;
  void *ctx;
  int fd;            /* the device, when opened on a path */
  char *addr;        /* the transport address, when opened on one */
  char name[160];
  enum enclaver_nsm_code last;
};

/* ---- error codes ---- */

static const struct
{
  const char *name, *message;
} codes[] = {
  [ENCLAVER_NSM_OK] = { "Success", "the NSM reported success as an error" },
  [ENCLAVER_NSM_INVALID_ARGUMENT] = { "InvalidArgument", "an argument of the request is invalid" },
  [ENCLAVER_NSM_INVALID_INDEX] = { "InvalidIndex", "the PCR index is out of range" },
  [ENCLAVER_NSM_INVALID_RESPONSE] = { "InvalidResponse",
                                      "the response does not match the request" },
  [ENCLAVER_NSM_READ_ONLY_INDEX] = { "ReadOnlyIndex", "the PCR is locked (read-only)" },
  [ENCLAVER_NSM_INVALID_OPERATION] = { "InvalidOperation",
                                       "the NSM does not support this request (unknown or malformed)" },
  [ENCLAVER_NSM_BUFFER_TOO_SMALL] = { "BufferTooSmall", "an output buffer of the NSM was too small" },
  [ENCLAVER_NSM_INPUT_TOO_LARGE] = { "InputTooLarge",
                                     "the input is too large (request over 4096 bytes, or a "
                                     "response that would exceed 12288 bytes)" },
  [ENCLAVER_NSM_INTERNAL_ERROR] = { "InternalError", "internal failure of the NSM" },
  [ENCLAVER_NSM_UNKNOWN_CODE] = { "(unknown)", "an error code this client does not know" },
};

enum enclaver_nsm_code
enclaver_nsm_code_from_name (const char *name, size_t len)
{
  for (int i = 0; i < ENCLAVER_NSM_UNKNOWN_CODE; i++)
    if (strlen (codes[i].name) == len && memcmp (codes[i].name, name, len) == 0)
      return (enum enclaver_nsm_code) i;
  return ENCLAVER_NSM_UNKNOWN_CODE;
}

const char *
enclaver_nsm_code_name (enum enclaver_nsm_code c)
{
  return (unsigned) c <= ENCLAVER_NSM_UNKNOWN_CODE ? codes[c].name : "(unknown)";
}

const char *
enclaver_nsm_code_message (enum enclaver_nsm_code c)
{
  return (unsigned) c <= ENCLAVER_NSM_UNKNOWN_CODE ? codes[c].message : codes[ENCLAVER_NSM_UNKNOWN_CODE].message;
}

/* ---- transports ---- */

static int
ioctl_exchange (void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                char *err, size_t errlen)
{
  struct enclaver_nsm *nsm = ctx;
  struct rt_nsm_raw m;

  m.request.addr = (uintptr_t) req;
  m.request.len = req_len;
  m.response.addr = (uintptr_t) resp;
  m.response.len = ENCLAVER_NSM_RESPONSE_MAX; /* always the full 12 KiB (QEMU insists) */
  if (ioctl (nsm->fd, RT_NSM_IOCTL_RAW, &m) != 0)
    {
      if (errno == EMSGSIZE)
        return rt_err (err, errlen, "ioctl: the request of %zu bytes is too large for the NSM",
                       req_len);
      return rt_err (err, errlen, "ioctl: %s", strerror (errno));
    }
  if (m.response.len > ENCLAVER_NSM_RESPONSE_MAX)
    return rt_err (err, errlen, "ioctl: response length %llu exceeds the %d-byte buffer",
                   (unsigned long long) m.response.len, ENCLAVER_NSM_RESPONSE_MAX);
  *resp_len = (size_t) m.response.len;
  return 0;
}

static long long
mono_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Full read or write of n bytes on a blocking socket, bounded by deadline. */
static int
sock_io (int fd, int writing, uint8_t *p, size_t n, long long deadline)
{
  while (n > 0)
    {
      struct pollfd pf = { fd, (short) (writing ? POLLOUT : POLLIN), 0 };
      long long left = deadline - mono_ms ();
      ssize_t r;
      if (left <= 0)
        {
          errno = ETIMEDOUT;
          return -1;
        }
      r = poll (&pf, 1, (int) left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          if (r == 0)
            errno = ETIMEDOUT;
          return -1;
        }
      r = writing ? send (fd, p, n, MSG_NOSIGNAL) : recv (fd, p, n, 0);
      if (r < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (r <= 0)
        {
          if (r == 0)
            errno = ECONNRESET;
          return -1;
        }
      p += r;
      n -= (size_t) r;
    }
  return 0;
}

static int
socket_exchange (void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                 char *err, size_t errlen)
{
  struct enclaver_nsm *nsm = ctx;
  long long deadline = mono_ms () + ENCLAVER_NSM_SOCKET_TIMEOUT_MS;
  uint8_t hdr[4];
  uint32_t n;
  int fd, r;
  char e[256];

  fd = enclaver_transport_connect (nsm->addr, e, sizeof e);
  if (fd < 0)
    return rt_err (err, errlen, "%s", e);
  hdr[0] = (uint8_t) (req_len >> 24);
  hdr[1] = (uint8_t) (req_len >> 16);
  hdr[2] = (uint8_t) (req_len >> 8);
  hdr[3] = (uint8_t) req_len;
  r = sock_io (fd, 1, hdr, 4, deadline) < 0 || sock_io (fd, 1, (uint8_t *) req, req_len, deadline) < 0;
  if (r)
    {
      r = rt_err (err, errlen, "sending the request: %s", strerror (errno));
      close (fd);
      return r;
    }
  if (sock_io (fd, 0, hdr, 4, deadline) < 0)
    {
      r = rt_err (err, errlen, "reading the response length: %s", strerror (errno));
      close (fd);
      return r;
    }
  n = (uint32_t) hdr[0] << 24 | (uint32_t) hdr[1] << 16 | (uint32_t) hdr[2] << 8 | hdr[3];
  if (n > ENCLAVER_NSM_RESPONSE_MAX)
    {
      close (fd);
      return rt_err (err, errlen, "the response claims %u bytes, more than the NSM's %d", n,
                     ENCLAVER_NSM_RESPONSE_MAX);
    }
  if (sock_io (fd, 0, resp, n, deadline) < 0)
    {
      r = rt_err (err, errlen, "reading the %u-byte response: %s", n, strerror (errno));
      close (fd);
      return r;
    }
  close (fd);
  *resp_len = n;
  return 0;
}

/* Under emulation the kernel command line may name the emulated NSM of the host
 * (enclaver.nsm=vsock:3:PORT, added by `enclaver run --qemu`): the default device then. */
static const char *
default_device (char *buf, size_t len)
{
  static const char key[] = "enclaver.nsm=";
  char cl[4097];
  const char *p;
  ssize_t r;
  int fd;
  if (enclaver_transport_emulation () == ENCLAVER_EMULATION_NONE)
    return ENCLAVER_NSM_DEVICE;
  fd = open ("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ENCLAVER_NSM_DEVICE;
  r = read (fd, cl, sizeof cl - 1);
  close (fd);
  cl[r > 0 ? r : 0] = '\0';
  for (p = cl; *p;)
    {
      size_t n;
      p += strspn (p, " \t\n");
      n = strcspn (p, " \t\n");
      if (n > sizeof key - 1 && n - (sizeof key - 1) < len && memcmp (p, key, sizeof key - 1) == 0)
        {
          memcpy (buf, p + sizeof key - 1, n - (sizeof key - 1));
          buf[n - (sizeof key - 1)] = '\0';
        }
      p += n;
    }
  return buf[0] ? buf : ENCLAVER_NSM_DEVICE;
}

struct enclaver_nsm *
enclaver_nsm_open (const char *device, int *missing, char *err, size_t errlen)
{
  struct enclaver_nsm *nsm;
  struct enclaver_transport_addr a;
  char e[256], dflt[128] = "";

  if (missing)
    *missing = 0;
  if (device == NULL || device[0] == '\0' || strcmp (device, ENCLAVER_NSM_DEVICE) == 0)
    device = default_device (dflt, sizeof dflt);
  nsm = xcalloc (1, sizeof *nsm);
  nsm->fd = -1;
  snprintf (nsm->name, sizeof nsm->name, "%s", device);
  if (device[0] == '/')
    {
      nsm->fd = open (device, O_RDWR | O_CLOEXEC);
      if (nsm->fd < 0)
        {
          if (missing && (errno == ENOENT || errno == ENODEV || errno == ENXIO))
            *missing = 1;
          rt_err (err, errlen, "NSM %s: cannot open: %s", device, strerror (errno));
          free (nsm);
          return NULL;
        }
      nsm->fn = ioctl_exchange;
    }
  else if (enclaver_transport_parse (device, &a, e, sizeof e) == 0)
    {
      nsm->addr = xstrdup (device);
      nsm->fn = socket_exchange;
    }
  else
    {
      rt_err (err, errlen,
              "NSM \"%s\": neither a device path (/dev/nsm) nor a transport address "
              "(unix:PATH, vsock:CID:PORT): %s",
              device, e);
      free (nsm);
      return NULL;
    }
  nsm->ctx = nsm;
  return nsm;
}

struct enclaver_nsm *
enclaver_nsm_open_transport (enclaver_nsm_exchange_fn fn, void *ctx, const char *name)
{
  struct enclaver_nsm *nsm = xcalloc (1, sizeof *nsm);
  nsm->fd = -1;
  nsm->fn = fn;
  nsm->ctx = ctx;
  snprintf (nsm->name, sizeof nsm->name, "%s", name ? name : "NSM");
  return nsm;
}

void
enclaver_nsm_close (struct enclaver_nsm *nsm)
{
  if (nsm == NULL)
    return;
  if (nsm->fd >= 0)
    close (nsm->fd);
  free (nsm->addr);
  free (nsm);
}

const char *
enclaver_nsm_name (const struct enclaver_nsm *nsm)
{
  return nsm->name;
}

enum enclaver_nsm_code
enclaver_nsm_last_code (const struct enclaver_nsm *nsm)
{
  return nsm->last;
}

/* ---- encoding (serde_cbor: struct variants are {Name: {fields in declaration order}},
 * None is null, integers shortest) ---- */

void
enclaver_nsm_encode_get_random (struct cbor_buf *b)
{
  cbor_put_tstr (b, "GetRandom");
}

void
enclaver_nsm_encode_describe_nsm (struct cbor_buf *b)
{
  cbor_put_tstr (b, "DescribeNSM");
}

void
enclaver_nsm_encode_describe_pcr (struct cbor_buf *b, uint16_t index)
{
  cbor_put_head (b, CBOR_MAP, 1);
  cbor_put_tstr (b, "DescribePCR");
  cbor_put_head (b, CBOR_MAP, 1);
  cbor_put_tstr (b, "index");
  cbor_put_head (b, CBOR_UINT, index);
}

static void
put_opt_bstr (struct cbor_buf *b, const char *key, const uint8_t *p, size_t n)
{
  cbor_put_tstr (b, key);
  if (p == NULL)
    cbor_put_simple (b, CBOR_NULL);
  else
    cbor_put_bstr (b, p, n);
}

void
enclaver_nsm_encode_attestation (struct cbor_buf *b, const uint8_t *user_data, size_t user_data_len,
                                 const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key,
                                 size_t public_key_len)
{
  cbor_put_head (b, CBOR_MAP, 1);
  cbor_put_tstr (b, "Attestation");
  cbor_put_head (b, CBOR_MAP, 3);
  put_opt_bstr (b, "user_data", user_data, user_data_len);
  put_opt_bstr (b, "nonce", nonce, nonce_len);
  put_opt_bstr (b, "public_key", public_key, public_key_len);
}

/* ---- decoding ---- */

int
enclaver_nsm_parse_outer (const uint8_t *resp, size_t len, const char *name, struct cbor_cur *body,
                          enum enclaver_nsm_code *code, char *err, size_t errlen)
{
  struct cbor_cur c = { .p = resp, .len = len, .what = "NSM response" };
  const char *k;
  size_t kl;
  uint64_t n;
  char e[256];

  *code = ENCLAVER_NSM_OK;
  if (ecbor_peek_major (&c) == CBOR_TSTR && ecbor_get_tstr (&c, &k, &kl, e, sizeof e) == 0)
    return rt_err (err, errlen, "NSM response: a bare variant '%.*s' where %s {...} was expected",
                   (int) (kl > 64 ? 64 : kl), k, name);
  c.pos = 0;
  if (ecbor_get_container (&c, CBOR_MAP, &n, e, sizeof e) < 0)
    return rt_err (err, errlen, "%s", e);
  if (n != 1)
    return rt_err (err, errlen, "NSM response: a map of %llu entries, not the one of a variant",
                   (unsigned long long) n);
  if (ecbor_get_tstr (&c, &k, &kl, e, sizeof e) < 0)
    return rt_err (err, errlen, "%s (the variant name)", e);
  if (kl == 5 && memcmp (k, "Error", 5) == 0)
    {
      const char *cn;
      size_t cl;
      if (ecbor_get_tstr (&c, &cn, &cl, e, sizeof e) < 0 || ecbor_expect_end (&c, e, sizeof e) < 0)
        return rt_err (err, errlen, "%s (in an Error response)", e);
      *code = enclaver_nsm_code_from_name (cn, cl);
      return rt_err (err, errlen, "the NSM answered %s with the error %.*s: %s", name,
                     (int) (cl > 64 ? 64 : cl), cn, enclaver_nsm_code_message (*code));
    }
  if (kl != strlen (name) || memcmp (k, name, kl) != 0)
    return rt_err (err, errlen, "NSM response: unexpected variant '%.*s' (wanted %s)",
                   (int) (kl > 64 ? 64 : kl), k, name);
  *body = c;
  return 0;
}

/* A struct variant's body: a map whose text keys are all in `keys` (each once).  For
 * each key in turn, cb is called with the cursor at its value; *seen gets a bit per key. */
typedef int (*field_fn) (struct cbor_cur *c, size_t key, void *out, char *err, size_t errlen);

static int
parse_fields (struct cbor_cur *c, const char *what, const char *const *keys, size_t nkeys,
              unsigned required, field_fn cb, void *out, char *err, size_t errlen)
{
  uint64_t n;
  unsigned seen = 0;
  char e[256];

  if (ecbor_get_container (c, CBOR_MAP, &n, e, sizeof e) < 0)
    return rt_err (err, errlen, "%s (%s body)", e, what);
  for (uint64_t i = 0; i < n; i++)
    {
      const char *k;
      size_t kl, ki;
      if (ecbor_get_tstr (c, &k, &kl, e, sizeof e) < 0)
        return rt_err (err, errlen, "%s (%s field name)", e, what);
      for (ki = 0; ki < nkeys; ki++)
        if (strlen (keys[ki]) == kl && memcmp (keys[ki], k, kl) == 0)
          break;
      if (ki == nkeys)
        return rt_err (err, errlen, "NSM response: %s has an unknown field '%.*s'", what,
                       (int) (kl > 64 ? 64 : kl), k);
      if (seen & (1u << ki))
        return rt_err (err, errlen, "NSM response: %s has the field '%s' twice", what, keys[ki]);
      seen |= 1u << ki;
      if (cb (c, ki, out, e, sizeof e) < 0)
        return rt_err (err, errlen, "%s (%s field '%s')", e, what, keys[ki]);
    }
  if (ecbor_expect_end (c, e, sizeof e) < 0)
    return rt_err (err, errlen, "%s", e);
  for (size_t ki = 0; ki < nkeys; ki++)
    if ((required & (1u << ki)) && !(seen & (1u << ki)))
      return rt_err (err, errlen, "NSM response: %s lacks the field '%s'", what, keys[ki]);
  return 0;
}

struct bytes_out
{
  const uint8_t *p;
  size_t n;
};

static int
field_bytes (struct cbor_cur *c, size_t key, void *out, char *err, size_t errlen)
{
  struct bytes_out *b = out;
  (void) key;
  return ecbor_get_bstr (c, &b->p, &b->n, err, errlen);
}

int
enclaver_nsm_parse_get_random (const uint8_t *resp, size_t len, const uint8_t **data, size_t *n,
                               char *err, size_t errlen)
{
  static const char *const keys[] = { "random" };
  struct cbor_cur body;
  enum enclaver_nsm_code code;
  struct bytes_out b = { NULL, 0 };

  if (enclaver_nsm_parse_outer (resp, len, "GetRandom", &body, &code, err, errlen) < 0
      || parse_fields (&body, "GetRandom", keys, 1, 1, field_bytes, &b, err, errlen) < 0)
    return -1;
  *data = b.p;
  *n = b.n;
  return 0;
}

/* One exchange: encode, send, check the outer shape; body on success. */
static int
call (struct enclaver_nsm *nsm, const char *name, struct cbor_buf *req, uint8_t *resp,
      struct cbor_cur *body, char *err, size_t errlen)
{
  size_t rlen = 0;
  char e[512];
  enum enclaver_nsm_code code;

  nsm->last = ENCLAVER_NSM_OK;
  if (req->len > ENCLAVER_NSM_REQUEST_MAX)
    {
      nsm->last = ENCLAVER_NSM_INPUT_TOO_LARGE;
      return rt_err (err, errlen, "NSM %s: the %s request is %zu bytes, more than the NSM's %d",
                     nsm->name, name, req->len, ENCLAVER_NSM_REQUEST_MAX);
    }
  if (nsm->fn (nsm->ctx, req->data, req->len, resp, &rlen, e, sizeof e) < 0)
    return rt_err (err, errlen, "NSM %s: %s: %s", nsm->name, name, e);
  if (enclaver_nsm_parse_outer (resp, rlen, name, body, &code, e, sizeof e) < 0)
    {
      nsm->last = code;
      return rt_err (err, errlen, "NSM %s: %s", nsm->name, e);
    }
  return 0;
}

long
enclaver_nsm_get_random (struct enclaver_nsm *nsm, uint8_t *out, size_t cap, char *err, size_t errlen)
{
  static const char *const keys[] = { "random" };
  uint8_t *resp = xmalloc (ENCLAVER_NSM_RESPONSE_MAX);
  struct cbor_buf req = { 0 };
  struct cbor_cur body;
  struct bytes_out b = { NULL, 0 };
  char e[512];
  long r = -1;

  enclaver_nsm_encode_get_random (&req);
  if (call (nsm, "GetRandom", &req, resp, &body, err, errlen) == 0)
    {
      if (parse_fields (&body, "GetRandom", keys, 1, 1, field_bytes, &b, e, sizeof e) < 0)
        rt_err (err, errlen, "NSM %s: %s", nsm->name, e);
      else if (b.n == 0)
        rt_err (err, errlen, "NSM %s: GetRandom returned no bytes", nsm->name);
      else
        {
          if (b.n > cap)
            b.n = cap;
          memcpy (out, b.p, b.n);
          r = (long) b.n;
        }
    }
  explicit_bzero (resp, ENCLAVER_NSM_RESPONSE_MAX);
  free (resp);
  cbor_buf_free (&req);
  return r;
}

int
enclaver_nsm_attestation (struct enclaver_nsm *nsm, const uint8_t *user_data, size_t user_data_len,
                          const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key,
                          size_t public_key_len, uint8_t **doc, size_t *doc_len, char *err,
                          size_t errlen)
{
  static const char *const keys[] = { "document" };
  uint8_t *resp = xmalloc (ENCLAVER_NSM_RESPONSE_MAX);
  struct cbor_buf req = { 0 };
  struct cbor_cur body;
  struct bytes_out b = { NULL, 0 };
  char e[512];
  int r = -1;

  enclaver_nsm_encode_attestation (&req, user_data, user_data_len, nonce, nonce_len, public_key,
                                   public_key_len);
  if (call (nsm, "Attestation", &req, resp, &body, err, errlen) == 0)
    {
      if (parse_fields (&body, "Attestation", keys, 1, 1, field_bytes, &b, e, sizeof e) < 0)
        rt_err (err, errlen, "NSM %s: %s", nsm->name, e);
      else if (b.n == 0)
        rt_err (err, errlen, "NSM %s: Attestation returned an empty document", nsm->name);
      else
        {
          *doc = xmalloc (b.n);
          memcpy (*doc, b.p, b.n);
          *doc_len = b.n;
          r = 0;
        }
    }
  free (resp);
  cbor_buf_free (&req);
  return r;
}

static int
field_pcr (struct cbor_cur *c, size_t key, void *out, char *err, size_t errlen)
{
  struct enclaver_nsm_pcr *p = out;
  const uint8_t *d;
  size_t n;
  if (key == 0)
    return ecbor_get_bool (c, &p->locked, err, errlen);
  if (ecbor_get_bstr (c, &d, &n, err, errlen) < 0)
    return -1;
  if (n != 32 && n != 48 && n != 64)
    return rt_err (err, errlen, "a PCR of %zu bytes (not 32, 48 or 64)", n);
  memcpy (p->data, d, n);
  p->len = n;
  return 0;
}

int
enclaver_nsm_describe_pcr (struct enclaver_nsm *nsm, uint16_t index, struct enclaver_nsm_pcr *out,
                           char *err, size_t errlen)
{
  static const char *const keys[] = { "lock", "data" };
  uint8_t *resp = xmalloc (ENCLAVER_NSM_RESPONSE_MAX);
  struct cbor_buf req = { 0 };
  struct cbor_cur body;
  char e[512], what[32];
  int r = -1;

  memset (out, 0, sizeof *out);
  enclaver_nsm_encode_describe_pcr (&req, index);
  snprintf (what, sizeof what, "DescribePCR %u", (unsigned) index);
  if (call (nsm, "DescribePCR", &req, resp, &body, err, errlen) == 0)
    {
      if (parse_fields (&body, what, keys, 2, 3, field_pcr, out, e, sizeof e) < 0)
        rt_err (err, errlen, "NSM %s: %s", nsm->name, e);
      else
        r = 0;
    }
  free (resp);
  cbor_buf_free (&req);
  return r;
}

static int
field_nsm (struct cbor_cur *c, size_t key, void *out, char *err, size_t errlen)
{
  struct enclaver_nsm_description *d = out;
  uint64_t v, n;
  const char *s;
  size_t sl;

  switch (key)
    {
    case 0: /* version_major */
    case 1:
    case 2:
    case 4: /* max_pcrs */
      if (ecbor_get_uint (c, UINT16_MAX, &v, err, errlen) < 0)
        return -1;
      if (key == 0)
        d->version_major = (uint16_t) v;
      else if (key == 1)
        d->version_minor = (uint16_t) v;
      else if (key == 2)
        d->version_patch = (uint16_t) v;
      else
        d->max_pcrs = (uint16_t) v;
      return 0;
    case 3: /* module_id */
    case 6: /* digest */
      if (ecbor_get_tstr (c, &s, &sl, err, errlen) < 0)
        return -1;
      if (sl == 0 || memchr (s, 0, sl) || sl >= (key == 3 ? sizeof d->module_id : sizeof d->digest))
        return rt_err (err, errlen, "a text of %zu bytes (empty, too long or with NUL)", sl);
      memcpy (key == 3 ? d->module_id : d->digest, s, sl);
      (key == 3 ? d->module_id : d->digest)[sl] = '\0';
      if (key == 6 && strcmp (d->digest, "SHA256") && strcmp (d->digest, "SHA384")
          && strcmp (d->digest, "SHA512"))
        return rt_err (err, errlen, "unknown digest '%s'", d->digest);
      return 0;
    case 5: /* locked_pcrs */
      if (ecbor_get_container (c, CBOR_ARRAY, &n, err, errlen) < 0)
        return -1;
      for (uint64_t i = 0; i < n; i++)
        {
          if (ecbor_get_uint (c, 63, &v, err, errlen) < 0)
            return -1;
          d->locked_pcrs |= (uint64_t) 1 << v;
        }
      return 0;
    }
  return 0;
}

int
enclaver_nsm_describe_nsm (struct enclaver_nsm *nsm, struct enclaver_nsm_description *out, char *err,
                           size_t errlen)
{
  static const char *const keys[] = { "version_major", "version_minor", "version_patch", "module_id",
                                      "max_pcrs",      "locked_pcrs",   "digest" };
  uint8_t *resp = xmalloc (ENCLAVER_NSM_RESPONSE_MAX);
  struct cbor_buf req = { 0 };
  struct cbor_cur body;
  char e[512];
  int r = -1;

  memset (out, 0, sizeof *out);
  enclaver_nsm_encode_describe_nsm (&req);
  if (call (nsm, "DescribeNSM", &req, resp, &body, err, errlen) == 0)
    {
      if (parse_fields (&body, "DescribeNSM", keys, 7, 0x7f, field_nsm, out, e, sizeof e) < 0)
        rt_err (err, errlen, "NSM %s: %s", nsm->name, e);
      else
        r = 0;
    }
  free (resp);
  cbor_buf_free (&req);
  return r;
}

/* ---- RNG seeding ---- */

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
  struct enclaver_nsm *nsm;
  long n;
  int rfd, r = 1, missing;

  nsm = enclaver_nsm_open (device, &missing, err, errlen);
  if (nsm == NULL)
    return missing ? 0 : -1;
  n = enclaver_nsm_get_random (nsm, buf, sizeof buf, err, errlen);
  enclaver_nsm_close (nsm);
  if (n < 0)
    return -1;
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
