/* enclaver: helpers shared by the libFuzzer targets (tests/fuzz/local.mk).
 *
 * FUZZ_CHECK: an invariant of the code under test; when it does not hold the target
 * aborts with the condition and the location, which libFuzzer reports as a crash.
 * fuzz_cstr: the input as a NUL-terminated string (malloc'd; embedded NULs stay, so a
 * C-string parser sees the prefix up to the first one).  fuzz_tmpdir: one private
 * directory per process, removed at exit, for the parsers that read files.
 * fuzz_note: with FUZZ_DEBUG set in the environment, print why an input was refused
 * (for writing seeds that get past the first checks). */
#ifndef ENCLAVER_FUZZ_H
#define ENCLAVER_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
  do                                                                                      \
    {                                                                                     \
      if (!(cond))                                                                        \
        {                                                                                 \
          fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);   \
          abort ();                                                                       \
        }                                                                                 \
    }                                                                                     \
  while (0)

static inline void
fuzz_note (const char *what, const char *msg)
{
  if (msg && getenv ("FUZZ_DEBUG"))
    fprintf (stderr, "%s: %s\n", what, msg);
}

static inline char *
fuzz_cstr (const uint8_t *data, size_t size)
{
  char *s = malloc (size + 1);
  FUZZ_CHECK (s != NULL);
  if (size)
    memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

static char fuzz_dir[64];

static void fuzz_rmtree (const char *path);

static inline void
fuzz_tmpdir_remove (void)
{
  if (fuzz_dir[0] != '\0')
    fuzz_rmtree (fuzz_dir);
}

static inline const char *
fuzz_tmpdir (void)
{
  if (fuzz_dir[0] == '\0')
    {
      const char *t = getenv ("TMPDIR");
      snprintf (fuzz_dir, sizeof fuzz_dir, "%s/enclaver-fuzz.XXXXXX", t && *t && strlen (t) < 32 ? t : "/tmp");
      FUZZ_CHECK (mkdtemp (fuzz_dir) != NULL);
      atexit (fuzz_tmpdir_remove);
    }
  return fuzz_dir;
}

static inline int
fuzz_rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) ftw;
  return flag == FTW_DP ? rmdir (p) : unlink (p);
}

/* Remove a tree (what a target wrote in its directory); a failure is fatal, as the
 * next run would see stale files. */
static inline void
fuzz_rmtree (const char *path)
{
  if (access (path, F_OK) == 0)
    FUZZ_CHECK (nftw (path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Write data to DIR/name (truncating); the path goes to out. */
static inline void
fuzz_write_file (const char *name, const uint8_t *data, size_t size, char *out, size_t outlen)
{
  FILE *f;
  snprintf (out, outlen, "%s/%s", fuzz_tmpdir (), name);
  f = fopen (out, "wb");
  FUZZ_CHECK (f != NULL);
  FUZZ_CHECK (size == 0 || fwrite (data, 1, size, f) == size);
  FUZZ_CHECK (fclose (f) == 0);
}

#endif
