/* enclaver host launcher: the state files behind `enclaver ps` and `enclaver stop`.
 *
 * One file per running enclave, RUN_DIR/NAME.json, written atomically (a temporary name
 * in the same directory, then rename) once the enclave has started, and removed when it
 * ends.  A file whose launcher pid is gone is stale: `ps` skips and removes it. */
#ifndef ENCLAVER_HOST_STATE_H
#define ENCLAVER_HOST_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <enclaver/error.h>

#define HOST_NAME_MAX_LEN 64

struct host_state
{
  char name[HOST_NAME_MAX_LEN + 1];
  char id[64];
  uint64_t cid;
  char image_digest[128]; /* "" when not run from an image */
  char pcr0[160];         /* hex, "" when unknown */
  uint64_t memory_mib;
  uint32_t cpu_count;
  long long started;      /* Unix time, seconds */
  pid_t launcher_pid;
  unsigned long long launcher_ticks; /* its start time (/proc/PID/stat field 22), so a
                                        reused pid is not taken for the launcher */
  char status_addr[256];  /* where the supervisor's status stream (and the stop request) is */
  char log_addr[256];     /* where its log stream is (a late client gets the retained tail) */
  char backend[16];
};

/* The run directory: /run/enclaver when /run is writable, else $XDG_RUNTIME_DIR/enclaver,
 * else /tmp/enclaver-UID.  0, or -1 when it does not fit. */
int host_run_dir_default (char *out, size_t len);
/* A name is 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
int host_name_valid (const char *name);
int host_state_path (const char *run_dir, const char *name, char *out, size_t len);
/* Refuse a name whose state file belongs to a live launcher; remove a stale one. */
int host_state_claim (const char *run_dir, const char *name, enclaver_error_t *err);
/* Write RUN_DIR/NAME.json atomically (the directory is created, mode 0700). */
int host_state_write (const char *run_dir, const struct host_state *s, enclaver_error_t *err);
void host_state_remove (const char *run_dir, const char *name);
/* Read one state file; -1 with err naming the file and the key at fault. */
int host_state_read (const char *path, struct host_state *s, enclaver_error_t *err);
/* Whether the launcher of s still runs (same pid and start time). */
int host_state_alive (const struct host_state *s);
/* The start time of a process in clock ticks since boot, or 0 when it is gone. */
unsigned long long host_proc_start_ticks (pid_t pid);

#endif
