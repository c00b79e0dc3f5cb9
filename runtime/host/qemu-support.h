/* enclaver host launcher: helpers of the "qemu" backend (backend-qemu.c). */
#ifndef ENCLAVER_HOST_QEMU_SUPPORT_H
#define ENCLAVER_HOST_QEMU_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <enclaver/error.h>

struct enclaver_eif_info;

/* asprintf that aborts on allocation failure. */
char *qemu_fmt (const char *f, ...) __attribute__ ((format (printf, 1, 2)));

/* write(2) until done: 0, or -1 with errno. */
int qemu_write_all (int fd, const void *buf, size_t len);

/* Copy len bytes at offset of fd to out; what names the part in errors. */
int qemu_copy_range (int fd, uint64_t offset, uint64_t len, int out, const char *what,
                     enclaver_error_t *err);

/* One newc entry (header, name, data, 4-byte padding) at *pos, which it advances. */
int qemu_write_newc (int out, const char *name, unsigned mode, const void *data, size_t size,
                     off_t *pos);

/* A newc archive of emu/modules/NAME.ko for each of mods (DIR/NAME.ko), appended to out
 * at *pos (4-aligned). */
int qemu_append_modules (int out, off_t *pos, const char *dir, const char *const *mods,
                         enclaver_error_t *err);

/* Remove terminal escape sequences (CSI, OSC, two-byte ESC x) and CRs in place. */
void qemu_strip_escapes (char *l);

/* 1 for a line of the firmware or of the kernel's log ("[    1.234567] ..."). */
int qemu_firmware_or_kernel_line (const char *l);

/* The host's TSC frequency in kHz (from /proc/cpuinfo, with constant_tsc), or 0. */
unsigned long qemu_host_tsc_khz (void);

/* "KernelVersion" of the EIF's metadata into buf, or "". */
void qemu_kernel_version (const struct enclaver_eif_info *info, char *buf, size_t len);

#endif
