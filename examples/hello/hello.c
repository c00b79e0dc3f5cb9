/* The quick-start enclave app: greets, shows its environment's GREETING, and can end
 * the way the boot tests need (--exit N, --signal N, or --wait: until SIGTERM, which
 * it reports, as a service stopped by `enclaver run` on SIGTERM would). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term (int s)
{
  stop = s;
}

int
main (int argc, char **argv)
{
  const char *who = "world";
  const char *g = getenv ("GREETING");
  int code = 0, sig = 0, wait = 0, i;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--greeting") == 0 && i + 1 < argc)
        who = argv[++i];
      else if (strcmp (argv[i], "--exit") == 0 && i + 1 < argc)
        code = atoi (argv[++i]);
      else if (strcmp (argv[i], "--signal") == 0 && i + 1 < argc)
        sig = atoi (argv[++i]);
      else if (strcmp (argv[i], "--wait") == 0)
        wait = 1;
    }
  printf ("Hello from the enclave, %s! (pid %d, uid %d%s%s)\n", who, (int) getpid (), (int) getuid (),
          g ? ", GREETING=" : "", g ? g : "");
  fflush (stdout);
  if (sig)
    raise (sig);
  if (wait)
    {
      signal (SIGTERM, on_term);
      printf ("waiting for SIGTERM\n");
      fflush (stdout);
      while (!stop)
        pause ();
      printf ("caught SIGTERM, exiting\n");
      fflush (stdout);
    }
  return code;
}
