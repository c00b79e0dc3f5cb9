/* enclaver: the pipeline runner. */
#include "config.h"

#include <errno.h>

#include <enclaver/pipeline.h>
#include "internal.h"

const char *const enclaver_default_stages[] = {
  "fetch", "flatten", "inject", "measure", "emit-eif", "emit-image", NULL,
};

struct enclaver_pipeline
{
  enclaver_loader_t *loader;
  struct enclaver_stage **stages;
  size_t n_stages;
  const struct enclaver_hook_ops *hooks; /* borrowed; NULL: no binding */
  void *hooks_data;
  struct enclaver_kv *overrides; /* "STAGE.KEY" = value, from enclaver_pipeline_set_overrides */
  unsigned char *override_used;
  size_t n_overrides;
};

enclaver_pipeline_t *
enclaver_pipeline_new (enclaver_loader_t *loader)
{
  enclaver_pipeline_t *p = xmalloc0 (sizeof *p);
  p->loader = loader;
  return p;
}

void
enclaver_pipeline_set_hooks (enclaver_pipeline_t *p, const struct enclaver_hook_ops *ops, void *userdata)
{
  p->hooks = ops;
  p->hooks_data = userdata;
}

static void
stage_free (struct enclaver_stage *s)
{
  enclaver_stage_config_free (s->desc, s->config);
  free (s->source);
  free (s->name);
  free (s);
}

void
enclaver_pipeline_free (enclaver_pipeline_t *p)
{
  size_t i;
  if (p == NULL)
    return;
  for (i = 0; i < p->n_stages; i++)
    stage_free (p->stages[i]);
  free (p->stages);
  for (i = 0; i < p->n_overrides; i++)
    {
      free (p->overrides[i].key);
      free (p->overrides[i].value);
    }
  free (p->overrides);
  free (p->override_used);
  free (p);
}

int
enclaver_pipeline_set_overrides (enclaver_pipeline_t *p, const struct enclaver_kv *kv, size_t n, enclaver_error_t *err)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      const char *dot = kv[i].key ? strrchr (kv[i].key, '.') : NULL;
      if (dot == NULL || dot == kv[i].key || dot[1] == '\0' || kv[i].value == NULL)
        return enclaver_make_error (err, EINVAL, "stage option override '%s': expected STAGE.OPTION=VALUE",
                                    kv[i].key ? kv[i].key : "");
    }
  for (i = 0; i < n; i++)
    {
      p->overrides = xreallocarray (p->overrides, p->n_overrides + 1, sizeof *p->overrides);
      p->override_used = xrealloc (p->override_used, p->n_overrides + 1);
      p->overrides[p->n_overrides].key = xstrdup (kv[i].key);
      p->overrides[p->n_overrides].value = xstrdup (kv[i].value);
      p->override_used[p->n_overrides++] = 0;
    }
  return 0;
}

const char *
enclaver_pipeline_unused_override (const enclaver_pipeline_t *p)
{
  size_t i;
  for (i = 0; i < p->n_overrides; i++)
    if (!p->override_used[i])
      return p->overrides[i].key;
  return NULL;
}

/* An instance name: a stage name, optionally followed by ':' and a second one. */
static int
valid_instance_name (const char *n)
{
  size_t i, part = 0;
  for (i = 0; n[i]; i++)
    {
      char c = n[i];
      if (c == ':' && part > 0 && i > 0 && n[i + 1])
        {
          part = 0;
          continue;
        }
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (part > 0 && (c == '-' || c == '_'))))
        return 0;
      part++;
    }
  return i > 0 && i <= 130;
}

static const struct enclaver_stage_option *
find_option (const struct enclaver_stage_desc *d, const char *key)
{
  const struct enclaver_stage_option *o;
  for (o = d->options; o && o->name; o++)
    if (strcmp (o->name, key) == 0)
      return o;
  return NULL;
}

static int
unknown_option (const struct enclaver_stage_desc *d, const char *name, const char *key, enclaver_error_t *err)
{
  const struct enclaver_stage_option *o, *best = NULL;
  size_t best_d = (size_t) -1;
  for (o = d->options; o && o->name; o++)
    {
      size_t dist = enclaver_edit_distance (key, o->name);
      if (dist < best_d)
        {
          best_d = dist;
          best = o;
        }
    }
  if (best && best_d <= 2)
    return enclaver_make_error (err, EINVAL, "stage '%s': unknown option '%s' (did you mean '%s'?)", name, key,
                                best->name);
  if (d->options == NULL || d->options[0].name == NULL)
    return enclaver_make_error (err, EINVAL, "stage '%s': unknown option '%s' (this stage takes no options)",
                                name, key);
  return enclaver_make_error (err, EINVAL, "stage '%s': unknown option '%s' (see `enclaver plugins`)", name, key);
}

int
enclaver_pipeline_append (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc,
                          const struct enclaver_kv *opts, size_t n_opts, enclaver_error_t *err)
{
  return enclaver_pipeline_append_as (p, desc, NULL, opts, n_opts, err);
}

/* Whether override KEY ("NAME.OPTION") is for instance NAME (nl = strlen (NAME)). */
static int
override_for (const char *key, const char *name, size_t nl)
{
  return strncmp (key, name, nl) == 0 && key[nl] == '.' && strchr (key + nl + 1, '.') == NULL;
}

size_t
enclaver_pipeline_overrides_for (enclaver_pipeline_t *p, const char *name, struct enclaver_kv **out)
{
  size_t i, n = 0, nl = strlen (name);
  struct enclaver_kv *kv = xreallocarray (NULL, p->n_overrides + 1, sizeof *kv);
  for (i = 0; i < p->n_overrides; i++)
    if (override_for (p->overrides[i].key, name, nl))
      {
        p->override_used[i] = 1;
        kv[n].key = p->overrides[i].key + nl + 1;
        kv[n++].value = p->overrides[i].value;
      }
  *out = kv;
  return n;
}

/* The entry's options with the overrides for stage NAME applied (replacing a value or
 * adding the key); *out is malloc'd, its strings borrowed. */
static size_t
merge_overrides (enclaver_pipeline_t *p, const char *name, const struct enclaver_kv *opts, size_t n_opts,
                 struct enclaver_kv **out)
{
  size_t i, j, n = n_opts, nl = strlen (name);
  struct enclaver_kv *kv = xreallocarray (NULL, n_opts + p->n_overrides + 1, sizeof *kv);
  for (i = 0; i < n_opts; i++)
    kv[i] = opts[i];
  for (i = 0; i < p->n_overrides; i++)
    {
      const char *k = p->overrides[i].key;
      if (!override_for (k, name, nl))
        continue;
      p->override_used[i] = 1;
      for (j = 0; j < n; j++)
        if (strcmp (kv[j].key, k + nl + 1) == 0)
          break;
      kv[j].key = (char *) k + nl + 1;
      kv[j].value = p->overrides[i].value;
      if (j == n)
        n++;
    }
  *out = kv;
  return n;
}

int
enclaver_pipeline_append_as (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc, const char *name,
                             const struct enclaver_kv *opts_in, size_t n_in, enclaver_error_t *err)
{
  return enclaver_pipeline_append_flags (p, desc, name, opts_in, n_in, 0, err);
}

int
enclaver_pipeline_append_flags (enclaver_pipeline_t *p, const struct enclaver_stage_desc *desc, const char *name,
                                const struct enclaver_kv *opts_in, size_t n_in, unsigned flags, enclaver_error_t *err)
{
  struct enclaver_stage *s;
  const struct enclaver_stage_option *o;
  cleanup_free struct enclaver_kv *opts = NULL;
  size_t i, j, n_opts;

  if (name && !valid_instance_name (name))
    return enclaver_make_error (err, EINVAL,
                                "stage '%s': invalid instance name '%s' (NAME or NAME:NAME, each of lowercase "
                                "letters, digits, '-' and '_')",
                                desc->name, name);
  s = xmalloc0 (sizeof *s);
  s->desc = desc;
  s->name = xstrdup (name ? name : desc->name);
  s->index = (unsigned) p->n_stages;
  s->source = xasprintf ("stage:%s:%u", s->name, s->index);
  if (desc->config_size)
    s->config = xmalloc0 (desc->config_size);
  if (flags & ENCLAVER_PIPELINE_OWN_OVERRIDES)
    {
      opts = xreallocarray (NULL, n_in + 1, sizeof *opts);
      for (i = 0; i < n_in; i++)
        opts[i] = opts_in[i];
      n_opts = n_in;
    }
  else
    n_opts = merge_overrides (p, s->name, opts_in, n_in, &opts);

  for (i = 0; i < n_opts; i++)
    {
      for (j = 0; j < i; j++)
        if (strcmp (opts[i].key, opts[j].key) == 0)
          {
            enclaver_make_error (err, EINVAL, "stage '%s': option '%s' given twice", s->name, opts[i].key);
            stage_free (s);
            return -1;
          }
      if (find_option (desc, opts[i].key) == NULL)
        {
          unknown_option (desc, s->name, opts[i].key, err);
          stage_free (s);
          return -1;
        }
    }
  for (o = desc->options; o && o->name; o++)
    {
      const char *v = NULL;
      for (i = 0; i < n_opts; i++)
        if (strcmp (opts[i].key, o->name) == 0)
          v = opts[i].value;
      if (v == NULL && (o->flags & ENCLAVER_OPT_REQUIRED))
        {
          enclaver_make_error (err, EINVAL, "stage '%s': required option '%s' is missing (%s)", s->name, o->name,
                               o->description ? o->description : enclaver_option_type_name (o->type));
          stage_free (s);
          return -1;
        }
      if (v == NULL)
        v = o->default_value;
      if (v && enclaver_option_parse (o, v, s->config, err) < 0)
        {
          enclaver_error_wrap (err, "stage '%s'", s->name);
          stage_free (s);
          return -1;
        }
    }
  p->stages = xreallocarray (p->stages, p->n_stages + 1, sizeof *p->stages);
  p->stages[p->n_stages++] = s;
  return 0;
}

int
enclaver_pipeline_append_name (enclaver_pipeline_t *p, const char *name, const struct enclaver_kv *opts,
                               size_t n_opts, enclaver_error_t *err)
{
  const struct enclaver_stage_desc *d;
  if (enclaver_loader_load_name (p->loader, name, &d, err) < 0)
    return -1;
  return enclaver_pipeline_append (p, d, opts, n_opts, err);
}

int
enclaver_pipeline_from_manifest (enclaver_pipeline_t *p, const struct enclaver_manifest *m, enclaver_error_t *err)
{
  size_t i;
  if (m == NULL || m->n_pipeline == 0)
    {
      for (i = 0; enclaver_default_stages[i]; i++)
        if (enclaver_pipeline_append_name (p, enclaver_default_stages[i], NULL, 0, err) < 0)
          return -1;
      return 0;
    }
  for (i = 0; i < m->n_pipeline; i++)
    {
      const struct enclaver_pipeline_entry *e = &m->pipeline[i];
      const struct enclaver_stage_desc *d;
      int r;
      switch (e->kind)
        {
        case ENCLAVER_PIPELINE_BUILTIN:
          r = enclaver_pipeline_append_name (p, e->name, e->options, e->n_options, err);
          break;
        case ENCLAVER_PIPELINE_PLUGIN:
          r = enclaver_loader_load_file (p->loader, e->path, &d, err);
          if (r >= 0)
            r = enclaver_pipeline_append (p, d, e->options, e->n_options, err);
          break;
        case ENCLAVER_PIPELINE_LUA:
          if (p->hooks && p->hooks->stage_factory)
            r = p->hooks->stage_factory (p, e, p->hooks_data, err);
          else
            r = enclaver_make_error (err, ENOTSUP, "Lua stage %s: no Lua binding is registered in this program",
                                     e->path ? e->path : "");
          break;
        default:
          r = enclaver_make_error (err, EINVAL, "unknown pipeline entry kind %d", e->kind);
        }
      if (r < 0)
        return enclaver_error_wrap (err, "%s:%u: pipeline[%zu]", m->path ? m->path : "manifest", e->line, i);
    }
  return 0;
}

size_t
enclaver_pipeline_count (const enclaver_pipeline_t *p)
{
  return p->n_stages;
}

const char *
enclaver_pipeline_stage_name (const enclaver_pipeline_t *p, size_t i)
{
  return i < p->n_stages ? p->stages[i]->name : NULL;
}

static void
fire_advisory (enclaver_ctx_t *ctx, const char *event)
{
  enclaver_error_t e = NULL;
  if (enclaver_ctx_hook_fire (ctx, event, &e) < 0)
    enclaver_error_warn_and_release (&e, "hook");
}

int
enclaver_pipeline_run (enclaver_pipeline_t *p, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  size_t i, n_init = 0;
  int ret = 0;

  for (i = 0; i < p->n_stages; i++)
    {
      struct enclaver_stage *s = p->stages[i];
      if (s->desc->init)
        {
          enclaver_stage_log (s, ENCLAVER_LOG_DEBUG, "init");
          if (s->desc->init (s, err) < 0)
            {
              if (*err == NULL)
                enclaver_make_error (err, EIO, "init failed without a message");
              enclaver_error_wrap (err, "stage %s: init", s->name);
              ret = -1;
              break;
            }
        }
      s->initialised = 1;
      n_init++;
    }

  /* Every stage's check before any work: a bad output path fails the build at once. */
  for (i = 0; ret == 0 && i < p->n_stages; i++)
    {
      struct enclaver_stage *s = p->stages[i];
      if (ENCLAVER_STAGE_DESC_HAS_CHECK (s->desc) && s->desc->check)
        {
          enclaver_stage_log (s, ENCLAVER_LOG_DEBUG, "check");
          if (s->desc->check (s, ctx, err) < 0)
            {
              if (*err == NULL)
                enclaver_make_error (err, EIO, "check failed without a message");
              enclaver_error_wrap (err, "stage %s", s->name);
              ret = -1;
            }
        }
    }

  for (i = 0; ret == 0 && i < p->n_stages; i++)
    {
      struct enclaver_stage *s = p->stages[i];
      cleanup_free char *before = xasprintf ("before:%s", s->name);
      cleanup_free char *after = xasprintf ("after:%s", s->name);

      if (enclaver_ctx_hook_fire (ctx, before, err) < 0)
        {
          ret = -1;
          break;
        }
      if (s->desc->run)
        {
          int r;
          enclaver_stage_log (s, ENCLAVER_LOG_DEBUG, "run");
          enclaver_log_set_stage (s->name, (int) s->index);
          r = s->desc->run (s, ctx, err);
          enclaver_log_set_stage (NULL, -1);
          if (r < 0)
            {
              if (*err == NULL)
                enclaver_make_error (err, EIO, "failed without a message");
              enclaver_error_wrap (err, "stage %s", s->name);
              enclaver_error_set_field (err, "stage", s->name);
              enclaver_error_set_field_int (err, "stage_index", (long long) s->index);
              ret = -1;
              break;
            }
        }
      if (enclaver_ctx_hook_fire (ctx, after, err) < 0)
        {
          ret = -1;
          break;
        }
    }

  if (ret == 0)
    {
      if (enclaver_ctx_outputs_commit (ctx, err) < 0)
        ret = -1;
      else
        fire_advisory (ctx, "done");
    }
  if (ret < 0)
    {
      enclaver_ctx_outputs_discard (ctx);
      enclaver_ctx_set_failure (ctx, *err ? (*err)->msg : "unknown error");
      fire_advisory (ctx, "error");
    }

  for (i = n_init; i > 0; i--)
    {
      struct enclaver_stage *s = p->stages[i - 1];
      if (s->initialised && s->desc->fini)
        {
          enclaver_stage_log (s, ENCLAVER_LOG_DEBUG, "fini");
          s->desc->fini (s);
        }
      s->initialised = 0;
    }
  return ret;
}
