/* sbom: an optional stage that writes an SPDX 2.3 JSON SBOM of the enclave's rootfs:
 * every regular file with its SHA-1 (which SPDX 2.3 requires of a file) and SHA-256,
 * and the packages of the dpkg database (var/lib/dpkg/status), the apk database
 * (lib/apk/db/installed) and Python distributions (*.dist-info/METADATA).  The bytes
 * depend only on the rootfs, the manifest and the build time (enclaver_build_time:
 * SOURCE_DATE_EPOCH, else the app image's created time), never on the wall clock.
 * The document goes beside the EIF; with attach=true it is also added to the release
 * image's OCI layout as a referrer artifact (artifactType application/spdx+json, its
 * subject the image manifest).  docs/plugins/sbom.md. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <enclaver/build.h>
#include <enclaver/image.h>
#include <enclaver/manifest.h>
#include <enclaver/tree.h>
#include "plugins/common/plugin-util.h"

#define SBOM_MEDIA_TYPE "application/spdx+json"
#define OCI_EMPTY_MEDIA_TYPE "application/vnd.oci.empty.v1+json"
#define OCI_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define OCI_MANIFEST_MEDIA_TYPE "application/vnd.oci.image.manifest.v1+json"
/* index.json of the release image: written by emit-image, a few hundred bytes. */
#define INDEX_MAX_SIZE (1u << 20)

#define DPKG_STATUS "var/lib/dpkg/status"
#define APK_INSTALLED "lib/apk/db/installed"

enum
{
  SRC_DPKG = 1,
  SRC_APK = 2,
  SRC_PYTHON = 4,
};

struct sbom_config
{
  char *output;
  int attach;
  char *sources;
  int files;
  uint64_t max_db_size;
  uint64_t max_metadata_size;
};

static const struct enclaver_stage_option sbom_options[] = {
  { ENCLAVER_OPT_STRING, "output", NULL, 0, offsetof (struct sbom_config, output),
    "where to write the SBOM, relative to the output directory (default: beside the EIF, NAME.spdx.json)" },
  { ENCLAVER_OPT_BOOL, "attach", "false", 0, offsetof (struct sbom_config, attach),
    "also add the SBOM to the release image (OCI layout) as a referrer artifact of type " SBOM_MEDIA_TYPE
    "; needs emit-image later in the pipeline" },
  { ENCLAVER_OPT_STRING, "sources", "dpkg,apk,python", 0, offsetof (struct sbom_config, sources),
    "package databases read, of dpkg (" DPKG_STATUS "), apk (" APK_INSTALLED "), python (*.dist-info/METADATA)" },
  { ENCLAVER_OPT_BOOL, "files", "true", 0, offsetof (struct sbom_config, files),
    "list every regular file with its SHA-1 and SHA-256" },
  { ENCLAVER_OPT_SIZE, "max_db_size", "64M", 0, offsetof (struct sbom_config, max_db_size),
    "largest package database (dpkg status, apk installed) read from the image" },
  { ENCLAVER_OPT_SIZE, "max_metadata_size", "1M", 0, offsetof (struct sbom_config, max_metadata_size),
    "largest Python METADATA file read from the image" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static void *
must (void *p)
{
  if (p == NULL)
    abort ();
  return p;
}

/* ------------------------------------------------------------------ init / check */

struct attach;

struct sbom_state
{
  unsigned sources;
  int warned_utf8;
  /* the hook's data: freed in fini, not by the context (which outlives the module) */
  struct attach *attach;
};

static void attach_free (struct attach *a);

static int
sbom_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  struct sbom_state *s;
  size_t n, i;
  char **v = plugin_split_list (c->sources, &n);
  unsigned src = 0;
  for (i = 0; i < n; i++)
    {
      if (strcmp (v[i], "dpkg") == 0)
        src |= SRC_DPKG;
      else if (strcmp (v[i], "apk") == 0)
        src |= SRC_APK;
      else if (strcmp (v[i], "python") == 0)
        src |= SRC_PYTHON;
      else
        {
          enclaver_make_error (err, EINVAL, "option 'sources': '%s' is not one of dpkg, apk, python", v[i]);
          plugin_strv_free (v);
          return -1;
        }
    }
  plugin_strv_free (v);
  if (c->output && *c->output == '\0')
    return enclaver_make_error (err, EINVAL, "option 'output': empty path (leave it out for the file beside the EIF)");
  if (c->max_db_size == 0 || c->max_metadata_size == 0)
    return enclaver_make_error (err, EINVAL, "option '%s': must be at least 1 byte",
                                c->max_db_size == 0 ? "max_db_size" : "max_metadata_size");
  if (c->max_db_size > (uint64_t) 1 << 32 || c->max_metadata_size > (uint64_t) 1 << 32)
    return enclaver_make_error (err, EINVAL, "option '%s': at most 4G",
                                c->max_db_size > (uint64_t) 1 << 32 ? "max_db_size" : "max_metadata_size");
  s = must (calloc (1, sizeof *s));
  s->sources = src;
  enclaver_stage_set_data (st, s);
  return 0;
}

static void
sbom_fini (enclaver_stage_t *st)
{
  struct sbom_state *s = enclaver_stage_get_data (st);
  if (s)
    attach_free (s->attach);
  free (s);
  enclaver_stage_set_data (st, NULL);
}

/* Before any stage runs: the output's directory takes files; attach has an image to go to. */
static int
sbom_check (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  char *path = plugin_output_path (ctx, c->output, ".spdx.json");
  int r = enclaver_build_check_output (path, 0, "the SBOM", err);
  free (path);
  if (r < 0 || !c->attach)
    return r;
  if (enclaver_ctx_get_param (ctx, "output-suffix"))
    return enclaver_make_error (err, EINVAL, "option 'attach': not supported in a build of several platforms "
                                             "(their release image is one multi-platform index); leave it out");
  {
    const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
    size_t i;
    unsigned me = enclaver_stage_index (st);
    if (m == NULL || m->n_pipeline == 0)
      return 0;
    for (i = me + 1; i < m->n_pipeline; i++)
      if (m->pipeline[i].kind == ENCLAVER_PIPELINE_BUILTIN && m->pipeline[i].name
          && strcmp (m->pipeline[i].name, "emit-image") == 0)
        return 0;
    return enclaver_make_error (err, EINVAL, "option 'attach': the pipeline has no emit-image after sbom, so there is "
                                             "no release image to attach the SBOM to (add emit-image, or set attach: false)");
  }
}

/* ------------------------------------------------------------------ strings */

/* A JSON string of S (LEN bytes).  Bytes that are not UTF-8 become '?' (SPDX JSON is
 * UTF-8), with one warning per build naming WHAT. */
static json_t *
jstr_n (enclaver_stage_t *st, const char *s, size_t len, const char *what)
{
  json_t *j = json_stringn (s, len);
  if (j == NULL)
    {
      struct sbom_state *ss = enclaver_stage_get_data (st);
      char *t = must (malloc (len + 1));
      size_t i;
      for (i = 0; i < len; i++)
        t[i] = (s[i] & 0x80) || s[i] == '\0' ? '?' : s[i];
      t[len] = '\0';
      if (!ss->warned_utf8)
        enclaver_stage_log_warning (st, "%s '%s' is not UTF-8: its other bytes are written as '?' (and so are those "
                                        "of any later such name)", what, t);
      ss->warned_utf8 = 1;
      j = must (json_stringn (t, len));
      free (t);
    }
  return j;
}

static json_t *
jstr (enclaver_stage_t *st, const char *s, const char *what)
{
  return jstr_n (st, s, strlen (s), what);
}

/* purl component: percent-encode all but unreserved characters. */
static void
purl_escape (const char *s, char *out, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s && o + 4 < cap; s++)
    {
      unsigned char ch = (unsigned char) *s;
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'
          || ch == '_' || ch == '~')
        out[o++] = (char) ch;
      else
        {
          out[o++] = '%';
          out[o++] = hex[ch >> 4];
          out[o++] = hex[ch & 15];
        }
    }
  out[o] = '\0';
}

/* An SPDX identifier part: [A-Za-z0-9.-], everything else '-'. */
static void
spdx_id_part (const char *s, char *out, size_t cap)
{
  size_t o = 0;
  for (; *s && o + 1 < cap; s++)
    {
      unsigned char ch = (unsigned char) *s;
      out[o++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.'
                 ? (char) ch : '-';
    }
  out[o] = '\0';
}

/* ------------------------------------------------------------------ packages */

struct pkg
{
  int kind;        /* SRC_* */
  char *name, *version, *arch, *license, *homepage, *supplier, *source;
  char *where;     /* the database or METADATA file it came from */
};

struct pkgs
{
  struct pkg *v;
  size_t n;
};

static void
pkg_free (struct pkg *p)
{
  free (p->name);
  free (p->version);
  free (p->arch);
  free (p->license);
  free (p->homepage);
  free (p->supplier);
  free (p->source);
  free (p->where);
}

static struct pkg *
pkg_new (struct pkgs *ps, int kind, const char *where)
{
  struct pkg *p;
  ps->v = must (realloc (ps->v, (ps->n + 1) * sizeof *ps->v));
  p = &ps->v[ps->n++];
  memset (p, 0, sizeof *p);
  p->kind = kind;
  p->where = must (strdup (where));
  return p;
}

static const char *
kind_name (int k)
{
  return k == SRC_DPKG ? "deb" : k == SRC_APK ? "apk" : "pypi";
}

static int
cmp_str (const char *a, const char *b)
{
  return strcmp (a ? a : "", b ? b : "");
}

static int
cmp_pkg (const void *x, const void *y)
{
  const struct pkg *a = x, *b = y;
  int r;
  if (a->kind != b->kind)
    return a->kind - b->kind;
  if ((r = cmp_str (a->name, b->name)) || (r = cmp_str (a->arch, b->arch)) || (r = cmp_str (a->version, b->version)))
    return r;
  return cmp_str (a->where, b->where);
}

/* One "Field: value" header block (dpkg status stanzas, METADATA headers): calls FN for
 * each field with its value, continuation lines joined with '\n'.  Stops at a blank line
 * when ONE is set (METADATA: the body follows).  *line is the line number reached. */
struct rfc822
{
  const char *p, *end;
  unsigned line;
};

/* Next field of the current stanza: 1 with name/value (value malloc'd), 0 at the end of
 * the stanza (a blank line, or the end of the file: *eof set), -1 on a malformed line. */
static int
rfc822_next (struct rfc822 *r, char **name, char **value, int *eof)
{
  const char *nl, *colon, *v;
  size_t vl, cap;
  char *out;
  *eof = 0;
  if (r->p >= r->end)
    {
      *eof = 1;
      return 0;
    }
  r->line++;
  nl = memchr (r->p, '\n', (size_t) (r->end - r->p));
  if (nl == NULL)
    nl = r->end;
  if (nl == r->p || (nl == r->p + 1 && r->p[0] == '\r'))
    {
      r->p = nl < r->end ? nl + 1 : nl;
      return 0;
    }
  colon = memchr (r->p, ':', (size_t) (nl - r->p));
  if (colon == NULL || colon == r->p || r->p[0] == ' ' || r->p[0] == '\t')
    return -1;
  *name = must (strndup (r->p, (size_t) (colon - r->p)));
  v = colon + 1;
  while (v < nl && (*v == ' ' || *v == '\t'))
    v++;
  vl = (size_t) (nl - v);
  while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
    vl--;
  cap = vl + 1;
  out = must (malloc (cap));
  memcpy (out, v, vl);
  out[vl] = '\0';
  r->p = nl < r->end ? nl + 1 : nl;
  /* continuation lines */
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
    {
      const char *e = memchr (r->p, '\n', (size_t) (r->end - r->p));
      size_t l;
      if (e == NULL)
        e = r->end;
      l = (size_t) (e - r->p);
      out = must (realloc (out, cap + l + 1));
      out[cap - 1] = '\n';
      memcpy (out + cap, r->p, l);
      cap += l + 1;
      out[cap - 1] = '\0';
      r->line++;
      r->p = e < r->end ? e + 1 : e;
    }
  *value = out;
  return 1;
}

static void
set_field (char **slot, char *value)
{
  free (*slot);
  *slot = value;
}

/* The first line of a (possibly folded) value. */
static char *
first_line (char *v)
{
  char *nl = strchr (v, '\n');
  if (nl)
    *nl = '\0';
  return v;
}

/* dpkg's states whose files are unpacked on disk (dpkg-query(1) "Package states"). */
static int
dpkg_files_present (const char *status)
{
  const char *st = status ? strrchr (status, ' ') : NULL;
  st = st ? st + 1 : "";
  return strcmp (st, "installed") == 0 || strcmp (st, "unpacked") == 0 || strcmp (st, "half-configured") == 0
         || strcmp (st, "triggers-awaited") == 0 || strcmp (st, "triggers-pending") == 0;
}

/* Read DB from the tree: 0 with the bytes, 1 when the image has none, -1 on error. */
static int
read_db (const enclaver_tree_t *tree, const char *db, uint64_t max, const char *opt, char **text, size_t *len,
         enclaver_error_t *err)
{
  struct enclaver_tree_stat sb;
  enclaver_error_t e = NULL;
  if (enclaver_tree_stat (tree, db, ENCLAVER_TREE_FOLLOW, &sb, &e) < 0)
    {
      int st = e ? e->status : ENOENT;
      if (st == ENOENT || st == ENOTDIR)
        {
          enclaver_error_release (&e);
          return 1;
        }
      enclaver_error_move (err, &e);
      return enclaver_error_wrap (err, "/%s", db);
    }
  if (sb.type != ENCLAVER_NODE_REG)
    return enclaver_make_error (err, EINVAL, "/%s in the image is not a regular file", db);
  if (sb.size > max)
    return enclaver_make_error (err, EFBIG, "/%s in the image is %llu bytes, more than option '%s' allows (%llu); "
                                            "raise it if the file is genuine",
                                db, (unsigned long long) sb.size, opt, (unsigned long long) max);
  if (enclaver_tree_read_file (tree, db, (size_t) max, text, len, err) < 0)
    return enclaver_error_wrap (err, "read /%s", db);
  return 0;
}

static int
read_dpkg (enclaver_stage_t *st, const enclaver_tree_t *tree, struct pkgs *ps, enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  char *text = NULL;
  size_t len = 0, before = ps->n;
  struct rfc822 r;
  int rc = read_db (tree, DPKG_STATUS, c->max_db_size, "max_db_size", &text, &len, err);
  if (rc != 0)
    return rc < 0 ? -1 : 0;
  r.p = text;
  r.end = text + len;
  r.line = 0;
  for (;;)
    {
      struct pkg p = { 0 };
      char *status = NULL, *name, *value;
      unsigned start = r.line + 1;
      int eof = 0, got = 0, k;
      while ((k = rfc822_next (&r, &name, &value, &eof)) == 1)
        {
          got = 1;
          if (strcmp (name, "Package") == 0)
            set_field (&p.name, value);
          else if (strcmp (name, "Version") == 0)
            set_field (&p.version, value);
          else if (strcmp (name, "Architecture") == 0)
            set_field (&p.arch, value);
          else if (strcmp (name, "Status") == 0)
            set_field (&status, value);
          else if (strcmp (name, "Maintainer") == 0)
            set_field (&p.supplier, first_line (value));
          else if (strcmp (name, "Homepage") == 0)
            set_field (&p.homepage, first_line (value));
          else if (strcmp (name, "Source") == 0)
            set_field (&p.source, first_line (value));
          else
            free (value);
          free (name);
        }
      if (k < 0)
        {
          enclaver_make_error (err, EINVAL, "/%s line %u: not a 'Field: value' line nor a continuation; is it a "
                                            "dpkg status file?", DPKG_STATUS, r.line);
          free (status);
          pkg_free (&p);
          goto fail;
        }
      if (got && (p.name == NULL || *p.name == '\0'))
        {
          enclaver_make_error (err, EINVAL, "/%s line %u: a stanza without a Package field", DPKG_STATUS, start);
          free (status);
          pkg_free (&p);
          goto fail;
        }
      if (got && dpkg_files_present (status))
        {
          struct pkg *q;
          if (p.version == NULL || *p.version == '\0')
            {
              enclaver_make_error (err, EINVAL, "/%s line %u: package %s is installed but has no Version", DPKG_STATUS,
                                   start, p.name);
              free (status);
              pkg_free (&p);
              goto fail;
            }
          q = pkg_new (ps, SRC_DPKG, DPKG_STATUS);
          p.where = q->where;
          *q = p;
          q->kind = SRC_DPKG;
        }
      else
        pkg_free (&p);
      free (status);
      if (eof)
        break;
    }
  free (text);
  enclaver_stage_log_debug (st, "/%s: %zu packages", DPKG_STATUS, ps->n - before);
  return 0;
fail:
  free (text);
  return -1;
}

static int
read_apk (enclaver_stage_t *st, const enclaver_tree_t *tree, struct pkgs *ps, enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  char *text = NULL, *p, *end;
  size_t len = 0, before = ps->n;
  unsigned line = 0, start = 1;
  struct pkg cur = { 0 };
  int any = 0;
  int rc = read_db (tree, APK_INSTALLED, c->max_db_size, "max_db_size", &text, &len, err);
  if (rc != 0)
    return rc < 0 ? -1 : 0;
  p = text;
  end = text + len;
  for (;;)
    {
      char *nl = p < end ? memchr (p, '\n', (size_t) (end - p)) : NULL;
      size_t l;
      if (p < end && nl == NULL)
        nl = end;
      l = p < end ? (size_t) (nl - p) : 0;
      if (p < end)
        line++;
      if (l > 0 && p[l - 1] == '\r')
        l--;
      if (p >= end || l == 0)
        {
          /* end of a record */
          if (any)
            {
              struct pkg *q;
              if (cur.name == NULL || cur.version == NULL)
                {
                  enclaver_make_error (err, EINVAL, "/%s line %u: a package record without %s (P: and V: lines)",
                                       APK_INSTALLED, start, cur.name ? "a V: line" : "a P: line");
                  pkg_free (&cur);
                  free (text);
                  return -1;
                }
              q = pkg_new (ps, SRC_APK, APK_INSTALLED);
              cur.where = q->where;
              cur.kind = SRC_APK;
              *q = cur;
              memset (&cur, 0, sizeof cur);
            }
          any = 0;
          start = line + 1;
          if (p >= end)
            break;
          p = nl + 1;
          continue;
        }
      if (l < 2 || p[1] != ':' || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
        {
          enclaver_make_error (err, EINVAL, "/%s line %u: not a 'X:value' line; is it an apk database?",
                               APK_INSTALLED, line);
          pkg_free (&cur);
          free (text);
          return -1;
        }
      any = 1;
      {
        char *v = must (strndup (p + 2, l - 2));
        switch (p[0])
          {
          case 'P': set_field (&cur.name, v); break;
          case 'V': set_field (&cur.version, v); break;
          case 'A': set_field (&cur.arch, v); break;
          case 'L': set_field (&cur.license, v); break;
          case 'U': set_field (&cur.homepage, v); break;
          case 'm': set_field (&cur.supplier, v); break;
          case 'o': set_field (&cur.source, v); break;
          default: free (v); break;
          }
      }
      p = nl < end ? nl + 1 : end;
    }
  free (text);
  enclaver_stage_log_debug (st, "/%s: %zu packages", APK_INSTALLED, ps->n - before);
  return 0;
}

static int
read_metadata (enclaver_stage_t *st, const enclaver_tree_t *tree, const char *path, struct pkgs *ps,
               enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  char *text = NULL, *name, *value;
  size_t len = 0;
  struct rfc822 r;
  struct pkg p = { 0 };
  int eof, k;
  struct enclaver_tree_stat sb;
  if (enclaver_tree_stat (tree, path, 0, &sb, err) < 0)
    return enclaver_error_wrap (err, "/%s", path);
  if (sb.size > c->max_metadata_size)
    return enclaver_make_error (err, EFBIG, "/%s in the image is %llu bytes, more than option 'max_metadata_size' "
                                            "allows (%llu); raise it if the file is genuine",
                                path, (unsigned long long) sb.size, (unsigned long long) c->max_metadata_size);
  if (enclaver_tree_read_file (tree, path, (size_t) c->max_metadata_size, &text, &len, err) < 0)
    return enclaver_error_wrap (err, "read /%s", path);
  r.p = text;
  r.end = text + len;
  r.line = 0;
  while ((k = rfc822_next (&r, &name, &value, &eof)) == 1)
    {
      if (strcmp (name, "Name") == 0)
        set_field (&p.name, first_line (value));
      else if (strcmp (name, "Version") == 0)
        set_field (&p.version, first_line (value));
      else if (strcmp (name, "License") == 0)
        set_field (&p.license, first_line (value));
      else if (strcmp (name, "Home-page") == 0)
        set_field (&p.homepage, first_line (value));
      else if (strcmp (name, "Author") == 0)
        set_field (&p.supplier, first_line (value));
      else
        free (value);
      free (name);
    }
  free (text);
  if (k < 0)
    {
      pkg_free (&p);
      return enclaver_make_error (err, EINVAL, "/%s line %u: not a 'Field: value' header line; is it a Python "
                                               "METADATA file?", path, r.line);
    }
  if (p.name == NULL || *p.name == '\0' || p.version == NULL || *p.version == '\0')
    {
      enclaver_make_error (err, EINVAL, "/%s: no %s field (core metadata needs Name and Version)", path,
                           p.name == NULL || *p.name == '\0' ? "Name" : "Version");
      pkg_free (&p);
      return -1;
    }
  {
    struct pkg *q = pkg_new (ps, SRC_PYTHON, path);
    p.where = q->where;
    p.kind = SRC_PYTHON;
    *q = p;
  }
  return 0;
}

/* ------------------------------------------------------------------ files */

struct file
{
  char *path;
  char sha1[41], sha256[65];
};

struct walk
{
  enclaver_stage_t *st;
  int list_files, python;
  struct file *f;
  size_t n;
  char **meta; /* *.dist-info/METADATA paths */
  size_t n_meta;
};

static int
is_dist_info_metadata (const char *path, size_t len)
{
  const char *slash;
  size_t dl;
  if (len < 9 + 10 || strcmp (path + len - 9, "/METADATA") != 0)
    return 0;
  /* the directory name ends in .dist-info */
  dl = len - 9;
  if (dl < 10 || memcmp (path + dl - 10, ".dist-info", 10) != 0)
    return 0;
  slash = path + dl - 10;
  while (slash > path && slash[-1] != '/')
    slash--;
  return path + dl - 10 > slash; /* a name before ".dist-info" */
}

static int
walk_cb (const enclaver_tree_t *tree, const enclaver_tree_node_t *node, const char *path, size_t path_len,
         const struct enclaver_tree_stat *sb, void *ud, enclaver_error_t *err)
{
  struct walk *w = ud;
  if (sb->type != ENCLAVER_NODE_REG)
    return 0;
  if (w->python && is_dist_info_metadata (path, path_len))
    {
      w->meta = must (realloc (w->meta, (w->n_meta + 1) * sizeof *w->meta));
      w->meta[w->n_meta++] = must (strdup (path));
    }
  if (w->list_files)
    {
      static unsigned char buf[1 << 16];
      unsigned char d1[20], d256[32];
      unsigned dl;
      uint64_t off = 0;
      EVP_MD_CTX *m1 = must (EVP_MD_CTX_new ()), *m2 = must (EVP_MD_CTX_new ());
      struct file *f;
      EVP_DigestInit_ex (m1, EVP_sha1 (), NULL);
      EVP_DigestInit_ex (m2, EVP_sha256 (), NULL);
      while (off < sb->size)
        {
          ssize_t r = enclaver_tree_node_read (tree, node, off, buf, sizeof buf, err);
          if (r <= 0)
            {
              EVP_MD_CTX_free (m1);
              EVP_MD_CTX_free (m2);
              if (r == 0)
                enclaver_make_error (err, EIO, "/%s: content ends at byte %llu of %llu", path,
                                     (unsigned long long) off, (unsigned long long) sb->size);
              return enclaver_error_wrap (err, "hash /%s", path);
            }
          EVP_DigestUpdate (m1, buf, (size_t) r);
          EVP_DigestUpdate (m2, buf, (size_t) r);
          off += (uint64_t) r;
        }
      EVP_DigestFinal_ex (m1, d1, &dl);
      EVP_DigestFinal_ex (m2, d256, &dl);
      EVP_MD_CTX_free (m1);
      EVP_MD_CTX_free (m2);
      w->f = must (realloc (w->f, (w->n + 1) * sizeof *w->f));
      f = &w->f[w->n++];
      f->path = must (strdup (path));
      plugin_hex (d1, 20, f->sha1);
      plugin_hex (d256, 32, f->sha256);
    }
  return 0;
}

static int
cmp_file (const void *a, const void *b)
{
  return strcmp (((const struct file *) a)->path, ((const struct file *) b)->path);
}

static int
cmp_cstr (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* ------------------------------------------------------------------ the document */

static json_t *
checksum (const char *alg, const char *hex)
{
  return json_pack ("{s:s, s:s}", "algorithm", alg, "checksumValue", hex);
}

static json_t *
relationship (const char *a, const char *type, const char *b)
{
  return json_pack ("{s:s, s:s, s:s}", "spdxElementId", a, "relationshipType", type, "relatedSpdxElement", b);
}

/* SPDX supplier text of a "Name <mail>" maintainer: "Person: Name (mail)". */
static char *
supplier_text (const char *m)
{
  const char *lt = strchr (m, '<'), *gt = lt ? strchr (lt, '>') : NULL;
  char *out;
  size_t nl;
  if (lt == NULL || gt == NULL)
    {
      out = must (malloc (strlen (m) + 16));
      sprintf (out, "Person: %s", m);
      return out;
    }
  nl = (size_t) (lt - m);
  while (nl > 0 && m[nl - 1] == ' ')
    nl--;
  out = must (malloc (strlen (m) + 16));
  snprintf (out, strlen (m) + 16, "Person: %.*s (%.*s)", (int) nl, m, (int) (gt - lt - 1), lt + 1);
  return out;
}

/* The distribution's ID from etc/os-release (purl namespace of deb and apk packages). */
static char *
os_id (const enclaver_tree_t *tree, const char *fallback)
{
  char *text = NULL, *p;
  if (enclaver_tree_read_file (tree, "etc/os-release", 64 * 1024, &text, NULL, NULL) < 0
      && enclaver_tree_read_file (tree, "usr/lib/os-release", 64 * 1024, &text, NULL, NULL) < 0)
    return must (strdup (fallback));
  for (p = text; p && *p; p = strchr (p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp (p, "ID=", 3) == 0)
      {
        char *v = p + 3, *e;
        if (*v == '"' || *v == '\'')
          v++;
        e = v + strcspn (v, "\"'\n\r ");
        if (e > v)
          {
            char *id = must (strndup (v, (size_t) (e - v)));
            free (text);
            return id;
          }
      }
  free (text);
  return must (strdup (fallback));
}

static json_t *
package_json (enclaver_stage_t *st, const struct pkg *p, size_t i, const char *deb_ns, const char *apk_ns)
{
  char id[160], part[100], purl[1024], en[300], ev[300], ea[100];
  json_t *o = json_object ();
  spdx_id_part (p->name, part, sizeof part);
  snprintf (id, sizeof id, "SPDXRef-Package-%s-%zu-%s", kind_name (p->kind), i, part);
  json_object_set_new (o, "SPDXID", json_string (id));
  json_object_set_new (o, "name", jstr (st, p->name, "package name"));
  json_object_set_new (o, "versionInfo", jstr (st, p->version, "package version"));
  json_object_set_new (o, "downloadLocation", json_string ("NOASSERTION"));
  json_object_set_new (o, "filesAnalyzed", json_false ());
  if (p->homepage && *p->homepage)
    json_object_set_new (o, "homepage", jstr (st, p->homepage, "homepage"));
  if (p->supplier && *p->supplier)
    {
      char *s = supplier_text (p->supplier);
      json_object_set_new (o, "supplier", jstr (st, s, "supplier"));
      free (s);
    }
  if (p->source && *p->source)
    {
      char *s = must (malloc (strlen (p->source) + 32));
      sprintf (s, "built from source package %s", p->source);
      json_object_set_new (o, "sourceInfo", jstr (st, s, "source package"));
      free (s);
    }
  /* Licences are left as NOASSERTION: dpkg records none, and apk's and Python's free
   * text is not always an SPDX expression; apk's goes in licenseComments. */
  json_object_set_new (o, "licenseConcluded", json_string ("NOASSERTION"));
  json_object_set_new (o, "licenseDeclared", json_string ("NOASSERTION"));
  if (p->license && *p->license)
    json_object_set_new (o, "licenseComments", jstr (st, p->license, "licence"));
  json_object_set_new (o, "copyrightText", json_string ("NOASSERTION"));
  {
    char *s = must (malloc (strlen (p->where) + 32));
    sprintf (s, "found in /%s", p->where);
    json_object_set_new (o, "comment", jstr (st, s, "path"));
    free (s);
  }
  purl_escape (p->name, en, sizeof en);
  purl_escape (p->version, ev, sizeof ev);
  purl_escape (p->arch ? p->arch : "", ea, sizeof ea);
  if (p->kind == SRC_DPKG)
    snprintf (purl, sizeof purl, "pkg:deb/%s/%s@%s%s%s", deb_ns, en, ev, *ea ? "?arch=" : "", ea);
  else if (p->kind == SRC_APK)
    snprintf (purl, sizeof purl, "pkg:apk/%s/%s@%s%s%s", apk_ns, en, ev, *ea ? "?arch=" : "", ea);
  else
    {
      /* PEP 503 normalised name, lower case with runs of -_. as one '-' */
      char norm[300];
      size_t o2 = 0;
      const char *s;
      for (s = p->name; *s && o2 + 1 < sizeof norm; s++)
        {
          char ch = *s;
          if (ch == '_' || ch == '.' || ch == '-')
            {
              if (o2 == 0 || norm[o2 - 1] != '-')
                norm[o2++] = '-';
              continue;
            }
          norm[o2++] = (char) (ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
      norm[o2] = '\0';
      purl_escape (norm, en, sizeof en);
      snprintf (purl, sizeof purl, "pkg:pypi/%s@%s", en, ev);
    }
  json_object_set_new (o, "externalRefs",
                       json_pack ("[{s:s, s:s, s:o}]", "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl",
                                  "referenceLocator", jstr (st, purl, "purl")));
  return o;
}

/* Build the whole document; malloc'd text with a final newline. */
static char *
build_document (enclaver_stage_t *st, enclaver_ctx_t *ctx, const enclaver_tree_t *tree, struct walk *w,
                struct pkgs *ps, enclaver_error_t *err)
{
  const struct enclaver_manifest *m = enclaver_ctx_get (ctx, ENCLAVER_SLOT_MANIFEST, "enclaver.manifest");
  const struct enclaver_image *img = enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE);
  const char *name = m && m->name ? m->name : "enclave";
  json_t *doc, *pkgs, *files, *rels, *root;
  int64_t btime;
  char *created, *text, *src_name, *deb_ns, *apk_ns;
  char hex[65], ns[512], safe[200];
  size_t i;

  if (enclaver_build_time (ctx, img, &btime, err) < 0)
    return NULL;
  created = enclaver_build_time_string (btime < 0 ? 0 : btime);
  src_name = img ? enclaver_build_source_name (img) : NULL;
  deb_ns = os_id (tree, "debian");
  apk_ns = os_id (tree, "alpine");

  doc = json_object ();
  json_object_set_new (doc, "spdxVersion", json_string ("SPDX-2.3"));
  json_object_set_new (doc, "dataLicense", json_string ("CC0-1.0"));
  json_object_set_new (doc, "SPDXID", json_string ("SPDXRef-DOCUMENT"));
  {
    char *dn = must (malloc (strlen (name) + 16));
    sprintf (dn, "%s rootfs", name);
    json_object_set_new (doc, "name", jstr (st, dn, "name"));
    free (dn);
  }
  json_object_set_new (doc, "documentNamespace", json_string ("")); /* set below */
  json_object_set_new (doc, "creationInfo",
                       json_pack ("{s:s, s:[s], s:s}", "created", created, "creators", "Tool: enclaver-" PACKAGE_VERSION,
                                  "comment", "created: the build time (SOURCE_DATE_EPOCH, else the app image's "
                                             "created time); the same inputs give the same bytes"));
  json_object_set_new (doc, "documentDescribes", json_pack ("[s]", "SPDXRef-Rootfs"));

  pkgs = json_array ();
  root = json_object ();
  json_object_set_new (root, "SPDXID", json_string ("SPDXRef-Rootfs"));
  json_object_set_new (root, "name", jstr (st, name, "name"));
  if (m && m->target)
    json_object_set_new (root, "versionInfo", jstr (st, m->target, "target"));
  json_object_set_new (root, "downloadLocation", json_string ("NOASSERTION"));
  json_object_set_new (root, "primaryPackagePurpose", json_string ("CONTAINER"));
  json_object_set_new (root, "filesAnalyzed", json_boolean (w->list_files));
  if (w->list_files)
    {
      /* SPDX 2.3 7.9: SHA-1 of the sorted, concatenated SHA-1s of the files */
      char **v = must (calloc (w->n + 1, sizeof *v));
      EVP_MD_CTX *md = must (EVP_MD_CTX_new ());
      unsigned char d[20];
      unsigned dl;
      char code[41];
      for (i = 0; i < w->n; i++)
        v[i] = w->f[i].sha1;
      qsort (v, w->n, sizeof *v, cmp_cstr);
      EVP_DigestInit_ex (md, EVP_sha1 (), NULL);
      for (i = 0; i < w->n; i++)
        EVP_DigestUpdate (md, v[i], 40);
      EVP_DigestFinal_ex (md, d, &dl);
      EVP_MD_CTX_free (md);
      free (v);
      plugin_hex (d, 20, code);
      json_object_set_new (root, "packageVerificationCode", json_pack ("{s:s}", "packageVerificationCodeValue", code));
    }
  json_object_set_new (root, "licenseConcluded", json_string ("NOASSERTION"));
  json_object_set_new (root, "licenseDeclared", json_string ("NOASSERTION"));
  json_object_set_new (root, "copyrightText", json_string ("NOASSERTION"));
  {
    char *s = must (malloc ((src_name ? strlen (src_name) : 0) + 128));
    sprintf (s, "the root file system of the enclave, built from %s", src_name && *src_name ? src_name : "the app image");
    json_object_set_new (root, "comment", jstr (st, s, "image name"));
    free (s);
  }
  if (img && img->digest && strncmp (img->digest, "sha256:", 7) == 0)
    {
      char purl[600], en[300];
      const char *base = src_name ? strrchr (src_name, '/') : NULL;
      static const char *const transports[] = { "oci:", "oci-archive:", "docker-archive:", "docker-daemon:",
                                                "dir:", "docker://", NULL };
      const char *from = src_name && *src_name ? src_name : name;
      char *nm;
      size_t t;
      for (t = 0; transports[t]; t++)
        if (strncmp (from, transports[t], strlen (transports[t])) == 0)
          from += strlen (transports[t]);
      base = strrchr (from, '/');
      nm = must (strdup (base ? base + 1 : from));
      nm[strcspn (nm, ":@")] = '\0';
      purl_escape (*nm ? nm : name, en, sizeof en);
      snprintf (purl, sizeof purl, "pkg:oci/%s@sha256%%3A%s", en, img->digest + 7);
      free (nm);
      json_object_set_new (root, "externalRefs",
                           json_pack ("[{s:s, s:s, s:s, s:s}]", "referenceCategory", "PACKAGE-MANAGER", "referenceType",
                                      "purl", "referenceLocator", purl, "comment", "the app image the enclave is built from"));
    }
  json_array_append_new (pkgs, root);

  rels = json_array ();
  json_array_append_new (rels, relationship ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Rootfs"));
  qsort (ps->v, ps->n, sizeof *ps->v, cmp_pkg);
  for (i = 0; i < ps->n; i++)
    {
      json_t *p = package_json (st, &ps->v[i], i + 1, deb_ns, apk_ns);
      json_array_append_new (rels, relationship ("SPDXRef-Rootfs", "CONTAINS",
                                                 json_string_value (json_object_get (p, "SPDXID"))));
      json_array_append_new (pkgs, p);
    }
  json_object_set_new (doc, "packages", pkgs);

  files = json_array ();
  qsort (w->f, w->n, sizeof *w->f, cmp_file);
  for (i = 0; i < w->n; i++)
    {
      char id[48];
      char *fn = must (malloc (strlen (w->f[i].path) + 3));
      sprintf (fn, "./%s", w->f[i].path);
      snprintf (id, sizeof id, "SPDXRef-File-%zu", i + 1);
      json_array_append_new (files, json_pack ("{s:s, s:o, s:[o, o]}", "SPDXID", id, "fileName",
                                               jstr (st, fn, "file name"), "checksums", checksum ("SHA1", w->f[i].sha1),
                                               checksum ("SHA256", w->f[i].sha256)));
      json_array_append_new (rels, relationship ("SPDXRef-Rootfs", "CONTAINS", id));
      free (fn);
    }
  if (w->list_files)
    json_object_set_new (doc, "files", files);
  else
    json_decref (files);
  json_object_set_new (doc, "relationships", rels);

  /* The namespace: unique per document and still reproducible, so derived from the
   * document's own bytes (without it). */
  text = json_dumps (doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text == NULL)
    {
      json_decref (doc);
      free (created);
      free (src_name);
      free (deb_ns);
      free (apk_ns);
      enclaver_make_error (err, ENOMEM, "cannot serialise the SBOM");
      return NULL;
    }
  plugin_sha256_hex (text, strlen (text), hex);
  free (text);
  spdx_id_part (name, safe, sizeof safe);
  /* a name-based UUID (version 5 layout) from the first 128 bits */
  snprintf (ns, sizeof ns, "https://spdx.org/spdxdocs/enclaver-%s-%.8s-%.4s-5%.3s-8%.3s-%.12s", safe, hex, hex + 8,
            hex + 13, hex + 17, hex + 20);
  json_object_set_new (doc, "documentNamespace", json_string (ns));
  text = json_dumps (doc, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (doc);
  free (created);
  free (src_name);
  free (deb_ns);
  free (apk_ns);
  if (text == NULL)
    {
      enclaver_make_error (err, ENOMEM, "cannot serialise the SBOM");
      return NULL;
    }
  {
    size_t l = strlen (text);
    text = must (realloc (text, l + 2));
    text[l] = '\n';
    text[l + 1] = '\0';
  }
  return text;
}

/* ------------------------------------------------------------------ attach */

struct attach
{
  enclaver_stage_t *st;
  char *doc;
  size_t len;
  char *file_name; /* org.opencontainers.image.title of the layer */
  int fired;
};

static void
attach_free (struct attach *a)
{
  if (a == NULL)
    return;
  free (a->doc);
  free (a->file_name);
  free (a);
}

static int
write_blob (const char *dir, const char *digest, const void *data, size_t len, enclaver_error_t *err)
{
  size_t n = strlen (dir) + 96;
  char *p = must (malloc (n)), *tmp = must (malloc (n + 8));
  FILE *f;
  snprintf (p, n, "%s/blobs/sha256/%s", dir, digest + 7);
  snprintf (tmp, n + 8, "%s.tmp", p);
  f = fopen (tmp, "wbx");
  if (f == NULL || fwrite (data, 1, len, f) != len || fclose (f) != 0)
    {
      int e = errno ? errno : EIO;
      enclaver_make_errno (err, e, "write %s", tmp);
      remove (tmp);
      free (p);
      free (tmp);
      return -1;
    }
  if (rename (tmp, p) < 0)
    {
      enclaver_make_errno (err, errno, "rename %s", tmp);
      remove (tmp);
      free (p);
      free (tmp);
      return -1;
    }
  free (p);
  free (tmp);
  return 0;
}

static char *
json_blob (json_t *j, char digest[72], size_t *len)
{
  char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  char hex[65];
  if (s == NULL)
    abort ();
  *len = strlen (s);
  plugin_sha256_hex (s, *len, hex);
  snprintf (digest, 72, "sha256:%s", hex);
  return s;
}

/* after:emit-image: the release image's layout is still its temporary directory. */
static int
attach_hook (enclaver_ctx_t *ctx, const char *event, void *ud, enclaver_error_t *err)
{
  struct attach *a = ud;
  const char *dir = enclaver_ctx_get_param (ctx, "image-tmp");
  char *ipath, *itext = NULL, *mtext = NULL, *out = NULL;
  char sdigest[72], mdigest[72], hex[65];
  size_t ilen = 0, mlen = 0;
  json_t *index = NULL, *mans, *subject = NULL, *man = NULL;
  json_error_t je;
  size_t i;
  int r = -1;
  int64_t btime;
  char *created = NULL;
  (void) event;
  a->fired = 1;
  if (dir == NULL)
    return enclaver_make_error (err, EINVAL, "stage sbom: option 'attach': the release image is not an OCI layout "
                                             "(output.image.format docker-archive?): only format oci can hold the "
                                             "SBOM as a referrer");
  ipath = must (malloc (strlen (dir) + 16));
  sprintf (ipath, "%s/index.json", dir);
  if (plugin_read_file (ipath, INDEX_MAX_SIZE, &itext, &ilen, err) < 0)
    goto out;
  index = json_loads (itext, 0, &je);
  mans = json_object_get (index, "manifests");
  if (!json_is_array (mans))
    {
      enclaver_make_error (err, EINVAL, "%s: no manifests array", ipath);
      goto out;
    }
  for (i = 0; i < json_array_size (mans); i++)
    {
      json_t *e = json_array_get (mans, i);
      if (json_object_get (e, "artifactType") == NULL
          && json_is_string (json_object_get (e, "mediaType"))
          && strcmp (json_string_value (json_object_get (e, "mediaType")), OCI_MANIFEST_MEDIA_TYPE) == 0)
        {
          if (subject)
            {
              enclaver_make_error (err, EINVAL, "%s lists several images; attach needs one", ipath);
              goto out;
            }
          subject = json_pack ("{s:O, s:O, s:O}", "mediaType", json_object_get (e, "mediaType"), "digest",
                               json_object_get (e, "digest"), "size", json_object_get (e, "size"));
        }
    }
  if (subject == NULL)
    {
      enclaver_make_error (err, EINVAL, "%s lists no image manifest to attach the SBOM to", ipath);
      goto out;
    }
  plugin_sha256_hex (a->doc, a->len, hex);
  snprintf (sdigest, sizeof sdigest, "sha256:%s", hex);
  if (enclaver_build_time (ctx, enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE), &btime, err) < 0)
    goto out;
  created = enclaver_build_time_string (btime < 0 ? 0 : btime);
  man = json_pack ("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, s:{s:s}}], s:O, s:{s:s}}", "schemaVersion",
                   2, "mediaType", OCI_MANIFEST_MEDIA_TYPE, "artifactType", SBOM_MEDIA_TYPE, "config", "mediaType",
                   OCI_EMPTY_MEDIA_TYPE, "digest", OCI_EMPTY_DIGEST, "size", 2, "layers", "mediaType", SBOM_MEDIA_TYPE,
                   "digest", sdigest, "size", (json_int_t) a->len, "annotations", "org.opencontainers.image.title",
                   a->file_name, "subject", subject, "annotations", "org.opencontainers.image.created", created);
  if (man == NULL)
    {
      enclaver_make_error (err, EINVAL, "cannot form the referrer manifest");
      goto out;
    }
  mtext = json_blob (man, mdigest, &mlen);
  if (write_blob (dir, sdigest, a->doc, a->len, err) < 0 || write_blob (dir, OCI_EMPTY_DIGEST, "{}", 2, err) < 0
      || write_blob (dir, mdigest, mtext, mlen, err) < 0)
    goto out;
  json_array_append_new (mans, json_pack ("{s:s, s:s, s:I, s:s}", "mediaType", OCI_MANIFEST_MEDIA_TYPE, "digest",
                                          mdigest, "size", (json_int_t) mlen, "artifactType", SBOM_MEDIA_TYPE));
  out = json_dumps (index, JSON_COMPACT | JSON_SORT_KEYS);
  {
    /* index.json in place: the layout is a temporary directory renamed as a whole */
    char *tmp = must (malloc (strlen (ipath) + 8));
    FILE *f;
    sprintf (tmp, "%s.tmp", ipath);
    f = fopen (tmp, "wb");
    if (f == NULL || fwrite (out, 1, strlen (out), f) != strlen (out) || fclose (f) != 0 || rename (tmp, ipath) < 0)
      {
        enclaver_make_errno (err, errno ? errno : EIO, "write %s", ipath);
        remove (tmp);
        free (tmp);
        goto out;
      }
    free (tmp);
  }
  enclaver_stage_log_info (a->st, "attached the SBOM to the release image: %s (subject %s)", mdigest,
                           json_string_value (json_object_get (subject, "digest")));
  r = 0;
out:
  if (r < 0)
    enclaver_error_wrap (err, "stage sbom: attach");
  free (ipath);
  free (itext);
  free (mtext);
  free (out);
  free (created);
  json_decref (index);
  json_decref (subject);
  json_decref (man);
  return r;
}

/* ------------------------------------------------------------------ run */

static int
sbom_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct sbom_config *c = enclaver_stage_get_config (st);
  struct sbom_state *s = enclaver_stage_get_data (st);
  const enclaver_tree_t *tree = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  struct walk w = { .st = st, .list_files = c->files, .python = (s->sources & SRC_PYTHON) != 0 };
  struct pkgs ps = { 0 };
  char *doc = NULL, *path = NULL;
  size_t i;
  int r = -1;

  if (tree == NULL)
    return enclaver_make_error (err, EINVAL, "the build context has no rootfs: put sbom after flatten (best after "
                                             "inject and prune, so that it lists what the EIF holds)");
  if (enclaver_tree_walk (tree, "", 0, walk_cb, &w, err) < 0)
    goto out;
  if ((s->sources & SRC_DPKG) && read_dpkg (st, tree, &ps, err) < 0)
    goto out;
  if ((s->sources & SRC_APK) && read_apk (st, tree, &ps, err) < 0)
    goto out;
  qsort (w.meta, w.n_meta, sizeof *w.meta, cmp_cstr);
  for (i = 0; i < w.n_meta; i++)
    if (read_metadata (st, tree, w.meta[i], &ps, err) < 0)
      goto out;
  doc = build_document (st, ctx, tree, &w, &ps, err);
  if (doc == NULL)
    goto out;
  path = plugin_output_path (ctx, c->output, ".spdx.json");
  if (plugin_write_output (ctx, path, doc, strlen (doc), NULL, err) < 0)
    goto out;
  {
    size_t nd = 0, na = 0, np = 0;
    for (i = 0; i < ps.n; i++)
      {
        if (ps.v[i].kind == SRC_DPKG)
          nd++;
        else if (ps.v[i].kind == SRC_APK)
          na++;
        else
          np++;
      }
    enclaver_stage_log_info (st, "SPDX 2.3 SBOM %s: %zu files, %zu dpkg, %zu apk, %zu Python packages", path, w.n, nd,
                             na, np);
  }
  if (enclaver_ctx_add_artifact (ctx, "sbom", path, err) < 0)
    goto out;
  if (c->attach)
    {
      struct attach *a = must (calloc (1, sizeof *a));
      const char *base = strrchr (path, '/');
      a->st = st;
      a->len = strlen (doc);
      a->doc = doc;
      a->file_name = must (strdup (base ? base + 1 : path));
      doc = NULL;
      attach_free (s->attach);
      s->attach = a;
      /* no free function: the context is freed after this module is unloaded */
      if (enclaver_ctx_hook_add (ctx, "after:emit-image", attach_hook, a, NULL, err) < 0)
        goto out;
    }
  r = 0;
out:
  free (doc);
  free (path);
  for (i = 0; i < w.n; i++)
    free (w.f[i].path);
  free (w.f);
  for (i = 0; i < w.n_meta; i++)
    free (w.meta[i]);
  free (w.meta);
  for (i = 0; i < ps.n; i++)
    pkg_free (&ps.v[i]);
  free (ps.v);
  return r;
}

ENCLAVER_STAGE_DEFINE (.name = "sbom",
                       .description = "write an SPDX 2.3 JSON SBOM of the rootfs (files with SHA-1/SHA-256; dpkg, apk "
                                      "and Python packages) beside the EIF, optionally attached to the release image",
                       .options = sbom_options, .config_size = sizeof (struct sbom_config), .init = sbom_init,
                       .run = sbom_run, .fini = sbom_fini, .check = sbom_check);
