/* enclaver CLI: helpers shared by the subcommands. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/log.h>
#include <enclaver/manifest.h>
#include "cli/commands.h"
#include "util.h"

const char *cli_command_name = "";
const char *cli_program_prefix = "enclaver ";

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
  fprintf (stderr, "%s%s: ", cli_program_prefix, cmd);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry '%s%s --help'.\n", cli_program_prefix, cmd);
  return EXIT_USAGE;
}

int
cli_parse_blob_timeout (const char *cmd, const char *arg, long *out)
{
  char *end;
  errno = 0;
  long n = strtol (arg, &end, 10);
  if (errno || end == arg || *end || n < 1 || n > 86400)
    return cli_usage_error (cmd, "--blob-timeout: '%s' is not a number of seconds from 1 to 86400", arg);
  *out = n;
  return 0;
}

int
cli_write_digestfile (const char *file, const char *digest, enclaver_error_t *err)
{
  cleanup_free char *line = xasprintf ("%s\n", digest);
  if (enclaver_write_file_atomic (file, line, strlen (line), 0644, err) < 0)
    {
      enclaver_error_wrap (err, "--digestfile %s", file);
      return -1;
    }
  return 0;
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

const char *
cli_suggest (const char *word, const char *const *names, size_t n)
{
  const char *best = NULL;
  size_t best_d = SIZE_MAX, len = strlen (word);

  for (size_t i = 0; i < n; i++)
    {
      size_t d = enclaver_edit_distance (word, names[i]);
      if (d < best_d)
        best_d = d, best = names[i];
    }
  /* Two edits, or a third of the word for long words: "biuld" -> "build",
   * "--memroy-mb" -> "--memory-mb", but not "x" -> "eif". */
  if (best && best_d > 0 && (best_d <= 2 || best_d <= len / 3) && best_d < len)
    return best;
  return NULL;
}

/* The --name of the long option closest to arg (which starts with "--"). */
static const char *
suggest_long (const char *arg, const struct option *longopts, char *buf, size_t bufsz)
{
  const char *names[128];
  char word[128];
  size_t n = 0;
  const char *best;

  snprintf (word, sizeof word, "%.*s", (int) strcspn (arg + 2, "="), arg + 2);
  for (const struct option *o = longopts; o->name && n < ARRAY_SIZE (names); o++)
    names[n++] = o->name;
  best = cli_suggest (word, names, n);
  if (best == NULL)
    return NULL;
  snprintf (buf, bufsz, "--%s", best);
  return buf;
}

int
cli_getopt (int argc, char **argv, const char *shortopts, const struct option *longopts)
{
  char spec[256];
  const char *lead = "";
  int c;

  /* A leading ':' makes a missing value ':' rather than '?'; keep a leading '+'/'-'. */
  if (*shortopts == '+' || *shortopts == '-')
    lead = *shortopts == '+' ? "+" : "-", shortopts++;
  if (*shortopts == ':')
    shortopts++;
  snprintf (spec, sizeof spec, "%s:%s", lead, shortopts);
  opterr = 0;
  /* The common options (-v, -q, --log-format, --plugin-dir) are handled here, so no
     command sees them; a bad value of one was reported and is a usage error. */
  while ((c = getopt_long (argc, argv, spec, longopts, NULL)) != -1 && c != '?' && c != ':')
    {
      int r = cli_common_option (c, optarg);
      if (r < 0)
        exit (EXIT_USAGE);
      if (r == 0)
        return c;
    }
  if (c == '?' || c == ':')
    {
      const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
      char buf[160];
      const char *hint = NULL;

      if (c == ':')
        {
          if (optopt && strncmp (arg, "--", 2) != 0)
            cli_usage_error (cli_command_name, "option '-%c' needs a value", optopt);
          else
            cli_usage_error (cli_command_name, "option '%s' needs a value", arg);
        }
      else if (optopt && strncmp (arg, "--", 2) != 0)
        cli_usage_error (cli_command_name, "unknown option '-%c'", optopt);
      else if (optopt)
        /* A known long option given a value it does not take ("--help=x"). */
        cli_usage_error (cli_command_name, "option '%.*s' takes no value", (int) strcspn (arg, "="), arg);
      else if (strncmp (arg, "--", 2) == 0 && (hint = suggest_long (arg, longopts, buf, sizeof buf)))
        cli_usage_error (cli_command_name, "unknown option '%.*s'; did you mean '%s'?", (int) strcspn (arg, "="),
                         arg, hint);
      else
        cli_usage_error (cli_command_name, "unknown or ambiguous option '%.*s'", (int) strcspn (arg, "="), arg);
      exit (EXIT_USAGE);
    }
  return c;
}

static const struct
{
  const char *spec, *desc;
} common_help[] = {
  { "-v, --verbose", "more output (repeat for debug/trace)" },
  { "-q, --quiet", "only errors: no progress, no summary" },
  { "    --log-format FMT", "'text' (default) or 'json' log lines on stderr" },
  { "    --plugin-dir DIR", "search DIR for stage plugins first (repeatable)" },
};

/* The column where option descriptions start in text: the most frequent one among
 * lines "  -x, --opt ARG   description" / "      --opt ARG   description". */
static int
description_column (const char *text)
{
  int count[80] = { 0 }, best = 25;
  const char *l = text;

  while (*l)
    {
      const char *e = strchr (l, '\n');
      size_t len = e ? (size_t) (e - l) : strlen (l);
      if (len > 4 && strncmp (l, "  ", 2) == 0 && (l[2] == '-' || strncmp (l, "      --", 8) == 0))
        {
          /* The description starts after the first run of two or more spaces past
             the option's spelling. */
          for (size_t i = 4; i + 2 < len; i++)
            if (l[i] == ' ' && l[i + 1] == ' ' && l[i - 1] != ' ')
              {
                size_t j = i;
                while (j < len && l[j] == ' ')
                  j++;
                if (j < len && j < ARRAY_SIZE (count))
                  count[j]++;
                break;
              }
        }
      l += len + (e != NULL);
    }
  for (int i = 0, n = 0; i < (int) ARRAY_SIZE (count); i++)
    if (count[i] > n)
      n = count[i], best = i;
  return best;
}

void
cli_help (FILE *f, const char *text)
{
  int col = description_column (text);
  const char *mark;

  while ((mark = strstr (text, CLI_COMMON_HELP)) != NULL)
    {
      fwrite (text, 1, (size_t) (mark - text), f);
      for (size_t i = 0; i < ARRAY_SIZE (common_help); i++)
        {
          int w = 2 + (int) strlen (common_help[i].spec);
          fprintf (f, "  %s", common_help[i].spec);
          if (w + 2 > col)
            fprintf (f, "\n%*s", col, "");
          else
            fprintf (f, "%*s", col - w, "");
          fprintf (f, "%s\n", common_help[i].desc);
        }
      text = mark + strlen (CLI_COMMON_HELP);
    }
  fputs (text, f);
}

void
cli_warn_unimplemented (const struct enclaver_manifest *m)
{
  const struct enclaver_manifest_key *k;
  for (size_t i = 0; (k = enclaver_manifest_unimplemented (m, i)) != NULL; i++)
    {
      char *msg = enclaver_manifest_unimplemented_message (m, k);
      enclaver_log_warning ("%s", msg);
      free (msg);
    }
}
