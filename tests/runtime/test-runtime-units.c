/* enclaver runtime units: transport addresses and sockets, the log replay ring, status
 * lines, NSM GetRandom decoding, the supervisor's configuration, User resolution, PATH
 * lookup and the app environment. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "tests/tap.h"
#include "nsm.h"
#include "rtutil.h"
#include "transport.h"
#include "supervisor/launch.h"
#include "supervisor/streams.h"
#include "supervisor/svconfig.h"
#include "supervisor/user.h"

static char topdir[256];

static void
write_file (const char *path, const char *text, mode_t mode)
{
  FILE *f = fopen (path, "w");
  if (f == NULL)
    {
      tap_diag ("cannot write %s: %s", path, strerror (errno));
      return;
    }
  fputs (text, f);
  fclose (f);
  chmod (path, mode);
}

static void
test_transport_parse (void)
{
  struct enclaver_transport_addr a;
  char err[256];
  char longpath[300];

  tap_ok (enclaver_transport_parse ("vsock:3:9000", &a, err, sizeof err) == 0
              && a.kind == ENCLAVER_TRANSPORT_VSOCK && a.cid == 3 && a.port == 9000,
          "transport: vsock:3:9000");
  tap_ok (enclaver_transport_parse ("vsock:any:17000", &a, err, sizeof err) == 0
              && a.cid == ENCLAVER_VSOCK_CID_ANY && a.port == 17000,
          "transport: vsock:any:17000");
  tap_ok (enclaver_transport_parse ("vsock:17001", &a, err, sizeof err) == 0
              && a.cid == ENCLAVER_VSOCK_CID_ANY && a.port == 17001,
          "transport: vsock:PORT means any CID");
  tap_ok (enclaver_transport_parse ("vsock:host:17002", &a, err, sizeof err) == 0 && a.cid == 2
              && enclaver_transport_parse ("vsock:parent:1", &a, err, sizeof err) == 0
              && a.cid == 3,
          "transport: host and parent CIDs");
  tap_ok (enclaver_transport_parse ("unix:/tmp/x.sock", &a, err, sizeof err) == 0
              && a.kind == ENCLAVER_TRANSPORT_UNIX && strcmp (a.path, "/tmp/x.sock") == 0,
          "transport: unix:PATH");
  TAP_INT_EQ (enclaver_transport_parse ("vsock:abc:1", &a, err, sizeof err), -1,
              "transport: bad CID refused");
  TAP_CONTAINS (err, "vsock:abc:1", "transport: ... and the message quotes the address");
  TAP_INT_EQ (enclaver_transport_parse ("vsock:1:4294967296", &a, err, sizeof err), -1,
              "transport: port beyond 32 bits refused");
  TAP_INT_EQ (enclaver_transport_parse ("vsock:", &a, err, sizeof err), -1,
              "transport: empty vsock address refused");
  TAP_INT_EQ (enclaver_transport_parse ("vsock:3:", &a, err, sizeof err), -1,
              "transport: missing port refused");
  TAP_INT_EQ (enclaver_transport_parse ("udp:127.0.0.1:80", &a, err, sizeof err), -1,
              "transport: unknown scheme refused");
  TAP_CONTAINS (err, "expected vsock:CID:PORT, unix:PATH or tcp:IPV4:PORT",
                "transport: ... with the grammar");
  TAP_INT_EQ (enclaver_transport_parse ("unix:", &a, err, sizeof err), -1,
              "transport: empty unix path refused");
  memset (longpath, 'a', sizeof longpath);
  memcpy (longpath, "unix:/", 6);
  longpath[sizeof longpath - 1] = '\0';
  TAP_INT_EQ (enclaver_transport_parse (longpath, &a, err, sizeof err), -1,
              "transport: unix path longer than sun_path refused");
  TAP_CONTAINS (err, "too long", "transport: ... saying it is too long");
}

static void
test_transport_sockets (void)
{
  char addr[420], path[400], err[512], buf[16];
  int l, c, s;
  struct stat st;

  snprintf (path, sizeof path, "%s/sock", topdir);
  snprintf (addr, sizeof addr, "unix:%s", path);
  l = enclaver_transport_listen (addr, err, sizeof err);
  tap_ok (l >= 0, "transport: listen on %s", addr);
  c = enclaver_transport_connect (addr, err, sizeof err);
  tap_ok (c >= 0, "transport: connect");
  s = enclaver_transport_accept (l, 0);
  tap_ok (s >= 0, "transport: accept");
  tap_ok (write (c, "ping", 4) == 4 && read (s, buf, sizeof buf) == 4 && memcmp (buf, "ping", 4) == 0,
          "transport: bytes flow client → server");
  tap_ok ((fcntl (s, F_GETFD) & FD_CLOEXEC) && (fcntl (c, F_GETFD) & FD_CLOEXEC)
              && (fcntl (l, F_GETFD) & FD_CLOEXEC),
          "transport: all descriptors are close-on-exec");
  close (c);
  close (s);
  close (l);
  /* A stale socket file is replaced... */
  l = enclaver_transport_listen (addr, err, sizeof err);
  tap_ok (l >= 0, "transport: a stale socket file from an earlier run is replaced");
  if (l >= 0)
    close (l);
  /* ...but never a regular file. */
  unlink (path);
  write_file (path, "precious", 0644);
  l = enclaver_transport_listen (addr, err, sizeof err);
  TAP_INT_EQ (l, -1, "transport: refuses to listen over a regular file");
  tap_ok (stat (path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 8,
          "transport: ... and leaves the file alone");
  TAP_CONTAINS (err, path, "transport: the error names the address");
  unlink (path);
  c = enclaver_transport_connect (addr, err, sizeof err);
  TAP_INT_EQ (c, -1, "transport: connect to nothing fails");
  TAP_CONTAINS (err, "connect to unix:", "transport: ... with the address in the message");
}

static void
test_ring (void)
{
  struct sv_ring r;
  size_t cap = 1000, total = 0, i, step;
  char *model = malloc (200000), *chunk = malloc (5000), *out = malloc (cap);
  int ok = 1;

  sv_ring_init (&r, cap);
  TAP_INT_EQ (r.len, 0, "ring: starts empty");
  /* Compare with a model (the whole history) for appends of many sizes. */
  for (step = 1; step < 60 && ok; step++)
    {
      size_t n = (step * 37) % 1500 + (step % 7 == 0 ? 1000 : 0);
      for (i = 0; i < n; i++)
        chunk[i] = (char) ('a' + (total + i) % 26 + (step % 3));
      memcpy (model + total, chunk, n);
      total += n;
      sv_ring_append (&r, chunk, n);
      {
        size_t keep = total < cap ? total : cap;
        sv_ring_copy (&r, out);
        if (r.len != keep || memcmp (out, model + total - keep, keep) != 0)
          {
            tap_diag ("mismatch after append %zu (n=%zu, total=%zu, len=%zu)", step, n, total,
                      r.len);
            ok = 0;
          }
      }
    }
  tap_ok (ok, "ring: always holds exactly the newest min(total, capacity) bytes, in order");
  sv_ring_free (&r);
  free (model);
  free (chunk);
  free (out);
}

static void
test_status_lines (void)
{
  char *l;
  json_t *j;
  json_error_t je;

  l = sv_status_line ("running", 0, NULL);
  TAP_STR_EQ (l, "{\"status\":\"running\"}\n", "status line: running");
  free (l);
  l = sv_status_line ("exited", 3, NULL);
  TAP_STR_EQ (l, "{\"status\":\"exited\",\"code\":3}\n", "status line: exited");
  free (l);
  l = sv_status_line ("signaled", 15, NULL);
  TAP_STR_EQ (l, "{\"status\":\"signaled\",\"signal\":15}\n",
              "status line: signaled carries a number");
  free (l);
  l = sv_status_line ("fatal", 0, "bad \"quote\" \\ and\nnewline\x01 caf\xc3\xa9 \xff end");
  TAP_STR_EQ (l,
              "{\"status\":\"fatal\",\"error\":\"bad \\\"quote\\\" \\\\ and\\nnewline\\u0001 "
              "caf\xc3\xa9 \\ufffd end\"}\n",
              "status line: fatal message escaped; valid UTF-8 kept, invalid bytes replaced");
  j = json_loads (l, JSON_DISABLE_EOF_CHECK, &je);
  tap_ok (j != NULL && json_is_string (json_object_get (j, "error")),
          "status line: a fatal line is valid JSON");
  json_decref (j);
  free (l);
}

static void
test_nsm (void)
{
  static const uint8_t want_req[] = { 0x69, 0x47, 0x65, 0x74, 0x52, 0x61, 0x6E, 0x64, 0x6F, 0x6D };
  uint8_t resp[400];
  const uint8_t *data;
  size_t n, len, i;
  char err[256];
  static const uint8_t head[] = { 0xA1, 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm',
                                  0xA1, 0x66, 'r', 'a', 'n', 'd', 'o', 'm' };
  static const uint8_t error_resp[] = { 0xA1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x70, 'I', 'n',
                                        'v', 'a', 'l', 'i', 'd', 'O', 'p', 'e', 'r', 'a',
                                        't', 'i', 'o', 'n' };

  tap_ok (memcmp (enclaver_nsm_get_random_request, want_req, sizeof want_req) == 0,
          "nsm: GetRandom request is the CBOR text \"GetRandom\" (69 47 65 74 ...)");
  /* 256 random bytes, as QEMU returns: 59 01 00 length head. */
  memcpy (resp, head, sizeof head);
  len = sizeof head;
  resp[len++] = 0x59;
  resp[len++] = 0x01;
  resp[len++] = 0x00;
  for (i = 0; i < 256; i++)
    resp[len++] = (uint8_t) (i * 7);
  tap_ok (enclaver_nsm_parse_get_random (resp, len, &data, &n, err, sizeof err) == 0 && n == 256
              && data == resp + sizeof head + 3 && data[255] == (uint8_t) (255 * 7),
          "nsm: 256-byte GetRandom response decoded");
  TAP_INT_EQ (enclaver_nsm_parse_get_random (resp, len - 1, &data, &n, err, sizeof err), -1,
              "nsm: truncated byte string refused");
  TAP_CONTAINS (err, "overruns", "nsm: ... as an overrun");
  resp[len] = 0;
  TAP_INT_EQ (enclaver_nsm_parse_get_random (resp, len + 1, &data, &n, err, sizeof err), -1,
              "nsm: trailing byte refused");
  TAP_CONTAINS (err, "trailing", "nsm: ... as trailing data");
  /* Short form length and a non-minimal 4-byte length are both accepted. */
  len = sizeof head;
  resp[len++] = 0x44;
  memcpy (resp + len, "\x01\x02\x03\x04", 4);
  len += 4;
  tap_ok (enclaver_nsm_parse_get_random (resp, len, &data, &n, err, sizeof err) == 0 && n == 4
              && data[3] == 4,
          "nsm: short byte string decoded");
  len = sizeof head;
  memcpy (resp + len, "\x5a\x00\x00\x00\x02\xaa\xbb", 7);
  len += 7;
  tap_ok (enclaver_nsm_parse_get_random (resp, len, &data, &n, err, sizeof err) == 0 && n == 2
              && data[1] == 0xbb,
          "nsm: any integer width accepted for the length");
  TAP_INT_EQ (enclaver_nsm_parse_get_random (error_resp, sizeof error_resp, &data, &n, err,
                                             sizeof err),
              -1, "nsm: Error response refused");
  TAP_CONTAINS (err, "InvalidOperation", "nsm: ... naming the NSM error code");
  TAP_INT_EQ (enclaver_nsm_parse_get_random (want_req, sizeof want_req, &data, &n, err,
                                             sizeof err),
              -1, "nsm: a bare text item is not a response");
  memcpy (resp, head, sizeof head);
  resp[8] = 'X'; /* GetRanXom */
  TAP_INT_EQ (enclaver_nsm_parse_get_random (resp, sizeof head + 1, &data, &n, err, sizeof err),
              -1, "nsm: other variant refused");
  TAP_CONTAINS (err, "GetRanXom", "nsm: ... naming it");
  for (i = 0; i < sizeof head; i++)
    if (enclaver_nsm_parse_get_random (head, i, &data, &n, err, sizeof err) != -1)
      break;
  TAP_INT_EQ (i, sizeof head, "nsm: every truncation of the header is refused");
  TAP_INT_EQ (enclaver_nsm_seed_rng ("/nonexistent/nsm", err, sizeof err), 0,
              "nsm: no device → seeding skipped quietly");
}

static void
test_config (void)
{
  struct sv_config c;
  char err[512], path[400];
  char **cmd;

  sv_config_init (&c);
  TAP_STR_EQ (c.status_addr, "vsock:any:17000", "config: default status address");
  TAP_STR_EQ (c.log_addr, "vsock:any:17001", "config: default log address");
  tap_ok (c.stop_timeout == 10 && c.linger == 3 && c.bootstrap == 1,
          "config: default stop timeout 10 s, linger 3 s, bootstrap on");
  snprintf (path, sizeof path, "%s/sv.json", topdir);
  write_file (path,
              "{\"version\":1,\"entrypoint\":[\"/app/run\",\"--x\"],\"cmd\":[\"serve\"],"
              "\"env\":[\"A=1\",\"B=x=y\"],\"workdir\":\"/srv\",\"user\":\"app:app\","
              "\"status_addr\":\"vsock:any:18000\",\"log_addr\":\"unix:/tmp/l\","
              "\"stop_timeout\":30,\"linger\":0,\"bootstrap\":false}",
              0644);
  tap_ok (sv_config_load_file (&c, path, err, sizeof err) == 0, "config: full file loads");
  cmd = sv_config_command (&c);
  tap_ok (rt_strv_len (cmd) == 3 && strcmp (cmd[0], "/app/run") == 0
              && strcmp (cmd[1], "--x") == 0 && strcmp (cmd[2], "serve") == 0,
          "config: command is Entrypoint followed by Cmd");
  rt_strv_free (cmd);
  tap_ok (rt_strv_len (c.env) == 2 && strcmp (c.env[1], "B=x=y") == 0
              && strcmp (c.workdir, "/srv") == 0 && strcmp (c.user, "app:app") == 0
              && strcmp (c.status_addr, "vsock:any:18000") == 0
              && strcmp (c.log_addr, "unix:/tmp/l") == 0 && c.stop_timeout == 30
              && c.linger == 0 && c.bootstrap == 0,
          "config: every key read");
  sv_config_free (&c);

#define CFG_BAD(text, needle, what)                                                        \
  do                                                                                       \
    {                                                                                      \
      sv_config_init (&c);                                                                 \
      TAP_INT_EQ (sv_config_load_buffer (&c, text, strlen (text), "t.json", err, sizeof err), \
                  -1, "config: %s refused", what);                                         \
      TAP_CONTAINS (err, needle, "config: %s: message", what);                             \
      sv_config_free (&c);                                                                 \
    }                                                                                      \
  while (0)

  CFG_BAD ("[1]", "must be a JSON object", "non-object");
  CFG_BAD ("{\"cmd\":[\"a\"],\"cmd\":[\"b\"]}", "t.json:", "duplicate key");
  CFG_BAD ("{\"cmd\":\"a\"}", "\"cmd\" must be an array", "string cmd");
  CFG_BAD ("{\"cmd\":[\"a\",2]}", "cmd[1]", "non-string element");
  CFG_BAD ("{\"argv\":[\"a\\u0000b\"]}", "t.json:1:", "NUL in argv");
  CFG_BAD ("{\"env\":[\"NOEQUALS\"]}", "env[0] \"NOEQUALS\"", "env without =");
  CFG_BAD ("{\"env\":[\"=v\"]}", "env[0]", "env with empty name");
  CFG_BAD ("{\"workdir\":\"rel/dir\"}", "absolute", "relative workdir");
  CFG_BAD ("{\"version\":2}", "version", "version 2");
  CFG_BAD ("{\"linger\":-1}", "out of range", "negative linger");
  CFG_BAD ("{\"stop_timeout\":\"10\"}", "integer number of seconds", "string stop_timeout");
  CFG_BAD ("{\"bootstrap\":1}", "true or false", "numeric bootstrap");
  CFG_BAD ("{\"Cmd\":[]}", "unknown key \"Cmd\"", "unknown key");
  CFG_BAD ("{\"cmd\":[", "t.json:1:", "truncated JSON");

  sv_config_init (&c);
  tap_ok (sv_config_load_buffer (&c, "{\"cmd\":[\"a\",\"b\"],\"entrypoint\":null}", 35, "t",
                                 err, sizeof err)
              == 0,
          "config: null entrypoint accepted");
  cmd = sv_config_command (&c);
  tap_ok (rt_strv_len (cmd) == 2 && strcmp (cmd[0], "a") == 0, "config: Cmd alone is the command");
  rt_strv_free (cmd);
  sv_config_free (&c);
  sv_config_init (&c);
  cmd = sv_config_command (&c);
  TAP_INT_EQ (rt_strv_len (cmd), 0, "config: no Entrypoint, no Cmd → empty command");
  rt_strv_free (cmd);
  sv_config_free (&c);
  sv_config_init (&c);
  TAP_INT_EQ (sv_config_load_file (&c, "/nonexistent/x.json", err, sizeof err), -1,
              "config: missing file refused");
  TAP_CONTAINS (err, "/nonexistent/x.json", "config: ... naming it");
  TAP_INT_EQ (sv_config_load_file (&c, topdir, err, sizeof err), -1,
              "config: a directory is refused");
  sv_config_free (&c);
}

static void
test_user (void)
{
  char root[400], p[500], err[512];
  struct sv_user u;

  snprintf (root, sizeof root, "%s/rootfs", topdir);
  mkdir (root, 0755);
  snprintf (p, sizeof p, "%s/etc", root);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/etc/passwd", root);
  write_file (p,
              "root:x:0:0:root:/root:/bin/sh\n"
              "app:x:1000:1000:App:/home/app:/bin/sh\n"
              "web:x:33:33::/var/www:/usr/sbin/nologin\n"
              "1001:x:2000:2000::/home/numeric:/bin/sh\n"
              "nohome:x:1200:1200:::/bin/sh\n",
              0644);
  snprintf (p, sizeof p, "%s/etc/group", root);
  write_file (p,
              "root:x:0:\n"
              "app:x:1000:\n"
              "www-data:x:33:app\n"
              "docker:x:999:web,app\n"
              "staff:x:50:\n",
              0644);

  tap_ok (sv_user_resolve (root, "", &u, err, sizeof err) == 0 && u.uid == 0 && u.gid == 0
              && strcmp (u.home, "/root") == 0,
          "user: empty → root, HOME from passwd");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "app", &u, err, sizeof err) == 0 && u.uid == 1000
              && u.gid == 1000 && strcmp (u.home, "/home/app") == 0 && u.ngroups == 3
              && u.groups[0] == 1000 && u.groups[1] == 33 && u.groups[2] == 999,
          "user: name → uid, primary gid, supplementary groups listing the name");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "1000", &u, err, sizeof err) == 0 && u.uid == 1000
              && u.gid == 1000 && u.ngroups == 3 && strcmp (u.home, "/home/app") == 0,
          "user: uid present in passwd → same as its name");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "1001", &u, err, sizeof err) == 0 && u.uid == 2000
              && strcmp (u.home, "/home/numeric") == 0,
          "user: a numeric spec matches a user *named* 1001 first (runc order)");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "5000", &u, err, sizeof err) == 0 && u.uid == 5000
              && u.gid == 0 && strcmp (u.home, "/") == 0 && u.ngroups == 1,
          "user: unknown uid → gid 0, HOME /");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "app:staff", &u, err, sizeof err) == 0 && u.uid == 1000
              && u.gid == 50 && u.ngroups == 1 && u.groups[0] == 50,
          "user: name:group → that group only");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "web:777", &u, err, sizeof err) == 0 && u.uid == 33
              && u.gid == 777,
          "user: name:gid with an unknown gid is used as is");
  sv_user_free (&u);
  tap_ok (sv_user_resolve (root, "nohome", &u, err, sizeof err) == 0
              && strcmp (u.home, "/") == 0,
          "user: empty home field → /");
  sv_user_free (&u);
  TAP_INT_EQ (sv_user_resolve (root, "ghost", &u, err, sizeof err), -1,
              "user: unknown name refused");
  TAP_CONTAINS (err, "unable to find user ghost: no matching entries in", "user: ... Docker's words");
  TAP_CONTAINS (err, "/rootfs/etc/passwd", "user: ... naming the file");
  TAP_INT_EQ (sv_user_resolve (root, "app:nogroup", &u, err, sizeof err), -1,
              "user: unknown group name refused");
  TAP_CONTAINS (err, "unable to find group nogroup", "user: ... saying which group");
  /* A rootfs without etc/passwd and etc/group: only numbers work. */
  tap_ok (sv_user_resolve (topdir, "10:20", &u, err, sizeof err) == 0 && u.uid == 10
              && u.gid == 20,
          "user: no passwd/group files → numeric uid:gid still works");
  sv_user_free (&u);
  TAP_INT_EQ (sv_user_resolve (topdir, "app", &u, err, sizeof err), -1,
              "user: no passwd file → names refused");
  TAP_INT_EQ (sv_user_resolve (root, "99999999999", &u, err, sizeof err), -1,
              "user: a uid beyond 32 bits is not a number (and no such name)");
}

static void
test_find_program (void)
{
  char d1[400], d2[400], p[500], path[900], err[512], cwd[512];
  char *r;

  snprintf (d1, sizeof d1, "%s/bin1", topdir);
  snprintf (d2, sizeof d2, "%s/bin2", topdir);
  mkdir (d1, 0755);
  mkdir (d2, 0755);
  snprintf (p, sizeof p, "%s/tool", d1);
  write_file (p, "#!/bin/sh\n", 0644); /* not executable */
  snprintf (p, sizeof p, "%s/tool", d2);
  write_file (p, "#!/bin/sh\n", 0755);
  snprintf (p, sizeof p, "%s/only-data", d1);
  write_file (p, "x", 0644);
  mkdir (strcat (strcpy (p, d1), "/adir"), 0755);
  snprintf (path, sizeof path, "%s:%s", d1, d2);

  r = rt_find_program ("tool", path, err, sizeof err);
  snprintf (p, sizeof p, "%s/tool", d2);
  TAP_STR_EQ (r, p, "PATH lookup skips a non-executable match and takes the next one");
  free (r);
  r = rt_find_program ("only-data", path, err, sizeof err);
  tap_ok (r == NULL && errno == EACCES, "PATH lookup: only a non-executable match → EACCES");
  TAP_CONTAINS (err, "not executable", "PATH lookup: ... said so");
  r = rt_find_program ("adir", path, err, sizeof err);
  tap_ok (r == NULL, "PATH lookup: a directory is not a program");
  r = rt_find_program ("nothing-here", path, err, sizeof err);
  tap_ok (r == NULL && errno == ENOENT, "PATH lookup: missing → ENOENT");
  TAP_CONTAINS (err, "executable file not found in PATH", "PATH lookup: ... Docker-like words");
  r = rt_find_program ("sh", NULL, err, sizeof err);
  tap_ok (r != NULL && r[0] == '/', "PATH lookup: NULL PATH uses the default (found sh at %s)",
          r ? r : "(null)");
  free (r);
  snprintf (p, sizeof p, "%s/tool", d2);
  r = rt_find_program (p, "/nonexistent", err, sizeof err);
  TAP_STR_EQ (r, p, "a name with a slash is not looked up");
  free (r);
  r = rt_find_program ("", path, err, sizeof err);
  tap_ok (r == NULL, "an empty program name is refused");
  /* An empty PATH element is the current directory. */
  if (getcwd (cwd, sizeof cwd) && chdir (d2) == 0)
    {
      r = rt_find_program ("tool", "/nonexistent:", err, sizeof err);
      TAP_STR_EQ (r, "./tool", "an empty PATH element means the current directory");
      free (r);
      if (chdir (cwd) != 0)
        tap_diag ("cannot return to %s", cwd);
    }
}

static void
test_launch_env (void)
{
  char *img[] = { (char *) "A=1", (char *) "PATH=/x", NULL };
  char *img2[] = { (char *) "HOME=/h", NULL };
  char **e = sv_launch_env (img, "/home/u");
  tap_ok (rt_strv_len (e) == 3 && strcmp (e[0], "A=1") == 0 && strcmp (e[1], "PATH=/x") == 0
              && strcmp (e[2], "HOME=/home/u") == 0,
          "env: image PATH kept, HOME added from passwd");
  rt_strv_free (e);
  e = sv_launch_env (img2, "/home/u");
  TAP_STR_EQ (rt_env_get (e, "HOME"), "/h", "env: image HOME kept");
  TAP_STR_EQ (rt_env_get (e, "PATH"), RT_DEFAULT_PATH, "env: Docker's default PATH added");
  rt_strv_free (e);
  e = sv_launch_env (NULL, NULL);
  TAP_STR_EQ (rt_env_get (e, "HOME"), "/", "env: no passwd home → HOME=/");
  rt_strv_free (e);
}

static int
rm_cb (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (p);
}

/* The log stream's lossy client queue (streams.h): a client that does not read holds
 * at most SV_CLIENT_MAX_PENDING bytes; what follows is dropped and counted, and once it
 * has read half of its queue a note with the count goes into its stream, before any
 * newer bytes.  A status (not lossy) client is closed instead. */
static void
test_lossy_queue (void)
{
  int sp[2], flags;
  struct sv_server srv;
  struct sv_client *c;
  struct pollfd p[2];
  static char chunk[65536];
  char note[200], *got;
  size_t total = 0, kept, got_len = 0, cap = 16u << 20, n, i;
  unsigned long long dropped;
  int k, rounds = 0;

  memset (&srv, 0, sizeof srv);
  srv.name = "log";
  srv.lfd = -1;
  srv.lossy = 1;
  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sp) < 0)
    {
      tap_ok (0, "lossy queue: socketpair: %s", strerror (errno));
      return;
    }
  flags = fcntl (sp[1], F_GETFL);
  fcntl (sp[1], F_SETFL, flags | O_NONBLOCK);
  c = xcalloc (1, sizeof *c);
  c->fd = sp[0];
  c->server = &srv;
  c->id = 1;
  srv.clients = c;
  srv.nclients = 1;
  memset (chunk, 'a', sizeof chunk);
  chunk[sizeof chunk - 1] = '\n';
  for (k = 0; k < 128; k++) /* 8 MiB to a client that reads nothing */
    {
      sv_client_queue (c, chunk, sizeof chunk);
      total += sizeof chunk;
    }
  tap_ok (c->fd >= 0, "lossy queue: the slow client stays connected");
  tap_ok (c->len - c->off <= SV_CLIENT_MAX_PENDING, "lossy queue: at most %u bytes queued (%zu)",
          SV_CLIENT_MAX_PENDING, c->len - c->off);
  dropped = c->dropped;
  tap_ok (dropped > 0 && dropped == c->dropped_all, "lossy queue: the bytes past it are counted (%llu)", dropped);
  /* The client reads everything; the server is serviced as poll would. */
  got = xmalloc (cap);
  for (;;)
    {
      ssize_t r = read (sp[1], got + got_len, cap - got_len);
      if (r > 0)
        got_len += (size_t) r;
      memset (p, 0, sizeof p);
      n = sv_server_fill (&srv, p);
      p[0].revents = p[0].events & POLLOUT;
      sv_server_service (&srv, p, n);
      if (r <= 0 && srv.clients && srv.clients->len == srv.clients->off && ++rounds > 3)
        break;
    }
  kept = got_len;
  n = sv_drop_note (note, sizeof note, 0, dropped);
  tap_ok (kept > n && memcmp (got + kept - n, note, n) == 0, "lossy queue: the note follows the kept bytes: %.*s",
          (int) n - 1, note);
  tap_ok (kept - n + dropped == total, "lossy queue: kept + dropped = written (%zu + %llu = %zu)", kept - n,
          dropped, total);
  for (i = 0; i + n < kept && got[i] == (i % sizeof chunk == sizeof chunk - 1 ? '\n' : 'a'); i++)
    ;
  tap_ok (i == kept - n, "lossy queue: what was kept is whole chunks, in order");
  tap_ok (c->dropped == 0 && c->dropped_all == dropped, "lossy queue: the count restarts after the note");
  sv_client_queue (c, "next\n", 5);
  n = 0;
  for (k = 0; k < 100 && n < 5; k++)
    {
      ssize_t r = read (sp[1], got + n, 5 - n);
      if (r > 0)
        n += (size_t) r;
    }
  tap_ok (n == 5 && memcmp (got, "next\n", 5) == 0, "lossy queue: newer bytes flow again after it");
  n = sv_drop_note (note, sizeof note, 1, 7);
  tap_ok (note[0] == '\n' && strstr (note, "[enclaver-supervisor: 7 bytes of output dropped here") == note + 1,
          "lossy queue: a note after a partial line starts a line of its own");
  /* not lossy: the status stream closes such a client */
  srv.lossy = 0;
  for (k = 0; k < 128 && c->fd >= 0; k++)
    sv_client_queue (c, chunk, sizeof chunk);
  tap_ok (c->fd < 0, "status queue: a client 4 MiB behind is closed");
  sv_server_close (&srv);
  close (sp[1]);
  free (got);
}

int
main (void)
{
  const char *tmp = getenv ("TMPDIR");
  snprintf (topdir, sizeof topdir, "%s/enclaver-rtu.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (topdir) == NULL)
    tap_skip_all ("cannot create a temporary directory");
  test_transport_parse ();
  test_transport_sockets ();
  test_ring ();
  test_lossy_queue ();
  test_status_lines ();
  test_nsm ();
  test_config ();
  test_user ();
  test_find_program ();
  test_launch_env ();
  nftw (topdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return tap_done ();
}
