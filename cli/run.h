/* enclaver CLI: the launcher front end shared by `enclaver run` (cli/run-image.c) and
 * the release image's static entrypoint enclaver-run (cli/enclaver-run.c).  Both parse
 * the same options with run_main() (cli/cmd_run.c); they differ in how the thing to run
 * is found, which is what struct run_frontend carries, so that enclaver-run links no
 * image code (libarchive, curl) and can be a static program. */
#ifndef ENCLAVER_CLI_RUN_H
#define ENCLAVER_CLI_RUN_H

#include <enclaver/eif.h>
#include <enclaver/error.h>

/* The options of `enclaver run` that concern fetching an image. */
struct run_fetch_options
{
  int pull;              /* --pull always */
  int offline;           /* --pull never */
  const char **insecure; /* --insecure-registry values, NULL-terminated */
  const char *manifest;  /* -f FILE: for enclaver-run the manifest itself (NULL: beside the EIF) */
};

/* What a front end found to run: a local EIF and, when the source carries one, its own
 * manifest (which then gives the defaults) and its digest. */
struct run_source
{
  char *eif;      /* the EIF to run */
  char *manifest; /* its enclaver.yaml, or NULL */
  char *digest;   /* the image's manifest digest, or NULL */
  void *priv;     /* the front end's own state */
};

struct run_frontend
{
  const char *cmd;  /* for messages: "run", or "enclaver-run" */
  const char *help; /* the --help text */
  int standalone;   /* 1: no registry options, no manifest-named images; -f is the manifest */
  /* Find INPUT (NULL: the front end's default) and fill src.  0, or -1 with *err. */
  int (*open) (struct run_source *src, const char *input, const struct run_fetch_options *o, enclaver_error_t *err);
  /* The source's own claims about the EIF's measurements (an image's PCR labels)
   * against m: 0 when they agree or there are none; may be NULL. */
  int (*check) (const struct run_source *src, const struct enclaver_eif_measurements *m, enclaver_error_t *err);
  /* Release src (temporary files included); called whatever open returned. */
  void (*clear) (struct run_source *src);
};

/* Parse `enclaver run` options from argv (argv[0] the command) and run the enclave
 * until it ends; returns the exit code (docs/run.md). */
int run_main (const struct run_frontend *fe, int argc, char **argv);

/* The help text of `enclaver run` (cli/cmd_run.c), and the parts enclaver-run shares. */
extern const char cli_run_help[];
#define RUN_OPTIONS_HELP \
  "  -m, --memory-mb MB         enclave memory (default: the manifest's\n"                   \
  "                             defaults.memory_mb, else 4096); --memory is nitro-cli's\n"   \
  "      --cpu-count N          vCPUs (default: defaults.cpu_count, else 2)\n"               \
  "      --cpu-ids LIST         these CPUs of the enclave pool, e.g. 2,3 or 2-5\n"           \
  "      --enclave-cid N        the enclave's vsock CID (default: chosen by the driver)\n"   \
  "      --name NAME            the name `enclaver ps` and `stop` use (default: the\n"       \
  "                             manifest's name, else the EIF's file name)\n"                \
  "  -d, --debug-mode           debug mode: the console is forwarded to stderr, and the\n"   \
  "                             enclave attests all-zero PCRs\n"                             \
  "      --console              show the console too (--attach-console is nitro-cli's);\n"   \
  "                             terminal escape sequences are removed\n"                     \
  "      --verify-pcrs FILE     refuse to start unless the EIF's PCRs are those of FILE\n"   \
  "                             (`enclaver build` or nitro-cli JSON, or {\"PCR0\": ...})\n"  \
  "  -o, --output FORMAT        text (default) or json: one JSON line per lifecycle\n"       \
  "                             event on stdout (started, status, exit)\n"                   \
  "      --timeout SECONDS      stop the enclave after this long, as a signal would\n"       \
  "  -p, --publish [ADDR:]HOSTPORT:PORT\n"                                                   \
  "                             serve the manifest's ingress port PORT on the host's\n"      \
  "                             ADDR:HOSTPORT (ADDR a dotted IPv4 address, default\n"        \
  "                             0.0.0.0), like `docker run -p`; repeatable.  Without it\n"   \
  "                             every ingress port P is published on 0.0.0.0:P\n"            \
  "      --qemu                 boot under QEMU (emulation) instead of Nitro\n"              \
  "      --qemu-binary PATH     QEMU to run (default qemu-system-x86_64 / -aarch64)\n"
#define RUN_EXIT_HELP \
  "Exit codes (as Enclaver's): the app's exit code; 107 the app was killed by a signal;\n"    \
  "108 the enclave failed (supervisor fatal error, no heartbeat, no final status);\n"         \
  "109 interrupted (SIGINT/SIGTERM); 1 the enclave could not be started (the message says\n"  \
  "what to change); 2 usage error.\n"

#endif
