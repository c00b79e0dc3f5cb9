/* enclaver run: launch an enclave.  On a Nitro host this will drive /dev/nitro_enclaves;
 * today `--qemu` boots the EIF's kernel and ramdisks under QEMU so an enclave can be
 * tried locally (emulation: no attestation, no isolation). */
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

#include <archive.h>
#include <archive_entry.h>

#include <enclaver/eif.h>
#include <enclaver/image.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "util.h"

/* Enclaver's exit codes (ENCLAVER.md §8). */
enum
{
  EXIT_APP_SIGNALED = 107,
  EXIT_ENCLAVE_FATAL = 108,
  EXIT_INTERRUPTED = 109,
};

static const char run_help[] =
  "Usage: enclaver run --qemu [OPTIONS] EIF_OR_IMAGE\n"
  "\n"
  "Launch an enclave.  Running on Nitro hardware (/dev/nitro_enclaves) is not available\n"
  "in this version; --qemu boots the enclave's kernel and ramdisks under QEMU instead, to\n"
  "try an image locally.  That is EMULATION: no attestation document, no isolation, and\n"
  "the kernel command line gets enclaver.heartbeat=off (which a real enclave must never\n"
  "have, since it is part of what PCR0/PCR1 measure only when written into the EIF).\n"
  "\n"
  "EIF_OR_IMAGE is an .eif file, or a wrapper image made by `enclaver build`:\n"
  "oci:DIR, oci-archive:FILE, docker-archive:FILE, or an OCI layout directory.\n"
  "\n"
  "Options:\n"
  "      --qemu               boot under QEMU (required for now)\n"
  "  -m, --memory-mb MB       guest memory (default 512)\n"
  "      --cpu-count N        guest CPUs (default 1)\n"
  "      --timeout SECONDS    stop the enclave after this long (exit 108)\n"
  "      --qemu-binary PATH   QEMU to run (default qemu-system-x86_64 / -aarch64)\n"
  "      --console            show the kernel's boot messages too\n" CLI_COMMON_HELP
  "  -h, --help               this help\n"
  "\n"
  "Exit codes (as Enclaver's): the app's exit code; 107 the app was killed by a signal;\n"
  "108 the enclave failed (supervisor fatal error, no report, timeout); 109 interrupted\n"
  "(SIGINT/SIGTERM); 1 the input could not be read; 2 usage error.\n";

enum
{
  OPT_QEMU = 0x100,
  OPT_CPUS,
  OPT_TIMEOUT,
  OPT_QEMU_BIN,
  OPT_CONSOLE,
};

static char tmpdir[256];

static void
cleanup_tmpdir (void)
{
  static const char *const names[] = { "kernel", "initrd", "application.eif" };
  size_t i;
  if (tmpdir[0] == '\0')
    return;
  for (i = 0; i < ARRAY_SIZE (names); i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", tmpdir, names[i]);
      unlink (p);
    }
  rmdir (tmpdir);
  tmpdir[0] = '\0';
}

/* Copy len bytes at offset of fd into path. */
static int
copy_range (int fd, uint64_t offset, uint64_t len, int out, const char *what, enclaver_error_t *err)
{
  char buf[1 << 16];
  while (len > 0)
    {
      size_t want = len < sizeof buf ? (size_t) len : sizeof buf;
      ssize_t n = pread (fd, buf, want, (off_t) offset);
      if (n <= 0)
        return enclaver_make_errno (err, n < 0 ? errno : EIO, "read %s", what);
      if (enclaver_write_all (out, buf, (size_t) n) < 0)
        return enclaver_make_errno (err, errno, "write %s", what);
      offset += (uint64_t) n;
      len -= (uint64_t) n;
    }
  return 0;
}

/* Extract enclave/application.eif from the wrapper image's layers (top layer first). */
static char *
eif_from_image (const char *source, enclaver_error_t *err)
{
  struct enclaver_image_options o;
  struct enclaver_image *img;
  cleanup_free char *src = NULL;
  char *out = NULL;
  size_t i;

  /* A directory is told apart by enclaver_image_fetch (oci layout or skopeo dir:). */
  src = xstrdup (source);
  enclaver_image_options_init (&o);
  o.progress = 0;
  img = enclaver_image_fetch (src, &o, err);
  if (img == NULL)
    return NULL;
  for (i = img->n_layers; i > 0 && out == NULL; i--)
    {
      enclaver_layer_stream_t *ls = enclaver_layer_open (img, i - 1, err);
      struct archive *a;
      struct archive_entry *e;
      if (ls == NULL)
        break;
      a = enclaver_layer_archive (ls, err);
      while (a && archive_read_next_header (a, &e) == ARCHIVE_OK)
        {
          const char *name = archive_entry_pathname (e);
          if (name && (strcmp (name, "enclave/application.eif") == 0 || strcmp (name, "./enclave/application.eif") == 0))
            {
              cleanup_free char *path = xasprintf ("%s/application.eif", tmpdir);
              int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
              if (fd < 0)
                {
                  enclaver_make_errno (err, errno, "create %s", path);
                  break;
                }
              if (archive_read_data_into_fd (a, fd) != ARCHIVE_OK)
                enclaver_make_error (err, EIO, "%s: enclave/application.eif: %s", src, archive_error_string (a));
              else
                out = xstrdup (path);
              close (fd);
              break;
            }
        }
      if (a)
        archive_read_free (a);
      enclaver_layer_close (ls);
      if (err && *err)
        break;
    }
  if (out == NULL && (err == NULL || *err == NULL))
    enclaver_make_error (err, ENOENT, "%s has no enclave/application.eif: not an enclaver wrapper image", src);
  enclaver_image_free (img);
  return out;
}

/* Lines of the firmware and kernel log, hidden unless --console. */
static int
firmware_or_kernel_line (const char *l)
{
  const char *p = l;
  if (strchr (l, '\033') != NULL || strncmp (l, "SeaBIOS", 7) == 0 || strncmp (l, "Booting from", 12) == 0)
    return 1;
  if (*p++ != '[')
    return 0;
  while (*p == ' ')
    p++;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p++ != '.')
    return 0;
  while (*p >= '0' && *p <= '9')
    p++;
  return *p == ']';
}

static volatile sig_atomic_t got_signal;
static void
on_signal (int s)
{
  got_signal = s;
}

int
cmd_run (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "qemu", no_argument, NULL, OPT_QEMU },
    { "memory-mb", required_argument, NULL, 'm' },
    { "cpu-count", required_argument, NULL, OPT_CPUS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "qemu-binary", required_argument, NULL, OPT_QEMU_BIN },
    { "console", no_argument, NULL, OPT_CONSOLE },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int c, qemu = 0, console = 0, rc = EXIT_ENCLAVE_FATAL;
  long mem = 512, cpus = 1, timeout = 0;
  const char *qemu_bin = NULL, *input;
  cleanup_free char *eif = NULL, *kpath = NULL, *ipath = NULL, *append = NULL;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  int fd = -1, kfd = -1, ifd = -1, pipefd[2] = { -1, -1 }, reported = 0;
  pid_t pid;
  unsigned i;
  FILE *f;
  char line[4096];

  memset (&info, 0, sizeof info);
  while ((c = getopt_long (argc, argv, "hm:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
    {
      int r = cli_common_option (c, optarg);
      char *end;
      if (r < 0)
        return EXIT_USAGE;
      if (r > 0)
        continue;
      switch (c)
        {
        case OPT_QEMU:
          qemu = 1;
          break;
        case 'm':
          mem = strtol (optarg, &end, 10);
          if (*end || mem < 64 || mem > 1048576)
            return cli_usage_error ("run", "--memory-mb: '%s' is not a number from 64 to 1048576", optarg);
          break;
        case OPT_CPUS:
          cpus = strtol (optarg, &end, 10);
          if (*end || cpus < 1 || cpus > 256)
            return cli_usage_error ("run", "--cpu-count: '%s' is not a number from 1 to 256", optarg);
          break;
        case OPT_TIMEOUT:
          timeout = strtol (optarg, &end, 10);
          if (*end || timeout < 1)
            return cli_usage_error ("run", "--timeout: '%s' is not a positive number of seconds", optarg);
          break;
        case OPT_QEMU_BIN:
          qemu_bin = optarg;
          break;
        case OPT_CONSOLE:
          console = 1;
          break;
        case 'h':
          fputs (run_help, stdout);
          return EXIT_OK;
        default:
          return cli_usage_error ("run", "invalid option");
        }
    }
  if (!qemu)
    {
      fprintf (stderr, "enclaver run: running on Nitro hardware is not available yet in this version of "
                       "enclaver; use --qemu to boot the enclave under QEMU\n");
      return EXIT_USAGE;
    }
  if (optind + 1 != argc)
    return cli_usage_error ("run", "expected one EIF or image, got %d arguments", argc - optind);
  input = argv[optind];

  snprintf (tmpdir, sizeof tmpdir, "%s/enclaver-run-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  if (mkdtemp (tmpdir) == NULL)
    {
      tmpdir[0] = '\0';
      enclaver_make_errno (&err, errno, "create a temporary directory");
      return cli_fail (&err);
    }
  atexit (cleanup_tmpdir);

  {
    /* The library's rule: an existing path is read by its bytes (EIF or image), a missing
     * path-like name is "no such file", anything else a registry reference. */
    struct enclaver_image_ref *ref = enclaver_image_source_resolve (input, &err);
    if (ref == NULL)
      return cli_fail (&err);
    eif = ref->transport == ENCLAVER_TRANSPORT_EIF ? xstrdup (ref->file) : eif_from_image (input, &err);
    enclaver_image_ref_free (ref);
    if (eif == NULL)
      return cli_fail (&err);
  }

  fd = open (eif, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      enclaver_make_errno (&err, errno, "open %s", eif);
      return cli_fail (&err);
    }
  if (enclaver_eif_read_fd (fd, eif, ENCLAVER_EIF_READ_NO_SIGNATURE_CHECK, &info, &err) < 0
      || enclaver_eif_check (&info, &err) < 0)
    {
      close (fd);
      enclaver_eif_info_clear (&info);
      return cli_fail (&err);
    }
  kpath = xasprintf ("%s/kernel", tmpdir);
  ipath = xasprintf ("%s/initrd", tmpdir);
  kfd = open (kpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ifd = open (ipath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (kfd < 0 || ifd < 0)
    {
      enclaver_make_errno (&err, errno, "create files in %s", tmpdir);
      goto fail;
    }
  for (i = 0; i < info.num_sections; i++)
    {
      const struct enclaver_eif_section_info *s = &info.sections[i];
      uint64_t data = s->offset + ENCLAVER_EIF_SECTION_HEADER_SIZE;
      if (s->type == ENCLAVER_EIF_SECTION_KERNEL && copy_range (fd, data, s->size, kfd, "kernel", &err) < 0)
        goto fail;
      if (s->type == ENCLAVER_EIF_SECTION_RAMDISK && copy_range (fd, data, s->size, ifd, "ramdisk", &err) < 0)
        goto fail;
      if (s->type == ENCLAVER_EIF_SECTION_CMDLINE)
        {
          cleanup_free char *cl = xmalloc0 (s->size + 1);
          if (s->size > 65536 || pread (fd, cl, s->size, (off_t) data) != (ssize_t) s->size)
            {
              enclaver_make_error (&err, EIO, "%s: cannot read the kernel command line", eif);
              goto fail;
            }
          append = xasprintf ("%s enclaver.heartbeat=off%s", cl, console ? "" : " quiet loglevel=2");
        }
    }
  close (kfd);
  close (ifd);
  kfd = ifd = -1;
  close (fd);
  fd = -1;

  if (qemu_bin == NULL)
    qemu_bin = (info.flags & 1) ? "qemu-system-aarch64" : "qemu-system-x86_64";
  enclaver_log_info ("booting %s under QEMU (emulation: no attestation, no isolation)", eif);

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    {
      enclaver_make_errno (&err, errno, "pipe");
      goto fail;
    }
  pid = fork ();
  if (pid < 0)
    {
      enclaver_make_errno (&err, errno, "fork");
      goto fail;
    }
  if (pid == 0)
    {
      char m[32], n[32];
      const char *args[32];
      int k = 0;
      snprintf (m, sizeof m, "%ld", mem);
      snprintf (n, sizeof n, "%ld", cpus);
      dup2 (pipefd[1], 1);
      dup2 (pipefd[1], 2);
      setpgid (0, 0);
      args[k++] = qemu_bin;
      args[k++] = "-nographic";
      args[k++] = "-no-reboot";
      args[k++] = "-nodefaults";
      args[k++] = "-serial";
      args[k++] = "stdio";
      args[k++] = "-m";
      args[k++] = m;
      args[k++] = "-smp";
      args[k++] = n;
      if (info.flags & 1)
        {
          args[k++] = "-machine";
          args[k++] = "virt";
          args[k++] = "-cpu";
          args[k++] = "max";
        }
      args[k++] = "-kernel";
      args[k++] = kpath;
      args[k++] = "-initrd";
      args[k++] = ipath;
      args[k++] = "-append";
      args[k++] = append;
      args[k] = NULL;
      execvp (qemu_bin, (char *const *) args);
      fprintf (stderr, "enclaver run: cannot run %s: %s\n", qemu_bin, strerror (errno));
      _exit (127);
    }
  close (pipefd[1]);
  pipefd[1] = -1;
  {
    /* No SA_RESTART: a signal must interrupt the blocking read of QEMU's output. */
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    if (timeout)
      {
        sigaction (SIGALRM, &sa, NULL);
        alarm ((unsigned) timeout);
      }
  }

  f = fdopen (pipefd[0], "r");
  pipefd[0] = -1;
  for (;;)
    {
      int code;
      if (got_signal)
        {
          kill (-pid, SIGTERM);
          break;
        }
      if (fgets (line, sizeof line, f) == NULL)
        {
          if (errno == EINTR && got_signal)
            continue;
          break;
        }
      if (console || !firmware_or_kernel_line (line))
        {
          fputs (line, stdout);
          fflush (stdout);
        }
      /* The supervisor's status lines say how the app ended; init's line is the
         fallback when the enclave runs the app without the supervisor. */
      if (sscanf (line, "enclaver-supervisor: status {\"status\":\"exited\",\"code\":%d", &code) == 1)
        reported = 2, rc = code & 0xff;
      else if (sscanf (line, "enclaver-supervisor: status {\"status\":\"signaled\",\"signal\":%d", &code) == 1)
        reported = 2, rc = EXIT_APP_SIGNALED;
      else if (strncmp (line, "enclaver-supervisor: status {\"status\":\"fatal\"", 46) == 0)
        reported = 2, rc = EXIT_ENCLAVE_FATAL;
      else if (reported < 2 && sscanf (line, "enclaver-init: cmd exited with code %d", &code) == 1)
        reported = 1, rc = code & 0xff;
      else if (reported < 2 && sscanf (line, "enclaver-init: cmd killed by signal %d", &code) == 1)
        reported = 1, rc = EXIT_APP_SIGNALED;
      else if (strncmp (line, "enclaver-init: fatal:", 21) == 0)
        reported = 1, rc = EXIT_ENCLAVE_FATAL;
    }
  fclose (f);
  {
    int status;
    if (got_signal)
      kill (-pid, SIGTERM);
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
      ;
    if (got_signal == SIGALRM)
      {
        enclaver_log_error ("the enclave did not finish within %ld s", timeout);
        rc = EXIT_ENCLAVE_FATAL;
      }
    else if (got_signal)
      rc = EXIT_INTERRUPTED;
    else if (!reported)
      {
        enclaver_log_error ("the enclave stopped without reporting how its command ended (QEMU %s %d)",
                            WIFEXITED (status) ? "exit status" : "signal",
                            WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
        rc = EXIT_ENCLAVE_FATAL;
      }
  }
  enclaver_eif_info_clear (&info);
  return rc;

fail:
  if (fd >= 0)
    close (fd);
  if (kfd >= 0)
    close (kfd);
  if (ifd >= 0)
    close (ifd);
  enclaver_eif_info_clear (&info);
  return cli_fail (&err);
}
