/* enclaver tests: helpers shared by the EIF tests (file I/O, assembling EIFs by hand,
 * making keys and certificates with OpenSSL). */
#ifndef ENCLAVER_EIF_TEST_UTIL_H
#define ENCLAVER_EIF_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include <enclaver/eif.h>

#include "tests/tap.h"

#define GOLDEN ABS_TOP_SRCDIR "/golden/eif/"
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))
#endif

/* Reference values for golden/eif (see golden/eif/README.md). */
#define V1_PCR0 "923b424cbee778652c0c7d4908d2b4d5fe2710914d303f402abeebf31dff99fa2f0d7b829bae1f218f4b77808d0c6746"
#define V1_PCR1 "4a571fcf5e3084f8f022fdf8dbf3dbb37868e6e94c2b19ff26aaace87e168125a1297b6dffa7b7facf120d0519614c10"
#define V1_PCR2 "ce323f9e39c5b83dee1599b8f4ea4a81cf3e7fa0d3cde76dc5c4cb3365b0ce3c11c299bfa36081c87ed991f138a87aee"
#define V2_PCR8 "977e3a9a03b181f4f84e4b52f508165154ab87f25ac75e1ea7fb9dff853c440b60e0af659782f523aeb27c8ff706e93c"
#define EMPTY_PCR "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a"
#define V1_CRC 0x87569f89u

/* Entries in a directory, "." and ".." not counted; -1 if it cannot be read. */
__attribute__ ((unused)) static int
count_dir_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return -1;
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
      n++;
  closedir (d);
  return n;
}

/* Compare a PCR with its hex form; print both on a mismatch. */
__attribute__ ((unused)) static int
pcr_is (const uint8_t pcr[ENCLAVER_PCR_SIZE], const char *hex)
{
  char h[ENCLAVER_PCR_HEX_SIZE];
  enclaver_pcr_to_hex (pcr, h);
  if (strcmp (h, hex) != 0)
    {
      tap_diag ("  got      %s", h);
      tap_diag ("  expected %s", hex);
      return 0;
    }
  return 1;
}

__attribute__ ((unused)) static uint8_t *
slurp (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf = NULL;
  long n;
  if (f == NULL)
    return NULL;
  if (fseek (f, 0, SEEK_END) == 0 && (n = ftell (f)) >= 0 && fseek (f, 0, SEEK_SET) == 0)
    {
      buf = malloc ((size_t) n + 1);
      if (buf && fread (buf, 1, (size_t) n, f) != (size_t) n)
        {
          free (buf);
          buf = NULL;
        }
      *len = (size_t) n;
    }
  fclose (f);
  return buf;
}

__attribute__ ((unused)) static int
spit (const char *path, const void *data, size_t len)
{
  FILE *f = fopen (path, "wb");
  int ok;
  if (f == NULL)
    return -1;
  ok = fwrite (data, 1, len, f) == len;
  return (fclose (f) == 0 && ok) ? 0 : -1;
}

__attribute__ ((unused)) static char *
make_tmpdir (void)
{
  const char *t = getenv ("TMPDIR");
  char *p;
  if (asprintf (&p, "%s/enclaver-eif-test.XXXXXX", t && *t ? t : "/tmp") < 0)
    abort ();
  if (mkdtemp (p) == NULL)
    abort ();
  return p;
}

__attribute__ ((unused)) static void
rm_rf (const char *dir)
{
  char *cmd;
  if (asprintf (&cmd, "rm -rf '%s'", dir) < 0)
    abort ();
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", dir);
  free (cmd);
}

static inline void
be16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}
static inline void
be32 (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (24 - 8 * i));
}
static inline void
be64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (56 - 8 * i));
}
static inline uint64_t
get_be64 (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Recompute the CRC of an EIF image in memory: header [0,544) then [548, len). */
__attribute__ ((unused)) static void
fix_crc (uint8_t *buf, size_t len)
{
  uLong crc = crc32 (0, buf, 544);
  if (len > 548)
    crc = crc32 (crc, buf + 548, (uInt) (len - 548));
  be32 (buf + 544, (uint32_t) crc);
}

struct tsec
{
  uint16_t type;
  const void *data;
  size_t len;
};

/* Assemble an EIF by hand: contiguous sections, table filled, CRC correct.  The table
 * lists at most 32 entries even if more sections are given (to build hostile files). */
__attribute__ ((unused)) static uint8_t *
mk_eif (const struct tsec *s, int n, uint16_t version, uint16_t flags, size_t *out_len)
{
  size_t len = 548;
  uint8_t *buf;
  size_t off = 548;
  for (int i = 0; i < n; i++)
    len += 12 + s[i].len;
  buf = calloc (1, len);
  memcpy (buf, ".eif", 4);
  be16 (buf + 4, version);
  be16 (buf + 6, flags);
  be64 (buf + 8, 1073741824);
  be64 (buf + 16, 2);
  be16 (buf + 26, (uint16_t) (n > 32 ? 32 : n));
  for (int i = 0; i < n; i++)
    {
      if (i < 32)
        {
          be64 (buf + 28 + 8 * i, off);
          be64 (buf + 284 + 8 * i, s[i].len);
        }
      be16 (buf + off, s[i].type);
      be16 (buf + off + 2, 0);
      be64 (buf + off + 4, s[i].len);
      if (s[i].len)
        memcpy (buf + off + 12, s[i].data, s[i].len);
      off += 12 + s[i].len;
    }
  fix_crc (buf, len);
  *out_len = len;
  return buf;
}

/* Find needle in hay; returns the offset or -1. */
__attribute__ ((unused)) static long
find_bytes (const uint8_t *hay, size_t len, const uint8_t *needle, size_t nlen)
{
  for (size_t i = 0; i + nlen <= len; i++)
    if (memcmp (hay + i, needle, nlen) == 0)
      return (long) i;
  return -1;
}

/* EC key on a named curve ("P-384", "P-256") or RSA ("RSA"), written as PEM. */
__attribute__ ((unused)) static EVP_PKEY *
make_key (const char *kind)
{
  if (strcmp (kind, "RSA") == 0)
    return EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 2048);
  return EVP_PKEY_Q_keygen (NULL, NULL, "EC", kind);
}

/* Self-signed certificate valid from now+from_days to now+to_days. */
__attribute__ ((unused)) static X509 *
make_cert (EVP_PKEY *key, long from_days, long to_days, const char *cn)
{
  X509 *x = X509_new ();
  X509_NAME *name;
  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), 1);
  X509_gmtime_adj (X509_getm_notBefore (x), from_days * 86400L);
  X509_gmtime_adj (X509_getm_notAfter (x), to_days * 86400L);
  X509_set_pubkey (x, key);
  name = X509_get_subject_name (x);
  X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
  X509_set_issuer_name (x, name);
  if (X509_sign (x, key, EVP_sha384 ()) <= 0)
    {
      X509_free (x);
      return NULL;
    }
  return x;
}

__attribute__ ((unused)) static int
write_key_pem (const char *path, EVP_PKEY *key)
{
  FILE *f = fopen (path, "w");
  int ok;
  if (f == NULL)
    return -1;
  ok = PEM_write_PrivateKey (f, key, NULL, NULL, 0, NULL, NULL) == 1;
  fclose (f);
  return ok ? 0 : -1;
}

__attribute__ ((unused)) static int
write_cert_pem (const char *path, X509 *x)
{
  FILE *f = fopen (path, "w");
  int ok;
  if (f == NULL)
    return -1;
  ok = PEM_write_X509 (f, x) == 1;
  fclose (f);
  return ok ? 0 : -1;
}

/* A writer for `out` holding vector1's kernel, cmdline and metadata (optionally signed,
 * for arch); the ramdisks are the caller's.  NULL with *err set on failure. */
__attribute__ ((unused)) static enclaver_eif_writer_t *
start_vector1 (const char *out, const char *cert, const char *key, enum enclaver_eif_arch arch,
               enclaver_error_t *err)
{
  struct enclaver_eif_metadata md = {
    .image_name = "vector1",
    .image_version = "1.0",
    .build_time = "2020-01-01T00:00:00+00:00",
    .build_tool = "eif_build",
    .build_tool_version = "0.3.1",
    .operating_system = "OS",
    .kernel_version = "kernel",
  };
  size_t cl_len = 0;
  uint8_t *cl = slurp (GOLDEN "cmdline.txt", &cl_len);
  enclaver_eif_writer_t *w = cl ? enclaver_eif_writer_new (out, err) : NULL;
  int ok = w != NULL;

  if (ok)
    enclaver_eif_writer_set_arch (w, arch);
  ok = ok && (!cert || enclaver_eif_writer_set_signer (w, cert, key, err) == 0)
       && enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_KERNEL, GOLDEN "kernel.bin", err) == 0
       && enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, cl, cl_len, err) == 0
       && enclaver_eif_writer_add_metadata (w, &md, err) == 0;
  free (cl);
  if (!ok)
    {
      enclaver_eif_writer_free (w);
      return NULL;
    }
  return w;
}

/* Build vector1 (optionally signed, one or two ramdisks, arch) with the library. */
__attribute__ ((unused)) static int
build_vector (const char *out, const char *cert, const char *key, int ramdisks, enum enclaver_eif_arch arch,
              struct enclaver_eif_measurements *m, enclaver_error_t *err)
{
  enclaver_eif_writer_t *w = start_vector1 (out, cert, key, arch, err);
  int ret = -1;

  if (w == NULL)
    return -1;
  if (enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_RAMDISK, GOLDEN "ramdisk0.cpio", err) < 0)
    goto out;
  if (ramdisks > 1 && enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_RAMDISK, GOLDEN "ramdisk1.cpio", err) < 0)
    goto out;
  if (enclaver_eif_writer_finish (w, m, err) < 0)
    goto out;
  ret = 0;
out:
  enclaver_eif_writer_free (w);
  return ret;
}

/* Read flags for images signed with golden/eif/sign-cert.pem: its validity starts on
 * 2026-11-26, so on a machine whose clock is earlier the time check is skipped. */
__attribute__ ((unused)) static unsigned
golden_cert_flags (void)
{
  FILE *f = fopen (GOLDEN "sign-cert.pem", "r");
  X509 *x = f ? PEM_read_X509 (f, NULL, NULL, NULL) : NULL;
  unsigned flags = 0;
  if (f)
    fclose (f);
  if (x && X509_cmp_current_time (X509_get0_notBefore (x)) >= 0)
    {
      printf ("# clock is before the golden certificate's NotBefore: not checking its validity period\n");
      flags = ENCLAVER_EIF_READ_IGNORE_CERT_TIME;
    }
  X509_free (x);
  return flags;
}

/* Run argv (argv[0] = program path) with stdout/stderr captured to files; returns the
 * exit status, or 128+signal if killed, or -1. */
__attribute__ ((unused)) static int
run_capture (char *const argv[], const char *out_path, const char *err_path)
{
  pid_t pid = fork ();
  int st;
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      int o = open (out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0)
        _exit (126);
      dup2 (o, 1);
      dup2 (e, 2);
      execv (argv[0], argv);
      _exit (127);
    }
  if (waitpid (pid, &st, 0) < 0)
    return -1;
  if (WIFSIGNALED (st))
    return 128 + WTERMSIG (st);
  return WEXITSTATUS (st);
}

#endif
