/* The tests' front end of host_run() over the local backend: the real supervisor of the
 * build tree is the "enclave".  Used by tests/runtime/launcher-ps.sh (ps and stop against
 * a running enclave).
 *
 *   launcher-local [--name N] [--run-dir D] [--dir SOCKDIR] [--grace MS] [--deadline MS]
 *                  [--json] [--egress] [--ingress PORT]... [--publish SPEC]... [--wait-file F]
 *                  [--status-port N] [--log-port N] [--egress-port N] [--manifest JSON]
 *                  [--nsm-emu CADIR [--nsm-emu-pcrs HEX0,HEX1,HEX2]]
 *                  -- SUPERVISOR-ARG...
 * Exits with host_run()'s code (1 when it could not start). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <enclaver/log.h>

#include "backend-local.h"
#include "launcher.h"
#include "ingress.h"
#include "services.h"

#define SUPERVISOR RUNTIME_BUILDDIR "/enclaver-supervisor"

int
main (int argc, char **argv)
{
  struct host_run_config c;
  struct host_local_options o;
  struct host_ingress ing[8];
  struct host_backend *b;
  json_t *manifest = NULL;
  enclaver_error_t err = NULL;
  int i, code;

  memset (&c, 0, sizeof c);
  memset (&o, 0, sizeof o);
  memset (ing, 0, sizeof ing); /* --ingress sets listen_port only */
  c.name = "local";
  c.memory_mib = 256;
  c.cpu_count = 2;
  c.status_port = HOST_PORT_STATUS;
  c.log_port = HOST_PORT_LOG;
  c.egress_port = HOST_PORT_EGRESS;
  c.ingress = ing;
  o.supervisor = SUPERVISOR;
  o.dir = ".";
  for (i = 1; i < argc; i++)
    {
      const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp (a, "--") == 0)
        {
          i++;
          break;
        }
      if (strcmp (a, "--json") == 0)
        c.json_events = 1;
      else if (strcmp (a, "--egress") == 0)
        c.has_egress = 1;
      else if (v == NULL)
        {
          fprintf (stderr, "launcher-local: %s needs a value\n", a);
          return 2;
        }
      else if (strcmp (a, "--name") == 0)
        c.name = v, i++;
      else if (strcmp (a, "--run-dir") == 0)
        c.run_dir = v, i++;
      else if (strcmp (a, "--dir") == 0)
        o.dir = v, i++;
      else if (strcmp (a, "--wait-file") == 0)
        o.wait_file = v, i++;
      else if (strcmp (a, "--grace") == 0)
        c.stop_grace_ms = atoi (v), i++;
      else if (strcmp (a, "--deadline") == 0)
        c.connect_deadline_ms = atoi (v), i++;
      else if (strcmp (a, "--status-port") == 0)
        c.status_port = (uint32_t) atoi (v), i++;
      else if (strcmp (a, "--log-port") == 0)
        c.log_port = (uint32_t) atoi (v), i++;
      else if (strcmp (a, "--egress-port") == 0)
        c.egress_port = (uint32_t) atoi (v), i++;
      else if (strcmp (a, "--manifest") == 0)
        {
          /* the manifest as `enclaver manifest -o json` prints it (the host services'
           * policy) */
          json_error_t je;
          manifest = json_load_file (v, 0, &je);
          if (manifest == NULL)
            {
              fprintf (stderr, "launcher-local: %s:%d: %s\n", v, je.line, je.text);
              return 2;
            }
          c.manifest = manifest;
          i++;
        }
      else if (strcmp (a, "--nsm-emu") == 0)
        c.nsm_emu_ca_dir = v, i++; /* the emulated NSM on host-17005.sock (nsm-emu.c) */
      else if (strcmp (a, "--nsm-emu-pcrs") == 0)
        {
          /* PCR0,PCR1,PCR2 as 96 hex digits each */
          const char *p = v;
          for (int n = 0; n < 3; n++)
            {
              for (int k = 0; k < 48; k++)
                {
                  unsigned byte;
                  if (sscanf (p, "%2x", &byte) != 1)
                    {
                      fprintf (stderr, "launcher-local: --nsm-emu-pcrs: PCR%d is not 96 hex digits\n", n);
                      return 2;
                    }
                  c.nsm_emu_pcr[n][k] = (uint8_t) byte;
                  p += 2;
                }
              if (*p != (n < 2 ? ',' : '\0'))
                {
                  fprintf (stderr, "launcher-local: --nsm-emu-pcrs takes HEX0,HEX1,HEX2\n");
                  return 2;
                }
              p++;
            }
          i++;
        }
      else if (strcmp (a, "--ingress") == 0 && c.n_ingress < 8)
        ing[c.n_ingress++].listen_port = (uint32_t) atoi (v), i++;
      else if (strcmp (a, "--publish") == 0)
        {
          /* as enclaver run -p: after the --ingress ports it applies to */
          if (host_ingress_publish (ing, c.n_ingress, v, &err) < 0)
            {
              fprintf (stderr, "launcher-local: %s\n", err->msg);
              enclaver_error_release (&err);
              return 2;
            }
          i++;
        }
      else
        {
          fprintf (stderr, "launcher-local: unknown option %s\n", a);
          return 2;
        }
    }
  o.args = argv + i;
  c.services = host_services;
  b = host_backend_local_new (&o);
  if (b == NULL)
    return 1;
  code = host_run (b, &c, &err);
  if (code < 0)
    {
      enclaver_log_error ("%s", err->msg);
      enclaver_error_release (&err);
      code = 1;
    }
  b->destroy (b);
  json_decref (manifest);
  return code;
}
