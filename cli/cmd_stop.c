/* enclaver stop NAME: stop a running enclave the graceful way: SIGTERM to its launcher,
 * which asks the supervisor to stop the app and terminates the enclave (as on a
 * Ctrl-C); then wait for its state file to go. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <enclaver/log.h>
#include "cli/commands.h"
#include "runtime/host/state.h"

#define STOP_DEFAULT_TIMEOUT_S 30

static const char stop_help[] =
  "Usage: enclaver stop [--timeout SECONDS] [--run-dir DIR] NAME...\n"
  "\n"
  "Stop running enclaves the way SIGTERM to `enclaver run` does: the app gets SIGTERM\n"
  "(and the manifest's stop timeout), its final status is collected, the enclave is\n"
  "terminated.  Waits until each enclave is gone.\n"
  "\n"
  "Options:\n"
  "  -t, --timeout SECONDS  how long to wait for each enclave (default 30); when it runs\n"
  "                         out, a second SIGTERM terminates the enclave at once\n"
  "      --run-dir DIR      the run directory (as for `enclaver ps`)\n"
  "  -h, --help             this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 when every enclave stopped, 1 when one is not running or did not stop.\n";

static void
nap (void)
{
  struct timespec ts = { 0, 20 * 1000 * 1000 };
  nanosleep (&ts, NULL);
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when the launcher of s is gone (its state file removed, or the process ended). */
static int
stopped (const char *path, const struct host_state *s)
{
  return access (path, F_OK) < 0 || !host_state_alive (s);
}

static int
stop_one (const char *run_dir, const char *name, int timeout_s)
{
  char path[4352];
  struct host_state s;
  enclaver_error_t err = NULL;
  long long deadline;
  if (!host_name_valid (name) || host_state_path (run_dir, name, path, sizeof path) < 0)
    {
      enclaver_log_error ("invalid enclave name '%s'", name);
      return EXIT_FAIL;
    }
  if (access (path, F_OK) < 0)
    {
      enclaver_log_error ("no enclave named '%s' runs here (no %s; see `enclaver ps`)", name, path);
      return EXIT_FAIL;
    }
  if (host_state_read (path, &s, &err) < 0)
    return cli_fail (&err);
  if (!host_state_alive (&s))
    {
      unlink (path);
      enclaver_log_error ("enclave '%s' is not running (its launcher, pid %d, is gone)", name, (int) s.launcher_pid);
      return EXIT_FAIL;
    }
  if (kill (s.launcher_pid, SIGTERM) < 0)
    {
      enclaver_log_error ("cannot signal the launcher of '%s' (pid %d): %s", name, (int) s.launcher_pid,
                          strerror (errno));
      return EXIT_FAIL;
    }
  deadline = now_ms () + (long long) timeout_s * 1000;
  while (!stopped (path, &s))
    {
      if (now_ms () >= deadline)
        {
          enclaver_log_warning ("enclave '%s' did not stop within %d s: terminating it", name, timeout_s);
          kill (s.launcher_pid, SIGTERM); /* the second signal: terminate at once */
          deadline = now_ms () + 10000;
          while (!stopped (path, &s) && now_ms () < deadline)
            nap ();
          if (!stopped (path, &s))
            {
              enclaver_log_error ("enclave '%s' (launcher pid %d) is still running", name, (int) s.launcher_pid);
              return EXIT_FAIL;
            }
          break;
        }
      nap ();
    }
  enclaver_log_info ("stopped enclave '%s'", name);
  return EXIT_OK;
}

int
cmd_stop (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "timeout", required_argument, NULL, 't' },
    { "run-dir", required_argument, NULL, 'R' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  char run_dir[4096];
  const char *dir = NULL;
  int c, timeout_s = STOP_DEFAULT_TIMEOUT_S, rc = EXIT_OK;

  optind = 1;
  while ((c = cli_getopt (argc, argv, "t:h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      char *end;
      long v;
      switch (c)
        {
        case 't':
          errno = 0;
          v = strtol (optarg, &end, 10);
          if (errno || end == optarg || *end || v < 0 || v > 86400)
            return cli_usage_error ("stop", "--timeout wants seconds (0..86400), got '%s'", optarg);
          timeout_s = (int) v;
          break;
        case 'R':
          dir = optarg;
          break;
        case 'h':
          cli_help (stdout, stop_help);
          return EXIT_OK;
        default:
          return cli_usage_error ("stop", "unknown option");
        }
    }
  if (optind >= argc)
    return cli_usage_error ("stop", "which enclave? give its NAME (see `enclaver ps`)");
  if (dir)
    snprintf (run_dir, sizeof run_dir, "%s", dir);
  else
    host_run_dir_default (run_dir, sizeof run_dir);
  for (; optind < argc; optind++)
    if (stop_one (run_dir, argv[optind], timeout_s) != EXIT_OK)
      rc = EXIT_FAIL;
  return rc;
}
