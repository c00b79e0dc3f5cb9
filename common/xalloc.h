/* enclaver common helpers: aborting allocators (out of memory is not an error path). */
#ifndef ENCLAVER_COMMON_XALLOC_H
#define ENCLAVER_COMMON_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "common/base.h"

/* Print "PROGRAM: out of memory" with write(2) and abort. */
__attribute__ ((noreturn)) void xoom (void) ENCLAVER_INTERNAL;
void *xmalloc (size_t n) ENCLAVER_INTERNAL;
void *xmalloc0 (size_t n) ENCLAVER_INTERNAL;
/* calloc with the nmemb * size overflow check. */
void *xcalloc (size_t nmemb, size_t size) ENCLAVER_INTERNAL;
void *xrealloc (void *p, size_t n) ENCLAVER_INTERNAL;
void *xreallocarray (void *p, size_t nmemb, size_t size) ENCLAVER_INTERNAL;
/* xstrdup (NULL) is NULL. */
char *xstrdup (const char *s) ENCLAVER_INTERNAL;
char *xstrndup (const char *s, size_t n) ENCLAVER_INTERNAL;
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2))) ENCLAVER_INTERNAL;
char *xvasprintf (const char *fmt, va_list ap) __attribute__ ((format (printf, 1, 0))) ENCLAVER_INTERNAL;

#endif
