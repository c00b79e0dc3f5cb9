/* pcr-pin: an optional stage that fails the build when the measured PCRs differ from
 * the values pinned in a file (reproducible-build verification in CI as one stage),
 * printing both.  With update=true (`enclaver build --stage-opt pcr-pin.update=true`)
 * it rewrites the pin file instead, atomically and only when the whole build succeeds.
 * The pin file is what `enclaver build` prints: {"Measurements": {"PCR0": ...}}.
 * docs/plugins/pcr-pin.md. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <enclaver/build.h>
#include <enclaver/eif.h>
#include <enclaver/manifest.h>
#include "plugins/common/plugin-util.h"

#define PIN_MAX_SIZE (64u * 1024)

struct pin_config
{
  char *file;
  int update;
  char *pcrs;
};

static const struct enclaver_stage_option pin_options[] = {
  { ENCLAVER_OPT_STRING, "file", "pcrs.json", 0, offsetof (struct pin_config, file),
    "the pin file, relative to the manifest's directory: {\"Measurements\": {\"PCR0\": ...}} as `enclaver build` "
    "prints it (a bare {\"PCR0\": ...} object is read too)" },
  { ENCLAVER_OPT_BOOL, "update", "false", 0, offsetof (struct pin_config, update),
    "write the measured PCRs to the pin file instead of comparing (atomically, when the build succeeds)" },
  { ENCLAVER_OPT_STRING, "pcrs", "0,1,2,8", 0, offsetof (struct pin_config, pcrs),
    "the PCRs compared, of 0, 1, 2 and 8 (PCR8 only when pinned or measured)" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static const int known[] = { 0, 1, 2, 8 };
#define N_KNOWN 4

struct pins
{
  char *path;             /* absolute or manifest-relative, resolved */
  int compare[N_KNOWN];   /* from the pcrs option */
};

/* The values of a pin file; has[i] for known[i]. */
struct pinned
{
  uint8_t v[N_KNOWN][ENCLAVER_PCR_SIZE];
  int has[N_KNOWN];
};

static int
pin_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct pin_config *c = enclaver_stage_get_config (st);
  struct pins *p;
  size_t n, i, k;
  char **v;
  if (c->file == NULL || *c->file == '\0')
    return enclaver_make_error (err, EINVAL, "option file: empty path");
  p = calloc (1, sizeof *p);
  if (p == NULL)
    abort ();
  v = plugin_split_list (c->pcrs, &n);
  for (i = 0; i < n; i++)
    {
      const char *s = v[i];
      char *end;
      long x;
      if (strncmp (s, "PCR", 3) == 0 || strncmp (s, "pcr", 3) == 0)
        s += 3;
      x = strtol (s, &end, 10);
      for (k = 0; k < N_KNOWN && !(end != s && *end == '\0' && known[k] == x); k++)
        ;
      if (k == N_KNOWN)
        {
          enclaver_make_error (err, EINVAL, "option pcrs: '%s' is not one of 0, 1, 2, 8", v[i]);
          plugin_strv_free (v);
          free (p);
          return -1;
        }
      p->compare[k] = 1;
    }
  plugin_strv_free (v);
  if (n == 0)
    {
      free (p);
      return enclaver_make_error (err, EINVAL, "option pcrs: no PCR to compare");
    }
  enclaver_stage_set_data (st, p);
  return 0;
}

static void
pin_fini (enclaver_stage_t *st)
{
  struct pins *p = enclaver_stage_get_data (st);
  if (p)
    free (p->path);
  free (p);
  enclaver_stage_set_data (st, NULL);
}

/* The pin file's path: relative ones resolve against the manifest's directory. */
static const char *
pin_path (enclaver_stage_t *st, const enclaver_ctx_t *ctx)
{
  struct pin_config *c = enclaver_stage_get_config (st);
  struct pins *p = enclaver_stage_get_data (st);
  if (p->path == NULL)
    {
      const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
      const char *dir = m && m->dir ? m->dir : enclaver_ctx_get_param (ctx, "manifest-dir");
      size_t n;
      if (c->file[0] == '/' || dir == NULL)
        p->path = strdup (c->file);
      else
        {
          n = strlen (dir) + strlen (c->file) + 2;
          p->path = malloc (n);
          if (p->path)
            snprintf (p->path, n, "%s/%s", dir, c->file);
        }
      if (p->path == NULL)
        abort ();
    }
  return p->path;
}

static int
read_pins (const char *path, struct pinned *out, enclaver_error_t *err)
{
  char *text = NULL;
  json_error_t je;
  json_t *root, *o, *v;
  const char *key;
  size_t i;
  int r = -1;

  memset (out, 0, sizeof *out);
  if (plugin_read_file (path, PIN_MAX_SIZE, &text, NULL, err) < 0)
    return enclaver_error_wrap (err, "the pin file (create it with --stage-opt pcr-pin.update=true)");
  root = json_loads (text, 0, &je);
  free (text);
  if (root == NULL)
    return enclaver_make_error (err, EINVAL, "%s:%d:%d: not JSON: %s", path, je.line, je.column, je.text);
  o = json_object_get (root, "Measurements");
  if (o == NULL)
    o = root;
  if (!json_is_object (o))
    {
      enclaver_make_error (err, EINVAL, "%s: expected an object {\"Measurements\": {\"PCR0\": ...}}", path);
      goto out;
    }
  json_object_foreach (o, key, v)
  {
    char *end;
    long n;
    if (strncmp (key, "PCR", 3) != 0)
      continue; /* HashAlgorithm and the like */
    n = strtol (key + 3, &end, 10);
    for (i = 0; i < N_KNOWN && !(end != key + 3 && *end == '\0' && known[i] == n); i++)
      ;
    if (i == N_KNOWN)
      {
        enclaver_make_error (err, EINVAL, "%s: %s: a build measures PCR0, PCR1, PCR2 and PCR8 only", path, key);
        goto out;
      }
    if (!json_is_string (v) || enclaver_pcr_from_hex (json_string_value (v), out->v[i]) < 0)
      {
        enclaver_make_error (err, EINVAL, "%s: %s: expected 96 hex digits", path, key);
        goto out;
      }
    out->has[i] = 1;
  }
  for (i = 0; i < 3; i++)
    if (!out->has[i])
      {
        enclaver_make_error (err, EINVAL, "%s: no PCR%d (a pin file holds PCR0, PCR1 and PCR2, and PCR8 when signed)",
                             path, known[i]);
        goto out;
      }
  r = 0;
out:
  json_decref (root);
  return r;
}

/* Before any stage runs: the pin file reads (compare), or its directory takes files (update). */
static int
pin_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct pin_config *c = enclaver_stage_get_config (st);
  struct pinned pinned;
  if (c->update)
    return enclaver_build_check_output (pin_path (st, ctx), 0, "the pin file", err);
  return read_pins (pin_path (st, ctx), &pinned, err);
}

static const uint8_t *
measured (const struct enclaver_eif_measurements *m, size_t i)
{
  switch (known[i])
    {
    case 0:
      return m->pcr0;
    case 1:
      return m->pcr1;
    case 2:
      return m->pcr2;
    default:
      return m->has_pcr8 ? m->pcr8 : NULL;
    }
}

static int
write_pins (enclaver_ctx_t *ctx, const char *path, const struct enclaver_eif_measurements *m, enclaver_error_t *err)
{
  json_t *o = json_object (), *root = json_object ();
  char hex[ENCLAVER_PCR_HEX_SIZE], *text;
  size_t i, l;
  int r;
  json_object_set_new (o, "HashAlgorithm", json_string (ENCLAVER_PCR_HASH_ALGORITHM));
  for (i = 0; i < N_KNOWN; i++)
    if (measured (m, i))
      {
        char k[8];
        snprintf (k, sizeof k, "PCR%d", known[i]);
        enclaver_pcr_to_hex (measured (m, i), hex);
        json_object_set_new (o, k, json_string (hex));
      }
  json_object_set_new (root, "Measurements", o);
  text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (root);
  l = strlen (text);
  text = realloc (text, l + 2);
  if (text == NULL)
    abort ();
  memcpy (text + l, "\n", 2);
  r = plugin_write_output (ctx, path, text, l + 1, NULL, err);
  free (text);
  return r;
}

static int
pin_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct pin_config *c = enclaver_stage_get_config (st);
  struct pins *p = enclaver_stage_get_data (st);
  const struct enclaver_eif_measurements *m
    = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MEASUREMENTS, ENCLAVER_MEASUREMENTS_TYPE);
  const char *path = pin_path (st, ctx);
  struct pinned pinned;
  char *report = NULL;
  size_t len = 0, i;
  FILE *f;
  int differ = 0, n = 0, have_pins;

  if (m == NULL)
    return enclaver_make_error (err, EINVAL, "no PCRs in the build context: put pcr-pin after measure");
  have_pins = read_pins (path, &pinned, err) == 0;
  if (!have_pins && !c->update)
    return -1;
  enclaver_error_release (err);

  /* One line per PCR compared: both values, and which differ. */
  f = open_memstream (&report, &len);
  if (f == NULL)
    abort ();
  for (i = 0; i < N_KNOWN; i++)
    {
      const uint8_t *b = measured (m, i);
      const uint8_t *pv = have_pins && pinned.has[i] ? pinned.v[i] : NULL;
      char hb[ENCLAVER_PCR_HEX_SIZE] = "(not measured)", hp[ENCLAVER_PCR_HEX_SIZE] = "(not pinned)";
      int same;
      if (!p->compare[i] || (b == NULL && pv == NULL))
        continue;
      if (b)
        enclaver_pcr_to_hex (b, hb);
      if (pv)
        enclaver_pcr_to_hex (pv, hp);
      same = b && pv && memcmp (b, pv, ENCLAVER_PCR_SIZE) == 0;
      differ |= !same;
      n++;
      fprintf (f, "\n  PCR%d %s\n    pinned %s\n    built  %s", known[i], same ? "matches" : "DIFFERS", hp, hb);
    }
  fclose (f);

  if (c->update)
    {
      int r = 0;
      if (!have_pins || differ)
        {
          enclaver_stage_log_warning (st, "%s the pin file %s:%s", have_pins ? "updating" : "creating", path, report);
          r = write_pins (ctx, path, m, err);
        }
      else
        enclaver_stage_log_info (st, "the pins in %s are up to date", path);
      free (report);
      return r;
    }
  if (differ)
    {
      enclaver_make_error (err, EPERM,
                           "the PCRs differ from the ones pinned in %s:%s\n(if the change is intended, "
                           "rebuild with --stage-opt pcr-pin.update=true and commit the pin file)",
                           path, report);
      free (report);
      return -1;
    }
  enclaver_stage_log_info (st, "%d PCRs match the pins in %s", n, path);
  free (report);
  return 0;
}

ENCLAVER_STAGE_DEFINE (.name = "pcr-pin",
                       .description = "fail the build when the PCRs differ from a pinned file (or rewrite it with "
                                      "update=true)",
                       .options = pin_options, .config_size = sizeof (struct pin_config), .init = pin_init,
                       .run = pin_run, .fini = pin_fini, .check = pin_check);
