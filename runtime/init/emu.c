/* enclaver-init under emulation: virtio modules and the user-mode NIC (emu.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>

#include "emu.h"
#include "rtutil.h"

const char *const init_emu_modules[] = {
  "virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net",
  "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", NULL,
};

void
init_emu_module_params (const char *cmdline, const char *name, char *buf, size_t len)
{
  size_t nl = strlen (name), o = 0;
  const char *p = cmdline;
  if (len == 0)
    return;
  buf[0] = '\0';
  while (p && *p)
    {
      size_t n;
      p += strspn (p, " \t\n");
      n = strcspn (p, " \t\n");
      if (n > nl + 1 && memcmp (p, name, nl) == 0 && p[nl] == '.' && memchr (p, '=', n) != NULL)
        {
          size_t w = n - nl - 1;
          if (o + (o ? 1 : 0) + w < len)
            {
              if (o)
                buf[o++] = ' ';
              memcpy (buf + o, p + nl + 1, w);
              o += w;
              buf[o] = '\0';
            }
        }
      p += n;
    }
}

int
init_emu_load_modules (const char *dir, const char *cmdline, int *loaded, char *err,
                       size_t errlen)
{
  size_t i;
  *loaded = 0;
  for (i = 0; init_emu_modules[i]; i++)
    {
      char path[512], params[1024];
      int fd;
      snprintf (path, sizeof path, "%s/%s.ko", dir, init_emu_modules[i]);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        {
          if (errno == ENOENT)
            continue;
          return rt_err (err, errlen, "emulation: open %s: %s", path, strerror (errno));
        }
      init_emu_module_params (cmdline ? cmdline : "", init_emu_modules[i], params, sizeof params);
      if (syscall (SYS_finit_module, fd, params, 0) < 0 && errno != EEXIST)
        {
          int e = errno;
          close (fd);
          return rt_err (err, errlen, "emulation: load module %s: %s%s", path, strerror (e),
                         e == ENOEXEC || e == EINVAL
                           ? " (the modules must come from the EIF's own kernel)"
                           : "");
        }
      close (fd);
      unlink (path);
      (*loaded)++;
    }
  return 0;
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int
set_in (struct sockaddr *sa, const char *ip)
{
  struct sockaddr_in *in = (struct sockaddr_in *) sa;
  memset (in, 0, sizeof *in);
  in->sin_family = AF_INET;
  return inet_pton (AF_INET, ip, &in->sin_addr) == 1 ? 0 : -1;
}

int
init_emu_net_up (const char *ifname, const char *ip, const char *netmask, const char *gw,
                 int timeout_ms, char *err, size_t errlen)
{
  struct ifreq ifr;
  struct rtentry rt;
  int fd, waited = 0, e;

  if (strlen (ifname) >= IFNAMSIZ)
    return rt_err (err, errlen, "emulation: interface name too long: %s", ifname);
  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return rt_err (err, errlen, "emulation: socket: %s", strerror (errno));
  /* The NIC appears once virtio_net has probed the virtio-mmio device. */
  for (;;)
    {
      memset (&ifr, 0, sizeof ifr);
      memcpy (ifr.ifr_name, ifname, strlen (ifname));
      if (ioctl (fd, SIOCGIFINDEX, &ifr) == 0)
        break;
      if (errno != ENODEV || waited >= timeout_ms)
        {
          e = errno;
          close (fd);
          if (e == ENODEV)
            return rt_err (err, errlen,
                           "emulation: no network interface %s after %d ms (was QEMU started "
                           "with a virtio-net device, and were the virtio modules loaded?)",
                           ifname, timeout_ms);
          return rt_err (err, errlen, "emulation: look up %s: %s", ifname, strerror (e));
        }
      sleep_ms (50);
      waited += 50;
    }
  if (set_in (&ifr.ifr_addr, ip) < 0 || ioctl (fd, SIOCSIFADDR, &ifr) < 0)
    goto fail_addr;
  if (set_in (&ifr.ifr_netmask, netmask) < 0 || ioctl (fd, SIOCSIFNETMASK, &ifr) < 0)
    goto fail_addr;
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    goto fail_flags;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
    goto fail_flags;

  memset (&rt, 0, sizeof rt);
  set_in (&rt.rt_dst, "0.0.0.0");
  set_in (&rt.rt_genmask, "0.0.0.0");
  if (set_in (&rt.rt_gateway, gw) < 0)
    {
      close (fd);
      return rt_err (err, errlen, "emulation: bad gateway address %s", gw);
    }
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = (char *) ifname;
  if (ioctl (fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
    {
      e = errno;
      close (fd);
      return rt_err (err, errlen, "emulation: default route via %s on %s: %s", gw, ifname,
                     strerror (e));
    }
  close (fd);
  return 0;

fail_addr:
  e = errno;
  close (fd);
  return rt_err (err, errlen, "emulation: set %s/%s on %s: %s", ip, netmask, ifname,
                 e ? strerror (e) : "bad address");
fail_flags:
  e = errno;
  close (fd);
  return rt_err (err, errlen, "emulation: bring %s up: %s", ifname, strerror (e));
}
