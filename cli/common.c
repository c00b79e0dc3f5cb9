/* enclaver CLI: helpers shared by the subcommands. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include <enclaver/log.h>
#include "cli/commands.h"
#include "util.h"

static char **plugin_dirs;
static size_t n_plugin_dirs;

int
cli_common_option (int c, const char *arg)
{
  switch (c)
    {
    case 'v':
      enclaver_log_set_level (enclaver_log_get_level () + 1);
      return 1;
    case 'q':
      enclaver_log_set_level (ENCLAVER_LOG_ERROR);
      return 1;
    case CLI_OPT_LOG_FORMAT:
      {
        int f = enclaver_log_parse_format (arg);
        if (f < 0)
          {
            fprintf (stderr, "enclaver: --log-format: '%s' is not 'text' or 'json'\n", arg);
            return -1;
          }
        enclaver_log_set_format (f);
        return 1;
      }
    case CLI_OPT_PLUGIN_DIR:
      plugin_dirs = xreallocarray (plugin_dirs, n_plugin_dirs + 2, sizeof *plugin_dirs);
      plugin_dirs[n_plugin_dirs++] = xstrdup (arg);
      plugin_dirs[n_plugin_dirs] = NULL;
      return 1;
    default:
      return 0;
    }
}

const char *const *
cli_plugin_dirs (void)
{
  static const char *const none[] = { NULL };
  return plugin_dirs ? (const char *const *) plugin_dirs : none;
}

int
cli_usage_error (const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "enclaver %s: ", cmd);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry 'enclaver %s --help'.\n", cmd);
  return EXIT_USAGE;
}

int
cli_fail (enclaver_error_t *err)
{
  if (err && *err)
    {
      enclaver_log_err (ENCLAVER_LOG_ERROR, NULL, *err, 0);
      enclaver_error_release (err);
    }
  return EXIT_FAIL;
}
