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

#include <jansson.h>

struct inject_config
{
  char *kernel_dir;
  char *cmdline;
  char *supervisor;
};

static const struct enclaver_stage_option inject_options[] = {
  { ENCLAVER_OPT_STRING, "kernel_dir", NULL, 0, offsetof (struct inject_config, kernel_dir),
    "kernel blobs directory (nitro-cli layout); overrides the manifest and NITRO_CLI_BLOBS" },
  { ENCLAVER_OPT_STRING, "cmdline", NULL, 0, offsetof (struct inject_config, cmdline),
    "kernel command line to use instead of the blobs' cmdline file" },
  { ENCLAVER_OPT_STRING, "supervisor", "auto", 0, offsetof (struct inject_config, supervisor),
    "auto (install enclaver-supervisor when found), none (run the image's command directly, as "
    "nitro-cli does), or the path of a supervisor binary" },
  { 0, NULL, NULL, 0, 0, NULL },
};

/* strdup that aborts when memory runs out, as path_join does (a NULL here would crash
 * later, far from the cause). */
static char *
sdup (const char *s)
{
  char *r = strdup (s);
  if (r == NULL)
    abort ();
  return r;
}

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

/* 1 when p is a regular file, 0 when there is nothing there, -1 (err set, naming p) when
 * there is something else (a FIFO, a directory, ...) or it cannot be opened. */
static int
is_file (const char *p, enclaver_error_t *err)
{
  enclaver_error_t e = NULL;
  int fd = enclaver_build_open_input (p, &e);
  if (fd >= 0)
    {
      close (fd);
      return 1;
    }
  if (e->status == ENOENT || e->status == ENOTDIR)
    {
      enclaver_error_release (&e);
      return 0;
    }
  enclaver_error_move (err, &e);
  return -1;
}

/* Read a small text file (cmdline) and trim trailing whitespace, as nitro-cli does. */
static char *
read_trimmed (const char *path, enclaver_error_t *err)
{
  int fd = enclaver_build_open_input (path, err);
  FILE *f = fd >= 0 ? fdopen (fd, "re") : NULL;
  char buf[4096];
  size_t n;
  if (f == NULL)
    {
      if (fd >= 0)
        {
          enclaver_make_errno (err, errno, "open %s", path);
          close (fd);
        }
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
  return sdup (buf);
}

/* Linux x86 boot protocol: "HdrS" at 0x202, kernel_version pointer (+0x200) at 0x20e. */
static char *
bzimage_version (const char *path)
{
  enclaver_error_t e = NULL;
  int fd = enclaver_build_open_input (path, &e);
  unsigned char hdr[0x210];
  char ver[128];
  ssize_t n;
  unsigned off;
  char *r = NULL;
  enclaver_error_release (&e);
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
            r = sdup (ver);
        }
    }
  close (fd);
  return r;
}

/* An arm64 Image carries no version field: its banner "Linux version X (...)" is in the
 * (uncompressed) image, found by reading at most the first 256 MiB. */
static char *
image_version (const char *path)
{
  static const char needle[] = "Linux version ";
  const size_t nl = sizeof needle - 1, chunk = 1u << 20, keep = 128;
  char *buf = malloc (chunk + keep + 1), *r = NULL;
  size_t have = 0;
  off_t off = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (buf == NULL)
    abort ();
  while (fd >= 0 && r == NULL && off < ((off_t) 256 << 20))
    {
      ssize_t n = pread (fd, buf + have, chunk, off);
      char *p, *end;
      if (n <= 0)
        break;
      off += n;
      have += (size_t) n;
      buf[have] = '\0';
      for (p = buf; (p = memmem (p, have - (size_t) (p - buf), needle, nl)) != NULL; p++)
        {
          size_t i;
          end = p + nl;
          for (i = 0; end + i < buf + have && end[i] > 0x20 && end[i] < 0x7f; i++)
            ;
          /* The banner's version is followed by " (" and ends before the chunk's end. */
          if (i > 0 && i < 64 && end + i + 1 < buf + have && end[i] == ' ' && end[i + 1] == '(')
            {
              r = strndup (end, i);
              break;
            }
        }
      /* Keep the tail: a banner may straddle two reads. */
      if (have > keep)
        {
          memmove (buf, buf + have - keep, keep);
          have = keep;
        }
    }
  if (fd >= 0)
    close (fd);
  free (buf);
  return r;
}

/* The architecture a kernel image is positively built for: the x86 boot protocol's
 * "HdrS" at 0x202, or the arm64 Image header's magic "ARM\x64" at 56; -1 when neither
 * (then nothing is claimed about it). */
static int
kernel_arch (const char *path)
{
  unsigned char hdr[0x206];
  enclaver_error_t e = NULL;
  int fd = enclaver_build_open_input (path, &e), r = -1;
  enclaver_error_release (&e);
  if (fd < 0)
    return -1;
  if (pread (fd, hdr, sizeof hdr, 0) == (ssize_t) sizeof hdr)
    {
      if (memcmp (hdr + 0x202, "HdrS", 4) == 0)
        r = ENCLAVER_EIF_ARCH_X86_64;
      else if (memcmp (hdr + 56, "ARM\x64", 4) == 0)
        r = ENCLAVER_EIF_ARCH_AARCH64;
    }
  else if (pread (fd, hdr, 64, 0) == 64 && memcmp (hdr + 56, "ARM\x64", 4) == 0)
    r = ENCLAVER_EIF_ARCH_AARCH64;
  close (fd);
  return r;
}

/* Refuse an injected program that is not an ELF file for the EIF's architecture.  OWN:
 * the file is one of this enclaver's runtime binaries (builtin init, supervisor), found
 * for the EIF's architecture (enclaver_find_runtime_program): one of another is a
 * misplaced file, and the way out is to give binaries built for the EIF's. */
static int
check_program (const char *path, int arch, const char *arch_why, const char *what, int own,
               enclaver_error_t *err)
{
  const char *an = enclaver_eif_arch_name ((enum enclaver_eif_arch) arch);
  char desc[64];
  int a;
  if (enclaver_build_elf_arch (path, &a, desc, err) < 0)
    return enclaver_error_wrap (err, "%s for %s", what, an);
  if (a == arch)
    return 0;
  if (own)
    return enclaver_make_error (err, ENOEXEC,
                                "the EIF is for %s (%s) but %s %s is built for %s: the enclave could not run "
                                "it.  enclaver's runtime binaries for %s are the ones its build made for %s "
                                "(docs/cross-arch.md); replace that file with them, or give %s binaries with "
                                "kernel.init (or an init in the kernel directory) and the inject option "
                                "supervisor: PATH (or supervisor: none)",
                                an, arch_why, what, path, desc, an, an, an);
  return enclaver_make_error (err, ENOEXEC, "%s %s is built for %s, but the EIF is for %s (%s)", what, path, desc, an,
                              arch_why);
}

static int
is_dir (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* ENCLAVER_DEFAULT_KERNEL, else $XDG_CACHE_HOME/enclaver/kernel/default (or ~/.cache)
 * for the host's architecture and .../default-ARCH for another (scripts/fetch-kernel.sh
 * --arch lays them out). */
static const char *
default_kernel_dir (int arch, char **alloc)
{
  const char *sub = arch == enclaver_build_host_arch () ? "default"
                    : arch == ENCLAVER_EIF_ARCH_AARCH64 ? "default-aarch64" : "default-x86_64";
  const char *env = getenv ("ENCLAVER_DEFAULT_KERNEL");
  const char *xdg = getenv ("XDG_CACHE_HOME");
  const char *home = getenv ("HOME");
  char buf[4096];
  if (env && *env)
    return env;
  if (xdg && *xdg)
    snprintf (buf, sizeof buf, "%s/enclaver/kernel/%s", xdg, sub);
  else
    snprintf (buf, sizeof buf, "%s/.cache/enclaver/kernel/%s", home && *home ? home : "/root", sub);
  *alloc = sdup (buf);
  return *alloc;
}

/* Kernel, init and nsm.ko: explicit manifest files win over the directory, file by file. */
static int
choose_files (enclaver_stage_t *st, const struct enclaver_manifest *m, const char *dir, const char *why,
              const char *kname, int arch, int quiet, int *init_builtin, struct enclaver_kernel *k,
              struct enclaver_ramdisks *rd, enclaver_error_t *err)
{
  const char *init = m ? m->kernel_init : NULL;
  k->path = m && m->kernel_image ? sdup (m->kernel_image) : path_join (dir, kname);
  k->blobs_dir = sdup (dir);
  int r = is_file (k->path, err);
  if (r < 0)
    return enclaver_error_wrap (err, "kernel image");
  if (r == 0)
    {
      char *hint = enclaver_build_fetch_kernel_hint ();
      int host = arch == enclaver_build_host_arch ();
      enclaver_make_error (err, ENOENT,
                           "kernel image %s not found (looked there because of %s).  Use AWS's Nitro kernel "
                           "blobs (nitro-cli installs them in %s; or give --kernel-dir DIR, kernel.blobs or "
                           "kernel.kernel in the manifest, or set NITRO_CLI_BLOBS), or, to try enclaves under "
                           "QEMU, lay out Debian's cloud kernel for %s with %s%s",
                           k->path, why, ENCLAVER_DEFAULT_BLOBS_DIR, host ? "this host" : "the EIF's architecture",
                           hint, host ? "" : arch == ENCLAVER_EIF_ARCH_AARCH64 ? " --arch arm64" : " --arch amd64");
      free (hint);
      return -1;
    }
  if (init && strcmp (init, "builtin") != 0 && strcmp (init, "blobs") != 0)
    rd->init_path = sdup (init);
  else if (init == NULL || strcmp (init, "blobs") == 0)
    {
      rd->init_path = path_join (dir, "init");
      if ((r = is_file (rd->init_path, err)) < 0)
        return enclaver_error_wrap (err, "init");
      if (r == 0 && init == NULL)
        {
          free (rd->init_path);
          rd->init_path = NULL;
        }
    }
  if (rd->init_path == NULL)
    {
      rd->init_path = enclaver_find_runtime_program ("enclaver-init", arch, err);
      if (rd->init_path == NULL)
        return enclaver_error_wrap (err, "the builtin init (kernel.init: builtin)");
      *init_builtin = 1;
      if (!quiet)
        enclaver_stage_log_info (st, "using the builtin init %s", rd->init_path);
    }
  if ((r = is_file (rd->init_path, err)) < 0)
    return enclaver_error_wrap (err, "init");
  if (r == 0)
    return enclaver_make_error (err, ENOENT, "init %s not found (looked there because of %s)", rd->init_path, why);
  rd->nsm_path = m && m->kernel_nsm ? sdup (m->kernel_nsm) : path_join (dir, "nsm.ko");
  if ((r = is_file (rd->nsm_path, err)) < 0)
    return enclaver_error_wrap (err, "nsm.ko");
  if (r == 0)
    {
      if (m && m->kernel_nsm)
        return enclaver_make_error (err, ENOENT, "kernel.nsm %s not found", rd->nsm_path);
      if (!quiet)
        enclaver_stage_log_debug (st, "no nsm.ko in %s: the bootstrap ramdisk will not carry one", dir);
      free (rd->nsm_path);
      rd->nsm_path = NULL;
    }
  return 0;
}

/* Pick the kernel, cmdline, init and nsm.ko. */
static int
choose_blobs (enclaver_stage_t *st, enclaver_ctx_t *ctx, const struct enclaver_manifest *m,
              enum enclaver_eif_arch arch, int quiet, int *init_builtin, struct enclaver_kernel *k,
              char **cmdline, struct enclaver_ramdisks *rd, enclaver_error_t *err)
{
  struct inject_config *c = enclaver_stage_get_config (st);
  const char *kname = arch == ENCLAVER_EIF_ARCH_AARCH64 ? "Image" : "bzImage";
  const char *dir = NULL, *why = NULL;
  const char *env = getenv ("NITRO_CLI_BLOBS");
  char *dflt = NULL;
  int r;

  if (c->kernel_dir)
    dir = c->kernel_dir, why = "stage option kernel_dir";
  else if (enclaver_ctx_get_param (ctx, "kernel-dir"))
    dir = enclaver_ctx_get_param (ctx, "kernel-dir"), why = "--kernel-dir";
  else if (m && m->kernel_blobs_dir)
    dir = m->kernel_blobs_dir, why = "kernel.blobs in the manifest";
  else if (env && *env)
    dir = env, why = "NITRO_CLI_BLOBS";
  else if (is_dir (ENCLAVER_DEFAULT_BLOBS_DIR))
    dir = ENCLAVER_DEFAULT_BLOBS_DIR, why = "nitro-cli's blobs directory";
  else
    {
      dir = default_kernel_dir ((int) arch, &dflt);
      why = "the default kernel: no --kernel-dir, kernel.blobs, NITRO_CLI_BLOBS or nitro-cli blobs";
    }

  r = choose_files (st, m, dir, why, kname, (int) arch, quiet, init_builtin, k, rd, err);
  free (dflt);
  if (r < 0)
    return -1;
  if (c->cmdline)
    *cmdline = sdup (c->cmdline);
  else
    {
      char *cpath = m && m->kernel_cmdline ? sdup (m->kernel_cmdline) : path_join (k->blobs_dir, "cmdline");
      if ((r = is_file (cpath, err)) < 0)
        {
          free (cpath);
          return enclaver_error_wrap (err, "kernel command line");
        }
      if (r == 0)
        {
          enclaver_make_error (err, ENOENT, "kernel command line %s not found", cpath);
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
  else
    k->version = image_version (k->path);
  if (!quiet)
    enclaver_stage_log_info (st, "kernel %s (%s), init %s, nsm.ko %s", k->path, k->version ? k->version : "version unknown",
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
      (*dst)[i] = sdup (src[i]);
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

static json_t *
strv_json (char *const *v, size_t n, int present)
{
  json_t *a;
  size_t i;
  if (!present)
    return json_null ();
  a = json_array ();
  for (i = 0; i < n; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static int
add_blob (enclaver_tree_t *tree, const char *path, const void *data, size_t len, uint32_t mode, int64_t mtime,
          enclaver_error_t *err)
{
  struct enclaver_tree_attr a = { .mode = mode, .uid = 0, .gid = 0, .mtime = mtime };
  if (enclaver_tree_add_file (tree, path, &a, data, len, ENCLAVER_TREE_MKPARENTS | ENCLAVER_TREE_REPLACE, err) < 0)
    return enclaver_error_wrap (err, "add /%s to the rootfs", path);
  return 0;
}

/* Install the supervisor, its configuration and the manifest into the rootfs, and make
 * the enclave's init start the supervisor (docs/runtime.md). */
static int
install_supervisor (enclaver_stage_t *st, const char *sv_path, enclaver_tree_t *tree,
                    const struct enclaver_manifest *m, const struct enclaver_image *img,
                    struct enclaver_ramdisks *rd, int64_t mtime, enclaver_error_t *err)
{
  struct enclaver_tree_attr a = { .mode = 0755, .uid = 0, .gid = 0, .mtime = mtime };
  json_t *cfg;
  char *text = NULL, *mbytes = NULL, addr[64];
  size_t mlen = 0, i;
  int fd, r = -1;

  fd = enclaver_build_open_input (sv_path, err);
  if (fd < 0)
    return enclaver_error_wrap (err, "the supervisor");
  r = enclaver_tree_add_file_fd (tree, "sbin/enclaver-supervisor", &a, fd, 64u << 20,
                                 ENCLAVER_TREE_MKPARENTS | ENCLAVER_TREE_REPLACE, err);
  close (fd);
  if (r < 0)
    return enclaver_error_wrap (err, "add /sbin/enclaver-supervisor to the rootfs");
  r = -1;

  cfg = json_object ();
  json_object_set_new (cfg, "version", json_integer (1));
  json_object_set_new (cfg, "entrypoint", strv_json (img->entrypoint, img->n_entrypoint, img->has_entrypoint));
  json_object_set_new (cfg, "cmd", strv_json (img->cmd, img->n_cmd, img->has_cmd));
  json_object_set_new (cfg, "env", strv_json (img->env, img->n_env, 1));
  if (img->working_dir && *img->working_dir)
    json_object_set_new (cfg, "workdir", json_string (img->working_dir));
  if (img->user && *img->user)
    json_object_set_new (cfg, "user", json_string (img->user));
  snprintf (addr, sizeof addr, "vsock:any:%u", m && m->status_port ? m->status_port : 17000u);
  json_object_set_new (cfg, "status_addr", json_string (addr));
  snprintf (addr, sizeof addr, "vsock:any:%u", m && m->app_log_port ? m->app_log_port : 17001u);
  json_object_set_new (cfg, "log_addr", json_string (addr));
  /* The network services of the supervisor (egress, ingress, API, KMS proxy) read their
   * settings from the normalised manifest (runtime/supervisor/net.h): only the keys the
   * enclave uses, none that carries a path of the build host (the EIF stays the same
   * bytes from any directory). */
  if (m)
    {
      static const char *const runtime_keys[] = { "name", "defaults", "ingress", "egress",
                                                  "kms_proxy", "api", "vsock_ports" };
      char *mtext = enclaver_manifest_to_json (m, err);
      json_t *mj = mtext ? json_loads (mtext, 0, NULL) : NULL, *sub = json_object ();
      free (mtext);
      if (mj == NULL)
        {
          json_decref (cfg);
          json_decref (sub);
          if (err && *err == NULL)
            enclaver_make_error (err, EINVAL, "inject: cannot convert the manifest to JSON");
          return -1;
        }
      for (i = 0; i < sizeof runtime_keys / sizeof runtime_keys[0]; i++)
        if (json_object_get (mj, runtime_keys[i]))
          json_object_set (sub, runtime_keys[i], json_object_get (mj, runtime_keys[i]));
      json_decref (mj);
      json_object_set_new (cfg, "manifest", sub);
    }
  text = json_dumps (cfg, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (cfg);
  if (text == NULL || add_blob (tree, "etc/enclaver/supervisor.json", text, strlen (text), 0644, mtime, err) < 0)
    goto out;
  if (m)
    {
      mbytes = enclaver_manifest_bytes (m, &mlen, err);
      if (mbytes == NULL || add_blob (tree, "etc/enclaver/enclaver.yaml", mbytes, mlen, 0644, mtime, err) < 0)
        goto out;
    }
  for (i = 0; i < rd->n_cmd; i++)
    free (rd->cmd[i]);
  rd->cmd[0] = sdup ("/sbin/enclaver-supervisor");
  rd->cmd[1] = NULL;
  rd->n_cmd = 1;
  for (i = 0; i < rd->n_env; i++)
    free (rd->env[i]);
  free (rd->env);
  rd->env = calloc (2, sizeof *rd->env);
  if (rd->env == NULL)
    abort ();
  rd->env[0] = sdup ("PATH=/sbin:/usr/sbin:/bin:/usr/bin");
  rd->n_env = 1;
  enclaver_stage_log_info (st, "installed the supervisor %s as /sbin/enclaver-supervisor", sv_path);
  r = 0;
out:
  free (text);
  free (mbytes);
  return r;
}

/* Everything inject takes from outside the image, chosen and checked against the EIF's
 * architecture: kernel, cmdline, init, nsm.ko and the supervisor (*sv, NULL for none).
 * Run twice: by check() before the first stage (ARCH predicted from kernel.arch,
 * --platform or the host; fetch refuses an image of another platform) and by run(). */
static int
select_inputs (enclaver_stage_t *st, enclaver_ctx_t *ctx, const struct enclaver_manifest *m, int arch,
               const char *arch_why, int quiet, struct enclaver_kernel *k, char **cmdline,
               struct enclaver_ramdisks *rd, char **sv, enclaver_error_t *err)
{
  struct inject_config *c = enclaver_stage_get_config (st);
  const char *mode = c->supervisor ? c->supervisor : "auto";
  const char *an = enclaver_eif_arch_name ((enum enclaver_eif_arch) arch);
  int init_builtin = 0, ka;

  *sv = NULL;
  if (choose_blobs (st, ctx, m, (enum enclaver_eif_arch) arch, quiet, &init_builtin, k, cmdline, rd, err) < 0)
    return -1;
  ka = kernel_arch (k->path);
  if (ka >= 0 && ka != arch)
    return enclaver_make_error (err, ENOEXEC, "kernel %s is an %s kernel (%s), but the EIF is for %s (%s)", k->path,
                                enclaver_eif_arch_name ((enum enclaver_eif_arch) ka),
                                ka == ENCLAVER_EIF_ARCH_X86_64 ? "bzImage" : "arm64 Image", an, arch_why);
  if (check_program (rd->init_path, arch, arch_why, init_builtin ? "the builtin init" : "the init", init_builtin,
                     err) < 0)
    return -1;
  if (rd->nsm_path && check_program (rd->nsm_path, arch, arch_why, "the kernel module nsm.ko", 0, err) < 0)
    return -1;
  if (strcmp (mode, "auto") == 0)
    {
      enclaver_error_t e = NULL;
      *sv = enclaver_find_runtime_program ("enclaver-supervisor", arch, &e);
      if (*sv == NULL && arch != enclaver_build_host_arch ())
        {
          /* The host has a supervisor, the EIF's architecture none: an EIF without it
           * would not be what the same build gives on a host of that architecture. */
          char *host_sv = enclaver_find_runtime_program ("enclaver-supervisor", enclaver_build_host_arch (), NULL);
          if (host_sv)
            {
              free (host_sv);
              enclaver_error_move (err, &e);
              return enclaver_error_wrap (err, "the supervisor for the %s EIF (inject option supervisor: "
                                               "auto; supervisor: none builds without it)", an);
            }
        }
      if (*sv == NULL)
        {
          if (!quiet)
            enclaver_stage_log_warning (st, "%s; the enclave runs the image's command directly, as nitro-cli does",
                                        e->msg);
          enclaver_error_release (&e);
          return 0;
        }
      return check_program (*sv, arch, arch_why, "the supervisor", 1, err);
    }
  if (strcmp (mode, "none") == 0)
    return 0;
  *sv = sdup (mode);
  int r = is_file (*sv, err);
  if (r < 0)
    return enclaver_error_wrap (err, "inject option supervisor");
  if (r == 0)
    return enclaver_make_error (err, ENOENT, "inject option supervisor: %s not found", *sv);
  return check_program (*sv, arch, arch_why, "the supervisor (inject option supervisor)", 0, err);
}

/* Before any stage runs: the kernel, init and supervisor this build will take exist and
 * are for the EIF's architecture. */
static int
inject_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  struct enclaver_kernel *k = calloc (1, sizeof *k);
  struct enclaver_ramdisks *rd = calloc (1, sizeof *rd);
  char *cmdline = NULL, *sv = NULL;
  const char *why;
  int arch, r;

  if (k == NULL || rd == NULL)
    abort ();
  r = enclaver_build_arch (ctx, NULL, &arch, &why, err);
  if (r == 0)
    r = select_inputs (st, ctx, m, arch, why, 1, k, &cmdline, rd, &sv, err);
  enclaver_kernel_free (k);
  enclaver_ramdisks_free (rd);
  free (cmdline);
  free (sv);
  return r;
}

static int
inject_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  enclaver_tree_t *tree = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  struct enclaver_kernel *k = calloc (1, sizeof *k);
  struct enclaver_ramdisks *rd = calloc (1, sizeof *rd);
  char *cmdline = NULL, *sv = NULL;
  const char *arch_why;
  int arch;
  int64_t sde, btime;

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
  if (enclaver_build_source_date_epoch (ctx, &sde, err) < 0 || enclaver_build_time (ctx, img, &btime, err) < 0)
    goto fail;
  rd->source_date_epoch = sde;
  if (enclaver_build_arch (ctx, img, &arch, &arch_why, err) < 0
      || select_inputs (st, ctx, m, arch, arch_why, 0, k, &cmdline, rd, &sv, err) < 0)
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
  /* What enclaver adds carries the build time (clamped to SOURCE_DATE_EPOCH like the rest). */
  if (ensure_dirs (st, tree, btime, err) < 0)
    goto fail;
  if (sv && install_supervisor (st, sv, tree, m, img, rd, btime, err) < 0)
    goto fail;
  free (sv);
  sv = NULL;

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
  free (sv);
  return -1;
}

ENCLAVER_STAGE_DEFINE (.name = "inject",
                       .description = "choose kernel, cmdline and init; lay out the bootstrap and customer ramdisks",
                       .options = inject_options, .config_size = sizeof (struct inject_config), .run = inject_run,
                       .check = inject_check);
