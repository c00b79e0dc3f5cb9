/* enclaver: the build context (slots, params, outputs, hooks). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <enclaver/log.h>

#include <enclaver/context.h>
#include <enclaver/manifest.h>
#include <enclaver/tempfiles.h>
#include "internal.h"

struct slot
{
  char *type;
  void *value;
  void (*free_fn) (void *);
};

struct hook
{
  char *event;
  enclaver_hook_fn fn;
  void *userdata;
  void (*free_fn) (void *);
};

struct output
{
  char *final_path;
  char *tmp_path;
  int committed;
  int is_dir;
};

struct enclaver_ctx
{
  struct slot slots[ENCLAVER_SLOT_COUNT];
  struct enclaver_kv *params;
  size_t n_params;
  struct output *outputs;
  size_t n_outputs;
  int *dir_locks; /* a shared flock on each directory this build writes outputs into */
  size_t n_dir_locks;
  struct hook *hooks;
  size_t n_hooks;
  char *failure;
};

static const char *const slot_names[ENCLAVER_SLOT_COUNT] = {
  [ENCLAVER_SLOT_MANIFEST] = "manifest",
  [ENCLAVER_SLOT_IMAGE] = "image",
  [ENCLAVER_SLOT_ROOTFS] = "rootfs",
  [ENCLAVER_SLOT_RAMDISKS] = "ramdisks",
  [ENCLAVER_SLOT_KERNEL] = "kernel",
  [ENCLAVER_SLOT_CMDLINE] = "cmdline",
  [ENCLAVER_SLOT_MEASUREMENTS] = "measurements",
  [ENCLAVER_SLOT_ARTIFACTS] = "artifacts",
};

const char *
enclaver_slot_name (int slot)
{
  if (slot < 0 || slot >= ENCLAVER_SLOT_COUNT)
    return NULL;
  return slot_names[slot];
}

int
enclaver_slot_from_name (const char *name)
{
  int i;
  for (i = 0; i < ENCLAVER_SLOT_COUNT; i++)
    if (strcmp (slot_names[i], name) == 0)
      return i;
  return -1;
}

enclaver_ctx_t *
enclaver_ctx_new (void)
{
  return xmalloc0 (sizeof (struct enclaver_ctx));
}

static void
slot_clear (struct slot *s)
{
  if (s->value && s->free_fn)
    s->free_fn (s->value);
  free (s->type);
  s->type = NULL;
  s->value = NULL;
  s->free_fn = NULL;
}

void
enclaver_ctx_free (enclaver_ctx_t *ctx)
{
  size_t i;
  if (ctx == NULL)
    return;
  enclaver_ctx_outputs_discard (ctx);
  free (ctx->dir_locks);
  for (i = 0; i < ENCLAVER_SLOT_COUNT; i++)
    slot_clear (&ctx->slots[i]);
  for (i = 0; i < ctx->n_params; i++)
    {
      free (ctx->params[i].key);
      free (ctx->params[i].value);
    }
  free (ctx->params);
  for (i = 0; i < ctx->n_outputs; i++)
    {
      free (ctx->outputs[i].final_path);
      free (ctx->outputs[i].tmp_path);
    }
  free (ctx->outputs);
  for (i = 0; i < ctx->n_hooks; i++)
    {
      if (ctx->hooks[i].free_fn)
        ctx->hooks[i].free_fn (ctx->hooks[i].userdata);
      free (ctx->hooks[i].event);
    }
  free (ctx->hooks);
  free (ctx->failure);
  free (ctx);
}

int
enclaver_ctx_set (enclaver_ctx_t *ctx, int slot, const char *type, void *value,
                  void (*free_fn) (void *), enclaver_error_t *err)
{
  struct slot *s;
  if (slot < 0 || slot >= ENCLAVER_SLOT_COUNT)
    {
      if (value && free_fn)
        free_fn (value);
      return enclaver_make_error (err, EINVAL, "context: no slot number %d", slot);
    }
  if (type == NULL || *type == '\0')
    {
      if (value && free_fn)
        free_fn (value);
      return enclaver_make_error (err, EINVAL, "context: slot '%s' set without a type", slot_names[slot]);
    }
  s = &ctx->slots[slot];
  if (s->value == value && value != NULL)
    {
      /* Same object stored again: only the type/free function may change. */
      free (s->type);
      s->type = xstrdup (type);
      s->free_fn = free_fn;
      return 0;
    }
  slot_clear (s);
  if (value)
    {
      s->type = xstrdup (type);
      s->value = value;
      s->free_fn = free_fn;
    }
  return 0;
}

void *
enclaver_ctx_get (const enclaver_ctx_t *ctx, int slot, const char *type)
{
  const struct slot *s;
  if (slot < 0 || slot >= ENCLAVER_SLOT_COUNT)
    return NULL;
  s = &ctx->slots[slot];
  if (s->value == NULL || type == NULL || strcmp (s->type, type) != 0)
    return NULL;
  return s->value;
}

void *
enclaver_ctx_take (enclaver_ctx_t *ctx, int slot, const char *type)
{
  void *v = enclaver_ctx_get (ctx, slot, type);
  if (v)
    {
      struct slot *s = &ctx->slots[slot];
      free (s->type);
      s->type = NULL;
      s->value = NULL;
      s->free_fn = NULL;
    }
  return v;
}

const char *
enclaver_ctx_slot_type (const enclaver_ctx_t *ctx, int slot)
{
  if (slot < 0 || slot >= ENCLAVER_SLOT_COUNT)
    return NULL;
  return ctx->slots[slot].type;
}

int
enclaver_ctx_set_param (enclaver_ctx_t *ctx, const char *key, const char *value, enclaver_error_t *err)
{
  size_t i;
  if (key == NULL || *key == '\0')
    return enclaver_make_error (err, EINVAL, "context: empty parameter name");
  for (i = 0; i < ctx->n_params; i++)
    if (strcmp (ctx->params[i].key, key) == 0)
      {
        free (ctx->params[i].value);
        ctx->params[i].value = xstrdup (value);
        return 0;
      }
  ctx->params = xreallocarray (ctx->params, ctx->n_params + 1, sizeof *ctx->params);
  ctx->params[ctx->n_params].key = xstrdup (key);
  ctx->params[ctx->n_params].value = xstrdup (value);
  ctx->n_params++;
  return 0;
}

const char *
enclaver_ctx_get_param (const enclaver_ctx_t *ctx, const char *key)
{
  size_t i;
  for (i = 0; i < ctx->n_params; i++)
    if (strcmp (ctx->params[i].key, key) == 0)
      return ctx->params[i].value;
  return NULL;
}

int
enclaver_ctx_add_artifact (enclaver_ctx_t *ctx, const char *name, const char *path, enclaver_error_t *err)
{
  cleanup_free char *key = NULL;
  const char *list = enclaver_ctx_get_param (ctx, "artifacts");
  size_t i, nl = name ? strlen (name) : 0;

  if (nl == 0 || nl > 64)
    return enclaver_make_error (err, EINVAL, "artifact name must be 1-64 characters");
  for (i = 0; i < nl; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'
          || name[i] == '_' || name[i] == '.'))
      return enclaver_make_error (err, EINVAL, "artifact name '%s': only [a-z0-9._-] allowed", name);
  key = xasprintf ("artifact:%s", name);
  if (enclaver_ctx_set_param (ctx, key, path, err) < 0)
    return -1;
  if (list && *list)
    {
      const char *p = list;
      while ((p = strstr (p, name)) != NULL)
        {
          if ((p == list || p[-1] == ' ') && (p[nl] == ' ' || p[nl] == '\0'))
            return 0;
          p += nl;
        }
      {
        cleanup_free char *n = xasprintf ("%s %s", list, name);
        return enclaver_ctx_set_param (ctx, "artifacts", n, err);
      }
    }
  return enclaver_ctx_set_param (ctx, "artifacts", name, err);
}

/* The names of the temporaries a build makes beside its outputs: the output under its
 * temporary name (file or directory), the EIF writer's own file beside that, an old
 * output directory moved aside, the scratch directory of a docker-archive image. */
static const char *const output_temp_patterns[] = {
  "?*.enclaver-tmp.??????", ".?*.enclaver-tmp.??????.??????", "?*.enclaver-old.??????",
  "?*.enclaver-blobs.??????",
};

static int
is_output_temp (const char *name)
{
  for (size_t i = 0; i < sizeof output_temp_patterns / sizeof *output_temp_patterns; i++)
    if (fnmatch (output_temp_patterns[i], name, FNM_PERIOD) == 0)
      return 1;
  return 0;
}

/* Remove the temporaries beside outputs in DIR (open as DFD, locked exclusively: no
 * other build writes there now, so each was left by one that was killed). */
static void
sweep_output_temps (int dfd, const char *dir)
{
  int fd2 = dup (dfd);
  DIR *d = fd2 >= 0 ? fdopendir (fd2) : NULL;
  struct dirent *de;
  size_t n = 0;
  if (d == NULL)
    {
      if (fd2 >= 0)
        close (fd2);
      return;
    }
  while ((de = readdir (d)) != NULL)
    {
      struct stat st;
      if (!is_output_temp (de->d_name) || fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || enclaver_temp_holds (&st))
        continue; /* (this build's own scratch, made before its first output) */
      cleanup_free char *p = xasprintf ("%s/%s", dir, de->d_name);
      if (S_ISDIR (st.st_mode))
        enclaver_remove_tree (p);
      else if (unlinkat (dfd, de->d_name, 0) < 0)
        continue;
      enclaver_log_debug ("removed %s, left by an interrupted build", p);
      n++;
    }
  closedir (d);
  if (n)
    enclaver_log_info ("%s: removed %zu temporar%s left by an interrupted build", dir, n, n == 1 ? "y" : "ies");
}

/* Before the first output goes into a directory: lock it shared for the rest of the
 * build (builds that write into one directory at once all hold it), and when no other
 * build holds it, sweep what killed builds left there first.  A file system without
 * flock gets no sweep; the build goes on. */
static void
output_dir_lock (enclaver_ctx_t *ctx, const char *final_path)
{
  cleanup_free char *dir = xstrdup (final_path);
  char *slash = strrchr (dir, '/');
  struct stat st, lst;
  int fd;
  if (slash == NULL)
    strcpy (dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  for (size_t i = 0; i < ctx->n_dir_locks; i++)
    if (fstat (ctx->dir_locks[i], &lst) == 0 && lst.st_dev == st.st_dev && lst.st_ino == st.st_ino)
      {
        close (fd);
        return; /* held already */
      }
  if (flock (fd, LOCK_EX | LOCK_NB) == 0)
    sweep_output_temps (fd, dir);
  /* (converting to shared is not atomic: another build may sweep in between, but this
   * one has no temporary there yet) */
  if (flock (fd, LOCK_SH) < 0)
    {
      close (fd);
      return;
    }
  ctx->dir_locks = xreallocarray (ctx->dir_locks, ctx->n_dir_locks + 1, sizeof *ctx->dir_locks);
  ctx->dir_locks[ctx->n_dir_locks++] = fd;
}

void
enclaver_ctx_output_prepare (enclaver_ctx_t *ctx, const char *final_path)
{
  if (final_path && *final_path)
    output_dir_lock (ctx, final_path);
}

/* Once every output is committed or discarded. */
static void
output_dirs_unlock (enclaver_ctx_t *ctx)
{
  for (size_t i = 0; i < ctx->n_dir_locks; i++)
    close (ctx->dir_locks[i]);
  ctx->n_dir_locks = 0;
}

/* An output may start unless its path is empty or this build already writes it. */
static int
output_can_start (const enclaver_ctx_t *ctx, const char *final_path, enclaver_error_t *err)
{
  size_t i;
  if (final_path == NULL || *final_path == '\0')
    return enclaver_make_error (err, EINVAL, "output path is empty");
  for (i = 0; i < ctx->n_outputs; i++)
    if (strcmp (ctx->outputs[i].final_path, final_path) == 0 && !ctx->outputs[i].committed)
      return enclaver_make_error (err, EEXIST, "output %s is already being written by this build", final_path);
  return 0;
}

/* Register a temporary output (takes tmp). */
static void
output_add (enclaver_ctx_t *ctx, const char *final_path, char *tmp, int is_dir)
{
  struct output *o;
  ctx->outputs = xreallocarray (ctx->outputs, ctx->n_outputs + 1, sizeof *ctx->outputs);
  o = &ctx->outputs[ctx->n_outputs++];
  o->final_path = xstrdup (final_path);
  o->tmp_path = tmp;
  o->committed = 0;
  o->is_dir = is_dir;
}

int
enclaver_ctx_output_open (enclaver_ctx_t *ctx, const char *final_path, const char **tmp_path,
                          enclaver_error_t *err)
{
  char *tmp;
  int fd;

  if (output_can_start (ctx, final_path, err) < 0)
    return -1;
  output_dir_lock (ctx, final_path);
  tmp = xasprintf ("%s.enclaver-tmp.XXXXXX", final_path);
  fd = enclaver_temp_mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      free (tmp);
      return enclaver_make_errno (err, e, "create temporary file for %s", final_path);
    }
  output_add (ctx, final_path, tmp, 0);
  if (tmp_path)
    *tmp_path = tmp;
  return fd;
}

const char *
enclaver_ctx_output_dir (enclaver_ctx_t *ctx, const char *final_path, enclaver_error_t *err)
{
  char *tmp;

  if (output_can_start (ctx, final_path, err) < 0)
    return NULL;
  output_dir_lock (ctx, final_path);
  tmp = xasprintf ("%s.enclaver-tmp.XXXXXX", final_path);
  if (enclaver_temp_mkdtemp (tmp) == NULL)
    {
      int e = errno;
      free (tmp);
      enclaver_make_errno (err, e, "create temporary directory for %s", final_path);
      return NULL;
    }
  output_add (ctx, final_path, tmp, 1);
  return tmp;
}

/* Put the directory O->tmp_path in place of O->final_path.  An old directory there is
 * swapped out in one step (renameat2 RENAME_EXCHANGE) and then removed under the
 * temporary name, which stays registered until it is gone: wherever the process dies,
 * the final path holds the old tree or the new one, and what is left over carries a
 * temporary name (removed by the signal handler, or by the next build's sweep).  A
 * file system without the exchange gets the old tree moved aside first. */
static int
commit_dir (struct output *o, mode_t mask, enclaver_error_t *err)
{
  struct stat st;
  int e = 0;
  chmod (o->tmp_path, 0755 & ~mask);
  for (int tries = 0; tries < 8; tries++)
    {
      if (lstat (o->final_path, &st) < 0)
        {
          if (rename (o->tmp_path, o->final_path) == 0)
            {
              enclaver_temp_forget (o->tmp_path);
              return 0;
            }
          e = errno;
          if (e == EEXIST || e == ENOTEMPTY)
            continue; /* another build put one there meanwhile */
          break;
        }
      if (!S_ISDIR (st.st_mode))
        return enclaver_make_error (err, EEXIST, "%s exists and is not a directory", o->final_path);
#ifdef RENAME_EXCHANGE
      if (renameat2 (AT_FDCWD, o->tmp_path, AT_FDCWD, o->final_path, RENAME_EXCHANGE) == 0)
        {
          enclaver_remove_tree (o->tmp_path); /* the old tree now */
          enclaver_temp_forget (o->tmp_path);
          return 0;
        }
      e = errno;
      if (e == ENOENT)
        continue; /* removed meanwhile */
      if (e != EINVAL && e != ENOSYS && e != ENOTSUP)
        break;
#endif
      {
        cleanup_free char *aside = xasprintf ("%s.enclaver-old.XXXXXX", o->final_path);
        if (mkdtemp (aside) == NULL || rename (o->final_path, aside) < 0)
          return enclaver_make_errno (err, errno, "move the old %s aside", o->final_path);
        if (rename (o->tmp_path, o->final_path) < 0)
          {
            e = errno;
            rename (aside, o->final_path);
            break;
          }
        enclaver_temp_forget (o->tmp_path);
        enclaver_remove_tree (aside);
        return 0;
      }
    }
  return enclaver_make_errno (err, e, "rename %s to %s", o->tmp_path, o->final_path);
}

int
enclaver_ctx_outputs_commit (enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  size_t i;
  mode_t mask = umask (0);
  umask (mask);

  /* First make every file durable with its final mode, then rename them all. */
  for (i = 0; i < ctx->n_outputs; i++)
    {
      struct output *o = &ctx->outputs[i];
      int fd;
      if (o->committed || o->is_dir)
        continue;
      fd = open (o->tmp_path, O_RDWR | O_CLOEXEC);
      if (fd < 0 || fchmod (fd, 0644 & ~mask) < 0 || fsync (fd) < 0)
        {
          int e = errno;
          if (fd >= 0)
            close (fd);
          enclaver_ctx_outputs_discard (ctx);
          return enclaver_make_errno (err, e, "finish output %s", o->final_path);
        }
      close (fd);
    }
  for (i = 0; i < ctx->n_outputs; i++)
    {
      struct output *o = &ctx->outputs[i];
      if (o->committed)
        continue;
      if (o->is_dir)
        {
          if (commit_dir (o, mask, err) < 0)
            {
              enclaver_ctx_outputs_discard (ctx);
              return -1;
            }
          o->committed = 1;
          continue;
        }
      if (rename (o->tmp_path, o->final_path) < 0)
        {
          int e = errno;
          enclaver_ctx_outputs_discard (ctx);
          return enclaver_make_errno (err, e, "rename %s to %s", o->tmp_path, o->final_path);
        }
      enclaver_temp_forget (o->tmp_path);
      o->committed = 1;
    }
  output_dirs_unlock (ctx);
  return 0;
}

void
enclaver_ctx_outputs_discard (enclaver_ctx_t *ctx)
{
  size_t i;
  for (i = 0; i < ctx->n_outputs; i++)
    if (!ctx->outputs[i].committed)
      {
        if (ctx->outputs[i].is_dir)
          enclaver_remove_tree (ctx->outputs[i].tmp_path);
        else
          unlink (ctx->outputs[i].tmp_path);
        enclaver_temp_forget (ctx->outputs[i].tmp_path);
        ctx->outputs[i].committed = 1; /* nothing left to do for it */
      }
  output_dirs_unlock (ctx);
}

int
enclaver_hook_event_valid (const char *event)
{
  const char *name = NULL;
  size_t i;
  if (event == NULL)
    return 0;
  if (strcmp (event, "error") == 0 || strcmp (event, "done") == 0 || strcmp (event, "measured") == 0)
    return 1;
  if (strncmp (event, "before:", 7) == 0)
    name = event + 7;
  else if (strncmp (event, "after:", 6) == 0)
    name = event + 6;
  if (name == NULL || *name == '\0')
    return 0;
  for (i = 0; name[i]; i++)
    {
      char c = name[i];
      /* ':' joins an instance name (before:lua:stamp) */
      if (c == ':' && i > 0 && name[i + 1] && name[i - 1] != ':')
        continue;
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*'))
        return 0;
    }
  return 1;
}

int
enclaver_ctx_hook_add (enclaver_ctx_t *ctx, const char *event, enclaver_hook_fn fn, void *userdata,
                       void (*free_fn) (void *), enclaver_error_t *err)
{
  struct hook *h;
  if (!enclaver_hook_event_valid (event))
    {
      if (free_fn)
        free_fn (userdata);
      return enclaver_make_error (err, EINVAL,
                                  "unknown hook event '%s' (expected before:<stage>, after:<stage>, "
                                  "measured, error or done)",
                                  event ? event : "(null)");
    }
  if (fn == NULL)
    {
      if (free_fn)
        free_fn (userdata);
      return enclaver_make_error (err, EINVAL, "hook for '%s' has no function", event);
    }
  ctx->hooks = xreallocarray (ctx->hooks, ctx->n_hooks + 1, sizeof *ctx->hooks);
  h = &ctx->hooks[ctx->n_hooks++];
  h->event = xstrdup (event);
  h->fn = fn;
  h->userdata = userdata;
  h->free_fn = free_fn;
  return 0;
}

/* "before:*" matches every before:<stage> event; "before:lua" also matches the events of
 * every instance "before:lua:<name>". */
static int
event_matches (const char *pattern, const char *event)
{
  size_t pl = strlen (pattern);
  if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == ':')
    return strncmp (pattern, event, pl - 1) == 0;
  if (strncmp (pattern, event, pl) == 0 && event[pl] == ':' && strchr (pattern, ':') == strrchr (pattern, ':'))
    return 1;
  return strcmp (pattern, event) == 0;
}

int
enclaver_ctx_hook_fire (enclaver_ctx_t *ctx, const char *event, enclaver_error_t *err)
{
  size_t i, n = ctx->n_hooks; /* hooks added while firing wait for the next event */
  for (i = 0; i < n; i++)
    {
      struct hook *h = &ctx->hooks[i];
      if (!event_matches (h->event, event))
        continue;
      enclaver_log (ENCLAVER_LOG_TRACE, "hook", "firing %s", event);
      if (h->fn (ctx, event, h->userdata, err) < 0)
        {
          if (err && *err == NULL)
            enclaver_make_error (err, EIO, "hook failed without a message");
          return enclaver_error_wrap (err, "hook %s", event);
        }
    }
  return 0;
}

void
enclaver_ctx_set_failure (enclaver_ctx_t *ctx, const char *msg)
{
  free (ctx->failure);
  ctx->failure = xstrdup (msg);
}

const char *
enclaver_ctx_failure (const enclaver_ctx_t *ctx)
{
  return ctx->failure;
}
