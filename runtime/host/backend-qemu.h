/* enclaver host launcher: the "qemu" backend (`enclaver run --qemu`, docs/run.md).
 *
 * It boots the EIF's own kernel, command line and ramdisks under QEMU (-M microvm on
 * x86_64), with one extra cpio of the kernel's virtio modules appended to the initrd and
 * emulation keys appended to the command line; the EIF's bytes are not changed.  Without
 * /dev/vhost-vsock on the host, the enclave's vsock ports are carried over QEMU's
 * user-mode NIC (enclaver.emulation=tcp): the host reaches an enclave port through a
 * hostfwd on 127.0.0.1, and the enclave reaches the host's 127.0.0.1:P at 10.0.2.2:P. */
#ifndef ENCLAVER_HOST_BACKEND_QEMU_H
#define ENCLAVER_HOST_BACKEND_QEMU_H

#include <stdint.h>

#include "launcher.h"

struct host_qemu_options
{
  const char *qemu_binary;  /* NULL: qemu-system-x86_64 (or -aarch64, from the EIF) */
  const char *modules_dir;  /* NULL: $ENCLAVER_EMU_MODULES, else emu-modules/ of the
                               cached Debian kernel of the EIF's KernelVersion, else of
                               the default kernel (scripts/fetch-kernel.sh) */
  int console;              /* every console line to stderr (debug_mode does the same) */
  int vsock;                /* 0 auto: a vhost-vsock device when /dev/vhost-vsock exists,
                               else TCP over the user-mode NIC; 1 always; -1 never */
  int heartbeat_timeout_ms; /* 0: nitro-cli's timeout */
  const char *tmp_dir;      /* for the kernel and initrd copies: NULL = $TMPDIR or /tmp */
};

/* o may be NULL (all defaults). */
struct host_backend *host_backend_qemu_new (const struct host_qemu_options *o);

/* QEMU's wait status once on_event has returned 1 (after terminate: of the enclave last
 * terminated), or -1 while it runs. */
int host_qemu_wait_status (struct host_backend *b, const struct host_enclave *e);

#endif
