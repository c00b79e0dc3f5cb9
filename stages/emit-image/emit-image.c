/* emit-image stage: package the EIF and the manifest as the wrapper ("sleeve") image:
 * an OCI image whose top layer holds /enclave/application.eif and
 * /enclave/enclaver.yaml, with the PCRs and the source digest as annotations.
 *
 * Formats (manifest output.image.format, or the stage option `format`):
 *   oci             an OCI image layout directory
 *   docker-archive  one tar that `docker load` accepts and that is also an OCI layout
 *                   (index.json + oci-layout + manifest.json + repositories, as Docker >= 25
 *                   saves), written by core/oci/archive-write.c like `image copy`'s archives
 * Every byte is deterministic: times are the build time (enclaver_build_time), uid/gid 0,
 * sorted entries, uncompressed layer. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include <enclaver/tempfiles.h>

struct emit_image_config
{
  char *format;
  char *destination;
  char *launcher;
};

static const struct enclaver_stage_option options[] = {
  { ENCLAVER_OPT_STRING, "format", NULL, 0, offsetof (struct emit_image_config, format),
    "oci or docker-archive (default: output.image.format, else oci)" },
  { ENCLAVER_OPT_STRING, "destination", NULL, 0, offsetof (struct emit_image_config, destination),
    "where to write the image (default: output.image.destination, else <--output-dir or manifest dir>/<name>-image[.tar])" },
  { ENCLAVER_OPT_STRING, "launcher", NULL, 0, offsetof (struct emit_image_config, launcher),
    "the host launcher installed as /usr/local/bin/enclaver-run and made the entrypoint: auto (default: "
    "the static enclaver-run of this installation, when it is for the EIF's architecture), none, or the "
    "path of a static launcher" },
  { 0, NULL, NULL, 0, 0, NULL },
};

struct blob
{
  char digest[72]; /* sha256:<hex> */
  uint64_t size;
  char *path;      /* file holding it (layer), or NULL with data */
  char *data;      /* JSON blobs */
};

static void
hex_digest (EVP_MD_CTX *md, char out[72])
{
  unsigned char d[32];
  unsigned n = 0, i;
  EVP_DigestFinal_ex (md, d, &n);
  memcpy (out, "sha256:", 7);
  for (i = 0; i < 32; i++)
    snprintf (out + 7 + 2 * i, 3, "%02x", d[i]);
}

static void
blob_of_json (struct blob *b, json_t *j)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  b->data = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  b->size = strlen (b->data);
  EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
  EVP_DigestUpdate (md, b->data, b->size);
  hex_digest (md, b->digest);
  EVP_MD_CTX_free (md);
}

/* libarchive client writer that hashes and counts what it writes to an fd. */
struct hash_sink
{
  int fd;
  EVP_MD_CTX *md;
  uint64_t n;
};

static la_ssize_t
sink_write (struct archive *a, void *ud, const void *buf, size_t len)
{
  struct hash_sink *s = ud;
  const char *p = buf;
  size_t left = len;
  while (left > 0)
    {
      ssize_t w = write (s->fd, p, left);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          archive_set_error (a, errno, "write");
          return -1;
        }
      p += w;
      left -= (size_t) w;
    }
  if (s->md)
    EVP_DigestUpdate (s->md, buf, len);
  s->n += len;
  return (la_ssize_t) len;
}

static int
tar_open (struct archive **out, struct hash_sink *s, enclaver_error_t *err)
{
  struct archive *a = archive_write_new ();
  archive_write_set_format_ustar (a);
  archive_write_set_bytes_per_block (a, 10240);
  if (archive_write_open (a, s, NULL, sink_write, NULL) != ARCHIVE_OK)
    {
      enclaver_make_error (err, EIO, "tar: %s", archive_error_string (a));
      archive_write_free (a);
      return -1;
    }
  *out = a;
  return 0;
}

static int
tar_add_hashed (struct archive *a, const char *name, int dir, uint32_t mode, int64_t mtime, uint64_t size,
                const void *data, const char *from_path, EVP_MD_CTX *content_md, enclaver_error_t *err)
{
  struct archive_entry *e = archive_entry_new ();
  int r = 0;
  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, dir ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm (e, mode);
  archive_entry_set_mtime (e, mtime, 0);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  archive_entry_set_size (e, dir ? 0 : (la_int64_t) size);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    r = enclaver_make_error (err, EIO, "tar %s: %s", name, archive_error_string (a));
  else if (data && size && archive_write_data (a, data, size) != (la_ssize_t) size)
    r = enclaver_make_error (err, EIO, "tar %s: %s", name, archive_error_string (a));
  else if (from_path)
    {
      char buf[1 << 16];
      ssize_t n;
      int fd = open (from_path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        r = enclaver_make_errno (err, errno, "open %s", from_path);
      while (r == 0 && (n = read (fd, buf, sizeof buf)) != 0)
        {
          if (n < 0)
            r = enclaver_make_errno (err, errno, "read %s", from_path);
          else if (archive_write_data (a, buf, (size_t) n) != n)
            r = enclaver_make_error (err, EIO, "tar %s: %s", name, archive_error_string (a));
          else if (content_md)
            EVP_DigestUpdate (content_md, buf, (size_t) n);
        }
      if (fd >= 0)
        close (fd);
    }
  archive_entry_free (e);
  return r;
}

static int
tar_add (struct archive *a, const char *name, int dir, uint32_t mode, int64_t mtime, uint64_t size,
         const void *data, const char *from_path, enclaver_error_t *err)
{
  return tar_add_hashed (a, name, dir, mode, mtime, size, data, from_path, NULL, err);
}

static int
tar_close (struct archive *a, enclaver_error_t *err)
{
  int r = archive_write_close (a) == ARCHIVE_OK ? 0 : enclaver_make_error (err, EIO, "tar: %s", archive_error_string (a));
  archive_write_free (a);
  return r;
}

static uint64_t
file_size (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 ? (uint64_t) st.st_size : 0;
}

/* A layer being written: an uncompressed tar into a file, hashed as it is written (its
 * digest is also its diff_id). */
struct layer_writer
{
  struct hash_sink s;
  struct archive *a;
};

static int
layer_begin (struct layer_writer *w, const char *layer_path, enclaver_error_t *err)
{
  memset (w, 0, sizeof *w);
  w->s.fd = open (layer_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->s.fd < 0)
    return enclaver_make_errno (err, errno, "create %s", layer_path);
  w->s.md = EVP_MD_CTX_new ();
  if (w->s.md == NULL || EVP_DigestInit_ex (w->s.md, EVP_sha256 (), NULL) != 1)
    abort ();
  if (tar_open (&w->a, &w->s, err) < 0)
    {
      EVP_MD_CTX_free (w->s.md);
      close (w->s.fd);
      return -1;
    }
  return 0;
}

/* Finish the tar when the entries went in (ok), fill out (digest, size, path), and
 * release w whatever happened. */
static int
layer_end (struct layer_writer *w, int ok, const char *layer_path, struct blob *out, enclaver_error_t *err)
{
  int r = -1;
  if (ok)
    r = tar_close (w->a, err);
  else
    archive_write_free (w->a);
  if (r == 0)
    {
      hex_digest (w->s.md, out->digest);
      out->size = w->s.n;
      out->path = strdup (layer_path);
    }
  EVP_MD_CTX_free (w->s.md);
  close (w->s.fd);
  return r;
}

/* The bottom layer: usr/local/bin/enclaver-run, the launcher, written to layer_path.
 * Its own layer, so that images of the same launcher share it in registries and on
 * hosts. */
static int
write_launcher_layer (const char *layer_path, const char *launcher, int64_t mtime, struct blob *out,
                      enclaver_error_t *err)
{
  struct layer_writer w;
  if (layer_begin (&w, layer_path, err) < 0)
    return -1;
  return layer_end (&w,
                    tar_add (w.a, "usr/", 1, 0755, mtime, 0, NULL, NULL, err) == 0
                      && tar_add (w.a, "usr/local/", 1, 0755, mtime, 0, NULL, NULL, err) == 0
                      && tar_add (w.a, "usr/local/bin/", 1, 0755, mtime, 0, NULL, NULL, err) == 0
                      && tar_add (w.a, "usr/local/bin/enclaver-run", 0, 0755, mtime, file_size (launcher), NULL,
                                  launcher, err) == 0,
                    layer_path, out, err);
}

/* The top layer: enclave/, enclave/application.eif, enclave/enclaver.yaml, written to
 * layer_path; also the EIF's own SHA-256 (hex) and size, hashed as it is copied. */
static int
write_layer (const char *layer_path, const char *eif, const char *manifest_bytes, size_t manifest_len,
             int64_t mtime, struct blob *out, char eif_sha[72], uint64_t *eif_size, enclaver_error_t *err)
{
  struct layer_writer w;
  EVP_MD_CTX *emd;
  int r;
  if (layer_begin (&w, layer_path, err) < 0)
    return -1;
  emd = EVP_MD_CTX_new ();
  if (emd == NULL || EVP_DigestInit_ex (emd, EVP_sha256 (), NULL) != 1)
    abort ();
  *eif_size = file_size (eif);
  r = layer_end (&w,
                 tar_add (w.a, "enclave/", 1, 0755, mtime, 0, NULL, NULL, err) == 0
                   && tar_add_hashed (w.a, "enclave/application.eif", 0, 0644, mtime, *eif_size, NULL, eif, emd, err) == 0
                   && tar_add (w.a, "enclave/enclaver.yaml", 0, 0644, mtime, manifest_len, manifest_bytes, NULL, err)
                        == 0,
                 layer_path, out, err);
  if (r == 0)
    hex_digest (emd, eif_sha);
  EVP_MD_CTX_free (emd);
  return r;
}

/* Remove the scratch layout of the docker-archive format: only files this stage made. */
static void
scratch_remove (const char *dir)
{
  static const char *const top[] = { "index.json", "oci-layout" };
  size_t n = strlen (dir) + 96, i;
  char *p = malloc (n);
  DIR *d;
  struct dirent *de;
  if (p == NULL)
    abort ();
  snprintf (p, n, "%s/blobs/sha256", dir);
  if ((d = opendir (p)) != NULL)
    {
      while ((de = readdir (d)) != NULL)
        if (de->d_name[0] != '.')
          {
            char *f = malloc (n + 256);
            if (f == NULL)
              abort ();
            snprintf (f, n + 256, "%s/%s", p, de->d_name);
            unlink (f);
            free (f);
          }
      closedir (d);
    }
  rmdir (p);
  snprintf (p, n, "%s/blobs", dir);
  rmdir (p);
  for (i = 0; i < 2; i++)
    {
      snprintf (p, n, "%s/%s", dir, top[i]);
      unlink (p);
    }
  rmdir (dir);
  free (p);
}

static int
write_file (const char *path, const void *data, size_t len, enclaver_error_t *err)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const char *p = data;
  if (fd < 0)
    return enclaver_make_errno (err, errno, "create %s", path);
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          int e = errno;
          close (fd);
          return enclaver_make_errno (err, e, "write %s", path);
        }
      p += w;
      len -= (size_t) w;
    }
  return close (fd) < 0 ? enclaver_make_errno (err, errno, "close %s", path) : 0;
}

/* The format and destination of the wrapper image (stage options, else the manifest's
 * output.image, else an OCI layout <--output-dir or manifest dir>/<name>-image). */
static int
image_dest (struct emit_image_config *c, const struct enclaver_manifest *m, enclaver_ctx_t *ctx,
            const char **format, char **dest, enclaver_error_t *err)
{
  const char *dest_in = c->destination ? c->destination : m->output_image_dest;
  const char *workdir = enclaver_build_output_dir (ctx);
  size_t n;

  *format = c->format ? c->format : m->output_image_format ? m->output_image_format : "oci";
  if (strcmp (*format, "registry") == 0)
    {
      /* The image is written as the default OCI layout, and `enclaver build` pushes it
       * to output.image.destination (cli/build-push.c). */
      *format = "oci";
      dest_in = c->destination;
    }
  if (strcmp (*format, "oci") != 0 && strcmp (*format, "docker-archive") != 0)
    return enclaver_make_error (err, EINVAL, "image format '%s' is not oci or docker-archive", *format);
  if (dest_in && dest_in[0] == '/')
    {
      *dest = enclaver_build_output_name (ctx, dest_in, ".tar");
      return 0;
    }
  n = strlen (workdir) + (dest_in ? strlen (dest_in) : strlen (m->name) + 16) + 8;
  *dest = malloc (n);
  if (*dest == NULL)
    abort ();
  if (dest_in)
    snprintf (*dest, n, "%s/%s", workdir, dest_in);
  else
    snprintf (*dest, n, "%s/%s-image%s", workdir, m->name, strcmp (*format, "oci") == 0 ? "" : ".tar");
  /* A multi-platform build: each platform's image first, then the CLI's index of them. */
  if (enclaver_ctx_get_param (ctx, "output-suffix"))
    {
      char *d = enclaver_build_output_name (ctx, *dest, ".tar");
      free (*dest);
      *dest = d;
    }
  return 0;
}

/* The host launcher runs on the parent instance, which has the EIF's architecture. */
static int
check_launcher (const char *launcher, int arch, enclaver_error_t *err)
{
  if (access (launcher, R_OK) != 0)
    return enclaver_make_errno (err, errno, "launcher %s", launcher);
  return enclaver_build_check_elf (launcher, arch, "the launcher", err);
}

/* The launcher to install (*out, NULL for none): the option's path, checked; "none"; or,
 * by default, this installation's static enclaver-run for the EIF's architecture (the
 * cross-built one for the other architecture, docs/cross-arch.md).  Without one for the
 * EIF's architecture the build fails when the host's exists (the release image would
 * lack what the native build gives it), and otherwise goes on without, with a warning. */
static int
find_launcher (enclaver_stage_t *st, const char *opt, int arch, int quiet, char **out, enclaver_error_t *err)
{
  enclaver_error_t e = NULL;
  char *p;

  *out = NULL;
  if (opt && strcmp (opt, "none") == 0)
    return 0;
  if (opt && strcmp (opt, "auto") != 0)
    {
      if (check_launcher (opt, arch, err) < 0)
        return -1;
      *out = strdup (opt);
      return 0;
    }
  p = enclaver_find_runtime_program ("enclaver-run", arch, &e);
  if (p && enclaver_build_check_elf (p, arch, "the launcher", &e) < 0)
    {
      free (p);
      p = NULL;
    }
  if (p == NULL && arch != enclaver_build_host_arch ())
    {
      /* A release image without entrypoint only because this host is of another
       * architecture would differ from the native build's: refuse it. */
      char *host_run = enclaver_find_runtime_program ("enclaver-run", enclaver_build_host_arch (), NULL);
      if (host_run)
        {
          free (host_run);
          enclaver_error_move (err, &e);
          return enclaver_error_wrap (err, "the launcher of the %s release image (emit-image option launcher: "
                                           "auto; launcher: none builds it without)",
                                      enclaver_eif_arch_name ((enum enclaver_eif_arch) arch));
        }
    }
  if (p == NULL)
    {
      if (!quiet)
        enclaver_stage_log_warning (st, "%s; the release image gets no entrypoint (emit-image option launcher: "
                                        "PATH adds a static enclaver-run for the EIF's architecture)", e->msg);
      enclaver_error_release (&e);
      return 0;
    }
  *out = p;
  return 0;
}

/* Before any stage runs: the wrapper image's destination can be written, and the
 * launcher is a program for the EIF's architecture. */
static int
emit_image_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct emit_image_config *c = enclaver_stage_get_config (st);
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *format, *why;
  char *dest = NULL;
  int r, arch;

  if (m == NULL)
    return 0;
  r = image_dest (c, m, ctx, &format, &dest, err);
  if (r == 0)
    r = enclaver_build_check_output (dest, strcmp (format, "oci") == 0, "the wrapper image", err);
  if (r == 0 && c->launcher && strcmp (c->launcher, "auto") != 0 && strcmp (c->launcher, "none") != 0)
    r = enclaver_build_arch (ctx, NULL, &arch, &why, err) < 0 ? -1 : check_launcher (c->launcher, arch, err);
  else if (r == 0 && (c->launcher == NULL || strcmp (c->launcher, "none") != 0))
    {
      char *p = NULL;
      r = enclaver_build_arch (ctx, NULL, &arch, &why, err) < 0 ? -1 : find_launcher (st, c->launcher, arch, 1, &p, err);
      free (p);
    }
  free (dest);
  return r;
}

/* Add Image {Path, Format, Tag, Digest} to the JSON `enclaver build -o json` prints. */
static int
add_result (enclaver_ctx_t *ctx, const char *dest, const char *format, const char *tag, const char *digest,
            enclaver_error_t *err)
{
  const char *fmt = enclaver_ctx_get_param (ctx, "output-format");
  const char *res = enclaver_ctx_get_param (ctx, "result-json");
  json_t *j;
  char *s;
  int r;
  if (fmt == NULL || strcmp (fmt, "json") != 0)
    return 0;
  j = res ? json_loads (res, 0, NULL) : json_object ();
  if (j == NULL || !json_is_object (j))
    {
      json_decref (j);
      return enclaver_make_error (err, EINVAL, "the build's result JSON is not an object");
    }
  json_object_set_new (j, "Image", json_pack ("{s:s, s:s, s:s, s:s}", "Path", dest, "Format", format, "Tag", tag,
                                              "Digest", digest));
  s = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (j);
  r = enclaver_ctx_set_param (ctx, "result-json", s, err);
  free (s);
  return r;
}

static int
emit_image_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct emit_image_config *c = enclaver_stage_get_config (st);
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_eif_measurements *meas
    = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE);
  const struct enclaver_kernel *k = enclaver_ctx_get (ctx, ENCLAVER_SLOT_KERNEL, ENCLAVER_KERNEL_TYPE);
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  const char *eif_tmp = enclaver_ctx_get_param (ctx, "eif-tmp");
  const char *format;
  char *dest = NULL, *mbytes = NULL, *created = NULL, *layer_path = NULL, *ref_name = NULL, *src_name = NULL;
  char *launcher = NULL, *launcher_path = NULL;
  char hex[ENCLAVER_PCR_HEX_SIZE], *tarpath = NULL, eif_sha[72] = "";
  uint64_t eif_size = 0;
  size_t mlen = 0;
  struct blob layers[2] = { { "", 0, NULL, NULL }, { "", 0, NULL, NULL } }, config = { 0 }, manifest = { 0 };
  size_t nl = 0;
  json_t *diff_ids = NULL, *mlayers = NULL;
  json_t *cfg = NULL, *man = NULL, *annotations = NULL;
  int64_t btime;
  int ret = -1;

  if (m == NULL || meas == NULL || eif_tmp == NULL)
    return enclaver_make_error (err, EINVAL, "no measured EIF in the build context (run measure and emit-eif first)");
  if (image_dest (c, m, ctx, &format, &dest, err) < 0)
    return -1;
  if (find_launcher (st, c->launcher, k ? k->arch : enclaver_build_host_arch (),
                     enclaver_log_get_level () < ENCLAVER_LOG_WARNING, &launcher, err) < 0)
    goto out;
  if (enclaver_build_time (ctx, img, &btime, err) < 0)
    goto out;
  mbytes = enclaver_manifest_bytes (m, &mlen, err);
  if (mbytes == NULL)
    goto out;
  created = enclaver_build_time_string (btime);
  src_name = img ? enclaver_build_source_name (img) : NULL;

  /* Build the blobs in a temporary directory (the oci format's own output). */
  {
    const char *dir;
    char *blobs;
    size_t n;
    if (strcmp (format, "oci") == 0)
      dir = enclaver_ctx_output_dir (ctx, dest, err);
    else
      {
        n = strlen (dest) + 32;
        tarpath = malloc (n);
        snprintf (tarpath, n, "%s.enclaver-blobs.XXXXXX", dest);
        enclaver_ctx_output_prepare (ctx, dest);
        dir = enclaver_temp_mkdtemp (tarpath); /* scratch, removed below */
        if (dir == NULL)
          {
            enclaver_make_errno (err, errno, "create a scratch directory beside %s", dest);
            free (tarpath);
            tarpath = NULL;
          }
      }
    if (dir == NULL)
      goto out;
    n = strlen (dir) + 64;
    blobs = malloc (n);
    snprintf (blobs, n, "%s/blobs", dir);
    mkdir (blobs, 0755);
    snprintf (blobs, n, "%s/blobs/sha256", dir);
    mkdir (blobs, 0755);
    layer_path = malloc (n + 16);
    snprintf (layer_path, n + 16, "%s/layer.tmp", blobs);
    launcher_path = malloc (n + 16);
    snprintf (launcher_path, n + 16, "%s/launcher.tmp", blobs);
    free (blobs);
    if (launcher && write_launcher_layer (launcher_path, launcher, btime < 0 ? 0 : btime, &layers[nl++], err) < 0)
      goto out;
    if (write_layer (layer_path, eif_tmp, mbytes, mlen, btime < 0 ? 0 : btime, &layers[nl++], eif_sha, &eif_size,
                     err) < 0)
      goto out;
    diff_ids = json_array ();
    mlayers = json_array ();
    for (size_t i = 0; i < nl; i++)
      {
        json_array_append_new (diff_ids, json_string (layers[i].digest));
        json_array_append_new (mlayers, json_pack ("{s:s, s:s, s:I}", "mediaType", ENCLAVER_MT_OCI_LAYER, "digest",
                                                   layers[i].digest, "size", (json_int_t) layers[i].size));
      }

    cfg = json_pack ("{s:s, s:s, s:s, s:{}, s:{s:s, s:O}}", "architecture",
                     k && k->arch == ENCLAVER_EIF_ARCH_AARCH64 ? "arm64" : "amd64", "os", "linux", "created", created,
                     "config", "rootfs", "type", "layers", "diff_ids", diff_ids);
    if (launcher)
      json_object_set_new (json_object_get (cfg, "config"), "Entrypoint", json_pack ("[s]", "/usr/local/bin/enclaver-run"));
    annotations = json_object ();
    enclaver_pcr_to_hex (meas->pcr0, hex);
    json_object_set_new (annotations, "dev.enclaver.pcr0", json_string (hex));
    enclaver_pcr_to_hex (meas->pcr1, hex);
    json_object_set_new (annotations, "dev.enclaver.pcr1", json_string (hex));
    enclaver_pcr_to_hex (meas->pcr2, hex);
    json_object_set_new (annotations, "dev.enclaver.pcr2", json_string (hex));
    if (meas->has_pcr8)
      {
        enclaver_pcr_to_hex (meas->pcr8, hex);
        json_object_set_new (annotations, "dev.enclaver.pcr8", json_string (hex));
      }
    if (img && img->digest)
      {
        json_object_set_new (annotations, "dev.enclaver.source.digest", json_string (img->digest));
        json_object_set_new (annotations, "org.opencontainers.image.base.digest", json_string (img->digest));
      }
    if (src_name && *src_name)
      {
        json_object_set_new (annotations, "dev.enclaver.source.name", json_string (src_name));
        json_object_set_new (annotations, "org.opencontainers.image.base.name", json_string (src_name));
      }
    /* The EIF's digest and size: what a deployment can check the extracted file by. */
    json_object_set_new (annotations, "dev.enclaver.eif.digest", json_string (eif_sha));
    {
      char sz[32];
      snprintf (sz, sizeof sz, "%llu", (unsigned long long) eif_size);
      json_object_set_new (annotations, "dev.enclaver.eif.size", json_string (sz));
    }
    json_object_set_new (annotations, "org.opencontainers.image.created", json_string (created));
    {
      /* --label KEY=VALUE of `enclaver build` (org.opencontainers.image.source, ...). */
      const char *lj = enclaver_ctx_get_param (ctx, "image-labels");
      json_t *extra = lj ? json_loads (lj, 0, NULL) : NULL;
      const char *key;
      json_t *val;
      if (lj && !json_is_object (extra))
        {
          json_decref (extra);
          enclaver_make_error (err, EINVAL, "build parameter image-labels is not a JSON object");
          goto out;
        }
      json_object_foreach (extra, key, val)
      {
        if (!json_is_string (val) || strncmp (key, "dev.enclaver.", 13) == 0)
          {
            json_decref (extra);
            enclaver_make_error (err, EINVAL, "label %s: a string, not one of the build's own dev.enclaver.* labels",
                                 key);
            goto out;
          }
        json_object_set (annotations, key, val);
      }
      json_decref (extra);
    }
    json_object_set (json_object_get (cfg, "config"), "Labels", annotations);
    blob_of_json (&config, cfg);
    man = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:O, s:O}", "schemaVersion", 2, "mediaType",
                     ENCLAVER_MT_OCI_MANIFEST, "config", "mediaType", ENCLAVER_MT_OCI_CONFIG, "digest", config.digest,
                     "size", (json_int_t) config.size, "layers", mlayers, "annotations", annotations);
    blob_of_json (&manifest, man);

    /* Store the layers in the directory (the oci format's output, else the scratch the
     * archive is written from). */
    for (size_t i = 0; i < nl; i++)
      {
        char *p = malloc (strlen (dir) + 96);
        snprintf (p, strlen (dir) + 96, "%s/blobs/sha256/%s", dir, layers[i].digest + 7);
        if (rename (layers[i].path, p) < 0)
          {
            enclaver_make_errno (err, errno, "rename %s", layers[i].path);
            free (p);
            goto out;
          }
        free (layers[i].path);
        layers[i].path = p;
      }
    {
      const char *colon = strrchr (m->target, ':');
      const char *slash = strrchr (m->target, '/');
      ref_name = strdup (colon && (!slash || colon > slash) ? colon + 1 : "latest");
    }

    if (strcmp (format, "oci") == 0)
      {
        char *p = malloc (strlen (dir) + 96), *ij;
        snprintf (p, strlen (dir) + 96, "%s/blobs/sha256/%s", dir, config.digest + 7);
        ret = write_file (p, config.data, config.size, err);
        snprintf (p, strlen (dir) + 96, "%s/blobs/sha256/%s", dir, manifest.digest + 7);
        if (ret == 0)
          ret = write_file (p, manifest.data, manifest.size, err);
        ij = enclaver_image_index_json (ENCLAVER_MT_OCI_MANIFEST, manifest.digest, manifest.size, ref_name,
                                        m->target);
        snprintf (p, strlen (dir) + 96, "%s/index.json", dir);
        if (ret == 0)
          ret = write_file (p, ij, strlen (ij), err);
        snprintf (p, strlen (dir) + 96, "%s/oci-layout", dir);
        if (ret == 0)
          ret = write_file (p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err);
        free (ij);
        free (p);
        /* Where the layout is being written, for after:emit-image hooks that add to it
         * (the sbom plugin's referrer artifact); renamed into place with the build. */
        if (ret == 0)
          ret = enclaver_ctx_set_param (ctx, "image-tmp", dir, err);
        if (ret < 0)
          goto out;
        ret = -1;
      }
    else
      {
        /* One tar that docker load, skopeo and OCI tools read (core/oci/archive-write.c). */
        struct enclaver_archive_blob lb[2];
        struct enclaver_archive_image ai = { 0 };
        const char *tmp;
        int fd;
        for (size_t i = 0; i < nl; i++)
          lb[i] = (struct enclaver_archive_blob) { layers[i].digest, layers[i].size, layers[i].path, NULL };
        ai.format = ENCLAVER_ARCHIVE_DOCKER;
        ai.manifest_media_type = ENCLAVER_MT_OCI_MANIFEST;
        ai.manifest = (struct enclaver_archive_blob) { manifest.digest, manifest.size, NULL, manifest.data };
        ai.config = (struct enclaver_archive_blob) { config.digest, config.size, NULL, config.data };
        ai.layers = lb;
        ai.n_layers = nl;
        ai.ref_name = ref_name;
        ai.image_name = m->target;
        ai.mtime = btime < 0 ? 0 : btime;
        fd = enclaver_ctx_output_open (ctx, dest, &tmp, err);
        if (fd < 0)
          goto out;
        ret = enclaver_image_archive_write (fd, &ai, err);
        if (close (fd) < 0 && ret == 0)
          ret = enclaver_make_errno (err, errno, "write %s", tmp);
        if (ret < 0)
          goto out;
        ret = -1;
      }
  }
  if (enclaver_ctx_add_artifact (ctx, "image", dest, err) < 0
      || add_result (ctx, dest, format, m->target, manifest.digest, err) < 0)
    goto out;
  enclaver_stage_log_info (st, "wrapper image (%s) %s: %s", format, dest, manifest.digest);
  ret = 0;

out:
  if (tarpath)
    {
      scratch_remove (tarpath);
      enclaver_temp_forget (tarpath);
    }
  json_decref (cfg);
  json_decref (man);
  json_decref (annotations);
  for (size_t i = 0; i < 2; i++)
    free (layers[i].path);
  json_decref (diff_ids);
  json_decref (mlayers);
  free (launcher);
  free (launcher_path);
  free (config.data);
  free (manifest.data);
  free (dest);
  free (mbytes);
  free (created);
  free (layer_path);
  free (ref_name);
  free (src_name);
  free (tarpath);
  return ret;
}

ENCLAVER_STAGE_DEFINE (.name = "emit-image",
                       .description = "package the EIF and manifest as the wrapper OCI image (layout or docker-archive)",
                       .options = options, .config_size = sizeof (struct emit_image_config), .run = emit_image_run,
                       .check = emit_image_check);
