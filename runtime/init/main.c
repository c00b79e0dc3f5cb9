/* enclaver-init: a PID 1 for enclave images whose kernel blobs do not bring AWS's init.
 * It follows the enclave init contract (EIF.md §6):
 *   devtmpfs on /dev, console on stdio, optional nsm.ko, the boot heartbeat (vsock CID 3
 *   port 9000, unless enclaver.heartbeat=off is on the kernel command line), /env and /cmd,
 *   switch into /rootfs, the standard mounts, run cmd, reap, then power off, printing the
 *   exit status of cmd on the console.
 * Under emulation (enclaver.emulation=tcp|vsock on the command line, which only
 * `enclaver run --qemu` appends) it first loads the virtio modules of the extra cpio and,
 * for tcp, configures the user-mode NIC; the transport then maps vsock onto it (emu.h,
 * docs/run.md).
 * It refuses to do anything unless it is PID 1. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu.h"
#include "initlib.h"
#include "rtutil.h"
#include "transport.h"

#define PROG "enclaver-init"

static void __attribute__ ((format (printf, 1, 2)))
say (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start (ap, fmt);
  rt_vsay (buf, sizeof buf, PROG, fmt, ap);
  va_end (ap);
}

/* Set under emulation: QEMU's microvm has no ACPI there (its ACPI hangs the kernel under
 * TCG), so a power-off would only halt; a reboot ends QEMU (-no-reboot). */
static int emulated;

static void __attribute__ ((noreturn))
power_off (void)
{
  say ("powering off");
  sync ();
  if (emulated)
    reboot (RB_AUTOBOOT);
  reboot (RB_POWER_OFF);
  /* Not reached; PID 1 must not return. */
  for (;;)
    pause ();
}

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  char buf[900];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  say ("fatal: %s", buf);
  power_off ();
}

static void
do_mount (const char *src, const char *dst, const char *type, unsigned long flags,
          const char *data, int required)
{
  mkdir (dst, 0755);
  if (mount (src, dst, type, flags, data) < 0 && errno != EBUSY)
    {
      if (required)
        die ("mount %s on %s: %s", type, dst, strerror (errno));
      say ("warning: mount %s on %s: %s", type, dst, strerror (errno));
    }
}

static void
init_console (void)
{
  int fd = open ("/dev/console", O_RDWR | O_NOCTTY);
  if (fd < 0)
    return; /* keep whatever the kernel gave us */
  dup2 (fd, 0);
  dup2 (fd, 1);
  dup2 (fd, 2);
  if (fd > 2)
    close (fd);
}

static void
init_nsm_driver (void)
{
  int fd = open ("nsm.ko", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return; /* built-in driver (kernel >= 6.8) or no NSM at all */
      die ("open /nsm.ko: %s", strerror (errno));
    }
  if (syscall (SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
    die ("insert /nsm.ko: %s", strerror (errno));
  close (fd);
  unlink ("nsm.ko");
}

static char *
read_cmdline (void)
{
  char *buf = xcalloc (4097, 1);
  int fd = open ("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      ssize_t r = read (fd, buf, 4096);
      if (r < 0)
        r = 0;
      buf[r] = '\0';
      close (fd);
    }
  return buf;
}

/* Emulation only: the virtio modules, then the NIC for tcp (docs/run.md). */
static void
emulation_setup (const char *cmdline, enum enclaver_emulation emu)
{
  char dir[256], err[512];
  int loaded;
  if (!init_cmdline_get (cmdline, "enclaver.modules", dir, sizeof dir) || dir[0] == '\0')
    snprintf (dir, sizeof dir, "%s", INIT_EMU_MODULES_DIR);
  emulated = 1;
  enclaver_transport_set_emulation (emu == ENCLAVER_EMULATION_TCP ? "tcp" : "vsock");
  if (init_emu_load_modules (dir, cmdline, &loaded, err, sizeof err) < 0)
    die ("%s", err);
  if (loaded == 0)
    die ("emulation: no virtio modules in %s (`enclaver run --qemu` appends them to the "
         "initrd; scripts/fetch-kernel.sh extracts them)", dir);
  say ("emulation: %d module%s loaded from %s", loaded, loaded == 1 ? "" : "s", dir);
  if (emu != ENCLAVER_EMULATION_TCP)
    {
      return;
    }
  if (init_emu_net_up (INIT_EMU_IFNAME, INIT_EMU_IP, INIT_EMU_NETMASK, INIT_EMU_GATEWAY,
                       INIT_EMU_IF_TIMEOUT_MS, err, sizeof err)
      < 0)
    die ("%s", err);
  say ("emulation: vsock over TCP on %s %s/24 via %s", INIT_EMU_IFNAME, INIT_EMU_IP,
       INIT_EMU_GATEWAY);
}

static void
switch_root (void)
{
  if (mount ("/rootfs", "/rootfs", NULL, MS_BIND | MS_REC, NULL) < 0)
    die ("bind-mount /rootfs: %s", strerror (errno));
  if (chdir ("/rootfs") < 0)
    die ("chdir /rootfs: %s", strerror (errno));
  if (mount (".", "/", NULL, MS_MOVE, NULL) < 0)
    die ("move /rootfs to /: %s", strerror (errno));
  if (chroot (".") < 0)
    die ("chroot: %s", strerror (errno));
  if (chdir ("/") < 0)
    die ("chdir /: %s", strerror (errno));
}

static void
mount_cgroups (void)
{
  FILE *f;
  char line[256];
  do_mount ("cgroup_root", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "mode=0755", 0);
  f = fopen ("/proc/cgroups", "re");
  if (f == NULL)
    return;
  while (fgets (line, sizeof line, f))
    {
      char name[64], path[128];
      int hier, num, enabled;
      if (line[0] == '#' || sscanf (line, "%63s %d %d %d", name, &hier, &num, &enabled) != 4
          || !enabled)
        continue;
      snprintf (path, sizeof path, "/sys/fs/cgroup/%s", name);
      do_mount ("cgroup", path, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, name, 0);
    }
  fclose (f);
}

static void
standard_mounts (void)
{
  static const char *const links[][2] = {
    { "/proc/self/fd", "/dev/fd" },
    { "/proc/self/fd/0", "/dev/stdin" },
    { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" },
  };
  size_t i;
  do_mount ("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL, 1);
  do_mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1);
  for (i = 0; i < RT_ARRAY_SIZE (links); i++)
    if (symlink (links[i][0], links[i][1]) < 0 && errno != EEXIST)
      say ("warning: symlink %s: %s", links[i][1], strerror (errno));
  do_mount ("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 1);
  do_mount ("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 1);
  do_mount ("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0);
  do_mount ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620", 0);
  do_mount ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1);
  mount_cgroups ();
}

static void __attribute__ ((noreturn))
run_child (char **argv, char **envp)
{
  sigset_t none;
  char err[512];
  char *prog;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  setsid ();
  prog = rt_find_program (argv[0], INIT_DEFAULT_PATH, err, sizeof err);
  if (prog == NULL)
    {
      say ("cannot run cmd: %s", err);
      _exit (127);
    }
  execve (prog, argv, envp);
  say ("exec %s: %s", prog, strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

int
main (int argc, char **argv)
{
  static char *default_argv[] = { (char *) "sh", NULL };
  static char *default_env[] = { (char *) "PATH=" INIT_DEFAULT_PATH, NULL };
  char err[1024], desc[128], hb[160];
  enum enclaver_emulation emu;
  char **cmd, **env;
  char *cmdline;
  size_t ncmd, nenv;
  sigset_t all;
  pid_t child;

  (void) argc;
  (void) argv;
  if (getpid () != 1)
    {
      fprintf (stderr,
               PROG ": must run as PID 1 (the init of an enclave's ramdisk); refusing to "
                    "touch this system\n");
      return 2;
    }

  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, NULL);

  /* /dev must exist in the bootstrap ramdisk; devtmpfs may already be there. */
  if (mount ("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
    say ("warning: mount devtmpfs on /dev: %s", strerror (errno));
  init_console ();
  if (chdir ("/") < 0)
    die ("chdir /: %s", strerror (errno));
  init_nsm_driver ();

  /* /proc is not mounted yet in the bootstrap ramdisk: mount it briefly to read the
   * kernel command line. */
  mkdir ("/proc", 0555);
  if (mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
    {
      cmdline = read_cmdline ();
      umount ("/proc");
    }
  else
    cmdline = xstrdup ("");

  emu = enclaver_transport_emulation_from_cmdline (cmdline);
  if (emu != ENCLAVER_EMULATION_NONE)
    emulation_setup (cmdline, emu);
  /* The emulator may name another host port for the heartbeat (tcp:10.0.2.2:PORT). */
  if (!init_cmdline_get (cmdline, "enclaver.heartbeat_addr", hb, sizeof hb) || hb[0] == '\0')
    snprintf (hb, sizeof hb, "%s", INIT_HEARTBEAT_ADDR);

  if (init_heartbeat_wanted (cmdline))
    {
      if (init_heartbeat (hb, err, sizeof err) < 0)
        die ("%s", err);
    }
  else
    say ("enclaver.heartbeat=off: skipping the boot heartbeat (never do this in production)");
  free (cmdline);

  if (init_read_lines ("/env", &env, &nenv, err, sizeof err) < 0)
    die ("%s", err);
  if (init_read_lines ("/cmd", &cmd, &ncmd, err, sizeof err) < 0)
    die ("%s", err);
  unlink ("/env");
  unlink ("/cmd");

  switch_root ();
  standard_mounts ();

  child = fork ();
  if (child < 0)
    die ("fork: %s", strerror (errno));
  if (child == 0)
    run_child (cmd ? cmd : default_argv, env ? env : default_env);

  /* Reap everything; stop when cmd itself has exited. */
  for (;;)
    {
      int st;
      pid_t p = waitpid (-1, &st, 0);
      if (p < 0)
        {
          if (errno == EINTR)
            continue;
          say ("waitpid: %s", strerror (errno));
          break;
        }
      if (p == child)
        {
          init_describe_status (st, desc, sizeof desc);
          say ("cmd %s", desc);
          break;
        }
    }
  power_off ();
}
