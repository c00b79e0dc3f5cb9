/* enclaver: EIF reader and validator.
 *
 * Two independent walks must agree: the header's offset table (what the hypervisor
 * and QEMU use) and a sequential walk from byte 548 to the end of the file (what
 * nitro-cli uses).  Every size is checked against the file size before anything is
 * read or allocated; only the metadata (<= 16 MiB) and the signature (<= 32 KiB) are
 * held in memory.  All other data is streamed once for the CRC and the PCRs. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "eif/eif-internal.h"

struct source
{
  int fd;
  const uint8_t *buf;
  uint64_t size;
  const char *name;
};

static int
src_read (struct source *s, uint64_t off, void *out, size_t len, enclaver_error_t *err)
{
  uint8_t *p = out;

  if (off > s->size || s->size - off < len)
    return enclaver_make_error (err, EINVAL, "%s: offset %llu: read of %zu bytes past the end of the file",
                                s->name, (unsigned long long) off, len);
  if (s->buf)
    {
      memcpy (out, s->buf + off, len);
      return 0;
    }
  while (len > 0)
    {
      ssize_t r = pread (s->fd, p, len, (off_t) off);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return enclaver_make_errno (err, errno, "%s: read at offset %llu", s->name, (unsigned long long) off);
      if (r == 0)
        return enclaver_make_error (err, EIO, "%s: offset %llu: file shrank while being read", s->name,
                                    (unsigned long long) off);
      p += r;
      off += (uint64_t) r;
      len -= (size_t) r;
    }
  return 0;
}

/* Every message here reads "FILE: offset N: what": the JSON log gets N as a field. */
static int ENCLAVER_PRINTF (2, 3)
fail (enclaver_error_t *err, const char *fmt, ...)
{
  const char *o;
  int fresh = err && *err == NULL;
  va_list ap;

  va_start (ap, fmt);
  enclaver_make_verror (err, EINVAL, fmt, ap);
  va_end (ap);
  if (fresh && (o = strstr ((*err)->msg, ": offset ")) != NULL && o[9] >= '0' && o[9] <= '9')
    enclaver_error_set_field_int (err, "offset", strtoll (o + 9, NULL, 10));
  return -1;
}

#define FAIL(...) (fail (err, __VA_ARGS__))
#define ULL(x) ((unsigned long long) (x))

static int
read_sections (struct source *s, const uint8_t *h, struct enclaver_eif_info *info, enclaver_error_t *err)
{
  const char *name = s->name;
  uint64_t prev_end = ENCLAVER_EIF_HEADER_SIZE;
  int kernels = 0, cmdlines = 0, ramdisks = 0, sigs = 0, metas = 0;
  int kernel_idx = -1;

  /* 1. offset table walk */
  for (unsigned i = 0; i < info->num_sections; i++)
    {
      uint64_t off = eif_get_be64 (h + EIF_OFF_SECTION_OFFSETS + 8 * i);
      uint64_t size = eif_get_be64 (h + EIF_OFF_SECTION_SIZES + 8 * i);
      unsigned toff = EIF_OFF_SECTION_OFFSETS + 8 * i;
      uint8_t sh[ENCLAVER_EIF_SECTION_HEADER_SIZE];
      uint16_t type, flags;
      uint64_t hsize;

      if (off < ENCLAVER_EIF_HEADER_SIZE)
        return FAIL ("%s: offset %u: section %u's offset %llu lies inside the %d-byte EIF header", name, toff, i,
                     ULL (off), ENCLAVER_EIF_HEADER_SIZE);
      if (off >= s->size || s->size - off < ENCLAVER_EIF_SECTION_HEADER_SIZE)
        return FAIL ("%s: offset %u: section %u's header at offset %llu lies past the end of the file (%llu bytes)",
                     name, toff, i, ULL (off), ULL (s->size));
      if (size > s->size - off - ENCLAVER_EIF_SECTION_HEADER_SIZE)
        return FAIL ("%s: offset %u: section %u at offset %llu: size %llu runs past the end of the file (%llu bytes)",
                     name, EIF_OFF_SECTION_SIZES + 8 * i, i, ULL (off), ULL (size), ULL (s->size));
      if (off < prev_end)
        return FAIL ("%s: offset %u: section %u at offset %llu overlaps the previous section, which ends at %llu",
                     name, toff, i, ULL (off), ULL (prev_end));
      if (src_read (s, off, sh, sizeof sh, err) < 0)
        return -1;
      type = eif_get_be16 (sh);
      flags = eif_get_be16 (sh + 2);
      hsize = eif_get_be64 (sh + 4);
      if (type == ENCLAVER_EIF_SECTION_INVALID)
        return FAIL ("%s: offset %llu: section %u has the invalid section type 0", name, ULL (off), i);
      if (type > ENCLAVER_EIF_SECTION_METADATA)
        return FAIL ("%s: offset %llu: section %u has unknown section type %u (valid: 1..5)", name, ULL (off), i,
                     type);
      if (flags != 0)
        return FAIL ("%s: offset %llu: section %u (%s) has flags 0x%04x, must be 0", name, ULL (off + 2), i,
                     enclaver_eif_section_type_name (type), flags);
      if (hsize != size)
        return FAIL ("%s: offset %llu: section %u (%s) header says %llu bytes but the header table says %llu", name,
                     ULL (off + 4), i, enclaver_eif_section_type_name (type), ULL (hsize), ULL (size));
      info->sections[i].type = type;
      info->sections[i].flags = flags;
      info->sections[i].offset = off;
      info->sections[i].size = size;
      prev_end = off + ENCLAVER_EIF_SECTION_HEADER_SIZE + size;

      switch (type)
        {
        case ENCLAVER_EIF_SECTION_KERNEL:
          if (kernels++)
            return FAIL ("%s: offset %llu: section %u is a second kernel section; exactly one is allowed", name,
                         ULL (off), i);
          kernel_idx = (int) i;
          break;
        case ENCLAVER_EIF_SECTION_CMDLINE:
          if (cmdlines++)
            return FAIL ("%s: offset %llu: section %u is a second cmdline section; exactly one is allowed", name,
                         ULL (off), i);
          break;
        case ENCLAVER_EIF_SECTION_RAMDISK:
          if (kernel_idx < 0)
            return FAIL ("%s: offset %llu: ramdisk section %u comes before the kernel section", name, ULL (off), i);
          ramdisks++;
          break;
        case ENCLAVER_EIF_SECTION_SIGNATURE:
          if (sigs++)
            return FAIL ("%s: offset %llu: section %u is a second signature section; at most one is allowed", name,
                         ULL (off), i);
          if (size > ENCLAVER_EIF_SIGNATURE_MAX_SIZE)
            return FAIL ("%s: offset %llu: signature section is %llu bytes, more than the %d allowed", name,
                         ULL (off), ULL (size), ENCLAVER_EIF_SIGNATURE_MAX_SIZE);
          break;
        case ENCLAVER_EIF_SECTION_METADATA:
          if (metas++)
            return FAIL ("%s: offset %llu: section %u is a second metadata section; at most one is allowed", name,
                         ULL (off), i);
          if (size > ENCLAVER_EIF_METADATA_MAX_SIZE)
            return FAIL ("%s: offset %llu: metadata section is %llu bytes, more than the %u this reader accepts",
                         name, ULL (off), ULL (size), ENCLAVER_EIF_METADATA_MAX_SIZE);
          break;
        }
    }
  for (unsigned i = info->num_sections; i < ENCLAVER_EIF_MAX_SECTIONS; i++)
    if (eif_get_be64 (h + EIF_OFF_SECTION_OFFSETS + 8 * i) || eif_get_be64 (h + EIF_OFF_SECTION_SIZES + 8 * i))
      return FAIL ("%s: offset %u: header table entry %u is in use but num_sections is %u", name,
                   EIF_OFF_SECTION_OFFSETS + 8 * i, i, info->num_sections);

  /* 2. sequential walk, as nitro-cli reads the file */
  {
    uint64_t pos = ENCLAVER_EIF_HEADER_SIZE;
    unsigned k = 0;
    while (pos < s->size)
      {
        uint8_t sh[ENCLAVER_EIF_SECTION_HEADER_SIZE];
        uint64_t size;
        if (s->size - pos < ENCLAVER_EIF_SECTION_HEADER_SIZE)
          return FAIL ("%s: offset %llu: %llu trailing bytes after the last section (too short for a section header)",
                       name, ULL (pos), ULL (s->size - pos));
        if (k >= ENCLAVER_EIF_MAX_SECTIONS)
          return FAIL ("%s: offset %llu: more than %d sections in the file", name, ULL (pos),
                       ENCLAVER_EIF_MAX_SECTIONS);
        if (src_read (s, pos, sh, sizeof sh, err) < 0)
          return -1;
        size = eif_get_be64 (sh + 4);
        if (k >= info->num_sections)
          return FAIL ("%s: offset %llu: sequential walk finds a section (type %u, %llu bytes) that the header table "
                       "(num_sections %u) does not list",
                       name, ULL (pos), eif_get_be16 (sh), ULL (size), info->num_sections);
        if (info->sections[k].offset != pos)
          return FAIL ("%s: offset %llu: sequential walk finds section %u here, but the header table places it at "
                       "offset %llu",
                       name, ULL (pos), k, ULL (info->sections[k].offset));
        if (size > s->size - pos - ENCLAVER_EIF_SECTION_HEADER_SIZE)
          return FAIL ("%s: offset %llu: section size %llu runs past the end of the file", name, ULL (pos + 4),
                       ULL (size));
        pos += ENCLAVER_EIF_SECTION_HEADER_SIZE + size;
        k++;
      }
    if (k != info->num_sections)
      return FAIL ("%s: offset %u: the header table lists %u sections but the file holds %u", name,
                   EIF_OFF_NUM_SECTIONS, info->num_sections, k);
  }

  /* 3. required sections */
  if (kernels == 0)
    return FAIL ("%s: the image has no kernel section", name);
  if (cmdlines == 0)
    return FAIL ("%s: the image has no cmdline section", name);
  if (ramdisks == 0)
    return FAIL ("%s: the image has no ramdisk section", name);
  if (metas == 0 && info->version >= 4)
    return FAIL ("%s: EIF version %u requires a metadata section, none found", name, info->version);
  return 0;
}

static int
read_data (struct source *s, const uint8_t *h, unsigned flags, struct enclaver_eif_info *info,
           enclaver_error_t *err)
{
  struct eif_measure m;
  cleanup_free uint8_t *buf = NULL;
  cleanup_free uint8_t *sig = NULL;
  uint64_t sig_off = 0;
  size_t sig_len = 0;
  uint32_t crc;
  int ret = -1;

  if (eif_measure_init (&m, err) < 0)
    return -1;
  crc = eif_crc32 (0, h, EIF_OFF_CRC);
  if (!s->buf)
    buf = xmalloc (EIF_IO_CHUNK);
  for (unsigned i = 0; i < info->num_sections; i++)
    {
      const struct enclaver_eif_section_info *sec = &info->sections[i];
      uint8_t sh[ENCLAVER_EIF_SECTION_HEADER_SIZE];
      uint64_t pos = sec->offset + ENCLAVER_EIF_SECTION_HEADER_SIZE, left = sec->size;
      uint8_t *keep = NULL;
      size_t kept = 0;

      if (src_read (s, sec->offset, sh, sizeof sh, err) < 0)
        goto out;
      crc = eif_crc32 (crc, sh, sizeof sh);
      eif_measure_section (&m, sec->type);
      if (sec->type == ENCLAVER_EIF_SECTION_METADATA)
        {
          keep = xmalloc ((size_t) sec->size + 1);
          info->metadata = (char *) keep;
          info->metadata_len = (size_t) sec->size;
          keep[sec->size] = 0;
        }
      else if (sec->type == ENCLAVER_EIF_SECTION_SIGNATURE)
        {
          sig = keep = xmalloc ((size_t) sec->size + 1);
          sig_len = (size_t) sec->size;
          sig_off = sec->offset;
        }
      while (left > 0)
        {
          size_t n = left > EIF_IO_CHUNK ? EIF_IO_CHUNK : (size_t) left;
          const uint8_t *p;
          if (s->buf)
            {
              if (pos > s->size || s->size - pos < n)
                {
                  FAIL ("%s: offset %llu: section data past the end of the file", s->name, ULL (pos));
                  goto out;
                }
              p = s->buf + pos;
            }
          else
            {
              if (src_read (s, pos, buf, n, err) < 0)
                goto out;
              p = buf;
            }
          crc = eif_crc32 (crc, p, n);
          if (eif_measure_update (&m, p, n, err) < 0)
            goto out;
          if (keep)
            {
              memcpy (keep + kept, p, n);
              kept += n;
            }
          pos += n;
          left -= n;
        }
    }
  info->crc_computed = crc;
  info->crc_ok = crc == info->crc_stored;
  ret = eif_measure_final (&m, &info->measurements, err);
  if (ret < 0)
    goto out;

  if (info->metadata)
    {
      json_error_t jerr;
      json_t *j = json_loadb (info->metadata, info->metadata_len, 0, &jerr);
      uint64_t off = 0;
      for (unsigned i = 0; i < info->num_sections; i++)
        if (info->sections[i].type == ENCLAVER_EIF_SECTION_METADATA)
          off = info->sections[i].offset;
      if (j == NULL || !json_is_object (j))
        {
          if (j == NULL)
            FAIL ("%s: offset %llu: metadata section is not valid JSON: %s (at byte %d of the section)", s->name,
                  ULL (off), jerr.text, jerr.position);
          else
            FAIL ("%s: offset %llu: metadata section is not a JSON object", s->name, ULL (off));
          json_decref (j);
          ret = -1;
          goto out;
        }
      json_decref (j);
    }

  if (sig)
    {
      struct eif_signature_result r;
      info->is_signed = 1;
      eif_signature_check (sig, sig_len, sig_off, info->measurements.pcr0,
                           (flags & ENCLAVER_EIF_READ_NO_SIGNATURE_CHECK) != 0,
                           (flags & ENCLAVER_EIF_READ_IGNORE_CERT_TIME) != 0, &r);
      info->signature_ok = r.ok;
      info->signature_error = r.error;
      info->cert_pem = (char *) r.cert_pem;
      info->cert_pem_len = r.cert_pem_len;
      info->cose_alg = r.cose_alg;
      if (r.has_pcr8)
        {
          memcpy (info->measurements.pcr8, r.pcr8, ENCLAVER_PCR_SIZE);
          info->measurements.has_pcr8 = 1;
        }
    }
  ret = 0;
out:
  eif_measure_cleanup (&m);
  return ret;
}

static int
read_source (struct source *s, unsigned flags, struct enclaver_eif_info *info, enclaver_error_t *err)
{
  uint8_t h[ENCLAVER_EIF_HEADER_SIZE];

  memset (info, 0, sizeof *info);
  info->file_size = s->size;
  if (s->size < ENCLAVER_EIF_HEADER_SIZE)
    return FAIL ("%s: offset 0: the file is %llu bytes, shorter than the %d-byte EIF header", s->name,
                 ULL (s->size), ENCLAVER_EIF_HEADER_SIZE);
  if (src_read (s, 0, h, sizeof h, err) < 0)
    return -1;
  if (memcmp (h, ENCLAVER_EIF_MAGIC, 4) != 0)
    return FAIL ("%s: offset 0: bad magic %02x %02x %02x %02x, an EIF starts with 2e 65 69 66 (\".eif\")", s->name,
                 h[0], h[1], h[2], h[3]);
  info->version = eif_get_be16 (h + EIF_OFF_VERSION);
  info->flags = eif_get_be16 (h + EIF_OFF_FLAGS);
  info->default_mem = eif_get_be64 (h + EIF_OFF_DEFAULT_MEM);
  info->default_cpus = eif_get_be64 (h + EIF_OFF_DEFAULT_CPUS);
  info->num_sections = eif_get_be16 (h + EIF_OFF_NUM_SECTIONS);
  info->crc_stored = eif_get_be32 (h + EIF_OFF_CRC);
  if (info->version < 2 || info->version > ENCLAVER_EIF_VERSION)
    return FAIL ("%s: offset %d: unsupported EIF version %u (supported: 2..%d)", s->name, EIF_OFF_VERSION,
                 info->version, ENCLAVER_EIF_VERSION);
  if (info->flags & ~1u)
    return FAIL ("%s: offset %d: unknown header flags 0x%04x (only bit 0, aarch64, is defined)", s->name,
                 EIF_OFF_FLAGS, info->flags);
  if (info->num_sections == 0 || info->num_sections > ENCLAVER_EIF_MAX_SECTIONS)
    return FAIL ("%s: offset %d: num_sections is %u, must be 1..%d", s->name, EIF_OFF_NUM_SECTIONS,
                 info->num_sections, ENCLAVER_EIF_MAX_SECTIONS);
  if (read_sections (s, h, info, err) < 0 || read_data (s, h, flags, info, err) < 0)
    {
      enclaver_eif_info_clear (info);
      return -1;
    }
  return 0;
}

int
enclaver_eif_read_fd (int fd, const char *name, unsigned flags, struct enclaver_eif_info *info,
                      enclaver_error_t *err)
{
  struct stat st;
  struct source s = { .fd = fd, .name = name ? name : "EIF" };

  memset (info, 0, sizeof *info);
  if (fstat (fd, &st) < 0)
    return enclaver_make_errno (err, errno, "stat %s", s.name);
  if (!S_ISREG (st.st_mode))
    return enclaver_make_error (err, EINVAL, "%s: not a regular file", s.name);
  s.size = (uint64_t) st.st_size;
  if (read_source (&s, flags, info, err) < 0)
    return enclaver_error_set_field (err, "file", s.name);
  return 0;
}

int
enclaver_eif_read (const char *path, unsigned flags, struct enclaver_eif_info *info, enclaver_error_t *err)
{
  cleanup_close int fd = enclaver_open_file (path, 0, err);

  memset (info, 0, sizeof *info);
  if (fd < 0)
    return enclaver_error_set_field (err, "file", path);
  return enclaver_eif_read_fd (fd, path, flags, info, err);
}

int
enclaver_eif_read_buffer (const void *data, size_t len, unsigned flags, struct enclaver_eif_info *info,
                          enclaver_error_t *err)
{
  static const uint8_t empty[1];
  struct source s = { .fd = -1, .buf = data ? data : empty, .size = len, .name = "EIF" };
  return read_source (&s, flags, info, err);
}

int
enclaver_eif_check (const struct enclaver_eif_info *info, enclaver_error_t *err)
{
  if (!info->crc_ok)
    return enclaver_make_error (err, EINVAL, "offset %d: CRC mismatch: the header says 0x%08x, the content gives 0x%08x",
                                EIF_OFF_CRC, info->crc_stored, info->crc_computed);
  if (info->is_signed && !info->signature_ok)
    return enclaver_make_error (err, EINVAL, "bad signature: %s",
                                info->signature_error ? info->signature_error : "not verified");
  return 0;
}

void
enclaver_eif_info_clear (struct enclaver_eif_info *info)
{
  free (info->metadata);
  free (info->signature_error);
  free (info->cert_pem);
  memset (info, 0, sizeof *info);
}
