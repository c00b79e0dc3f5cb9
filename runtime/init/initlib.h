/* enclaver-init: the pieces of the PID 1 that can be tested outside PID 1. */
#ifndef ENCLAVER_INITLIB_H
#define ENCLAVER_INITLIB_H

#include <stddef.h>

#define INIT_HEARTBEAT_ADDR "vsock:3:9000"
#define INIT_HEARTBEAT_BYTE 0xB7
#define INIT_DEFAULT_PATH "/sbin:/usr/sbin:/bin:/usr/bin"
#define INIT_LINES_MAX_BYTES (1024 * 1024)
#define INIT_LINES_MAX 65536

/* Value of KEY=VALUE on a kernel command line (last occurrence wins; quoted values
 * "..." are unquoted; a bare KEY gives "").  Returns 1 and fills val when present, else 0. */
int init_cmdline_get (const char *cmdline, const char *key, char *val, size_t vallen);

/* 0 when the command line has enclaver.heartbeat=off (or =0, =no, =false), else 1. */
int init_heartbeat_wanted (const char *cmdline);

/* Read a file of newline-separated elements (/env, /cmd): each line is one element, the
 * trailing '\n' stripped.  A missing or empty file gives *out = NULL, *n = 0 and returns 0.
 * Bounded: INIT_LINES_MAX_BYTES and INIT_LINES_MAX lines.  -1 with err set on error. */
int init_read_lines (const char *path, char ***out, size_t *n, char *err, size_t errlen);

/* The boot heartbeat: connect to addr, send 0xB7, expect 0xB7 back.  0 or -1 with err. */
int init_heartbeat (const char *addr, char *err, size_t errlen);

/* Describe a wait status for the console ("exited with code 3", "killed by signal 9"). */
void init_describe_status (int wstatus, char *buf, size_t len);

#endif
