/* core/tempfiles.c: registering, forgetting, removing (files and whole trees, without
 * following symbolic links), and the signal handler killing a process whose threads
 * keep creating and removing temporaries: nothing may be left behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <enclaver/tempfiles.h>
#include "tests/tap.h"

static char base[256];

static int
exists (const char *p)
{
  struct stat st;
  return lstat (p, &st) == 0;
}

static void
touch (const char *p)
{
  int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write (fd, "x", 1) != 1)
    abort ();
  close (fd);
}

static int
count_entries (const char *dir)
{
  char cmd[1200];
  snprintf (cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *f = popen (cmd, "r");
  int n = -1;
  if (f == NULL || fscanf (f, "%d", &n) != 1)
    n = -1;
  if (f)
    pclose (f);
  return n;
}

/* A tree with nested directories, enough long names to need several getdents
 * calls, and a symbolic link to a file outside that must survive. */
static void
make_tree (const char *d, const char *outside)
{
  char p[1200];
  mkdir (d, 0755);
  snprintf (p, sizeof p, "%s/a", d);
  touch (p);
  snprintf (p, sizeof p, "%s/sub", d);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/sub/deep", d);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/sub/deep/deeper", d);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/sub/deep/deeper/f", d);
  touch (p);
  snprintf (p, sizeof p, "%s/sub/deep/empty", d);
  mkdir (p, 0555);
  for (int i = 0; i < 300; i++)
    {
      snprintf (p, sizeof p, "%s/sub/a-rather-long-file-name-to-fill-the-buffer-%04d", d, i);
      touch (p);
    }
  snprintf (p, sizeof p, "%s/link", d);
  if (symlink (outside, p) < 0)
    abort ();
  snprintf (p, sizeof p, "%s/linkdir", d);
  if (symlink (base, p) < 0)
    abort ();
}

struct churn
{
  char dir[1100];
  atomic_int *started;
};

static void *
churn_thread (void *arg)
{
  struct churn *c = arg;
  atomic_fetch_add (c->started, 1);
  for (;;)
    {
      char p[1200];
      snprintf (p, sizeof p, "%s/t-XXXXXX", c->dir);
      int fd = enclaver_temp_mkostemp (p, O_CLOEXEC);
      if (fd < 0)
        continue;
      if (write (fd, "data", 4) != 4)
        abort ();
      close (fd);
      enclaver_temp_unlink (p);
    }
  return NULL;
}

/* In a child: a registered file and tree, four threads churning temporaries in
 * churn/, then SIGTERM from the parent. */
static void
signal_round (int round)
{
  char dir[1024], churn_dir[1100], f[1100], tree[1100];
  snprintf (dir, sizeof dir, "%s/sig%d", base, round);
  snprintf (churn_dir, sizeof churn_dir, "%s/churn", dir);
  snprintf (f, sizeof f, "%s/file", dir);
  snprintf (tree, sizeof tree, "%s/tree", dir);
  mkdir (dir, 0755);
  mkdir (churn_dir, 0755);
  int ready[2];
  if (pipe (ready) < 0)
    abort ();
  pid_t pid = fork ();
  if (pid == 0)
    {
      static atomic_int started;
      static struct churn c;
      pthread_t t[4];
      close (ready[0]);
      enclaver_temp_install_signal_handlers ();
      touch (f);
      enclaver_temp_register (f, 0);
      char outside[1100];
      snprintf (outside, sizeof outside, "%s/outside", base);
      make_tree (tree, outside);
      enclaver_temp_register (tree, 1);
      snprintf (c.dir, sizeof c.dir, "%s", churn_dir);
      c.started = &started;
      for (int i = 0; i < 4; i++)
        pthread_create (&t[i], NULL, churn_thread, &c);
      while (atomic_load (&started) < 4)
        ;
      if (write (ready[1], "r", 1) != 1)
        _exit (3);
      for (;;)
        pause ();
    }
  close (ready[1]);
  char b;
  int got = read (ready[0], &b, 1) == 1;
  close (ready[0]);
  usleep (1000 * (round % 5)); /* vary where the threads are when the signal lands */
  kill (pid, SIGTERM);
  int st = 0;
  waitpid (pid, &st, 0);
  tap_ok (got && WIFSIGNALED (st) && WTERMSIG (st) == SIGTERM, "round %d: the process died of SIGTERM", round);
  tap_ok (!exists (f) && !exists (tree), "round %d: the registered file and tree are gone", round);
  int left = count_entries (churn_dir);
  tap_ok (left == 0, "round %d: no temporary of the four churning threads is left (%d)", round, left);
}

int
main (void)
{
  const char *t = getenv ("TMPDIR");
  snprintf (base, sizeof base, "%s/enclaver-tempfiles-XXXXXX", t && *t ? t : "/tmp");
  if (mkdtemp (base) == NULL)
    tap_skip_all ("cannot create a temporary directory");
  char outside[1100], p[1100], tree[1100];
  snprintf (outside, sizeof outside, "%s/outside", base);
  touch (outside);

  /* register / forget / unlink */
  unsigned n0 = enclaver_temp_count ();
  snprintf (p, sizeof p, "%s/f-XXXXXX", base);
  int fd = enclaver_temp_mkostemp (p, O_CLOEXEC);
  tap_ok (fd >= 0 && exists (p), "mkostemp creates the file");
  tap_ok (enclaver_temp_count () == n0 + 1, "and registers it");
  close (fd);
  enclaver_temp_forget (p);
  tap_ok (enclaver_temp_count () == n0, "forget unregisters it");
  enclaver_temp_remove_all ();
  tap_ok (exists (p), "a forgotten file is not removed");
  enclaver_temp_register (p, 0);
  tap_ok (enclaver_temp_unlink (p) == 0 && !exists (p) && enclaver_temp_count () == n0,
          "enclaver_temp_unlink removes and unregisters");
  enclaver_temp_forget ("/no/such/path");
  tap_ok (enclaver_temp_count () == n0, "forgetting an unknown path is harmless");

  /* a registered tree is removed whole; symbolic links are removed, not followed */
  snprintf (tree, sizeof tree, "%s/tree-XXXXXX", base);
  tap_ok (enclaver_temp_mkdtemp (tree) != NULL, "mkdtemp registers a directory");
  rmdir (tree);
  make_tree (tree, outside);
  snprintf (p, sizeof p, "%s/plain-file", base);
  touch (p);
  enclaver_temp_register (p, 0);
  enclaver_temp_remove_all ();
  tap_ok (!exists (tree), "remove_all removes the directory tree (nested, 300+ entries, a 0555 subdirectory)");
  tap_ok (!exists (p), "and the registered file");
  tap_ok (exists (outside), "a symbolic link's target outside the tree survives");
  tap_ok (exists (base), "a symbolic link to a directory is not followed");
  tap_ok (enclaver_temp_count () == 0, "the registry is empty afterwards");

  /* signals with threads creating and removing temporaries */
  for (int round = 0; round < 10; round++)
    signal_round (round);

  char cmd[1200];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system (cmd) != 0)
    tap_diag ("could not remove %s", base);
  return tap_done ();
}
