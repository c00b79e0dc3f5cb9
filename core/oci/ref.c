/* enclaver: image source strings — transports and the registry reference grammar
 * (distribution/reference, OCI.md §2.1). */
#include "config.h"
#include <ctype.h>
#include <string.h>
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

  /* Validate path components. */
  if (strlen (name) > MAX_PATH_LEN)
    return enclaver_make_error (err, EINVAL, "invalid reference '%s': repository name longer than %d characters",
                                src, MAX_PATH_LEN);
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
      return xasprintf ("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                        ref->digest ? "@" : "", ref->digest ? ref->digest : "");
    case ENCLAVER_TRANSPORT_OCI:
    case ENCLAVER_TRANSPORT_OCI_ARCHIVE:
    case ENCLAVER_TRANSPORT_DOCKER_ARCHIVE:
      {
        const char *t = ref->transport == ENCLAVER_TRANSPORT_OCI           ? "oci"
                        : ref->transport == ENCLAVER_TRANSPORT_OCI_ARCHIVE ? "oci-archive"
                                                                           : "docker-archive";
        return xasprintf ("%s:%s%s%s", t, ref->file, ref->image ? ":" : "", ref->image ? ref->image : "");
      }
    default:
      return xstrdup ("?");
    }
}
