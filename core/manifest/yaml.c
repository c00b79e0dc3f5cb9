/* enclaver: enclaver.yaml, first pass: libyaml's event stream -> a small node tree,
 * refusing what a manifest never needs and an attacker might use: anchors/aliases (no
 * "billion laughs"), tags, more than one document, deep nesting, non-UTF-8 text, NUL
 * bytes.  Also the error collection every pass shares: "FILE:LINE:COL: key.path:
 * message" lines (bounded), and where each key path was written. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "internal.h"

void
mf_ynode_free (struct ynode *n)
{
  size_t i;
  if (n == NULL)
    return;
  for (i = 0; i < n->n; i++)
    mf_ynode_free (n->kids[i]);
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


/* s quoted for a message: "..." with control characters escaped, long values cut. */
char *
mf_quote (const char *s)
{
  size_t n = strlen (s), i, o = 0;
  size_t lim = n > MF_MAX_ECHO ? MF_MAX_ECHO : n;
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
  if (c->nerr > MF_MAX_ERRORS)
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

void ENCLAVER_PRINTF (4, 5)
mf_err_node (struct pctx *c, const struct ynode *n, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  verr_at (c, n ? n->line : 0, n ? n->col : 0, path, fmt, ap);
  va_end (ap);
}

void ENCLAVER_PRINTF (5, 6)
mf_err_at (struct pctx *c, unsigned line, unsigned col, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  verr_at (c, line, col, path, fmt, ap);
  va_end (ap);
}

void
mf_pos_record (struct pctx *c, const char *path, const struct ynode *n)
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

const struct mf_pos *
mf_pos_find (const struct pctx *c, const char *path)
{
  size_t i;
  for (i = 0; i < c->npos; i++)
    if (strcmp (c->pos[i].path, path) == 0)
      return &c->pos[i];
  return NULL;
}

/* An error about a key path, located where that path (or, failing that, the closest
 * recorded parent) was written. */
void ENCLAVER_PRINTF (3, 4)
mf_err_path (struct pctx *c, const char *path, const char *fmt, ...)
{
  va_list ap;
  const struct mf_pos *p = NULL;
  cleanup_free char *probe = xstrdup (path);

  for (;;)
    {
      char *dot;
      p = mf_pos_find (c, probe);
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

void
mf_pctx_release (struct pctx *c)
{
  size_t i;
  for (i = 0; i < c->npos; i++)
    free (c->pos[i].path);
  free (c->pos);
  enclaver_error_release (&c->errs);
}

/* Turn the collected messages into *err; returns -1 if there were any. */
int
mf_pctx_finish (struct pctx *c, enclaver_error_t *err)
{
  if (c->nerr == 0)
    return 0;
  if (c->nerr > MF_MAX_ERRORS)
    {
      cleanup_free char *more
          = xasprintf ("%s: %zu more errors not shown", c->name, c->nerr - MF_MAX_ERRORS);
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
yaml_fail (struct pctx *c, yaml_parser_t *p, size_t skipped)
{
  unsigned line = (unsigned) p->problem_mark.line + 1, col = (unsigned) p->problem_mark.column + 1;
  const char *problem = p->problem ? p->problem : "unknown error";

  if (p->error == YAML_READER_ERROR)
    mf_err_at (c, 0, 0, NULL, "YAML error: %s at byte %zu", problem, p->problem_offset + skipped);
  else if (p->context)
    mf_err_at (c, line, col, NULL, "YAML syntax error: %s (%s at line %u column %u)", problem,
            p->context, (unsigned) p->context_mark.line + 1,
            (unsigned) p->context_mark.column + 1);
  else
    mf_err_at (c, line, col, NULL, "YAML syntax error: %s", problem);
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
struct ynode *
mf_build_tree (struct pctx *c, const char *buf, size_t len)
{
  yaml_parser_t parser;
  yaml_event_t ev;
  struct ynode *root = NULL;
  struct ynode *stack[MF_MAX_DEPTH + 1];
  size_t depth = 0, nodes = 0, bom = 0;
  int ndocs = 0, ok = 0;
  unsigned line, col;
  const char *why;

  /* A UTF-8 byte order mark is allowed (docs/manifest.md) and is not part of the text:
   * dropped here, before libyaml (which skips it but counts it as a column, so the first
   * key no longer lines up with the others), and columns count without it. */
  if (len >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0)
    {
      buf += 3;
      len -= 3;
      bom = 3;
    }
  if (check_utf8 (buf, len, &line, &col, &why) < 0)
    {
      mf_err_at (c, line, col, NULL, "%s", why);
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
          yaml_fail (c, &parser, bom);
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
              mf_err_at (c, line, col, NULL,
                      "a second YAML document (only one document is allowed per manifest)");
              yaml_event_delete (&ev);
              goto out;
            }
          break;
        case YAML_ALIAS_EVENT:
          mf_err_at (c, line, col, NULL, "YAML aliases (*%s) are not supported in manifests",
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
              mf_err_at (c, line, col, NULL, "NUL character in a string");
              mf_ynode_free (n);
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
          mf_err_at (c, line, col, NULL, "YAML anchors (&%s) are not supported in manifests",
                  (const char *) anchor);
          mf_ynode_free (n);
          yaml_event_delete (&ev);
          goto out;
        }
      if (tag != NULL)
        {
          mf_err_at (c, line, col, NULL, "YAML tags (%s) are not supported in manifests",
                  (const char *) tag);
          mf_ynode_free (n);
          yaml_event_delete (&ev);
          goto out;
        }
      yaml_event_delete (&ev);

      if (n == NULL)
        continue;
      if (++nodes > MF_MAX_NODES)
        {
          mf_err_at (c, line, col, NULL, "too many YAML nodes (more than %d)", MF_MAX_NODES);
          mf_ynode_free (n);
          goto out;
        }
      if (depth == 0)
        {
          if (root != NULL)
            {
              /* cannot happen with one document, but never leak */
              mf_ynode_free (n);
              continue;
            }
          root = n;
        }
      else
        ynode_add (stack[depth - 1], n);
      if (n->kind != Y_SCALAR)
        {
          if (depth >= MF_MAX_DEPTH)
            {
              mf_err_at (c, line, col, NULL, "nesting deeper than %d levels", MF_MAX_DEPTH);
              goto out;
            }
          stack[depth++] = n;
        }
    }

out:
  yaml_parser_delete (&parser);
  if (!ok)
    {
      mf_ynode_free (root);
      return NULL;
    }
  return root;
}

/* ------------------------------------------------------------------------- */
/* Typed accessors                                                            */

bool
mf_is_null (const struct ynode *n)
{
  if (n == NULL)
    return true;
  if (n->kind != Y_SCALAR || !n->plain)
    return false;
  return n->value[0] == '\0' || strcmp (n->value, "~") == 0 || strcmp (n->value, "null") == 0
         || strcmp (n->value, "Null") == 0 || strcmp (n->value, "NULL") == 0;
}

const char *
mf_kind_name (const struct ynode *n)
{
  if (mf_is_null (n))
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
char *
mf_path_key (const char *path, const char *key)
{
  size_t len = strlen (key);
  char *r, *p;
  if (len > MF_MAX_ECHO)
    {
      len = MF_MAX_ECHO;
      while (len > 0 && ((unsigned char) key[len] & 0xc0) == 0x80)
        len--; /* do not split a UTF-8 sequence */
    }
  r = *path ? xasprintf ("%s.%.*s", path, (int) len, key) : xasprintf ("%.*s", (int) len, key);
  for (p = r; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return r;
}

/* A non-empty string; recorded at path. */
int
mf_get_string (struct pctx *c, const struct ynode *n, const char *path, char **out)
{
  if (n->kind != Y_SCALAR || mf_is_null (n))
    {
      mf_err_node (c, n, path, "expected a string, got %s", mf_kind_name (n));
      return -1;
    }
  if (n->value[0] == '\0')
    {
      mf_err_node (c, n, path, "empty string");
      return -1;
    }
  mf_pos_record (c, path, n);
  free (*out);
  *out = xstrdup (n->value);
  return 0;
}
