/* Test plugins the loader must refuse, one per BROKEN_* define. */
#include "config.h"
#include <stdlib.h>
#include <enclaver/stage.h>

static int
must_not_run (enclaver_stage_t *st, enclaver_ctx_t *ctx, enclaver_error_t *err)
{
  (void) st;
  (void) ctx;
  (void) err;
  abort ();
}

#if defined(BROKEN_MAJOR)
ENCLAVER_EXPORT extern const struct enclaver_stage_desc enclaver_stage_descriptor;
const struct enclaver_stage_desc enclaver_stage_descriptor = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR + 1, .abi_minor = 0, .struct_size = sizeof (struct enclaver_stage_desc),
  .name = "bad-major", .run = must_not_run,
};
#elif defined(BROKEN_MINOR)
ENCLAVER_EXPORT extern const struct enclaver_stage_desc enclaver_stage_descriptor;
const struct enclaver_stage_desc enclaver_stage_descriptor = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR + 1,
  .struct_size = sizeof (struct enclaver_stage_desc), .name = "bad-minor", .run = must_not_run,
};
#elif defined(BROKEN_SHORT)
ENCLAVER_EXPORT extern const struct enclaver_stage_desc enclaver_stage_descriptor;
const struct enclaver_stage_desc enclaver_stage_descriptor = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = 16, .name = "bad-short", .run = must_not_run,
};
#elif defined(BROKEN_NOSYM)
ENCLAVER_EXPORT extern const struct enclaver_stage_desc some_other_symbol;
const struct enclaver_stage_desc some_other_symbol = {
  .abi_major = ENCLAVER_STAGE_ABI_MAJOR, .abi_minor = ENCLAVER_STAGE_ABI_MINOR,
  .struct_size = sizeof (struct enclaver_stage_desc), .name = "no-sym", .run = must_not_run,
};
#elif defined(BROKEN_UNLOADABLE)
/* References a function no library provides: dlopen(RTLD_NOW) fails. */
extern int enclaver_test_function_that_does_not_exist (void);
ENCLAVER_EXPORT int enclaver_stage_unloadable_probe (void);
int enclaver_stage_unloadable_probe (void) { return enclaver_test_function_that_does_not_exist (); }
ENCLAVER_STAGE_DEFINE (.name = "unloadable", .run = must_not_run);
#elif defined(BROKEN_BADNAME)
ENCLAVER_STAGE_DEFINE (.name = "Bad Name!", .run = must_not_run);
#else
# error "define one BROKEN_* macro"
#endif
