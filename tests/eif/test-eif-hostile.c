/* enclaver tests: corrupted and hostile EIF files.
 *
 * Every case is made here from the golden vector1 image or from an image signed in the
 * test, then fed to the library reader (from a file and from memory) and to
 * `$ENCLAVER describe`.  Each must fail with an error naming the problem (exit status 1
 * for the CLI, never a crash); a few valid variants must pass. */
#include "config.h"

#include "tests/tap.h"
#include "tests/eif/eif-test-util.h"

enum kind
{
  READ_FAIL,  /* enclaver_eif_read fails */
  CHECK_FAIL, /* read succeeds, enclaver_eif_check fails (CRC / signature) */
  VALID,      /* must be accepted */
};

static char *tmp;
static const char *enclaver_bin;
static int ncases;

static void
run_case (const char *name, const uint8_t *buf, size_t len, enum kind kind, const char *want)
{
  char *path, *out, *errp;
  struct enclaver_eif_info info, info2;
  enclaver_error_t err = NULL, err2 = NULL;
  int r, r2, ok;
  const char *msg = NULL;

  ncases++;
  if (asprintf (&path, "%s/case%03d.eif", tmp, ncases) < 0 || asprintf (&out, "%s/out", tmp) < 0
      || asprintf (&errp, "%s/err", tmp) < 0)
    abort ();
  if (spit (path, buf, len) < 0)
    abort ();

  r = enclaver_eif_read (path, 0, &info, &err);
  r2 = enclaver_eif_read_buffer (buf, len, 0, &info2, &err2);
  if (kind == READ_FAIL)
    {
      msg = err ? err->msg : NULL;
      ok = r < 0 && r2 < 0 && msg && strstr (msg, want) && err2 && strstr (err2->msg, want);
    }
  else
    {
      ok = r == 0 && r2 == 0;
      if (ok)
        {
          int c = enclaver_eif_check (&info, &err);
          msg = err ? err->msg : NULL;
          ok = kind == VALID ? c == 0 : (c < 0 && msg && strstr (msg, want));
        }
      else
        msg = err ? err->msg : err2 ? err2->msg : NULL;
    }
  tap_ok (ok, "%s: library %s%s%s", name, kind == VALID ? "accepts" : "rejects",
          kind == VALID ? "" : " with: ", kind == VALID ? "" : want);
  if (!ok)
    tap_diag ("  message: %s", msg ? msg : "(none)");
  else if (msg)
    tap_diag ("  %s", msg);
  if (r == 0)
    enclaver_eif_info_clear (&info);
  if (r2 == 0)
    enclaver_eif_info_clear (&info2);
  enclaver_error_release (&err);
  enclaver_error_release (&err2);

  if (enclaver_bin)
    {
      char *argv[] = { (char *) enclaver_bin, (char *) "describe", path, NULL };
      int rc = run_capture (argv, out, errp);
      size_t elen = 0;
      char *etext = (char *) slurp (errp, &elen);
      int want_rc = kind == VALID ? 0 : 1;
      if (etext)
        etext[elen] = '\0';
      ok = rc == want_rc && (kind == VALID || (etext && strstr (etext, want)));
      tap_ok (ok, "%s: enclaver describe exits %d", name, want_rc);
      if (!ok)
        tap_diag ("  exit %d, stderr: %s", rc, etext ? etext : "");
      free (etext);
    }
  unlink (path);
  free (path);
  free (out);
  free (errp);
}

static uint8_t *
dup_buf (const uint8_t *b, size_t len)
{
  uint8_t *p = malloc (len ? len : 1);
  memcpy (p, b, len);
  return p;
}

/* Sections of an image, parsed from its (trusted) table. */
struct img
{
  uint8_t *buf;
  size_t len;
  int n;
  struct tsec s[32];
  uint64_t off[32];
};

static void
parse_img (struct img *im)
{
  im->n = (im->buf[26] << 8) | im->buf[27];
  for (int i = 0; i < im->n; i++)
    {
      uint64_t off = get_be64 (im->buf + 28 + 8 * i), size = get_be64 (im->buf + 284 + 8 * i);
      im->off[i] = off;
      im->s[i].type = (uint16_t) ((im->buf[off] << 8) | im->buf[off + 1]);
      im->s[i].data = im->buf + off + 12;
      im->s[i].len = size;
    }
}

static void
case_mutated (const char *name, const struct img *im, size_t at, const void *bytes, size_t n, int fixcrc,
              enum kind kind, const char *want)
{
  uint8_t *b = dup_buf (im->buf, im->len);
  memcpy (b + at, bytes, n);
  if (fixcrc)
    fix_crc (b, im->len);
  run_case (name, b, im->len, kind, want);
  free (b);
}

static void
case_be64 (const char *name, const struct img *im, size_t at, uint64_t v, const char *want)
{
  uint8_t x[8];
  be64 (x, v);
  case_mutated (name, im, at, x, 8, 1, READ_FAIL, want);
}

static void
case_be16 (const char *name, const struct img *im, size_t at, uint16_t v, const char *want)
{
  uint8_t x[2];
  be16 (x, v);
  case_mutated (name, im, at, x, 2, 1, READ_FAIL, want);
}

/* Replace the signature section's data (last section) and rebuild. */
static void
case_sig_data (const char *name, const struct img *im, const void *data, size_t len, enum kind kind, const char *want)
{
  struct tsec s[32];
  size_t out_len;
  uint8_t *b;
  memcpy (s, im->s, sizeof s);
  s[im->n - 1].data = data;
  s[im->n - 1].len = len;
  b = mk_eif (s, im->n, 4, 0, &out_len);
  run_case (name, b, out_len, kind, want);
  free (b);
}

/* Patch the first occurrence of `pat` inside the signature section at pat_at with val. */
static void
case_sig_patch (const char *name, const struct img *im, const uint8_t *pat, size_t plen, size_t pat_at, uint8_t val,
                const char *want)
{
  uint64_t so = im->off[im->n - 1];
  long at = find_bytes (im->buf + so, im->len - so, pat, plen);
  uint8_t *b;
  if (at < 0)
    {
      tap_ok (0, "%s: pattern not found in the signature section", name);
      return;
    }
  b = dup_buf (im->buf, im->len);
  b[so + (size_t) at + pat_at] = val;
  fix_crc (b, im->len);
  run_case (name, b, im->len, CHECK_FAIL, want);
  free (b);
}

static int
build_signed_with (const char *name, long from_days, long to_days, struct img *im)
{
  EVP_PKEY *key = make_key ("P-384");
  X509 *cert = key ? make_cert (key, from_days, to_days, name) : NULL;
  char *kp, *cp, *ep;
  enclaver_error_t err = NULL;
  int ok;

  if (asprintf (&kp, "%s/%s-key.pem", tmp, name) < 0 || asprintf (&cp, "%s/%s-cert.pem", tmp, name) < 0
      || asprintf (&ep, "%s/%s.eif", tmp, name) < 0)
    abort ();
  ok = cert && write_key_pem (kp, key) == 0 && write_cert_pem (cp, cert) == 0
       && build_vector (ep, cp, kp, 2, ENCLAVER_EIF_ARCH_X86_64, NULL, &err) == 0;
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  if (ok)
    {
      im->buf = slurp (ep, &im->len);
      parse_img (im);
    }
  unlink (kp);
  unlink (cp);
  unlink (ep);
  free (kp);
  free (cp);
  free (ep);
  EVP_PKEY_free (key);
  X509_free (cert);
  return ok && im->buf ? 0 : -1;
}

int
main (void)
{
  struct img v1 = { 0 }, sg = { 0 }, expired = { 0 }, future = { 0 };
  char nm[128];
  enclaver_error_t err = NULL;

  tmp = make_tmpdir ();
  enclaver_bin = getenv ("ENCLAVER");
  if (enclaver_bin && access (enclaver_bin, X_OK) != 0)
    enclaver_bin = NULL;
  if (!enclaver_bin)
    tap_diag ("ENCLAVER not set: library checks only");

  v1.buf = slurp (GOLDEN "vector1.eif", &v1.len);
  if (v1.buf == NULL)
    tap_skip_all ("golden/eif/vector1.eif missing");
  parse_img (&v1);
  /* signed base image, with a fresh P-384 certificate valid from yesterday */
  tap_ok (build_signed_with ("valid", -1, 30, &sg) == 0, "build a signed base image");
  if (sg.buf == NULL)
    tap_skip_all ("cannot build a signed image");

  /* --- valid baselines --- */
  run_case ("vector1 as is", v1.buf, v1.len, VALID, "");
  run_case ("signed image as is", sg.buf, sg.len, VALID, "");
  {
    struct tsec s[4] = { v1.s[0], v1.s[1], v1.s[3], v1.s[4] };
    size_t l;
    uint8_t *b = mk_eif (s, 4, 3, 0, &l);
    run_case ("version 3 without metadata", b, l, VALID, "");
    free (b);
  }

  /* --- truncation at every structural boundary --- */
  {
    static const size_t head_cuts[] = { 0, 1, 4, 26, 28, 284, 540, 544, 547 };
    for (size_t i = 0; i < ARRAY_SIZE (head_cuts); i++)
      {
        snprintf (nm, sizeof nm, "truncated to %zu bytes (inside the header)", head_cuts[i]);
        run_case (nm, v1.buf, head_cuts[i], READ_FAIL, "shorter than the 548-byte EIF header");
      }
    for (int i = 0; i < v1.n; i++)
      {
        size_t cuts[4] = { v1.off[i], v1.off[i] + 6, v1.off[i] + 12, v1.off[i] + 12 + v1.s[i].len - 1 };
        static const char *const where[4] = { "at the section header", "inside the section header",
                                              "after the section header", "one byte short of the data end" };
        for (int k = 0; k < 4; k++)
          {
            snprintf (nm, sizeof nm, "truncated %s of section %d (%zu bytes)", where[k], i, cuts[k]);
            run_case (nm, v1.buf, cuts[k], READ_FAIL, "past the end of the file");
          }
      }
    snprintf (nm, sizeof nm, "signed image truncated inside the signature (%zu bytes)", sg.len - 100);
    run_case (nm, sg.buf, sg.len - 100, READ_FAIL, "past the end of the file");
  }

  /* --- header --- */
  case_mutated ("bad magic", &v1, 0, "EIF.", 4, 1, READ_FAIL, "bad magic");
  case_mutated ("all-zero magic", &v1, 0, "\0\0\0\0", 4, 1, READ_FAIL, "bad magic");
  case_be16 ("version 1", &v1, 4, 1, "unsupported EIF version 1");
  case_be16 ("version 65535", &v1, 4, 65535, "unsupported EIF version 65535");
  case_be16 ("unknown header flag", &v1, 6, 0x8000, "unknown header flags");
  case_be16 ("num_sections 0", &v1, 26, 0, "num_sections is 0");
  case_be16 ("num_sections 33", &v1, 26, 33, "num_sections is 33");
  case_be16 ("num_sections 65535", &v1, 26, 65535, "num_sections is 65535");
  case_be16 ("num_sections one too few", &v1, 26, 4, "in use but num_sections is 4");
  case_be16 ("num_sections one too many", &v1, 26, 6, "inside the 548-byte EIF header");

  /* --- offset table --- */
  case_be64 ("section offset past EOF", &v1, 28 + 8 * 4, 1ULL << 40, "past the end of the file");
  case_be64 ("section offset 2^64-1", &v1, 28 + 8 * 4, UINT64_MAX, "past the end of the file");
  case_be64 ("section offset inside the header", &v1, 28, 100, "inside the 548-byte EIF header");
  case_be64 ("section size 2^63 (table only)", &v1, 284, 1ULL << 63, "runs past the end of the file");
  {
    uint8_t *b = dup_buf (v1.buf, v1.len);
    be64 (b + 284, 1ULL << 63);
    be64 (b + 548 + 4, 1ULL << 63);
    fix_crc (b, v1.len);
    run_case ("section size 2^63 (table and section header)", b, v1.len, READ_FAIL, "runs past the end of the file");
    free (b);
  }
  case_be64 ("last section size past EOF", &v1, 284 + 8 * 4, 1025, "runs past the end of the file");
  case_be64 ("overlapping sections", &v1, 28 + 8 * 1, 548 + 12 + 100, "overlaps the previous section");
  {
    uint8_t *b = dup_buf (v1.buf, v1.len);
    be64 (b + 28 + 8 * 3, v1.off[4]);
    be64 (b + 28 + 8 * 4, v1.off[3]);
    fix_crc (b, v1.len);
    run_case ("sections listed out of file order", b, v1.len, READ_FAIL, "overlaps the previous section");
    free (b);
  }
  case_be64 ("unused table entry set", &v1, 28 + 8 * 10, 548, "in use but num_sections");

  /* --- section headers --- */
  case_be16 ("section type 0", &v1, (size_t) v1.off[3], 0, "invalid section type 0");
  case_be16 ("section type 7", &v1, (size_t) v1.off[3], 7, "unknown section type 7");
  case_be16 ("section type 65535", &v1, (size_t) v1.off[0], 65535, "unknown section type 65535");
  case_be16 ("section flags set", &v1, (size_t) v1.off[1] + 2, 1, "has flags 0x0001");
  case_be64 ("section header size != table size", &v1, (size_t) v1.off[1] + 4, 140, "the header table says");

  /* --- sequential walk vs. table --- */
  {
    uint8_t *b = malloc (v1.len + 12);
    memcpy (b, v1.buf, v1.len);
    memset (b + v1.len, 0, 5);
    fix_crc (b, v1.len + 5);
    run_case ("5 trailing bytes", b, v1.len + 5, READ_FAIL, "trailing bytes");
    be16 (b + v1.len, 3);
    be16 (b + v1.len + 2, 0);
    be64 (b + v1.len + 4, 0);
    fix_crc (b, v1.len + 12);
    run_case ("extra section not in the table", b, v1.len + 12, READ_FAIL, "does not list");
    free (b);
  }
  {
    /* 33 sections: the table can only list 32 */
    struct tsec s[33];
    size_t l;
    uint8_t *b;
    s[0] = v1.s[0];
    s[1] = v1.s[1];
    s[2] = v1.s[2];
    for (int i = 3; i < 33; i++)
      s[i] = (struct tsec) { 3, "rd", 2 };
    b = mk_eif (s, 33, 4, 0, &l);
    run_case ("33 sections", b, l, READ_FAIL, "more than 32 sections");
    free (b);
    b = mk_eif (s, 32, 4, 0, &l);
    run_case ("32 sections", b, l, VALID, "");
    free (b);
  }

  /* --- section set --- */
  {
    struct tsec s[8];
    size_t l;
    uint8_t *b;
#define MK(nm_, want_, ...)                                       \
  do                                                              \
    {                                                             \
      struct tsec t_[] = { __VA_ARGS__ };                         \
      memcpy (s, t_, sizeof t_);                                  \
      b = mk_eif (s, (int) ARRAY_SIZE (t_), 4, 0, &l);            \
      run_case (nm_, b, l, READ_FAIL, want_);                     \
      free (b);                                                   \
    }                                                             \
  while (0)
    MK ("v4 without metadata", "requires a metadata section", v1.s[0], v1.s[1], v1.s[3], v1.s[4]);
    MK ("two kernels", "second kernel section", v1.s[0], v1.s[1], v1.s[2], v1.s[0], v1.s[3]);
    MK ("no cmdline", "no cmdline section", v1.s[0], v1.s[2], v1.s[3]);
    MK ("no kernel", "no kernel section", v1.s[1], v1.s[2]);
    MK ("two cmdlines", "second cmdline section", v1.s[0], v1.s[1], v1.s[1], v1.s[2], v1.s[3]);
    MK ("no ramdisk", "no ramdisk section", v1.s[0], v1.s[1], v1.s[2]);
    MK ("ramdisk before the kernel", "comes before the kernel", v1.s[3], v1.s[0], v1.s[1], v1.s[2]);
    MK ("two metadata sections", "second metadata section", v1.s[0], v1.s[1], v1.s[2], v1.s[2], v1.s[3]);
    MK ("metadata is not JSON", "not valid JSON", v1.s[0], v1.s[1], { 5, "{\"ImageName\":", 13 }, v1.s[3]);
    MK ("metadata is a JSON array", "not a JSON object", v1.s[0], v1.s[1], { 5, "[1,2]", 5 }, v1.s[3]);
    MK ("two signature sections", "second signature section", v1.s[0], v1.s[1], v1.s[2], v1.s[3], sg.s[5], sg.s[5]);
    {
      uint8_t *big = calloc (1, 40000);
      MK ("oversized signature section", "more than the 32768 allowed", v1.s[0], v1.s[1], v1.s[2], v1.s[3],
          { 4, big, 40000 });
      free (big);
    }
#undef MK
  }

  /* --- CRC --- */
  case_mutated ("wrong CRC", &v1, 544, "\x12\x34\x56\x78", 4, 0, CHECK_FAIL, "CRC mismatch");
  case_mutated ("kernel byte flipped, CRC not updated", &v1, 548 + 12 + 1000, "\xAA", 1, 0, CHECK_FAIL,
                "CRC mismatch");
  case_mutated ("metadata changed, CRC not updated", &v1, (size_t) v1.off[2] + 12 + 14, "X", 1, 0, CHECK_FAIL,
                "CRC mismatch");

  /* --- signature: CBOR --- */
  case_sig_data ("garbage CBOR signature", &sg, "\xff\xff\xff\xff", 4, CHECK_FAIL, "CBOR");
  case_sig_data ("empty signature section", &sg, "", 0, CHECK_FAIL, "truncated CBOR");
  case_sig_data ("signature list claims 2^64-1 entries", &sg, "\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9, CHECK_FAIL,
                 "claims");
  case_sig_data ("empty signature list", &sg, "\x80", 1, CHECK_FAIL, "empty");
  case_sig_data ("signature list of text", &sg, "\x63" "abc", 4, CHECK_FAIL, "expected a CBOR array");
  case_sig_data ("signature truncated in the middle", &sg, sg.s[5].data, sg.s[5].len / 2, CHECK_FAIL, "CBOR");
  {
    size_t n = sg.s[5].len;
    uint8_t *d = malloc (n + 300);
    /* [valid entry, [[[[...200 deep...]]]]] */
    d[0] = 0x82;
    memcpy (d + 1, (const uint8_t *) sg.s[5].data + 1, n - 1);
    memset (d + n, 0x81, 200);
    d[n + 200] = 0x00;
    case_sig_data ("deeply nested CBOR after the first entry", &sg, d, n + 201, CHECK_FAIL, "nested deeper");
    memcpy (d, sg.s[5].data, n);
    d[n] = 0;
    case_sig_data ("trailing byte after the signature list", &sg, d, n + 1, CHECK_FAIL, "trailing bytes");
    free (d);
  }
  {
    static const uint8_t key[] = "signing_certificate";
    static const uint8_t map2[] = { 0x81, 0xa2 };
    case_sig_patch ("wrong key name", &sg, key, sizeof key - 1, 18, 'f', "expected the key");
    case_sig_patch ("entry map with 3 keys", &sg, map2, 2, 1, 0xa3, "map of 2 keys");
  }
  {
    /* "-----B" of the PEM, stored as uint8 items */
    static const uint8_t pem[] = { 0x18, 0x2d, 0x18, 0x2d, 0x18, 0x2d, 0x18, 0x2d, 0x18, 0x2d, 0x18, 0x42 };
    case_sig_patch ("certificate is not PEM", &sg, pem, sizeof pem, 11, 0x58, "cannot parse the signing certificate");
  }
  {
    /* protected header bstr(4) {1: -35} stored as uint8 items */
    static const uint8_t prot[] = { 0x18, 0x44, 0x18, 0xa1, 0x01, 0x18, 0x38, 0x18, 0x22 };
    case_sig_patch ("wrong COSE algorithm (ES512)", &sg, prot, sizeof prot, 8, 0x23, "ES512");
    case_sig_patch ("unknown COSE algorithm (-100)", &sg, prot, sizeof prot, 8, 0x63, "unsupported COSE algorithm");
  }
  {
    /* flip one bit of the last byte of s */
    uint8_t *b = dup_buf (sg.buf, sg.len);
    b[sg.len - 1] ^= 1;
    fix_crc (b, sg.len);
    run_case ("signature value altered", b, sg.len, CHECK_FAIL, "does not verify");
    free (b);
  }
  {
    /* payload != PCR0: change the kernel after signing (CRC updated) */
    uint8_t *b = dup_buf (sg.buf, sg.len);
    b[548 + 12 + 5] ^= 0x5a;
    fix_crc (b, sg.len);
    run_case ("payload is not this image's PCR0", b, sg.len, CHECK_FAIL, "not the PcrInfo of this image's PCR0");
    free (b);
  }
  {
    /* a valid signature over another image's PCR0 */
    struct tsec s[6];
    size_t l;
    uint8_t *b;
    memcpy (s, sg.s, sizeof s);
    s[3] = s[4];
    b = mk_eif (s, 6, 4, 0, &l);
    run_case ("signature copied from another image", b, l, CHECK_FAIL, "not the PcrInfo");
    free (b);
  }

  /* --- valid variants other producers may write --- */
  {
    /* README order: signature before metadata at the end */
    struct tsec s[6] = { sg.s[0], sg.s[1], sg.s[3], sg.s[4], sg.s[5], sg.s[2] };
    struct enclaver_eif_info info;
    struct enclaver_eif_measurements m;
    char *in, *out;
    size_t l;
    uint8_t *b = mk_eif (s, 6, 4, 0, &l);
    run_case ("signature before metadata (README layout)", b, l, VALID, "");
    if (asprintf (&in, "%s/readme.eif", tmp) < 0 || asprintf (&out, "%s/readme-signed.eif", tmp) < 0)
      abort ();
    spit (in, b, l);
    tap_ok (enclaver_eif_sign (in, out, GOLDEN "sign-cert.pem", GOLDEN "sign-key.pem", &m, &err) == 0
              && enclaver_eif_read (out, golden_cert_flags (), &info, &err) == 0 && info.signature_ok
              && info.num_sections == 6
              && info.sections[4].type == ENCLAVER_EIF_SECTION_SIGNATURE
              && info.sections[5].type == ENCLAVER_EIF_SECTION_METADATA,
            "re-signing keeps the signature section in place (before metadata)");
    if (err)
      tap_diag ("%s", err->msg);
    enclaver_error_release (&err);
    enclaver_eif_info_clear (&info);
    unlink (in);
    unlink (out);
    free (in);
    free (out);
    free (b);
  }
  {
    /* COSE_Sign1 with tag 18: one more uint8 item (0xd2) at the start of the COSE bytes */
    static const uint8_t key[] = { 0x69, 's', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', 0x98 };
    const uint8_t *d = sg.s[5].data;
    size_t n = sg.s[5].len;
    long at = find_bytes (d, n, key, sizeof key);
    if (at > 0 && d[at + 11] < 255)
      {
        size_t p = (size_t) at + 12;
        uint8_t *t = malloc (n + 2);
        memcpy (t, d, p);
        t[p - 1] = (uint8_t) (d[p - 1] + 1);
        t[p] = 0x18;
        t[p + 1] = 0xd2;
        memcpy (t + p + 2, d + p, n - p);
        case_sig_data ("COSE_Sign1 tagged 18", &sg, t, n + 2, VALID, "");
        t[p + 1] = 0xd3;
        case_sig_data ("COSE_Sign1 with tag 19", &sg, t, n + 2, CHECK_FAIL, "unexpected CBOR tag 19");
        free (t);
      }
    else
      tap_ok (0, "COSE array head not found");
  }

  /* --- certificate validity --- */
  if (build_signed_with ("expired", -10, -1, &expired) == 0)
    run_case ("expired signing certificate", expired.buf, expired.len, CHECK_FAIL, "has expired");
  else
    tap_ok (0, "could not build the expired-certificate image");
  if (build_signed_with ("future", 1, 10, &future) == 0)
    run_case ("signing certificate not valid yet", future.buf, future.len, CHECK_FAIL, "not valid yet");
  else
    tap_ok (0, "could not build the future-certificate image");
  {
    struct enclaver_eif_info info;
    tap_ok (expired.buf && enclaver_eif_read_buffer (expired.buf, expired.len, ENCLAVER_EIF_READ_IGNORE_CERT_TIME, &info, &err) == 0
              && info.signature_ok,
            "expired certificate accepted with ENCLAVER_EIF_READ_IGNORE_CERT_TIME");
    enclaver_eif_info_clear (&info);
    enclaver_error_release (&err);
  }

  tap_ok (ncases >= 25, "%d hostile/valid cases run", ncases);
  free (v1.buf);
  free (sg.buf);
  free (expired.buf);
  free (future.buf);
  rm_rf (tmp);
  free (tmp);
  return tap_done ();
}
