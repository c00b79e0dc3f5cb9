/* enclaver: helpers shared by the inject, measure and emit-eif stages. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include "util.h"

void
enclaver_kernel_free (void *p)
{
  struct enclaver_kernel *k = p;
  if (k == NULL)
    return;
  free (k->path);
  free (k->blobs_dir);
  free (k->version);
  free (k);
}

void
enclaver_ramdisks_free (void *p)
{
  struct enclaver_ramdisks *r = p;
  if (r == NULL)
    return;
  free (r->init_path);
  free (r->nsm_path);
  enclaver_strv_free (r->cmd, r->n_cmd);
  enclaver_strv_free (r->env, r->n_env);
  free (r);
}

int
enclaver_build_source_date_epoch (const enclaver_ctx_t *ctx, int64_t *out, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *env = getenv ("SOURCE_DATE_EPOCH");

  if (m && m->has_source_date_epoch)
    {
      *out = m->source_date_epoch;
      return 0;
    }
  if (env && *env)
    {
      char *end;
      long long v;
      errno = 0;
      v = strtoll (env, &end, 10);
      if (errno || *end || v < 0 || v > 0xffffffffLL)
        return enclaver_make_error (err, EINVAL,
                                    "SOURCE_DATE_EPOCH='%s' is not a number of seconds from 0 to 4294967295", env);
      *out = v;
      return 0;
    }
  *out = -1;
  return 0;
}

int
enclaver_build_param_true (const enclaver_ctx_t *ctx, const char *name)
{
  const char *v = enclaver_ctx_get_param (ctx, name);
  return v && (strcmp (v, "1") == 0 || strcasecmp (v, "true") == 0 || strcasecmp (v, "yes") == 0
               || strcasecmp (v, "on") == 0);
}

void
enclaver_build_image_options (const enclaver_ctx_t *ctx, struct enclaver_image_options *o, void **keep)
{
  const char *v;
  *keep = NULL;
  if ((v = enclaver_ctx_get_param (ctx, "cache-dir")))
    o->cache_dir = v;
  if ((v = enclaver_ctx_get_param (ctx, "ca-cert")))
    o->ca_cert = v;
  if ((v = enclaver_ctx_get_param (ctx, "cert-dir")))
    o->cert_dir = v;
  if ((v = enclaver_ctx_get_param (ctx, "blob-timeout")) && *v)
    {
      /* checked by the fetch stage (a bad value is its error); 0 here falls back */
      char *end;
      long t = strtol (v, &end, 10);
      o->blob_timeout = *end == '\0' && t >= 1 && t <= 86400 ? t : 0;
    }
  if (enclaver_ctx_get_param (ctx, "progress") && !enclaver_build_param_true (ctx, "progress"))
    o->progress = 0;
  if ((v = enclaver_ctx_get_param (ctx, "insecure-registry")) && *v)
    {
      /* One block: the NULL-terminated pointer array, then the copy of the list it points into. */
      size_t n = 1, len = strlen (v) + 1;
      for (const char *p = v; *p; p++)
        n += *p == ',';
      const char **hosts = xmalloc0 ((n + 1) * sizeof *hosts + len);
      char *buf = memcpy ((char *) (hosts + n + 1), v, len);
      n = 0;
      for (char *save = NULL, *t = strtok_r (buf, ",", &save); t; t = strtok_r (NULL, ",", &save))
        hosts[n++] = t;
      o->insecure_registries = hosts;
      *keep = hosts;
    }
}

/* The directories enclaver's helper programs may be in, most specific first: malloc'd,
 * *n set (at most 3). */
static void
program_dirs (char *dirs[3], size_t *n)
{
  const char *env = getenv ("ENCLAVER_LIBEXEC_DIR");
  cleanup_free char *self = enclaver_self_dir ();

  *n = 0;
  if (env && *env)
    dirs[(*n)++] = xstrdup (env);
  if (self && enclaver_in_build_tree (self))
    dirs[(*n)++] = xasprintf ("%s/runtime", ABS_TOP_BUILDDIR);
  else
    {
      char *r = enclaver_relocated_dir (PKGLIBEXECDIR);
      if (r)
        dirs[(*n)++] = r;
    }
  dirs[(*n)++] = xstrdup (PKGLIBEXECDIR);
}

/* The first executable of CANDS[0..N) (malloc'd), else NULL and *where lists them all;
 * frees CANDS. */
static char *
first_executable (char **cands, size_t n, char **where)
{
  char *found = NULL;
  size_t i, len = 1;
  for (i = 0; i < n && found == NULL; i++)
    if (access (cands[i], X_OK) == 0)
      found = xstrdup (cands[i]);
  for (i = 0; i < n; i++)
    len += strlen (cands[i]) + 2;
  *where = xmalloc0 (len);
  for (i = 0; i < n; i++)
    {
      if (i)
        strcat (*where, ", ");
      strcat (*where, cands[i]);
      free (cands[i]);
    }
  return found;
}

char *
enclaver_find_program (const char *name, enclaver_error_t *err)
{
  char *dirs[3], *cands[3], *found;
  cleanup_free char *where = NULL;
  size_t i, n;

  program_dirs (dirs, &n);
  for (i = 0; i < n; i++)
    {
      cands[i] = xasprintf ("%s/%s", dirs[i], name);
      free (dirs[i]);
    }
  found = first_executable (cands, n, &where);
  if (found == NULL)
    enclaver_make_error (err, ENOENT, "%s not found (looked for %s)", name, where);
  return found;
}

/* Debian's names for what builds the runtime of ARCH on the other architecture. */
static void
cross_packages (int arch, const char **triplet_pkg, const char **deb)
{
  int a64 = arch == ENCLAVER_EIF_ARCH_AARCH64;
  *triplet_pkg = a64 ? "aarch64-linux-gnu" : "x86-64-linux-gnu";
  *deb = a64 ? "arm64" : "amd64";
}

char *
enclaver_find_runtime_program (const char *name, int arch, enclaver_error_t *err)
{
  const char *an = enclaver_eif_arch_name ((enum enclaver_eif_arch) arch);
  int host = arch == enclaver_build_host_arch ();
  char *dirs[3], *cands[6], *found;
  cleanup_free char *where = NULL;
  size_t i, n, k = 0;

  program_dirs (dirs, &n);
  for (i = 0; i < n; i++)
    {
      /* The host's own runtime is installed next to enclaver's other programs; another
       * architecture's in a subdirectory named after it. */
      if (host)
        cands[k++] = xasprintf ("%s/%s", dirs[i], name);
      cands[k++] = xasprintf ("%s/%s/%s", dirs[i], an, name);
      free (dirs[i]);
    }
  found = first_executable (cands, k, &where);
  if (found == NULL && host)
    enclaver_make_error (err, ENOENT, "%s not found (looked for %s)", name, where);
  else if (found == NULL)
    {
      const char *tp, *deb;
      cross_packages (arch, &tp, &deb);
      enclaver_make_error (err, ENOENT,
                           "%s for %s not found (looked for %s): this enclaver was built without the %s runtime "
                           "binaries.  Install the cross toolchain (gcc-%s and libc6-dev-%s-cross; after "
                           "dpkg --add-architecture %s, libssl-dev:%s libjansson-dev:%s libyaml-dev:%s "
                           "zlib1g-dev:%s -- scripts/setup-deps.sh installs them) and build enclaver again: "
                           "configure then reports \"runtime binaries for %s: yes\"",
                           name, an, where, an, tp, deb, deb, deb, deb, deb, deb, an);
    }
  return found;
}

char *
enclaver_manifest_bytes (const struct enclaver_manifest *m, size_t *len, enclaver_error_t *err)
{
  char *buf = NULL;
  if (m->path == NULL || strcmp (m->path, "-") == 0)
    {
      buf = enclaver_manifest_to_json (m, err);
      if (buf)
        *len = strlen (buf);
      return buf;
    }
  if (enclaver_read_file (m->path, ENCLAVER_MANIFEST_MAX_SIZE, &buf, len, err) < 0)
    return NULL;
  return buf;
}

/* ---- architecture */

static const char *
arch_name (int arch)
{
  return enclaver_eif_arch_name ((enum enclaver_eif_arch) arch);
}

static int
oci_arch_to_eif (const char *oci, int *arch)
{
  if (strcmp (oci, "amd64") == 0 || strcmp (oci, "x86_64") == 0)
    *arch = ENCLAVER_EIF_ARCH_X86_64;
  else if (strcmp (oci, "arm64") == 0 || strcmp (oci, "aarch64") == 0)
    *arch = ENCLAVER_EIF_ARCH_AARCH64;
  else
    return -1;
  return 0;
}

int
enclaver_build_host_arch (void)
{
#if defined(__aarch64__)
  return ENCLAVER_EIF_ARCH_AARCH64;
#else
  return ENCLAVER_EIF_ARCH_X86_64;
#endif
}

int
enclaver_build_arch (const enclaver_ctx_t *ctx, const struct enclaver_image *img, int *arch, const char **why,
                     enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *platform = enclaver_ctx_get_param (ctx, "platform");
  int from_image = -1;
  enum enclaver_eif_arch a;

  if (img && img->architecture)
    {
      if (oci_arch_to_eif (img->architecture, &from_image) < 0)
        return enclaver_make_error (err, EINVAL,
                                    "image architecture '%s' cannot run in a Nitro Enclave (amd64 or arm64 only)",
                                    img->architecture);
    }
  if (m && m->kernel_arch)
    {
      if (enclaver_eif_arch_parse (m->kernel_arch, &a) < 0)
        return enclaver_make_error (err, EINVAL, "kernel.arch '%s' is not x86_64 or aarch64", m->kernel_arch);
      if (from_image >= 0 && from_image != (int) a)
        return enclaver_make_error (err, EINVAL,
                                    "kernel.arch is %s but the image %s is %s (%s): its programs could not run "
                                    "under that kernel",
                                    m->kernel_arch, img->name ? img->name : "", arch_name (from_image),
                                    img->architecture);
      *arch = (int) a;
      *why = "kernel.arch in the manifest";
      return 0;
    }
  if (from_image >= 0)
    {
      *arch = from_image;
      *why = "the image's architecture";
      return 0;
    }
  if (platform && *platform)
    {
      /* os/arch[/variant] */
      const char *s = strchr (platform, '/');
      char buf[32];
      size_t n;
      if (s)
        {
          s++;
          n = strcspn (s, "/");
          if (n < sizeof buf)
            {
              memcpy (buf, s, n);
              buf[n] = '\0';
              if (oci_arch_to_eif (buf, arch) == 0)
                {
                  *why = "--platform";
                  return 0;
                }
            }
        }
      return enclaver_make_error (err, EINVAL, "platform '%s' cannot run in a Nitro Enclave (linux/amd64 or "
                                  "linux/arm64 only)", platform);
    }
  *arch = enclaver_build_host_arch ();
  *why = "the host's architecture";
  return 0;
}

/* ---- ELF machine of injected files */

static const char *
machine_name (unsigned m, char buf[32])
{
  switch (m)
    {
    case 3:
      return "i386";
    case 40:
      return "arm (32-bit)";
    case 62:
      return "x86_64";
    case 183:
      return "aarch64";
    case 243:
      return "riscv";
    default:
      snprintf (buf, 32, "ELF machine %u", m);
      return buf;
    }
}

int
enclaver_build_open_input (const char *path, enclaver_error_t *err)
{
  return enclaver_open_file (path, 0, err);
}

int
enclaver_build_elf_arch (const char *path, int *arch, char desc[64], enclaver_error_t *err)
{
  unsigned char h[20];
  char mb[32];
  ssize_t n;
  unsigned mach;
  int fd = enclaver_open_file (path, 0, err);

  if (fd < 0)
    return -1;
  n = pread (fd, h, sizeof h, 0);
  close (fd);
  if (n < 0)
    return enclaver_make_errno (err, errno, "read %s", path);
  if (n < (ssize_t) sizeof h || memcmp (h, "\177ELF", 4) != 0)
    return enclaver_make_error (err, ENOEXEC, "%s is not an ELF file (it does not start with \\177ELF)", path);
  mach = h[5] == 2 ? ((unsigned) h[18] << 8) | h[19] : h[18] | ((unsigned) h[19] << 8);
  snprintf (desc, 64, "%s%s", machine_name (mach, mb), h[4] == 2 ? "" : " (32-bit)");
  *arch = -1;
  if (h[4] == 2 && h[5] == 1 && mach == 62)
    *arch = ENCLAVER_EIF_ARCH_X86_64;
  else if (h[4] == 2 && h[5] == 1 && mach == 183)
    *arch = ENCLAVER_EIF_ARCH_AARCH64;
  return 0;
}

int
enclaver_build_check_elf (const char *path, int arch, const char *what, enclaver_error_t *err)
{
  char desc[64];
  int a;
  if (enclaver_build_elf_arch (path, &a, desc, err) < 0)
    return enclaver_error_wrap (err, "%s for %s", what, arch_name (arch));
  if (a != arch)
    return enclaver_make_error (err, ENOEXEC, "%s %s is built for %s, but the EIF is for %s", what, path, desc,
                                arch_name (arch));
  return 0;
}

/* ---- outputs */

char *
enclaver_build_output_name (const enclaver_ctx_t *ctx, const char *path, const char *ext)
{
  const char *suffix = enclaver_ctx_get_param (ctx, "output-suffix");
  size_t n = strlen (path), e = ext ? strlen (ext) : 0;
  if (suffix == NULL || *suffix == '\0')
    return xstrdup (path);
  if (e && n > e && strcmp (path + n - e, ext) == 0 && path[n - e - 1] != '/')
    return xasprintf ("%.*s%s%s", (int) (n - e), path, suffix, ext);
  return xasprintf ("%s%s", path, suffix);
}

const char *
enclaver_build_output_dir (const enclaver_ctx_t *ctx)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *d = enclaver_ctx_get_param (ctx, "output-dir");
  if (d && *d)
    return d;
  return m && m->dir ? m->dir : ".";
}

char *
enclaver_build_eif_path (const enclaver_ctx_t *ctx)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const char *p = enclaver_ctx_get_param (ctx, "eif-path");
  if (p && *p)
    return xstrdup (p);
  p = enclaver_ctx_get_param (ctx, "eif-only");
  if (p && *p)
    return enclaver_build_output_name (ctx, p, ".eif");
  if (m && m->output_eif)
    return enclaver_build_output_name (ctx, m->output_eif, ".eif");
  cleanup_free char *d = xasprintf ("%s/%s.eif", enclaver_build_output_dir (ctx), m && m->name ? m->name : "enclave");
  return enclaver_build_output_name (ctx, d, ".eif");
}

char *
enclaver_build_output_beside_eif (const enclaver_ctx_t *ctx, const char *suffix)
{
  cleanup_free char *eif = enclaver_build_eif_path (ctx);
  size_t n = strlen (eif);
  if (n > 4 && strcmp (eif + n - 4, ".eif") == 0)
    eif[n - 4] = '\0';
  return xasprintf ("%s%s", eif, suffix);
}

/* Create a file in DIR and remove it again: the one test of writability that also holds
 * for root, read-only mounts and pseudo file systems. */
static int
probe_dir (const char *dir, const char *what, enclaver_error_t *err)
{
  cleanup_free char *p = xasprintf ("%s/.enclaver-probe.XXXXXX", dir);
  int fd = mkostemp (p, O_CLOEXEC);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "%s: cannot create files in %s", what, dir);
  close (fd);
  unlink (p);
  return 0;
}

int
enclaver_build_check_output (const char *path, int is_dir, const char *what, enclaver_error_t *err)
{
  cleanup_free char *copy = xstrdup (path);
  char *slash = strrchr (copy, '/');
  const char *dir;
  struct stat st;

  if (*path == '\0')
    return enclaver_make_error (err, EINVAL, "%s: empty path", what);
  if (lstat (path, &st) == 0)
    {
      if (is_dir && !S_ISDIR (st.st_mode))
        return enclaver_make_error (err, EEXIST, "%s %s exists and is not a directory", what, path);
      if (!is_dir && S_ISDIR (st.st_mode))
        return enclaver_make_error (err, EISDIR, "%s %s is a directory", what, path);
    }
  if (slash == NULL)
    dir = ".";
  else if (slash == copy)
    dir = "/";
  else
    {
      *slash = '\0';
      dir = copy;
    }
  if (stat (dir, &st) < 0)
    return enclaver_make_errno (err, errno, "%s %s: directory %s", what, path, dir);
  if (!S_ISDIR (st.st_mode))
    return enclaver_make_error (err, ENOTDIR, "%s %s: %s is not a directory", what, path, dir);
  {
    cleanup_free char *w = xasprintf ("%s %s", what, path);
    return probe_dir (dir, w, err);
  }
}

static int
mkdir_p (char *path)
{
  char *p;
  struct stat st;
  for (p = path + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (path, 0777) < 0 && errno != EEXIST)
          return -1;
        *p = '/';
      }
  if (mkdir (path, 0777) < 0 && errno != EEXIST)
    return -1;
  if (stat (path, &st) < 0)
    return -1;
  if (!S_ISDIR (st.st_mode))
    {
      errno = ENOTDIR;
      return -1;
    }
  return 0;
}

int
enclaver_build_prepare (enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  const char *d = enclaver_ctx_get_param (ctx, "output-dir");
  cleanup_free char *copy = NULL;
  struct stat st;

  if (d == NULL || *d == '\0')
    return 0;
  if (stat (d, &st) == 0 && !S_ISDIR (st.st_mode))
    return enclaver_make_error (err, ENOTDIR, "--output-dir %s exists and is not a directory", d);
  copy = xstrdup (d);
  if (mkdir_p (copy) < 0)
    return enclaver_make_errno (err, errno, "--output-dir %s: cannot create %s", d, copy);
  return probe_dir (d, "--output-dir", err);
}

/* ---- kernel */

char *
enclaver_build_fetch_kernel_hint (void)
{
  cleanup_free char *self = enclaver_self_dir ();
  if (self && enclaver_in_build_tree (self))
    {
      char *p = xasprintf ("%s/scripts/fetch-kernel.sh", ABS_TOP_SRCDIR);
      char *r = realpath (p, NULL); /* ABS_TOP_SRCDIR may be "<builddir>/.." */
      if (r == NULL)
        return p;
      free (p);
      return r;
    }
  return xstrdup ("enclaver-fetch-kernel");
}

/* ---- provenance */

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" -> seconds since the epoch. */
static int
parse_rfc3339 (const char *s, int64_t *out)
{
  struct tm tm;
  int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
  const char *p;
  int64_t t;
  memset (&tm, 0, sizeof tm);
  if (sscanf (s, "%4d-%2d-%2d%*[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
    return -1;
  p = s + n;
  if (*p == '.')
    {
      p++;
      if (*p < '0' || *p > '9')
        return -1;
      while (*p >= '0' && *p <= '9')
        p++;
    }
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int sign = *p == '-' ? -1 : 1, k = 0;
      if (sscanf (p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
        return -1;
      oh *= sign;
      om *= sign;
      p += 1 + k;
    }
  else
    return -1;
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  t = (int64_t) timegm (&tm);
  *out = t - (int64_t) oh * 3600 - (int64_t) om * 60;
  return 0;
}

int
enclaver_build_time (const enclaver_ctx_t *ctx, const struct enclaver_image *img, int64_t *epoch,
                     enclaver_error_t *err)
{
  int64_t sde;
  if (enclaver_build_source_date_epoch (ctx, &sde, err) < 0)
    return -1;
  if (sde >= 0)
    {
      *epoch = sde;
      return 0;
    }
  *epoch = 0;
  if (img && img->created && *img->created && parse_rfc3339 (img->created, epoch) < 0)
    return enclaver_make_error (err, EINVAL,
                                "image %s: config 'created' is '%s', not an RFC 3339 time (set SOURCE_DATE_EPOCH "
                                "to choose the build time)",
                                img->name ? img->name : "", img->created);
  if (*epoch < 0)
    *epoch = 0;
  return 0;
}

char *
enclaver_build_time_string (int64_t epoch)
{
  char b[64];
  time_t t = (time_t) (epoch < 0 ? 0 : epoch);
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup (b);
}

char *
enclaver_build_source_name (const struct enclaver_image *img)
{
  const char *n = img && img->name ? img->name : "";
  const char *colon = strchr (n, ':'), *slash = strrchr (n, '/');
  if (img == NULL || img->transport == ENCLAVER_TRANSPORT_REGISTRY || colon == NULL || slash == NULL
      || slash < colon)
    return xstrdup (n);
  return xasprintf ("%.*s:%s", (int) (colon - n), n, slash + 1);
}
