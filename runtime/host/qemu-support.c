/* enclaver host launcher: helpers of the "qemu" backend (qemu-support.h): the initrd's
 * extra newc cpio, console line filtering, and facts read from the host and the EIF. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <enclaver/eif.h>

#include "qemu-support.h"

char *
qemu_fmt (const char *f, ...)
{
  va_list ap;
  char *r;
  int n;
  va_start (ap, f);
  n = vasprintf (&r, f, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  return r;
}

int
qemu_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;
          return -1;
        }
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

int
qemu_copy_range (int fd, uint64_t offset, uint64_t len, int out, const char *what, enclaver_error_t *err)
{
  char buf[1 << 16];
  while (len > 0)
    {
      size_t want = len < sizeof buf ? (size_t) len : sizeof buf;
      ssize_t n = pread (fd, buf, want, (off_t) offset);
      if (n <= 0)
        return enclaver_make_errno (err, n < 0 ? errno : EIO, "read the EIF's %s", what);
      if (qemu_write_all (out, buf, (size_t) n) < 0)
        return enclaver_make_errno (err, errno, "write the %s copy", what);
      offset += (uint64_t) n;
      len -= (uint64_t) n;
    }
  return 0;
}

int
qemu_write_newc (int out, const char *name, unsigned mode, const void *data, size_t size, off_t *pos)
{
  static const char zeros[4] = { 0 };
  char hdr[111];
  size_t nl = strlen (name) + 1, pad;
  snprintf (hdr, sizeof hdr,
            "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 0u, mode, 0u, 0u,
            (mode & 0040000) ? 2u : 1u, 0u, (unsigned) size, 0u, 0u, 0u, 0u, (unsigned) nl, 0u);
  if (qemu_write_all (out, hdr, 110) < 0 || qemu_write_all (out, name, nl) < 0)
    return -1;
  *pos += (off_t) (110 + nl);
  pad = (4 - (size_t) (*pos % 4)) % 4;
  if (pad && qemu_write_all (out, zeros, pad) < 0)
    return -1;
  *pos += (off_t) pad;
  if (size && qemu_write_all (out, data, size) < 0)
    return -1;
  *pos += (off_t) size;
  pad = (4 - (size_t) (*pos % 4)) % 4;
  if (pad && qemu_write_all (out, zeros, pad) < 0)
    return -1;
  *pos += (off_t) pad;
  return 0;
}

/* Append a newc archive of emu/modules/NAME.ko to out (at *pos, 4-aligned). */
int
qemu_append_modules (int out, off_t *pos, const char *dir, const char *const *mods, enclaver_error_t *err)
{
  size_t i;
  if (qemu_write_newc (out, "emu", 0040755, NULL, 0, pos) < 0
      || qemu_write_newc (out, "emu/modules", 0040755, NULL, 0, pos) < 0)
    return enclaver_make_errno (err, errno, "write the modules cpio");
  for (i = 0; mods[i]; i++)
    {
      char *src = qemu_fmt ("%s/%s.ko", dir, mods[i]), *dst = qemu_fmt ("emu/modules/%s.ko", mods[i]);
      int fd = open (src, O_RDONLY | O_CLOEXEC), r = -1;
      struct stat st;
      void *buf = NULL;
      if (fd >= 0 && fstat (fd, &st) == 0 && st.st_size > 0 && st.st_size < (64 << 20)
          && (buf = malloc ((size_t) st.st_size)) != NULL
          && pread (fd, buf, (size_t) st.st_size, 0) == st.st_size)
        r = qemu_write_newc (out, dst, 0100644, buf, (size_t) st.st_size, pos);
      if (r < 0)
        enclaver_make_errno (err, errno ? errno : EIO, "add %s to the modules cpio", src);
      if (fd >= 0)
        close (fd);
      free (buf);
      free (src);
      free (dst);
      if (r < 0)
        return -1;
    }
  if (qemu_write_newc (out, "TRAILER!!!", 0, NULL, 0, pos) < 0)
    return enclaver_make_errno (err, errno, "write the modules cpio");
  return 0;
}

/* Remove terminal escape sequences (CSI, OSC, two-byte ESC x) and CRs in place. */
void
qemu_strip_escapes (char *l)
{
  char *w = l;
  const char *r = l;
  while (*r)
    {
      if (*r == '\r')
        {
          r++;
          continue;
        }
      if (*r != '\033')
        {
          *w++ = *r++;
          continue;
        }
      r++;
      if (*r == '[')
        {
          r++;
          while (*r && !(*r >= 0x40 && *r <= 0x7e))
            r++;
          if (*r)
            r++;
        }
      else if (*r == ']')
        {
          while (*r && *r != '\a' && !(r[0] == '\033' && r[1] == '\\'))
            r++;
          if (*r == '\a')
            r++;
          else if (*r)
            r += 2;
        }
      else if (*r)
        r++;
    }
  *w = '\0';
}

/* Lines of the firmware and of the kernel's log ("[    0.123456] ..."). */
int
qemu_firmware_or_kernel_line (const char *l)
{
  const char *p = l;
  if (strncmp (l, "SeaBIOS", 7) == 0 || strncmp (l, "Booting from", 12) == 0
      || strncmp (l, "qboot", 5) == 0)
    return 1;
  if (*p++ != '[')
    return 0;
  while (*p == ' ')
    p++;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p++ != '.')
    return 0;
  while (*p >= '0' && *p <= '9')
    p++;
  return *p == ']';
}

/* The host's TSC frequency in kHz (from /proc/cpuinfo), or 0.  Under TCG the guest's TSC
 * runs at the host's; told so (tsc_early_khz=), the kernel needs no PIT calibration,
 * which fails on a loaded host and then leaves the kernel without a timer tick (seen:
 * "tsc: Unable to calibrate against PIT", then no progress). */
unsigned long
qemu_host_tsc_khz (void)
{
#if defined(__x86_64__) || defined(__i386__)
  FILE *f = fopen ("/proc/cpuinfo", "re");
  char line[256];
  unsigned long khz = 0;
  int constant = 0;
  if (f == NULL)
    return 0;
  while (fgets (line, sizeof line, f))
    {
      double mhz;
      if (khz == 0 && sscanf (line, "cpu MHz : %lf", &mhz) == 1 && mhz > 0 && mhz < 100000)
        khz = (unsigned long) (mhz * 1000);
      if (strncmp (line, "flags", 5) == 0)
        {
          constant = strstr (line, " constant_tsc") != NULL;
          break;
        }
    }
  fclose (f);
  return constant ? khz : 0;
#else
  return 0;
#endif
}

/* "KernelVersion" of the EIF's metadata JSON into buf, or "". */
void
qemu_kernel_version (const struct enclaver_eif_info *info, char *buf, size_t len)
{
  const char *p = info->metadata ? strstr (info->metadata, "\"KernelVersion\"") : NULL;
  size_t n;
  buf[0] = '\0';
  if (p == NULL)
    return;
  p += strlen ("\"KernelVersion\"");
  p += strspn (p, " \t\r\n");
  if (*p++ != ':')
    return;
  p += strspn (p, " \t\r\n");
  if (*p++ != '"')
    return;
  n = strcspn (p, "\"\\/");
  if (p[n] != '"' || n == 0 || n >= len)
    return;
  memcpy (buf, p, n);
  buf[n] = '\0';
}

