/* enclaver CLI: helpers shared by the EIF commands (cli/eif-common.c). */
#ifndef ENCLAVER_CLI_EIF_COMMON_H
#define ENCLAVER_CLI_EIF_COMMON_H

#include <jansson.h>
#include <enclaver/eif.h>

/* Long-option codes of the EIF commands. */
enum
{
  OPT_KERNEL = 0x2000,
  OPT_CMDLINE,
  OPT_CMDLINE_FILE,
  OPT_RAMDISK,
  OPT_OUTPUT,
  OPT_ARCH,
  OPT_NAME,
  OPT_VERSION,
  OPT_BUILD_TIME,
  OPT_BUILD_TOOL,
  OPT_BUILD_TOOL_VERSION,
  OPT_IMG_OS,
  OPT_IMG_KERNEL,
  OPT_METADATA,
  OPT_DOCKER_INFO,
  OPT_CERT,
  OPT_KEY,
  OPT_SECTIONS,
  OPT_PCRS,
  OPT_PCR0,
  OPT_PCR1,
  OPT_PCR2,
  OPT_PCR8,
  OPT_INPUT,
  OPT_IGNORE_CERT_TIME,
};


/* Print j as indented JSON on stdout. */
void print_json (json_t *j);
/* A PCR as a JSON hex string. */
json_t *pcr_json (const uint8_t pcr[ENCLAVER_PCR_SIZE]);
/* {"HashAlgorithm":..., "PCR0":..., "PCR1":..., "PCR2":..., ["PCR8":...]} */
json_t *measurements_json (const struct enclaver_eif_measurements *m);
/* {"Measurements": ...} on stdout. */
void print_measurements (const struct enclaver_eif_measurements *m);
/* Handle -h; returns -1 if c is not -h, else the command's exit code + 1000. */
int common_opt (const char *cmd, int c, const char *help);
/* $SOURCE_DATE_EPOCH (else now) as RFC 3339, allocated. */
char *now_rfc3339 (void);
/* The one FILE operand of describe/verify/sign; 0 or the usage exit code. */
int one_file_arg (const char *cmd, int argc, char **argv, const char **file);

/* Expected PCR values (index 0, 1, 2, 8), as hex strings and bytes. */
struct cli_expected_pcrs
{
  const char *hex[9];
  int from_file[9];
  uint8_t val[9][ENCLAVER_PCR_SIZE];
};
/* Read the PCRs of a JSON file (`enclaver build`/`describe`/nitro-cli output, or a flat
 * {"PCR0": ...} object) into ex where the command line left them unset; *keep owns the
 * strings.  0, or the usage exit code (reported). */
int cli_load_pcrs_file (const char *cmd, const char *path, struct cli_expected_pcrs *ex, json_t **keep);
/* PCR n (0, 1, 2, 8) of m, or NULL (no PCR8 in an unsigned EIF). */
const uint8_t *cli_pcr_of (const struct enclaver_eif_measurements *m, int n);

#endif
