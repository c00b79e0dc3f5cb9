/* Whether an image source names a path or a reference (docs/image.md): the rule enclaver_image_source_resolve applies, kept apart from ref.c so that
 * the manifest parser can use it without the image code (libarchive): the static
 * enclaver-run links the parser. */
#include "config.h"

#include <string.h>

#include <enclaver/image.h>
#include "util.h"

static int
ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n > m && strcmp (s + n - m, suffix) == 0;
}

int
enclaver_image_source_is_path (const char *s)
{
  static const char *const suffixes[] = { ".eif", ".tar", ".tar.gz", ".tgz", ".tar.zst" };
  if (s == NULL)
    return 0;
  if (s[0] == '/' || strncmp (s, "./", 2) == 0 || strncmp (s, "../", 3) == 0 || strncmp (s, "~/", 2) == 0
      || strcmp (s, ".") == 0 || strcmp (s, "..") == 0)
    return 1;
  for (size_t i = 0; i < ARRAY_SIZE (suffixes); i++)
    if (ends_with (s, suffixes[i]))
      return 1;
  return 0;
}
