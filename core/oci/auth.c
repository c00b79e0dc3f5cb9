/* enclaver: registry authentication helpers — WWW-Authenticate challenges (RFC 7235),
 * credentials from docker/podman config files and docker-credential-* helpers
 * (OCI.md §2.3, §2.4). */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <openssl/evp.h>
#include "oci/oci.h"

char *
oci_token_response_parse (const char *body, size_t len, long long *expires_in)
{
  json_error_t je;
  json_t *j = json_loadb (body ? body : "", len, 0, &je);
  const char *tok = json_string_value (json_object_get (j, "token"));
  if (tok == NULL || *tok == '\0')
    tok = json_string_value (json_object_get (j, "access_token"));
  if (tok == NULL || *tok == '\0' || strpbrk (tok, "\r\n"))
    {
      json_decref (j);
      return NULL;
    }
  json_t *ei = json_object_get (j, "expires_in");
  long long exp = json_is_integer (ei) && json_integer_value (ei) > 0 ? json_integer_value (ei) : 60;
  *expires_in = exp > 86400 ? 86400 : exp;
  char *out = xstrdup (tok);
  json_decref (j);
  return out;
}

void
oci_challenge_clear (struct oci_challenge *c)
{
  free (c->realm);
  free (c->service);
  free (c->scope);
  free (c->error);
  memset (c, 0, sizeof *c);
}

static int
is_tchar (char c)
{
  return c != '\0' && (isalnum ((unsigned char) c) || strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
skip_ws (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Parse one header value which may hold several challenges. */
static int
parse_value (const char *p, struct oci_challenge *out, int max, int *n)
{
  struct oci_challenge *cur = NULL;
  for (;;)
    {
      p = skip_ws (p);
      while (*p == ',')
        p = skip_ws (p + 1);
      if (*p == '\0')
        return 0;
      /* token */
      const char *t = p;
      while (is_tchar (*p))
        p++;
      size_t tl = (size_t) (p - t);
      if (tl == 0)
        return -1;
      const char *after = skip_ws (p);
      if (*after == '=' && cur != NULL)
        {
          /* auth-param */
          p = skip_ws (after + 1);
          char *val;
          if (*p == '"')
            {
              p++;
              size_t cap = strlen (p) + 1, vl = 0;
              val = xmalloc (cap);
              while (*p && *p != '"')
                {
                  if (*p == '\\' && p[1])
                    p++;
                  val[vl++] = *p++;
                }
              if (*p != '"')
                {
                  free (val);
                  return -1;
                }
              p++;
              val[vl] = '\0';
            }
          else
            {
              const char *v = p;
              while (is_tchar (*p) || *p == '/' || *p == ':')
                p++;
              val = xstrndup (v, (size_t) (p - v));
            }
          char **slot = NULL;
          if (tl == 5 && strncasecmp (t, "realm", 5) == 0)
            slot = &cur->realm;
          else if (tl == 7 && strncasecmp (t, "service", 7) == 0)
            slot = &cur->service;
          else if (tl == 5 && strncasecmp (t, "scope", 5) == 0)
            slot = &cur->scope;
          else if (tl == 5 && strncasecmp (t, "error", 5) == 0)
            slot = &cur->error;
          if (slot)
            {
              free (*slot);
              *slot = val;
            }
          else
            free (val);
          p = skip_ws (p);
          if (*p != ',' && *p != '\0')
            return -1;
          continue;
        }
      /* a new challenge: scheme [token68 | params] */
      if (*n >= max)
        return 0;
      cur = &out[(*n)++];
      memset (cur, 0, sizeof *cur);
      size_t sl = tl < sizeof cur->scheme - 1 ? tl : sizeof cur->scheme - 1;
      for (size_t i = 0; i < sl; i++)
        cur->scheme[i] = (char) tolower ((unsigned char) t[i]);
      cur->scheme[sl] = '\0';
      p = after;
      /* token68 form (e.g. "Negotiate abc==") is skipped */
      if (*p && *p != ',')
        {
          const char *q = p;
          while (is_tchar (*q) || *q == '/')
            q++;
          const char *q2 = skip_ws (q);
          if (*q2 != '=')
            {
              while (*q2 == '=')
                q2++;
              p = q2;
            }
        }
    }
}

int
oci_www_authenticate_parse (const char *value, struct oci_challenge *out, int max)
{
  int n = 0;
  /* value is a list of NUL-terminated header values, ending with an empty one. */
  for (const char *v = value; v && *v; v += strlen (v) + 1)
    if (parse_value (v, out, max, &n) < 0)
      {
        for (int i = 0; i < n; i++)
          oci_challenge_clear (&out[i]);
        return -1;
      }
  return n;
}

char *
oci_base64 (const void *buf, size_t len)
{
  char *out = xmalloc (4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *) out, buf, (int) len);
  return out;
}

unsigned char *
oci_base64_decode (const char *s, size_t *len)
{
  size_t n = strlen (s);
  if (n % 4 != 0 || n > (1u << 20))
    return NULL;
  unsigned char *out = xmalloc (n / 4 * 3 + 1);
  int r = EVP_DecodeBlock (out, (const unsigned char *) s, (int) n);
  if (r < 0)
    {
      free (out);
      return NULL;
    }
  size_t l = (size_t) r;
  if (n >= 1 && s[n - 1] == '=')
    l--;
  if (n >= 2 && s[n - 2] == '=')
    l--;
  out[l] = '\0';
  *len = l;
  return out;
}

void
oci_creds_clear (struct oci_creds *c)
{
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  if (c->identity_token)
    explicit_bzero (c->identity_token, strlen (c->identity_token));
  free (c->username);
  free (c->password);
  free (c->identity_token);
  free (c->from);
  memset (c, 0, sizeof *c);
}

/* Normalise a config.json "auths" key to host[:port] (strip scheme and path). */
static char *
auth_key_host (const char *key)
{
  const char *p = key;
  if (strncmp (p, "https://", 8) == 0)
    p += 8;
  else if (strncmp (p, "http://", 7) == 0)
    p += 7;
  size_t n = strcspn (p, "/");
  char *h = xstrndup (p, n);
  if (strcmp (h, "index.docker.io") == 0 || strcmp (h, "registry-1.docker.io") == 0)
    {
      free (h);
      h = xstrdup ("docker.io");
    }
  return h;
}

/* Run docker-credential-<helper> get.  1 found, 0 not found, -1 error. */
static int
run_helper (const char *helper, const char *server, struct oci_creds *out, enclaver_error_t *err)
{
  if (helper[0] == '\0' || strchr (helper, '/') || strlen (helper) > 64)
    return enclaver_make_error (err, EINVAL, "credential helper name '%s' is not allowed", helper);
  cleanup_free char *prog = xasprintf ("docker-credential-%s", helper);
  int in[2], outp[2];
  if (pipe2 (in, O_CLOEXEC) < 0)
    return enclaver_make_errno (err, errno, "pipe");
  if (pipe2 (outp, O_CLOEXEC) < 0)
    {
      close (in[0]);
      close (in[1]);
      return enclaver_make_errno (err, errno, "pipe");
    }
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (in[0]);
      close (in[1]);
      close (outp[0]);
      close (outp[1]);
      return enclaver_make_errno (err, errno, "fork");
    }
  if (pid == 0)
    {
      dup2 (in[0], 0);
      dup2 (outp[1], 1);
      int devnull = open ("/dev/null", O_WRONLY);
      if (devnull >= 0)
        dup2 (devnull, 2);
      execlp (prog, prog, "get", (char *) NULL);
      _exit (127);
    }
  close (in[0]);
  close (outp[1]);
  void (*old) (int) = signal (SIGPIPE, SIG_IGN);
  (void) enclaver_write_all (in[1], server, strlen (server));
  close (in[1]);
  signal (SIGPIPE, old);
  char buf[65536];
  size_t len = 0;
  time_t deadline = time (NULL) + 30;
  for (;;)
    {
      struct pollfd pf = { outp[0], POLLIN, 0 };
      int r = poll (&pf, 1, 1000);
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          if (time (NULL) > deadline)
            {
              kill (pid, SIGKILL);
              break;
            }
          continue;
        }
      ssize_t n = read (outp[0], buf + len, sizeof buf - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (size_t) n;
      if (len >= sizeof buf - 1)
        break;
    }
  close (outp[0]);
  buf[len] = '\0';
  int st = 0;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    {
      explicit_bzero (buf, sizeof buf);
      if (WIFEXITED (st) && WEXITSTATUS (st) == 127)
        return enclaver_make_error (err, ENOENT, "credential helper %s is not installed (named for %s)", prog, server);
      if (strstr (buf, "credentials not found"))
        return 0;
      return enclaver_make_error (err, EACCES, "credential helper %s failed for %s", prog, server);
    }
  json_error_t je;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);
  explicit_bzero (buf, sizeof buf);
  if (!json_is_object (j))
    {
      json_decref (j);
      return enclaver_make_error (err, EINVAL, "credential helper %s printed invalid JSON", prog);
    }
  const char *u = json_string_value (json_object_get (j, "Username"));
  const char *s = json_string_value (json_object_get (j, "Secret"));
  if (u == NULL || s == NULL)
    {
      json_decref (j);
      return enclaver_make_error (err, EINVAL, "credential helper %s: missing Username/Secret", prog);
    }
  if (strcmp (u, "<token>") == 0)
    out->identity_token = xstrdup (s);
  else
    {
      out->username = xstrdup (u);
      out->password = xstrdup (s);
    }
  out->from = xasprintf ("credential helper %s", prog);
  json_decref (j);
  return 1;
}

static int
from_auth_entry (json_t *entry, const char *file, const char *key, struct oci_creds *out, enclaver_error_t *err)
{
  const char *auth = json_string_value (json_object_get (entry, "auth"));
  const char *idt = json_string_value (json_object_get (entry, "identitytoken"));
  const char *user = json_string_value (json_object_get (entry, "username"));
  const char *pass = json_string_value (json_object_get (entry, "password"));
  if (auth && *auth)
    {
      size_t n;
      unsigned char *dec = oci_base64_decode (auth, &n);
      char *colon = dec ? memchr (dec, ':', n) : NULL;
      if (colon == NULL)
        {
          free (dec);
          return enclaver_make_error (err, EINVAL, "%s: auths.\"%s\".auth is not base64(user:password)", file, key);
        }
      *colon = '\0';
      out->username = xstrdup ((char *) dec);
      out->password = xstrdup (colon + 1);
      explicit_bzero (dec, n);
      free (dec);
    }
  else if (user && pass)
    {
      out->username = xstrdup (user);
      out->password = xstrdup (pass);
    }
  if (idt && *idt)
    out->identity_token = xstrdup (idt);
  if (out->username == NULL && out->identity_token == NULL)
    return 0; /* empty marker entry */
  out->from = xasprintf ("%s (auths.\"%s\")", file, key);
  return 1;
}

/* Look in one config file.  docker_style: honour credHelpers/credsStore too. */
static int
lookup_file (const char *file, const char *host, int docker_style, struct oci_creds *out, enclaver_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len;
  enclaver_error_t e = NULL;
  if (enclaver_read_file (file, 1u << 20, &buf, &len, &e) < 0)
    {
      int missing = e->status == ENOENT || e->status == ENOTDIR;
      if (missing)
        {
          enclaver_error_release (&e);
          return 0;
        }
      *err = e;
      return -1;
    }
  json_error_t je;
  json_t *j = json_loadb (buf, len, 0, &je);
  explicit_bzero (buf, len);
  if (!json_is_object (j))
    {
      json_decref (j);
      return enclaver_make_error (err, EINVAL, "%s: invalid JSON (line %d: %s)", file, je.line, je.text);
    }
  int hub = strcmp (host, "docker.io") == 0;
  const char *server = hub ? "https://index.docker.io/v1/" : host;
  int rc = 0;
  if (docker_style)
    {
      json_t *helpers = json_object_get (j, "credHelpers");
      const char *h = json_string_value (json_object_get (helpers, hub ? "docker.io" : host));
      if (h == NULL && hub)
        h = json_string_value (json_object_get (helpers, "index.docker.io"));
      if (h == NULL)
        h = json_string_value (json_object_get (j, "credsStore"));
      if (h && *h)
        {
          rc = run_helper (h, server, out, err);
          if (rc != 0)
            goto done;
        }
    }
  json_t *auths = json_object_get (j, "auths"), *entry;
  const char *key;
  json_object_foreach (auths, key, entry)
  {
    cleanup_free char *kh = auth_key_host (key);
    if (strcmp (kh, host) == 0)
      {
        rc = from_auth_entry (entry, file, key, out, err);
        if (rc != 0)
          goto done;
      }
  }
done:
  json_decref (j);
  return rc;
}

int
oci_creds_lookup (const char *host, struct oci_creds *out, enclaver_error_t *err)
{
  memset (out, 0, sizeof *out);
  const char *env;
  int rc;
  /* Podman / skopeo: REGISTRY_AUTH_FILE wins when set. */
  if ((env = getenv ("REGISTRY_AUTH_FILE")) && *env)
    if ((rc = lookup_file (env, host, 1, out, err)) != 0)
      return rc;
  const char *dc = getenv ("DOCKER_CONFIG");
  const char *home = getenv ("HOME");
  cleanup_free char *docker = dc && *dc ? xasprintf ("%s/config.json", dc)
                              : home    ? xasprintf ("%s/.docker/config.json", home)
                                        : NULL;
  if (docker && (rc = lookup_file (docker, host, 1, out, err)) != 0)
    return rc;
  const char *xr = getenv ("XDG_RUNTIME_DIR");
  if (xr && *xr)
    {
      cleanup_free char *p = xasprintf ("%s/containers/auth.json", xr);
      if ((rc = lookup_file (p, host, 1, out, err)) != 0)
        return rc;
    }
  const char *xc = getenv ("XDG_CONFIG_HOME");
  cleanup_free char *pc = xc && *xc ? xasprintf ("%s/containers/auth.json", xc)
                          : home    ? xasprintf ("%s/.config/containers/auth.json", home)
                                    : NULL;
  if (pc && (rc = lookup_file (pc, host, 1, out, err)) != 0)
    return rc;
  return 0;
}
