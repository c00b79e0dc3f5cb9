/* prune: an optional stage that removes paths matching globs (documentation, manual
 * pages, locales, caches) from the rootfs before it is measured, and reports the bytes
 * saved.  It changes only the in-memory tree, the same way for the same input, so the
 * PCRs stay reproducible.  docs/plugins/prune.md. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <enclaver/build.h>
#include <enclaver/tree.h>
#include "plugins/common/plugin-util.h"

#define PRUNE_DEFAULT_PATHS \
  "usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* usr/share/i18n/locales/* " \
  "var/cache/* var/lib/apt/lists/* __pycache__"
/* Debian's copyright files are the licence notices of the packages: kept unless asked. */
#define PRUNE_DEFAULT_KEEP "usr/share/doc/*/copyright"

struct prune_config
{
  char *paths;
  char *add;
  char *keep;
  char *report;
  int dry_run;
};

static const struct enclaver_stage_option prune_options[] = {
  { ENCLAVER_OPT_STRING, "paths", PRUNE_DEFAULT_PATHS, 0, offsetof (struct prune_config, paths),
    "globs of the paths to remove, separated by commas or spaces; a glob with a '/' matches the whole path "
    "from the root, one without matches a name at any depth" },
  { ENCLAVER_OPT_STRING, "add", NULL, 0, offsetof (struct prune_config, add),
    "more globs to remove, in addition to paths" },
  { ENCLAVER_OPT_STRING, "keep", PRUNE_DEFAULT_KEEP, 0, offsetof (struct prune_config, keep),
    "globs of paths to keep even when a remove glob matches them or a directory above them" },
  { ENCLAVER_OPT_STRING, "report", NULL, 0, offsetof (struct prune_config, report),
    "also write a JSON report of what was removed to this file (relative to the output directory)" },
  { ENCLAVER_OPT_BOOL, "dry_run", "false", 0, offsetof (struct prune_config, dry_run),
    "only report what would be removed" },
  { 0, NULL, NULL, 0, 0, NULL },
};

struct globs
{
  char **remove, **keep;
  size_t n_remove, n_keep;
};

/* A glob must name something below the root: no '..', not only '*' and '/'. */
static int
check_glob (const char *g, const char *opt, enclaver_error_t *err)
{
  const char *p;
  int only_wild = 1;
  for (p = g; *p; p++)
    if (*p != '*' && *p != '/')
      only_wild = 0;
  if (only_wild)
    return enclaver_make_error (err, EINVAL, "option %s: glob '%s' would remove the whole rootfs", opt, g);
  for (p = g; *p; p += strcspn (p, "/"), p += *p == '/')
    if (strncmp (p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
      return enclaver_make_error (err, EINVAL, "option %s: glob '%s' has a '..' component", opt, g);
  return 0;
}

static int
add_globs (char ***v, size_t *n, const char *list, const char *opt, enclaver_error_t *err)
{
  size_t k, i;
  char **more = plugin_split_list (list, &k);
  for (i = 0; i < k; i++)
    {
      char *g = more[i];
      while (*g == '/')
        g++;
      if (check_glob (*g ? g : more[i], opt, err) < 0)
        {
          plugin_strv_free (more);
          return -1;
        }
      *v = realloc (*v, (*n + 2) * sizeof **v);
      if (*v == NULL)
        abort ();
      if (((*v)[*n] = strdup (g)) == NULL)
        abort ();
      (*v)[++*n] = NULL;
    }
  plugin_strv_free (more);
  return 0;
}

static void
globs_free (void *p)
{
  struct globs *g = p;
  if (g == NULL)
    return;
  plugin_strv_free (g->remove);
  plugin_strv_free (g->keep);
  free (g);
}

static int
prune_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct prune_config *c = enclaver_stage_get_config (st);
  struct globs *g = calloc (1, sizeof *g);
  if (g == NULL)
    abort ();
  if (add_globs (&g->remove, &g->n_remove, c->paths, "paths", err) < 0
      || add_globs (&g->remove, &g->n_remove, c->add, "add", err) < 0
      || add_globs (&g->keep, &g->n_keep, c->keep, "keep", err) < 0)
    {
      globs_free (g);
      return -1;
    }
  if (g->n_remove == 0)
    {
      globs_free (g);
      return enclaver_make_error (err, EINVAL, "options paths and add name nothing to remove");
    }
  enclaver_stage_set_data (st, g);
  return 0;
}

static void
prune_fini (enclaver_stage_t *st)
{
  globs_free (enclaver_stage_get_data (st));
  enclaver_stage_set_data (st, NULL);
}

static int
matches (char *const *v, size_t n, const char *path)
{
  const char *base = strrchr (path, '/');
  size_t i;
  base = base ? base + 1 : path;
  for (i = 0; i < n; i++)
    if (fnmatch (v[i], strchr (v[i], '/') ? path : base, FNM_PATHNAME) == 0)
      return 1;
  return 0;
}

/* One node the walk marked. */
struct mark
{
  char *path;
  int is_dir;
  uint64_t inode, size;
  uint32_t nlink;
};

struct walk
{
  const struct globs *g;
  /* the enclosing pruned / kept directories of the node being visited */
  char *pruned_dir, *kept_dir;
  size_t pruned_len, kept_len;
  struct mark *rm;        /* candidates in walk order (a directory before its children) */
  size_t n_rm;
  char **kept;            /* kept paths below a pruned directory */
  size_t n_kept;
};

static int
below (const char *dir, size_t len, const char *path)
{
  return dir && strncmp (path, dir, len) == 0 && path[len] == '/';
}

static int
walk_cb (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, const char *path, size_t path_len,
         const struct enclaver_tree_stat *st, void *ud, enclaver_error_t *err)
{
  struct walk *w = ud;
  int in_pruned, in_kept, keep, rm;
  (void) tree;
  (void) node;
  (void) err;
  in_pruned = below (w->pruned_dir, w->pruned_len, path);
  in_kept = below (w->kept_dir, w->kept_len, path);
  if (!in_pruned)
    {
      free (w->pruned_dir);
      w->pruned_dir = NULL;
    }
  if (!in_kept)
    {
      free (w->kept_dir);
      w->kept_dir = NULL;
    }
  keep = in_kept || matches (w->g->keep, w->g->n_keep, path);
  rm = !keep && (in_pruned || matches (w->g->remove, w->g->n_remove, path));
  if (keep && in_pruned)
    {
      w->kept = realloc (w->kept, (w->n_kept + 1) * sizeof *w->kept);
      if (w->kept == NULL || (w->kept[w->n_kept++] = strdup (path)) == NULL)
        abort ();
    }
  if (keep && st->type == ENCLAVER_NODE_DIR && !in_kept)
    {
      w->kept_dir = strdup (path);
      w->kept_len = path_len;
    }
  if (rm)
    {
      struct mark *m;
      w->rm = realloc (w->rm, (w->n_rm + 1) * sizeof *w->rm);
      if (w->rm == NULL)
        abort ();
      m = &w->rm[w->n_rm++];
      m->path = strdup (path);
      m->is_dir = st->type == ENCLAVER_NODE_DIR;
      m->inode = st->inode;
      m->size = st->type == ENCLAVER_NODE_REG ? st->size : 0;
      m->nlink = st->nlink;
      if (m->path == NULL)
        abort ();
      if (m->is_dir && !in_pruned)
        {
          free (w->pruned_dir);
          w->pruned_dir = strdup (path);
          w->pruned_len = path_len;
        }
    }
  return 0;
}

/* A pruned directory stays (without its other children) when something below it is kept. */
static int
holds_kept (const struct walk *w, const char *dir)
{
  size_t i, l = strlen (dir);
  for (i = 0; i < w->n_kept; i++)
    if (strncmp (w->kept[i], dir, l) == 0 && w->kept[i][l] == '/')
      return 1;
  return 0;
}

static int
cmp_inode (const void *a, const void *b)
{
  const struct mark *x = *(const struct mark *const *) a, *y = *(const struct mark *const *) b;
  return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Bytes freed: the content of every inode all of whose names are removed (a hardlink
 * kept elsewhere keeps its content). */
static uint64_t
bytes_saved (const struct walk *w)
{
  const struct mark **v = malloc ((w->n_rm + 1) * sizeof *v);
  size_t i, j, n = 0;
  uint64_t total = 0;
  if (v == NULL)
    abort ();
  for (i = 0; i < w->n_rm; i++)
    if (!w->rm[i].is_dir)
      v[n++] = &w->rm[i];
  qsort (v, n, sizeof *v, cmp_inode);
  for (i = 0; i < n; i = j)
    {
      for (j = i + 1; j < n && v[j]->inode == v[i]->inode; j++)
        ;
      if (j - i >= v[i]->nlink)
        total += v[i]->size;
    }
  free (v);
  return total;
}

static int
write_report (enclaver_ctx_t *ctx, const char *report, const char *const *removed, size_t n, uint64_t saved,
              int dry_run, enclaver_error_t *err)
{
  json_t *o = json_object (), *a = json_array ();
  char *path = plugin_output_path (ctx, report, ".prune.json");
  char *text;
  size_t i;
  int r;
  for (i = 0; i < n; i++)
    json_array_append_new (a, json_string (removed[i]));
  json_object_set_new (o, "dry_run", json_boolean (dry_run));
  json_object_set_new (o, "removed", a);
  json_object_set_new (o, "paths_removed", json_integer ((json_int_t) n));
  json_object_set_new (o, "bytes_saved", json_integer ((json_int_t) saved));
  text = json_dumps (o, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (o);
  if (text == NULL)
    {
      free (path);
      return enclaver_make_error (err, EINVAL, "the report has a path that is not UTF-8");
    }
  {
    size_t l = strlen (text);
    text = realloc (text, l + 2);
    if (text == NULL)
      abort ();
    text[l] = '\n';
    text[l + 1] = '\0';
  }
  r = plugin_write_output (ctx, path, text, strlen (text), NULL, err);
  free (text);
  free (path);
  return r;
}

static int
prune_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct prune_config *c = enclaver_stage_get_config (st);
  struct walk w = { .g = enclaver_stage_get_data (st) };
  enclaver_tree_t *tree = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  const char **removed = NULL;
  size_t i, n_removed = 0;
  uint64_t saved;
  char human[32];
  int r = -1;

  if (enclaver_ctx_slot_type (ctx, ENCLAVER_SLOT_MEASUREMENTS))
    return enclaver_make_error (err, EINVAL,
                                "the rootfs is already measured: put prune before measure in the pipeline");
  if (tree == NULL)
    return enclaver_make_error (err, EINVAL,
                                "the build context has no rootfs: put prune after flatten (and before measure)");
  if (enclaver_tree_walk (tree, "", 0, walk_cb, &w, err) < 0)
    goto out;
  saved = bytes_saved (&w);
  removed = calloc (w.n_rm + 1, sizeof *removed);
  if (removed == NULL)
    abort ();
  for (i = 0; i < w.n_rm; i++)
    {
      const struct mark *m = &w.rm[i];
      /* skip what a directory removed before already took with it */
      if (n_removed > 0)
        {
          const char *last = removed[n_removed - 1];
          size_t l = strlen (last);
          if (strncmp (m->path, last, l) == 0 && m->path[l] == '/')
            continue;
        }
      if (m->is_dir && holds_kept (&w, m->path))
        continue;
      if (!c->dry_run && enclaver_tree_remove (tree, m->path, err) < 0)
        {
          enclaver_error_wrap (err, "remove /%s", m->path);
          goto out;
        }
      removed[n_removed++] = m->path;
    }
  plugin_human_size (saved, human);
  enclaver_stage_log_info (st, "%s %zu paths, %s (%llu bytes) of file content%s", c->dry_run ? "would remove" : "removed",
                           n_removed, human, (unsigned long long) saved, c->dry_run ? " (dry run)" : " saved");
  for (i = 0; i < n_removed; i++)
    enclaver_stage_log_debug (st, "removed /%s", removed[i]);
  if (c->report && write_report (ctx, c->report, removed, n_removed, saved, c->dry_run, err) < 0)
    goto out;
  r = 0;
out:
  free (removed);
  for (i = 0; i < w.n_rm; i++)
    free (w.rm[i].path);
  free (w.rm);
  for (i = 0; i < w.n_kept; i++)
    free (w.kept[i]);
  free (w.kept);
  free (w.pruned_dir);
  free (w.kept_dir);
  return r;
}

/* Before any stage runs: the report's directory takes files. */
static int
prune_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct prune_config *c = enclaver_stage_get_config (st);
  char *path;
  int r;
  if (c->report == NULL)
    return 0;
  path = plugin_output_path (ctx, c->report, ".prune.json");
  r = enclaver_build_check_output (path, 0, "the prune report", err);
  free (path);
  return r;
}

ENCLAVER_STAGE_DEFINE (.name = "prune",
                       .description = "remove paths matching globs (docs, man pages, locales, caches) from the rootfs "
                                      "before it is measured; reports the bytes saved",
                       .options = prune_options, .config_size = sizeof (struct prune_config), .init = prune_init,
                       .run = prune_run, .fini = prune_fini, .check = prune_check);
