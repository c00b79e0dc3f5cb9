/* enclaver CLI: helpers shared by the EIF commands (describe, verify, sign, pcr,
 * eif build): JSON printing of measurements and the common option handling. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "util.h"

void
print_json (json_t *j)
{
  char *s = json_dumps (j, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (s == NULL)
    xoom ();
  fputs (s, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  free (s);
}

json_t *
pcr_json (const uint8_t pcr[ENCLAVER_PCR_SIZE])
{
  char hex[ENCLAVER_PCR_HEX_SIZE];
  enclaver_pcr_to_hex (pcr, hex);
  return json_string (hex);
}

/* {"HashAlgorithm":..., "PCR0":..., "PCR1":..., "PCR2":..., ["PCR8":...]} */
json_t *
measurements_json (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  json_object_set_new (o, "HashAlgorithm", json_string (ENCLAVER_PCR_HASH_ALGORITHM));
  json_object_set_new (o, "PCR0", pcr_json (m->pcr0));
  json_object_set_new (o, "PCR1", pcr_json (m->pcr1));
  json_object_set_new (o, "PCR2", pcr_json (m->pcr2));
  if (m->has_pcr8)
    json_object_set_new (o, "PCR8", pcr_json (m->pcr8));
  return o;
}

void
print_measurements (const struct enclaver_eif_measurements *m)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Measurements", measurements_json (m));
  print_json (o);
  json_decref (o);
}

/* Handle -h and the common options; returns -1 if not one of them, else the value
 * to return from the command (or 0 to continue). */
int
common_opt (const char *cmd, int c, const char *help)
{
  (void) cmd; /* cli_getopt reported bad options and applied the common ones */
  if (c == 'h')
    {
      cli_help (stdout, help);
      return EXIT_OK + 1000;
    }
  return -1;
}


char *
now_rfc3339 (void)
{
  const char *sde = getenv ("SOURCE_DATE_EPOCH");
  time_t t = time (NULL);
  struct tm tm;
  char buf[64];

  if (sde && *sde)
    {
      char *end;
      long long v;
      errno = 0;
      v = strtoll (sde, &end, 10);
      if (errno == 0 && *end == '\0' && v >= 0)
        t = (time_t) v;
      else
        enclaver_log_warning ("ignoring invalid SOURCE_DATE_EPOCH '%s'", sde);
    }
  gmtime_r (&t, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return xstrdup (buf);
}

int
one_file_arg (const char *cmd, int argc, char **argv, const char **file)
{
  if (optind >= argc)
    return cli_usage_error (cmd, "missing the EIF file argument");
  if (optind + 1 < argc)
    return cli_usage_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
  *file = argv[optind];
  return 0;
}


int
cli_load_pcrs_file (const char *cmd, const char *path, struct cli_expected_pcrs *ex, json_t **keep)
{
  json_error_t jerr;
  json_t *j, *m;
  static const int idx[] = { 0, 1, 2, 8 };
  int found = 0;
  cleanup_free char *text = NULL;
  size_t len;
  enclaver_error_t err = NULL;

  if (enclaver_read_file (path, 1u << 20, &text, &len, &err) < 0)
    {
      int rc = cli_usage_error (cmd, "--pcrs: %s", err->msg);
      enclaver_error_release (&err);
      return rc;
    }
  j = json_loadb (text, len, 0, &jerr);
  if (j == NULL)
    return cli_usage_error (cmd, "--pcrs %s: %s (line %d)", path, jerr.text, jerr.line);
  m = json_object_get (j, "Measurements");
  if (!json_is_object (m))
    m = j;
  if (!json_is_object (m))
    {
      json_decref (j);
      return cli_usage_error (cmd, "--pcrs %s: expected a JSON object", path);
    }
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    {
      char key[8];
      json_t *v;
      snprintf (key, sizeof key, "PCR%d", idx[i]);
      v = json_object_get (m, key);
      if (v == NULL)
        continue;
      if (!json_is_string (v))
        {
          json_decref (j);
          return cli_usage_error (cmd, "--pcrs %s: %s is not a string", path, key);
        }
      found++;
      if (ex->hex[idx[i]] == NULL)
        {
          ex->hex[idx[i]] = json_string_value (v);
          ex->from_file[idx[i]] = 1;
        }
    }
  if (!found)
    {
      json_decref (j);
      return cli_usage_error (cmd, "--pcrs %s: no PCR0/PCR1/PCR2/PCR8 values found", path);
    }
  *keep = j;
  return 0;
}

const uint8_t *
cli_pcr_of (const struct enclaver_eif_measurements *m, int n)
{
  switch (n)
    {
    case 0:
      return m->pcr0;
    case 1:
      return m->pcr1;
    case 2:
      return m->pcr2;
    case 8:
      return m->has_pcr8 ? m->pcr8 : NULL;
    default:
      return NULL;
    }
}
