/* Emulation pieces of the runtime: tcp: addresses, the vsock-to-TCP mapping of
 * runtime/transport.c, and the init's emulation helpers (runtime/init/emu.c).  The
 * end-to-end part runs in a private network namespace (when this test may create one),
 * where lo is given the guest's address 10.0.2.15/24 exactly as the init gives it to eth0,
 * so that the mapped addresses (0.0.0.0, 10.0.2.2) stay inside that namespace. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>

#include "tests/tap.h"
#include "init/emu.h"
#include "init/initlib.h"
#include "rtutil.h"
#include "transport.h"

static void
test_parse (void)
{
  struct enclaver_transport_addr a;
  char err[256];
  tap_ok (enclaver_transport_parse ("tcp:127.0.0.1:17000", &a, err, sizeof err) == 0
            && a.kind == ENCLAVER_TRANSPORT_TCP && a.port == 17000 && a.ip == htonl (0x7f000001),
          "parse: tcp:127.0.0.1:17000");
  tap_ok (enclaver_transport_parse ("tcp:0.0.0.0:0", &a, err, sizeof err) == 0 && a.port == 0,
          "parse: tcp:0.0.0.0:0 (port 0: the kernel picks)");
  tap_ok (enclaver_transport_parse ("tcp:localhost:80", &a, err, sizeof err) < 0
            && strstr (err, "bad IPv4 address 'localhost'") != NULL,
          "parse: a host name is refused, naming it (%s)", err);
  tap_ok (enclaver_transport_parse ("tcp:127.0.0.1:65536", &a, err, sizeof err) < 0
            && strstr (err, "bad tcp port") != NULL,
          "parse: port 65536 is refused");
  tap_ok (enclaver_transport_parse ("tcp:127.0.0.1", &a, err, sizeof err) < 0,
          "parse: a tcp address without a port is refused");
  tap_ok (enclaver_transport_parse ("tcp::80", &a, err, sizeof err) < 0,
          "parse: a tcp address without a host is refused");
  tap_ok (enclaver_transport_parse ("udp:1.2.3.4:5", &a, err, sizeof err) < 0
            && strstr (err, "tcp:IPV4:PORT") != NULL,
          "parse: an unknown scheme names the tcp form too");
}

static void
test_map (void)
{
  char out[128];
  const enum enclaver_emulation T = ENCLAVER_EMULATION_TCP, V = ENCLAVER_EMULATION_VSOCK;
  tap_ok (enclaver_transport_map (T, "vsock:any:17000", 1, out, sizeof out) == 0
            && strcmp (out, "tcp:0.0.0.0:17000") == 0,
          "map: listening on vsock:any:P becomes tcp:0.0.0.0:P (%s)", out);
  tap_ok (enclaver_transport_map (T, "vsock:17001", 1, out, sizeof out) == 0
            && strcmp (out, "tcp:0.0.0.0:17001") == 0,
          "map: vsock:P (short for any) too");
  tap_ok (enclaver_transport_map (T, "vsock:3:9000", 0, out, sizeof out) == 0
            && strcmp (out, "tcp:10.0.2.2:9000") == 0,
          "map: connecting to the parent (CID 3) goes to slirp's host 10.0.2.2 (%s)", out);
  tap_ok (enclaver_transport_map (T, "vsock:host:17002", 0, out, sizeof out) == 0
            && strcmp (out, "tcp:10.0.2.2:17002") == 0,
          "map: connecting to the host (CID 2) too");
  tap_ok (enclaver_transport_map (T, "vsock:16:5000", 0, out, sizeof out) == 0
            && strcmp (out, "vsock:16:5000") == 0,
          "map: another CID is left alone");
  tap_ok (enclaver_transport_map (T, "vsock:3:9000", 1, out, sizeof out) == 0
            && strcmp (out, "vsock:3:9000") == 0,
          "map: listening on a given CID is left alone");
  tap_ok (enclaver_transport_map (T, "vsock:any:9000", 0, out, sizeof out) == 0
            && strcmp (out, "vsock:any:9000") == 0,
          "map: connecting to CID any is left alone");
  tap_ok (enclaver_transport_map (T, "unix:/tmp/x", 1, out, sizeof out) == 0
            && strcmp (out, "unix:/tmp/x") == 0,
          "map: unix: addresses are left alone");
  tap_ok (enclaver_transport_map (ENCLAVER_EMULATION_NONE, "vsock:any:17000", 1, out, sizeof out) == 0
            && strcmp (out, "vsock:any:17000") == 0,
          "map: no emulation, no change");
  tap_ok (enclaver_transport_map (V, "vsock:3:9000", 0, out, sizeof out) == 0
            && strcmp (out, "vsock:2:9000") == 0,
          "map: under vhost-vsock the parent is the host, CID 2");
  tap_ok (enclaver_transport_map (V, "vsock:any:17000", 1, out, sizeof out) == 0
            && strcmp (out, "vsock:any:17000") == 0,
          "map: under vhost-vsock listening stays vsock");
  TAP_INT_EQ (enclaver_transport_map (T, "vsock:any:17000", 1, out, 8), -1,
              "map: a buffer too small is an error");
}

static void
test_mode (void)
{
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline ("console=ttyS0 pci=off"),
              ENCLAVER_EMULATION_NONE, "cmdline: no key, no emulation");
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline (
                "reboot=k panic=30 pci=off nomodules console=ttyS0 enclaver.emulation=tcp\n"),
              ENCLAVER_EMULATION_TCP, "cmdline: enclaver.emulation=tcp, before the newline");
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline ("enclaver.emulation=vsock"),
              ENCLAVER_EMULATION_VSOCK, "cmdline: enclaver.emulation=vsock");
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline ("enclaver.emulation=tcp enclaver.emulation=off"),
              ENCLAVER_EMULATION_NONE, "cmdline: the last one wins");
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline ("xenclaver.emulation=tcp"),
              ENCLAVER_EMULATION_NONE, "cmdline: another key does not count");
  TAP_INT_EQ (enclaver_transport_emulation_from_cmdline ("enclaver.emulation=tcpx"),
              ENCLAVER_EMULATION_NONE, "cmdline: an unknown mode is no emulation");
  TAP_INT_EQ (enclaver_transport_set_emulation ("bogus"), -1, "set: an unknown mode is refused");
  enclaver_transport_set_emulation ("tcp");
  TAP_INT_EQ (enclaver_transport_emulation (), ENCLAVER_EMULATION_TCP, "set: tcp is in force");
  enclaver_transport_set_emulation (NULL);
  TAP_INT_EQ (enclaver_transport_emulation (), ENCLAVER_EMULATION_NONE, "set: NULL turns it off");
}

static void
test_tcp_loopback (void)
{
  char err[256], addr[64];
  unsigned char b = 0x5a;
  int lfd, cfd, afd;
  uint32_t port;
  lfd = enclaver_transport_listen ("tcp:127.0.0.1:0", err, sizeof err);
  port = lfd >= 0 ? enclaver_transport_local_port (lfd) : 0;
  tap_ok (lfd >= 0 && port != 0, "tcp: listen on 127.0.0.1, port %u picked", (unsigned) port);
  snprintf (addr, sizeof addr, "tcp:127.0.0.1:%u", (unsigned) port);
  cfd = enclaver_transport_connect (addr, err, sizeof err);
  afd = cfd >= 0 ? enclaver_transport_accept (lfd, 0) : -1;
  tap_ok (cfd >= 0 && afd >= 0 && write (cfd, &b, 1) == 1 && read (afd, &b, 1) == 1 && b == 0x5a,
          "tcp: connect, accept and one byte across");
  if (cfd >= 0)
    close (cfd);
  if (afd >= 0)
    close (afd);
  if (lfd >= 0)
    close (lfd);
  cfd = enclaver_transport_connect (addr, err, sizeof err);
  tap_ok (cfd < 0 && errno == ECONNREFUSED && strstr (err, addr) != NULL,
          "tcp: a refused connection names the address (%s)", err);
  if (cfd >= 0)
    close (cfd);
}

static void
test_init_helpers (void)
{
  char dir[] = "/tmp/enclaver-test-emu-XXXXXX", p[128], err[512];
  int loaded = -1;
  FILE *f;
  tap_ok (init_emu_net_up ("nosuch0", INIT_EMU_IP, INIT_EMU_NETMASK, INIT_EMU_GATEWAY, 200, err,
                           sizeof err)
              < 0
            && strstr (err, "no network interface nosuch0 after 200 ms") != NULL,
          "init: a NIC that never appears is an error after the timeout (%s)", err);
  if (mkdtemp (dir) == NULL)
    {
      tap_ok (0, "mkdtemp");
      return;
    }
  tap_ok (init_emu_load_modules (dir, "", &loaded, err, sizeof err) == 0 && loaded == 0,
          "init: a modules directory without modules loads nothing");
  /* Not a module: the kernel refuses it (ENOEXEC, or EPERM without CAP_SYS_MODULE). */
  snprintf (p, sizeof p, "%s/virtio_ring.ko", dir);
  f = fopen (p, "w");
  if (f)
    {
      fputs ("not an ELF module\n", f);
      fclose (f);
    }
  tap_ok (init_emu_load_modules (dir, "", &loaded, err, sizeof err) < 0 && strstr (err, p) != NULL,
          "init: a module that does not load is an error naming the file (%s)", err);
  unlink (p);
  rmdir (dir);
  TAP_STR_EQ (init_emu_modules[0], "virtio_ring", "init: virtio_ring loads first");
  init_emu_module_params ("pci=off virtio_mmio.device=512@0xfeb00e00:12 virtio.x=1 "
                          "virtio_mmio.device=512@0xfeb00c00:13 virtio_mmio.flag virtio_mmiox.a=b",
                          "virtio_mmio", p, sizeof p);
  TAP_STR_EQ (p, "device=512@0xfeb00e00:12 device=512@0xfeb00c00:13",
              "init: the module's own NAME.KEY=VALUE words of the command line are its parameters");
  init_emu_module_params ("console=ttyS0", "virtio_net", p, sizeof p);
  TAP_STR_EQ (p, "", "init: none, none");
  TAP_STR_EQ (init_emu_modules[5], "virtio_net", "init: virtio_net after its dependencies");
}

/* In a private network namespace: give lo the guest's address as the init gives eth0,
 * then run the init's heartbeat through the mapping against a "host" listener there. */
static int
netns_child (void)
{
  char err[512];
  int lfd, fd, st;
  pid_t pid;
  unsigned char b;

  if (unshare (CLONE_NEWNET) < 0)
    return 77;
  if (init_emu_net_up ("lo", INIT_EMU_IP, INIT_EMU_NETMASK, INIT_EMU_GATEWAY, 1000, err, sizeof err) < 0)
    {
      fprintf (stderr, "net up: %s\n", err);
      return 1;
    }
  enclaver_transport_set_emulation ("tcp");
  /* The supervisor's listen on vsock:any:P is a TCP listener on 0.0.0.0:P. */
  lfd = enclaver_transport_listen ("vsock:any:9000", err, sizeof err);
  if (lfd < 0)
    {
      fprintf (stderr, "listen: %s\n", err);
      return 2;
    }
  pid = fork ();
  if (pid == 0)
    {
      /* The init's heartbeat to the parent: vsock:3:9000 becomes 10.0.2.2:9000. */
      if (init_heartbeat (INIT_HEARTBEAT_ADDR, err, sizeof err) < 0)
        {
          fprintf (stderr, "heartbeat: %s\n", err);
          _exit (3);
        }
      _exit (0);
    }
  fd = enclaver_transport_accept (lfd, 0);
  if (fd < 0 || read (fd, &b, 1) != 1 || b != INIT_HEARTBEAT_BYTE || write (fd, &b, 1) != 1)
    return 4;
  close (fd);
  close (lfd);
  if (waitpid (pid, &st, 0) != pid || !WIFEXITED (st))
    return 5;
  return WEXITSTATUS (st);
}

static void
test_netns (void)
{
  int st;
  pid_t pid = fork ();
  if (pid == 0)
    _exit (netns_child ());
  if (pid < 0 || waitpid (pid, &st, 0) != pid || !WIFEXITED (st))
    {
      tap_ok (0, "netns: child ran");
      return;
    }
  if (WEXITSTATUS (st) == 77)
    {
      tap_ok (1, "# SKIP no private network namespace here (needs CAP_SYS_ADMIN)");
      return;
    }
  TAP_INT_EQ (WEXITSTATUS (st), 0,
              "netns: NIC set up by the init's ioctls, and the heartbeat to vsock:3:9000 reached a "
              "listener on vsock:any:9000 through the TCP mapping");
}

int
main (void)
{
  test_parse ();
  test_map ();
  test_mode ();
  test_tcp_loopback ();
  test_init_helpers ();
  test_netns ();
  return tap_done ();
}
