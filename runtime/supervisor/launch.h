/* enclaver-supervisor: starting the app (environment, credentials, exec) and bootstrap. */
#ifndef ENCLAVER_SV_LAUNCH_H
#define ENCLAVER_SV_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "user.h"

struct sv_launch
{
  char **argv;          /* argv[0] looked up on the app env's PATH */
  char **env;           /* complete environment of the app */
  const char *workdir;  /* NULL or "": "/" */
  int switch_user;      /* 0: keep the supervisor's credentials */
  struct sv_user user;
};

/* The app's environment: the image's env, plus PATH (Docker's default) and HOME (from the
 * user's passwd entry, else "/") when the image does not set them. */
char **sv_launch_env (char *const *image_env, const char *home);

/* fork + exec the app with stdout/stderr on out_fd and stdin on /dev/null, in its own
 * session and process group.  Returns the pid (> 0) once the exec succeeded, or -1 with
 * err holding the reason (the child has then already exited and been reaped, and
 * *exec_errno is the errno of the failing step). */
pid_t sv_launch_start (const struct sv_launch *l, int out_fd, int *exec_errno, char *err,
                       size_t errlen);

/* Bring up the loopback interface ("lo", 127.0.0.1/8).  0 or -1 with err set. */
int sv_bootstrap_loopback (char *err, size_t errlen);

#endif
