/* enclaver-supervisor: run the app as `docker run` would. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "launch.h"
#include "rtutil.h"

char **
sv_launch_env (char *const *image_env, const char *home)
{
  char **env = rt_strv_dup (image_env);
  if (rt_env_get (env, "PATH") == NULL)
    env = rt_strv_push (env, "PATH=" RT_DEFAULT_PATH);
  if (rt_env_get (env, "HOME") == NULL)
    {
      char *h = xasprintf ("HOME=%s", home && *home ? home : "/");
      env = rt_strv_push (env, h);
      free (h);
    }
  return env;
}

/* mkdir -p, as Docker creates a missing WorkingDir. */
static int
mkdir_p (const char *path)
{
  char buf[PATH_MAX];
  size_t i, n = strlen (path);
  if (n == 0 || n >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, path, n + 1);
  for (i = 1; i <= n; i++)
    if (buf[i] == '/' || buf[i] == '\0')
      {
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir (buf, 0755) < 0 && errno != EEXIST)
          return -1;
        buf[i] = c;
      }
  return 0;
}

/* In the child: report a failure to the parent and exit. */
static void __attribute__ ((noreturn))
child_fail (int fd, int e, const char *msg)
{
  /* Message format: 4-byte errno, then text. */
  char buf[1024];
  size_t n = strlen (msg);
  if (n > sizeof buf - sizeof e)
    n = sizeof buf - sizeof e;
  memcpy (buf, &e, sizeof e);
  memcpy (buf + sizeof e, msg, n);
  enclaver_write_all (fd, buf, sizeof e + n);
  _exit (e == ENOENT ? 127 : 126);
}

static void __attribute__ ((noreturn))
child_run (const struct sv_launch *l, int out_fd, int errfd)
{
  char msg[768];
  sigset_t all;
  const char *wd = l->workdir && *l->workdir ? l->workdir : "/";
  char *prog;
  int nul, sig;
  pid_t parent = getppid ();

  /* Default dispositions and an empty mask, as a fresh process would have. */
  for (sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal (sig, SIG_DFL);
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);

  if (setsid () < 0)
    {
      snprintf (msg, sizeof msg, "setsid: %s", strerror (errno));
      child_fail (errfd, errno, msg);
    }
  nul = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nul < 0 || dup2 (nul, 0) < 0 || dup2 (out_fd, 1) < 0 || dup2 (out_fd, 2) < 0)
    {
      snprintf (msg, sizeof msg, "set up stdio: %s", strerror (errno));
      child_fail (errfd, errno, msg);
    }

  if (mkdir_p (wd) < 0 || chdir (wd) < 0)
    {
      int e = errno;
      snprintf (msg, sizeof msg, "working directory %s: %s", wd, strerror (e));
      child_fail (errfd, e, msg);
    }
  if (l->switch_user)
    {
      if (setgroups (l->user.ngroups, l->user.groups) < 0 || setgid (l->user.gid) < 0
          || setuid (l->user.uid) < 0)
        {
          int e = errno;
          snprintf (msg, sizeof msg, "switch to uid %u gid %u: %s", (unsigned) l->user.uid,
                    (unsigned) l->user.gid, strerror (e));
          child_fail (errfd, e, msg);
        }
    }
  /* The app does not outlive the supervisor: in an enclave the init powers off when the
   * supervisor ends, and the local backend's "enclave" must end the same way (set after
   * the credentials change, which clears it; the supervisor forks from its main thread,
   * which lives as long as it does). */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid () != parent)
    _exit (127); /* the supervisor is already gone */
  prog = rt_find_program (l->argv[0], rt_env_get (l->env, "PATH"), msg, sizeof msg);
  if (prog == NULL)
    {
      int e = errno;
      char m2[800];
      snprintf (m2, sizeof m2, "exec %s", msg);
      child_fail (errfd, e, m2);
    }
  execve (prog, l->argv, l->env);
  {
    int e = errno;
    snprintf (msg, sizeof msg, "exec %s: %s", prog, strerror (e));
    child_fail (errfd, e, msg);
  }
}

pid_t
sv_launch_start (const struct sv_launch *l, int out_fd, int *exec_errno, char *err,
                 size_t errlen)
{
  int p[2];
  pid_t pid;
  char buf[1024];
  size_t got = 0;
  int e;

  *exec_errno = 0;
  if (l->argv == NULL || l->argv[0] == NULL)
    {
      *exec_errno = EINVAL;
      return rt_err (err, errlen,
                     "no command to run: the image has neither Entrypoint nor Cmd");
    }
  if (pipe2 (p, O_CLOEXEC) < 0)
    {
      *exec_errno = errno;
      return rt_err (err, errlen, "pipe: %s", strerror (errno));
    }
  pid = fork ();
  if (pid < 0)
    {
      e = errno;
      close (p[0]);
      close (p[1]);
      *exec_errno = e;
      return rt_err (err, errlen, "fork: %s", strerror (e));
    }
  if (pid == 0)
    {
      close (p[0]);
      child_run (l, out_fd, p[1]);
    }
  close (p[1]);
  /* EOF without data: the exec succeeded (the pipe was close-on-exec). */
  for (;;)
    {
      ssize_t r = read (p[0], buf + got, sizeof buf - 1 - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      got += (size_t) r;
      if (got == sizeof buf - 1)
        break;
    }
  close (p[0]);
  if (got == 0)
    return pid;
  /* The child failed before exec and has exited: collect it here. */
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  if (got < sizeof e)
    {
      *exec_errno = EIO;
      return rt_err (err, errlen, "the app's process failed before exec");
    }
  memcpy (&e, buf, sizeof e);
  buf[got] = '\0';
  *exec_errno = e;
  return rt_err (err, errlen, "%s", buf + sizeof e);
}

int
sv_bootstrap_loopback (char *err, size_t errlen)
{
  struct ifreq ifr;
  struct sockaddr_in *sin;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return rt_err (err, errlen, "loopback: socket: %s", strerror (errno));

  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  sin = (struct sockaddr_in *) &ifr.ifr_addr;
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (ioctl (fd, SIOCSIFADDR, &ifr) < 0 && errno != EEXIST)
    {
      int e = errno;
      close (fd);
      return rt_err (err, errlen, "loopback: set 127.0.0.1 on lo: %s", strerror (e));
    }
  memset (&ifr.ifr_netmask, 0, sizeof ifr.ifr_netmask);
  sin = (struct sockaddr_in *) &ifr.ifr_netmask;
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl (0xff000000u);
  if (ioctl (fd, SIOCSIFNETMASK, &ifr) < 0)
    {
      int e = errno;
      close (fd);
      return rt_err (err, errlen, "loopback: set netmask 255.0.0.0 on lo: %s", strerror (e));
    }
  memset (&ifr, 0, sizeof ifr);
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    {
      int e = errno;
      close (fd);
      return rt_err (err, errlen, "loopback: get flags of lo: %s", strerror (e));
    }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
    {
      int e = errno;
      close (fd);
      return rt_err (err, errlen, "loopback: bring lo up: %s", strerror (e));
    }
  close (fd);
  return 0;
}
