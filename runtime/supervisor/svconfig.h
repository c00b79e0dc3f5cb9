/* enclaver-supervisor: configuration (file + command line). */
#ifndef ENCLAVER_SV_CONFIG_H
#define ENCLAVER_SV_CONFIG_H

#include <stddef.h>
#include <jansson.h>

#define SV_DEFAULT_CONFIG "/etc/enclaver/supervisor.json"
#define SV_DEFAULT_STATUS_ADDR "vsock:any:17000"
#define SV_DEFAULT_LOG_ADDR "vsock:any:17001"
#define SV_DEFAULT_STOP_TIMEOUT 10
#define SV_DEFAULT_LINGER 3
#define SV_CONFIG_MAX_SIZE (1024 * 1024)

struct sv_config
{
  char **entrypoint;  /* image Entrypoint (may be NULL) */
  char **cmd;         /* image Cmd (may be NULL) */
  char **argv;        /* explicit argv: overrides entrypoint+cmd when set */
  char **env;         /* KEY=VALUE, the app's whole environment */
  char *workdir;      /* NULL: "/" */
  char *user;         /* NULL or "": keep the supervisor's own credentials */
  char *status_addr;
  char *log_addr;
  int stop_timeout;   /* seconds between the forwarded SIGTERM and SIGKILL */
  int linger;         /* seconds to keep serving status/logs after the app exited */
  int bootstrap;      /* bring up loopback and seed the RNG */
  json_t *root;       /* the whole configuration object, for the network services
                         ("manifest", "net" and their own keys; net.h); NULL without a file */
};

void sv_config_init (struct sv_config *c);
void sv_config_free (struct sv_config *c);

/* Read a JSON configuration file into c (keys present override what c holds).
 * 0, or -1 with err naming the file and key at fault. */
int sv_config_load_file (struct sv_config *c, const char *path, char *err, size_t errlen);
/* Same, from a buffer (name used in messages). */
int sv_config_load_buffer (struct sv_config *c, const char *buf, size_t len, const char *name,
                           char *err, size_t errlen);

/* The program's argv per OCI/Docker semantics: argv if set, else Entrypoint ++ Cmd.
 * Returns a new vector (possibly empty, never NULL). */
char **sv_config_command (const struct sv_config *c);

#endif
