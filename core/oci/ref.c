/* enclaver: image source strings — transports and the registry reference grammar
 * (distribution/reference, OCI.md §2.1). */
#include "config.h"
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <enclaver/eif.h>
#include "oci/oci.h"

#define MAX_PATH_LEN 255

void
enclaver_image_ref_free (struct enclaver_image_ref *ref)
{
  if (ref == NULL)
    return;
  free (ref->domain);
  free (ref->path);
  free (ref->tag);
  free (ref->digest);
  free (ref->api_host);
  free (ref->file);
  free (ref->image);
  free (ref);
}

static int
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]+ */
static int
component_valid (const char *s, size_t n)
{
  size_t i = 0;
  if (n == 0 || !is_lower_alnum (s[0]) || !is_lower_alnum (s[n - 1]))
    return 0;
  while (i < n)
    {
      if (is_lower_alnum (s[i]))
        {
          i++;
          continue;
        }
      size_t j = i;
      if (s[i] == '.')
        j = i + 1;
      else if (s[i] == '_')
        j = (i + 1 < n && s[i + 1] == '_') ? i + 2 : i + 1;
      else if (s[i] == '-')
        {
          while (j < n && s[j] == '-')
            j++;
        }
      else
        return 0;
      if (j >= n || !is_lower_alnum (s[j]))
        return 0;
      i = j;
    }
  return 1;
}

static int
domain_valid (const char *s, size_t n)
{
  size_t i = 0;
  if (n == 0)
    return 0;
  if (s[0] == '[')
    {
      const char *close = memchr (s, ']', n);
      if (close == NULL)
        return 0;
      for (const char *p = s + 1; p < close; p++)
        if (!isxdigit ((unsigned char) *p) && *p != ':' && *p != '.')
          return 0;
      i = (size_t) (close - s) + 1;
    }
  else
    {
      /* labels of [a-zA-Z0-9-], not starting/ending with '-', separated by '.' */
      size_t lab = 0;
      for (; i < n && s[i] != ':'; i++)
        {
          char c = s[i];
          if (c == '.')
            {
              if (lab == 0 || s[i - 1] == '-')
                return 0;
              lab = 0;
            }
          else if (isalnum ((unsigned char) c) || (c == '-' && lab > 0))
            lab++;
          else
            return 0;
        }
      if (lab == 0 || s[i - 1] == '-')
        return 0;
    }
  if (i < n)
    {
      if (s[i] != ':' || i + 1 >= n)
        return 0;
      for (size_t j = i + 1; j < n; j++)
        if (!isdigit ((unsigned char) s[j]))
          return 0;
      if (n - i - 1 > 5)
        return 0;
    }
  return 1;
}

static int
tag_valid (const char *t)
{
  size_t n = strlen (t);
  if (n == 0 || n > 128)
    return 0;
  if (!(isalnum ((unsigned char) t[0]) || t[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum ((unsigned char) t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
      return 0;
  return 1;
}

static int
parse_docker (const char *src, struct enclaver_image_ref *ref, enclaver_error_t *err)
{
  cleanup_free char *s = xstrdup (src);
  char *at = strchr (s, '@');
  if (*s == '\0')
    return enclaver_make_error (err, EINVAL, "empty image reference");
  if (at)
    {
      *at = '\0';
      const char *d = at + 1;
      if (!oci_digest_valid (d))
        {
          enclaver_error_t e = NULL;
          oci_digest_check (d, "digest", &e);
          enclaver_make_error (err, EINVAL, "invalid reference '%s': %s", src, e->msg);
          enclaver_error_release (&e);
          return -1;
        }
      ref->digest = xstrdup (d);
    }
  char *slash = strrchr (s, '/');
  char *colon = strrchr (s, ':');
  if (colon && (slash == NULL || colon > slash))
    {
      *colon = '\0';
      if (!tag_valid (colon + 1))
        return enclaver_make_error (err, EINVAL,
                                    "invalid reference '%s': bad tag '%s' (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
                                    src, colon + 1);
      ref->tag = xstrdup (colon + 1);
    }
  if (*s == '\0')
    return enclaver_make_error (err, EINVAL, "invalid reference '%s': missing repository name", src);

  /* Domain detection (splitDockerDomain). */
  char *name = s;
  char *first_slash = strchr (s, '/');
  const char *domain = "docker.io";
  size_t domain_len = 9;
  if (first_slash)
    {
      size_t n = (size_t) (first_slash - s);
      int is_domain = (n == 9 && strncmp (s, "localhost", 9) == 0);
      for (size_t i = 0; i < n && !is_domain; i++)
        if (s[i] == '.' || s[i] == ':' || s[i] == '[' || isupper ((unsigned char) s[i]))
          is_domain = 1;
      if (is_domain)
        {
          if (!domain_valid (s, n))
            return enclaver_make_error (err, EINVAL, "invalid reference '%s': bad registry host '%.*s'", src,
                                        (int) n, s);
          domain = s;
          domain_len = n;
          name = first_slash + 1;
        }
    }
  cleanup_free char *dom = xstrndup (domain, domain_len);
  if (strcmp (dom, "index.docker.io") == 0)
    {
      free (dom);
      dom = xstrdup ("docker.io");
    }
  int hub = strcmp (dom, "docker.io") == 0;

  /* The name as normalised (domain/path, with library/ for an official Hub image) is
   * bounded, as distribution/reference bounds it: a bare name close to the limit
   * would otherwise give a canonical text that does not parse. */
  if (strlen (dom) + 1 + (hub && strchr (name, '/') == NULL ? 8 : 0) + strlen (name) > MAX_PATH_LEN)
    return enclaver_make_error (err, EINVAL,
                                "invalid reference '%s': name longer than %d characters (as normalised, with the registry)",
                                src, MAX_PATH_LEN);
  /* Validate path components. */
  const char *p = name;
  for (;;)
    {
      const char *e = strchr (p, '/');
      size_t n = e ? (size_t) (e - p) : strlen (p);
      if (!component_valid (p, n))
        {
          for (size_t i = 0; i < n; i++)
            if (isupper ((unsigned char) p[i]))
              return enclaver_make_error (err, EINVAL,
                                          "invalid reference '%s': repository name must be lowercase", src);
          return enclaver_make_error (err, EINVAL, "invalid reference '%s': bad path component '%.*s'", src,
                                      (int) n, p);
        }
      if (!e)
        break;
      p = e + 1;
    }
  if (strlen (name) == 64 && first_slash == NULL)
    {
      int allhex = 1;
      for (const char *q = name; *q; q++)
        if (!isxdigit ((unsigned char) *q))
          allhex = 0;
      if (allhex)
        return enclaver_make_error (err, EINVAL,
                                    "invalid reference '%s': a 64-character hex string is an image ID, not a name",
                                    src);
    }
  if (hub && strchr (name, '/') == NULL)
    ref->path = xasprintf ("library/%s", name);
  else
    ref->path = xstrdup (name);
  ref->domain = xstrdup (dom);
  ref->api_host = xstrdup (hub ? "registry-1.docker.io" : dom);
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = xstrdup ("latest");
  return 0;
}

/* docker-daemon:NAME[:TAG], NAME@DIGEST or sha256:ID (an image ID as `docker images` shows it). */
static int
parse_daemon (const char *source, const char *rest, struct enclaver_image_ref *ref, enclaver_error_t *err)
{
  if (*rest == '\0')
    return enclaver_make_error (err, EINVAL, "invalid image source '%s': missing image name", source);
  if (strncmp (rest, "sha256:", 7) == 0)
    {
      if (!oci_digest_valid (rest))
        return enclaver_make_error (err, EINVAL, "invalid image source '%s': an image ID is sha256: and 64 hex digits",
                                    source);
      ref->image = xstrdup (rest);
      return 0;
    }
  if (parse_docker (rest, ref, err) < 0)
    return -1;
  /* What the Engine is asked for: the name as given, with the tag made explicit. */
  const char *slash = strrchr (rest, '/'), *colon = strrchr (rest, ':');
  int has_tag = colon && (slash == NULL || colon > slash);
  ref->image = ref->digest || has_tag ? xstrdup (rest) : xasprintf ("%s:latest", rest);
  return 0;
}

struct enclaver_image_ref *
enclaver_image_ref_parse (const char *source, enclaver_error_t *err)
{
  struct enclaver_image_ref *ref = xmalloc0 (sizeof *ref);
  static const struct
  {
    const char *prefix;
    int transport;
  } prefixes[] = {
    { "docker://", ENCLAVER_TRANSPORT_REGISTRY },
    { "oci:", ENCLAVER_TRANSPORT_OCI },
    { "oci-archive:", ENCLAVER_TRANSPORT_OCI_ARCHIVE },
    { "docker-archive:", ENCLAVER_TRANSPORT_DOCKER_ARCHIVE },
    { "docker-daemon:", ENCLAVER_TRANSPORT_DOCKER_DAEMON },
    { "dir:", ENCLAVER_TRANSPORT_DIR },
  };
  if (source == NULL || *source == '\0')
    {
      enclaver_make_error (err, EINVAL, "empty image source");
      goto fail;
    }
  ref->transport = ENCLAVER_TRANSPORT_REGISTRY;
  const char *rest = source;
  for (size_t i = 0; i < ARRAY_SIZE (prefixes); i++)
    if (strncmp (source, prefixes[i].prefix, strlen (prefixes[i].prefix)) == 0)
      {
        ref->transport = prefixes[i].transport;
        rest = source + strlen (prefixes[i].prefix);
        break;
      }
  if (ref->transport == ENCLAVER_TRANSPORT_REGISTRY)
    {
      if (strncmp (source, "docker:", 7) == 0 && strncmp (source, "docker://", 9) != 0)
        {
          enclaver_make_error (err, EINVAL, "invalid image source '%s': the registry transport is written docker://REF",
                               source);
          goto fail;
        }
      if (parse_docker (rest, ref, err) < 0)
        goto fail;
      return ref;
    }
  if (ref->transport == ENCLAVER_TRANSPORT_DOCKER_DAEMON)
    {
      if (parse_daemon (source, rest, ref, err) < 0)
        goto fail;
      return ref;
    }
  if (ref->transport == ENCLAVER_TRANSPORT_DIR)
    {
      /* A skopeo directory holds one image: the whole rest is the path. */
      if (*rest == '\0')
        {
          enclaver_make_error (err, EINVAL, "invalid image source '%s': missing path", source);
          goto fail;
        }
      ref->file = xstrdup (rest);
      return ref;
    }
  const char *colon = strchr (rest, ':');
  if (colon)
    {
      ref->file = xstrndup (rest, (size_t) (colon - rest));
      if (colon[1] != '\0')
        ref->image = xstrdup (colon + 1);
    }
  else
    ref->file = xstrdup (rest);
  if (*ref->file == '\0')
    {
      enclaver_make_error (err, EINVAL, "invalid image source '%s': missing path", source);
      goto fail;
    }
  if (ref->image && ref->image[0] == '@')
    {
      const char *q = ref->image + 1;
      if (*q == '\0' || strspn (q, "0123456789") != strlen (q) || strlen (q) > 6)
        {
          enclaver_make_error (err, EINVAL, "invalid image source '%s': '@N' needs a manifest number", source);
          goto fail;
        }
    }
  return ref;
fail:
  enclaver_image_ref_free (ref);
  return NULL;
}

char *
enclaver_image_ref_string (const struct enclaver_image_ref *ref)
{
  switch (ref->transport)
    {
    case ENCLAVER_TRANSPORT_REGISTRY:
      {
        /* A registry host named like a transport, with a port ("oci:5000", "docker:4"),
         * would read back as that transport (or be refused): such a name is written
         * with its docker:// prefix, so the canonical text always parses to itself. */
        static const char *const transports[] = { "docker:", "oci:", "oci-archive:", "docker-archive:",
                                                  "docker-daemon:", "dir:" };
        const char *pre = "";
        for (size_t i = 0; i < ARRAY_SIZE (transports); i++)
          if (strncmp (ref->domain, transports[i], strlen (transports[i])) == 0)
            pre = "docker://";
        return xasprintf ("%s%s/%s%s%s%s%s", pre, ref->domain, ref->path, ref->tag ? ":" : "",
                          ref->tag ? ref->tag : "", ref->digest ? "@" : "", ref->digest ? ref->digest : "");
      }
    case ENCLAVER_TRANSPORT_OCI:
    case ENCLAVER_TRANSPORT_OCI_ARCHIVE:
    case ENCLAVER_TRANSPORT_DOCKER_ARCHIVE:
      {
        const char *t = ref->transport == ENCLAVER_TRANSPORT_OCI           ? "oci"
                        : ref->transport == ENCLAVER_TRANSPORT_OCI_ARCHIVE ? "oci-archive"
                                                                           : "docker-archive";
        return xasprintf ("%s:%s%s%s", t, ref->file, ref->image ? ":" : "", ref->image ? ref->image : "");
      }
    case ENCLAVER_TRANSPORT_DOCKER_DAEMON:
      return xasprintf ("docker-daemon:%s", ref->image);
    case ENCLAVER_TRANSPORT_DIR:
      return xasprintf ("dir:%s", ref->file);
    case ENCLAVER_TRANSPORT_EIF:
      return xstrdup (ref->file);
    default:
      return xstrdup ("?");
    }
}


/* ------------------------------------------------------------------ paths versus references */

static void
not_an_image (const char *source, const char *path, const char *why, enclaver_error_t *err)
{
  enclaver_error_t e = NULL;
  struct enclaver_image_ref *r = enclaver_image_source_is_path (source) ? NULL : enclaver_image_ref_parse (source, &e);
  enclaver_error_release (&e);
  enclaver_make_error (err, EINVAL, "%s is not an EIF, OCI archive, docker archive or OCI layout (%s)%s%s", path, why,
                       r ? "; for the registry image of that name, write docker://" : "", r ? source : "");
  enclaver_image_ref_free (r);
}

/* Member name without leading "./" segments. */
static const char *
member_base (const char *name)
{
  while (name && strncmp (name, "./", 2) == 0)
    name += 2;
  return name;
}

/* Tell a docker archive from an OCI archive by its members.  Returns the transport, 0 when
 * it is a tar of neither (why is set), -1 when it is not a tar. */
static int
sniff_tar (int fd, const char **why, char **detail)
{
  struct archive *ar = archive_read_new ();
  struct archive_entry *e;
  int docker = 0, layout = 0, n = 0, r;
  if (ar == NULL)
    xoom ();
  archive_read_support_format_tar (ar);
  archive_read_support_filter_gzip (ar);
  archive_read_support_filter_zstd (ar);
  archive_read_support_filter_none (ar);
  if (lseek (fd, 0, SEEK_SET) < 0 || archive_read_open_fd (ar, fd, 65536) != ARCHIVE_OK)
    {
      *detail = xstrdup (archive_error_string (ar) ? archive_error_string (ar) : "cannot open");
      archive_read_free (ar);
      return -1;
    }
  /* manifest.json decides for docker save (Docker >= 25 writes oci-layout too); an OCI
   * archive is only known at the end. */
  while (!docker && (r = archive_read_next_header (ar, &e)) == ARCHIVE_OK)
    {
      const char *name = member_base (archive_entry_pathname (e));
      n++;
      if (name && strcmp (name, "manifest.json") == 0)
        docker = 1;
      else if (name && strcmp (name, "oci-layout") == 0)
        layout = 1;
    }
  if (!docker && r != ARCHIVE_EOF && n == 0)
    {
      *detail = xstrdup (archive_error_string (ar) ? archive_error_string (ar) : "not a tar");
      archive_read_free (ar);
      return -1;
    }
  archive_read_free (ar);
  if (docker)
    return ENCLAVER_TRANSPORT_DOCKER_ARCHIVE;
  if (layout)
    return ENCLAVER_TRANSPORT_OCI_ARCHIVE;
  *why = n == 0 ? "an empty tar" : "a tar without manifest.json or oci-layout";
  return 0;
}

/* 1 when DIR/name is a regular file. */
static int
has_file (const char *dir, const char *name)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, name);
  struct stat st;
  return stat (p, &st) == 0 && S_ISREG (st.st_mode);
}

/* What an existing path holds.  Returns the transport or -1 (err set). */
static int
sniff_path (const char *source, const char *path, const struct stat *st, enclaver_error_t *err)
{
  if (S_ISDIR (st->st_mode))
    {
      if (has_file (path, "oci-layout"))
        return ENCLAVER_TRANSPORT_OCI;
      if (has_file (path, "version") && has_file (path, "manifest.json"))
        return ENCLAVER_TRANSPORT_DIR;
      not_an_image (source, path, "a directory without oci-layout, nor a skopeo dir: with version and manifest.json",
                    err);
      return -1;
    }
  if (!S_ISREG (st->st_mode))
    {
      not_an_image (source, path, "not a regular file or a directory", err);
      return -1;
    }
  cleanup_close int fd = enclaver_open_file (path, 0, err);
  unsigned char magic[4];
  if (fd < 0)
    return -1;
  ssize_t got = read (fd, magic, sizeof magic);
  if (got < 0)
    {
      enclaver_make_errno (err, errno, "read %s", path);
      return -1;
    }
  if (got == 4 && memcmp (magic, ENCLAVER_EIF_MAGIC, 4) == 0)
    return ENCLAVER_TRANSPORT_EIF;
  if (got == 0)
    {
      not_an_image (source, path, "an empty file", err);
      return -1;
    }
  const char *why = NULL;
  cleanup_free char *detail = NULL;
  int t = sniff_tar (fd, &why, &detail);
  if (t > 0)
    return t;
  if (t < 0)
    {
      cleanup_free char *w = xasprintf ("not a tar: %s", detail);
      not_an_image (source, path, w, err);
    }
  else
    not_an_image (source, path, why, err);
  return -1;
}

static void
no_such_path (const char *path, int e, enclaver_error_t *err)
{
  if (e == ENOENT)
    enclaver_make_error (err, ENOENT, "%s: no such file or directory", path);
  else
    enclaver_make_errno (err, e, "%s", path);
}

struct enclaver_image_ref *
enclaver_image_source_resolve (const char *source, enclaver_error_t *err)
{
  struct stat st;
  if (source == NULL || *source == '\0')
    {
      enclaver_make_error (err, EINVAL, "empty image source");
      return NULL;
    }
  struct enclaver_image_ref *ref = NULL;
  /* A transport prefix is taken as written. */
  if (strncmp (source, "docker://", 9) == 0 || strncmp (source, "oci:", 4) == 0
      || strncmp (source, "oci-archive:", 12) == 0 || strncmp (source, "docker-archive:", 15) == 0
      || strncmp (source, "docker-daemon:", 14) == 0 || strncmp (source, "dir:", 4) == 0)
    {
      if ((ref = enclaver_image_ref_parse (source, err)) == NULL)
        return NULL;
      if (ref->file && stat (ref->file, &st) < 0)
        {
          no_such_path (ref->file, errno, err);
          enclaver_image_ref_free (ref);
          return NULL;
        }
      return ref;
    }
  cleanup_free char *path = NULL;
  if (strncmp (source, "~/", 2) == 0)
    {
      const char *home = getenv ("HOME");
      if (home == NULL || *home == '\0')
        {
          enclaver_make_error (err, EINVAL, "%s: $HOME is not set", source);
          return NULL;
        }
      path = xasprintf ("%s%s", home, source + 1);
    }
  else
    path = xstrdup (source);
  if (stat (path, &st) == 0)
    {
      int t = sniff_path (source, path, &st, err);
      if (t < 0)
        return NULL;
      ref = xmalloc0 (sizeof *ref);
      ref->transport = t;
      ref->file = path;
      path = NULL;
      return ref;
    }
  int e = errno;
  if (enclaver_image_source_is_path (source))
    {
      no_such_path (path, e, err);
      return NULL;
    }
  return enclaver_image_ref_parse (source, err);
}
