/* enclaver ps: list the enclaves this host runs, from the launchers' state files
 * (runtime/host/state.h); a file whose launcher is gone is stale: skipped and removed. */
#include "config.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include <enclaver/log.h>
#include "cli/commands.h"
#include "runtime/host/state.h"

static const char ps_help[] =
  "Usage: enclaver ps [-o text|json] [--run-dir DIR]\n"
  "\n"
  "List the enclaves that `enclaver run` runs on this host: name, ID, CID, image digest,\n"
  "PCR0, memory, CPUs and uptime.  The list comes from the launchers' state files in the\n"
  "run directory; a file whose launcher no longer runs is removed.\n"
  "\n"
  "Options:\n"
  "  -o, --output FORMAT    text (a table, the default) or json (one array)\n"
  "      --run-dir DIR      the run directory (default /run/enclaver when writable, else\n"
  "                         $XDG_RUNTIME_DIR/enclaver, else /tmp/enclaver-UID)\n"
  "  -h, --help             this help\n" CLI_COMMON_HELP;

static int
by_name (const void *a, const void *b)
{
  return strcmp (((const struct host_state *) a)->name, ((const struct host_state *) b)->name);
}

static void
uptime (long long started, char *out, size_t len)
{
  long long s = (long long) time (NULL) - started;
  if (s < 0)
    s = 0;
  if (s < 60)
    snprintf (out, len, "%llds", s);
  else if (s < 3600)
    snprintf (out, len, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400)
    snprintf (out, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else
    snprintf (out, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/* Read every live state file of run_dir into *out (sorted by name); stale ones are
 * removed, unreadable ones reported and skipped. */
static size_t
load_all (const char *run_dir, struct host_state **out)
{
  DIR *d = opendir (run_dir);
  struct dirent *de;
  struct host_state *v = NULL;
  size_t n = 0;
  *out = NULL;
  if (d == NULL)
    return 0;
  while ((de = readdir (d)) != NULL)
    {
      char path[4352];
      size_t len = strlen (de->d_name);
      struct host_state s;
      enclaver_error_t err = NULL;
      if (de->d_name[0] == '.' || len < 6 || strcmp (de->d_name + len - 5, ".json") != 0)
        continue;
      snprintf (path, sizeof path, "%s/%s", run_dir, de->d_name);
      if (host_state_read (path, &s, &err) < 0)
        {
          enclaver_error_warn_and_release (&err, "skipped");
          continue;
        }
      if (!host_state_alive (&s))
        {
          enclaver_log (ENCLAVER_LOG_DEBUG, NULL, "removing the stale state file %s (launcher pid %d is gone)",
                        path, (int) s.launcher_pid);
          unlink (path);
          continue;
        }
      v = realloc (v, (n + 1) * sizeof *v);
      if (v == NULL)
        abort ();
      v[n++] = s;
    }
  closedir (d);
  if (n > 1)
    qsort (v, n, sizeof *v, by_name);
  *out = v;
  return n;
}

int
cmd_ps (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "output", required_argument, NULL, 'o' },
    { "run-dir", required_argument, NULL, 'R' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  char run_dir[4096];
  const char *dir = NULL;
  struct host_state *v;
  size_t n, i;
  int c, json = 0;

  optind = 1;
  while ((c = cli_getopt (argc, argv, "o:h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      switch (c)
        {
        case 'o':
          if (strcmp (optarg, "json") == 0)
            json = 1;
          else if (strcmp (optarg, "text") == 0)
            json = 0;
          else
            return cli_usage_error ("ps", "--output wants text or json, got '%s'", optarg);
          break;
        case 'R':
          dir = optarg;
          break;
        case 'h':
          cli_help (stdout, ps_help);
          return EXIT_OK;
        default:
          return cli_usage_error ("ps", "unknown option");
        }
    }
  if (optind < argc)
    return cli_usage_error ("ps", "unexpected argument '%s'", argv[optind]);
  if (dir)
    snprintf (run_dir, sizeof run_dir, "%s", dir);
  else
    host_run_dir_default (run_dir, sizeof run_dir);

  n = load_all (run_dir, &v);
  if (json)
    {
      json_t *a = json_array ();
      char *s;
      for (i = 0; i < n; i++)
        json_array_append_new (
          a, json_pack ("{s:s, s:s, s:I, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:s, s:s?, s:s?}", "name", v[i].name, "id",
                        v[i].id, "cid", (json_int_t) v[i].cid, "image_digest",
                        v[i].image_digest[0] ? v[i].image_digest : NULL, "pcr0", v[i].pcr0[0] ? v[i].pcr0 : NULL,
                        "memory_mib", (json_int_t) v[i].memory_mib, "cpu_count", (json_int_t) v[i].cpu_count,
                        "started", (json_int_t) v[i].started, "uptime_s",
                        (json_int_t) ((long long) time (NULL) - v[i].started), "launcher_pid",
                        (json_int_t) v[i].launcher_pid, "backend", v[i].backend, "status_addr",
                        v[i].status_addr[0] ? v[i].status_addr : NULL, "log_addr",
                        v[i].log_addr[0] ? v[i].log_addr : NULL));
      s = json_dumps (a, JSON_COMPACT | JSON_PRESERVE_ORDER);
      json_decref (a);
      if (s)
        printf ("%s\n", s);
      free (s);
    }
  else
    {
      printf ("%-20s %-32s %6s %-20s %-20s %8s %4s %s\n", "NAME", "ID", "CID", "IMAGE", "PCR0", "MEMORY", "CPUS",
              "UPTIME");
      for (i = 0; i < n; i++)
        {
          char up[32], mem[32];
          uptime (v[i].started, up, sizeof up);
          snprintf (mem, sizeof mem, "%lluM", (unsigned long long) v[i].memory_mib);
          printf ("%-20s %-32s %6llu %-20.19s %-20.16s %8s %4u %s\n", v[i].name, v[i].id,
                  (unsigned long long) v[i].cid, v[i].image_digest[0] ? v[i].image_digest : "-",
                  v[i].pcr0[0] ? v[i].pcr0 : "-", mem, (unsigned) v[i].cpu_count, up);
        }
    }
  free (v);
  return EXIT_OK;
}
