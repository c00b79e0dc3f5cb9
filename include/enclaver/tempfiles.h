/* enclaver: the registry of live temporary files and directories.
 *
 * Every file or directory enclaver writes under a temporary name (an output before
 * its rename, a blob being downloaded into the cache) is created through this
 * registry and forgotten once it is renamed into place or removed.  A signal handler
 * (enclaver_temp_install_signal_handlers) removes what is still registered when
 * SIGINT, SIGTERM or SIGHUP arrives, then lets the signal end the process (exit
 * status 128 + signal).  The handler only reads the registry with atomic operations
 * and calls unlink/rmdir/openat/getdents, so it is safe while other threads run and
 * while they create or forget entries. */
#ifndef ENCLAVER_TEMPFILES_H
#define ENCLAVER_TEMPFILES_H

#ifdef __cplusplus
extern "C" {
#endif

/* mkostemp(tmpl, flags) and register the file; returns the fd or -1 (errno set). */
int enclaver_temp_mkostemp (char *tmpl, int flags);
/* mkdtemp(tmpl) and register the directory (removed recursively on a signal). */
char *enclaver_temp_mkdtemp (char *tmpl);
/* Register a path created otherwise (is_dir: remove recursively); 0 or -1. */
int enclaver_temp_register (const char *path, int is_dir);
/* Forget a registered path (after renaming or removing it).  Unknown paths are ignored. */
void enclaver_temp_forget (const char *path);
/* unlink(path) and forget it; returns unlink's result. */
int enclaver_temp_unlink (const char *path);
struct stat;
/* 1 when a path registered now is the file or directory ST describes (lstat). */
int enclaver_temp_holds (const struct stat *st);
/* Number of paths registered now (for tests). */
unsigned enclaver_temp_count (void);
/* Remove every registered path now and forget them (not for a signal handler: the
 * installed handler uses an async-signal-safe version of it). */
void enclaver_temp_remove_all (void);
/* Install the SIGINT/SIGTERM/SIGHUP handler that removes every registered path and
 * then dies of the signal.  Signals set to SIG_IGN at startup stay ignored. */
void enclaver_temp_install_signal_handlers (void);

#ifdef __cplusplus
}
#endif
#endif
