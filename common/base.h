/* enclaver common helpers: compiler attributes and scope-based cleanup.
 *
 * common/ is the helper library shared by the core (libenclaver, the CLI) and the
 * in-enclave runtime programs: it depends on libc only (no error objects, no logging
 * state, no third-party library), so the static runtime binaries can link it. */
#ifndef ENCLAVER_COMMON_BASE_H
#define ENCLAVER_COMMON_BASE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Not exported from libenclaver.so (each program links its own copy). */
#define ENCLAVER_INTERNAL __attribute__ ((visibility ("hidden")))
#define UNLIKELY(x) __builtin_expect (!!(x), 0)
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

static inline void cleanup_freep (void *p) { free (*(void **) p); }
static inline void cleanup_closep (int *fd) { if (*fd >= 0) close (*fd); }
static inline void cleanup_fclosep (FILE **f) { if (*f) fclose (*f); }
static inline void cleanup_closedirp (DIR **d) { if (*d) closedir (*d); }
#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_fclosep)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_closedirp)))

#endif
