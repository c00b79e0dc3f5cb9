/* enclaver CLI: subcommand entry points and helpers shared by them.
 * Each cmd_* gets argv with argv[0] = the subcommand name and returns the exit code. */
#ifndef ENCLAVER_CLI_COMMANDS_H
#define ENCLAVER_CLI_COMMANDS_H

#include <getopt.h>
#include <stdio.h>
#include <enclaver/error.h>

/* Exit codes (documented in README.md and `enclaver --help`). */
enum
{
  EXIT_OK = 0,
  EXIT_FAIL = 1,  /* the operation ran and failed: build error, PCR mismatch, bad CRC ... */
  EXIT_USAGE = 2, /* bad command line, or a command that does not exist yet */
};

/* Options every subcommand accepts, to be appended to its getopt_long table:
 *   -v/--verbose (repeatable), -q/--quiet, --log-format text|json, --plugin-dir DIR
 * Use CLI_COMMON_SHORTOPTS in the short-option string. */
#define CLI_OPT_LOG_FORMAT 0x1001
#define CLI_OPT_PLUGIN_DIR 0x1002
#define CLI_COMMON_SHORTOPTS "vq"
#define CLI_COMMON_LONGOPTS                                        \
  { "verbose", no_argument, NULL, 'v' },                           \
  { "quiet", no_argument, NULL, 'q' },                             \
  { "log-format", required_argument, NULL, CLI_OPT_LOG_FORMAT },   \
  { "plugin-dir", required_argument, NULL, CLI_OPT_PLUGIN_DIR }
/* In a help text, stands for the common options' lines; cli_help() prints them aligned
 * with the text's own option descriptions. */
#define CLI_COMMON_HELP "\001common\n"

/* --blob-timeout SECONDS (build, image, image copy): the deadline of one registry
 * request, retries included (docs/image.md "Retries"). */
#define CLI_HELP_BLOB_TIMEOUT                                                                  \
  "      --blob-timeout SECONDS each blob or manifest, with its retries, must be done in\n"    \
  "                             this time (default 1800; ENCLAVER_BLOB_TIMEOUT)\n"
/* Parse the argument of --blob-timeout: 0 with *out, or the usage error's exit code. */
int cli_parse_blob_timeout (const char *cmd, const char *arg, long *out);

/* Help lines shared by the commands that talk to registries (build, image, run). */
#define CLI_HELP_REGISTRY_OPTIONS                                                              \
  "      --insecure-registry H  allow plain HTTP for registry H[:PORT] (repeatable; loopback\n" \
  "                             registries are allowed by default).  TLS, when used, is\n"     \
  "                             always verified\n"

/* The command being run, for messages ("build", "eif build"); set by main and by
 * commands with subcommands. */
extern const char *cli_command_name;
/* What messages put before the command: "enclaver " (enclaver-run sets ""). */
extern const char *cli_program_prefix;

/* getopt_long() with the tool's error reporting: an unknown option (with a "did you
 * mean" when one is close), an ambiguous one or a missing value is reported once, as
 * "enclaver CMD: ...", and the process exits 2.  The common options are applied here
 * and never returned.  Never returns '?' or ':'. */
int cli_getopt (int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Print a help text to f, expanding CLI_COMMON_HELP in the column of the text's own
 * option descriptions. */
void cli_help (FILE *f, const char *text);
/* The closest of names[0..n-1] to word when it is close enough to be a likely typo,
 * else NULL. */
const char *cli_suggest (const char *word, const char *const *names, size_t n);

/* Handle a common option; returns 1 if c was one, 0 if not, -1 on a bad value
 * (already reported). */
int cli_common_option (int c, const char *arg);
/* Directories given with --plugin-dir, in order (NULL-terminated). */
const char *const *cli_plugin_dirs (void);
/* Print "enclaver CMD: msg\nTry 'enclaver CMD --help'." and return EXIT_USAGE. */
int cli_usage_error (const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
struct enclaver_manifest;
/* One warning per manifest key of m that is accepted but has no effect yet (build and
 * manifest print them). */
void cli_warn_unimplemented (const struct enclaver_manifest *m);
/* --digestfile FILE: "DIGEST\n", written atomically. */
int cli_write_digestfile (const char *file, const char *digest, enclaver_error_t *err);
/* Log err as an error, release it, return EXIT_FAIL. */
int cli_fail (enclaver_error_t *err);

int cmd_build (int argc, char **argv);
int cmd_run (int argc, char **argv);
int cmd_manifest (int argc, char **argv);
int cmd_plugins (int argc, char **argv);
int cmd_image (int argc, char **argv);
int cmd_image_copy (int argc, char **argv); /* cli/cmd_image_copy.c */
/* cli/cmd_ps.c, cmd_stop.c: the enclaves this host runs (runtime/host/state.h) */
int cmd_ps (int argc, char **argv);
int cmd_stop (int argc, char **argv);
/* cli/cmd_eif.c, cmd_describe.c, cmd_verify.c, cmd_sign.c, cmd_pcr.c */
int cmd_describe (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_sign (int argc, char **argv);
int cmd_pcr (int argc, char **argv);
int cmd_eif (int argc, char **argv);
/* cli/cmd_nitro.c: nitro-cli's spellings */
int cmd_describe_eif (int argc, char **argv);
int cmd_build_enclave (int argc, char **argv);

#endif
