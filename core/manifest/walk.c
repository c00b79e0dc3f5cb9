/* enclaver: enclaver.yaml, second pass: one walker over the node tree, driven by the
 * schema tables of schema.c.  It fills struct enclaver_manifest, reports unknown keys
 * (with a did-you-mean suggestion), wrong types, values out of range, missing required
 * keys and the keys that have no effect yet; validate () re-checks the model against
 * the same tables (required keys, ranges, port collisions) after a caller changed it
 * (--from). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FIELD(obj, off, type) ((type *) (void *) ((char *) (obj) + (off)))

/* ------------------------------------------------------------------------- */
/* Typed readers                                                              */

static char *
path_idx (const char *path, size_t i)
{
  return xasprintf ("%s[%zu]", path, i);
}

/* A string without whitespace or control characters (image references, names). */
static int
get_word (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  const char *p;
  if (mf_get_string (c, n, path, out) < 0)
    return -1;
  for (p = *out; *p; p++)
    if (isspace ((unsigned char) *p) || iscntrl ((unsigned char) *p))
      {
        cleanup_free char *q = mf_quote (*out);
        mf_err_node (c, n, path, "%s must not contain whitespace or control characters", q);
        free (*out);
        *out = NULL;
        return -1;
      }
  return 0;
}

static int
get_int (struct pctx *c, const struct ynode *n, const char *path, int64_t min, int64_t max,
         int64_t *out)
{
  const char *s;
  char *end;
  long long v;

  if (n->kind != Y_SCALAR || mf_is_null (n))
    {
      mf_err_node (c, n, path, "expected an integer, got %s", mf_kind_name (n));
      return -1;
    }
  s = n->value;
  if (!n->plain)
    {
      cleanup_free char *q = mf_quote (s);
      mf_err_node (c, n, path, "expected an integer, got the quoted string %s", q);
      return -1;
    }
  if (!(isdigit ((unsigned char) s[0]) || (s[0] == '-' && isdigit ((unsigned char) s[1]))))
    {
      cleanup_free char *q = mf_quote (s);
      mf_err_node (c, n, path, "expected an integer, got %s", q);
      return -1;
    }
  errno = 0;
  v = strtoll (s, &end, 10);
  if (*end != '\0')
    {
      cleanup_free char *q = mf_quote (s);
      mf_err_node (c, n, path, "expected an integer, got %s", q);
      return -1;
    }
  if (errno == ERANGE || v < min || v > max)
    {
      cleanup_free char *q = mf_quote (s);
      mf_err_node (c, n, path, "%s is out of range (must be %" PRId64 "..%" PRId64 ")", q, min, max);
      return -1;
    }
  mf_pos_record (c, path, n);
  *out = v;
  return 0;
}

static int
get_port (struct pctx *c, const struct ynode *n, const char *path, uint16_t *out)
{
  int64_t v;
  if (get_int (c, n, path, 1, 65535, &v) < 0)
    return -1;
  *out = (uint16_t) v;
  return 0;
}

/* n must be a map whose keys are unique scalars.  Null counts as an empty map when
 * null_ok (a section with everything commented out). */
static int
check_map (struct pctx *c, const struct ynode *n, const char *path, bool null_ok)
{
  size_t i, j;
  int rc = 0;

  if (null_ok && mf_is_null (n))
    return 1; /* treat as absent */
  if (n->kind != Y_MAP)
    {
      mf_err_node (c, n, path, "expected a map, got %s", mf_kind_name (n));
      return -1;
    }
  mf_pos_record (c, path, n);
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i];
      if (k->kind != Y_SCALAR)
        {
          mf_err_node (c, k, path, "map keys must be strings, got %s", mf_kind_name (k));
          rc = -1;
          continue;
        }
      for (j = 0; j < i; j += 2)
        if (n->kids[j]->kind == Y_SCALAR && strcmp (n->kids[j]->value, k->value) == 0)
          {
            cleanup_free char *q = mf_quote (k->value);
            mf_err_node (c, k, path, "duplicate key %s (first given at line %u)", q,
                      n->kids[j]->line);
            rc = -1;
            break;
          }
    }
  return rc;
}

static int
check_seq (struct pctx *c, const struct ynode *n, const char *path)
{
  if (mf_is_null (n))
    return 1;
  if (n->kind != Y_SEQ)
    {
      mf_err_node (c, n, path, "expected a list, got %s", mf_kind_name (n));
      return -1;
    }
  mf_pos_record (c, path, n);
  return 0;
}

static int
get_path (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  cleanup_free char *raw = NULL;
  if (mf_get_string (c, n, path, &raw) < 0)
    return -1;
  free (*out);
  *out = enclaver_path_join_abs (c->dir, raw);
  return 0;
}

/* Local transports carry a path that is resolved against dir; others are kept. */
static int
get_ref (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  cleanup_free char *raw = NULL;
  enclaver_error_t e = NULL;
  char *r;

  if (mf_get_string (c, n, path, &raw) < 0)
    return -1;
  r = mf_resolve_ref (c->dir, raw, &e);
  if (r == NULL)
    {
      cleanup_free char *q = mf_quote (raw);
      mf_err_node (c, n, path, "invalid image reference %s: %s", q, e->msg);
      enclaver_error_release (&e);
      return -1;
    }
  free (*out);
  *out = r;
  return 0;
}


/* ------------------------------------------------------------------------- */
/* Key names                                                                  */

/* The names a section accepts, in table order, each key followed by its 0.5.0
 * spelling: the order of "expected one of" lists and of suggestions. */
static size_t
section_names (const struct mf_section *s, const char **names, size_t *key_of, size_t cap)
{
  size_t i, n = 0;
  for (i = 0; i < s->n_keys && n + 2 <= cap; i++)
    {
      key_of[n] = i;
      names[n++] = s->keys[i].name;
      if (s->keys[i].alias)
        {
          key_of[n] = i;
          names[n++] = s->keys[i].alias;
        }
    }
  return n;
}

#define MAX_KEYS 32
#define MAX_NAMES (2 * MAX_KEYS) /* every key and its 0.5.0 spelling */

/* Index of key k in s, or -1 after reporting it as unknown (with a suggestion).
 * *alias tells whether the 0.5.0 spelling was written. */
static int
known_key (struct pctx *c, const struct ynode *k, const char *path, const struct mf_section *s,
           bool *alias)
{
  const char *known[MAX_NAMES];
  size_t key_of[MAX_NAMES];
  size_t nknown = section_names (s, known, key_of, MAX_NAMES);
  size_t i, best = SIZE_MAX, bi = 0;
  cleanup_free char *full = NULL;
  cleanup_free char *q = NULL;
  cleanup_free char *hint = NULL;
  const char *why;

  for (i = 0; i < nknown; i++)
    if (strcmp (k->value, known[i]) == 0)
      {
        *alias = s->keys[key_of[i]].alias != NULL && known[i] == s->keys[key_of[i]].alias;
        return (int) key_of[i];
      }
  for (i = 0; i < nknown; i++)
    {
      size_t d = enclaver_edit_distance (k->value, known[i]);
      if (d < best)
        best = d, bi = i;
    }
  full = mf_path_key (path, k->value);
  q = mf_quote (k->value);
  if (best <= (strlen (known[bi]) >= 6 ? 3u : 2u) && best < strlen (k->value))
    mf_err_node (c, k, full, "unknown key %s (did you mean \"%s\"?)", q, known[bi]);
  else if (*path == '\0' && (why = mf_refused_why (k->value)) != NULL)
    mf_err_node (c, k, full, "unknown key %s (%s)", q, why);
  else if (*path == '\0' && (hint = mf_misplaced_hint (k->value)) != NULL)
    mf_err_node (c, k, full, "unknown key %s at the top level (did you mean \"%s\"?)", q, hint);
  else
    {
      /* list what is allowed here, it is short */
      size_t len = 0;
      cleanup_free char *list = NULL;
      for (i = 0; i < nknown; i++)
        len += strlen (known[i]) + 2;
      list = xmalloc (len + 1);
      list[0] = '\0';
      for (i = 0; i < nknown; i++)
        {
          if (i)
            strcat (list, ", ");
          strcat (list, known[i]);
        }
      mf_err_node (c, k, full, "unknown key %s (expected one of: %s)", q, list);
    }
  return -1;
}

/* ------------------------------------------------------------------------- */
/* The walker                                                                 */

static void walk_map (struct pctx *c, const struct mf_section *s, const struct ynode *n,
                      const char *path, void *obj, size_t has_at);

static void
note_no_effect (struct pctx *c, const char *path, const struct ynode *k, const char *what)
{
  struct enclaver_manifest *m = c->m;
  struct enclaver_manifest_key *e;
  m->no_effect = xreallocarray (m->no_effect, m->n_no_effect + 1, sizeof *m->no_effect);
  e = &m->no_effect[m->n_no_effect++];
  e->path = xstrdup (path);
  e->line = k->line;
  e->col = k->col;
  e->what = what;
}

/* One string-like value into *out; 0 when read (and valid). */
static int
read_string (struct pctx *c, int type, const struct mf_key *k, const struct ynode *v,
             const char *path, char **out)
{
  int r;
  switch (type)
    {
    case MT_WORD:
      r = get_word (c, v, path, out);
      break;
    case MT_PATH:
      if (k && k->words && v->kind == Y_SCALAR)
        {
          const char *const *w;
          for (w = k->words; *w; w++)
            if (strcmp (v->value, *w) == 0)
              {
                free (*out);
                *out = xstrdup (v->value);
                return 0;
              }
        }
      r = get_path (c, v, path, out);
      break;
    case MT_REF:
      r = get_ref (c, v, path, out);
      break;
    default:
      r = mf_get_string (c, v, path, out);
      break;
    }
  if (r == 0 && k && k->check)
    r = k->check (c, v, path, out);
  return r;
}

static void
walk_list (struct pctx *c, const struct mf_key *k, const struct ynode *v, const char *path, void *obj)
{
  const struct mf_section *s = k->sub;
  size_t *count = FIELD (obj, k->count_off, size_t);
  char *arr;
  size_t i;

  if (check_seq (c, v, path) != 0)
    return;
  if ((s->flags & MS_NONEMPTY) && v->n == 0)
    {
      mf_err_node (c, v, path, "%s", s->empty_msg);
      return;
    }
  arr = xmalloc0 ((v->n ? v->n : 1) * s->elem_size);
  *FIELD (obj, k->off, void *) = arr;
  for (i = 0; i < v->n; i++)
    {
      const struct ynode *item = v->kids[i];
      void *iobj = arr + (*count)++ * s->elem_size;
      cleanup_free char *ipath = path_idx (path, i);

      if (s->line_at)
        *FIELD (iobj, s->line_at - 1, unsigned) = item->line;
      if (s->scalar_item && item->kind == Y_SCALAR && !mf_is_null (item))
        {
          mf_pos_record (c, ipath, item);
          s->scalar_item (c, item, ipath, iobj);
          continue;
        }
      if (s->not_map_msg && item->kind != Y_MAP)
        {
          mf_err_node (c, item, ipath, "%s, got %s", s->not_map_msg, mf_kind_name (item));
          continue;
        }
      if (s->short_item && s->short_item (c, item, ipath, iobj))
        continue;
      walk_map (c, s, item, ipath, iobj, 0);
    }
}

static void
walk_scalars (struct pctx *c, const struct mf_key *k, const struct ynode *v, const char *path,
              void *obj)
{
  size_t *count = FIELD (obj, k->count_off, size_t);
  char **arr;
  size_t i;

  if (check_seq (c, v, path) != 0)
    return;
  arr = xmalloc0 ((v->n + 1) * sizeof *arr);
  *FIELD (obj, k->off, char **) = arr;
  for (i = 0; i < v->n; i++)
    {
      cleanup_free char *ipath = path_idx (path, i);
      char *s = NULL;
      if (read_string (c, k->item, k, v->kids[i], ipath, &s) < 0)
        {
          free (s);
          continue;
        }
      arr[(*count)++] = s;
    }
}

static void
walk_kv (struct pctx *c, const struct mf_key *k, const struct ynode *v, const char *path, void *obj)
{
  size_t *count = FIELD (obj, k->count_off, size_t);
  struct enclaver_kv *kv;
  size_t i;

  if (check_map (c, v, path, true) != 0)
    return;
  kv = xmalloc0 ((v->n / 2 + 1) * sizeof *kv);
  *FIELD (obj, k->off, struct enclaver_kv *) = kv;
  for (i = 0; i < v->n; i += 2)
    {
      const struct ynode *rk = v->kids[i], *rv = v->kids[i + 1];
      cleanup_free char *rpath = NULL;
      char *val = NULL;
      if (rk->kind != Y_SCALAR)
        continue;
      rpath = mf_path_key (path, rk->value);
      if (k->kv_check (c, rk, rv, rpath, &val) < 0)
        continue;
      kv[*count].key = xstrdup (rk->value);
      kv[*count].value = val;
      (*count)++;
    }
}

/* The value v of key k, at path, in the section at ppath (alias: the 0.5.0 spelling). */
static void
read_value (struct pctx *c, const struct mf_key *k, bool alias, const struct ynode *v,
            const char *ppath, const char *path, void *obj)
{
  switch (k->type)
    {
    case MT_SECTION:
      walk_map (c, k->sub, v, path, obj, k->has_at);
      return;
    case MT_LIST:
      walk_list (c, k, v, path, obj);
      return;
    case MT_SCALARS:
      walk_scalars (c, k, v, path, obj);
      return;
    case MT_KV:
      walk_kv (c, k, v, path, obj);
      return;
    case MT_INT:
      if (get_int (c, v, path, k->min, k->max, FIELD (obj, k->off, int64_t)) == 0 && k->has_at)
        *FIELD (obj, k->has_at - 1, int) = 1;
      return;
    case MT_PORT:
      get_port (c, v, path, FIELD (obj, k->off, uint16_t));
      return;
    default:
      if (read_string (c, k->type, k, v, path, FIELD (obj, k->off, char *)) == 0)
        {
          if (k->legacy_at)
            *FIELD (obj, k->legacy_at - 1, int) = alias;
          if (k->alias)
            {
              /* recorded under the 0.6 name too, for validate's messages */
              cleanup_free char *norm = mf_path_key (ppath, k->name);
              mf_pos_record (c, norm, v);
            }
        }
      return;
    }
}

static void
walk_map (struct pctx *c, const struct mf_section *s, const struct ynode *n, const char *path,
          void *obj, size_t has_at)
{
  const struct ynode *seen[MAX_KEYS] = { NULL };
  const struct mf_key *chosen = NULL;
  size_t i, nseen = 0;

  if (s->n_keys > MAX_KEYS)
    abort (); /* a schema section with more keys than seen[] holds: raise MAX_KEYS */
  if (check_map (c, n, path, (s->flags & MS_NULL_OK) != 0) != 0)
    return;
  if (has_at)
    *FIELD (obj, has_at - 1, int) = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *kpath = NULL;
      const struct mf_key *kd;
      bool alias = false;
      int idx;

      if (k->kind != Y_SCALAR || (idx = known_key (c, k, path, s, &alias)) < 0)
        continue;
      kd = &s->keys[idx];
      kpath = mf_path_key (path, k->value);
      if (seen[idx] != NULL)
        {
          /* only two spellings of one key get here; a repeated key is a duplicate */
          mf_err_node (c, k, kpath,
                       "\"%s\" given twice: \"%s\" (0.5.0) and \"%s\" (0.6) are two spellings of "
                       "the same key (the other one is at line %u)",
                       k->value, kd->alias, kd->name, seen[idx]->line);
          continue;
        }
      if (kd->flags & MK_ONE_OF)
        {
          if (chosen != NULL)
            {
              mf_err_node (c, k, kpath, "\"%s\" and \"%s\" in one entry (give exactly one)",
                           chosen->name, k->value);
              continue;
            }
          chosen = kd;
          if (s->tag_at)
            *FIELD (obj, s->tag_at - 1, int) = kd->tag;
        }
      seen[idx] = k;
      nseen++;
      /* an empty section is the same as none: nothing to warn about */
      if ((kd->flags & MK_NO_EFFECT) && !mf_is_null (v))
        note_no_effect (c, kpath, k, kd->what);
      read_value (c, kd, alias, v, path, kpath, obj);
    }

  for (i = 0; i < s->n_keys; i++)
    if ((s->keys[i].flags & MK_REQUIRED) && seen[i] == NULL)
      mf_err_node (c, n, path, "missing required key \"%s\"", s->keys[i].name);
  if ((s->flags & MS_TOGETHER) && nseen > 0 && nseen < s->n_keys)
    for (i = 0; i < s->n_keys; i++)
      if (seen[i] == NULL)
        {
          mf_err_node (c, n, path, "\"%s\" and \"%s\" go together (\"%s\" is missing)",
                       s->keys[0].name, s->keys[1].name, s->keys[i].name);
          break;
        }
  if (chosen == NULL)
    {
      /* missing "a", "b" or "c" */
      char buf[256] = "missing";
      size_t nof = 0, total = 0;
      for (i = 0; i < s->n_keys; i++)
        total += (s->keys[i].flags & MK_ONE_OF) != 0;
      for (i = 0; i < s->n_keys && total > 0; i++)
        if (s->keys[i].flags & MK_ONE_OF)
          {
            size_t l = strlen (buf);
            snprintf (buf + l, sizeof buf - l, "%s\"%s\"",
                      nof == 0 ? " " : nof + 1 == total ? " or " : ", ", s->keys[i].name);
            nof++;
          }
      if (total > 0)
        mf_err_node (c, n, path, "%s", buf);
    }
  for (i = 0; i < s->n_keys; i++)
    if (s->keys[i].dflt_str && *FIELD (obj, s->keys[i].off, char *) == NULL)
      *FIELD (obj, s->keys[i].off, char *) = xstrdup (s->keys[i].dflt_str);
  if (s->post)
    s->post (c, n, path, obj);
}

void
mf_walk_root (struct pctx *c, const struct ynode *root)
{
  if (root->kind != Y_MAP)
    {
      mf_err_node (c, root, NULL, "the manifest must be a map of keys (version, name, ...), got %s",
                   mf_kind_name (root));
      return;
    }
  walk_map (c, &mf_root, root, "", c->m, 0);
}

/* ------------------------------------------------------------------------- */
/* Defaults and the whole-manifest checks                                     */

static void
defaults_of (const struct mf_section *s, void *obj)
{
  size_t i;
  for (i = 0; i < s->n_keys; i++)
    {
      const struct mf_key *k = &s->keys[i];
      if (k->type == MT_SECTION)
        defaults_of (k->sub, obj);
      else if (k->type == MT_INT && k->dflt != 0)
        *FIELD (obj, k->off, int64_t) = k->dflt;
      else if (k->type == MT_PORT && k->dflt != 0)
        *FIELD (obj, k->off, uint16_t) = (uint16_t) k->dflt;
    }
}

void
mf_apply_defaults (struct enclaver_manifest *m)
{
  defaults_of (&mf_root, m);
}

static bool
is_string_type (int type)
{
  return type == MT_STRING || type == MT_WORD || type == MT_PATH || type == MT_REF;
}

static void
validate_section (struct pctx *c, const struct mf_section *s, const char *path, const void *obj,
                  unsigned flags)
{
  size_t i, given = 0, strings = 0;

  for (i = 0; i < s->n_keys; i++)
    {
      const struct mf_key *k = &s->keys[i];
      cleanup_free char *kpath = mf_path_key (path, k->name);

      if (is_string_type (k->type))
        {
          strings++;
          given += *FIELD (obj, k->off, char *) != NULL;
        }
      if ((k->flags & MK_REQUIRED_LATE) && *FIELD (obj, k->off, char *) == NULL
          && !(flags & k->waive))
        {
          const char *sp = k->hint ? " (" : "", *h = k->hint ? k->hint : "",
                     *ep = k->hint ? ")" : "";
          if (*path == '\0')
            mf_err_path (c, "", "missing required key \"%s\"%s%s%s", k->name, sp, h, ep);
          else if (mf_pos_find (c, path) != NULL)
            mf_err_path (c, path, "missing required key \"%s\"%s%s%s", k->name, sp, h, ep);
          else
            mf_err_path (c, "", "missing required key \"%s\" with \"%s\"%s%s%s", path, k->name,
                         sp, h, ep);
        }
      if (k->type == MT_SECTION)
        validate_section (c, k->sub, kpath, obj, flags);
      if (k->type == MT_INT)
        {
          int64_t v = *FIELD (obj, k->off, int64_t);
          bool set = k->has_at ? *FIELD (obj, k->has_at - 1, int) != 0
                     : (k->flags & MK_ZERO_UNSET) ? v != 0
                                                  : true;
          if (set && (v < k->min || v > k->max))
            mf_err_path (c, kpath, "%" PRId64 " is out of range (must be %" PRId64 "..%" PRId64 ")", v,
                         k->min, k->max);
        }
    }
  if ((s->flags & MS_TOGETHER) && given > 0 && given < strings)
    mf_err_path (c, path, "\"%s\" and \"%s\" go together", s->keys[0].name, s->keys[1].name);
}

/* The key (and its section's key, for the presence flag) a dotted path names in s. */
static const struct mf_key *
find_key (const struct mf_section *s, const char *name, size_t len)
{
  size_t i;
  for (i = 0; s && i < s->n_keys; i++)
    if ((strlen (s->keys[i].name) == len && strncmp (s->keys[i].name, name, len) == 0)
        || (s->keys[i].alias && strlen (s->keys[i].alias) == len
            && strncmp (s->keys[i].alias, name, len) == 0))
      return &s->keys[i];
  return NULL;
}

struct port_use
{
  char *key;
  uint16_t port;
};

static void
check_collisions (struct pctx *c, struct port_use *u, size_t n, const char *space)
{
  size_t i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < i; j++)
      if (u[i].port == u[j].port)
        {
          mf_err_path (c, u[i].key, "port %u is also used by %s (%s)", u[i].port, u[j].key,
                       space);
          break;
        }
}

/* Every port a path of a port space names ("SECTION.KEY" or "LIST[].KEY"). */
static void
collect_ports (const struct enclaver_manifest *m, const char *path, struct port_use **u,
               size_t *n)
{
  const char *dot = strchr (path, '.');
  size_t plen = (size_t) (dot - path);
  bool list = plen > 2 && path[plen - 2] == '[' && path[plen - 1] == ']';
  const struct mf_key *sec = find_key (&mf_root, path, list ? plen - 2 : plen);
  const struct mf_key *k = sec ? find_key (sec->sub, dot + 1, strlen (dot + 1)) : NULL;
  size_t i;

  if (k == NULL || k->type != MT_PORT)
    return;
  if (!list)
    {
      if (sec->has_at && !*FIELD (m, sec->has_at - 1, int))
        return;
      *u = xreallocarray (*u, *n + 1, sizeof **u);
      (*u)[*n].key = xstrdup (path);
      (*u)[(*n)++].port = *FIELD (m, k->off, uint16_t);
      return;
    }
  for (i = 0; i < *FIELD (m, sec->count_off, size_t); i++)
    {
      const char *item = *FIELD (m, sec->off, char *) + i * sec->sub->elem_size;
      uint16_t port = *FIELD (item, k->off, uint16_t);
      if (port == 0)
        continue;
      *u = xreallocarray (*u, *n + 1, sizeof **u);
      (*u)[*n].key = xasprintf ("%.*s[%zu]%s", (int) (plen - 2), path, i, dot);
      (*u)[(*n)++].port = port;
    }
}

void
mf_validate (struct pctx *c, const struct enclaver_manifest *m, unsigned flags)
{
  size_t s, i;

  validate_section (c, &mf_root, "", m, flags);
  if (c->nerr > 0)
    return;
  /* Ports.  Ingress ports are vsock ports and in-enclave TCP ports at the same time;
   * the proxies inside the enclave listen on 127.0.0.1. */
  for (s = 0; s < mf_n_port_spaces; s++)
    {
      const struct mf_port_space *sp = &mf_port_spaces[s];
      struct port_use *u = NULL;
      size_t n = 0;
      const char *const *p;

      if (sp->after_clean && c->nerr > 0)
        continue;
      for (p = sp->paths; *p; p++)
        collect_ports (m, *p, &u, &n);
      check_collisions (c, u, n, sp->name);
      for (i = 0; i < n; i++)
        free (u[i].key);
      free (u);
    }
}

int
mf_key_status (const char *path)
{
  const struct mf_section *s = &mf_root;
  const char *p = path;
  int status = ENCLAVER_MANIFEST_KEY_IMPLEMENTED;

  if (path == NULL || *path == '\0')
    return ENCLAVER_MANIFEST_KEY_UNKNOWN;
  for (;;)
    {
      size_t len = strcspn (p, ".[");
      const struct mf_key *k = find_key (s, p, len);
      if (k == NULL)
        return ENCLAVER_MANIFEST_KEY_UNKNOWN;
      if (k->flags & MK_NO_EFFECT)
        status = ENCLAVER_MANIFEST_KEY_NO_EFFECT;
      p += len;
      if (*p == '[')
        {
          const char *e = strchr (p, ']');
          if (e == NULL || k->type != MT_LIST)
            return ENCLAVER_MANIFEST_KEY_UNKNOWN;
          p = e + 1;
        }
      if (*p == '\0')
        return status;
      if (*p != '.' || (k->type != MT_SECTION && k->type != MT_LIST))
        return ENCLAVER_MANIFEST_KEY_UNKNOWN;
      p++;
      s = k->sub;
    }
}
