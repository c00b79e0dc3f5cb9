/* enclaver: platforms and index selection (OCI.md §1.6). */
#include "config.h"
#include <ctype.h>
#include <string.h>
#include <sys/utsname.h>
#include "oci/oci.h"

static void
copy_lower (char *dst, size_t size, const char *src, size_t n)
{
  size_t i;
  for (i = 0; i + 1 < size && i < n; i++)
    dst[i] = (char) tolower ((unsigned char) src[i]);
  dst[i] = '\0';
}

static void
normalise (struct enclaver_platform *p)
{
  static const struct
  {
    const char *from, *arch, *variant;
  } aliases[] = {
    { "x86_64", "amd64", NULL }, { "x86-64", "amd64", NULL }, { "aarch64", "arm64", NULL },
    { "armhf", "arm", "v7" },    { "armel", "arm", "v6" },    { "i386", "386", NULL },
    { "i686", "386", NULL },     { "x86", "386", NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (aliases); i++)
    if (strcmp (p->architecture, aliases[i].from) == 0)
      {
        snprintf (p->architecture, sizeof p->architecture, "%s", aliases[i].arch);
        if (aliases[i].variant && p->variant[0] == '\0')
          snprintf (p->variant, sizeof p->variant, "%s", aliases[i].variant);
      }
  /* bare digits -> vN */
  if (p->variant[0] >= '0' && p->variant[0] <= '9' && strlen (p->variant) < sizeof p->variant - 1)
    {
      memmove (p->variant + 1, p->variant, strlen (p->variant) + 1);
      p->variant[0] = 'v';
    }
  if (strcmp (p->architecture, "arm64") == 0 && strcmp (p->variant, "v8") == 0)
    p->variant[0] = '\0';
  if (strcmp (p->architecture, "amd64") == 0 && strcmp (p->variant, "v1") == 0)
    p->variant[0] = '\0';
}

static int
field_ok (const char *s, size_t n)
{
  if (n == 0 || n >= 16)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char) s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
      return 0;
  return 1;
}

/* The GOOS and GOARCH values images use (after normalise()). */
static const char *const known_os[] = { "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos",
                                        "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1",
                                        "windows", "zos", NULL };
static const char *const known_arch[] = { "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64",
                                          "mips64le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390",
                                          "s390x", "sparc", "sparc64", "wasm", NULL };

static int
known (const char *v, const char *const *list)
{
  for (; *list; list++)
    if (strcmp (v, *list) == 0)
      return 1;
  return 0;
}

int
enclaver_platform_parse (const char *s, struct enclaver_platform *out, enclaver_error_t *err)
{
  const char *parts[3] = { 0 };
  size_t lens[3] = { 0 };
  int n = 0;
  const char *p = s;
  memset (out, 0, sizeof *out);
  if (s == NULL || *s == '\0')
    return enclaver_make_error (err, EINVAL, "empty platform");
  while (n < 3)
    {
      const char *e = strchr (p, '/');
      parts[n] = p;
      lens[n] = e ? (size_t) (e - p) : strlen (p);
      if (!field_ok (parts[n], lens[n]))
        return enclaver_make_error (err, EINVAL, "invalid platform '%s' (expected os/arch[/variant], e.g. linux/arm64)", s);
      n++;
      if (!e)
        break;
      p = e + 1;
      if (n == 3)
        return enclaver_make_error (err, EINVAL, "invalid platform '%s' (expected os/arch[/variant])", s);
    }
  if (n == 1)
    {
      snprintf (out->os, sizeof out->os, "linux");
      copy_lower (out->architecture, sizeof out->architecture, parts[0], lens[0]);
    }
  else
    {
      copy_lower (out->os, sizeof out->os, parts[0], lens[0]);
      copy_lower (out->architecture, sizeof out->architecture, parts[1], lens[1]);
      if (n == 3)
        copy_lower (out->variant, sizeof out->variant, parts[2], lens[2]);
    }
  normalise (out);
  if (!known (out->os, known_os) || !known (out->architecture, known_arch))
    {
      enclaver_make_error (err, EINVAL,
                           "invalid platform '%s': unknown %s '%s' (expected os/arch[/variant] such as linux/amd64, "
                           "linux/arm64 or linux/arm/v7)",
                           s, known (out->os, known_os) ? "architecture" : "operating system",
                           known (out->os, known_os) ? out->architecture : out->os);
      memset (out, 0, sizeof *out);
      return -1;
    }
  return 0;
}

void
enclaver_platform_host (struct enclaver_platform *out)
{
  struct utsname u;
  memset (out, 0, sizeof *out);
  snprintf (out->os, sizeof out->os, "linux");
  if (uname (&u) == 0)
    copy_lower (out->architecture, sizeof out->architecture, u.machine, strlen (u.machine));
  else
    snprintf (out->architecture, sizeof out->architecture, "amd64");
  normalise (out);
}

const char *
enclaver_platform_format (const struct enclaver_platform *p, char *buf, size_t size)
{
  snprintf (buf, size, "%s/%s%s%s", p->os, p->architecture, p->variant[0] ? "/" : "", p->variant);
  return buf;
}

int
oci_platform_match (const struct enclaver_platform *have, const struct enclaver_platform *want)
{
  return strcmp (have->os, want->os) == 0 && strcmp (have->architecture, want->architecture) == 0
         && strcmp (have->variant, want->variant) == 0;
}

static int
is_index_mt (const char *mt)
{
  return mt && (strcmp (mt, ENCLAVER_MT_OCI_INDEX) == 0 || strcmp (mt, ENCLAVER_MT_DOCKER_LIST) == 0);
}

static int
is_manifest_mt (const char *mt)
{
  return mt && (strcmp (mt, ENCLAVER_MT_OCI_MANIFEST) == 0 || strcmp (mt, ENCLAVER_MT_DOCKER_MANIFEST) == 0);
}

int
oci_index_select (const struct oci_index *ix, const struct enclaver_platform *want, const char *what,
                  enclaver_error_t *err)
{
  size_t n_att = 0, n_other = 0;
  for (size_t i = 0; i < ix->n; i++)
    {
      const struct oci_desc *d = &ix->m[i];
      if (d->attestation)
        {
          n_att++;
          continue;
        }
      if (!is_index_mt (d->media_type) && !is_manifest_mt (d->media_type))
        {
          n_other++;
          continue; /* unknown entries MUST NOT cause errors */
        }
      if (!d->has_platform)
        {
          if (is_index_mt (d->media_type))
            return (int) i; /* nested index: descend */
          continue;
        }
      if (oci_platform_match (&d->platform, want))
        return (int) i;
    }
  char wbuf[96];
  size_t cap = 256, len = 0;
  char *offers = xmalloc (cap);
  offers[0] = '\0';
  for (size_t i = 0; i < ix->n; i++)
    {
      const struct oci_desc *d = &ix->m[i];
      if (d->attestation || (!is_index_mt (d->media_type) && !is_manifest_mt (d->media_type)))
        continue;
      char pbuf[96];
      const char *t = d->platform_text           ? d->platform_text
                      : d->has_platform ? enclaver_platform_format (&d->platform, pbuf, sizeof pbuf)
                                        : "(no platform)";
      size_t need = len + strlen (t) + 3;
      if (need > cap)
        {
          cap = need * 2;
          offers = xrealloc (offers, cap);
        }
      len += (size_t) sprintf (offers + len, "%s%s", len ? ", " : "", t);
    }
  enclaver_make_error (err, ENOENT, "%s has no image for platform %s; it offers: %s%s%s%s", what,
                       enclaver_platform_format (want, wbuf, sizeof wbuf), len ? offers : "nothing runnable",
                       n_att ? " (attestation manifests skipped)" : "",
                       n_other ? " (entries of other types skipped)" : "",
                       len ? "; choose one with --platform" : "");
  free (offers);
  return -1;
}
