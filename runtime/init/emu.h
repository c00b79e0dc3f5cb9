/* enclaver-init under emulation (`enclaver run --qemu`, docs/run.md): the virtio
 * modules of the extra cpio, and the user-mode NIC.  Nothing here runs unless the kernel
 * command line has enclaver.emulation=tcp|vsock, which the EIF's own never has. */
#ifndef ENCLAVER_INIT_EMU_H
#define ENCLAVER_INIT_EMU_H

#include <stddef.h>

#define INIT_EMU_MODULES_DIR "/emu/modules"
#define INIT_EMU_IFNAME "eth0"
#define INIT_EMU_IP "10.0.2.15"
#define INIT_EMU_NETMASK "255.255.255.0"
#define INIT_EMU_GATEWAY "10.0.2.2"
#define INIT_EMU_IF_TIMEOUT_MS 15000

/* The modules, in load order (each after what its depends= names; EMULATION.md). */
extern const char *const init_emu_modules[];

/* The parameters of module name on a kernel command line, as modprobe passes them: each
 * word "NAME.KEY=VALUE" gives "KEY=VALUE", space-separated, into buf (e.g. QEMU's
 * virtio_mmio.device=512@0xfeb00e00:12 gives virtio_mmio "device=512@0xfeb00e00:12").
 * The kernel applies such words itself only to built-in code. */
void init_emu_module_params (const char *cmdline, const char *name, char *buf, size_t len);

/* Load DIR/NAME.ko for each name of init_emu_modules that DIR holds (finit_module with
 * its parameters from cmdline; one already loaded is fine), unlinking each file.
 * *loaded counts them.  0, or -1 with err naming the module. */
int init_emu_load_modules (const char *dir, const char *cmdline, int *loaded, char *err,
                           size_t errlen);

/* Wait up to timeout_ms for interface ifname, give it ip/netmask, set it up, and add a
 * default route through gw (ioctls only).  0, or -1 with err. */
int init_emu_net_up (const char *ifname, const char *ip, const char *netmask, const char *gw,
                     int timeout_ms, char *err, size_t errlen);

#endif
