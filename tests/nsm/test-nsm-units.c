/* The CBOR decoder's limits (common/cbor.c) and the NSM client's codec (runtime/nsm.c)
 * over the function-pointer seam, with hand-written bytes: the request bytes of
 * ATTESTATION.md §2.2, and responses in serde's and QEMU's field orders, truncated,
 * indefinite, too deep, with huge lengths and every NSM error code. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tap.h"
#include "common/cbor.h"
#include "nsm.h"
#include "transport.h"

static char err[1024];

static int
dec_skip (const void *p, size_t len, int minimal)
{
  struct cbor_cur c = { .p = p, .len = len, .what = "test", .minimal = minimal };
  if (ecbor_skip (&c, 0, err, sizeof err) < 0)
    return -1;
  return ecbor_expect_end (&c, err, sizeof err);
}

static void
test_decoder_limits (void)
{
  static const uint8_t ok_map[] = { 0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x82, 0xf5, 0x40 };
  uint8_t deep[64];
  size_t i;
  struct cbor_cur c;
  const uint8_t *d;
  size_t n;
  uint64_t v;

  TAP_INT_EQ (dec_skip (ok_map, sizeof ok_map, 1), 0, "cbor: a small map decodes");
  for (i = 0; i < sizeof ok_map; i++)
    if (dec_skip (ok_map, i, 0) != -1)
      break;
  TAP_INT_EQ (i, sizeof ok_map, "cbor: every truncation of it is refused");
  TAP_INT_EQ (dec_skip (ok_map, 3, 0), -1, "cbor: truncation in the middle ...");
  TAP_CONTAINS (err, "truncated", "cbor: ... says truncated");
  TAP_CONTAINS (err, "test: offset 3", "cbor: ... with what and the offset");

  TAP_INT_EQ (dec_skip ("\x5f\x41\x00\xff", 4, 0), -1, "cbor: indefinite byte string refused");
  TAP_CONTAINS (err, "indefinite", "cbor: ... as indefinite");
  TAP_INT_EQ (dec_skip ("\x9f\x01\xff", 3, 0), -1, "cbor: indefinite array refused");
  TAP_INT_EQ (dec_skip ("\xbf\xff", 2, 0), -1, "cbor: indefinite map refused");
  TAP_INT_EQ (dec_skip ("\x1c", 1, 0), -1, "cbor: reserved additional information 28 refused");
  TAP_CONTAINS (err, "reserved", "cbor: ... as reserved");
  TAP_INT_EQ (dec_skip ("\xf8\x10", 2, 0), -1, "cbor: two-byte simple value below 32 refused");

  for (i = 0; i < sizeof deep; i++)
    deep[i] = 0x81; /* [[[[...]]]] */
  deep[sizeof deep - 1] = 0x00;
  TAP_INT_EQ (dec_skip (deep, sizeof deep, 0), -1, "cbor: 63 nested arrays refused");
  TAP_CONTAINS (err, "nested deeper", "cbor: ... as too deep");
  TAP_INT_EQ (dec_skip (deep + sizeof deep - CBOR_MAX_DEPTH, CBOR_MAX_DEPTH, 0), 0,
              "cbor: nesting up to the limit decodes");

  /* Huge claimed lengths are errors before anything is read or allocated. */
  c = (struct cbor_cur) { .p = (const uint8_t *) "\x5b\xff\xff\xff\xff\xff\xff\xff\xff\x00", .len = 10,
                          .what = "test" };
  TAP_INT_EQ (ecbor_get_bstr (&c, &d, &n, err, sizeof err), -1, "cbor: 2^64-1-byte string refused");
  TAP_CONTAINS (err, "overruns", "cbor: ... as overrunning the data");
  TAP_INT_EQ (c.pos, 0, "cbor: ... and the cursor stays at the item");
  c = (struct cbor_cur) { .p = (const uint8_t *) "\x9b\x00\x00\x00\x01\x00\x00\x00\x00\x00", .len = 10 };
  TAP_INT_EQ (ecbor_get_container (&c, CBOR_ARRAY, &v, err, sizeof err), -1,
              "cbor: array of 2^32 elements in 10 bytes refused");
  TAP_CONTAINS (err, "claims", "cbor: ... as claiming more than the data holds");
  TAP_INT_EQ (dec_skip ("\xbb\x7f\xff\xff\xff\xff\xff\xff\xff", 9, 0), -1,
              "cbor: skipping a map of 2^63-1 pairs refused");
  {
    uint8_t *arr = NULL;
    c = (struct cbor_cur) { .p = (const uint8_t *) "\x9a\x7f\xff\xff\xff\x01", .len = 6 };
    TAP_INT_EQ (ecbor_get_u8_array (&c, &arr, &n, err, sizeof err), -1,
                "cbor: byte array claiming 2^31 elements refused (no allocation of that size)");
    c = (struct cbor_cur) { .p = (const uint8_t *) "\x83\x01\x18\xff\x19\x01\x00", .len = 7 };
    TAP_INT_EQ (ecbor_get_u8_array (&c, &arr, &n, err, sizeof err), -1,
                "cbor: byte array element 256 refused");
  }

  /* Non-minimal heads: accepted by default (QEMU, other encoders), refused in minimal mode. */
  TAP_INT_EQ (dec_skip ("\x18\x05", 2, 0), 0, "cbor: 18 05 accepted by default");
  TAP_INT_EQ (dec_skip ("\x18\x05", 2, 1), -1, "cbor: 18 05 refused in minimal mode");
  TAP_CONTAINS (err, "non-minimal", "cbor: ... as non-minimal");
  TAP_INT_EQ (dec_skip ("\x18\x18", 2, 1), 0, "cbor: 18 18 (24) is minimal");
  TAP_INT_EQ (dec_skip ("\x19\x00\xff", 3, 1), -1, "cbor: 19 00 ff refused in minimal mode");
  TAP_INT_EQ (dec_skip ("\x19\x01\x00", 3, 1), 0, "cbor: 19 01 00 is minimal");
  TAP_INT_EQ (dec_skip ("\x1a\x00\x00\xff\xff", 5, 1), -1, "cbor: 1a 0000ffff refused in minimal mode");
  TAP_INT_EQ (dec_skip ("\x1b\x00\x00\x00\x00\xff\xff\xff\xff", 9, 1), -1,
              "cbor: 1b 00000000ffffffff refused in minimal mode");
  TAP_INT_EQ (dec_skip ("\x1b\x00\x00\x00\x01\x00\x00\x00\x00", 9, 1), 0, "cbor: 1b 2^32 is minimal");
  TAP_INT_EQ (dec_skip ("\xf9\x3c\x00", 3, 1), 0, "cbor: a half float is not a long small number");

  /* Text strings must be UTF-8. */
  TAP_INT_EQ (dec_skip ("\x62\xc3\xa9", 3, 0), 0, "cbor: UTF-8 text accepted");
  TAP_INT_EQ (dec_skip ("\x62\xc0\x80", 3, 0), -1, "cbor: overlong UTF-8 refused");
  TAP_INT_EQ (dec_skip ("\x63\xed\xa0\x80", 4, 0), -1, "cbor: UTF-8 surrogate refused");
  TAP_INT_EQ (dec_skip ("\x61\xff", 2, 0), -1, "cbor: byte 0xff in text refused");
  TAP_CONTAINS (err, "UTF-8", "cbor: ... as not UTF-8");

  TAP_INT_EQ (dec_skip ("\x01\x02", 2, 0), -1, "cbor: trailing bytes refused");
  TAP_CONTAINS (err, "trailing", "cbor: ... as trailing");

  /* The encoder writes shortest heads. */
  {
    struct cbor_buf b = { 0 };
    static const uint8_t want[] = { 0x17, 0x18, 0x18, 0x19, 0x01, 0x00, 0x1a, 0x00, 0x01, 0x00, 0x00,
                                    0x1b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x20, 0x38, 0x22 };
    cbor_put_int (&b, 23);
    cbor_put_int (&b, 24);
    cbor_put_int (&b, 256);
    cbor_put_int (&b, 65536);
    cbor_put_int (&b, 1LL << 32);
    cbor_put_int (&b, -1);
    cbor_put_int (&b, -35);
    tap_ok (b.len == sizeof want && memcmp (b.data, want, sizeof want) == 0,
            "cbor: encoder heads are the shortest (23, 24, 256, 65536, 2^32, -1, -35)");
    c = (struct cbor_cur) { .p = b.data, .len = b.len, .minimal = 1 };
    for (i = 0; i < 7; i++)
      if (ecbor_skip (&c, 0, err, sizeof err) < 0)
        break;
    TAP_INT_EQ (i, 7, "cbor: ... and the decoder in minimal mode reads them back");
    cbor_buf_free (&b);
  }
}

/* ---- the NSM client over a function seam ---- */

struct canned
{
  uint8_t req[ENCLAVER_NSM_REQUEST_MAX + 16];
  size_t req_len;
  const uint8_t *resp;
  size_t resp_len;
  int fail;
};

static int
canned_exchange (void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                 char *e, size_t elen)
{
  struct canned *k = ctx;
  if (req_len <= sizeof k->req)
    memcpy (k->req, req, req_len);
  k->req_len = req_len;
  if (k->fail)
    {
      snprintf (e, elen, "canned transport failure");
      return -1;
    }
  memcpy (resp, k->resp, k->resp_len);
  *resp_len = k->resp_len;
  return 0;
}

static size_t
hex (const char *h, uint8_t *out)
{
  size_t n = 0;
  while (h[0] && h[1])
    {
      if (h[0] == ' ')
        {
          h++;
          continue;
        }
      sscanf (h, "%2hhx", &out[n++]);
      h += 2;
    }
  return n;
}

static void
test_requests (void)
{
  struct cbor_buf b = { 0 };
  uint8_t want[128], nonce[16];
  size_t n, i;

  enclaver_nsm_encode_get_random (&b);
  n = hex ("69 47 65 74 52 61 6E 64 6F 6D", want);
  tap_ok (b.len == n && memcmp (b.data, want, n) == 0, "nsm: GetRandom request bytes");
  b.len = 0;
  enclaver_nsm_encode_describe_nsm (&b);
  n = hex ("6B 44 65 73 63 72 69 62 65 4E 53 4D", want);
  tap_ok (b.len == n && memcmp (b.data, want, n) == 0, "nsm: DescribeNSM request bytes");
  b.len = 0;
  enclaver_nsm_encode_describe_pcr (&b, 16);
  n = hex ("A1 6B 4465736372696265504352 A1 65 696E646578 10", want);
  tap_ok (b.len == n && memcmp (b.data, want, n) == 0, "nsm: DescribePCR{16} request bytes");
  b.len = 0;
  enclaver_nsm_encode_attestation (&b, NULL, 0, NULL, 0, NULL, 0);
  n = hex ("A1 6B 4174746573746174696F6E A3 69 757365725F64617461 F6 65 6E6F6E6365 F6 6A "
           "7075626C69635F6B6579 F6",
           want);
  tap_ok (b.len == n && memcmp (b.data, want, n) == 0, "nsm: Attestation{null, null, null} request bytes");
  b.len = 0;
  for (i = 0; i < 16; i++)
    nonce[i] = (uint8_t) i;
  enclaver_nsm_encode_attestation (&b, NULL, 0, nonce, 16, NULL, 0);
  n = hex ("A1 6B 4174746573746174696F6E A3 69 757365725F64617461 F6 65 6E6F6E6365 50 "
           "000102030405060708090A0B0C0D0E0F 6A 7075626C69635F6B6579 F6",
           want);
  tap_ok (b.len == 60 && b.len == n && memcmp (b.data, want, n) == 0,
          "nsm: Attestation with a 16-byte nonce: the 60 bytes of ATTESTATION.md §2.2");
  b.len = 0;
  enclaver_nsm_encode_attestation (&b, (const uint8_t *) "", 0, NULL, 0, NULL, 0);
  tap_ok (b.len > 24 && b.data[24] == 0x40, "nsm: empty (non-NULL) user_data is an empty byte string, not null");
  cbor_buf_free (&b);
}

static void
test_responses (void)
{
  struct canned k = { 0 };
  struct enclaver_nsm *nsm = enclaver_nsm_open_transport (canned_exchange, &k, "canned");
  struct enclaver_nsm_pcr pcr;
  struct enclaver_nsm_description d;
  uint8_t r[4096], *doc = NULL;
  size_t n, dl = 0;
  long got;
  int i;

  /* DescribePCR in QEMU's order (data, lock), 48 bytes. */
  n = hex ("A1 6B 4465736372696265504352 A2 64 64617461 58 30", r);
  memset (r + n, 0xab, 48);
  n += 48;
  n += hex ("64 6C6F636B F5", r + n);
  k.resp = r;
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_describe_pcr (nsm, 3, &pcr, err, sizeof err), 0,
              "nsm: DescribePCR in QEMU's field order decodes");
  tap_ok (pcr.locked == 1 && pcr.len == 48 && pcr.data[47] == 0xab, "nsm: ... lock and 48 data bytes");
  tap_ok (k.req_len == 21 && k.req[20] == 0x03, "nsm: ... and the request carried index 3");
  k.resp_len = n - 1;
  TAP_INT_EQ (enclaver_nsm_describe_pcr (nsm, 3, &pcr, err, sizeof err), -1, "nsm: truncated DescribePCR refused");
  /* A repeated field. */
  n = hex ("A1 6B 4465736372696265504352 A2 64 6C6F636B F5 64 6C6F636B F4", r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_describe_pcr (nsm, 3, &pcr, err, sizeof err), -1, "nsm: a field twice refused");
  TAP_CONTAINS (err, "twice", "nsm: ... saying twice");
  n = hex ("A1 6B 4465736372696265504352 A1 64 6C6F636B F5", r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_describe_pcr (nsm, 3, &pcr, err, sizeof err), -1, "nsm: a missing field refused");
  TAP_CONTAINS (err, "lacks the field 'data'", "nsm: ... naming it");
  n = hex ("A1 6B 4465736372696265504352 A3 63 666F6F 00 64 6C6F636B F5 64 64617461 41 00", r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_describe_pcr (nsm, 3, &pcr, err, sizeof err), -1, "nsm: an unknown field refused");
  TAP_CONTAINS (err, "unknown field 'foo'", "nsm: ... naming it");

  /* DescribeNSM in QEMU's order, with non-minimal integers. */
  n = hex ("A1 6B 4465736372696265 4E534D A7 66 646967657374 66 534841333834 68 6D61785F70637273 18 20 "
           "69 6D6F64756C655F6964 6D 692D3233342D656E6335363738 6B 6C6F636B65645F70637273 82 00 19 000F "
           "6D 76657273696F6E5F6D616A6F72 01 6D 76657273696F6E5F6D696E6F72 00 6D 76657273696F6E5F7061746368 00",
           r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_describe_nsm (nsm, &d, err, sizeof err), 0, "nsm: DescribeNSM (QEMU's order) decodes");
  tap_ok (d.max_pcrs == 32 && strcmp (d.module_id, "i-234-enc5678") == 0 && strcmp (d.digest, "SHA384") == 0
              && d.locked_pcrs == ((1u << 0) | (1u << 15)) && d.version_major == 1,
          "nsm: ... with its values (and a non-minimal 19 000F)");

  /* Attestation. */
  n = hex ("A1 6B 4174746573746174696F6E A1 68 646F63756D656E74 45 8444A10138", r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_attestation (nsm, NULL, 0, (const uint8_t *) "n", 1, NULL, 0, &doc, &dl, err, sizeof err),
              0, "nsm: Attestation response decodes");
  tap_ok (dl == 5 && doc[0] == 0x84, "nsm: ... to the document bytes");
  free (doc);

  /* GetRandom and an empty answer. */
  n = hex ("A1 69 47657452616E646F6D A1 66 72616E646F6D 40", r);
  k.resp_len = n;
  TAP_INT_EQ (enclaver_nsm_get_random (nsm, r + 2000, 16, err, sizeof err), -1, "nsm: empty GetRandom refused");

  /* Every error code has its message; the code is remembered. */
  for (i = ENCLAVER_NSM_INVALID_ARGUMENT; i <= ENCLAVER_NSM_UNKNOWN_CODE; i++)
    {
      const char *name = i == ENCLAVER_NSM_UNKNOWN_CODE ? "NoSuchCode" : enclaver_nsm_code_name (i);
      char msg[256];
      n = hex ("A1 65 4572726F72", r);
      r[n++] = (uint8_t) (0x60 + strlen (name));
      memcpy (r + n, name, strlen (name));
      n += strlen (name);
      k.resp_len = n;
      got = enclaver_nsm_get_random (nsm, r + 2000, 16, err, sizeof err);
      snprintf (msg, sizeof msg, "%s", enclaver_nsm_code_message (i));
      tap_ok (got == -1 && strstr (err, name) && strstr (err, msg) && (int) enclaver_nsm_last_code (nsm) == i,
              "nsm: Error %s -> -1, named, explained (%s), code kept", name, msg);
    }
  /* Transport failures and oversize requests. */
  k.fail = 1;
  TAP_INT_EQ (enclaver_nsm_get_random (nsm, r, 16, err, sizeof err), -1, "nsm: transport failure reported");
  TAP_CONTAINS (err, "canned: GetRandom: canned transport failure", "nsm: ... naming the NSM and the request");
  k.fail = 0;
  {
    static uint8_t big[4000];
    TAP_INT_EQ (enclaver_nsm_attestation (nsm, big, 2000, big, 2000, big, 100, &doc, &dl, err, sizeof err), -1,
                "nsm: a request over 4096 bytes is refused before it is sent");
    TAP_INT_EQ (enclaver_nsm_last_code (nsm), ENCLAVER_NSM_INPUT_TOO_LARGE, "nsm: ... as InputTooLarge");
  }
  enclaver_nsm_close (nsm);
  {
    int missing = 0;
    tap_ok (enclaver_nsm_open ("/nonexistent/nsm", &missing, err, sizeof err) == NULL && missing == 1,
            "nsm: a missing device is reported as missing");
    tap_ok (enclaver_nsm_open ("bogus:x", &missing, err, sizeof err) == NULL && missing == 0,
            "nsm: an address of no known kind is refused");
    TAP_CONTAINS (err, "neither a device path", "nsm: ... saying what is accepted");
  }
}

/* The socket seam: a peer that claims a response longer than the NSM's 12288 bytes, and
 * one that closes mid-frame, are refused. */
static void
test_socket_seam (void)
{
  char dir[] = "/tmp/enclaver-nsmu.XXXXXX", addr[128], e[256] = "";
  uint8_t out[16];
  int lfd, round;

  if (mkdtemp (dir) == NULL)
    {
      tap_ok (0, "nsm: mkdtemp");
      return;
    }
  snprintf (addr, sizeof addr, "unix:%s/s", dir);
  lfd = enclaver_transport_listen (addr, e, sizeof e);
  tap_ok (lfd >= 0, "nsm: a socket for the seam (%s)", e);
  for (round = 0; round < 2 && lfd >= 0; round++)
    {
      pid_t pid = fork ();
      if (pid == 0)
        {
          static const uint8_t huge[] = { 0x00, 0x00, 0x30, 0x01 };     /* 12289 */
          static const uint8_t short_[] = { 0x00, 0x00, 0x00, 0x20, 0xa1 }; /* 32, then 1 */
          uint8_t buf[64];
          size_t got = 0, want = 4;
          int fd = accept (lfd, NULL, NULL);
          /* read the whole request frame (length, then body) before answering: closing
           * earlier would fail the client's send with EPIPE instead of the test's point */
          while (fd >= 0 && got < want)
            {
              ssize_t r = read (fd, buf + got, want - got);
              if (r <= 0)
                _exit (1);
              got += (size_t) r;
              if (got == 4)
                want = 4 + ((size_t) buf[0] << 24 | (size_t) buf[1] << 16 | (size_t) buf[2] << 8 | buf[3]);
              if (want > sizeof buf)
                _exit (1);
            }
          if (fd < 0)
            _exit (1);
          if (write (fd, round == 0 ? huge : short_, round == 0 ? sizeof huge : sizeof short_) < 0)
            _exit (1);
          close (fd);
          _exit (0);
        }
      {
        struct enclaver_nsm *nsm = enclaver_nsm_open (addr, NULL, err, sizeof err);
        long r = nsm ? enclaver_nsm_get_random (nsm, out, sizeof out, err, sizeof err) : 0;
        TAP_INT_EQ (r, -1, round == 0 ? "nsm: a response frame over 12288 bytes is refused"
                                      : "nsm: a response frame cut short is refused");
        TAP_CONTAINS (err, round == 0 ? "more than the NSM's 12288" : "reading the 32-byte response",
                      "nsm: ... saying so");
        enclaver_nsm_close (nsm);
        waitpid (pid, NULL, 0);
      }
    }
  if (lfd >= 0)
    close (lfd);
  snprintf (addr, sizeof addr, "%s/s", dir);
  unlink (addr);
  rmdir (dir);
}

int
main (void)
{
  test_decoder_limits ();
  test_requests ();
  test_responses ();
  test_socket_seam ();
  return tap_done ();
}
