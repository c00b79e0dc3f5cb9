/* emit-eif stage: the EIF written by measure becomes a build artifact; optionally read
 * it back with the EIF reader to prove it is well formed and measures the same; and
 * produce the JSON `enclaver build` prints. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>

struct emit_config
{
  int verify;
};

static const struct enclaver_stage_option emit_options[] = {
  { ENCLAVER_OPT_BOOL, "verify", "false", 0, offsetof (struct emit_config, verify),
    "read the EIF back with the EIF reader and check its CRC and PCRs (one more pass over the file)" },
  { 0, NULL, NULL, 0, 0, NULL },
};

/* SHA-256 of the finished EIF for `-o json`.  It cannot be computed while the EIF is
 * written: the file begins with the header, whose CRC and section table are known only
 * once the last byte is written.  So the file is hashed afterwards, from a read-only
 * mapping of its page-cache pages (no copy into a buffer of ours). */
static int
file_sha256 (const char *path, char out[65], uint64_t *size, enclaver_error_t *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  EVP_MD_CTX *md;
  unsigned char dig[32];
  unsigned dl = 0, i;
  struct stat st;
  const unsigned char *map = NULL;
  int ok;
  if (fd < 0)
    return enclaver_make_errno (err, errno, "open %s", path);
  if (fstat (fd, &st) < 0)
    {
      int e = errno;
      close (fd);
      return enclaver_make_errno (err, e, "stat %s", path);
    }
  *size = (uint64_t) st.st_size;
  if (st.st_size > 0)
    {
      void *m = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED)
        {
          int e = errno;
          close (fd);
          return enclaver_make_errno (err, e, "map %s", path);
        }
      map = m;
      (void) madvise (m, (size_t) st.st_size, MADV_SEQUENTIAL);
    }
  close (fd);
  md = EVP_MD_CTX_new ();
  ok = md != NULL && EVP_DigestInit_ex (md, EVP_sha256 (), NULL) == 1;
  for (uint64_t off = 0; ok && off < *size; off += 1u << 20)
    ok = EVP_DigestUpdate (md, map + off, *size - off < (1u << 20) ? (size_t) (*size - off) : (1u << 20)) == 1;
  ok = ok && EVP_DigestFinal_ex (md, dig, &dl) == 1;
  EVP_MD_CTX_free (md);
  if (map)
    munmap ((void *) map, (size_t) *size);
  if (!ok)
    return enclaver_make_error (err, EIO, "SHA-256 of %s failed", path);
  for (i = 0; i < 32; i++)
    snprintf (out + 2 * i, 3, "%02x", dig[i]);
  return 0;
}

static json_t *
measurements_json (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  char hex[ENCLAVER_PCR_HEX_SIZE];
  json_object_set_new (o, "HashAlgorithm", json_string (ENCLAVER_PCR_HASH_ALGORITHM));
  enclaver_pcr_to_hex (m->pcr0, hex);
  json_object_set_new (o, "PCR0", json_string (hex));
  enclaver_pcr_to_hex (m->pcr1, hex);
  json_object_set_new (o, "PCR1", json_string (hex));
  enclaver_pcr_to_hex (m->pcr2, hex);
  json_object_set_new (o, "PCR2", json_string (hex));
  if (m->has_pcr8)
    {
      enclaver_pcr_to_hex (m->pcr8, hex);
      json_object_set_new (o, "PCR8", json_string (hex));
    }
  return o;
}

static int
verify_eif (enclaver_stage_t *st, const char *path, const struct enclaver_eif_measurements *m, enclaver_error_t *err)
{
  struct enclaver_eif_info info;
  int r;
  memset (&info, 0, sizeof info);
  r = enclaver_eif_read (path, 0, &info, err);
  if (r == 0)
    r = enclaver_eif_check (&info, err);
  if (r == 0 && (memcmp (info.measurements.pcr0, m->pcr0, ENCLAVER_PCR_SIZE) != 0 || memcmp (info.measurements.pcr1, m->pcr1, ENCLAVER_PCR_SIZE) != 0
                 || memcmp (info.measurements.pcr2, m->pcr2, ENCLAVER_PCR_SIZE) != 0))
    r = enclaver_make_error (err, EIO, "%s: PCRs read back differ from the ones measured while writing", path);
  enclaver_eif_info_clear (&info);
  if (r == 0)
    enclaver_stage_log_info (st, "read back %s: header, CRC and PCRs check out", path);
  return r;
}

static int
emit_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct emit_config *c = enclaver_stage_get_config (st);
  const struct enclaver_eif_measurements *m
    = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE);
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  const char *final = enclaver_ctx_get_param (ctx, "eif-path");
  const char *tmp = enclaver_ctx_get_param (ctx, "eif-tmp");
  const char *fmt = enclaver_ctx_get_param (ctx, "output-format");
  json_t *res;
  char *s;
  int r;

  if (m == NULL || final == NULL || tmp == NULL)
    return enclaver_make_error (err, EINVAL, "no measured EIF in the build context (run measure before emit-eif)");
  if (c->verify && verify_eif (st, tmp, m, err) < 0)
    return -1;
  if (enclaver_ctx_add_artifact (ctx, "eif", final, err) < 0)
    return -1;

  res = json_object ();
  json_object_set_new (res, "Measurements", measurements_json (m));
  if (fmt && strcmp (fmt, "json") == 0)
    {
      char sha[65];
      uint64_t size = 0;
      if (file_sha256 (tmp, sha, &size, err) < 0)
        {
          json_decref (res);
          return -1;
        }
      char *name = img ? enclaver_build_source_name (img) : NULL;
      int64_t t;
      char *bt;
      if (enclaver_build_time (ctx, img, &t, err) < 0)
        {
          free (name);
          json_decref (res);
          return -1;
        }
      bt = enclaver_build_time_string (t);
      json_object_set_new (res, "Sources",
                           json_pack ("{s:{s:s?, s:s?}}", "App", "Name", name, "Digest", img ? img->digest : NULL));
      json_object_set_new (res, "BuildTime", json_string (bt));
      free (name);
      free (bt);
      json_object_set_new (res, "Eif", json_pack ("{s:s, s:s, s:I}", "Path", final, "Sha256", sha, "Size",
                                                  (json_int_t) size));
    }
  s = json_dumps (res, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (res);
  r = enclaver_ctx_set_param (ctx, "result-json", s, err);
  free (s);
  return r;
}

ENCLAVER_STAGE_DEFINE (.name = "emit-eif",
                       .description = "publish the measured EIF as the build's artifact and report its PCRs",
                       .options = emit_options, .config_size = sizeof (struct emit_config), .run = emit_run);
