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
#include <enclaver/manifest.h>
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
  "Usage: enclaver run --qemu [OPTIONS] [EIF_OR_IMAGE]\n"
  "\n"
  "Launch an enclave.  Running on Nitro hardware (/dev/nitro_enclaves) is not available\n"
  "in this version; --qemu boots the enclave's kernel and ramdisks under QEMU instead, to\n"
  "try an image locally.  That is EMULATION: no attestation document, no isolation, and\n"
  "the kernel command line gets enclaver.heartbeat=off (which a real enclave must never\n"
  "have, since it is part of what PCR0/PCR1 measure only when written into the EIF).\n"
  "\n"
  "EIF_OR_IMAGE is an .eif file, or a wrapper image made by `enclaver build` in any form\n"
  "`enclaver image` reads (a file or directory, told apart by its bytes; oci:DIR,\n"
  "oci-archive:FILE, docker-archive:FILE, dir:DIR, docker-daemon:NAME, or a registry\n"
  "reference).  A path that does not exist is an error at once, never a registry lookup.\n"
  "A wrapper image's enclave/enclaver.yaml gives the defaults.\n"
  "Without it, the manifest (-f, default ./enclaver.yaml) names the image: its build\n"
  "output (output.image.destination, else <manifest dir>/<name>-image[.tar]) when that\n"
  "exists, else its `target`.\n"
  "\n"
  "Options:\n"
  "      --qemu               boot under QEMU (required for now)\n"
  "  -f, --file FILE          the manifest naming the image (not with EIF_OR_IMAGE)\n"
  "      --eif-path FILE      the EIF to run (nitro-cli's spelling of EIF_OR_IMAGE)\n"
  "  -m, --memory-mb MB       guest memory (default: the manifest's defaults.memory_mb,\n"
  "                           else 4096); --memory MB is nitro-cli's spelling\n"
  "      --cpu-count N        guest CPUs (default: defaults.cpu_count, else 2)\n"
  "      --timeout SECONDS    stop the enclave after this long (exit 108)\n"
  "      --qemu-binary PATH   QEMU to run (default qemu-system-x86_64 / -aarch64)\n"
  "      --console            show the kernel's boot messages too (escape sequences\n"
  "                           such as the firmware's clear-screen are removed);\n"
  "                           --attach-console is nitro-cli's spelling\n"
  "  -d, --debug-mode         accepted for nitro-cli and Enclaver scripts: under QEMU\n"
  "                           the console is always readable, so it implies --console\n"
  CLI_COMMON_HELP
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
  OPT_EIF_PATH,
};

static char tmpdir[256];

static void
cleanup_tmpdir (void)
{
  static const char *const names[] = { "kernel", "initrd", "application.eif", "enclaver.yaml" };
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

/* Extract one layer entry into tmpdir/NAME. */
static int
extract_entry (struct archive *a, const char *src, const char *entry, const char *name, char **out,
               enclaver_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", tmpdir, name);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "create %s", path);
  if (archive_read_data_into_fd (a, fd) != ARCHIVE_OK)
    {
      close (fd);
      return enclaver_make_error (err, EIO, "%s: %s: %s", src, entry, archive_error_string (a));
    }
  if (close (fd) < 0)
    return enclaver_make_errno (err, errno, "write %s", path);
  *out = path;
  path = NULL;
  return 0;
}

/* Extract enclave/application.eif and enclave/enclaver.yaml from the wrapper image's
 * layers (top layer first: an upper layer's file wins).  *manifest is NULL when the
 * image has none. */
static char *
eif_from_image (const char *source, char **manifest, enclaver_error_t *err)
{
  struct enclaver_image_options o;
  struct enclaver_image *img;
  cleanup_free char *src = NULL;
  char *out = NULL;
  size_t i;

  *manifest = NULL;
  /* A directory is told apart by enclaver_image_fetch (oci layout or skopeo dir:). */
  src = xstrdup (source);
  enclaver_image_options_init (&o);
  o.progress = 0;
  img = enclaver_image_fetch (src, &o, err);
  if (img == NULL)
    return NULL;
  for (i = img->n_layers; i > 0 && (out == NULL || *manifest == NULL); i--)
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
          if (name && strncmp (name, "./", 2) == 0)
            name += 2;
          if (name == NULL || archive_entry_filetype (e) != AE_IFREG)
            continue;
          if (out == NULL && strcmp (name, "enclave/application.eif") == 0)
            {
              if (extract_entry (a, src, name, "application.eif", &out, err) < 0)
                break;
            }
          else if (*manifest == NULL && strcmp (name, "enclave/enclaver.yaml") == 0)
            {
              if (extract_entry (a, src, name, "enclaver.yaml", manifest, err) < 0)
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
  if (out == NULL)
    {
      free (*manifest);
      *manifest = NULL;
    }
  return out;
}

/* Remove terminal escape sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL/ST", and
 * two-byte "ESC x" such as the firmware's reset "ESC c") from a console line in place,
 * so --console does not clear or recolour the user's terminal. */
static void
strip_escapes (char *l)
{
  char *w = l;
  for (const char *r = l; *r;)
    {
      if (*r != '\033')
        {
          *w++ = *r++;
          continue;
        }
      r++;
      if (*r == '[')
        {
          r++;
          while (*r && !(*r >= 0x40 && *r <= 0x7e))
            r++;
          if (*r)
            r++;
        }
      else if (*r == ']')
        {
          while (*r && *r != '\a' && !(r[0] == '\033' && r[1] == '\\'))
            r++;
          if (*r == '\a')
            r++;
          else if (*r)
            r += 2;
        }
      else if (*r)
        r++;
    }
  *w = '\0';
}

/* The build output of manifest m, when it exists: the wrapper image, else the EIF. */
static char *
local_build_output (const struct enclaver_manifest *m)
{
  const char *fmt = m->output_image_format ? m->output_image_format : "oci";
  cleanup_free char *img = NULL, *eif = NULL;
  struct stat st;

  if (m->output_image_dest)
    img = m->output_image_dest[0] == '/' ? xstrdup (m->output_image_dest)
                                         : xasprintf ("%s/%s", m->dir, m->output_image_dest);
  else
    img = xasprintf ("%s/%s-image%s", m->dir, m->name, strcmp (fmt, "docker-archive") == 0 ? ".tar" : "");
  if (strcmp (fmt, "registry") != 0 && stat (img, &st) == 0)
    {
      if (S_ISDIR (st.st_mode))
        return xasprintf ("oci:%s", img);
      return xasprintf ("%s:%s", fmt, img);
    }
  if (m->output_eif)
    eif = m->output_eif[0] == '/' ? xstrdup (m->output_eif) : xasprintf ("%s/%s", m->dir, m->output_eif);
  else
    eif = xasprintf ("%s/%s.eif", m->dir, m->name);
  if (stat (eif, &st) == 0 && S_ISREG (st.st_mode))
    {
      char *r = eif;
      eif = NULL;
      return r;
    }
  return NULL;
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
    { "file", required_argument, NULL, 'f' },
    { "eif-path", required_argument, NULL, OPT_EIF_PATH },
    { "memory-mb", required_argument, NULL, 'm' },
    { "memory", required_argument, NULL, 'm' },
    { "cpu-count", required_argument, NULL, OPT_CPUS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "qemu-binary", required_argument, NULL, OPT_QEMU_BIN },
    { "console", no_argument, NULL, OPT_CONSOLE },
    { "attach-console", no_argument, NULL, OPT_CONSOLE },
    { "debug-mode", no_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int c, qemu = 0, console = 0, rc = EXIT_ENCLAVE_FATAL;
  long mem = 0, cpus = 0, timeout = 0;
  const char *qemu_bin = NULL, *input = NULL, *manifest_file = NULL, *eif_path = NULL;
  cleanup_free char *eif = NULL, *kpath = NULL, *ipath = NULL, *append = NULL, *image_manifest = NULL;
  cleanup_free char *from_manifest = NULL;
  struct enclaver_manifest *m = NULL;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  int fd = -1, kfd = -1, ifd = -1, pipefd[2] = { -1, -1 }, reported = 0;
  pid_t pid;
  unsigned i;
  FILE *f;
  char line[4096];

  memset (&info, 0, sizeof info);
  while ((c = cli_getopt (argc, argv, "df:hm:" CLI_COMMON_SHORTOPTS, longopts)) != -1)
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
        case 'f':
          manifest_file = optarg;
          break;
        case OPT_EIF_PATH:
          eif_path = optarg;
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
        case 'd':
          console = 1;
          break;
        case 'h':
          cli_help (stdout, run_help);
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
  if (optind + 1 < argc)
    return cli_usage_error ("run", "expected one EIF or image, got %d arguments", argc - optind);
  if (optind < argc)
    input = argv[optind];
  if (eif_path && input)
    return cli_usage_error ("run", "--eif-path and an image argument both name what to run; give one");
  if (eif_path)
    input = eif_path;
  if (input && manifest_file)
    return cli_usage_error ("run", "-f names the image through the manifest; do not give an image too");

  if (input == NULL)
    {
      /* As Enclaver: the manifest's image (its local build output, else `target`). */
      const char *mf = manifest_file ? manifest_file : "enclaver.yaml";
      m = enclaver_manifest_load_ex (mf, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
      if (m == NULL)
        {
          if (manifest_file == NULL && access (mf, F_OK) != 0)
            {
              enclaver_error_release (&err);
              return cli_usage_error ("run", "no EIF or image given, and no enclaver.yaml here to name one");
            }
          return cli_fail (&err);
        }
      from_manifest = local_build_output (m);
      if (from_manifest)
        enclaver_log_info ("running %s, the build output of %s", from_manifest, mf);
      else if (m->target && *m->target)
        {
          from_manifest = xstrdup (m->target);
          enclaver_log_info ("running %s, the target of %s", from_manifest, mf);
        }
      else
        {
          enclaver_manifest_free (m);
          return cli_usage_error ("run", "%s names no target image and has no build output; give an image", mf);
        }
      input = from_manifest;
    }

  snprintf (tmpdir, sizeof tmpdir, "%s/enclaver-run-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  if (mkdtemp (tmpdir) == NULL)
    {
      tmpdir[0] = '\0';
      enclaver_manifest_free (m);
      enclaver_make_errno (&err, errno, "create a temporary directory");
      return cli_fail (&err);
    }
  atexit (cleanup_tmpdir);

  {
    /* The library's rule: an existing path is read by its bytes (EIF or image), a missing
     * path-like name is "no such file", anything else a registry reference. */
    struct enclaver_image_ref *ref = enclaver_image_source_resolve (input, &err);
    if (ref == NULL)
      {
        enclaver_manifest_free (m);
        return cli_fail (&err);
      }
    eif = ref->transport == ENCLAVER_TRANSPORT_EIF ? xstrdup (ref->file)
                                                   : eif_from_image (input, &image_manifest, &err);
    enclaver_image_ref_free (ref);
    if (eif == NULL)
      {
        enclaver_manifest_free (m);
        return cli_fail (&err);
      }
  }
  if (image_manifest)
    {
      /* The wrapper image's own manifest gives the defaults of the enclave it carries. */
      enclaver_manifest_free (m);
      m = enclaver_manifest_load_ex (image_manifest, ENCLAVER_MANIFEST_NO_APP_REQUIRED, &err);
      if (m == NULL)
        {
          enclaver_error_wrap (&err, "%s: enclave/enclaver.yaml", input);
          return cli_fail (&err);
        }
    }
  if (mem == 0)
    mem = m ? (long) m->memory_mb : 4096;
  if (cpus == 0)
    cpus = m ? (long) m->cpu_count : 2;
  enclaver_manifest_free (m);
  m = NULL;

  fd = open (eif, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      enclaver_make_errno (&err, errno, "open %s", eif);
      return cli_fail (&err);
    }
  /* A signed EIF's signature is checked here, as describe and verify do. */
  if (enclaver_eif_read_fd (fd, eif, 0, &info, &err) < 0
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
  enclaver_log_info ("booting %s under QEMU with %ld MiB and %ld CPU%s (emulation: no attestation, no isolation)",
                     eif, mem, cpus, cpus == 1 ? "" : "s");

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
      char ms[32], n[32];
      const char *args[32];
      int k = 0;
      snprintf (ms, sizeof ms, "%ld", mem);
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
      args[k++] = ms;
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
          strip_escapes (line);
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
