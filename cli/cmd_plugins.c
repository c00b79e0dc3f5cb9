/* enclaver plugins: list the stage plugins along the search path. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include <enclaver/loader.h>
#include "cli/commands.h"
#include "util.h"

static const char plugins_help[] =
  "Usage: enclaver plugins [-o text|json] [OPTIONS]\n"
  "\n"
  "List every stage plugin found along the plugin search path, in search order:\n"
  "  1. --plugin-dir DIR (repeatable)\n"
  "  2. ENCLAVER_PLUGIN_PATH (colon-separated)\n"
  "  3. the build tree, when enclaver runs uninstalled\n"
  "  4. the installed stage directory (pkglibdir)\n"
  "A stage found earlier shadows later files of the same name.  Files that are not\n"
  "valid stages (wrong ABI, missing descriptor, load errors) are reported as warnings.\n"
  "Each stage is listed with its options (name, type, default, description), read from\n"
  "the stage's descriptor: the built-in stages, the shipped plugins (prune, pcr-pin,\n"
  "provenance, sbom) and any third-party stage alike.  Lua stages (`- lua: FILE`) are not\n"
  "files of this kind: they take the options their script reads.\n"
  "\n"
  "Options:\n"
  "  -o, --output FORMAT    text (the default) or json: [{\"name\", \"path\", \"abi\",\n"
  "                         \"description\", \"options\": [{\"name\", \"type\", \"default\",\n"
  "                         \"required\", \"description\"}]}]\n"
  "      --json             the same as -o json\n"
  "      --search-path      print the directories searched, one per line, and exit\n" CLI_COMMON_HELP
  "  -h, --help             this help\n"
  "\n"
  "Exit codes: 0 listed (even if some files were skipped), 2 usage error.\n";

static void
warn_cb (void *ud, const char *path, const char *msg)
{
  int *n = ud;
  (*n)++;
  enclaver_log (ENCLAVER_LOG_WARNING, "plugins", "skipped %s", msg);
  (void) path;
}

int
cmd_plugins (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "output", required_argument, NULL, 'o' },
    { "json", no_argument, NULL, 'j' },
    { "search-path", no_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int c, json = 0, search_path = 0, bad = 0;
  enclaver_loader_t *l;
  enclaver_error_t err = NULL;
  const char *const *dirs;
  size_t i;

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
            return cli_usage_error ("plugins", "--output wants text or json, got '%s'", optarg);
          break;
        case 'j':
          json = 1;
          break;
        case 's':
          search_path = 1;
          break;
        case 'h':
          cli_help (stdout, plugins_help);
          return EXIT_OK;
        default:
          return cli_usage_error ("plugins", "unknown option");
        }
    }
  if (optind < argc)
    return cli_usage_error ("plugins", "unexpected argument '%s'", argv[optind]);

  l = enclaver_loader_new ();
  for (dirs = cli_plugin_dirs (); *dirs; dirs++)
    enclaver_loader_add_dir (l, *dirs);
  enclaver_loader_add_default_dirs (l);
  if (search_path)
    {
      for (i = 0; i < enclaver_loader_n_dirs (l); i++)
        printf ("%s\n", enclaver_loader_dir (l, i));
      enclaver_loader_free (l);
      return EXIT_OK;
    }
  if (enclaver_loader_scan (l, warn_cb, &bad, &err) < 0)
    {
      enclaver_loader_free (l);
      return cli_fail (&err);
    }

  if (json)
    {
      json_t *arr = json_array ();
      char *s;
      for (i = 0; i < enclaver_loader_count (l); i++)
        {
          const struct enclaver_stage_desc *d = enclaver_loader_desc (l, i);
          const struct enclaver_stage_option *o;
          json_t *opts = json_array ();
          char abi[32];
          for (o = d->options; o && o->name; o++)
            json_array_append_new (opts, json_pack ("{s:s, s:s, s:o, s:b, s:s}", "name", o->name, "type",
                                                    enclaver_option_type_name (o->type), "default",
                                                    o->default_value ? json_string (o->default_value) : json_null (),
                                                    "required", (o->flags & ENCLAVER_OPT_REQUIRED) != 0,
                                                    "description", o->description ? o->description : ""));
          snprintf (abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
          json_array_append_new (arr, json_pack ("{s:s, s:s, s:s, s:s, s:o}", "name", d->name, "path",
                                                 enclaver_loader_path (l, i), "abi", abi, "description",
                                                 d->description ? d->description : "", "options", opts));
        }
      s = json_dumps (arr, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
      printf ("%s\n", s);
      free (s);
      json_decref (arr);
    }
  else
    {
      for (i = 0; i < enclaver_loader_count (l); i++)
        {
          const struct enclaver_stage_desc *d = enclaver_loader_desc (l, i);
          const struct enclaver_stage_option *o;
          printf ("%-12s ABI %u.%u  %s\n             %s\n", d->name, d->abi_major, d->abi_minor,
                  d->description ? d->description : "", enclaver_loader_path (l, i));
          for (o = d->options; o && o->name; o++)
            printf ("             option %s (%s%s%s%s): %s\n", o->name, enclaver_option_type_name (o->type),
                    (o->flags & ENCLAVER_OPT_REQUIRED) ? ", required" : "", o->default_value ? ", default " : "",
                    o->default_value ? o->default_value : "", o->description ? o->description : "");
        }
      if (enclaver_loader_count (l) == 0)
        printf ("no stage plugins found (see 'enclaver plugins --search-path')\n");
    }
  enclaver_loader_free (l);
  return EXIT_OK;
}
