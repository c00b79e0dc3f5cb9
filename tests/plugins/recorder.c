/* Test stage: records every callback to a trace file and can be told to fail.
 * Built several times under different names (STAGE_NAME). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/context.h>

#ifndef STAGE_NAME
# define STAGE_NAME "rec-a"
#endif

struct rec_config
{
  char *trace;
  int fail_init;
  int fail_run;
  char *output;
  long long count;
  uint64_t size;
};

static const struct enclaver_stage_option rec_options[] = {
  { ENCLAVER_OPT_STRING, "trace", NULL, 0, offsetof (struct rec_config, trace), "file to append events to" },
  { ENCLAVER_OPT_BOOL, "fail_init", "false", 0, offsetof (struct rec_config, fail_init), "make init() fail" },
  { ENCLAVER_OPT_BOOL, "fail_run", "no", 0, offsetof (struct rec_config, fail_run), "make run() fail" },
  { ENCLAVER_OPT_STRING, "output", NULL, 0, offsetof (struct rec_config, output), "write an output file here" },
  { ENCLAVER_OPT_INT, "count", "3", 0, offsetof (struct rec_config, count), "a number" },
  { ENCLAVER_OPT_SIZE, "size", "1K", 0, offsetof (struct rec_config, size), "a size" },
  { 0, NULL, NULL, 0, 0, NULL },
};

static void
trace (enclaver_stage_t *st, const char *what)
{
  struct rec_config *c = enclaver_stage_get_config (st);
  FILE *f;
  if (c->trace == NULL)
    return;
  f = fopen (c->trace, "a");
  if (f)
    {
      fprintf (f, "%s:%u:%s\n", enclaver_stage_name (st), enclaver_stage_index (st), what);
      fclose (f);
    }
}

static int
rec_init (enclaver_stage_t *st, enclaver_error_t *err)
{
  struct rec_config *c = enclaver_stage_get_config (st);
  trace (st, "init");
  if (c->fail_init)
    return enclaver_make_error (err, EINVAL, "asked to fail in init");
  return 0;
}

static int
rec_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  struct rec_config *c = enclaver_stage_get_config (st);
  const char *prev = enclaver_ctx_get_param (ctx, "trace");
  char buf[512];

  trace (st, "run");
  snprintf (buf, sizeof buf, "%s%s%s", prev ? prev : "", prev ? "," : "", enclaver_stage_name (st));
  if (enclaver_ctx_set_param (ctx, "trace", buf, err) < 0)
    return -1;
  snprintf (buf, sizeof buf, "{\"stage\":\"%s\",\"count\":%lld,\"size\":%llu}", enclaver_stage_name (st),
            c->count, (unsigned long long) c->size);
  if (enclaver_ctx_set_param (ctx, "result-json", buf, err) < 0)
    return -1;
  if (c->output)
    {
      const char *tmp;
      int fd = enclaver_ctx_output_open (ctx, c->output, &tmp, err);
      if (fd < 0)
        return -1;
      if (write (fd, "partial", 7) != 7)
        {
          close (fd);
          return enclaver_make_error (err, EIO, "write %s", tmp);
        }
      close (fd);
    }
  if (c->fail_run)
    return enclaver_make_error (err, EIO, "asked to fail in run");
  return 0;
}

static void
rec_fini (enclaver_stage_t *st)
{
  trace (st, "fini");
}

ENCLAVER_STAGE_DEFINE (.name = STAGE_NAME, .description = "test stage that records its calls",
                       .options = rec_options, .config_size = sizeof (struct rec_config), .init = rec_init,
                       .run = rec_run, .fini = rec_fini);
