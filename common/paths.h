/* enclaver common helpers: path names. */
#ifndef ENCLAVER_COMMON_PATHS_H
#define ENCLAVER_COMMON_PATHS_H

#include "common/base.h"

/* Lexically normalise an absolute path: collapse "//", "." and ".." (malloc'd). */
char *enclaver_path_normalise_abs (const char *p) ENCLAVER_INTERNAL;
/* Absolute path of p resolved against dir (dir NULL = cwd); lexical, no symlinks. */
char *enclaver_path_join_abs (const char *dir, const char *p) ENCLAVER_INTERNAL;

#endif
