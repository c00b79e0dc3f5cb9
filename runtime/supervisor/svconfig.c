/* enclaver-supervisor: JSON configuration file (format in docs/runtime.md). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "net.h"
#include "rtutil.h"
#include "svconfig.h"

void
sv_config_init (struct sv_config *c)
{
  memset (c, 0, sizeof *c);
  c->status_addr = xstrdup (SV_DEFAULT_STATUS_ADDR);
  c->log_addr = xstrdup (SV_DEFAULT_LOG_ADDR);
  c->stop_timeout = SV_DEFAULT_STOP_TIMEOUT;
  c->linger = SV_DEFAULT_LINGER;
  c->bootstrap = 1;
}

void
sv_config_free (struct sv_config *c)
{
  rt_strv_free (c->entrypoint);
  rt_strv_free (c->cmd);
  rt_strv_free (c->argv);
  rt_strv_free (c->env);
  free (c->workdir);
  free (c->user);
  free (c->status_addr);
  free (c->log_addr);
  json_decref (c->root);
  memset (c, 0, sizeof *c);
}

static int
get_string (json_t *v, const char *name, const char *key, char **out, char *err, size_t errlen)
{
  if (!json_is_string (v))
    return rt_err (err, errlen, "%s: key \"%s\" must be a string", name, key);
  if (strlen (json_string_value (v)) != json_string_length (v))
    return rt_err (err, errlen, "%s: key \"%s\" contains a NUL character", name, key);
  free (*out);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
get_strv (json_t *v, const char *name, const char *key, int is_env, char ***out, char *err,
          size_t errlen)
{
  char **r;
  size_t i;
  json_t *e;

  if (json_is_null (v))
    {
      rt_strv_free (*out);
      *out = NULL;
      return 0;
    }
  if (!json_is_array (v))
    return rt_err (err, errlen, "%s: key \"%s\" must be an array of strings", name, key);
  r = xcalloc (json_array_size (v) + 1, sizeof *r);
  json_array_foreach (v, i, e)
    {
      const char *s = json_string_value (e);
      if (!json_is_string (e) || strlen (s) != json_string_length (e))
        {
          rt_strv_free (r);
          return rt_err (err, errlen, "%s: %s[%zu] must be a string without NUL characters",
                         name, key, i);
        }
      if (is_env && (strchr (s, '=') == NULL || s[0] == '='))
        {
          rt_strv_free (r);
          return rt_err (err, errlen, "%s: %s[%zu] \"%s\" is not of the form KEY=VALUE", name,
                         key, i, s);
        }
      r[i] = xstrdup (s);
    }
  rt_strv_free (*out);
  *out = r;
  return 0;
}

static int
get_seconds (json_t *v, const char *name, const char *key, int *out, char *err, size_t errlen)
{
  json_int_t n;
  if (!json_is_integer (v))
    return rt_err (err, errlen, "%s: key \"%s\" must be an integer number of seconds", name,
                   key);
  n = json_integer_value (v);
  if (n < 0 || n > 86400)
    return rt_err (err, errlen, "%s: key \"%s\" out of range (0..86400): %lld", name, key,
                   (long long) n);
  *out = (int) n;
  return 0;
}

static int
apply (struct sv_config *c, json_t *root, const char *name, char *err, size_t errlen)
{
  const char *key;
  json_t *v;

  if (!json_is_object (root))
    return rt_err (err, errlen, "%s: the configuration must be a JSON object", name);
  json_object_foreach (root, key, v)
    {
      int r;
      if (strcmp (key, "version") == 0)
        {
          if (!json_is_integer (v) || json_integer_value (v) != 1)
            return rt_err (err, errlen, "%s: unsupported \"version\" (this supervisor reads 1)",
                           name);
          r = 0;
        }
      else if (strcmp (key, "entrypoint") == 0)
        r = get_strv (v, name, key, 0, &c->entrypoint, err, errlen);
      else if (strcmp (key, "cmd") == 0)
        r = get_strv (v, name, key, 0, &c->cmd, err, errlen);
      else if (strcmp (key, "argv") == 0)
        r = get_strv (v, name, key, 0, &c->argv, err, errlen);
      else if (strcmp (key, "env") == 0)
        r = get_strv (v, name, key, 1, &c->env, err, errlen);
      else if (strcmp (key, "workdir") == 0)
        r = get_string (v, name, key, &c->workdir, err, errlen);
      else if (strcmp (key, "user") == 0)
        r = get_string (v, name, key, &c->user, err, errlen);
      else if (strcmp (key, "status_addr") == 0)
        r = get_string (v, name, key, &c->status_addr, err, errlen);
      else if (strcmp (key, "log_addr") == 0)
        r = get_string (v, name, key, &c->log_addr, err, errlen);
      else if (strcmp (key, "stop_timeout") == 0)
        r = get_seconds (v, name, key, &c->stop_timeout, err, errlen);
      else if (strcmp (key, "linger") == 0)
        r = get_seconds (v, name, key, &c->linger, err, errlen);
      else if (strcmp (key, "bootstrap") == 0)
        {
          if (!json_is_boolean (v))
            return rt_err (err, errlen, "%s: key \"bootstrap\" must be true or false", name);
          c->bootstrap = json_is_true (v);
          r = 0;
        }
      else if (strcmp (key, "manifest") == 0 || strcmp (key, "net") == 0 || sv_net_is_service_key (key))
        {
          /* Read by the network services (net.h), which check their own keys. */
          if (!json_is_object (v) && !(json_is_null (v) && strcmp (key, "manifest") == 0))
            return rt_err (err, errlen, "%s: key \"%s\" must be an object", name, key);
          r = 0;
        }
      else
        return rt_err (err, errlen, "%s: unknown key \"%s\"", name, key);
      if (r < 0)
        return -1;
    }
  if (c->workdir && c->workdir[0] != '\0' && c->workdir[0] != '/')
    return rt_err (err, errlen, "%s: \"workdir\" must be an absolute path, got \"%s\"", name,
                   c->workdir);
  return 0;
}

int
sv_config_load_buffer (struct sv_config *c, const char *buf, size_t len, const char *name,
                       char *err, size_t errlen)
{
  json_error_t je;
  json_t *root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);
  int r;
  if (root == NULL)
    return rt_err (err, errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
  r = apply (c, root, name, err, errlen);
  if (r == 0)
    {
      json_decref (c->root);
      c->root = root;
    }
  else
    json_decref (root);
  return r;
}

int
sv_config_load_file (struct sv_config *c, const char *path, char *err, size_t errlen)
{
  FILE *f = fopen (path, "re");
  struct stat st;
  char *buf;
  size_t n;
  int r;

  if (f == NULL)
    return rt_err (err, errlen, "cannot open configuration %s: %s", path, strerror (errno));
  if (fstat (fileno (f), &st) < 0 || !S_ISREG (st.st_mode))
    {
      fclose (f);
      return rt_err (err, errlen, "configuration %s is not a regular file", path);
    }
  if (st.st_size > SV_CONFIG_MAX_SIZE)
    {
      fclose (f);
      return rt_err (err, errlen, "configuration %s is too large (%lld bytes, max %d)", path,
                     (long long) st.st_size, SV_CONFIG_MAX_SIZE);
    }
  buf = xmalloc ((size_t) st.st_size + 1);
  n = fread (buf, 1, (size_t) st.st_size + 1, f);
  if (ferror (f) || n > (size_t) st.st_size)
    {
      free (buf);
      fclose (f);
      return rt_err (err, errlen, "cannot read configuration %s (read error or file grew)", path);
    }
  fclose (f);
  r = sv_config_load_buffer (c, buf, n, path, err, errlen);
  free (buf);
  return r;
}

char **
sv_config_command (const struct sv_config *c)
{
  char **r;
  size_t i;
  if (c->argv)
    return rt_strv_dup (c->argv);
  r = rt_strv_dup (c->entrypoint);
  for (i = 0; c->cmd && c->cmd[i]; i++)
    r = rt_strv_push (r, c->cmd[i]);
  return r;
}
