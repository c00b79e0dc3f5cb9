/* enclaver: the stage plugin ABI.
 *
 * A stage is a shared object (`-module -avoid-version`) that exports exactly one
 * data symbol, ENCLAVER_STAGE_SYMBOL, holding a `const struct enclaver_stage_desc`.
 * Define it with ENCLAVER_STAGE_DEFINE().  The loader reads the descriptor without
 * calling any plugin code and refuses it when:
 *   - abi_major != ENCLAVER_STAGE_ABI_MAJOR,
 *   - abi_minor >  ENCLAVER_STAGE_ABI_MINOR (built against a newer host),
 *   - struct_size < ENCLAVER_STAGE_DESC_MIN_SIZE,
 *   - name is missing, malformed or already loaded from another file.
 *
 * Lifecycle for each pipeline entry: options are parsed by the core into a zeroed
 * config block of `config_size` bytes (see struct enclaver_stage_option), then
 * init() (optional), check() (optional, ABI 1.1: every stage's check runs before the
 * first run, so that a bad output path or a missing input fails the build before any
 * work), run() (optional), and fini() (optional) for every stage whose init succeeded,
 * whatever happened after.  Every callback may be NULL.
 *
 * Ownership: anything a stage stores in the build context with enclaver_ctx_set()
 * belongs to the context from then on and is released with the free function given.
 * Strings in the config block belong to the core.
 */
#ifndef ENCLAVER_STAGE_H
#define ENCLAVER_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <enclaver/error.h>
#include <enclaver/log.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCLAVER_STAGE_ABI_MAJOR 1
#define ENCLAVER_STAGE_ABI_MINOR 1
#define ENCLAVER_STAGE_SYMBOL "enclaver_stage_descriptor"

typedef struct enclaver_stage enclaver_stage_t; /* one configured pipeline entry */
typedef struct enclaver_ctx enclaver_ctx_t;     /* the build context */

enum enclaver_option_type
{
  ENCLAVER_OPT_STRING = 1, /* char *     (NULL when unset and no default) */
  ENCLAVER_OPT_BOOL = 2,   /* int        true/false/yes/no/on/off/1/0 */
  ENCLAVER_OPT_INT = 3,    /* long long  decimal, may be negative */
  ENCLAVER_OPT_SIZE = 4,   /* uint64_t   bytes, suffixes k/K, M, G, T (binary) */
};

#define ENCLAVER_OPT_REQUIRED 0x1u

/* One entry of a stage's option table; the table ends with an entry whose name is NULL. */
struct enclaver_stage_option
{
  int type;                  /* enum enclaver_option_type */
  const char *name;          /* key in the manifest's `options:` map */
  const char *default_value; /* parsed like a user value; NULL = zero/NULL */
  unsigned flags;            /* ENCLAVER_OPT_* flags */
  size_t offset;             /* offsetof(your_config, field) */
  const char *description;   /* one line, shown by `enclaver plugins` */
};

struct enclaver_stage_desc
{
  uint32_t abi_major;  /* ENCLAVER_STAGE_ABI_MAJOR the stage was built with */
  uint32_t abi_minor;  /* ENCLAVER_STAGE_ABI_MINOR the stage was built with */
  uint32_t struct_size; /* sizeof (struct enclaver_stage_desc) as the stage saw it */
  const char *name;     /* [a-z0-9][a-z0-9_-]*, unique among loaded stages */
  const char *description;
  const struct enclaver_stage_option *options; /* may be NULL */
  size_t config_size;   /* size of the block the options fill; 0 = none */
  int (*init) (enclaver_stage_t *stage, enclaver_error_t *err);
  int (*run) (enclaver_stage_t *stage, enclaver_ctx_t *ctx, enclaver_error_t *err);
  void (*fini) (enclaver_stage_t *stage);
  /* ABI 1.1 (read only when struct_size covers it): called for every stage after all
   * init()s and before the first run(), with the context as the command set it up (no
   * stage has run yet).  Check what can be checked now (output directories, input
   * files) and fail with the path at fault. */
  int (*check) (enclaver_stage_t *stage, enclaver_ctx_t *ctx, enclaver_error_t *err);
};

/* Whether a descriptor has the check() member (stages built against ABI 1.0 do not). */
#define ENCLAVER_STAGE_DESC_HAS_CHECK(d) \
  ((d)->struct_size >= offsetof (struct enclaver_stage_desc, check) + sizeof (void (*) (void)))

#define ENCLAVER_STAGE_DESC_MIN_SIZE \
  ((uint32_t) (offsetof (struct enclaver_stage_desc, fini) + sizeof (void (*) (void))))

#if defined(__GNUC__)
# define ENCLAVER_EXPORT __attribute__ ((visibility ("default")))
#else
# define ENCLAVER_EXPORT
#endif

/* ENCLAVER_STAGE_DEFINE (.name = "x", .run = x_run, ...); */
#define ENCLAVER_STAGE_DEFINE(...)                                            \
  ENCLAVER_EXPORT extern const struct enclaver_stage_desc enclaver_stage_descriptor; \
  const struct enclaver_stage_desc enclaver_stage_descriptor = {              \
    .abi_major = ENCLAVER_STAGE_ABI_MAJOR,                                    \
    .abi_minor = ENCLAVER_STAGE_ABI_MINOR,                                    \
    .struct_size = sizeof (struct enclaver_stage_desc),                       \
    __VA_ARGS__                                                               \
  }

/* Host services for stages. */
const char *enclaver_stage_name (const enclaver_stage_t *stage);
/* Position of this entry in the pipeline, from 0. */
unsigned enclaver_stage_index (const enclaver_stage_t *stage);
/* The config block filled from the options (NULL when config_size is 0). */
void *enclaver_stage_get_config (enclaver_stage_t *stage);
/* Private per-instance pointer for the stage; the stage frees it in fini(). */
void enclaver_stage_set_data (enclaver_stage_t *stage, void *data);
void *enclaver_stage_get_data (const enclaver_stage_t *stage);
/* Log with the prefix "stage:<name>:<index>". */
void enclaver_stage_log (const enclaver_stage_t *stage, int level, const char *fmt, ...) ENCLAVER_PRINTF (3, 4);

#define enclaver_stage_log_error(st, ...) enclaver_stage_log ((st), ENCLAVER_LOG_ERROR, __VA_ARGS__)
#define enclaver_stage_log_warning(st, ...) enclaver_stage_log ((st), ENCLAVER_LOG_WARNING, __VA_ARGS__)
#define enclaver_stage_log_info(st, ...) enclaver_stage_log ((st), ENCLAVER_LOG_INFO, __VA_ARGS__)
#define enclaver_stage_log_debug(st, ...) enclaver_stage_log ((st), ENCLAVER_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
