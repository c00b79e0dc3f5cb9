/* measure stage: stream the kernel, cmdline, metadata and the two ramdisks (made on
 * the fly as deterministic newc archives) into the EIF, computing PCR0/1/2 (and PCR8
 * when signing) in the same single pass (the EIF writer's threads hash and write while
 * this thread assembles the cpio).  The EIF goes to a temporary output that the
 * pipeline renames into place only when every stage (and the `measured` hooks)
 * succeeded. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <enclaver/build.h>
#include <enclaver/cpio.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include <enclaver/tree.h>

#define MAX_BLOB (256u << 20) /* init and nsm.ko are read into memory */

struct buf
{
  char *data;
  size_t len, cap;
};

static int
buf_sink (void *ud, const void *p, size_t n, enclaver_error_t *err)
{
  struct buf *b = ud;
  (void) err;
  if (b->len + n > b->cap)
    {
      size_t cap = b->cap ? b->cap : 4096;
      while (cap < b->len + n)
        cap *= 2;
      b->data = realloc (b->data, cap);
      if (b->data == NULL)
        abort ();
      b->cap = cap;
    }
  memcpy (b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static int
read_blob (const char *path, struct buf *out, enclaver_error_t *err)
{
  int fd = enclaver_build_open_input (path, err);
  FILE *f = fd >= 0 ? fdopen (fd, "re") : NULL;
  char chunk[65536];
  size_t n;
  if (f == NULL)
    {
      if (fd < 0)
        return -1;
      enclaver_make_errno (err, errno, "open %s", path);
      close (fd);
      return -1;
    }
  while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
    {
      if (out->len + n > MAX_BLOB)
        {
          fclose (f);
          return enclaver_make_error (err, EFBIG, "%s is larger than %u MiB", path, MAX_BLOB >> 20);
        }
      buf_sink (out, chunk, n, NULL);
    }
  if (ferror (f))
    {
      int e = errno;
      fclose (f);
      return enclaver_make_errno (err, e, "read %s", path);
    }
  fclose (f);
  return 0;
}

/* Both ramdisks are cpio archives written straight into their EIF section (the writer
 * copies each piece into its buffers and writes, CRCs and hashes them on its own
 * threads). */
static int
eif_sink (void *ud, const void *p, size_t n, enclaver_error_t *err)
{
  return enclaver_eif_writer_write (ud, p, n, err);
}

/* File content of at least this many bytes goes from the tree's spill file into the
 * EIF by reference (hashed from a mapping, copied in the kernel); smaller files are
 * cheaper to copy along with their headers than to hand over one by one. */
#define BY_REFERENCE_MIN (64u << 10)

static int
eif_file_sink (void *ud, int fd, uint64_t off, uint64_t len, enclaver_error_t *err)
{
  return enclaver_eif_writer_write_file (ud, fd, off, len, err);
}

/* The bootstrap ramdisk: nitro-cli's bytes (dev/, init, nsm.ko in linuxkit mode). */
static int
bootstrap_ramdisk (enclaver_eif_writer_t *ew, const struct enclaver_ramdisks *rd, enclaver_error_t *err)
{
  struct buf init = { 0 }, nsm = { 0 };
  int r = -1;
  if (read_blob (rd->init_path, &init, err) < 0 || (rd->nsm_path && read_blob (rd->nsm_path, &nsm, err) < 0)
      || enclaver_eif_writer_begin_section (ew, ENCLAVER_EIF_SECTION_RAMDISK, err) < 0)
    goto out;
  if (rd->nsm_path)
    r = enclaver_cpio_write_bootstrap (init.data, init.len, nsm.data, nsm.len, eif_sink, ew, err);
  else
    {
      /* Same conventions without nsm.ko (kernels with the NSM driver built in). */
      struct enclaver_cpio_options o;
      enclaver_cpio_writer_t *w;
      struct enclaver_cpio_entry dev = { .name = "dev", .type = ENCLAVER_NODE_DIR, .mode = 0755,
                                         .mtime = ENCLAVER_LINUXKIT_MTIME };
      struct enclaver_cpio_entry in = { .name = "init", .type = ENCLAVER_NODE_REG, .mode = 0755,
                                        .mtime = ENCLAVER_LINUXKIT_MTIME, .size = init.len };
      enclaver_cpio_options_init (&o);
      o.mode = ENCLAVER_CPIO_LINUXKIT;
      w = enclaver_cpio_writer_new (&o, eif_sink, ew);
      r = (enclaver_cpio_add (w, &dev, NULL, err) == 0 && enclaver_cpio_add (w, &in, init.len ? init.data : "", err) == 0
           && enclaver_cpio_finish (w, err) == 0)
            ? 0
            : -1;
      enclaver_cpio_writer_free (w);
    }
  if (r == 0)
    r = enclaver_eif_writer_end_section (ew, err);
out:
  free (init.data);
  free (nsm.data);
  return r;
}

/* ---- the customer ramdisk */

static char *
join_lines (char *const *v, size_t n, size_t *len)
{
  size_t i, total = 0, o = 0;
  char *s;
  for (i = 0; i < n; i++)
    total += strlen (v[i]) + 1;
  s = malloc (total + 1);
  if (s == NULL)
    abort ();
  for (i = 0; i < n; i++)
    {
      size_t l = strlen (v[i]);
      memcpy (s + o, v[i], l);
      o += l;
      s[o++] = '\n';
    }
  s[o] = '\0';
  *len = o;
  return s;
}

static int
customer_ramdisk (enclaver_eif_writer_t *ew, const enclaver_tree_t *tree, const struct enclaver_ramdisks *rd,
                  enclaver_error_t *err)
{
  struct enclaver_cpio_options o;
  enclaver_cpio_writer_t *w;
  size_t cmd_len, env_len;
  char *cmd = join_lines (rd->cmd, rd->n_cmd, &cmd_len);
  char *env = join_lines (rd->env, rd->n_env, &env_len);
  int64_t t = rd->source_date_epoch >= 0 ? rd->source_date_epoch : 0;
  struct enclaver_cpio_entry ecmd = { .name = "cmd", .type = ENCLAVER_NODE_REG, .mode = 0644, .mtime = t,
                                      .size = cmd_len };
  struct enclaver_cpio_entry eenv = { .name = "env", .type = ENCLAVER_NODE_REG, .mode = 0644, .mtime = t,
                                      .size = env_len };
  int r = -1;

  enclaver_cpio_options_init (&o);
  o.mode = ENCLAVER_CPIO_DETERMINISTIC;
  o.source_date_epoch = rd->source_date_epoch;
  w = enclaver_cpio_writer_new (&o, eif_sink, ew);
  enclaver_cpio_writer_set_file_sink (w, eif_file_sink, BY_REFERENCE_MIN);
  if (enclaver_eif_writer_begin_section (ew, ENCLAVER_EIF_SECTION_RAMDISK, err) < 0)
    goto out;
  if (enclaver_cpio_add (w, &ecmd, cmd, err) < 0 || enclaver_cpio_add (w, &eenv, env, err) < 0
      || enclaver_cpio_add_tree (w, tree, "rootfs", ENCLAVER_CPIO_TREE_ROOT, err) < 0
      || enclaver_cpio_finish (w, err) < 0)
    {
      enclaver_error_wrap (err, "customer ramdisk");
      goto out;
    }
  r = enclaver_eif_writer_end_section (ew, err);
out:
  enclaver_cpio_writer_free (w);
  free (cmd);
  free (env);
  return r;
}

/* ---- metadata */

static char *
docker_info (const struct enclaver_image *img)
{
  json_t *o = json_object ();
  char *s, *name = enclaver_build_source_name (img);
  json_object_set_new (o, "Name", json_string (name));
  free (name);
  json_object_set_new (o, "Digest", json_string (img->digest ? img->digest : ""));
  json_object_set_new (o, "Platform", json_string (img->platform ? img->platform : ""));
  json_object_set_new (o, "ConfigDigest", json_string (img->config_digest ? img->config_digest : ""));
  s = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (o);
  return s;
}

/* Before any stage runs: the EIF's directory takes files. */
static int
measure_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  char *final = enclaver_build_eif_path (ctx);
  int r = enclaver_build_check_output (final, 0, "the EIF", err);
  (void) st;
  free (final);
  return r;
}

static int
measure_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  const enclaver_tree_t *tree = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  const struct enclaver_kernel *k = enclaver_ctx_get (ctx, ENCLAVER_SLOT_KERNEL, ENCLAVER_KERNEL_TYPE);
  const char *cmdline = enclaver_ctx_get (ctx, ENCLAVER_SLOT_CMDLINE, ENCLAVER_CMDLINE_TYPE);
  const struct enclaver_ramdisks *rd = enclaver_ctx_get (ctx, ENCLAVER_SLOT_RAMDISKS, ENCLAVER_RAMDISKS_TYPE);
  struct enclaver_eif_measurements *meas = NULL;
  struct enclaver_eif_metadata md;
  enclaver_eif_writer_t *w = NULL;
  int fd, ret = -1;
  char *final = NULL, *btime = NULL, *dinfo = NULL;
  const char *tmp;

  if (tree == NULL || k == NULL || cmdline == NULL || rd == NULL || img == NULL)
    return enclaver_make_error (err, EINVAL,
                                "the build context lacks the %s (run fetch, flatten and inject before measure)",
                                img == NULL ? "image" : tree == NULL ? "rootfs" : k == NULL ? "kernel"
                                : cmdline == NULL ? "cmdline" : "ramdisks");

  final = enclaver_build_eif_path (ctx);
  fd = enclaver_ctx_output_open (ctx, final, &tmp, err);
  if (fd < 0)
    goto out;
  close (fd);
  if (enclaver_ctx_set_param (ctx, "eif-path", final, err) < 0 || enclaver_ctx_set_param (ctx, "eif-tmp", tmp, err) < 0)
    goto out;

  w = enclaver_eif_writer_new (tmp, err);
  if (w == NULL)
    goto out;
  enclaver_eif_writer_set_arch (w, (enum enclaver_eif_arch) k->arch);
  /* tmp is a pipeline output: enclaver_ctx_outputs_commit fsyncs it once before the
   * rename that publishes it, so the writer's own fsync would be a second one. */
  enclaver_eif_writer_set_fsync (w, 0);
  if (m && m->signature_certificate && m->signature_key
      && enclaver_eif_writer_set_signer (w, m->signature_certificate, m->signature_key, err) < 0)
    goto out;

  {
    int64_t t;
    if (enclaver_build_time (ctx, img, &t, err) < 0)
      goto out;
    btime = enclaver_build_time_string (t);
  }
  dinfo = docker_info (img);
  memset (&md, 0, sizeof md);
  md.image_name = m && m->name ? m->name : img->name;
  md.image_version = img->digest;
  md.build_time = btime;
  md.build_tool = PACKAGE_NAME;
  md.build_tool_version = PACKAGE_VERSION;
  md.operating_system = img->os ? img->os : "linux";
  md.kernel_version = k->version ? k->version : "unknown";
  md.docker_info = dinfo;

  if (enclaver_eif_writer_add_file (w, ENCLAVER_EIF_SECTION_KERNEL, k->path, err) < 0
      || enclaver_eif_writer_add_buffer (w, ENCLAVER_EIF_SECTION_CMDLINE, cmdline, strlen (cmdline), err) < 0
      || enclaver_eif_writer_add_metadata (w, &md, err) < 0 || bootstrap_ramdisk (w, rd, err) < 0)
    goto out;

  if (customer_ramdisk (w, tree, rd, err) < 0)
    goto out;

  meas = calloc (1, sizeof *meas);
  if (meas == NULL)
    abort ();
  if (enclaver_eif_writer_finish (w, meas, err) < 0)
    goto out;
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE, meas, free, err) < 0)
    {
      meas = NULL;
      goto out;
    }
  meas = NULL;
  enclaver_stage_log_info (st, "EIF written (%s), PCRs measured", final);
  ret = enclaver_ctx_hook_fire (ctx, "measured", err);

out:
  enclaver_eif_writer_free (w);
  free (meas);
  free (final);
  free (btime);
  free (dinfo);
  return ret;
}

ENCLAVER_STAGE_DEFINE (.name = "measure",
                       .description = "write the ramdisks as deterministic cpio into the EIF and compute PCR0/1/2/8",
                       .run = measure_run, .check = measure_check);
