/* enclaver-init: the parts that can run outside PID 1 (kernel command line, /env and /cmd
 * reading, the heartbeat exchange over a Unix socket, status text), and the binary's
 * refusal to run as anything but PID 1.  Nothing here mounts, chroots or reboots. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tap.h"
#include "init/initlib.h"
#include "rtutil.h"
#include "transport.h"

#define INIT_BIN RUNTIME_BUILDDIR "/enclaver-init"

static char topdir[256];

static void
write_bytes (const char *path, const char *data, size_t n)
{
  FILE *f = fopen (path, "w");
  if (f == NULL || fwrite (data, 1, n, f) != n)
    tap_diag ("cannot write %s", path);
  if (f)
    fclose (f);
}

static void
test_cmdline (void)
{
  char v[64];
  const char *cl = "earlyprintk=serial console=ttyS0 reboot=k panic=30 pci=off nomodules "
                   "random.trust_cpu=on enclaver.heartbeat=off quiet\n";
  tap_ok (init_cmdline_get (cl, "enclaver.heartbeat", v, sizeof v) == 1 && strcmp (v, "off") == 0,
          "cmdline: enclaver.heartbeat=off found among the Nitro defaults");
  tap_ok (init_cmdline_get (cl, "console", v, sizeof v) == 1 && strcmp (v, "ttyS0") == 0,
          "cmdline: console=ttyS0");
  tap_ok (init_cmdline_get (cl, "quiet", v, sizeof v) == 1 && strcmp (v, "") == 0,
          "cmdline: a bare flag has an empty value");
  TAP_INT_EQ (init_cmdline_get (cl, "enclaver", v, sizeof v), 0,
              "cmdline: a key prefix does not match");
  TAP_INT_EQ (init_cmdline_get (cl, "heartbeat", v, sizeof v), 0,
              "cmdline: a key suffix does not match");
  tap_ok (init_cmdline_get ("a=1 a=2", "a", v, sizeof v) == 1 && strcmp (v, "2") == 0,
          "cmdline: the last occurrence wins");
  tap_ok (init_cmdline_get ("x=\"one two\" y=3", "x", v, sizeof v) == 1
              && strcmp (v, "one two") == 0,
          "cmdline: a quoted value keeps its spaces");
  tap_ok (init_cmdline_get ("x=\"one two\" y=3", "y", v, sizeof v) == 1 && strcmp (v, "3") == 0,
          "cmdline: ... and the next word is still found");
  TAP_INT_EQ (init_cmdline_get ("", "a", v, sizeof v), 0, "cmdline: empty");

  TAP_INT_EQ (init_heartbeat_wanted (cl), 0, "heartbeat: off when enclaver.heartbeat=off");
  TAP_INT_EQ (init_heartbeat_wanted ("console=ttyS0"), 1, "heartbeat: on by default");
  TAP_INT_EQ (init_heartbeat_wanted ("enclaver.heartbeat=on"), 1, "heartbeat: =on keeps it");
  TAP_INT_EQ (init_heartbeat_wanted ("enclaver.heartbeat=0"), 0, "heartbeat: =0 turns it off");
  TAP_INT_EQ (init_heartbeat_wanted ("enclaver.heartbeat=off enclaver.heartbeat=on"), 1,
              "heartbeat: the last setting wins");
  TAP_INT_EQ (init_heartbeat_wanted ("xenclaver.heartbeat=off"), 1,
              "heartbeat: a different key does not count");
}

static void
test_lines (void)
{
  char p[400], err[512], big[1100];
  char **v;
  size_t n, i;
  char *huge;

  snprintf (p, sizeof p, "%s/missing", topdir);
  tap_ok (init_read_lines (p, &v, &n, err, sizeof err) == 0 && v == NULL && n == 0,
          "lines: a missing file gives no elements (defaults apply)");
  snprintf (p, sizeof p, "%s/empty", topdir);
  write_bytes (p, "", 0);
  tap_ok (init_read_lines (p, &v, &n, err, sizeof err) == 0 && v == NULL && n == 0,
          "lines: an empty file gives no elements");
  snprintf (p, sizeof p, "%s/cmd", topdir);
  write_bytes (p, "/sbin/enclaver-supervisor\n--config\n/etc/enclaver/supervisor.json\n",
               strlen ("/sbin/enclaver-supervisor\n--config\n/etc/enclaver/supervisor.json\n"));
  tap_ok (init_read_lines (p, &v, &n, err, sizeof err) == 0 && n == 3
              && strcmp (v[0], "/sbin/enclaver-supervisor") == 0
              && strcmp (v[2], "/etc/enclaver/supervisor.json") == 0 && v[3] == NULL,
          "lines: /cmd read one argv element per line");
  rt_strv_free (v);
  snprintf (p, sizeof p, "%s/env", topdir);
  write_bytes (p, "PATH=/usr/bin:/bin\nA=with spaces and = signs\n\nLAST=no-newline",
               strlen ("PATH=/usr/bin:/bin\nA=with spaces and = signs\n\nLAST=no-newline"));
  tap_ok (init_read_lines (p, &v, &n, err, sizeof err) == 0 && n == 4
              && strcmp (v[1], "A=with spaces and = signs") == 0 && strcmp (v[2], "") == 0
              && strcmp (v[3], "LAST=no-newline") == 0,
          "lines: spaces kept, empty lines kept, last line without newline kept");
  rt_strv_free (v);
  snprintf (p, sizeof p, "%s/nul", topdir);
  write_bytes (p, "ok\nbad\0line\n", 12);
  TAP_INT_EQ (init_read_lines (p, &v, &n, err, sizeof err), -1, "lines: a NUL byte is refused");
  TAP_CONTAINS (err, "line 2", "lines: ... naming the line");
  snprintf (p, sizeof p, "%s/huge", topdir);
  huge = malloc (INIT_LINES_MAX_BYTES + 2);
  memset (huge, 'x', INIT_LINES_MAX_BYTES + 1);
  huge[INIT_LINES_MAX_BYTES + 1] = '\n';
  write_bytes (p, huge, INIT_LINES_MAX_BYTES + 2);
  free (huge);
  TAP_INT_EQ (init_read_lines (p, &v, &n, err, sizeof err), -1, "lines: an oversized file is refused");
  TAP_CONTAINS (err, "too large", "lines: ... as too large");
  for (i = 0; i < sizeof big - 1; i++)
    big[i] = (i % 2) ? '\n' : 'a';
  big[sizeof big - 1] = '\0';
  snprintf (p, sizeof p, "%s/many", topdir);
  write_bytes (p, big, strlen (big));
  tap_ok (init_read_lines (p, &v, &n, err, sizeof err) == 0 && n == 550,
          "lines: 550 short lines read");
  rt_strv_free (v);
  snprintf (p, sizeof p, "%s", topdir);
  TAP_INT_EQ (init_read_lines (p, &v, &n, err, sizeof err), -1, "lines: a directory is an error");
}

/* A one-shot heartbeat peer on a Unix socket, in a child process: reads one byte, answers
 * `reply` (or closes when reply < 0), and exits 0 only if the byte it read was 0xB7. */
static pid_t
peer (const char *addr, int reply)
{
  char err[256];
  int l = enclaver_transport_listen (addr, err, sizeof err);
  pid_t pid;
  if (l < 0)
    {
      tap_diag ("peer: %s", err);
      return -1;
    }
  fflush (stdout);
  pid = fork ();
  if (pid == 0)
    {
      unsigned char b = 0;
      int c;
      alarm (60); /* hang guard */
      c = enclaver_transport_accept (l, 0);
      if (c < 0 || read (c, &b, 1) != 1)
        _exit (2);
      if (reply >= 0)
        {
          unsigned char r = (unsigned char) reply;
          if (write (c, &r, 1) != 1)
            _exit (3);
        }
      close (c);
      _exit (b == INIT_HEARTBEAT_BYTE ? 0 : 1);
    }
  close (l);
  return pid;
}

static int
peer_status (pid_t pid)
{
  int st;
  if (pid <= 0 || waitpid (pid, &st, 0) != pid)
    return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

static void
test_heartbeat (void)
{
  char addr[420], err[512];
  pid_t p;

  snprintf (addr, sizeof addr, "unix:%s/hb", topdir);
  p = peer (addr, 0xB7);
  TAP_INT_EQ (init_heartbeat (addr, err, sizeof err), 0, "heartbeat: 0xB7 answered with 0xB7");
  TAP_INT_EQ (peer_status (p), 0, "heartbeat: the peer received exactly 0xB7");

  p = peer (addr, 0x00);
  TAP_INT_EQ (init_heartbeat (addr, err, sizeof err), -1, "heartbeat: a wrong answer fails");
  TAP_CONTAINS (err, "answered 0x00 instead of 0xB7", "heartbeat: ... naming the byte");
  peer_status (p);

  p = peer (addr, -1);
  TAP_INT_EQ (init_heartbeat (addr, err, sizeof err), -1, "heartbeat: no answer fails");
  TAP_CONTAINS (err, "closed the connection", "heartbeat: ... as a closed connection");
  peer_status (p);

  unlink (addr + 5);
  TAP_INT_EQ (init_heartbeat (addr, err, sizeof err), -1, "heartbeat: nobody listening fails");
  TAP_CONTAINS (err, addr, "heartbeat: ... naming the address");
  TAP_STR_EQ (INIT_HEARTBEAT_ADDR, "vsock:3:9000", "heartbeat: production address is CID 3 port 9000");
}

static void
test_describe (void)
{
  char buf[128];
  init_describe_status (3 << 8, buf, sizeof buf);
  TAP_STR_EQ (buf, "exited with code 3", "status text: exit code");
  init_describe_status (9, buf, sizeof buf);
  TAP_STR_EQ (buf, "killed by signal 9", "status text: signal");
}

/* The binary itself must refuse to act when it is not PID 1. */
static void
test_not_pid1 (void)
{
  char out[400], cmd[1200];
  FILE *f;
  char line[512] = "";
  int st;
  if (access (INIT_BIN, X_OK) != 0)
    {
      tap_ok (1, "init binary # SKIP %s is not built", INIT_BIN);
      return;
    }
  snprintf (out, sizeof out, "%s/init.err", topdir);
  snprintf (cmd, sizeof cmd, "'%s' 2>'%s' >/dev/null", INIT_BIN, out);
  st = system (cmd);
  TAP_INT_EQ (WIFEXITED (st) ? WEXITSTATUS (st) : -1, 2, "init binary: exits 2 when not PID 1");
  f = fopen (out, "r");
  if (f)
    {
      if (fgets (line, sizeof line, f) == NULL)
        line[0] = '\0';
      fclose (f);
    }
  TAP_CONTAINS (line, "must run as PID 1", "init binary: ... and says why");
}

int
main (void)
{
  const char *tmp = getenv ("TMPDIR");
  char cmd[400];
  snprintf (topdir, sizeof topdir, "%s/enclaver-init.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (topdir) == NULL)
    tap_skip_all ("cannot create a temporary directory");
  test_cmdline ();
  test_lines ();
  test_heartbeat ();
  test_describe ();
  test_not_pid1 ();
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", topdir);
  if (system (cmd) != 0)
    tap_diag ("cannot remove %s", topdir);
  return tap_done ();
}
