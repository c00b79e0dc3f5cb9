/* enclaver: the manifest parser's internals, shared by its four files.
 *
 *   yaml.c    libyaml events -> a small node tree; error collection ("FILE:LINE:COL:
 *             key.path: message", bounded) and key-position bookkeeping
 *   schema.c  the schema: one table row per section and key (name, both spellings, type,
 *             required, default, validator, status), and the validators
 *   walk.c    the one walker: tree against schema -> struct enclaver_manifest, unknown
 *             keys with suggestions, required keys, defaults; the whole-manifest checks
 *   manifest.c entry points, the model's life cycle, the normalised JSON
 *
 * Arrows point one way: manifest.c -> walk.c -> schema.c -> yaml.c; each file uses only
 * the ones after it (manifest.c also calls schema.c's mf_resolve_ref and yaml.c). */
#ifndef ENCLAVER_MANIFEST_INTERNAL_H
#define ENCLAVER_MANIFEST_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <enclaver/manifest.h>
#include "util.h"

#define MF_MAX_DEPTH 64
#define MF_MAX_NODES 100000
#define MF_MAX_ERRORS 25
#define MF_MAX_ECHO 60 /* characters of a bad value quoted back in a message */

/* ---- node tree (yaml.c) ---- */

enum ykind
{
  Y_SCALAR,
  Y_SEQ,
  Y_MAP,
};

struct ynode
{
  int kind;
  char *value;        /* scalars */
  bool plain;         /* plain (unquoted) scalar */
  unsigned line, col; /* 1-based */
  struct ynode **kids; /* SEQ: items; MAP: key0, value0, key1, value1, ... */
  size_t n, cap;
};

struct mf_pos
{
  char *path;
  unsigned line, col;
};

/* The state of one parse (or one validate). */
struct pctx
{
  const char *name; /* file name for messages */
  const char *dir;
  unsigned flags;
  enclaver_error_t errs; /* one problem per message, with file/line/column/key fields */
  size_t nerr;
  struct mf_pos *pos; /* where each key path was written (for validate's messages) */
  size_t npos, cappos;
  struct enclaver_manifest *m;
};

void mf_ynode_free (struct ynode *n) ENCLAVER_INTERNAL;
/* The node tree of buf; NULL after recording an error (or for an empty stream). */
struct ynode *mf_build_tree (struct pctx *c, const char *buf, size_t len) ENCLAVER_INTERNAL;

char *mf_quote (const char *s) ENCLAVER_INTERNAL;
void mf_err_node (struct pctx *c, const struct ynode *n, const char *path, const char *fmt, ...)
    ENCLAVER_PRINTF (4, 5) ENCLAVER_INTERNAL;
void mf_err_at (struct pctx *c, unsigned line, unsigned col, const char *path, const char *fmt, ...)
    ENCLAVER_PRINTF (5, 6) ENCLAVER_INTERNAL;
/* An error about a key path, located where that path (or, failing that, the closest
 * recorded parent) was written. */
void mf_err_path (struct pctx *c, const char *path, const char *fmt, ...) ENCLAVER_PRINTF (3, 4)
    ENCLAVER_INTERNAL;
void mf_pos_record (struct pctx *c, const char *path, const struct ynode *n) ENCLAVER_INTERNAL;
const struct mf_pos *mf_pos_find (const struct pctx *c, const char *path) ENCLAVER_INTERNAL;
void mf_pctx_release (struct pctx *c) ENCLAVER_INTERNAL;
/* Turn the collected messages into *err; returns -1 if there were any. */
int mf_pctx_finish (struct pctx *c, enclaver_error_t *err) ENCLAVER_INTERNAL;

bool mf_is_null (const struct ynode *n) ENCLAVER_INTERNAL;
const char *mf_kind_name (const struct ynode *n) ENCLAVER_INTERNAL;
char *mf_path_key (const char *path, const char *key) ENCLAVER_INTERNAL;
/* A non-empty string into *out (freeing the old value), recorded at path; -1 after
 * reporting a wrong type or an empty string. */
int mf_get_string (struct pctx *c, const struct ynode *n, const char *path, char **out)
    ENCLAVER_INTERNAL;

/* ---- schema (schema.c) ---- */

enum mf_type
{
  MT_SECTION,  /* a map described by .sub */
  MT_LIST,     /* a list of items, each described by .sub */
  MT_SCALARS,  /* a list of .item values (MT_STRING or MT_PATH), each checked by .check */
  MT_KV,       /* a free map of string -> string; each entry checked by .kv_check */
  MT_STRING,   /* non-empty string */
  MT_WORD,     /* string without whitespace or control characters */
  MT_PATH,     /* string, resolved against the manifest's directory */
  MT_REF,      /* image reference: local transports resolved like paths */
  MT_INT,      /* int64_t within .min .. .max */
  MT_PORT,     /* uint16_t 1..65535 */
};

/* Key flags. */
enum
{
  MK_REQUIRED = 1u << 0,  /* missing is an error when the enclosing section is there */
  MK_REQUIRED_LATE = 1u << 1, /* missing is an error, checked by validate (root keys) */
  MK_ONE_OF = 1u << 2,    /* exactly one of the section's MK_ONE_OF keys (sets .tag) */
  MK_NO_EFFECT = 1u << 3, /* accepted, but nothing uses it yet: a warning names it */
  MK_ZERO_UNSET = 1u << 4, /* MT_INT: 0 means "not given" (validate skips the range) */
  MK_NO_HINT = 1u << 5,   /* not suggested for a key misplaced at the top level */
};

/* Section flags. */
enum
{
  MS_NULL_OK = 1u << 0,  /* an empty value is the same as an absent section */
  MS_TOGETHER = 1u << 1, /* all keys or none */
  MS_NONEMPTY = 1u << 2, /* MT_LIST: an empty list is an error (.empty_msg) */
};

/* Optional offsets are stored as offset + 1, 0 for none (offset 0 is a real field). */
#define MF_AT(off) ((off) + 1)

struct mf_section;

/* Validates (and may normalise or drop: free and NULL) the value read into *val.
 * Returns 0, or -1 after reporting the problem. */
typedef int (*mf_check_fn) (struct pctx *c, const struct ynode *v, const char *path, char **val);
/* Checks one entry of an MT_KV map; sets *val (malloc'd) and returns 0, or -1 after
 * reporting. */
typedef int (*mf_kv_fn) (struct pctx *c, const struct ynode *k, const struct ynode *v,
                         const char *path, char **val);

struct mf_key
{
  const char *name;
  const char *alias; /* the Enclaver 0.5.0 spelling of a key 0.6 renamed, or NULL */
  int type;          /* enum mf_type */
  unsigned flags;    /* MK_* */
  size_t off;        /* the value in the section's object */
  size_t has_at;    /* MF_AT: int set to 1 when the section/value is there */
  size_t count_off;  /* MT_LIST, MT_SCALARS, MT_KV: the size_t count */
  size_t legacy_at; /* MF_AT: int set to 1 when .alias was written, 0 for .name */
  int64_t min, max;  /* MT_INT */
  int64_t dflt;      /* MT_INT, MT_PORT: the default (0: none) */
  const char *dflt_str; /* string types: the default when the section is there */
  const char *const *words; /* MT_PATH: words kept as written instead of resolved */
  mf_check_fn check;
  mf_kv_fn kv_check;
  int item;          /* MT_SCALARS: the items' type */
  int tag;           /* MK_ONE_OF: value stored in the section's .tag_at */
  const struct mf_section *sub; /* MT_SECTION, MT_LIST */
  const char *hint;  /* MK_REQUIRED_LATE: "(...)" added to the message */
  unsigned waive;    /* MK_REQUIRED_LATE: flags of validate that waive it */
  const char *what;  /* MK_NO_EFFECT: what is not implemented, for the warning */
};

struct mf_section
{
  const struct mf_key *keys;
  size_t n_keys;
  unsigned flags;    /* MS_* */
  size_t elem_size;  /* list items: sizeof the item */
  size_t line_at;   /* MF_AT, list items: unsigned, the line the item was written on */
  size_t tag_at;    /* MF_AT, MK_ONE_OF: int set to the chosen key's .tag */
  const char *empty_msg;  /* MS_NONEMPTY */
  const char *not_map_msg; /* list items: message when an item is not a map (", got a list") */
  /* list items: handles a non-null scalar item (e.g. "- fetch"); NULL = must be a map */
  void (*scalar_item) (struct pctx *c, const struct ynode *item, const char *path, void *obj);
  /* after the section was read: cross-key rules */
  void (*post) (struct pctx *c, const struct ynode *n, const char *path, void *obj);
  /* list items: may take a map item the keys do not describe (e.g. "- flatten: {...}");
   * returns true when it did (and reported any problem); NULL = the keys only */
  bool (*short_item) (struct pctx *c, const struct ynode *item, const char *path, void *obj);
};

extern const struct mf_section mf_root ENCLAVER_INTERNAL;

/* Port spaces whose ports must differ, in the order collisions are reported. */
struct mf_port_space
{
  const char *name;
  const char *const *paths; /* key paths; "LIST[]." for every item of a list */
  bool after_clean;         /* checked only when nothing else was found */
};
extern const struct mf_port_space mf_port_spaces[] ENCLAVER_INTERNAL;
extern const size_t mf_n_port_spaces ENCLAVER_INTERNAL;

/* Keys that only exist inside a section, for "did you mean sources.app?" at the top. */
char *mf_misplaced_hint (const char *key) ENCLAVER_INTERNAL;
/* Why a known top-level key of another dialect is refused, or NULL. */
const char *mf_refused_why (const char *key) ENCLAVER_INTERNAL;

char *mf_resolve_ref (const char *dir, const char *ref, enclaver_error_t *err) ENCLAVER_INTERNAL;

/* ---- walker (walk.c) ---- */

void mf_walk_root (struct pctx *c, const struct ynode *root) ENCLAVER_INTERNAL;
void mf_apply_defaults (struct enclaver_manifest *m) ENCLAVER_INTERNAL;
void mf_validate (struct pctx *c, const struct enclaver_manifest *m, unsigned flags)
    ENCLAVER_INTERNAL;
/* Status of a key path (ENCLAVER_MANIFEST_KEY_*). */
int mf_key_status (const char *path) ENCLAVER_INTERNAL;

#endif
