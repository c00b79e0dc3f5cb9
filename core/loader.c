/* enclaver: stage plugin loader (plain dlopen, checks before any plugin call). */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include <enclaver/loader.h>
#include "internal.h"

struct plugin
{
  char *path; /* canonical */
  void *handle;
  const struct enclaver_stage_desc *desc;
};

struct enclaver_loader
{
  char **dirs;
  size_t n_dirs;
  struct plugin *plugins;
  size_t n_plugins;
};

enclaver_loader_t *
enclaver_loader_new (void)
{
  return xmalloc0 (sizeof (struct enclaver_loader));
}

void
enclaver_loader_free (enclaver_loader_t *l)
{
  size_t i;
  if (l == NULL)
    return;
  for (i = 0; i < l->n_dirs; i++)
    free (l->dirs[i]);
  free (l->dirs);
  for (i = 0; i < l->n_plugins; i++)
    {
      /* Under ASan keep the objects mapped so leak reports stay symbolised. */
#if !defined(__SANITIZE_ADDRESS__)
      dlclose (l->plugins[i].handle);
#endif
      free (l->plugins[i].path);
    }
  free (l->plugins);
  free (l);
}

void
enclaver_loader_add_dir (enclaver_loader_t *l, const char *dir)
{
  size_t i;
  if (dir == NULL || *dir == '\0')
    return;
  for (i = 0; i < l->n_dirs; i++)
    if (strcmp (l->dirs[i], dir) == 0)
      return;
  l->dirs = xreallocarray (l->dirs, l->n_dirs + 1, sizeof *l->dirs);
  l->dirs[l->n_dirs++] = xstrdup (dir);
}

void
enclaver_loader_add_default_dirs (enclaver_loader_t *l)
{
  const char *env = getenv ("ENCLAVER_PLUGIN_PATH");
  cleanup_free char *self = enclaver_self_dir ();

  if (env && *env)
    {
      cleanup_free char *copy = xstrdup (env);
      char *save = NULL, *tok;
      for (tok = strtok_r (copy, ":", &save); tok; tok = strtok_r (NULL, ":", &save))
        enclaver_loader_add_dir (l, tok);
    }
  if (self && enclaver_in_build_tree (self))
    {
      cleanup_free char *d = xasprintf ("%s/stages/.libs", ABS_TOP_BUILDDIR);
      cleanup_free char *o = xasprintf ("%s/plugins/.libs", ABS_TOP_BUILDDIR);
      enclaver_loader_add_dir (l, d);
      enclaver_loader_add_dir (l, o); /* the optional plugins of plugins/ */
    }
  else
    {
      cleanup_free char *d = enclaver_relocated_dir (PKGLIBDIR);
      enclaver_loader_add_dir (l, d);
    }
  enclaver_loader_add_dir (l, PKGLIBDIR);
}

size_t
enclaver_loader_n_dirs (const enclaver_loader_t *l)
{
  return l->n_dirs;
}

const char *
enclaver_loader_dir (const enclaver_loader_t *l, size_t i)
{
  return i < l->n_dirs ? l->dirs[i] : NULL;
}

static int
valid_stage_name (const char *n)
{
  size_t i;
  if (n == NULL || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9')))
    return 0;
  for (i = 0; n[i]; i++)
    {
      char c = n[i];
      if (i >= 64)
        return 0;
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        return 0;
    }
  return 1;
}

int
enclaver_loader_load_file (enclaver_loader_t *l, const char *path, const struct enclaver_stage_desc **out,
                           enclaver_error_t *err)
{
  char canon[PATH_MAX];
  struct stat st;
  void *handle;
  const struct enclaver_stage_desc *d;
  uint32_t head[3];
  size_t i;

  if (realpath (path, canon) == NULL)
    return enclaver_make_errno (err, errno, "plugin %s", path);
  if (stat (canon, &st) < 0)
    return enclaver_make_errno (err, errno, "plugin %s", path);
  if (!S_ISREG (st.st_mode))
    return enclaver_make_error (err, EINVAL, "plugin %s: not a regular file", path);
  for (i = 0; i < l->n_plugins; i++)
    if (strcmp (l->plugins[i].path, canon) == 0)
      {
        *out = l->plugins[i].desc;
        return 0;
      }

  dlerror ();
  handle = dlopen (canon, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      const char *e = dlerror ();
      return enclaver_make_error (err, ENOEXEC, "plugin %s: cannot load: %s (check its dependencies with ldd)",
                                  path, e ? e : "unknown dlopen error");
    }
  d = dlsym (handle, ENCLAVER_STAGE_SYMBOL);
  if (d == NULL)
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC,
                                  "plugin %s: no '%s' symbol: not an enclaver stage plugin "
                                  "(define it with ENCLAVER_STAGE_DEFINE)",
                                  path, ENCLAVER_STAGE_SYMBOL);
    }
  /* Only the first three fields are guaranteed to exist in any version. */
  memcpy (head, d, sizeof head);
  if (head[0] != ENCLAVER_STAGE_ABI_MAJOR)
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC,
                                  "plugin %s: built for stage ABI %u.%u, this enclaver speaks %u.%u "
                                  "(major versions differ; rebuild the plugin)",
                                  path, head[0], head[1], ENCLAVER_STAGE_ABI_MAJOR, ENCLAVER_STAGE_ABI_MINOR);
    }
  if (head[1] > ENCLAVER_STAGE_ABI_MINOR)
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC,
                                  "plugin %s: built for stage ABI %u.%u, newer than this enclaver's %u.%u "
                                  "(upgrade enclaver)",
                                  path, head[0], head[1], ENCLAVER_STAGE_ABI_MAJOR, ENCLAVER_STAGE_ABI_MINOR);
    }
  if (head[2] < ENCLAVER_STAGE_DESC_MIN_SIZE)
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC,
                                  "plugin %s: stage descriptor is %u bytes, at least %u expected "
                                  "(corrupt or not built with ENCLAVER_STAGE_DEFINE)",
                                  path, head[2], ENCLAVER_STAGE_DESC_MIN_SIZE);
    }
  if (!valid_stage_name (d->name))
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC,
                                  "plugin %s: invalid stage name (want 1-64 of [a-z0-9_-], starting "
                                  "with a letter or digit)",
                                  path);
    }
  if (d->config_size > (1u << 20))
    {
      dlclose (handle);
      return enclaver_make_error (err, ENOEXEC, "plugin %s: config block of %zu bytes is too large", path,
                                  d->config_size);
    }
  if (d->options)
    {
      const struct enclaver_stage_option *o;
      for (o = d->options; o->name; o++)
        {
          size_t need = o->offset + (o->type == ENCLAVER_OPT_STRING ? sizeof (char *)
                                     : o->type == ENCLAVER_OPT_BOOL ? sizeof (int)
                                                                    : sizeof (uint64_t));
          if (o->type < ENCLAVER_OPT_STRING || o->type > ENCLAVER_OPT_SIZE || need > d->config_size)
            {
              dlclose (handle);
              return enclaver_make_error (err, ENOEXEC,
                                          "plugin %s: option '%s' has a bad type or lies outside the "
                                          "config block",
                                          path, o->name);
            }
        }
    }
  for (i = 0; i < l->n_plugins; i++)
    if (strcmp (l->plugins[i].desc->name, d->name) == 0)
      {
        /* d lives in the object: build the message before unloading it. */
        enclaver_make_error (err, EEXIST, "plugin %s: duplicate stage name '%s' (already loaded from %s)", path,
                             d->name, l->plugins[i].path);
        dlclose (handle);
        return -1;
      }

  l->plugins = xreallocarray (l->plugins, l->n_plugins + 1, sizeof *l->plugins);
  l->plugins[l->n_plugins].path = xstrdup (canon);
  l->plugins[l->n_plugins].handle = handle;
  l->plugins[l->n_plugins].desc = d;
  l->n_plugins++;
  enclaver_log (ENCLAVER_LOG_DEBUG, "loader", "loaded stage '%s' (ABI %u.%u) from %s", d->name, d->abi_major,
                d->abi_minor, canon);
  *out = d;
  return 0;
}

int
enclaver_loader_load_name (enclaver_loader_t *l, const char *name, const struct enclaver_stage_desc **out,
                           enclaver_error_t *err)
{
  size_t i;
  if (!valid_stage_name (name))
    return enclaver_make_error (err, EINVAL, "invalid stage name '%s'", name ? name : "(null)");
  for (i = 0; i < l->n_plugins; i++)
    if (strcmp (l->plugins[i].desc->name, name) == 0)
      {
        *out = l->plugins[i].desc;
        return 0;
      }
  for (i = 0; i < l->n_dirs; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s.so", l->dirs[i], name);
      if (access (p, F_OK) == 0)
        {
          const struct enclaver_stage_desc *d;
          if (enclaver_loader_load_file (l, p, &d, err) < 0)
            return -1;
          if (strcmp (d->name, name) != 0)
            return enclaver_make_error (err, EINVAL, "plugin %s: file is named '%s' but declares stage '%s'", p,
                                        name, d->name);
          *out = d;
          return 0;
        }
    }
  {
    /* Build the list of searched directories for the message. */
    size_t len = 1;
    cleanup_free char *where = NULL;
    for (i = 0; i < l->n_dirs; i++)
      len += strlen (l->dirs[i]) + 2;
    where = xmalloc0 (len);
    for (i = 0; i < l->n_dirs; i++)
      {
        if (i)
          strcat (where, ", ");
        strcat (where, l->dirs[i]);
      }
    return enclaver_make_error (err, ENOENT, "stage '%s' not found (searched: %s)", name,
                                l->n_dirs ? where : "no directories");
  }
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
enclaver_loader_scan (enclaver_loader_t *l, void (*warn) (void *ud, const char *path, const char *msg), void *ud,
                      enclaver_error_t *err)
{
  size_t i;
  int loaded = 0;
  (void) err;

  for (i = 0; i < l->n_dirs; i++)
    {
      cleanup_dir DIR *d = opendir (l->dirs[i]);
      struct dirent *de;
      char **names = NULL;
      size_t n = 0, j;
      if (d == NULL)
        continue;
      while ((de = readdir (d)) != NULL)
        {
          size_t nl = strlen (de->d_name);
          if (nl > 3 && strcmp (de->d_name + nl - 3, ".so") == 0)
            {
              names = xreallocarray (names, n + 1, sizeof *names);
              names[n++] = xstrdup (de->d_name);
            }
        }
      if (n > 1) /* names is NULL when the directory has no .so (qsort's base is nonnull) */
        qsort (names, n, sizeof *names, cmp_str);
      for (j = 0; j < n; j++)
        {
          cleanup_free char *p = xasprintf ("%s/%s", l->dirs[i], names[j]);
          cleanup_free char *stem = xstrndup (names[j], strlen (names[j]) - 3);
          const struct enclaver_stage_desc *desc;
          enclaver_error_t e = NULL;
          size_t k;
          int shadowed = 0;
          for (k = 0; k < l->n_plugins; k++)
            if (strcmp (l->plugins[k].desc->name, stem) == 0)
              shadowed = 1;
          if (shadowed)
            {
              enclaver_log (ENCLAVER_LOG_DEBUG, "loader", "%s is shadowed by a stage of the same name found earlier", p);
              continue;
            }
          if (enclaver_loader_load_file (l, p, &desc, &e) < 0)
            {
              if (warn)
                warn (ud, p, e->msg);
              enclaver_error_release (&e);
              continue;
            }
          loaded++;
        }
      for (j = 0; j < n; j++)
        free (names[j]);
      free (names);
    }
  return loaded;
}

size_t
enclaver_loader_count (const enclaver_loader_t *l)
{
  return l->n_plugins;
}

const struct enclaver_stage_desc *
enclaver_loader_desc (const enclaver_loader_t *l, size_t i)
{
  return i < l->n_plugins ? l->plugins[i].desc : NULL;
}

const char *
enclaver_loader_path (const enclaver_loader_t *l, size_t i)
{
  return i < l->n_plugins ? l->plugins[i].path : NULL;
}

const char *
enclaver_loader_path_of (const enclaver_loader_t *l, const struct enclaver_stage_desc *d)
{
  size_t i;
  for (i = 0; i < l->n_plugins; i++)
    if (l->plugins[i].desc == d)
      return l->plugins[i].path;
  return NULL;
}
