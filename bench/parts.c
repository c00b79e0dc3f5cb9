/* bench/parts.c: the parts of an EIF build that bench/run.sh times alone and that
 * other tools do not offer with the build's own code paths.
 *
 *   parts crc32 FILE...     CRC32 of the files (ISA-L crc32_gzip_refl, as the EIF
 *                           writer computes it; zlib's crc32 without ISA-L)
 *   parts write SIZE OUT    write SIZE bytes into a new file OUT with pwrite from one
 *                           256 KiB buffer (the cost of moving the EIF into the page
 *                           cache once), no fsync
 *   parts fsync FILE        fsync FILE (run right after `write`: the cost of making
 *                           the EIF durable)
 *
 * Built by run.sh with: cc -O2 parts.c -o parts -lisal (or -DNO_ISAL -lz). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef NO_ISAL
#include <zlib.h>
#define CRC(c, p, n) ((uint32_t) crc32 ((c), (const Bytef *) (p), (uInt) (n)))
#else
#include <isa-l/crc.h>
#define CRC(c, p, n) crc32_gzip_refl ((c), (const unsigned char *) (p), (n))
#endif

#define CHUNK (256u << 10)

static int
die (const char *what, const char *path)
{
  fprintf (stderr, "parts: %s %s: %s\n", what, path, strerror (errno));
  return 1;
}

int
main (int argc, char **argv)
{
  static unsigned char buf[CHUNK];
  if (argc >= 3 && strcmp (argv[1], "crc32") == 0)
    {
      for (int i = 2; i < argc; i++)
        {
          int fd = open (argv[i], O_RDONLY | O_CLOEXEC);
          uint32_t crc = 0;
          ssize_t r;
          if (fd < 0)
            return die ("open", argv[i]);
          while ((r = read (fd, buf, sizeof buf)) > 0)
            crc = CRC (crc, buf, (size_t) r);
          if (r < 0)
            return die ("read", argv[i]);
          close (fd);
          printf ("%08x  %s\n", crc, argv[i]);
        }
      return 0;
    }
  if (argc == 4 && strcmp (argv[1], "write") == 0)
    {
      unsigned long long size = strtoull (argv[2], NULL, 10), off = 0;
      int fd = open (argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0)
        return die ("create", argv[3]);
      memset (buf, 0x5a, sizeof buf);
      while (off < size)
        {
          size_t n = size - off < CHUNK ? (size_t) (size - off) : CHUNK;
          ssize_t w = pwrite (fd, buf, n, (off_t) off);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            return die ("write", argv[3]);
          off += (unsigned long long) w;
        }
      if (close (fd) < 0)
        return die ("close", argv[3]);
      return 0;
    }
  if (argc == 3 && strcmp (argv[1], "fsync") == 0)
    {
      int fd = open (argv[2], O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        return die ("open", argv[2]);
      if (fsync (fd) < 0)
        return die ("fsync", argv[2]);
      close (fd);
      return 0;
    }
  fprintf (stderr, "usage: parts crc32 FILE... | parts write SIZE OUT | parts fsync FILE\n");
  return 2;
}
