/* enclaver CLI: EIF commands (placeholder until the EIF library lands). */
#include "config.h"
#include <stdio.h>
#include "cli/commands.h"

static int
not_yet (const char *what)
{
  fprintf (stderr, "enclaver %s: not implemented yet\n", what);
  return EXIT_USAGE;
}

int cmd_describe (int argc, char **argv) { (void) argc; (void) argv; return not_yet ("describe"); }
int cmd_verify (int argc, char **argv) { (void) argc; (void) argv; return not_yet ("verify"); }
int cmd_sign (int argc, char **argv) { (void) argc; (void) argv; return not_yet ("sign"); }
int cmd_pcr (int argc, char **argv) { (void) argc; (void) argv; return not_yet ("pcr"); }
int cmd_eif (int argc, char **argv) { (void) argc; (void) argv; return not_yet ("eif"); }
