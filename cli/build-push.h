/* enclaver CLI: `enclaver build --push` (cli/build-push.c). */
#ifndef ENCLAVER_CLI_BUILD_PUSH_H
#define ENCLAVER_CLI_BUILD_PUSH_H

#include <enclaver/context.h>
#include <enclaver/error.h>

struct enclaver_manifest;

struct cli_push_flags
{
  const char *creds, *cert_dir, *digestfile, *format;
};

/* The registry reference the build pushes to (flag: --push given), or NULL for none. */
const char *cli_build_push_destination (const struct enclaver_manifest *m, int flag);
/* Push the release image the build in ctx wrote to dest. */
int cli_build_push (enclaver_ctx_t *ctx, const char *dest, const struct cli_push_flags *f, enclaver_error_t *err);

#endif
