/* enclaver tests: EIF writer, reader, PCRs and signing against the golden vectors. */
#include "config.h"

#include <dirent.h>

#include "tests/tap.h"
#include "tests/eif/eif-test-util.h"

static char *tmp;

static char *
tpath (const char *name)
{
  char *p;
  if (asprintf (&p, "%s/%s", tmp, name) < 0)
    abort ();
  return p;
}

static void
test_pcr_api (void)
{
  uint8_t a[ENCLAVER_PCR_SIZE], b[ENCLAVER_PCR_SIZE], c[ENCLAVER_PCR_SIZE];
  char hex[ENCLAVER_PCR_HEX_SIZE];
  enclaver_error_t err = NULL;
  enclaver_pcr_t p;
  static const char data[] = "the quick brown fox jumps over the lazy dog";

  tap_ok (enclaver_pcr_of_buffer ("", 0, a, &err) == 0 && pcr_is (a, EMPTY_PCR), "PCR of empty data is the constant");
  tap_ok (enclaver_pcr_init (&p, &err) == 0, "pcr_init");
  for (size_t i = 0; i < sizeof data - 1; i += 5)
    enclaver_pcr_update (&p, data + i, sizeof data - 1 - i < 5 ? sizeof data - 1 - i : 5, &err);
  tap_ok (enclaver_pcr_final (&p, b, &err) == 0, "pcr_final");
  enclaver_pcr_of_buffer (data, sizeof data - 1, c, &err);
  tap_ok (memcmp (b, c, sizeof b) == 0, "PCR streamed in pieces equals one-shot PCR");
  /* extend definition: SHA384(0^48 || SHA384(data)) */
  {
    uint8_t buf[96] = { 0 }, d[48];
    unsigned int n;
    EVP_Digest (data, sizeof data - 1, buf + 48, &n, EVP_sha384 (), NULL);
    EVP_Digest (buf, sizeof buf, d, &n, EVP_sha384 (), NULL);
    tap_ok (memcmp (d, c, 48) == 0, "PCR = SHA384(0^48 || SHA384(data))");
  }
  enclaver_pcr_to_hex (c, hex);
  tap_ok (enclaver_pcr_from_hex (hex, a) == 0 && memcmp (a, c, 48) == 0, "hex round trip");
  tap_ok (enclaver_pcr_from_hex ("abc", a) < 0, "short hex rejected");
  hex[5] = 'g';
  tap_ok (enclaver_pcr_from_hex (hex, a) < 0, "non-hex digit rejected");
  tap_ok (enclaver_pcr_of_file (GOLDEN "ramdisk0.cpio", a, &err) == 0, "pcr_of_file");
  {
    size_t len;
    uint8_t *rd = slurp (GOLDEN "ramdisk0.cpio", &len);
    enclaver_pcr_of_buffer (rd, len, b, &err);
    tap_ok (memcmp (a, b, 48) == 0, "pcr_of_file equals PCR of the bytes");
    free (rd);
  }
  tap_ok (enclaver_pcr_of_cert_file (GOLDEN "sign-cert.pem", a, &err) == 0 && pcr_is (a, V2_PCR8),
          "PCR8 of the reference certificate");
  tap_ok (enclaver_pcr_of_file (GOLDEN "does-not-exist", a, &err) < 0 && err && strstr (err->msg, "does-not-exist"),
          "missing file error names the file");
  enclaver_error_release (&err);
  tap_ok (enclaver_pcr_of_cert_file (GOLDEN "cmdline.txt", a, &err) < 0, "non-PEM certificate rejected");
  enclaver_error_release (&err);
}

static void
test_vector1 (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  struct enclaver_eif_info info;
  char *out = tpath ("vector1.eif");
  size_t a_len = 0, b_len = 0;
  uint8_t *a, *b;
  static const uint64_t offsets[] = { 548, 1049136, 1049287, 1049540, 1050576 };
  static const uint64_t sizes[] = { 1048576, 139, 241, 1024, 1024 };
  static const uint16_t types[] = { 1, 2, 5, 3, 3 };
  int ok = 1;

  tap_ok (build_vector (out, NULL, NULL, 2, ENCLAVER_EIF_ARCH_X86_64, &m, &err) == 0, "build vector1 with the writer");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  a = slurp (out, &a_len);
  b = slurp (GOLDEN "vector1.eif", &b_len);
  tap_ok (a && b && a_len == b_len && memcmp (a, b, a_len) == 0, "vector1.eif is byte-identical to the reference");
  tap_ok (pcr_is (m.pcr0, V1_PCR0), "writer PCR0");
  tap_ok (pcr_is (m.pcr1, V1_PCR1), "writer PCR1");
  tap_ok (pcr_is (m.pcr2, V1_PCR2), "writer PCR2");
  tap_ok (!m.has_pcr8, "unsigned: no PCR8");
  tap_ok (count_dir_entries (tmp) == 1, "no temporary file left behind");

  tap_ok (enclaver_eif_read (GOLDEN "vector1.eif", 0, &info, &err) == 0, "read the reference vector1.eif");
  TAP_INT_EQ (info.crc_stored, V1_CRC, "stored CRC");
  TAP_INT_EQ (info.crc_computed, V1_CRC, "computed CRC");
  tap_ok (info.crc_ok && enclaver_eif_check (&info, &err) == 0, "CRC ok, check passes");
  TAP_INT_EQ (info.version, 4, "version 4");
  TAP_INT_EQ (info.flags, 0, "flags 0 (x86_64)");
  TAP_INT_EQ (info.default_mem, 1073741824, "default_mem");
  TAP_INT_EQ (info.default_cpus, 2, "default_cpus");
  TAP_INT_EQ (info.num_sections, 5, "5 sections");
  for (int i = 0; i < 5; i++)
    ok &= info.sections[i].offset == offsets[i] && info.sections[i].size == sizes[i] && info.sections[i].type == types[i];
  tap_ok (ok, "section table matches the reference layout");
  tap_ok (pcr_is (info.measurements.pcr0, V1_PCR0), "reader PCR0");
  tap_ok (pcr_is (info.measurements.pcr1, V1_PCR1), "reader PCR1");
  tap_ok (pcr_is (info.measurements.pcr2, V1_PCR2), "reader PCR2");
  tap_ok (!info.is_signed && !info.measurements.has_pcr8, "not signed");
  TAP_INT_EQ (info.metadata_len, 241, "metadata length");
  TAP_STR_EQ (info.metadata,
              "{\"ImageName\":\"vector1\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":{\"BuildTime\":\"2020-01-01T00:00:00+"
              "00:00\",\"BuildTool\":\"eif_build\",\"BuildToolVersion\":\"0.3.1\",\"OperatingSystem\":\"OS\","
              "\"KernelVersion\":\"kernel\"},\"DockerInfo\":null,\"CustomMetadata\":null}",
              "metadata JSON");
  enclaver_eif_info_clear (&info);

  {
    struct enclaver_eif_info i2;
    tap_ok (b && enclaver_eif_read_buffer (b, b_len, 0, &i2, &err) == 0 && i2.crc_ok
              && pcr_is (i2.measurements.pcr2, V1_PCR2),
            "read_buffer gives the same result");
    enclaver_eif_info_clear (&i2);
  }
  free (a);
  free (b);
  free (out);
}

static void
test_signed (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m, m2;
  struct enclaver_eif_info info;
  char *out = tpath ("vector2-signed.eif");
  char *copy = tpath ("resigned.eif");
  size_t len = 0, len2 = 0;
  uint8_t *buf;

  tap_ok (build_vector (out, GOLDEN "sign-cert.pem", GOLDEN "sign-key.pem", 2, ENCLAVER_EIF_ARCH_X86_64, &m, &err) == 0,
          "build vector2-signed");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  tap_ok (pcr_is (m.pcr0, V1_PCR0) && pcr_is (m.pcr1, V1_PCR1) && pcr_is (m.pcr2, V1_PCR2),
          "signed build: PCR0/1/2 equal vector1's");
  tap_ok (m.has_pcr8 && pcr_is (m.pcr8, V2_PCR8), "signed build: PCR8 of the certificate");

  tap_ok (enclaver_eif_read (out, golden_cert_flags (), &info, &err) == 0, "read vector2-signed");
  tap_ok (info.is_signed && info.signature_ok, "signature verifies");
  if (info.signature_error)
    tap_diag ("%s", info.signature_error);
  tap_ok (info.crc_ok && enclaver_eif_check (&info, &err) == 0, "signed image passes the check");
  TAP_INT_EQ (info.cose_alg, -35, "COSE algorithm ES384");
  tap_ok (info.measurements.has_pcr8 && pcr_is (info.measurements.pcr8, V2_PCR8), "reader PCR8");
  TAP_INT_EQ (info.num_sections, 6, "6 sections");
  TAP_INT_EQ (info.sections[5].type, ENCLAVER_EIF_SECTION_SIGNATURE, "signature is the last section");
  TAP_INT_EQ (info.sections[5].offset, 1051612, "signature follows vector1's content");
  {
    size_t cl;
    uint8_t *pem = slurp (GOLDEN "sign-cert.pem", &cl);
    tap_ok (pem && info.cert_pem_len == cl && memcmp (info.cert_pem, pem, cl) == 0, "certificate stored verbatim");
    free (pem);
  }
  buf = slurp (out, &len);
  {
    /* byte layout of the section start: array(1), map(2), "signing_certificate", array(N) */
    static const uint8_t head[] = { 0x81, 0xa2, 0x73, 's', 'i', 'g', 'n', 'i', 'n', 'g', '_', 'c', 'e', 'r', 't',
                                    'i', 'f', 'i', 'c', 'a', 't', 'e', 0x99, 0x03, 0x1e };
    static const uint8_t prot[] = { 0x18, 0x44, 0x18, 0xa1, 0x01, 0x18, 0x38, 0x18, 0x22 };
    tap_ok (buf && len > 1051612 + 12 + sizeof head && memcmp (buf + 1051612 + 12, head, sizeof head) == 0,
            "signature section starts with the reference CBOR layout");
    tap_ok (buf && find_bytes (buf + 1051612, len - 1051612, prot, sizeof prot) > 0,
            "COSE protected header {1:-35} stored as a uint8 array");
    tap_ok (buf && memcmp (buf, (uint8_t[]){ '.', 'e', 'i', 'f', 0, 4 }, 6) == 0, "header magic and version");
  }
  enclaver_eif_info_clear (&info);

  /* sign an unsigned copy, then replace the signature */
  tap_ok (enclaver_eif_sign (GOLDEN "vector1.eif", copy, GOLDEN "sign-cert.pem", GOLDEN "sign-key.pem", &m2, &err) == 0,
          "enclaver_eif_sign adds a signature");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  tap_ok (pcr_is (m2.pcr0, V1_PCR0) && m2.has_pcr8 && pcr_is (m2.pcr8, V2_PCR8), "sign: PCR0 unchanged, PCR8 set");
  tap_ok (enclaver_eif_read (copy, golden_cert_flags (), &info, &err) == 0 && info.signature_ok && info.crc_ok,
          "signed copy verifies");
  len2 = info.file_size;
  TAP_INT_EQ (info.num_sections, 6, "sign appended one section");
  enclaver_eif_info_clear (&info);
  {
    /* the first 1051612 bytes apart from the header equal vector1's */
    size_t l1;
    uint8_t *c = slurp (copy, &l1), *v = slurp (GOLDEN "vector1.eif", &len);
    tap_ok (c && v && memcmp (c + 548, v + 548, 1051612 - 548) == 0, "sign leaves the sections untouched");
    free (c);
    free (v);
  }
  tap_ok (enclaver_eif_sign (copy, NULL, GOLDEN "sign-cert.pem", GOLDEN "sign-key.pem", &m2, &err) == 0,
          "re-sign in place");
  /* the section size varies by a few bytes: CBOR uint8 items below 24 take one byte */
  tap_ok (enclaver_eif_read (copy, golden_cert_flags (), &info, &err) == 0 && info.signature_ok && info.num_sections == 6
            && info.sections[5].type == ENCLAVER_EIF_SECTION_SIGNATURE && info.sections[5].offset == 1051612
            && info.file_size == 1051612 + 12 + info.sections[5].size && len2 > 1051612,
          "re-signing replaces the signature section in place");
  enclaver_eif_info_clear (&info);
  tap_ok (count_dir_entries (tmp) == 3, "no temporary files left behind");
  free (buf);
  free (out);
  free (copy);
}

static void
test_one_ramdisk_and_arch (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m, ma;
  struct enclaver_eif_info info;
  char *one = tpath ("one.eif"), *arm = tpath ("arm.eif");

  tap_ok (build_vector (one, NULL, NULL, 1, ENCLAVER_EIF_ARCH_X86_64, &m, &err) == 0, "build with one ramdisk");
  tap_ok (pcr_is (m.pcr2, EMPTY_PCR), "one ramdisk: PCR2 is the empty-data constant");
  tap_ok (memcmp (m.pcr0, m.pcr1, 48) == 0, "one ramdisk: PCR0 == PCR1");
  tap_ok (enclaver_eif_read (one, 0, &info, &err) == 0 && pcr_is (info.measurements.pcr2, EMPTY_PCR),
          "reader agrees on PCR2");
  enclaver_eif_info_clear (&info);

  tap_ok (build_vector (arm, NULL, NULL, 2, ENCLAVER_EIF_ARCH_AARCH64, &ma, &err) == 0, "build aarch64");
  tap_ok (enclaver_eif_read (arm, 0, &info, &err) == 0, "read aarch64 image");
  TAP_INT_EQ (info.flags, 1, "aarch64 flag bit set");
  tap_ok (info.crc_ok, "aarch64 CRC ok");
  tap_ok (pcr_is (info.measurements.pcr0, V1_PCR0), "arch flag does not change PCR0");
  TAP_STR_EQ (enclaver_eif_arch_name (info.flags & 1), "aarch64", "arch name round-trips");
  enclaver_eif_info_clear (&info);
  {
    enum enclaver_eif_arch a;
    tap_ok (enclaver_eif_arch_parse ("aarch64", &a) == 0 && a == ENCLAVER_EIF_ARCH_AARCH64
              && enclaver_eif_arch_parse ("x86_64", &a) == 0 && a == ENCLAVER_EIF_ARCH_X86_64
              && enclaver_eif_arch_parse ("mips", &a) < 0,
            "arch_parse");
  }
  unlink (one);
  unlink (arm);
  free (one);
  free (arm);
}

static void
test_synthetic (void)
{
  /* The synthetic image from the specification (derived values). */
  static const char md[] = "{\"ImageName\":\"test\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":{\"BuildTime\":\"1970-01-"
                           "01T00:00:00+00:00\",\"BuildTool\":\"eif_build\",\"BuildToolVersion\":\"0.3.1\","
                           "\"OperatingSystem\":\"OS\",\"KernelVersion\":\"kernel\"},\"DockerInfo\":null,"
                           "\"CustomMetadata\":null}";
  char kernel[600];
  enclaver_error_t err = NULL;
  struct enclaver_eif_measurements m;
  struct enclaver_eif_info info;
  char *out = tpath ("synthetic.eif");
  enclaver_eif_writer_t *w;
  int ok;

  for (int i = 0; i < 100; i++)
    memcpy (kernel + 6 * i, "KERNEL", 6);
  w = enclaver_eif_writer_new (out, &err);
  ok = w && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_KERNEL, kernel, 600, &err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "console=ttyS0", 13, &err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_METADATA, md, strlen (md), &err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_RAMDISK, "RAMDISK-ONE", 11, &err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_RAMDISK, "RAMDISK-TWO", 11, &err) == 0
       && enclaver_eif_writer_finish (w, &m, &err) == 0;
  enclaver_eif_writer_free (w);
  tap_ok (ok, "build the synthetic image from buffers");
  tap_ok (enclaver_eif_read (out, 0, &info, &err) == 0, "read it back");
  TAP_INT_EQ (info.file_size, 1481, "synthetic file size");
  TAP_INT_EQ (info.crc_stored, 0xD56BE6EEu, "synthetic CRC");
  tap_ok (pcr_is (m.pcr0, "b0a34e0e116d487f70d25778b3dc2cc01f80fd187c0663132ccaf6c34925d9fb876877d9f6a69640f00cdc8993e89562"),
          "synthetic PCR0");
  tap_ok (pcr_is (m.pcr1, "66ef386724685437799ffb7f6e0f712de2aeb64de2e88b39b6c42732fc8cd885dec547a470259690933897d538fd5fb8"),
          "synthetic PCR1");
  tap_ok (pcr_is (m.pcr2, "f33eabf2c1c9c8488352690b8d9f5dded507ecfe30ea2d738e6f60c53adad8f499733128196224d78b0ae05b7be6544e"),
          "synthetic PCR2");
  TAP_INT_EQ (info.sections[4].offset, 1458, "synthetic last offset");
  enclaver_eif_info_clear (&info);
  unlink (out);
  free (out);
}

struct chunker
{
  size_t left;
  unsigned seed;
};

static ssize_t
chunk_cb (void *opaque, void *buf, size_t len)
{
  struct chunker *c = opaque;
  size_t n = len < c->left ? len : c->left;
  if (n > 777)
    n = 777; /* short reads on purpose */
  for (size_t i = 0; i < n; i++)
    ((uint8_t *) buf)[i] = (uint8_t) (c->seed = c->seed * 1103515245u + 12345u) >> 16;
  c->left -= n;
  return (ssize_t) n;
}

static ssize_t
failing_cb (void *opaque, void *buf, size_t len)
{
  (void) opaque, (void) buf, (void) len;
  errno = EPIPE;
  return -1;
}

static void
test_writer_api (void)
{
  enclaver_error_t err = NULL;
  char *out = tpath ("api.eif");
  enclaver_eif_writer_t *w;
  struct enclaver_eif_measurements m;
  struct enclaver_eif_info info;
  struct enclaver_eif_metadata md = {
    .image_name = "quote\" back\\slash \x01 nl\n", .image_version = "é", .custom_metadata = "{\"b\":1,\"a\":[1.5,\"x\"]}",
    .docker_info = "{\"Id\":\"sha256:00\",\"Config\":{\"Env\":[\"A=1\"]}}",
  };
  char *json;

  json = enclaver_eif_metadata_json (&md, NULL, &err);
  TAP_STR_EQ (json,
              "{\"ImageName\":\"quote\\\" back\\\\slash \\u0001 nl\\n\",\"ImageVersion\":\"é\",\"BuildMetadata\":{"
              "\"BuildTime\":\"\",\"BuildTool\":\"\",\"BuildToolVersion\":\"\",\"OperatingSystem\":\"\","
              "\"KernelVersion\":\"\"},\"DockerInfo\":{\"Config\":{\"Env\":[\"A=1\"]},\"Id\":\"sha256:00\"},"
              "\"CustomMetadata\":{\"a\":[1.5,\"x\"],\"b\":1}}",
              "metadata JSON: serde escapes, sorted keys in embedded JSON");
  free (json);
  md.custom_metadata = "{not json";
  tap_ok (enclaver_eif_metadata_json (&md, NULL, &err) == NULL && err && strstr (err->msg, "custom metadata"),
          "invalid custom metadata JSON rejected");
  enclaver_error_release (&err);
  md.custom_metadata = NULL;
  md.image_name = "\xff\xfe";
  tap_ok (enclaver_eif_metadata_json (&md, NULL, &err) == NULL && err && strstr (err->msg, "UTF-8"),
          "non-UTF-8 metadata rejected");
  enclaver_error_release (&err);

  /* order enforcement */
  w = enclaver_eif_writer_new (out, &err);
  tap_ok (w && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_RAMDISK, "x", 1, &err) < 0 && err
            && strstr (err->msg, "expected the kernel"),
          "ramdisk before kernel rejected");
  enclaver_error_release (&err);
  enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_KERNEL, "k", 1, &err);
  tap_ok (enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "a\0b", 3, &err) < 0 && err
            && strstr (err->msg, "NUL"),
          "cmdline with NUL rejected");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_finish (w, &m, &err) < 0, "writer refuses to finish after a failure");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  tap_ok (access (out, F_OK) != 0, "failed write leaves no output");

  w = enclaver_eif_writer_new (out, &err);
  enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_KERNEL, "k", 1, &err);
  enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "c", 1, &err);
  md.image_name = "n";
  enclaver_eif_writer_add_metadata (w, &md, &err);
  tap_ok (enclaver_eif_writer_finish (w, &m, &err) < 0 && err && strstr (err->msg, "ramdisk"),
          "finish without a ramdisk fails");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);

  /* callbacks, 32 sections */
  {
    struct chunker c = { 100000, 7 };
    int ok;
    w = enclaver_eif_writer_new (out, &err);
    ok = enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_KERNEL, chunk_cb, &c, &err) == 0
         && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "c", 1, &err) == 0
         && enclaver_eif_writer_add_metadata (w, &md, &err) == 0;
    for (int i = 0; i < 29 && ok; i++)
      {
        c.left = (size_t) (i * 1000);
        ok = enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_RAMDISK, chunk_cb, &c, &err) == 0;
      }
    tap_ok (ok, "32 sections from callbacks");
    tap_ok (enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_RAMDISK, "x", 1, &err) < 0 && err
              && strstr (err->msg, "at most 32"),
            "a 33rd section is refused");
    enclaver_error_release (&err);
    enclaver_eif_writer_free (w);

    w = enclaver_eif_writer_new (out, &err);
    c.left = 100000;
    c.seed = 7;
    ok = enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_KERNEL, chunk_cb, &c, &err) == 0
         && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, "c", 1, &err) == 0
         && enclaver_eif_writer_add_metadata (w, &md, &err) == 0;
    for (int i = 0; i < 29 && ok; i++)
      {
        c.left = (size_t) (i * 1000);
        ok = enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_RAMDISK, chunk_cb, &c, &err) == 0;
      }
    ok = ok && enclaver_eif_writer_finish (w, &m, &err) == 0;
    enclaver_eif_writer_free (w);
    tap_ok (ok && enclaver_eif_read (out, 0, &info, &err) == 0 && info.num_sections == 32 && info.crc_ok
              && memcmp (info.measurements.pcr0, m.pcr0, 48) == 0 && memcmp (info.measurements.pcr2, m.pcr2, 48) == 0,
            "32-section image from short-reading callbacks reads back with equal PCRs and CRC");
    if (err)
      tap_diag ("%s", err->msg);
    enclaver_error_release (&err);
    enclaver_eif_info_clear (&info);
  }
  w = enclaver_eif_writer_new (out, &err);
  tap_ok (enclaver_eif_writer_add_stream (w, ENCLAVER_EIF_SECTION_KERNEL, failing_cb, NULL, &err) < 0 && err
            && strstr (err->msg, "kernel"),
          "callback failure is reported with the section name");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  tap_ok (enclaver_eif_writer_new ("/nonexistent-dir/x.eif", &err) == NULL && err && strstr (err->msg, "/nonexistent-dir"),
          "unwritable output directory reported");
  enclaver_error_release (&err);
  unlink (out);
  free (out);
}

static void
test_signer_rejects (void)
{
  enclaver_error_t err = NULL;
  char *out = tpath ("rej.eif");
  char *rsa_pem = tpath ("rsa.pem"), *p256_pem = tpath ("p256.pem"), *p256_cert = tpath ("p256-cert.pem");
  char *other_pem = tpath ("other.pem");
  EVP_PKEY *rsa = make_key ("RSA"), *p256 = make_key ("P-256"), *other = make_key ("P-384");
  X509 *c256 = p256 ? make_cert (p256, -1, 30, "p256") : NULL;
  enclaver_eif_writer_t *w;

  tap_ok (rsa && p256 && other && c256 && write_key_pem (rsa_pem, rsa) == 0 && write_key_pem (p256_pem, p256) == 0
            && write_key_pem (other_pem, other) == 0 && write_cert_pem (p256_cert, c256) == 0,
          "generate RSA, P-256 and P-384 test keys");
  w = enclaver_eif_writer_new (out, &err);
  tap_ok (enclaver_eif_writer_set_signer (w, GOLDEN "sign-cert.pem", rsa_pem, &err) < 0 && err
            && strstr (err->msg, "RSA") && strstr (err->msg, "P-384"),
          "RSA key rejected with a clear message");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_set_signer (w, p256_cert, p256_pem, &err) < 0 && err && strstr (err->msg, "prime256v1")
            && strstr (err->msg, "P-384"),
          "P-256 key rejected with a clear message");
  if (err)
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_set_signer (w, GOLDEN "sign-cert.pem", other_pem, &err) < 0 && err
            && strstr (err->msg, "does not match"),
          "key not matching the certificate rejected");
  enclaver_error_release (&err);
  tap_ok (enclaver_eif_writer_set_signer (w, GOLDEN "sign-key.pem", GOLDEN "sign-key.pem", &err) < 0 && err,
          "a key file given as certificate is rejected");
  enclaver_error_release (&err);
  enclaver_eif_writer_free (w);
  EVP_PKEY_free (rsa);
  EVP_PKEY_free (p256);
  EVP_PKEY_free (other);
  X509_free (c256);
  unlink (rsa_pem);
  unlink (p256_pem);
  unlink (p256_cert);
  unlink (other_pem);
  free (out);
  free (rsa_pem);
  free (p256_pem);
  free (p256_cert);
  free (other_pem);
}

int
main (void)
{
  tmp = make_tmpdir ();
  test_pcr_api ();
  test_vector1 ();
  test_signed ();
  test_one_ramdisk_and_arch ();
  test_synthetic ();
  test_writer_api ();
  test_signer_rejects ();
  rm_rf (tmp);
  free (tmp);
  return tap_done ();
}
