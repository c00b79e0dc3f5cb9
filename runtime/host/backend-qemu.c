/* enclaver host launcher: the "qemu" backend (backend-qemu.h, docs/run.md).
 *
 * start: read the EIF with enclaver's reader, copy its kernel and ramdisks into a private
 * temporary directory, append a newc cpio of the virtio modules, append the emulation
 * keys to the EIF's command line, bind the heartbeat listener on 127.0.0.1, start QEMU in
 * its own process group, and answer the heartbeat while draining the console.  The
 * temporary copies are removed once the heartbeat has come (QEMU has read them long
 * before).  event_fd is QEMU's console pipe; EOF on it means QEMU has ended. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>

#include "backend-qemu.h"
#include "heartbeat.h"
#include "qemu-support.h"
#include "transport.h"

#define QEMU_MAX_FWD 64
#define QEMU_GUEST_CID 16
#define QEMU_LINE_MAX 4096

/* The modules each mode needs, in load order (EMULATION.md; the init loads them in the
 * same order, runtime/init/emu.c). */
static const char *const mods_tcp[]
  = { "virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net", NULL };
static const char *const mods_vsock[]
  = { "virtio_ring", "virtio", "virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common",
      "vmw_vsock_virtio_transport", NULL };

struct fwd
{
  uint32_t guest_port, host_port;
};

struct qemu
{
  struct host_backend b;
  char *qemu_binary, *modules_dir, *tmp_dir;
  int console, vsock, hb_timeout_ms;
  int last_wstatus; /* of the last enclave terminated */
};

struct qemu_enclave
{
  pid_t pid;
  int console_fd;
  int use_vsock;
  int exited, wstatus;
  int show_all; /* every console line to stderr (--console, debug mode) */
  char dir[PATH_MAX];
  size_t n_fwd;
  struct fwd fwd[QEMU_MAX_FWD];
  char line[QEMU_LINE_MAX];
  size_t line_len;
  char fatal[512]; /* the enclave's last "fatal:" console line, for errors */
};

static char *
xstrdup_or_null (const char *s)
{
  char *r;
  if (s == NULL)
    return NULL;
  if ((r = strdup (s)) == NULL)
    abort ();
  return r;
}

static int
want_vsock (const struct qemu *q)
{
  if (q->vsock > 0)
    return 1;
  if (q->vsock < 0)
    return 0;
  return access ("/dev/vhost-vsock", R_OK | W_OK) == 0;
}

static int
is_aarch64 (const struct host_run_config *c)
{
  return c->arch != NULL && strcmp (c->arch, "aarch64") == 0;
}

static const char *
qemu_binary (const struct qemu *q, const struct host_run_config *c)
{
  if (q->qemu_binary)
    return q->qemu_binary;
  return is_aarch64 (c) ? "qemu-system-aarch64" : "qemu-system-x86_64";
}

/* An executable file named prog (a path, or found on $PATH): malloc'd, or NULL. */
static char *
find_program (const char *prog)
{
  const char *path = getenv ("PATH"), *p;
  if (strchr (prog, '/'))
    return access (prog, X_OK) == 0 ? xstrdup_or_null (prog) : NULL;
  for (p = path ? path : "/usr/bin:/bin"; *p;)
    {
      size_t n = strcspn (p, ":");
      char *cand = qemu_fmt ("%.*s/%s", (int) n, n ? p : ".", prog);
      struct stat st;
      if (stat (cand, &st) == 0 && S_ISREG (st.st_mode) && access (cand, X_OK) == 0)
        return cand;
      free (cand);
      p += n;
      if (*p == ':')
        p++;
    }
  return NULL;
}

/* The modules directory for an EIF: the option, $ENCLAVER_EMU_MODULES, the cached kernel
 * of the EIF's version, the default kernel of the EIF's architecture (default/ for the
 * host's, default-ARCH/ for the other: scripts/fetch-kernel.sh --arch). */
static char *
modules_dir (const struct qemu *q, const struct enclaver_eif_info *info)
{
  const char *env = getenv ("ENCLAVER_EMU_MODULES"), *xdg = getenv ("XDG_CACHE_HOME");
  const char *home = getenv ("HOME");
  char kv[128], *cache, *d;
  struct stat st;
  if (q->modules_dir)
    return xstrdup_or_null (q->modules_dir);
  if (env && *env)
    return xstrdup_or_null (env);
  cache = xdg && *xdg ? qemu_fmt ("%s/enclaver/kernel", xdg) : qemu_fmt ("%s/.cache/enclaver/kernel", home ? home : "/root");
  qemu_kernel_version (info, kv, sizeof kv);
  if (kv[0])
    {
      d = qemu_fmt ("%s/linux-image-%s/emu-modules", cache, kv);
      if (stat (d, &st) == 0 && S_ISDIR (st.st_mode))
        {
          free (cache);
          return d;
        }
      free (d);
    }
#if defined(__aarch64__)
  d = qemu_fmt ("%s/default%s/emu-modules", cache, info->flags & 1 ? "" : "-x86_64");
#else
  d = qemu_fmt ("%s/default%s/emu-modules", cache, info->flags & 1 ? "-aarch64" : "");
#endif
  free (cache);
  return d;
}

static int
read_eif (const char *path, struct enclaver_eif_info *info, int *fdp, enclaver_error_t *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  memset (info, 0, sizeof *info);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "open %s", path);
  /* A signed EIF's signature is checked, as describe and verify do. */
  if (enclaver_eif_read_fd (fd, path, 0, info, err) < 0 || enclaver_eif_check (info, err) < 0)
    {
      close (fd);
      enclaver_eif_info_clear (info);
      return -1;
    }
  *fdp = fd;
  return 0;
}

static int
check_modules (const char *dir, const char *const *mods, enclaver_error_t *err)
{
  size_t i;
  for (i = 0; mods[i]; i++)
    {
      char *p = qemu_fmt ("%s/%s.ko", dir, mods[i]);
      int ok = access (p, R_OK) == 0;
      free (p);
      if (!ok)
        return enclaver_make_error (err, ENOENT,
                                    "emulation needs the kernel's virtio modules, and %s has no "
                                    "%s.ko: run scripts/fetch-kernel.sh (it extracts them next "
                                    "to the kernel), or set ENCLAVER_EMU_MODULES to the "
                                    "directory of the EIF kernel's modules",
                                    dir, mods[i]);
    }
  return 0;
}

static int
qemu_check (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err)
{
  struct qemu *q = b->self;
  const char *bin = qemu_binary (q, c);
  struct enclaver_eif_info info;
  char *p, *dir;
  int fd, r;

  p = find_program (bin);
  if (p == NULL)
    return enclaver_make_error (err, ENOENT,
                                "%s not found (install QEMU: apt-get install %s, "
                                "or name the binary with --qemu-binary)",
                                bin, is_aarch64 (c) ? "qemu-system-arm" : "qemu-system-x86");
  free (p);
  if (c->memory_mib < 64)
    return enclaver_make_error (err, EINVAL, "memory: %" PRIu64 " MiB is too little (at least 64 MiB)",
                                c->memory_mib);
  if (c->cpu_count < 1)
    return enclaver_make_error (err, EINVAL, "CPU count: at least 1 CPU is needed");
  if (read_eif (c->eif_path, &info, &fd, err) < 0)
    return -1;
  close (fd);
  dir = modules_dir (q, &info);
  enclaver_eif_info_clear (&info);
  r = check_modules (dir, want_vsock (q) ? mods_vsock : mods_tcp, err);
  free (dir);
  return r;
}

/* --- files ------------------------------------------------------------------------- */

static void
remove_copies (struct qemu_enclave *qe)
{
  char *p;
  if (qe->dir[0] == '\0')
    return;
  p = qemu_fmt ("%s/kernel", qe->dir);
  unlink (p);
  free (p);
  p = qemu_fmt ("%s/initrd", qe->dir);
  unlink (p);
  free (p);
  rmdir (qe->dir);
  qe->dir[0] = '\0';
}

/* Copy kernel and ramdisks (+ the modules cpio) into qe->dir; *cmdline gets the EIF's. */
static int
make_copies (struct qemu *q, const struct host_run_config *c, struct qemu_enclave *qe,
             char **cmdline, enclaver_error_t *err)
{
  const char *tmp = q->tmp_dir ? q->tmp_dir : getenv ("TMPDIR");
  struct enclaver_eif_info info;
  char *kpath = NULL, *ipath = NULL, *dir = NULL;
  int fd = -1, kfd = -1, ifd = -1, rc = -1;
  off_t pos = 0;
  unsigned i;

  *cmdline = NULL;
  if (read_eif (c->eif_path, &info, &fd, err) < 0)
    return -1;
  snprintf (qe->dir, sizeof qe->dir, "%s/enclaver-qemu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (qe->dir) == NULL)
    {
      enclaver_make_errno (err, errno, "create a temporary directory in %s", tmp && *tmp ? tmp : "/tmp");
      qe->dir[0] = '\0';
      goto out;
    }
  {
    /* QEMU gets absolute paths. */
    char abs[PATH_MAX];
    if (realpath (qe->dir, abs) != NULL)
      snprintf (qe->dir, sizeof qe->dir, "%s", abs);
  }
  kpath = qemu_fmt ("%s/kernel", qe->dir);
  ipath = qemu_fmt ("%s/initrd", qe->dir);
  kfd = open (kpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ifd = open (ipath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (kfd < 0 || ifd < 0)
    {
      enclaver_make_errno (err, errno, "create files in %s", qe->dir);
      goto out;
    }
  for (i = 0; i < info.num_sections; i++)
    {
      const struct enclaver_eif_section_info *s = &info.sections[i];
      uint64_t data = s->offset + ENCLAVER_EIF_SECTION_HEADER_SIZE;
      if (s->type == ENCLAVER_EIF_SECTION_KERNEL && qemu_copy_range (fd, data, s->size, kfd, "kernel", err) < 0)
        goto out;
      if (s->type == ENCLAVER_EIF_SECTION_RAMDISK)
        {
          if (qemu_copy_range (fd, data, s->size, ifd, "ramdisk", err) < 0)
            goto out;
          pos += (off_t) s->size;
        }
      if (s->type == ENCLAVER_EIF_SECTION_CMDLINE)
        {
          char *cl;
          size_t n;
          if (s->size > 65536)
            {
              enclaver_make_error (err, EINVAL, "%s: kernel command line of %" PRIu64 " bytes", c->eif_path, s->size);
              goto out;
            }
          cl = calloc (1, s->size + 1);
          if (cl == NULL)
            abort ();
          if (pread (fd, cl, s->size, (off_t) data) != (ssize_t) s->size)
            {
              free (cl);
              enclaver_make_error (err, EIO, "%s: cannot read the kernel command line", c->eif_path);
              goto out;
            }
          n = strlen (cl);
          while (n > 0 && (cl[n - 1] == '\n' || cl[n - 1] == ' ' || cl[n - 1] == '\t'))
            cl[--n] = '\0';
          free (*cmdline);
          *cmdline = cl;
        }
    }
  /* Zero padding between newc archives is skipped by the kernel's initramfs loader. */
  while (pos % 4)
    {
      if (qemu_write_all (ifd, "", 1) < 0)
        {
          enclaver_make_errno (err, errno, "write %s", ipath);
          goto out;
        }
      pos++;
    }
  dir = modules_dir (q, &info);
  if (check_modules (dir, qe->use_vsock ? mods_vsock : mods_tcp, err) < 0
      || qemu_append_modules (ifd, &pos, dir, qe->use_vsock ? mods_vsock : mods_tcp, err) < 0)
    goto out;
  if (close (kfd) < 0 || close (ifd) < 0)
    {
      kfd = ifd = -1;
      enclaver_make_errno (err, errno, "write files in %s", qe->dir);
      goto out;
    }
  kfd = ifd = -1;
  if (*cmdline == NULL)
    *cmdline = xstrdup_or_null ("");
  rc = 0;
out:
  if (kfd >= 0)
    close (kfd);
  if (ifd >= 0)
    close (ifd);
  close (fd);
  enclaver_eif_info_clear (&info);
  free (kpath);
  free (ipath);
  free (dir);
  if (rc < 0)
    {
      free (*cmdline);
      *cmdline = NULL;
      remove_copies (qe);
    }
  return rc;
}

/* --- console ----------------------------------------------------------------------- */

static void
console_line (struct qemu_enclave *qe, char *l)
{
  qemu_strip_escapes (l);
  if (strstr (l, ": fatal: ") != NULL && strncmp (l, "enclaver-", 9) == 0)
    snprintf (qe->fatal, sizeof qe->fatal, "%s", l);
  if (qe->show_all)
    {
      fprintf (stderr, "%s\n", l);
      fflush (stderr);
    }
  else if (l[0] != '\0' && !qemu_firmware_or_kernel_line (l))
    enclaver_log_debug ("console: %s", l);
}

/* Read what the console has: 1 on EOF (QEMU has ended), 0 after data, 2 when there
 * was nothing to read. */
static int
console_read (struct qemu_enclave *qe)
{
  char buf[4096];
  ssize_t n, i;
  if (qe->console_fd < 0)
    return 1;
  do
    n = read (qe->console_fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN ? 2 : 1;
  if (n == 0)
    {
      if (qe->line_len)
        {
          qe->line[qe->line_len] = '\0';
          console_line (qe, qe->line);
          qe->line_len = 0;
        }
      return 1;
    }
  for (i = 0; i < n; i++)
    {
      if (buf[i] == '\n' || qe->line_len + 1 >= sizeof qe->line)
        {
          qe->line[qe->line_len] = '\0';
          console_line (qe, qe->line);
          qe->line_len = 0;
          if (buf[i] == '\n')
            continue;
        }
      qe->line[qe->line_len++] = buf[i];
    }
  return 0;
}

static void
reap (struct qemu_enclave *qe, int block)
{
  int st;
  pid_t r;
  if (qe->exited || qe->pid <= 0)
    return;
  do
    r = waitpid (qe->pid, &st, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == qe->pid || (r < 0 && errno == ECHILD))
    {
      qe->exited = 1;
      qe->wstatus = r == qe->pid ? st : -1;
    }
}

static void
kill_qemu (struct qemu_enclave *qe)
{
  int i;
  if (qe->pid <= 0)
    return;
  reap (qe, 0);
  if (!qe->exited)
    {
      kill (-qe->pid, SIGTERM);
      for (i = 0; i < 100 && !qe->exited; i++)
        {
          struct timespec ts = { 0, 20 * 1000000L };
          nanosleep (&ts, NULL);
          reap (qe, 0);
        }
      if (!qe->exited)
        {
          kill (-qe->pid, SIGKILL);
          reap (qe, 1);
        }
    }
  /* Whatever QEMU may have left in its process group. */
  kill (-qe->pid, SIGKILL);
}

/* --- start ------------------------------------------------------------------------- */

/* A free TCP port on 127.0.0.1 (the listener stays open in *fd until QEMU starts, so two
 * forwards never get the same port). */
static uint32_t
free_port (int *fd, enclaver_error_t *err)
{
  char e[256];
  uint32_t port;
  *fd = enclaver_transport_listen ("tcp:127.0.0.1:0", e, sizeof e);
  if (*fd < 0)
    {
      enclaver_make_error (err, errno, "pick a host port for QEMU: %s", e);
      return 0;
    }
  port = enclaver_transport_local_port (*fd);
  if (port == 0)
    enclaver_make_errno (err, errno, "pick a host port for QEMU");
  return port;
}

static int
add_fwd (struct qemu_enclave *qe, uint32_t guest_port, int *fds, enclaver_error_t *err)
{
  size_t i;
  if (guest_port == 0)
    return 0;
  for (i = 0; i < qe->n_fwd; i++)
    if (qe->fwd[i].guest_port == guest_port)
      return 0;
  if (qe->n_fwd >= QEMU_MAX_FWD)
    return enclaver_make_error (err, E2BIG, "more than %d enclave ports to forward", QEMU_MAX_FWD);
  qe->fwd[qe->n_fwd].guest_port = guest_port;
  qe->fwd[qe->n_fwd].host_port = free_port (&fds[qe->n_fwd], err);
  if (qe->fwd[qe->n_fwd].host_port == 0)
    return -1;
  qe->n_fwd++;
  return 0;
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for the heartbeat connection while draining the console: 0, or -1 with err. */
static int
wait_heartbeat (struct qemu_enclave *qe, int lfd, int timeout_ms, enclaver_error_t *err)
{
  int64_t deadline = now_ms () + timeout_ms;
  char why[512];
  for (;;)
    {
      struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = qe->console_fd, .events = POLLIN } };
      int64_t left = deadline - now_ms ();
      int r;
      if (left <= 0)
        return enclaver_make_error (err, ETIMEDOUT,
                                    "no heartbeat from the enclave within %d s (QEMU is running; "
                                    "--console shows its boot)",
                                    timeout_ms / 1000);
      r = poll (p, 2, left > 1000 ? 1000 : (int) left);
      if (r < 0 && errno != EINTR)
        return enclaver_make_errno (err, errno, "wait for the heartbeat");
      if (r <= 0)
        continue;
      if (p[1].revents && console_read (qe) == 1)
        {
          reap (qe, 1);
          if (qe->fatal[0])
            return enclaver_make_error (err, EIO, "the enclave stopped before its heartbeat: %s",
                                        qe->fatal);
          return enclaver_make_error (err, EIO,
                                      "QEMU ended before the enclave's heartbeat (%s %d; "
                                      "--console shows why)",
                                      WIFEXITED (qe->wstatus) ? "exit status" : "signal",
                                      WIFEXITED (qe->wstatus) ? WEXITSTATUS (qe->wstatus)
                                                              : WTERMSIG (qe->wstatus));
        }
      if (p[0].revents)
        {
          left = deadline - now_ms ();
          if (ne_heartbeat_wait (lfd, left > 0 ? (int) left : 1, 0, why, sizeof why) < 0)
            return enclaver_make_error (err, EIO, "heartbeat: %s", why);
          return 0;
        }
    }
}

static int
qemu_start (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e,
            enclaver_error_t *err)
{
  struct qemu *q = b->self;
  struct qemu_enclave *qe = calloc (1, sizeof *qe);
  int port_fds[QEMU_MAX_FWD], pipefd[2] = { -1, -1 }, lfd = -1, timeout;
  char *cmdline = NULL, *append = NULL, *netdev = NULL, *device = NULL, *kpath = NULL, *ipath = NULL;
  char lerr[256], mem[32], cpus[32], tsc[48] = "", nsm_arg[48] = "";
  unsigned long khz;
  uint32_t hb_port;
  uint64_t cid = c->enclave_cid ? c->enclave_cid : QEMU_GUEST_CID;
  size_t i, n_fds = 0;
  pid_t pid;

  if (qe == NULL)
    abort ();
  qe->console_fd = -1;
  qe->wstatus = -1;
  qe->use_vsock = want_vsock (q);
  qe->show_all = q->console || c->debug_mode;
  for (i = 0; i < QEMU_MAX_FWD; i++)
    port_fds[i] = -1;
  if (make_copies (q, c, qe, &cmdline, err) < 0)
    {
      free (qe);
      return -1;
    }

  /* The heartbeat listener exists before QEMU does, as on Nitro before START. */
  if (qe->use_vsock)
    lfd = enclaver_transport_listen ("vsock:any:9000", lerr, sizeof lerr);
  else
    lfd = enclaver_transport_listen ("tcp:127.0.0.1:0", lerr, sizeof lerr);
  if (lfd < 0)
    {
      enclaver_make_error (err, errno, "heartbeat listener: %s", lerr);
      goto fail;
    }
  hb_port = qe->use_vsock ? 9000 : enclaver_transport_local_port (lfd);
  if (!is_aarch64 (c) && (khz = qemu_host_tsc_khz ()) > 0)
    snprintf (tsc, sizeof tsc, " tsc_early_khz=%lu", khz);
  if (c->nsm_emu_ca_dir)
    snprintf (nsm_arg, sizeof nsm_arg, " enclaver.nsm=vsock:3:%" PRIu32,
              b->nsm_emu_port ? b->nsm_emu_port : HOST_PORT_NSM_EMU);
  /* The virt machine's serial port is a PL011, ttyAMA0 (Nitro's console=ttyS0 names none
     there); the last console= is /dev/console. */
  append = qemu_fmt ("%s%s enclaver.emulation=%s enclaver.modules=/emu/modules "
                "enclaver.heartbeat_addr=%s:%" PRIu32 "%s%s%s",
                cmdline, is_aarch64 (c) ? " console=ttyAMA0" : "", qe->use_vsock ? "vsock" : "tcp",
                qe->use_vsock ? "vsock:2" : "tcp:" ENCLAVER_EMU_HOST_IP, hb_port, tsc,
                /* the emulated NSM's address (nsm-emu.c), read by the supervisor */
                nsm_arg,
                q->console || c->debug_mode ? "" : " quiet loglevel=2");

  if (qe->use_vsock)
    device = qemu_fmt ("vhost-vsock-device,guest-cid=%" PRIu64, cid);
  else
    {
      if (add_fwd (qe, c->status_port ? c->status_port : HOST_PORT_STATUS, port_fds, err) < 0
          || add_fwd (qe, c->log_port ? c->log_port : HOST_PORT_LOG, port_fds, err) < 0)
        goto fail;
      for (i = 0; i < c->n_ingress; i++)
        if (add_fwd (qe, c->ingress[i].listen_port, port_fds, err) < 0)
          goto fail;
      n_fds = qe->n_fwd;
      /* No restrict=on: slirp then refuses every guest connection that is not a
         guestfwd, and a guestfwd is one connection opened when QEMU starts, which the
         heartbeat and egress (several connections, later) cannot use. */
      netdev = qemu_fmt ("user,id=n0");
      for (i = 0; i < qe->n_fwd; i++)
        {
          char *n2 = qemu_fmt ("%s,hostfwd=tcp:127.0.0.1:%" PRIu32 "-" ENCLAVER_EMU_GUEST_IP ":%" PRIu32,
                          netdev, qe->fwd[i].host_port, qe->fwd[i].guest_port);
          free (netdev);
          netdev = n2;
        }
      device = qemu_fmt ("virtio-net-device,netdev=n0");
    }
  kpath = qemu_fmt ("%s/kernel", qe->dir);
  ipath = qemu_fmt ("%s/initrd", qe->dir);
  snprintf (mem, sizeof mem, "%" PRIu64, c->memory_mib);
  snprintf (cpus, sizeof cpus, "%" PRIu32, c->cpu_count ? c->cpu_count : 1);

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    {
      enclaver_make_errno (err, errno, "pipe");
      goto fail;
    }
  for (i = 0; i < n_fds; i++)
    {
      close (port_fds[i]); /* QEMU binds them now */
      port_fds[i] = -1;
    }
  pid = fork ();
  if (pid < 0)
    {
      enclaver_make_errno (err, errno, "fork");
      goto fail;
    }
  if (pid == 0)
    {
      const char *args[40];
      int k = 0, nul = open ("/dev/null", O_RDONLY);
      const char *bin = qemu_binary (q, c);
      sigset_t none;
      /* QEMU must not outlive the launcher, even one killed by SIGKILL. */
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      /* The launcher's event loop may block or ignore signals; QEMU must get terminate's
         SIGTERM. */
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      signal (SIGTERM, SIG_DFL);
      signal (SIGINT, SIG_DFL);
      signal (SIGPIPE, SIG_DFL);
      setpgid (0, 0);
      if (nul >= 0)
        dup2 (nul, 0);
      dup2 (pipefd[1], 1);
      dup2 (pipefd[1], 2);
      args[k++] = bin;
      if (is_aarch64 (c))
        {
          args[k++] = "-M";
          args[k++] = "virt";
          args[k++] = "-cpu";
          args[k++] = "max";
        }
      else
        {
          /* ioapic2=off: with microvm's second IOAPIC the 6.1 kernel gets no timer
             interrupt under TCG and hangs calibrating (measured; acpi=off boots too,
             but Debian's virtio_mmio has no virtio_mmio.device= parameter, so the
             NIC is found only through ACPI). */
          args[k++] = "-M";
          args[k++] = "microvm,ioapic2=off";
        }
      args[k++] = "-nodefaults";
      args[k++] = "-no-user-config";
      args[k++] = "-nographic";
      args[k++] = "-no-reboot";
      args[k++] = "-serial";
      args[k++] = "stdio";
      args[k++] = "-m";
      args[k++] = mem;
      args[k++] = "-smp";
      args[k++] = cpus;
      args[k++] = "-kernel";
      args[k++] = kpath;
      args[k++] = "-initrd";
      args[k++] = ipath;
      args[k++] = "-append";
      args[k++] = append;
      if (netdev)
        {
          args[k++] = "-netdev";
          args[k++] = netdev;
        }
      args[k++] = "-device";
      args[k++] = device;
      args[k] = NULL;
      execvp (bin, (char *const *) args);
      fprintf (stderr, "enclaver: cannot run %s: %s\n", bin, strerror (errno));
      _exit (127);
    }
  setpgid (pid, pid); /* both sides, so terminate never races the child's own call */
  close (pipefd[1]);
  pipefd[1] = -1;
  qe->pid = pid;
  qe->console_fd = pipefd[0];
  pipefd[0] = -1;
  fcntl (qe->console_fd, F_SETFL, fcntl (qe->console_fd, F_GETFL) | O_NONBLOCK);
  enclaver_log_debug ("qemu: %s -M %s -append '%s' -netdev %s -device %s", qemu_binary (q, c),
                      is_aarch64 (c) ? "virt" : "microvm", append, netdev ? netdev : "-", device);

  timeout = q->hb_timeout_ms > 0 ? q->hb_timeout_ms : ne_heartbeat_timeout_ms (c->eif_size, c->memory_mib);
  if (wait_heartbeat (qe, lfd, timeout, err) < 0)
    goto fail;
  close (lfd);
  lfd = -1;
  remove_copies (qe);

  snprintf (e->id, sizeof e->id, "qemu-%ld", (long) pid);
  e->cid = cid;
  e->pid = pid;
  e->backend_state = qe;
  free (cmdline);
  free (append);
  free (netdev);
  free (device);
  free (kpath);
  free (ipath);
  return 0;

fail:
  kill_qemu (qe);
  if (qe->console_fd >= 0)
    close (qe->console_fd);
  for (i = 0; i < QEMU_MAX_FWD; i++)
    if (port_fds[i] >= 0)
      close (port_fds[i]);
  if (pipefd[0] >= 0)
    close (pipefd[0]);
  if (pipefd[1] >= 0)
    close (pipefd[1]);
  if (lfd >= 0)
    close (lfd);
  remove_copies (qe);
  free (qe);
  free (cmdline);
  free (append);
  free (netdev);
  free (device);
  free (kpath);
  free (ipath);
  return -1;
}

static int
qemu_enclave_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                   size_t outlen)
{
  const struct qemu_enclave *qe = e->backend_state;
  size_t i;
  (void) b;
  if (qe == NULL)
    return -1;
  if (qe->use_vsock)
    return snprintf (out, outlen, "vsock:%" PRIu64 ":%" PRIu32, e->cid, port) < (int) outlen ? 0 : -1;
  for (i = 0; i < qe->n_fwd; i++)
    if (qe->fwd[i].guest_port == port)
      return snprintf (out, outlen, "tcp:127.0.0.1:%" PRIu32, qe->fwd[i].host_port) < (int) outlen
               ? 0
               : -1;
  return -1; /* not a port QEMU forwards */
}

static int
qemu_host_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                size_t outlen)
{
  const struct qemu_enclave *qe = e->backend_state;
  if (qe != NULL && qe->use_vsock)
    return snprintf (out, outlen, "vsock:any:%" PRIu32, port) < (int) outlen ? 0 : -1;
  /* The emulated NSM listens on a free port, which the command line names. */
  if (port == HOST_PORT_NSM_EMU && !want_vsock (b->self))
    return snprintf (out, outlen, "tcp:127.0.0.1:0") < (int) outlen ? 0 : -1;
  /* The guest's 10.0.2.2:P is the host's 127.0.0.1:P. */
  return snprintf (out, outlen, "tcp:127.0.0.1:%" PRIu32, port) < (int) outlen ? 0 : -1;
}

static int
qemu_event_fd (struct host_backend *b, const struct host_enclave *e)
{
  const struct qemu_enclave *qe = e->backend_state;
  (void) b;
  return qe ? qe->console_fd : -1;
}

static int
qemu_on_event (struct host_backend *b, struct host_enclave *e)
{
  struct qemu_enclave *qe = e->backend_state;
  int i;
  if (qe == NULL || qe->exited)
    return 1;
  /* A bounded number of reads per call, so a chatty console cannot starve the loop. */
  (void) b;
  for (i = 0; i < 16; i++)
    {
      int r = console_read (qe);
      if (r == 1)
        {
          close (qe->console_fd);
          qe->console_fd = -1;
          reap (qe, 1);
          return 1;
        }
      if (r == 2)
        break;
    }
  return 0;
}

static void
qemu_terminate (struct host_backend *b, struct host_enclave *e)
{
  struct qemu *q = b->self;
  struct qemu_enclave *qe = e->backend_state;
  if (qe == NULL)
    return;
  kill_qemu (qe);
  if (qe->console_fd >= 0)
    close (qe->console_fd);
  remove_copies (qe);
  q->last_wstatus = qe->wstatus;
  free (qe);
  e->backend_state = NULL;
}

int
host_qemu_wait_status (struct host_backend *b, const struct host_enclave *e)
{
  const struct qemu_enclave *qe = e->backend_state;
  if (qe == NULL)
    return ((struct qemu *) b->self)->last_wstatus;
  return qe->exited ? qe->wstatus : -1;
}

static void
qemu_destroy (struct host_backend *b)
{
  struct qemu *q;
  if (b == NULL)
    return;
  q = b->self;
  free (q->qemu_binary);
  free (q->modules_dir);
  free (q->tmp_dir);
  free (q);
}

struct host_backend *
host_backend_qemu_new (const struct host_qemu_options *o)
{
  struct qemu *q = calloc (1, sizeof *q);
  if (q == NULL)
    abort ();
  if (o)
    {
      q->qemu_binary = xstrdup_or_null (o->qemu_binary);
      q->modules_dir = xstrdup_or_null (o->modules_dir);
      q->tmp_dir = xstrdup_or_null (o->tmp_dir);
      q->console = o->console;
      q->vsock = o->vsock;
      q->hb_timeout_ms = o->heartbeat_timeout_ms;
    }
  q->last_wstatus = -1;
  q->b.name = "qemu";
  q->b.self = q;
  q->b.check = qemu_check;
  q->b.start = qemu_start;
  q->b.enclave_addr = qemu_enclave_addr;
  q->b.host_addr = qemu_host_addr;
  q->b.event_fd = qemu_event_fd;
  q->b.on_event = qemu_on_event;
  q->b.terminate = qemu_terminate;
  q->b.destroy = qemu_destroy;
  return &q->b;
}
