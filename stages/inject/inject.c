/* inject stage: choose the kernel, cmdline and bootstrap blobs, and prepare the
 * customer ramdisk (rootfs/ + cmd + env) the way nitro-cli lays it out. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include <enclaver/tree.h>

struct inject_config
{
  char *kernel_dir;
  char *cmdline;
};

static const struct enclaver_stage_option inject_options[] = {
  { ENCLAVER_OPT_STRING, "kernel_dir", NULL, 0, offsetof (struct inject_config, kernel_dir),
    "kernel blobs directory (nitro-cli layout); overrides the manifest and NITRO_CLI_BLOBS" },
  { ENCLAVER_OPT_STRING, "cmdline", NULL, 0, offsetof (struct inject_config, cmdline),
    "kernel command line to use instead of the blobs' cmdline file" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static char *
path_join (const char *dir, const char *name)
{
  size_t n = strlen (dir) + strlen (name) + 2;
  char *p = malloc (n);
  if (p == NULL)
    abort ();
  snprintf (p, n, "%s/%s", dir, name);
  return p;
}

static int
is_file (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISREG (st.st_mode);
}

/* Read a small text file (cmdline) and trim trailing whitespace, as nitro-cli does. */
static char *
read_trimmed (const char *path, enclaver_error_t *err)
{
  FILE *f = fopen (path, "re");
  char buf[4096];
  size_t n;
  if (f == NULL)
    {
      enclaver_make_errno (err, errno, "open %s", path);
      return NULL;
    }
  n = fread (buf, 1, sizeof buf - 1, f);
  if (!feof (f))
    {
      fclose (f);
      enclaver_make_error (err, EFBIG, "%s: a kernel command line must be under 4 KiB", path);
      return NULL;
    }
  fclose (f);
  buf[n] = '\0';
  if (memchr (buf, '\0', n))
    {
      enclaver_make_error (err, EINVAL, "%s: the kernel command line contains a NUL byte", path);
      return NULL;
    }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    buf[--n] = '\0';
  return strdup (buf);
}

/* Linux x86 boot protocol: "HdrS" at 0x202, kernel_version pointer (+0x200) at 0x20e. */
static char *
bzimage_version (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  unsigned char hdr[0x210];
  char ver[128];
  ssize_t n;
  unsigned off;
  char *r = NULL;
  if (fd < 0)
    return NULL;
  if (pread (fd, hdr, sizeof hdr, 0) == (ssize_t) sizeof hdr && memcmp (hdr + 0x202, "HdrS", 4) == 0)
    {
      off = (unsigned) hdr[0x20e] | ((unsigned) hdr[0x20f] << 8);
      if (off != 0 && (n = pread (fd, ver, sizeof ver - 1, (off_t) off + 0x200)) > 0)
        {
          size_t i;
          ver[n] = '\0';
          for (i = 0; ver[i] && ver[i] != ' ' && (unsigned char) ver[i] >= 0x20 && (unsigned char) ver[i] < 0x7f; i++)
            ;
          ver[i] = '\0';
          if (i > 0)
            r = strdup (ver);
        }
    }
  close (fd);
  return r;
}

static int
arch_of (const struct enclaver_manifest *m, const struct enclaver_image *img, enum enclaver_eif_arch *out,
         enclaver_error_t *err)
{
  const char *a = m && m->kernel_arch ? m->kernel_arch : NULL;
  if (a == NULL && img && img->architecture)
    {
      if (strcmp (img->architecture, "amd64") == 0)
        a = "x86_64";
      else if (strcmp (img->architecture, "arm64") == 0)
        a = "aarch64";
      else
        return enclaver_make_error (err, EINVAL,
                                    "image architecture '%s' cannot run in a Nitro Enclave (amd64 or arm64 only)",
                                    img->architecture);
    }
  if (a == NULL)
    {
#if defined(__aarch64__)
      a = "aarch64";
#else
      a = "x86_64";
#endif
    }
  return enclaver_eif_arch_parse (a, out) < 0
           ? enclaver_make_error (err, EINVAL, "unknown kernel architecture '%s'", a)
           : 0;
}

/* Pick the kernel, cmdline, init and nsm.ko. */
static int
choose_blobs (enclaver_stage_t *st, enclaver_ctx_t *ctx, const struct enclaver_manifest *m,
              enum enclaver_eif_arch arch, struct enclaver_kernel *k, char **cmdline,
              struct enclaver_ramdisks *rd, enclaver_error_t *err)
{
  struct inject_config *c = enclaver_stage_get_config (st);
  const char *kname = arch == ENCLAVER_EIF_ARCH_AARCH64 ? "Image" : "bzImage";
  const char *dir = NULL, *why = NULL;
  const char *env = getenv ("NITRO_CLI_BLOBS");

  if (c->kernel_dir)
    dir = c->kernel_dir, why = "stage option kernel_dir";
  else if (enclaver_ctx_get_param (ctx, "kernel-dir"))
    dir = enclaver_ctx_get_param (ctx, "kernel-dir"), why = "--kernel-dir";
  else if (m && m->kernel_blobs_dir)
    dir = m->kernel_blobs_dir, why = "kernel.blobs in the manifest";
  else if (env && *env)
    dir = env, why = "NITRO_CLI_BLOBS";
  else if (enclaver_ctx_get_param (ctx, "default-kernel-dir"))
    dir = enclaver_ctx_get_param (ctx, "default-kernel-dir"), why = "the bundled default kernel";
  else
    dir = ENCLAVER_DEFAULT_BLOBS_DIR, why = "the default blobs directory";

  /* Explicit manifest paths win over the blobs directory, file by file. */
  k->path = m && m->kernel_image ? strdup (m->kernel_image) : path_join (dir, kname);
  rd->init_path = m && m->kernel_init ? strdup (m->kernel_init) : path_join (dir, "init");
  rd->nsm_path = m && m->kernel_nsm ? strdup (m->kernel_nsm) : path_join (dir, "nsm.ko");
  k->blobs_dir = strdup (dir);
  if (!is_file (k->path))
    return enclaver_make_error (err, ENOENT,
                                "kernel image %s not found (looked there because of %s; give --kernel-dir, "
                                "kernel.blobs or kernel.kernel in the manifest, or set NITRO_CLI_BLOBS)",
                                k->path, why);
  if (!is_file (rd->init_path))
    return enclaver_make_error (err, ENOENT, "init %s not found (looked there because of %s)", rd->init_path, why);
  if (!is_file (rd->nsm_path))
    {
      if (m && m->kernel_nsm)
        return enclaver_make_error (err, ENOENT, "kernel.nsm %s not found", rd->nsm_path);
      enclaver_stage_log_info (st, "no nsm.ko in %s: the bootstrap ramdisk will not carry one", dir);
      free (rd->nsm_path);
      rd->nsm_path = NULL;
    }
  if (c->cmdline)
    *cmdline = strdup (c->cmdline);
  else
    {
      char *cpath = m && m->kernel_cmdline ? strdup (m->kernel_cmdline) : path_join (dir, "cmdline");
      if (!is_file (cpath))
        {
          enclaver_make_error (err, ENOENT, "kernel command line %s not found (looked there because of %s)", cpath,
                               why);
          free (cpath);
          return -1;
        }
      *cmdline = read_trimmed (cpath, err);
      free (cpath);
      if (*cmdline == NULL)
        return -1;
    }
  if (arch == ENCLAVER_EIF_ARCH_X86_64)
    k->version = bzimage_version (k->path);
  enclaver_stage_log_debug (st, "kernel %s (%s), init %s, nsm.ko %s", k->path, k->version ? k->version : "?",
                            rd->init_path, rd->nsm_path ? rd->nsm_path : "(none)");
  return 0;
}

static int
copy_argv (char ***dst, size_t *n, char *const *src, size_t count, const char *what, enclaver_error_t *err)
{
  size_t i;
  *dst = calloc (count + 1, sizeof **dst);
  if (*dst == NULL)
    abort ();
  for (i = 0; i < count; i++)
    {
      if (strchr (src[i], '\n'))
        return enclaver_make_error (err, EINVAL,
                                    "%s[%zu] contains a newline, which the enclave's init cannot represent "
                                    "(one element per line)",
                                    what, i);
      (*dst)[i] = strdup (src[i]);
      *n = i + 1;
    }
  return 0;
}

/* Directories init needs inside the rootfs (EIF.md §6). */
static int
ensure_dirs (enclaver_stage_t *st, enclaver_tree_t *tree, int64_t mtime, enclaver_error_t *err)
{
  static const char *const dirs[] = { "dev", "run", "sys", "var", "proc", "tmp" };
  struct enclaver_tree_attr a = { .mode = 0755, .uid = 0, .gid = 0, .mtime = mtime };
  size_t i;
  for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      struct enclaver_tree_stat s;
      enclaver_error_t e = NULL;
      if (enclaver_tree_stat (tree, dirs[i], 0, &s, &e) == 0)
        {
          if (s.type != ENCLAVER_NODE_DIR)
            enclaver_stage_log_warning (st, "/%s in the image is not a directory; the enclave's init mounts on it",
                                        dirs[i]);
          continue;
        }
      enclaver_error_release (&e);
      if (enclaver_tree_add_dir (tree, dirs[i], &a, 0, err) < 0)
        return enclaver_error_wrap (err, "add /%s", dirs[i]);
    }
  return 0;
}

static int
inject_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  enclaver_tree_t *tree = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  struct enclaver_kernel *k = calloc (1, sizeof *k);
  struct enclaver_ramdisks *rd = calloc (1, sizeof *rd);
  enum enclaver_eif_arch arch;
  char *cmdline = NULL;
  int64_t sde;

  if (k == NULL || rd == NULL)
    abort ();
  if (tree == NULL)
    {
      enclaver_make_error (err, EINVAL, "no rootfs in the build context (run the flatten stage before inject)");
      goto fail;
    }
  if (img == NULL)
    {
      enclaver_make_error (err, EINVAL, "no image in the build context (run the fetch stage before inject)");
      goto fail;
    }
  if (enclaver_build_source_date_epoch (ctx, &sde, err) < 0)
    goto fail;
  rd->source_date_epoch = sde;
  if (arch_of (m, img, &arch, err) < 0 || choose_blobs (st, ctx, m, arch, k, &cmdline, rd, err) < 0)
    goto fail;
  k->arch = arch;

  /* nitro-cli: Config.Cmd when present, else Config.Entrypoint, never both. */
  if (img->has_cmd && img->n_cmd > 0)
    {
      if (copy_argv (&rd->cmd, &rd->n_cmd, img->cmd, img->n_cmd, "image config Cmd", err) < 0)
        goto fail;
    }
  else if (img->has_entrypoint && img->n_entrypoint > 0)
    {
      if (copy_argv (&rd->cmd, &rd->n_cmd, img->entrypoint, img->n_entrypoint, "image config Entrypoint", err) < 0)
        goto fail;
    }
  else
    {
      enclaver_make_error (err, EINVAL, "image %s has neither Cmd nor Entrypoint: nothing to run in the enclave",
                           img->name ? img->name : "(unnamed)");
      goto fail;
    }
  if (copy_argv (&rd->env, &rd->n_env, img->env, img->n_env, "image config Env", err) < 0)
    goto fail;
  if (ensure_dirs (st, tree, sde >= 0 ? sde : 0, err) < 0)
    goto fail;

  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_KERNEL, ENCLAVER_KERNEL_TYPE, k, enclaver_kernel_free, err) < 0)
    {
      k = NULL;
      goto fail;
    }
  k = NULL;
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_CMDLINE, ENCLAVER_CMDLINE_TYPE, cmdline, free, err) < 0)
    {
      cmdline = NULL;
      goto fail;
    }
  cmdline = NULL;
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_RAMDISKS, ENCLAVER_RAMDISKS_TYPE, rd, enclaver_ramdisks_free, err) < 0)
    return -1;
  return 0;

fail:
  enclaver_kernel_free (k);
  enclaver_ramdisks_free (rd);
  free (cmdline);
  return -1;
}

ENCLAVER_STAGE_DEFINE (.name = "inject",
                       .description = "choose kernel, cmdline and init; lay out the bootstrap and customer ramdisks",
                       .options = inject_options, .config_size = sizeof (struct inject_config), .run = inject_run);
