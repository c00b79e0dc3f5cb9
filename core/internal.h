/* enclaver: structures shared inside libenclaver (never seen by plugins). */
#ifndef ENCLAVER_INTERNAL_H
#define ENCLAVER_INTERNAL_H

#include <enclaver/stage.h>
#include <enclaver/context.h>
#include "util.h"

struct enclaver_stage
{
  const struct enclaver_stage_desc *desc;
  char *name;      /* the instance's name: desc->name, or "lua:<script>" for Lua stages */
  unsigned index;
  char *source;    /* "stage:<name>:<index>" log prefix */
  void *config;    /* desc->config_size bytes, filled from the options */
  void *data;      /* the stage's private pointer */
  int initialised; /* init() succeeded (or there was none) */
};

/* Free the strings a config block holds, then the block. */
void enclaver_stage_config_free (const struct enclaver_stage_desc *desc, void *config) ENCLAVER_INTERNAL;
/* Set the failure message seen by "error" hooks. */
void enclaver_ctx_set_failure (enclaver_ctx_t *ctx, const char *msg) ENCLAVER_INTERNAL;

#endif
