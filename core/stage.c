/* enclaver: host services for stages and option parsing. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

#include <enclaver/loader.h>
#include "internal.h"

const char *
enclaver_stage_name (const enclaver_stage_t *stage)
{
  return stage->name;
}

unsigned
enclaver_stage_index (const enclaver_stage_t *stage)
{
  return stage->index;
}

void *
enclaver_stage_get_config (enclaver_stage_t *stage)
{
  return stage->config;
}

void
enclaver_stage_set_data (enclaver_stage_t *stage, void *data)
{
  stage->data = data;
}

void *
enclaver_stage_get_data (const enclaver_stage_t *stage)
{
  return stage->data;
}

void
enclaver_stage_log (const enclaver_stage_t *stage, int level, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  enclaver_vlog (level, stage->source, fmt, ap);
  va_end (ap);
}

const char *
enclaver_option_type_name (int type)
{
  switch (type)
    {
    case ENCLAVER_OPT_STRING:
      return "string";
    case ENCLAVER_OPT_BOOL:
      return "bool";
    case ENCLAVER_OPT_INT:
      return "int";
    case ENCLAVER_OPT_SIZE:
      return "size";
    default:
      return "unknown";
    }
}

static int
parse_bool (const char *v, int *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1" };
  static const char *const no[] = { "false", "no", "off", "0" };
  size_t i;
  for (i = 0; i < ARRAY_SIZE (yes); i++)
    if (strcasecmp (v, yes[i]) == 0)
      {
        *out = 1;
        return 0;
      }
  for (i = 0; i < ARRAY_SIZE (no); i++)
    if (strcasecmp (v, no[i]) == 0)
      {
        *out = 0;
        return 0;
      }
  return -1;
}

static int
parse_size (const char *v, uint64_t *out)
{
  char *end;
  uint64_t n, mult = 1;
  if (*v < '0' || *v > '9')
    return -1;
  errno = 0;
  n = strtoull (v, &end, 10);
  if (errno)
    return -1;
  if (*end)
    {
      switch (*end)
        {
        case 'k': case 'K': mult = 1ULL << 10; break;
        case 'M': mult = 1ULL << 20; break;
        case 'G': mult = 1ULL << 30; break;
        case 'T': mult = 1ULL << 40; break;
        default: return -1;
        }
      end++;
      if (*end == 'i')
        end++;
      if (*end == 'B')
        end++;
      if (*end)
        return -1;
    }
  if (n > UINT64_MAX / mult)
    return -1;
  *out = n * mult;
  return 0;
}

int
enclaver_option_parse (const struct enclaver_stage_option *opt, const char *value, void *config,
                       enclaver_error_t *err)
{
  char *field = (char *) config + opt->offset;

  switch (opt->type)
    {
    case ENCLAVER_OPT_STRING:
      {
        char **s = (char **) field;
        free (*s);
        *s = xstrdup (value);
        return 0;
      }
    case ENCLAVER_OPT_BOOL:
      {
        int b;
        if (parse_bool (value, &b) < 0)
          return enclaver_make_error (err, EINVAL, "option '%s': '%s' is not a boolean (true/false)",
                                      opt->name, value);
        memcpy (field, &b, sizeof b);
        return 0;
      }
    case ENCLAVER_OPT_INT:
      {
        char *end;
        long long n;
        errno = 0;
        n = strtoll (value, &end, 10);
        if (errno || end == value || *end)
          return enclaver_make_error (err, EINVAL, "option '%s': '%s' is not an integer", opt->name, value);
        memcpy (field, &n, sizeof n);
        return 0;
      }
    case ENCLAVER_OPT_SIZE:
      {
        uint64_t n;
        if (parse_size (value, &n) < 0)
          return enclaver_make_error (err, EINVAL,
                                      "option '%s': '%s' is not a size (bytes, or with K/M/G/T suffix)",
                                      opt->name, value);
        memcpy (field, &n, sizeof n);
        return 0;
      }
    default:
      return enclaver_make_error (err, EINVAL, "option '%s': unknown option type %d", opt->name, opt->type);
    }
}

void
enclaver_stage_config_free (const struct enclaver_stage_desc *desc, void *config)
{
  const struct enclaver_stage_option *o;
  if (config == NULL)
    return;
  for (o = desc->options; o && o->name; o++)
    if (o->type == ENCLAVER_OPT_STRING)
      {
        char *s;
        memcpy (&s, (char *) config + o->offset, sizeof s);
        free (s);
      }
  free (config);
}
