/* enclaver host launcher: the "local" backend (backend-local.h).  The supervisor runs as
 * a child process in its own process group, with PR_SET_PDEATHSIG so it dies with the
 * launcher; terminate() kills it and everything below it, as ending an enclave would. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend-local.h"

#define LOCAL_WAIT_FILE_MS 30000 /* hang guard of wait_file */

struct local
{
  struct host_backend b;
  struct host_local_options o;
  pid_t pid;   /* the supervisor, 0 once reaped */
  int pidfd;
};

static int
local_check (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err)
{
  struct local *lo = b->self;
  (void) c;
  if (access (lo->o.supervisor, X_OK) < 0)
    return enclaver_make_errno (err, errno, "local backend: cannot run the supervisor %s", lo->o.supervisor);
  return 0;
}

static int
local_enclave_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out, size_t len)
{
  struct local *lo = b->self;
  (void) e;
  return snprintf (out, len, "unix:%s/enclave-%" PRIu32 ".sock", lo->o.dir, port) < (int) len ? 0 : -1;
}

static int
local_host_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out, size_t len)
{
  struct local *lo = b->self;
  (void) e;
  return snprintf (out, len, "unix:%s/host-%" PRIu32 ".sock", lo->o.dir, port) < (int) len ? 0 : -1;
}

static int
local_start (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e,
             enclaver_error_t *err)
{
  struct local *lo = b->self;
  char st[300], lg[300], console[4200];
  size_t n = 0, i;
  char **argv;
  pid_t pid;

  if (local_enclave_addr (b, e, c->status_port, st, sizeof st) < 0
      || local_enclave_addr (b, e, c->log_port, lg, sizeof lg) < 0)
    return enclaver_make_error (err, ENAMETOOLONG, "local backend: directory name too long: %s", lo->o.dir);
  snprintf (console, sizeof console, "%s/console.log", lo->o.dir);
  while (lo->o.args && lo->o.args[n])
    n++;
  argv = calloc (n + 6, sizeof *argv);
  if (argv == NULL)
    abort ();
  argv[0] = (char *) lo->o.supervisor;
  argv[1] = (char *) "--status-addr";
  argv[2] = st;
  argv[3] = (char *) "--log-addr";
  argv[4] = lg;
  for (i = 0; i < n; i++)
    argv[5 + i] = lo->o.args[i];

  pid = fork ();
  if (pid < 0)
    {
      free (argv);
      return enclaver_make_errno (err, errno, "local backend: fork");
    }
  if (pid == 0)
    {
      sigset_t none;
      int fd;
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      signal (SIGPIPE, SIG_DFL);
      setpgid (0, 0); /* the terminal's signals are for the launcher, not the "enclave" */
      prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      /* The opened descriptors are closed once duplicated: the supervisor (and through
         it the app) gets the console as 0-2 only, as in an enclave. */
      fd = open ("/dev/null", O_RDONLY);
      if (fd >= 0)
        {
          dup2 (fd, 0);
          if (fd > 2)
            close (fd);
        }
      if (!c->debug_mode)
        {
          fd = open (console, O_WRONLY | O_CREAT | O_APPEND, 0644);
          if (fd >= 0)
            {
              dup2 (fd, 1);
              dup2 (fd, 2);
              if (fd > 2)
                close (fd);
            }
        }
      else
        dup2 (2, 1); /* the console, forwarded (debug mode) */
      execv (argv[0], argv);
      _exit (127);
    }
  free (argv);
  lo->pid = pid;
  lo->pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  snprintf (e->id, sizeof e->id, "local-%d", (int) pid);
  e->cid = c->enclave_cid ? c->enclave_cid : lo->o.cid ? lo->o.cid : 16;
  e->pid = pid;
  e->backend_state = lo;

  if (lo->o.wait_file)
    {
      struct timespec ts = { 0, 10 * 1000 * 1000 };
      int waited = 0;
      while (access (lo->o.wait_file, F_OK) < 0 && waited < LOCAL_WAIT_FILE_MS)
        {
          if (waitpid (pid, NULL, WNOHANG) == pid)
            {
              lo->pid = 0;
              break;
            }
          nanosleep (&ts, NULL);
          waited += 10;
        }
    }
  return 0;
}

static int
local_event_fd (struct host_backend *b, const struct host_enclave *e)
{
  struct local *lo = b->self;
  (void) e;
  return lo->pidfd;
}

static int
local_on_event (struct host_backend *b, struct host_enclave *e)
{
  struct local *lo = b->self;
  (void) e;
  if (lo->pid > 0 && waitpid (lo->pid, NULL, WNOHANG) != lo->pid)
    return 0;
  lo->pid = 0;
  return 1;
}

/* Every process below root (root included), from /proc.  Returns the count. */
static size_t
descendants (pid_t root, pid_t *out, size_t max)
{
  size_t n = 0, k;
  int grew = 1;
  out[n++] = root;
  while (grew && n < max)
    {
      DIR *d = opendir ("/proc");
      struct dirent *de;
      grew = 0;
      if (d == NULL)
        break;
      while ((de = readdir (d)) != NULL && n < max)
        {
          char path[300], buf[512], *p;
          pid_t pid = (pid_t) atoi (de->d_name), ppid;
          ssize_t r;
          int fd, seen = 0;
          if (pid <= 0)
            continue;
          for (k = 0; k < n; k++)
            if (out[k] == pid)
              seen = 1;
          if (seen)
            continue;
          snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
          fd = open (path, O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            continue;
          r = read (fd, buf, sizeof buf - 1);
          close (fd);
          if (r <= 0)
            continue;
          buf[r] = '\0';
          p = strrchr (buf, ')');
          if (p == NULL || sscanf (p + 1, " %*c %d", &ppid) != 1)
            continue;
          for (k = 0; k < n; k++)
            if (out[k] == ppid)
              {
                out[n++] = pid;
                grew = 1;
                break;
              }
        }
      closedir (d);
    }
  return n;
}

static void
local_terminate (struct host_backend *b, struct host_enclave *e)
{
  struct local *lo = b->self;
  pid_t tree[1024];
  size_t n, i;
  (void) e;
  if (lo->pid <= 0)
    return;
  /* Stop the supervisor first so it neither reaps nor forks while the tree is read;
   * kill what is below it, then it: what it leaves are zombies that init reaps. */
  kill (lo->pid, SIGSTOP);
  n = descendants (lo->pid, tree, sizeof tree / sizeof tree[0]);
  for (i = n; i-- > 1;)
    kill (tree[i], SIGKILL);
  kill (lo->pid, SIGKILL);
  while (waitpid (lo->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  lo->pid = 0;
}

static void
local_destroy (struct host_backend *b)
{
  struct local *lo = b->self;
  local_terminate (b, NULL);
  if (lo->pidfd >= 0)
    close (lo->pidfd);
  free (lo);
}

struct host_backend *
host_backend_local_new (const struct host_local_options *o)
{
  struct local *lo;
  if (o == NULL || o->supervisor == NULL || o->dir == NULL)
    {
      errno = EINVAL;
      return NULL;
    }
  lo = calloc (1, sizeof *lo);
  if (lo == NULL)
    return NULL;
  lo->o = *o;
  lo->pidfd = -1;
  lo->b.name = "local";
  lo->b.self = lo;
  lo->b.check = local_check;
  lo->b.start = local_start;
  lo->b.enclave_addr = local_enclave_addr;
  lo->b.host_addr = local_host_addr;
  lo->b.event_fd = local_event_fd;
  lo->b.on_event = local_on_event;
  lo->b.terminate = local_terminate;
  lo->b.destroy = local_destroy;
  return &lo->b;
}
