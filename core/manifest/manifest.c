/* enclaver: enclaver.yaml parsing (Enclaver v1 schema + enclaver's extension keys).
 *
 * Two passes.  The first turns libyaml's event stream into a small node tree, refusing
 * what a manifest never needs and an attacker might use: anchors/aliases (no
 * "billion laughs"), tags, more than one document, deep nesting, non-UTF-8 text, NUL
 * bytes, input above ENCLAVER_MANIFEST_MAX_SIZE.  The second walks the tree against the
 * schema, filling struct enclaver_manifest and collecting every problem it finds as
 * "FILE:LINE:COL: key.path: message" lines (bounded), so one run of
 * `enclaver manifest` reports them all.  Whole-manifest checks (required keys, port
 * collisions) live in enclaver_manifest_validate() so a caller can supply sources.app
 * first (--from). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include "util.h"

#define MAX_DEPTH 64
#define MAX_NODES 100000
#define MAX_ERRORS 25
#define MAX_ECHO 60 /* characters of a bad value quoted back in a message */

#define DEFAULT_CPU_COUNT 2
#define DEFAULT_MEMORY_MB 4096
#define DEFAULT_EGRESS_PROXY_PORT 10000
#define DEFAULT_STATUS_PORT 17000
#define DEFAULT_APP_LOG_PORT 17001
#define DEFAULT_HTTP_EGRESS_PORT 17002
#define DEFAULT_SPIRE_WORKLOAD_API_ADDR "127.0.0.1:5000"

/* The default stack, shown by to_json when the manifest has no pipeline: key. */
static const char *const default_stack[] = {
  "fetch", "flatten", "inject", "measure", "emit-eif", "emit-image",
};

/* ------------------------------------------------------------------------- */
/* Node tree                                                                  */

enum ykind
{
  Y_SCALAR,
  Y_SEQ,
  Y_MAP,
};

struct ynode
{
  int kind;
  char *value; /* scalars */
  bool plain;  /* plain (unquoted) scalar */
  unsigned line, col; /* 1-based */
  struct ynode **kids; /* SEQ: items; MAP: key0, value0, key1, value1, ... */
  size_t n, cap;
};

static void
ynode_free (struct ynode *n)
{
  size_t i;
  if (n == NULL)
    return;
  for (i = 0; i < n->n; i++)
    ynode_free (n->kids[i]);
  free (n->kids);
  free (n->value);
  free (n);
}

static void
ynode_add (struct ynode *parent, struct ynode *kid)
{
  if (parent->n == parent->cap)
    {
      parent->cap = parent->cap ? parent->cap * 2 : 8;
      parent->kids = xreallocarray (parent->kids, parent->cap, sizeof *parent->kids);
    }
  parent->kids[parent->n++] = kid;
}

/* ------------------------------------------------------------------------- */
/* Error collection                                                           */

struct pos
{
  char *path;
  unsigned line, col;
};

struct pctx
{
  const char *name; /* file name for messages */
  const char *dir;
  unsigned flags;
  enclaver_error_t errs; /* one problem per message, with file/line/column/key fields */
  size_t nerr;
  struct pos *pos; /* where each key path was written (for validate's messages) */
  size_t npos, cappos;
  struct enclaver_manifest *m;
  /* sources spelling bookkeeping */
  const struct ynode *seen_odyn, *seen_sleeve;
};

/* s quoted for a message: "..." with control characters escaped, long values cut. */
static char *
quote (const char *s)
{
  size_t n = strlen (s), i, o = 0;
  size_t lim = n > MAX_ECHO ? MAX_ECHO : n;
  char *out = xmalloc (lim * 4 + 8);

  out[o++] = '"';
  for (i = 0; i < lim; i++)
    {
      unsigned char ch = (unsigned char) s[i];
      if (ch == '"' || ch == '\\')
        {
          out[o++] = '\\';
          out[o++] = (char) ch;
        }
      else if (ch < 0x20 || ch == 0x7f)
        o += (size_t) sprintf (out + o, "\\x%02x", ch);
      else
        out[o++] = (char) ch;
    }
  if (lim < n)
    {
      /* do not cut a UTF-8 sequence in half */
      while (o > 1 && ((unsigned char) out[o - 1] & 0xc0) == 0x80)
        o--;
      if (o > 1 && ((unsigned char) out[o - 1] & 0xc0) == 0xc0)
        o--;
      memcpy (out + o, "...", 3);
      o += 3;
    }
  out[o++] = '"';
  out[o] = '\0';
  return out;
}

static void ENCLAVER_PRINTF (5, 0)
verr_at (struct pctx *c, unsigned line, unsigned col, const char *path, const char *fmt, va_list ap)
{
  cleanup_free char *msg = NULL;
  cleanup_free char *where = NULL;
  cleanup_free char *full = NULL;

  c->nerr++;
  if (c->nerr > MAX_ERRORS)
    return;
  if (vasprintf (&msg, fmt, ap) < 0)
    xoom ();
  if (line > 0)
    where = xasprintf ("%s:%u:%u", c->name, line, col);
  else
    where = xstrdup (c->name);
  if (path != NULL && *path)
    full = xasprintf ("%s: %s: %s", where, path, msg);
  else
    full = xasprintf ("%s: %s", where, msg);
  {
    struct enclaver_field f[] = {
      ENCLAVER_FIELD_STR ("file", c->name), ENCLAVER_FIELD_STR ("key", path && *path ? path : NULL),
      ENCLAVER_FIELD_NUM ("line", line), ENCLAVER_FIELD_NUM ("column", col),
    };
    enclaver_error_add (&c->errs, EINVAL, f, line > 0 ? 4 : 2, "%s", full);
  }
}

static void ENCLAVER_PRINTF (4, 5)
err_node (struct pctx *c, const struct ynode *n, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  verr_at (c, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
  va_end (ap);
}

static void ENCLAVER_PRINTF (5, 6)
err_at (struct pctx *c, unsigned line, unsigned col, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  verr_at (c, line, col, path, fmt, ap);
  va_end (ap);
}

static void
pos_record (struct pctx *c, const char *path, const struct ynode *n)
{
  if (c->npos == c->cappos)
    {
      c->cappos = c->cappos ? c->cappos * 2 : 32;
      c->pos = xreallocarray (c->pos, c->cappos, sizeof *c->pos);
    }
  c->pos[c->npos].path = xstrdup (path);
  c->pos[c->npos].line = n->line;
  c->pos[c->npos].col = n->col;
  c->npos++;
}

static const struct pos *
pos_find (const struct pctx *c, const char *path)
{
  size_t i;
  for (i = 0; i < c->npos; i++)
    if (strcmp (c->pos[i].path, path) == 0)
      return &c->pos[i];
  return NULL;
}

/* An error about a key path, located where that path (or, failing that, the closest
 * recorded parent) was written. */
static void ENCLAVER_PRINTF (3, 4)
err_path (struct pctx *c, const char *path, const char *fmt, ...)
{
  va_list ap;
  const struct pos *p = NULL;
  cleanup_free char *probe = xstrdup (path);

  for (;;)
    {
      char *dot;
      p = pos_find (c, probe);
      if (p != NULL || *probe == '\0')
        break;
      dot = strrchr (probe, '.');
      if (dot == NULL)
        dot = strrchr (probe, '[');
      if (dot == NULL)
        *probe = '\0';
      else
        *dot = '\0';
    }
  va_start (ap, fmt);
  verr_at (c, p ? p->line : 0, p ? p->col : 0, path, fmt, ap);
  va_end (ap);
}

static void
pctx_release (struct pctx *c)
{
  size_t i;
  for (i = 0; i < c->npos; i++)
    free (c->pos[i].path);
  free (c->pos);
  enclaver_error_release (&c->errs);
}

/* Turn the collected messages into *err; returns -1 if there were any. */
static int
pctx_finish (struct pctx *c, enclaver_error_t *err)
{
  if (c->nerr == 0)
    return 0;
  if (c->nerr > MAX_ERRORS)
    {
      cleanup_free char *more
          = xasprintf ("%s: %zu more errors not shown", c->name, c->nerr - MAX_ERRORS);
      struct enclaver_field f = ENCLAVER_FIELD_STR ("file", c->name);
      enclaver_error_add (&c->errs, EINVAL, &f, 1, "%s", more);
    }
  return enclaver_error_move (err, &c->errs);
}

/* ------------------------------------------------------------------------- */
/* Text checks and the event -> tree pass                                      */

/* Returns 0 when buf is valid UTF-8 without NUL bytes, else sets line, col and why. */
static int
check_utf8 (const char *buf, size_t len, unsigned *line, unsigned *col, const char **why)
{
  const unsigned char *s = (const unsigned char *) buf;
  size_t i = 0;
  unsigned l = 1, cl = 1;

  while (i < len)
    {
      unsigned char ch = s[i];
      size_t need;
      uint32_t cp, min;

      if (ch == 0)
        {
          *line = l, *col = cl, *why = "NUL byte in the manifest";
          return -1;
        }
      if (ch < 0x80)
        {
          i++;
          if (ch == '\n')
            l++, cl = 1;
          else
            cl++;
          continue;
        }
      if ((ch & 0xe0) == 0xc0)
        need = 1, cp = ch & 0x1f, min = 0x80;
      else if ((ch & 0xf0) == 0xe0)
        need = 2, cp = ch & 0x0f, min = 0x800;
      else if ((ch & 0xf8) == 0xf0)
        need = 3, cp = ch & 0x07, min = 0x10000;
      else
        {
          *line = l, *col = cl;
          *why = (i == 0 && len >= 2 && (s[0] == 0xff || s[0] == 0xfe))
                     ? "not UTF-8 (a UTF-16 byte order mark; save the file as UTF-8)"
                     : "not valid UTF-8 (invalid leading byte)";
          return -1;
        }
      if (i + need >= len)
        {
          *line = l, *col = cl, *why = "not valid UTF-8 (truncated sequence)";
          return -1;
        }
      for (size_t k = 1; k <= need; k++)
        {
          if ((s[i + k] & 0xc0) != 0x80)
            {
              *line = l, *col = cl, *why = "not valid UTF-8 (bad continuation byte)";
              return -1;
            }
          cp = (cp << 6) | (s[i + k] & 0x3f);
        }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        {
          *line = l, *col = cl, *why = "not valid UTF-8 (overlong or out-of-range sequence)";
          return -1;
        }
      i += need + 1;
      cl++;
    }
  return 0;
}

static int
yaml_fail (struct pctx *c, yaml_parser_t *p)
{
  unsigned line = (unsigned) p->problem_mark.line + 1, col = (unsigned) p->problem_mark.column + 1;
  const char *problem = p->problem ? p->problem : "unknown error";

  if (p->error == YAML_READER_ERROR)
    err_at (c, 0, 0, NULL, "YAML error: %s at byte %zu", problem, p->problem_offset);
  else if (p->context)
    err_at (c, line, col, NULL, "YAML syntax error: %s (%s at line %u column %u)", problem,
            p->context, (unsigned) p->context_mark.line + 1,
            (unsigned) p->context_mark.column + 1);
  else
    err_at (c, line, col, NULL, "YAML syntax error: %s", problem);
  return -1;
}

static struct ynode *
new_node (int kind, const yaml_mark_t *mark)
{
  struct ynode *n = xmalloc0 (sizeof *n);
  n->kind = kind;
  n->line = (unsigned) mark->line + 1;
  n->col = (unsigned) mark->column + 1;
  return n;
}

/* Build the node tree; NULL after recording an error. */
static struct ynode *
build_tree (struct pctx *c, const char *buf, size_t len)
{
  yaml_parser_t parser;
  yaml_event_t ev;
  struct ynode *root = NULL;
  struct ynode *stack[MAX_DEPTH + 1];
  size_t depth = 0, nodes = 0;
  int ndocs = 0, ok = 0;
  unsigned line, col;
  const char *why;

  if (check_utf8 (buf, len, &line, &col, &why) < 0)
    {
      err_at (c, line, col, NULL, "%s", why);
      return NULL;
    }

  if (!yaml_parser_initialize (&parser))
    xoom ();
  yaml_parser_set_input_string (&parser, (const unsigned char *) buf, len);
  yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);

  for (;;)
    {
      struct ynode *n = NULL;
      const yaml_mark_t *mk;
      const yaml_char_t *anchor = NULL, *tag = NULL;

      if (!yaml_parser_parse (&parser, &ev))
        {
          yaml_fail (c, &parser);
          goto out;
        }
      mk = &ev.start_mark;
      line = (unsigned) mk->line + 1;
      col = (unsigned) mk->column + 1;

      switch (ev.type)
        {
        case YAML_STREAM_END_EVENT:
          yaml_event_delete (&ev);
          ok = 1;
          goto out;
        case YAML_DOCUMENT_START_EVENT:
          if (++ndocs > 1)
            {
              err_at (c, line, col, NULL,
                      "a second YAML document (only one document is allowed per manifest)");
              yaml_event_delete (&ev);
              goto out;
            }
          break;
        case YAML_ALIAS_EVENT:
          err_at (c, line, col, NULL, "YAML aliases (*%s) are not supported in manifests",
                  (const char *) ev.data.alias.anchor);
          yaml_event_delete (&ev);
          goto out;
        case YAML_SCALAR_EVENT:
          anchor = ev.data.scalar.anchor;
          tag = ev.data.scalar.tag;
          n = new_node (Y_SCALAR, mk);
          n->value = xstrndup ((const char *) ev.data.scalar.value, ev.data.scalar.length);
          n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
          if (strlen (n->value) != ev.data.scalar.length)
            {
              /* "\0" escapes in double-quoted scalars */
              err_at (c, line, col, NULL, "NUL character in a string");
              ynode_free (n);
              yaml_event_delete (&ev);
              goto out;
            }
          break;
        case YAML_SEQUENCE_START_EVENT:
          anchor = ev.data.sequence_start.anchor;
          tag = ev.data.sequence_start.tag;
          n = new_node (Y_SEQ, mk);
          break;
        case YAML_MAPPING_START_EVENT:
          anchor = ev.data.mapping_start.anchor;
          tag = ev.data.mapping_start.tag;
          n = new_node (Y_MAP, mk);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          if (depth > 0)
            depth--;
          break;
        default:
          break;
        }

      if (anchor != NULL)
        {
          err_at (c, line, col, NULL, "YAML anchors (&%s) are not supported in manifests",
                  (const char *) anchor);
          ynode_free (n);
          yaml_event_delete (&ev);
          goto out;
        }
      if (tag != NULL)
        {
          err_at (c, line, col, NULL, "YAML tags (%s) are not supported in manifests",
                  (const char *) tag);
          ynode_free (n);
          yaml_event_delete (&ev);
          goto out;
        }
      yaml_event_delete (&ev);

      if (n == NULL)
        continue;
      if (++nodes > MAX_NODES)
        {
          err_at (c, line, col, NULL, "too many YAML nodes (more than %d)", MAX_NODES);
          ynode_free (n);
          goto out;
        }
      if (depth == 0)
        {
          if (root != NULL)
            {
              /* cannot happen with one document, but never leak */
              ynode_free (n);
              continue;
            }
          root = n;
        }
      else
        ynode_add (stack[depth - 1], n);
      if (n->kind != Y_SCALAR)
        {
          if (depth >= MAX_DEPTH)
            {
              err_at (c, line, col, NULL, "nesting deeper than %d levels", MAX_DEPTH);
              goto out;
            }
          stack[depth++] = n;
        }
    }

out:
  yaml_parser_delete (&parser);
  if (!ok)
    {
      ynode_free (root);
      return NULL;
    }
  return root;
}

/* ------------------------------------------------------------------------- */
/* Typed accessors                                                            */

static bool
is_null (const struct ynode *n)
{
  if (n == NULL)
    return true;
  if (n->kind != Y_SCALAR || !n->plain)
    return false;
  return n->value[0] == '\0' || strcmp (n->value, "~") == 0 || strcmp (n->value, "null") == 0
         || strcmp (n->value, "Null") == 0 || strcmp (n->value, "NULL") == 0;
}

static const char *
kind_name (const struct ynode *n)
{
  if (is_null (n))
    return "an empty value";
  switch (n->kind)
    {
    case Y_SEQ:
      return "a list";
    case Y_MAP:
      return "a map";
    default:
      return "a string";
    }
}

/* path + "." + key; control characters in a (free-form) key become '?' so a message
 * stays on one line, and very long keys are cut. */
static char *
path_key (const char *path, const char *key)
{
  size_t len = strlen (key);
  char *r, *p;
  if (len > MAX_ECHO)
    {
      len = MAX_ECHO;
      while (len > 0 && ((unsigned char) key[len] & 0xc0) == 0x80)
        len--; /* do not split a UTF-8 sequence */
    }
  r = *path ? xasprintf ("%s.%.*s", path, (int) len, key) : xasprintf ("%.*s", (int) len, key);
  for (p = r; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return r;
}

static char *
path_idx (const char *path, size_t i)
{
  return xasprintf ("%s[%zu]", path, i);
}

static int
get_string (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  if (n->kind != Y_SCALAR || is_null (n))
    {
      err_node (c, n, path, "expected a string, got %s", kind_name (n));
      return -1;
    }
  if (n->value[0] == '\0')
    {
      err_node (c, n, path, "empty string");
      return -1;
    }
  pos_record (c, path, n);
  free (*out);
  *out = xstrdup (n->value);
  return 0;
}

/* A string without whitespace or control characters (image references, names). */
static int
get_word (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  const char *p;
  if (get_string (c, n, path, out) < 0)
    return -1;
  for (p = *out; *p; p++)
    if (isspace ((unsigned char) *p) || iscntrl ((unsigned char) *p))
      {
        cleanup_free char *q = quote (*out);
        err_node (c, n, path, "%s must not contain whitespace or control characters", q);
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

  if (n->kind != Y_SCALAR || is_null (n))
    {
      err_node (c, n, path, "expected an integer, got %s", kind_name (n));
      return -1;
    }
  s = n->value;
  if (!n->plain)
    {
      cleanup_free char *q = quote (s);
      err_node (c, n, path, "expected an integer, got the quoted string %s", q);
      return -1;
    }
  if (!(isdigit ((unsigned char) s[0]) || (s[0] == '-' && isdigit ((unsigned char) s[1]))))
    {
      cleanup_free char *q = quote (s);
      err_node (c, n, path, "expected an integer, got %s", q);
      return -1;
    }
  errno = 0;
  v = strtoll (s, &end, 10);
  if (*end != '\0')
    {
      cleanup_free char *q = quote (s);
      err_node (c, n, path, "expected an integer, got %s", q);
      return -1;
    }
  if (errno == ERANGE || v < min || v > max)
    {
      cleanup_free char *q = quote (s);
      if (max == INT32_MAX || max == INT64_MAX)
        err_node (c, n, path, "%s is out of range (must be >= %" PRId64 ")", q, min);
      else
        err_node (c, n, path, "%s is out of range (must be %" PRId64 "..%" PRId64 ")", q, min,
                  max);
      return -1;
    }
  pos_record (c, path, n);
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

  if (null_ok && is_null (n))
    return 1; /* treat as absent */
  if (n->kind != Y_MAP)
    {
      err_node (c, n, path, "expected a map, got %s", kind_name (n));
      return -1;
    }
  pos_record (c, path, n);
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i];
      if (k->kind != Y_SCALAR)
        {
          err_node (c, k, path, "map keys must be strings, got %s", kind_name (k));
          rc = -1;
          continue;
        }
      for (j = 0; j < i; j += 2)
        if (n->kids[j]->kind == Y_SCALAR && strcmp (n->kids[j]->value, k->value) == 0)
          {
            cleanup_free char *q = quote (k->value);
            err_node (c, k, path, "duplicate key %s (first given at line %u)", q,
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
  if (is_null (n))
    return 1;
  if (n->kind != Y_SEQ)
    {
      err_node (c, n, path, "expected a list, got %s", kind_name (n));
      return -1;
    }
  pos_record (c, path, n);
  return 0;
}

/* Keys that only exist inside a section, for "it belongs under ..." hints. */
static const struct
{
  const char *key, *where;
} misplaced_keys[] = {
  { "app", "sources.app" },
  { "odyn", "sources.odyn" },
  { "supervisor", "sources.supervisor" },
  { "sleeve", "sources.sleeve" },
  { "wrapper", "sources.wrapper" },
  { "certificate", "signature.certificate" },
  { "key", "signature.key" },
  { "cpu_count", "defaults.cpu_count" },
  { "memory_mb", "defaults.memory_mb" },
  { "allow", "egress.allow" },
  { "deny", "egress.deny" },
  { "proxy_port", "egress.proxy_port" },
  { "endpoints", "kms_proxy.endpoints" },
  { "listen_port", "ingress[].listen_port, kms_proxy.listen_port or api.listen_port" },
  { "blobs", "kernel.blobs" },
  { "cmdline", "kernel.cmdline" },
  { "init", "kernel.init" },
  { "nsm", "kernel.nsm" },
  { "arch", "kernel.arch" },
  { "eif", "output.eif" },
  { "image", "output.image" },
  { "source_date_epoch", "reproducible.source_date_epoch" },
  { "status_port", "vsock_ports.status_port" },
  { "app_log_port", "vsock_ports.app_log_port" },
  { "http_egress_port", "vsock_ports.http_egress_port" },
};

static size_t
misplaced (const char *key)
{
  size_t i;
  for (i = 0; i < ARRAY_SIZE (misplaced_keys); i++)
    if (strcmp (key, misplaced_keys[i].key) == 0)
      return i;
  return SIZE_MAX;
}

/* Index of key k in known[], or -1 after reporting it as unknown (with a suggestion). */
static int
known_key (struct pctx *c, const struct ynode *k, const char *path, const char *const *known,
           size_t nknown)
{
  size_t i, best = SIZE_MAX, bi = 0;
  cleanup_free char *full = NULL;
  cleanup_free char *q = NULL;

  for (i = 0; i < nknown; i++)
    if (strcmp (k->value, known[i]) == 0)
      return (int) i;
  for (i = 0; i < nknown; i++)
    {
      size_t d = enclaver_edit_distance (k->value, known[i]);
      if (d < best)
        best = d, bi = i;
    }
  full = path_key (path, k->value);
  q = quote (k->value);
  if (best <= (strlen (known[bi]) >= 6 ? 3u : 2u) && best < strlen (k->value))
    err_node (c, k, full, "unknown key %s (did you mean \"%s\"?)", q, known[bi]);
  else if (*path == '\0' && strcmp (k->value, "aux_api") == 0)
    err_node (c, k, full, "unknown key %s (a sparsity-xyz fork extension, not supported)", q);
  else if (*path == '\0' && (i = misplaced (k->value)) != SIZE_MAX)
    err_node (c, k, full, "unknown key %s at the top level (did you mean \"%s\"?)", q,
              misplaced_keys[i].where);
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
      err_node (c, k, full, "unknown key %s (expected one of: %s)", q, list);
    }
  return -1;
}

/* ------------------------------------------------------------------------- */
/* Egress patterns (ENCLAVER.md section 3)                                    */

static int
check_ip_or_cidr (const char *s, int *is_ip, enclaver_error_t *err)
{
  cleanup_free char *addr = xstrdup (s);
  char *slash = strchr (addr, '/');
  unsigned char buf[16];
  int family = 0;
  size_t alen;

  *is_ip = 0;
  if (slash)
    *slash = '\0';
  alen = strlen (addr);
  if (alen >= 2 && addr[0] == '[' && addr[alen - 1] == ']')
    {
      memmove (addr, addr + 1, alen - 2);
      addr[alen - 2] = '\0';
      if (inet_pton (AF_INET6, addr, buf) != 1)
        return enclaver_make_error (err, EINVAL, "invalid IPv6 address in brackets");
      family = AF_INET6;
    }
  else if (inet_pton (AF_INET, addr, buf) == 1)
    family = AF_INET;
  else if (strchr (addr, ':') != NULL)
    {
      if (inet_pton (AF_INET6, addr, buf) != 1)
        {
          /* "example.com:443" is a common mistake */
          char *colon = strrchr (addr, ':');
          if (strchr (addr, ':') == colon && colon[1] != '\0'
              && strspn (colon + 1, "0123456789") == strlen (colon + 1))
            return enclaver_make_error (err, EINVAL,
                                        "ports are not part of egress patterns (drop \"%s\")",
                                        colon);
          return enclaver_make_error (err, EINVAL, "invalid IPv6 address");
        }
      family = AF_INET6;
    }
  else
    {
      /* all-numeric dotted text is a broken IPv4 address, not a host name */
      const char *p;
      int digits_dots = *addr != '\0';
      for (p = addr; *p; p++)
        if (!isdigit ((unsigned char) *p) && *p != '.')
          digits_dots = 0;
      if (digits_dots && strchr (addr, '.'))
        return enclaver_make_error (err, EINVAL, "invalid IPv4 address");
      if (slash)
        return enclaver_make_error (err, EINVAL,
                                    "\"/\" is only allowed in CIDRs (ADDRESS/PREFIX)");
      return 0; /* not an IP: a domain pattern */
    }

  *is_ip = 1;
  if (family == AF_INET6 && memcmp (buf, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
    return enclaver_make_error (err, EINVAL,
                                "IPv4-mapped IPv6 addresses are not supported; write the "
                                "IPv4 address");
  if (slash)
    {
      const char *pfx = slash + 1;
      int maxp = family == AF_INET ? 32 : 128;
      long v;
      char *end;
      if (*pfx == '\0' || strspn (pfx, "0123456789") != strlen (pfx) || strlen (pfx) > 3)
        return enclaver_make_error (err, EINVAL, "invalid CIDR prefix length \"%s\"", pfx);
      v = strtol (pfx, &end, 10);
      if (v > maxp)
        return enclaver_make_error (err, EINVAL,
                                    "CIDR prefix length %ld out of range for %s (0..%d)", v,
                                    family == AF_INET ? "IPv4" : "IPv6", maxp);
    }
  return 0;
}

int
enclaver_egress_pattern_check (const char *s, enclaver_error_t *err)
{
  const char *p, *label;
  size_t n, nlabels = 0, i;
  int is_ip, seen_dstar = 0;

  if (s == NULL || *s == '\0')
    return enclaver_make_error (err, EINVAL, "empty pattern");
  for (p = s; *p; p++)
    if (isspace ((unsigned char) *p) || iscntrl ((unsigned char) *p))
      return enclaver_make_error (err, EINVAL, "whitespace or control character");
  if (strstr (s, "://") != NULL)
    return enclaver_make_error (err, EINVAL, "a URL, not a host name (drop the scheme)");
  if (check_ip_or_cidr (s, &is_ip, err) < 0)
    return -1;
  if (is_ip)
    return 0;

  n = strlen (s);
  if (n > 253)
    return enclaver_make_error (err, EINVAL, "longer than 253 characters");
  if (s[0] == '.')
    return enclaver_make_error (err, EINVAL, "empty label (leading dot)");
  if (s[n - 1] == '.')
    return enclaver_make_error (err, EINVAL, "empty label (trailing dot)");

  label = s;
  for (;;)
    {
      const char *e = strchr (label, '.');
      size_t l = e ? (size_t) (e - label) : strlen (label);
      nlabels++;
      if (l == 0)
        return enclaver_make_error (err, EINVAL, "empty label");
      if (l > 63)
        return enclaver_make_error (err, EINVAL, "label longer than 63 characters");
      if (l == 2 && label[0] == '*' && label[1] == '*')
        {
          if (nlabels != 1)
            return enclaver_make_error (err, EINVAL,
                                        "\"**\" must be the leftmost label (labels left of it "
                                        "would be ignored)");
          seen_dstar = 1;
        }
      else if (l == 1 && label[0] == '*')
        ;
      else
        {
          for (i = 0; i < l; i++)
            {
              unsigned char ch = (unsigned char) label[i];
              if (ch == '*')
                return enclaver_make_error (err, EINVAL,
                                            "\"*\" must be a whole label (\"*\" or \"**\")");
              if (ch == ':')
                return enclaver_make_error (err, EINVAL, "ports are not part of egress patterns");
              if (ch == '/')
                return enclaver_make_error (err, EINVAL,
                                            "\"/\" is only allowed in CIDRs (ADDRESS/PREFIX)");
              if (!(isalnum (ch) || ch == '-' || ch == '_' || ch >= 0x80))
                return enclaver_make_error (err, EINVAL, "invalid character '%c' in a label",
                                            ch);
            }
          if (label[0] == '-' || label[l - 1] == '-')
            return enclaver_make_error (err, EINVAL, "a label must not start or end with '-'");
        }
      if (e == NULL)
        break;
      label = e + 1;
    }
  (void) seen_dstar;
  /* the rightmost label (TLD) of a host name is never all digits */
  {
    const char *last = strrchr (s, '.');
    last = last ? last + 1 : s;
    if (nlabels > 1 && strspn (last, "0123456789") == strlen (last))
      return enclaver_make_error (err, EINVAL, "looks like a malformed IP address");
  }
  return 0;
}

/* ------------------------------------------------------------------------- */
/* Paths and image references                                                 */

static char *
resolve_path (struct pctx *c, const char *p)
{
  return enclaver_path_join_abs (c->dir, p);
}

static int
get_path (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  cleanup_free char *raw = NULL;
  if (get_string (c, n, path, &raw) < 0)
    return -1;
  free (*out);
  *out = resolve_path (c, raw);
  return 0;
}

/* Local transports carry a path that is resolved against dir; others are kept. */
static char *
resolve_ref (const char *dir, const char *ref, enclaver_error_t *err)
{
  static const char *const transports[] = { "oci:", "oci-archive:", "docker-archive:", "dir:" };
  const char *p;
  size_t i;

  if (ref == NULL || *ref == '\0')
    {
      enclaver_make_error (err, EINVAL, "empty image reference");
      return NULL;
    }
  for (p = ref; *p; p++)
    if (isspace ((unsigned char) *p) || iscntrl ((unsigned char) *p))
      {
        enclaver_make_error (err, EINVAL, "image reference must not contain whitespace");
        return NULL;
      }
  for (i = 0; i < ARRAY_SIZE (transports); i++)
    {
      size_t tl = strlen (transports[i]);
      if (strncmp (ref, transports[i], tl) == 0)
        {
          const char *rest = ref + tl;
          const char *colon = strchr (rest, ':');
          cleanup_free char *dpath = colon ? xstrndup (rest, (size_t) (colon - rest))
                                           : xstrdup (rest);
          cleanup_free char *abs = NULL;
          if (*dpath == '\0')
            {
              enclaver_make_error (err, EINVAL, "no path after \"%s\"", transports[i]);
              return NULL;
            }
          if (colon && colon[1] == '\0')
            {
              enclaver_make_error (err, EINVAL, "empty reference after the path's ':'");
              return NULL;
            }
          abs = enclaver_path_join_abs (dir, dpath);
          return xasprintf ("%s%s%s", transports[i], abs, colon ? colon : "");
        }
    }
  /* A bare path (the image path rule, enclaver_image_source_resolve) is relative to the
   * manifest too: one that looks like a path, or a file that exists next to the manifest. */
  if (dir && strncmp (ref, "~/", 2) != 0 && strstr (ref, "://") == NULL && strncmp (ref, "docker-daemon:", 14) != 0)
    {
      cleanup_free char *abs = enclaver_path_join_abs (dir, ref);
      struct stat st;
      if (enclaver_image_source_is_path (ref) || stat (abs, &st) == 0)
        return xstrdup (abs);
    }
  return xstrdup (ref);
}

static int
get_ref (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  cleanup_free char *raw = NULL;
  enclaver_error_t e = NULL;
  char *r;

  if (get_string (c, n, path, &raw) < 0)
    return -1;
  r = resolve_ref (c->dir, raw, &e);
  if (r == NULL)
    {
      cleanup_free char *q = quote (raw);
      err_node (c, n, path, "invalid image reference %s: %s", q, e->msg);
      enclaver_error_release (&e);
      return -1;
    }
  free (*out);
  *out = r;
  return 0;
}

/* ------------------------------------------------------------------------- */
/* Sections                                                                   */

#define KNOWN(c, k, path, arr) known_key ((c), (k), (path), (arr), ARRAY_SIZE (arr))

/* sources.{supervisor|odyn} and sources.{wrapper|sleeve}: one value under either the
 * 0.5.0 (old) or the 0.6 (new) name, never both; recorded under sources.<new>. */
static void
get_spelling (struct pctx *c, const struct ynode *k, const struct ynode *v, const char *path, int legacy,
              const char *old_name, const char *new_name, const struct ynode **seen, char **out, int *out_legacy)
{
  cleanup_free char *norm = NULL;
  if (*seen != NULL)
    {
      err_node (c, k, path,
                "\"%s\" given twice: \"%s\" (0.5.0) and \"%s\" (0.6) are two spellings of the same key "
                "(the other one is at line %u)",
                legacy ? old_name : new_name, old_name, new_name, (*seen)->line);
      return;
    }
  *seen = k;
  if (get_ref (c, v, path, out) == 0)
    {
      *out_legacy = legacy;
      norm = xasprintf ("sources.%s", new_name);
      pos_record (c, norm, v);
    }
}

static void
parse_sources (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "app", "odyn", "supervisor", "sleeve", "wrapper" };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (check_map (c, n, "sources", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "sources", keys)) < 0)
        continue;
      path = path_key ("sources", k->value);
      if (idx == 0)
        {
          get_ref (c, v, path, &m->source_app);
          continue;
        }
      if (idx == 1 || idx == 2)
        get_spelling (c, k, v, path, idx == 2, "supervisor", "odyn", &c->seen_odyn, &m->source_supervisor,
                      &m->source_supervisor_legacy);
      else
        get_spelling (c, k, v, path, idx == 4, "wrapper", "sleeve", &c->seen_sleeve, &m->source_wrapper,
                      &m->source_wrapper_legacy);
    }
}

static void
parse_signature (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "certificate", "key" };
  struct enclaver_manifest *m = c->m;
  const struct ynode *cert = NULL, *key = NULL;
  size_t i;

  if (check_map (c, n, "signature", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "signature", keys)) < 0)
        continue;
      path = path_key ("signature", k->value);
      if (idx == 0)
        {
          cert = k;
          get_path (c, v, path, &m->signature_certificate);
        }
      else
        {
          key = k;
          get_path (c, v, path, &m->signature_key);
        }
    }
  if ((cert == NULL) != (key == NULL))
    err_node (c, n, "signature", "\"certificate\" and \"key\" go together (\"%s\" is missing)",
              cert ? "key" : "certificate");
}

static void
parse_defaults (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "cpu_count", "memory_mb" };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (check_map (c, n, "defaults", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "defaults", keys)) < 0)
        continue;
      path = path_key ("defaults", k->value);
      if (idx == 0)
        get_int (c, v, path, 1, INT32_MAX, &m->cpu_count);
      else
        get_int (c, v, path, 64, INT32_MAX, &m->memory_mb);
    }
}

static void
parse_tls (struct pctx *c, const struct ynode *n, const char *tpath, struct enclaver_ingress *in)
{
  static const char *const keys[] = { "key_file", "cert_file" };
  bool have[2] = { false, false };
  size_t i;

  if (check_map (c, n, tpath, false) != 0)
    return;
  in->has_tls = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, tpath, keys)) < 0)
        continue;
      path = path_key (tpath, k->value);
      have[idx] = true;
      get_string (c, v, path, idx == 0 ? &in->tls_key_file : &in->tls_cert_file);
    }
  for (i = 0; i < 2; i++)
    if (!have[i])
      err_node (c, n, tpath, "missing required key \"%s\"", keys[i]);
}

static void
parse_ingress (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "listen_port", "tls" };
  struct enclaver_manifest *m = c->m;
  size_t i, j;

  if (check_seq (c, n, "ingress") != 0)
    return;
  m->ingress = xmalloc0 ((n->n ? n->n : 1) * sizeof *m->ingress);
  for (i = 0; i < n->n; i++)
    {
      const struct ynode *item = n->kids[i];
      struct enclaver_ingress *in = &m->ingress[m->n_ingress++];
      cleanup_free char *ipath = path_idx ("ingress", i);
      bool have_port = false;

      if (check_map (c, item, ipath, false) != 0)
        continue;
      for (j = 0; j < item->n; j += 2)
        {
          const struct ynode *k = item->kids[j], *v = item->kids[j + 1];
          cleanup_free char *path = NULL;
          int idx;
          if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, ipath, keys)) < 0)
            continue;
          path = path_key (ipath, k->value);
          if (idx == 0)
            {
              have_port = true;
              get_port (c, v, path, &in->listen_port);
            }
          else if (!is_null (v))
            parse_tls (c, v, path, in);
        }
      if (!have_port)
        err_node (c, item, ipath, "missing required key \"listen_port\"");
    }
}

static void
parse_pattern_list (struct pctx *c, const struct ynode *n, const char *lpath, char ***out,
                    size_t *nout)
{
  size_t i;
  if (check_seq (c, n, lpath) != 0)
    return;
  *out = xmalloc0 ((n->n + 1) * sizeof **out);
  for (i = 0; i < n->n; i++)
    {
      const struct ynode *v = n->kids[i];
      cleanup_free char *path = path_idx (lpath, i);
      cleanup_free char *s = NULL;
      enclaver_error_t e = NULL;
      if (get_string (c, v, path, &s) < 0)
        continue;
      if (enclaver_egress_pattern_check (s, &e) < 0)
        {
          cleanup_free char *q = quote (s);
          err_node (c, v, path, "invalid pattern %s: %s", q, e->msg);
          enclaver_error_release (&e);
          continue;
        }
      (*out)[(*nout)++] = s;
      s = NULL;
    }
}

static void
parse_egress (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "allow", "deny", "proxy_port" };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (check_map (c, n, "egress", true) != 0)
    return;
  m->has_egress = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "egress", keys)) < 0)
        continue;
      path = path_key ("egress", k->value);
      if (idx == 0)
        parse_pattern_list (c, v, path, &m->egress_allow, &m->n_egress_allow);
      else if (idx == 1)
        parse_pattern_list (c, v, path, &m->egress_deny, &m->n_egress_deny);
      else
        get_port (c, v, path, &m->egress_proxy_port);
    }
}

static int
check_host (const char *s)
{
  const char *p;
  if (*s == '\0')
    return -1;
  for (p = s; *p; p++)
    if (!(isalnum ((unsigned char) *p) || strchr ("-._:[]", *p)))
      return -1;
  return 0;
}

static void
parse_kms (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "listen_port", "endpoints" };
  struct enclaver_manifest *m = c->m;
  bool have_port = false;
  size_t i, j;

  if (check_map (c, n, "kms_proxy", true) != 0)
    return;
  m->has_kms_proxy = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "kms_proxy", keys)) < 0)
        continue;
      path = path_key ("kms_proxy", k->value);
      if (idx == 0)
        {
          have_port = true;
          get_port (c, v, path, &m->kms_proxy_port);
          continue;
        }
      if (check_map (c, v, path, true) != 0)
        continue;
      m->kms_endpoints = xmalloc0 ((v->n / 2 + 1) * sizeof *m->kms_endpoints);
      for (j = 0; j < v->n; j += 2)
        {
          const struct ynode *rk = v->kids[j], *rv = v->kids[j + 1];
          cleanup_free char *rpath = NULL;
          cleanup_free char *host = NULL;
          const char *r;
          if (rk->kind != Y_SCALAR)
            continue;
          rpath = path_key (path, rk->value);
          for (r = rk->value; *r; r++)
            if (!(islower ((unsigned char) *r) || isdigit ((unsigned char) *r) || *r == '-'))
              break;
          if (*r != '\0' || rk->value[0] == '\0')
            {
              cleanup_free char *q = quote (rk->value);
              err_node (c, rk, rpath,
                        "invalid region %s (lowercase letters, digits and '-', e.g. us-east-1)",
                        q);
              continue;
            }
          if (get_string (c, rv, rpath, &host) < 0)
            continue;
          if (check_host (host) < 0)
            {
              cleanup_free char *q = quote (host);
              err_node (c, rv, rpath, "invalid host %s (expected HOST or HOST:PORT)", q);
              continue;
            }
          m->kms_endpoints[m->n_kms_endpoints].key = xstrdup (rk->value);
          m->kms_endpoints[m->n_kms_endpoints].value = host;
          host = NULL;
          m->n_kms_endpoints++;
        }
    }
  if (!have_port)
    err_node (c, n, "kms_proxy", "missing required key \"listen_port\"");
}

static void
parse_api (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "listen_port" };
  struct enclaver_manifest *m = c->m;
  bool have_port = false;
  size_t i;

  if (check_map (c, n, "api", true) != 0)
    return;
  m->has_api = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      if (k->kind != Y_SCALAR || KNOWN (c, k, "api", keys) < 0)
        continue;
      path = path_key ("api", k->value);
      have_port = true;
      get_port (c, v, path, &m->api_port);
    }
  if (!have_port)
    err_node (c, n, "api", "missing required key \"listen_port\"");
}

static void
parse_spire (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "server_addr", "ca_cert", "trust_domain", "svid_dir",
                                      "workload_api_addr" };
  struct enclaver_manifest *m = c->m;
  char **slots[] = { &m->spire_server_addr, &m->spire_ca_cert, &m->spire_trust_domain,
                     &m->spire_svid_dir, &m->spire_workload_api_addr };
  bool have[ARRAY_SIZE (keys)] = { false };
  size_t i;

  if (check_map (c, n, "spire", true) != 0)
    return;
  m->has_spire = 1;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "spire", keys)) < 0)
        continue;
      path = path_key ("spire", k->value);
      have[idx] = true;
      get_word (c, v, path, slots[idx]);
    }
  for (i = 0; i < 4; i++)
    if (!have[i])
      err_node (c, n, "spire", "missing required key \"%s\"", keys[i]);
}

static int
valid_stage_name (const char *s)
{
  const char *p;
  if (!(islower ((unsigned char) s[0]) || isdigit ((unsigned char) s[0])))
    return 0;
  for (p = s; *p; p++)
    if (!(islower ((unsigned char) *p) || isdigit ((unsigned char) *p) || *p == '-'
          || *p == '_'))
      return 0;
  return p - s <= 64;
}

static void
parse_options (struct pctx *c, const struct ynode *n, const char *opath,
               struct enclaver_pipeline_entry *pe)
{
  size_t i;
  if (check_map (c, n, opath, true) != 0)
    return;
  pe->options = xmalloc0 ((n->n / 2 + 1) * sizeof *pe->options);
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      if (k->kind != Y_SCALAR)
        continue;
      path = path_key (opath, k->value);
      if (k->value[0] == '\0')
        {
          err_node (c, k, path, "empty option name");
          continue;
        }
      if (v->kind != Y_SCALAR)
        {
          err_node (c, v, path, "option values must be scalars (string, number, boolean), got %s",
                    kind_name (v));
          continue;
        }
      if (is_null (v))
        {
          err_node (c, v, path, "option has no value");
          continue;
        }
      pos_record (c, path, v);
      pe->options[pe->n_options].key = xstrdup (k->value);
      pe->options[pe->n_options].value = xstrdup (v->value);
      pe->n_options++;
    }
}

static void
parse_pipeline (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "stage", "plugin", "lua", "options" };
  struct enclaver_manifest *m = c->m;
  size_t i, j;

  if (check_seq (c, n, "pipeline") != 0)
    return;
  if (n->n == 0)
    {
      err_node (c, n, "pipeline", "empty list (omit the key to run the default stack)");
      return;
    }
  m->pipeline = xmalloc0 (n->n * sizeof *m->pipeline);
  for (i = 0; i < n->n; i++)
    {
      const struct ynode *item = n->kids[i];
      struct enclaver_pipeline_entry *pe = &m->pipeline[m->n_pipeline++];
      cleanup_free char *ipath = path_idx ("pipeline", i);
      const struct ynode *what = NULL;
      int what_idx = -1;

      pe->line = item->line;
      if (item->kind == Y_SCALAR && !is_null (item))
        {
          pos_record (c, ipath, item);
          if (!valid_stage_name (item->value))
            {
              cleanup_free char *q = quote (item->value);
              err_node (c, item, ipath,
                        "invalid stage name %s (lowercase letters, digits, '-' and '_'; use "
                        "\"plugin: PATH\" or \"lua: PATH\" for files)",
                        q);
              continue;
            }
          pe->kind = ENCLAVER_PIPELINE_BUILTIN;
          pe->name = xstrdup (item->value);
          continue;
        }
      if (item->kind != Y_MAP)
        {
          err_node (c, item, ipath,
                    "expected a stage name or a map with \"stage\", \"plugin\" or \"lua\", got %s",
                    kind_name (item));
          continue;
        }
      if (check_map (c, item, ipath, false) != 0)
        continue;
      for (j = 0; j < item->n; j += 2)
        {
          const struct ynode *k = item->kids[j], *v = item->kids[j + 1];
          cleanup_free char *path = NULL;
          int idx;
          if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, ipath, keys)) < 0)
            continue;
          path = path_key (ipath, k->value);
          if (idx == 3)
            {
              parse_options (c, v, path, pe);
              continue;
            }
          if (what != NULL)
            {
              err_node (c, k, path, "\"%s\" and \"%s\" in one entry (give exactly one)",
                        keys[what_idx], k->value);
              continue;
            }
          what = k;
          what_idx = idx;
          if (idx == 0)
            {
              if (get_string (c, v, path, &pe->name) == 0 && !valid_stage_name (pe->name))
                {
                  cleanup_free char *q = quote (pe->name);
                  err_node (c, v, path, "invalid stage name %s", q);
                }
              pe->kind = ENCLAVER_PIPELINE_BUILTIN;
            }
          else
            {
              get_path (c, v, path, &pe->path);
              pe->kind = idx == 1 ? ENCLAVER_PIPELINE_PLUGIN : ENCLAVER_PIPELINE_LUA;
            }
        }
      if (what == NULL)
        err_node (c, item, ipath, "missing \"stage\", \"plugin\" or \"lua\"");
    }
}

static void
parse_hooks (struct pctx *c, const struct ynode *n)
{
  struct enclaver_manifest *m = c->m;
  size_t i;
  if (check_seq (c, n, "hooks") != 0)
    return;
  m->hooks = xmalloc0 ((n->n + 1) * sizeof *m->hooks);
  for (i = 0; i < n->n; i++)
    {
      cleanup_free char *path = path_idx ("hooks", i);
      char *p = NULL;
      if (get_path (c, n->kids[i], path, &p) == 0)
        m->hooks[m->n_hooks++] = p;
    }
}

static void
parse_kernel (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "blobs", "kernel", "cmdline", "init", "nsm", "arch" };
  struct enclaver_manifest *m = c->m;
  char **slots[] = { &m->kernel_blobs_dir, &m->kernel_image, &m->kernel_cmdline,
                     &m->kernel_init, &m->kernel_nsm };
  size_t i;

  if (check_map (c, n, "kernel", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "kernel", keys)) < 0)
        continue;
      path = path_key ("kernel", k->value);
      if (idx == 3 && v->kind == Y_SCALAR && v->value
          && (strcmp (v->value, "builtin") == 0 || strcmp (v->value, "blobs") == 0))
        {
          /* kernel.init: builtin | blobs | PATH */
          free (m->kernel_init);
          m->kernel_init = xstrdup (v->value);
        }
      else if (idx < 5)
        get_path (c, v, path, slots[idx]);
      else
        {
          cleanup_free char *a = NULL;
          if (get_string (c, v, path, &a) < 0)
            continue;
          free (m->kernel_arch);
          m->kernel_arch = NULL;
          if (strcmp (a, "x86_64") == 0 || strcmp (a, "amd64") == 0)
            m->kernel_arch = xstrdup ("x86_64");
          else if (strcmp (a, "aarch64") == 0 || strcmp (a, "arm64") == 0)
            m->kernel_arch = xstrdup ("aarch64");
          else
            {
              cleanup_free char *q = quote (a);
              err_node (c, v, path, "unsupported architecture %s (x86_64 or aarch64)", q);
            }
        }
    }
}

static void
parse_output (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "eif", "image" };
  static const char *const ikeys[] = { "format", "destination" };
  struct enclaver_manifest *m = c->m;
  const struct ynode *dest = NULL;
  size_t i, j;

  if (check_map (c, n, "output", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "output", keys)) < 0)
        continue;
      if (idx == 0)
        {
          get_path (c, v, "output.eif", &m->output_eif);
          continue;
        }
      if (check_map (c, v, "output.image", true) != 0)
        continue;
      for (j = 0; j < v->n; j += 2)
        {
          const struct ynode *ik = v->kids[j], *iv = v->kids[j + 1];
          int iidx;
          if (ik->kind != Y_SCALAR || (iidx = KNOWN (c, ik, "output.image", ikeys)) < 0)
            continue;
          if (iidx == 1)
            {
              if (get_string (c, iv, "output.image.destination", &m->output_image_dest) == 0)
                dest = iv;
              continue;
            }
          if (get_string (c, iv, "output.image.format", &m->output_image_format) < 0)
            continue;
          if (strcmp (m->output_image_format, "oci") != 0
              && strcmp (m->output_image_format, "docker-archive") != 0
              && strcmp (m->output_image_format, "registry") != 0)
            {
              cleanup_free char *q = quote (m->output_image_format);
              err_node (c, iv, "output.image.format",
                        "unknown format %s (oci, docker-archive or registry)", q);
              free (m->output_image_format);
              m->output_image_format = NULL;
            }
        }
      if (m->output_image_format == NULL && dest != NULL)
        m->output_image_format = xstrdup ("oci");
    }
  if (dest == NULL && m->output_image_format != NULL
      && strcmp (m->output_image_format, "registry") == 0)
    err_path (c, "output.image", "format \"registry\" needs a \"destination\" (where to push)");
  /* a destination is a path for the file formats, a reference for registry */
  if (dest != NULL && m->output_image_format != NULL)
    {
      if (strcmp (m->output_image_format, "registry") == 0)
        {
          const char *p;
          for (p = m->output_image_dest; *p; p++)
            if (isspace ((unsigned char) *p))
              {
                err_node (c, dest, "output.image.destination",
                          "a registry reference must not contain whitespace");
                break;
              }
        }
      else
        {
          char *abs = resolve_path (c, m->output_image_dest);
          free (m->output_image_dest);
          m->output_image_dest = abs;
        }
    }
}

static void
parse_reproducible (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "source_date_epoch" };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (check_map (c, n, "reproducible", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      if (k->kind != Y_SCALAR || KNOWN (c, k, "reproducible", keys) < 0)
        continue;
      /* newc cpio stores 32-bit unsigned times */
      if (get_int (c, v, "reproducible.source_date_epoch", 0, UINT32_MAX, &m->source_date_epoch)
          == 0)
        m->has_source_date_epoch = 1;
    }
}

static void
parse_vsock_ports (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "status_port", "app_log_port", "http_egress_port" };
  struct enclaver_manifest *m = c->m;
  uint16_t *slots[] = { &m->status_port, &m->app_log_port, &m->http_egress_port };
  size_t i;

  if (check_map (c, n, "vsock_ports", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      cleanup_free char *path = NULL;
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "vsock_ports", keys)) < 0)
        continue;
      path = path_key ("vsock_ports", k->value);
      get_port (c, v, path, slots[idx]);
    }
}

/* lua: limits of the hook scripts and Lua stages (extension). */
static void
parse_lua (struct pctx *c, const struct ynode *n)
{
  static const char *const keys[] = { "memory_mb", "instructions" };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (check_map (c, n, "lua", true) != 0)
    return;
  for (i = 0; i < n->n; i += 2)
    {
      const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "lua", keys)) < 0)
        continue;
      if (idx == 0)
        get_int (c, v, "lua.memory_mb", 1, 4096, &m->lua_memory_mb);
      else
        get_int (c, v, "lua.instructions", 1000, INT64_C (1000000000000), &m->lua_instructions);
    }
}

static void
parse_version (struct pctx *c, const struct ynode *v)
{
  struct enclaver_manifest *m = c->m;
  if (get_string (c, v, "version", &m->version) < 0)
    return;
  if (strcmp (m->version, "v1") != 0)
    {
      cleanup_free char *q = quote (m->version);
      err_node (c, v, "version", "unsupported version %s (only \"v1\" exists)", q);
    }
}

static void
parse_root (struct pctx *c, const struct ynode *root)
{
  static const char *const keys[] = {
    "version", "name",   "target", "sources", "signature", "defaults",     "ingress",
    "egress",  "kms_proxy", "api", "spire",   "pipeline",  "hooks",        "kernel",
    "output",  "reproducible", "vsock_ports", "lua",
  };
  struct enclaver_manifest *m = c->m;
  size_t i;

  if (root->kind != Y_MAP)
    {
      err_node (c, root, NULL, "the manifest must be a map of keys (version, name, ...), got %s",
                kind_name (root));
      return;
    }
  if (check_map (c, root, "", false) != 0)
    return;
  for (i = 0; i < root->n; i += 2)
    {
      const struct ynode *k = root->kids[i], *v = root->kids[i + 1];
      int idx;
      if (k->kind != Y_SCALAR || (idx = KNOWN (c, k, "", keys)) < 0)
        continue;
      switch (idx)
        {
        case 0:
          parse_version (c, v);
          break;
        case 1:
          get_string (c, v, "name", &m->name);
          break;
        case 2:
          get_word (c, v, "target", &m->target);
          break;
        case 3:
          parse_sources (c, v);
          break;
        case 4:
          parse_signature (c, v);
          break;
        case 5:
          parse_defaults (c, v);
          break;
        case 6:
          parse_ingress (c, v);
          break;
        case 7:
          parse_egress (c, v);
          break;
        case 8:
          parse_kms (c, v);
          break;
        case 9:
          parse_api (c, v);
          break;
        case 10:
          parse_spire (c, v);
          break;
        case 11:
          parse_pipeline (c, v);
          break;
        case 12:
          parse_hooks (c, v);
          break;
        case 13:
          parse_kernel (c, v);
          break;
        case 14:
          parse_output (c, v);
          break;
        case 15:
          parse_reproducible (c, v);
          break;
        case 16:
          parse_vsock_ports (c, v);
          break;
        default:
          parse_lua (c, v);
          break;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Whole-manifest validation                                                  */

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
          err_path (c, u[i].key, "port %u is also used by %s (%s)", u[i].port, u[j].key, space);
          break;
        }
}

static void
validate (struct pctx *c, const struct enclaver_manifest *m, unsigned flags)
{
  struct port_use *tcp = NULL;
  size_t nvs = 0, ntcp = 0, i;

  if (m->version == NULL)
    err_path (c, "", "missing required key \"version\" (write: version: v1)");
  if (m->name == NULL)
    err_path (c, "", "missing required key \"name\"");
  if (m->target == NULL)
    err_path (c, "", "missing required key \"target\" (the release image tag)");
  if (m->source_app == NULL && !(flags & ENCLAVER_MANIFEST_NO_APP_REQUIRED))
    {
      if (pos_find (c, "sources") != NULL)
        err_path (c, "sources", "missing required key \"app\" (the application image)");
      else
        err_path (c, "", "missing required key \"sources\" with \"app\" (the application image)");
    }
  if ((m->signature_certificate == NULL) != (m->signature_key == NULL))
    err_path (c, "signature", "\"certificate\" and \"key\" go together");
  if (m->cpu_count < 1 || m->cpu_count > INT32_MAX)
    err_path (c, "defaults.cpu_count", "%" PRId64 " is out of range (must be >= 1)",
              m->cpu_count);
  if (m->memory_mb < 64 || m->memory_mb > INT32_MAX)
    err_path (c, "defaults.memory_mb", "%" PRId64 " is out of range (must be >= 64)",
              m->memory_mb);
  if (m->has_source_date_epoch && (m->source_date_epoch < 0 || m->source_date_epoch > UINT32_MAX))
    err_path (c, "reproducible.source_date_epoch", "out of range");
  if (c->nerr > 0)
    return;

  /* Ports.  Ingress ports are vsock ports and in-enclave TCP ports at the same time;
   * the proxies inside the enclave listen on 127.0.0.1. */
  {
    struct port_use *v = xmalloc0 ((m->n_ingress + 3) * sizeof *v);
    tcp = xmalloc0 ((m->n_ingress + 3) * sizeof *tcp);
    v[nvs].key = xstrdup ("vsock_ports.status_port"), v[nvs++].port = m->status_port;
    v[nvs].key = xstrdup ("vsock_ports.app_log_port"), v[nvs++].port = m->app_log_port;
    v[nvs].key = xstrdup ("vsock_ports.http_egress_port"), v[nvs++].port = m->http_egress_port;
    if (m->has_egress)
      tcp[ntcp].key = xstrdup ("egress.proxy_port"), tcp[ntcp++].port = m->egress_proxy_port;
    if (m->has_kms_proxy)
      tcp[ntcp].key = xstrdup ("kms_proxy.listen_port"), tcp[ntcp++].port = m->kms_proxy_port;
    if (m->has_api)
      tcp[ntcp].key = xstrdup ("api.listen_port"), tcp[ntcp++].port = m->api_port;
    for (i = 0; i < m->n_ingress; i++)
      {
        if (m->ingress[i].listen_port == 0)
          continue;
        v[nvs].key = xasprintf ("ingress[%zu].listen_port", i);
        v[nvs++].port = m->ingress[i].listen_port;
      }
    check_collisions (c, v, nvs, "vsock ports");
    if (c->nerr == 0)
      {
        for (i = 0; i < m->n_ingress; i++)
          {
            if (m->ingress[i].listen_port == 0)
              continue;
            tcp[ntcp].key = xasprintf ("ingress[%zu].listen_port", i);
            tcp[ntcp++].port = m->ingress[i].listen_port;
          }
        check_collisions (c, tcp, ntcp, "TCP ports on the enclave's loopback");
      }
    for (i = 0; i < nvs; i++)
      free (v[i].key);
    for (i = 0; i < ntcp; i++)
      free (tcp[i].key);
    free (v);
    free (tcp);
  }
}

int
enclaver_manifest_validate (const struct enclaver_manifest *m, unsigned flags,
                            enclaver_error_t *err)
{
  struct pctx c = { 0 };
  int rc;
  if (m == NULL)
    return enclaver_make_error (err, EINVAL, "no manifest");
  c.name = m->path ? (strcmp (m->path, "-") == 0 ? "<stdin>" : m->path) : "<manifest>";
  validate (&c, m, flags);
  rc = pctx_finish (&c, err);
  pctx_release (&c);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Entry points                                                               */

static struct enclaver_manifest *
manifest_new (void)
{
  struct enclaver_manifest *m = xmalloc0 (sizeof *m);
  m->cpu_count = DEFAULT_CPU_COUNT;
  m->memory_mb = DEFAULT_MEMORY_MB;
  m->egress_proxy_port = DEFAULT_EGRESS_PROXY_PORT;
  m->status_port = DEFAULT_STATUS_PORT;
  m->app_log_port = DEFAULT_APP_LOG_PORT;
  m->http_egress_port = DEFAULT_HTTP_EGRESS_PORT;
  return m;
}

static struct enclaver_manifest *
parse_common (const char *buf, size_t len, const char *path, const char *name, const char *dir,
              unsigned flags, enclaver_error_t *err)
{
  struct pctx c = { 0 };
  struct enclaver_manifest *m = manifest_new ();
  struct ynode *root = NULL;

  m->path = xstrdup (path);
  m->dir = enclaver_path_join_abs (NULL, dir ? dir : ".");
  c.name = name;
  c.dir = m->dir;
  c.flags = flags;
  c.m = m;

  if (len > ENCLAVER_MANIFEST_MAX_SIZE)
    {
      enclaver_make_error (err, EFBIG, "%s: larger than %d bytes", name,
                           ENCLAVER_MANIFEST_MAX_SIZE);
      goto fail;
    }
  /* an all-blank/comment document yields no root node */
  root = build_tree (&c, buf, len);
  if (root == NULL && c.nerr == 0)
    err_at (&c, 0, 0, NULL, "empty manifest (no YAML document)");
  if (root != NULL && is_null (root))
    err_at (&c, root->line, root->col, NULL, "empty manifest (no keys)");
  if (c.nerr == 0)
    parse_root (&c, root);
  if (c.nerr == 0)
    {
      if (m->has_spire && m->spire_workload_api_addr == NULL)
        m->spire_workload_api_addr = xstrdup (DEFAULT_SPIRE_WORKLOAD_API_ADDR);
      validate (&c, m, flags);
    }
  ynode_free (root);
  if (pctx_finish (&c, err) < 0)
    goto fail;
  pctx_release (&c);
  return m;

fail:
  pctx_release (&c);
  enclaver_manifest_free (m);
  return NULL;
}

struct enclaver_manifest *
enclaver_manifest_parse_ex (const char *buf, size_t len, const char *name, const char *dir,
                            unsigned flags, enclaver_error_t *err)
{
  if (buf == NULL)
    {
      enclaver_make_error (err, EINVAL, "no manifest text");
      return NULL;
    }
  return parse_common (buf, len, name ? name : "<buffer>", name ? name : "<buffer>", dir, flags,
                       err);
}

struct enclaver_manifest *
enclaver_manifest_parse (const char *buf, size_t len, const char *name, const char *dir,
                         enclaver_error_t *err)
{
  return enclaver_manifest_parse_ex (buf, len, name, dir, 0, err);
}

struct enclaver_manifest *
enclaver_manifest_load_ex (const char *path, unsigned flags, enclaver_error_t *err)
{
  cleanup_free char *buf = NULL;
  cleanup_free char *abs = NULL;
  cleanup_free char *dir = NULL;
  size_t len = 0;
  int rc;

  if (path == NULL || *path == '\0')
    {
      enclaver_make_error (err, EINVAL, "no manifest path");
      return NULL;
    }
  if (strcmp (path, "-") == 0)
    {
      rc = enclaver_read_stream (stdin, "<stdin>", ENCLAVER_MANIFEST_MAX_SIZE, &buf, &len, err);
      if (rc < 0)
        return NULL;
      return parse_common (buf, len, "-", "<stdin>", NULL, flags, err);
    }
  rc = enclaver_read_file (path, ENCLAVER_MANIFEST_MAX_SIZE, &buf, &len, err);
  if (rc < 0)
    return NULL;
  abs = enclaver_path_join_abs (NULL, path);
  dir = xstrdup (abs);
  {
    char *slash = strrchr (dir, '/');
    if (slash == dir)
      slash[1] = '\0';
    else if (slash)
      *slash = '\0';
  }
  return parse_common (buf, len, path, path, dir, flags, err);
}

struct enclaver_manifest *
enclaver_manifest_load (const char *path, enclaver_error_t *err)
{
  return enclaver_manifest_load_ex (path, 0, err);
}

int
enclaver_manifest_set_app (struct enclaver_manifest *m, const char *app, enclaver_error_t *err)
{
  char *r;
  if (m == NULL)
    return enclaver_make_error (err, EINVAL, "no manifest");
  r = resolve_ref (NULL, app, err);
  if (r == NULL)
    return enclaver_error_wrap (err, "sources.app override %s", app ? app : "(null)");
  free (m->source_app);
  m->source_app = r;
  return 0;
}

static void
kv_free (struct enclaver_kv *kv, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      free (kv[i].key);
      free (kv[i].value);
    }
  free (kv);
}

void
enclaver_manifest_free (struct enclaver_manifest *m)
{
  size_t i;
  if (m == NULL)
    return;
  free (m->path);
  free (m->dir);
  free (m->version);
  free (m->name);
  free (m->target);
  free (m->source_app);
  free (m->source_supervisor);
  free (m->source_wrapper);
  free (m->signature_certificate);
  free (m->signature_key);
  for (i = 0; i < m->n_ingress; i++)
    {
      free (m->ingress[i].tls_key_file);
      free (m->ingress[i].tls_cert_file);
    }
  free (m->ingress);
  enclaver_strv_free (m->egress_allow, m->n_egress_allow);
  enclaver_strv_free (m->egress_deny, m->n_egress_deny);
  kv_free (m->kms_endpoints, m->n_kms_endpoints);
  for (i = 0; i < m->n_pipeline; i++)
    {
      free (m->pipeline[i].name);
      free (m->pipeline[i].path);
      kv_free (m->pipeline[i].options, m->pipeline[i].n_options);
    }
  free (m->pipeline);
  enclaver_strv_free (m->hooks, m->n_hooks);
  free (m->kernel_blobs_dir);
  free (m->kernel_image);
  free (m->kernel_cmdline);
  free (m->kernel_init);
  free (m->kernel_nsm);
  free (m->kernel_arch);
  free (m->output_eif);
  free (m->output_image_format);
  free (m->output_image_dest);
  free (m->spire_server_addr);
  free (m->spire_ca_cert);
  free (m->spire_trust_domain);
  free (m->spire_svid_dir);
  free (m->spire_workload_api_addr);
  free (m);
}

/* ------------------------------------------------------------------------- */
/* JSON                                                                       */

struct jctx
{
  int bad; /* a string was not valid UTF-8 (e.g. a non-UTF-8 working directory) */
};

static json_t *
jstr (struct jctx *j, const char *s)
{
  json_t *v;
  if (s == NULL)
    return json_null ();
  v = json_string (s);
  if (v == NULL)
    {
      j->bad = 1;
      return json_null ();
    }
  return v;
}

static void
jset (json_t *o, const char *k, json_t *v)
{
  if (v == NULL || json_object_set_new (o, k, v) < 0)
    xoom ();
}

static json_t *
jstrv (struct jctx *j, char *const *v, size_t n)
{
  json_t *a = json_array ();
  size_t i;
  for (i = 0; i < n; i++)
    json_array_append_new (a, jstr (j, v[i]));
  return a;
}

static json_t *
jkv (struct jctx *j, const struct enclaver_kv *kv, size_t n)
{
  json_t *o = json_object ();
  size_t i;
  for (i = 0; i < n; i++)
    {
      /* steals the value even when the key is rejected (not UTF-8) */
      if (json_object_set_new (o, kv[i].key, jstr (j, kv[i].value)) < 0)
        j->bad = 1;
    }
  return o;
}

char *
enclaver_manifest_to_json (const struct enclaver_manifest *m, enclaver_error_t *err)
{
  struct jctx j = { 0 };
  json_t *root, *o, *a;
  char *s, *out;
  size_t i;

  if (m == NULL)
    {
      enclaver_make_error (err, EINVAL, "no manifest");
      return NULL;
    }
  root = json_object ();
  jset (root, "path", jstr (&j, m->path));
  jset (root, "dir", jstr (&j, m->dir));
  jset (root, "version", jstr (&j, m->version));
  jset (root, "name", jstr (&j, m->name));
  jset (root, "target", jstr (&j, m->target));

  o = json_object ();
  jset (o, "app", jstr (&j, m->source_app));
  jset (o, "odyn", jstr (&j, m->source_supervisor));
  jset (o, "sleeve", jstr (&j, m->source_wrapper));
  jset (root, "sources", o);

  a = json_array ();
  if (m->source_supervisor_legacy)
    json_array_append_new (a, json_string ("sources.supervisor"));
  if (m->source_wrapper_legacy)
    json_array_append_new (a, json_string ("sources.wrapper"));
  jset (root, "legacy_keys", a);

  if (m->signature_certificate || m->signature_key)
    {
      o = json_object ();
      jset (o, "certificate", jstr (&j, m->signature_certificate));
      jset (o, "key", jstr (&j, m->signature_key));
      jset (root, "signature", o);
    }
  else
    jset (root, "signature", json_null ());

  o = json_object ();
  jset (o, "cpu_count", json_integer (m->cpu_count));
  jset (o, "memory_mb", json_integer (m->memory_mb));
  jset (root, "defaults", o);

  a = json_array ();
  for (i = 0; i < m->n_ingress; i++)
    {
      json_t *in = json_object ();
      jset (in, "listen_port", json_integer (m->ingress[i].listen_port));
      if (m->ingress[i].has_tls)
        {
          json_t *t = json_object ();
          jset (t, "key_file", jstr (&j, m->ingress[i].tls_key_file));
          jset (t, "cert_file", jstr (&j, m->ingress[i].tls_cert_file));
          jset (in, "tls", t);
        }
      else
        jset (in, "tls", json_null ());
      json_array_append_new (a, in);
    }
  jset (root, "ingress", a);

  o = json_object ();
  jset (o, "enabled", json_boolean (m->n_egress_allow > 0));
  jset (o, "allow", jstrv (&j, m->egress_allow, m->n_egress_allow));
  jset (o, "deny", jstrv (&j, m->egress_deny, m->n_egress_deny));
  jset (o, "proxy_port", json_integer (m->egress_proxy_port));
  jset (root, "egress", o);

  if (m->has_kms_proxy)
    {
      o = json_object ();
      jset (o, "listen_port", json_integer (m->kms_proxy_port));
      jset (o, "endpoints", jkv (&j, m->kms_endpoints, m->n_kms_endpoints));
      jset (root, "kms_proxy", o);
    }
  else
    jset (root, "kms_proxy", json_null ());

  if (m->has_api)
    {
      o = json_object ();
      jset (o, "listen_port", json_integer (m->api_port));
      jset (root, "api", o);
    }
  else
    jset (root, "api", json_null ());

  if (m->has_spire)
    {
      o = json_object ();
      jset (o, "server_addr", jstr (&j, m->spire_server_addr));
      jset (o, "ca_cert", jstr (&j, m->spire_ca_cert));
      jset (o, "trust_domain", jstr (&j, m->spire_trust_domain));
      jset (o, "svid_dir", jstr (&j, m->spire_svid_dir));
      jset (o, "workload_api_addr", jstr (&j, m->spire_workload_api_addr
                                                  ? m->spire_workload_api_addr
                                                  : DEFAULT_SPIRE_WORKLOAD_API_ADDR));
      jset (root, "spire", o);
    }
  else
    jset (root, "spire", json_null ());

  a = json_array ();
  if (m->n_pipeline == 0)
    for (i = 0; i < ARRAY_SIZE (default_stack); i++)
      {
        json_t *e = json_object ();
        jset (e, "kind", json_string ("builtin"));
        jset (e, "name", json_string (default_stack[i]));
        jset (e, "options", json_object ());
        json_array_append_new (a, e);
      }
  for (i = 0; i < m->n_pipeline; i++)
    {
      const struct enclaver_pipeline_entry *pe = &m->pipeline[i];
      json_t *e = json_object ();
      const char *kind = pe->kind == ENCLAVER_PIPELINE_PLUGIN ? "plugin"
                         : pe->kind == ENCLAVER_PIPELINE_LUA  ? "lua"
                                                              : "builtin";
      jset (e, "kind", json_string (kind));
      if (pe->kind == ENCLAVER_PIPELINE_BUILTIN)
        jset (e, "name", jstr (&j, pe->name));
      else
        jset (e, "path", jstr (&j, pe->path));
      jset (e, "options", jkv (&j, pe->options, pe->n_options));
      json_array_append_new (a, e);
    }
  jset (root, "pipeline", a);
  jset (root, "pipeline_is_default", json_boolean (m->n_pipeline == 0));
  jset (root, "hooks", jstrv (&j, m->hooks, m->n_hooks));

  o = json_object ();
  jset (o, "blobs", jstr (&j, m->kernel_blobs_dir));
  jset (o, "kernel", jstr (&j, m->kernel_image));
  jset (o, "cmdline", jstr (&j, m->kernel_cmdline));
  jset (o, "init", jstr (&j, m->kernel_init));
  jset (o, "nsm", jstr (&j, m->kernel_nsm));
  jset (o, "arch", jstr (&j, m->kernel_arch));
  jset (root, "kernel", o);

  o = json_object ();
  jset (o, "eif", jstr (&j, m->output_eif));
  {
    json_t *im = json_object ();
    jset (im, "format", jstr (&j, m->output_image_format));
    jset (im, "destination", jstr (&j, m->output_image_dest));
    jset (o, "image", im);
  }
  jset (root, "output", o);

  o = json_object ();
  jset (o, "source_date_epoch",
        m->has_source_date_epoch ? json_integer (m->source_date_epoch) : json_null ());
  jset (root, "reproducible", o);

  o = json_object ();
  jset (o, "status_port", json_integer (m->status_port));
  jset (o, "app_log_port", json_integer (m->app_log_port));
  jset (o, "http_egress_port", json_integer (m->http_egress_port));
  jset (root, "vsock_ports", o);

  o = json_object ();
  jset (o, "memory_mb", m->lua_memory_mb ? json_integer (m->lua_memory_mb) : json_null ());
  jset (o, "instructions", m->lua_instructions ? json_integer (m->lua_instructions) : json_null ());
  jset (root, "lua", o);

  if (j.bad)
    {
      json_decref (root);
      enclaver_make_error (err, EILSEQ, "%s: a value is not valid UTF-8 and cannot be shown as JSON",
                           m->path ? m->path : "manifest");
      return NULL;
    }
  s = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (root);
  if (s == NULL)
    xoom ();
  out = xasprintf ("%s\n", s);
  free (s);
  return out;
}
