/* Shared helpers for the core tests. */
#ifndef ENCLAVER_TESTLIB_H
#define ENCLAVER_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Path of a test plugin built by `make check` (tests/plugins/.libs/NAME.so). */
__attribute__ ((unused)) static char *
plugin_path (const char *name)
{
  static char buf[4][4096];
  static int k;
  const char *top = getenv ("top_builddir");
  char *b = buf[k++ % 4];
  snprintf (b, sizeof buf[0], "%s/tests/plugins/.libs/%s.so", top ? top : ".", name);
  return b;
}

__attribute__ ((unused)) static char *
plugin_dir (void)
{
  static char b[4096];
  const char *top = getenv ("top_builddir");
  snprintf (b, sizeof b, "%s/tests/plugins/.libs", top ? top : ".");
  return b;
}

/* Read a whole small file into a static buffer ("" when missing). */
__attribute__ ((unused)) static const char *
slurp (const char *path)
{
  static char buf[65536];
  FILE *f = fopen (path, "r");
  size_t n = 0;
  buf[0] = '\0';
  if (f)
    {
      n = fread (buf, 1, sizeof buf - 1, f);
      buf[n] = '\0';
      fclose (f);
    }
  return buf;
}

__attribute__ ((unused)) static char *
make_tmpdir (void)
{
  static char tmpl[256];
  const char *t = getenv ("TMPDIR");
  snprintf (tmpl, sizeof tmpl, "%s/enclaver-core-XXXXXX", t ? t : "/tmp");
  return mkdtemp (tmpl);
}

#endif
