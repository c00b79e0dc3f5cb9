/* enclaver: libFuzzer target for the supervisor's configuration
 * (runtime/supervisor/svconfig.c, /etc/enclaver/supervisor.json written by the inject
 * stage): argv/entrypoint/cmd, env, workdir, user, addresses, timeouts.
 *
 * The input is the JSON file.  It is loaded twice into the same config (keys present
 * override what it holds, as the command line's file does), the command is computed,
 * and every failure must name what is wrong.  The network services' part, the
 * manifest's "egress" object, is read into a policy as the proxy's start does; a host
 * checked against it always gets a verdict. */
#include "config.h"

#include "common/netpolicy.h"
#include "net/egressproto.h"
#include "supervisor/svconfig.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct sv_config c;
  char err[512];

  sv_config_init (&c);
  for (int i = 0; i < 2; i++)
    {
      err[0] = '\0';
      int rc = sv_config_load_buffer (&c, (const char *) data, size, "fuzz.json", err, sizeof err);
      FUZZ_CHECK (rc == 0 || rc == -1);
      if (rc < 0)
        {
          FUZZ_CHECK (err[0] != '\0');
          break;
        }
      FUZZ_CHECK (c.status_addr != NULL && c.log_addr != NULL && c.stop_timeout >= 0 && c.linger >= 0);
    }
  if (c.root)
    {
      size_t na = 0, nd = 0;
      json_t *eg = json_object_get (json_object_get (c.root, "manifest"), "egress");
      struct netpolicy *pol = egress_policy_from_json (eg, &na, &nd, err, sizeof err);
      if (pol)
        {
          static const char *const hosts[] = { "example.com", "a.b.example.com", "10.1.2.3", "[::1]", "169.254.169.254" };
          struct netpolicy_verdict v;
          for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
            FUZZ_CHECK (netpolicy_check (pol, hosts[i], &v) == v.allowed && (v.allowed == 0 || na > 0));
          netpolicy_free (pol);
        }
      else
        FUZZ_CHECK (err[0] != '\0');
    }
  char **argv = sv_config_command (&c);
  FUZZ_CHECK (argv != NULL);
  for (char **a = argv; *a; a++)
    free (*a);
  free (argv);
  sv_config_free (&c);
  return 0;
}
