/* The QEMU backend on a real EIF (tests/runtime/test-qemu.sh builds it from the example):
 * its checks, a real boot under QEMU whose heartbeat is answered, the status stream
 * (17000) and the log stream (17001) read through QEMU's forwards, the enclave's own
 * power-off, and a terminate that leaves no QEMU behind.
 *
 * Usage: test-qemu EIF WORKDIR */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <enclaver/error.h>

#include "tests/tap.h"
#include "backend-qemu.h"
#include "transport.h"

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct host_backend *B;
static struct host_enclave E;
static int ended;

/* Keep QEMU's console drained while waiting (its pipe must not fill up). */
static void
pump (int ms)
{
  struct pollfd p = { .fd = B->event_fd (B, &E), .events = POLLIN };
  if (ended || p.fd < 0)
    {
      poll (NULL, 0, ms);
      return;
    }
  if (poll (&p, 1, ms) > 0 && B->on_event (B, &E) == 1)
    ended = 1;
}

/* Connect to the enclave's port and read until needle (or EOF, or the deadline) into
 * buf.  slirp accepts at once even when the guest does not listen yet, then closes:
 * such an empty connection is retried. */
static size_t
read_stream (uint32_t port, const char *needle, char *buf, size_t cap, int timeout_ms)
{
  int64_t deadline = now_ms () + timeout_ms;
  char addr[64], err[256];
  size_t len = 0;
  if (B->enclave_addr (B, &E, port, addr, sizeof addr) < 0)
    return 0;
  while (now_ms () < deadline && !ended)
    {
      int fd = enclaver_transport_connect (addr, err, sizeof err);
      len = 0;
      if (fd < 0)
        {
          pump (200);
          continue;
        }
      fcntl (fd, F_SETFL, O_NONBLOCK);
      while (now_ms () < deadline)
        {
          struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = B->event_fd (B, &E), .events = POLLIN } };
          ssize_t n;
          if (poll (p, p[1].fd >= 0 ? 2 : 1, 500) <= 0)
            continue;
          if (p[1].fd >= 0 && p[1].revents && B->on_event (B, &E) == 1)
            ended = 1;
          if (!p[0].revents)
            continue;
          n = read (fd, buf + len, cap - 1 - len);
          if (n < 0 && errno == EAGAIN)
            continue;
          if (n <= 0)
            break;
          len += (size_t) n;
          buf[len] = '\0';
          if (strstr (buf, needle) || len + 1 >= cap)
            break;
        }
      close (fd);
      if (len > 0)
        break;
      pump (200);
    }
  buf[len] = '\0';
  return len;
}

static int
dir_empty (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *de;
  int n = 0;
  if (d == NULL)
    return 1;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      n++;
  closedir (d);
  return n == 0;
}

int
main (int argc, char **argv)
{
  struct host_qemu_options o;
  struct host_run_config c;
  enclaver_error_t err = NULL;
  struct stat st;
  char buf[65536], addr[64];
  size_t n;
  pid_t pid;
  int64_t t0;
  int r;

  if (argc != 3 || stat (argv[1], &st) < 0)
    {
      fprintf (stderr, "usage: test-qemu EIF WORKDIR\n");
      return 2;
    }
  memset (&o, 0, sizeof o);
  memset (&c, 0, sizeof c);
  c.name = "test-qemu";
  c.eif_path = argv[1];
  c.eif_size = (uint64_t) st.st_size;
  c.arch = "x86_64";
  c.memory_mib = 512;
  c.cpu_count = 2;
  c.status_port = HOST_PORT_STATUS;
  c.log_port = HOST_PORT_LOG;

  /* Checks that start nothing. */
  o.qemu_binary = "/nonexistent/qemu-system-x86_64";
  B = host_backend_qemu_new (&o);
  r = B->check (B, &c, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "not found"),
          "check: a missing QEMU binary is named (%s)", err ? err->msg : "");
  enclaver_error_release (&err);
  B->destroy (B);
  memset (&o, 0, sizeof o);
  o.modules_dir = "/nonexistent/emu-modules";
  B = host_backend_qemu_new (&o);
  r = B->check (B, &c, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "scripts/fetch-kernel.sh"),
          "check: missing virtio modules say how to get them (%s)", err ? err->msg : "");
  enclaver_error_release (&err);
  B->destroy (B);

  memset (&o, 0, sizeof o);
  o.tmp_dir = argv[2];
  o.console = getenv ("TEST_QEMU_CONSOLE") != NULL;
  o.heartbeat_timeout_ms = getenv ("TEST_QEMU_HB_MS") ? atoi (getenv ("TEST_QEMU_HB_MS")) : 240000;
  B = host_backend_qemu_new (&o);
  r = B->check (B, &c, &err);
  tap_ok (r == 0, "check: QEMU, the EIF and the modules are there%s%s", err ? ": " : "",
          err ? err->msg : "");
  enclaver_error_release (&err);

  t0 = now_ms ();
  if (B->start (B, &c, &E, &err) < 0)
    {
      tap_ok (0, "start: the enclave booted and its heartbeat was answered: %s",
              (err)->msg);
      enclaver_error_release (&err);
      B->destroy (B);
      return tap_done ();
    }
  tap_ok (1, "start: the enclave booted and its heartbeat was answered (%.1f s)",
          (double) (now_ms () - t0) / 1000);
  pid = E.pid;
  tap_ok (strncmp (E.id, "qemu-", 5) == 0 && pid > 0, "start: id %s, QEMU pid %ld", E.id, (long) pid);
  tap_ok (dir_empty (argv[2]), "start: the kernel and initrd copies are gone once QEMU runs");
  tap_ok (B->enclave_addr (B, &E, HOST_PORT_STATUS, addr, sizeof addr) == 0
            && strncmp (addr, "tcp:127.0.0.1:", 14) == 0,
          "enclave_addr(17000) is a forward on 127.0.0.1 (%s)", addr);
  tap_ok (B->enclave_addr (B, &E, 4242, addr, sizeof addr) < 0,
          "enclave_addr of a port QEMU does not forward is an error");
  tap_ok (B->host_addr (B, &E, HOST_PORT_EGRESS, addr, sizeof addr) == 0
            && strcmp (addr, "tcp:127.0.0.1:17002") == 0,
          "host_addr(17002) is the host's 127.0.0.1:17002, the guest's 10.0.2.2:17002");

  n = read_stream (HOST_PORT_STATUS, "\"status\":\"exited\"", buf, sizeof buf, 120000);
  tap_diag ("status stream: %s", buf);
  tap_ok (n > 0 && (strncmp (buf, "{\"status\":\"running\"}\n", 21) == 0
                    || strncmp (buf, "{\"status\":\"exited\"", 18) == 0),
          "status stream: the first line is the current state (running, or exited for a late "
          "client)");
  TAP_CONTAINS (buf, "{\"status\":\"exited\",\"code\":0}", "status stream: the app's final status");

  n = read_stream (HOST_PORT_LOG, "Hello from the enclave", buf, sizeof buf, 60000);
  TAP_CONTAINS (buf, "Hello from the enclave, world!", "log stream: the app's output");

  /* The supervisor lingers, exits; the init powers off; QEMU ends by itself. */
  t0 = now_ms ();
  while (!ended && now_ms () - t0 < 120000)
    pump (500);
  tap_ok (ended, "on_event: QEMU ended after the enclave powered off");
  B->terminate (B, &E);
  tap_ok (host_qemu_wait_status (B, &E) >= 0 && WIFEXITED (host_qemu_wait_status (B, &E)),
          "QEMU exited normally (wait status 0x%x)", (unsigned) host_qemu_wait_status (B, &E));
  B->terminate (B, &E);
  tap_ok (kill (pid, 0) < 0 && errno == ESRCH && kill (-pid, 0) < 0 && errno == ESRCH,
          "terminate: no QEMU process (nor its group) is left");

  /* A second boot, terminated while it runs, from a launcher that blocks SIGTERM (as
     an event loop with signalfd does): QEMU must not inherit the mask. */
  memset (&E, 0, sizeof E);
  ended = 0;
  {
    sigset_t term;
    sigemptyset (&term);
    sigaddset (&term, SIGTERM);
    sigprocmask (SIG_BLOCK, &term, NULL);
  }
  if (B->start (B, &c, &E, &err) < 0)
    {
      tap_ok (0, "second start: %s", (err)->msg);
      enclaver_error_release (&err);
    }
  else
    {
      pid = E.pid;
      tap_ok (kill (pid, 0) == 0, "second start: QEMU runs");
      B->terminate (B, &E);
      tap_ok (kill (pid, 0) < 0 && errno == ESRCH && kill (-pid, 0) < 0 && errno == ESRCH,
              "terminate while running: no QEMU process is left");
      tap_ok (host_qemu_wait_status (B, &E) >= 0 && !WIFSIGNALED (host_qemu_wait_status (B, &E)),
              "terminate: QEMU ended on its SIGTERM, not the SIGKILL fallback (wait status 0x%x)",
              (unsigned) host_qemu_wait_status (B, &E));
      tap_ok (B->event_fd (B, &E) < 0, "terminate: the console is closed");
    }
  B->destroy (B);
  return tap_done ();
}
