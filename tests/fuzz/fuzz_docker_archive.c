/* enclaver: libFuzzer target for docker-archive: sources (`docker save` tars): the
 * archive reader (core/oci/archive.c) and the manifest.json it carries, read through
 * the public entry point, enclaver_image_fetch("docker-archive:FILE[:REF]").
 *
 * The input is the archive's manifest.json.  The harness writes a tar holding it, a
 * valid config (config.json) and a one-file layer (layer.tar) whose diff_id the config
 * lists, so the fuzzer spends its time on manifest.json and not on tar headers (the tar
 * reader has fuzz_tree_apply).  The first byte picks the REF (none, @0, @1, a tag).
 * Each run starts from an empty cache. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <limits.h>

#include <enclaver/image.h>
#include <enclaver/log.h>
#include "oci/oci.h"

#include "fuzz.h"

static char *layer, *config;
static size_t layer_len, config_len;

static void
add_member (struct archive *a, const char *name, const void *data, size_t len)
{
  struct archive_entry *e = archive_entry_new ();
  FUZZ_CHECK (e != NULL);
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t) len);
  archive_entry_set_mtime (e, 1700000000, 0);
  FUZZ_CHECK (archive_write_header (a, e) == ARCHIVE_OK);
  FUZZ_CHECK (len == 0 || archive_write_data (a, data, len) == (la_ssize_t) len);
  archive_entry_free (e);
}

/* A tar of the given members into a malloc'd buffer (or a file when path is set). */
static char *
make_tar (const char *path, const char *const *names, const void *const *datas, const size_t *lens, size_t n,
          size_t *out_len)
{
  struct archive *a = archive_write_new ();
  size_t cap = 1u << 20, used = 0;
  char *buf = NULL;
  FUZZ_CHECK (a != NULL && archive_write_set_format_pax_restricted (a) == ARCHIVE_OK);
  if (path)
    FUZZ_CHECK (archive_write_open_filename (a, path) == ARCHIVE_OK);
  else
    {
      buf = malloc (cap);
      FUZZ_CHECK (buf != NULL);
      FUZZ_CHECK (archive_write_open_memory (a, buf, cap, &used) == ARCHIVE_OK);
    }
  for (size_t i = 0; i < n; i++)
    add_member (a, names[i], datas[i], lens[i]);
  FUZZ_CHECK (archive_write_close (a) == ARCHIVE_OK);
  archive_write_free (a);
  if (out_len)
    *out_len = used;
  return buf;
}

static void
setup (void)
{
  static const char *const lname[] = { "hello" };
  static const void *const ldata[] = { "hi\n" };
  static const size_t llen[] = { 3 };
  char diff_id[OCI_DIGEST_LEN + 1];
  layer = make_tar (NULL, lname, ldata, llen, 1, &layer_len);
  oci_sha256_buf (layer, layer_len, diff_id);
  config_len = (size_t) asprintf (&config,
                                  "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/hello\"]},"
                                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                                  diff_id);
  FUZZ_CHECK (config != NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const refs[] = { "", ":@0", ":@1", ":app:latest" };
  char tar[PATH_MAX], cache[PATH_MAX], source[PATH_MAX + 32];
  enclaver_error_t err = NULL;
  struct enclaver_image_options o;

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  if (layer == NULL)
    setup ();
  if (size == 0)
    return 0;
  const char *names[] = { "manifest.json", "config.json", "layer.tar" };
  const void *datas[] = { data + 1, config, layer };
  size_t lens[] = { size - 1, config_len, layer_len };
  snprintf (tar, sizeof tar, "%s/image.tar", fuzz_tmpdir ());
  snprintf (cache, sizeof cache, "%s/cache", fuzz_tmpdir ());
  make_tar (tar, names, datas, lens, 3, NULL);
  snprintf (source, sizeof source, "docker-archive:%s%s", tar, refs[data[0] % 4]);

  enclaver_image_options_init (&o);
  o.cache_dir = cache;
  o.offline = 1;
  o.progress = 0;
  o.jobs = 1;
  struct enclaver_image *img = enclaver_image_fetch (source, &o, &err);
  if (img == NULL)
    {
      FUZZ_CHECK (err != NULL && err->msg && *err->msg);
      fuzz_note ("fuzz_docker_archive", err->msg);
    }
  else
    {
      FUZZ_CHECK (img->os && img->architecture && img->digest && oci_digest_valid (img->digest));
      char *j = enclaver_image_to_json (img, &err);
      FUZZ_CHECK (j != NULL);
      free (j);
      enclaver_image_free (img);
    }
  enclaver_error_release (&err);
  fuzz_rmtree (cache);
  return 0;
}
