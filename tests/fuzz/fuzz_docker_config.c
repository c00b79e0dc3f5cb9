/* enclaver: libFuzzer target for registry credentials files (core/oci/auth.c): docker's
 * config.json and containers' auth.json ("auths" entries with base64 user:password,
 * username/password, identitytoken; credHelpers and credsStore), read through
 * oci_creds_lookup as a registry pull does.
 *
 * The input is the file, put in $DOCKER_CONFIG/config.json; the lookup is made for a
 * few hosts.  A credential helper named by the input is looked up on a PATH of one
 * empty directory, from an empty working directory, so none can run: that path gives
 * "not installed". */
#include "config.h"

#include <limits.h>

#include <enclaver/log.h>
#include "oci/oci.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const hosts[] = { "docker.io", "ghcr.io", "localhost:5000", "registry.example.com" };
  static int ready;
  char path[PATH_MAX];
  enclaver_error_t err = NULL;

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  if (!ready)
    {
      char empty[PATH_MAX];
      snprintf (empty, sizeof empty, "%s/empty", fuzz_tmpdir ());
      FUZZ_CHECK (mkdir (empty, 0700) == 0 && chdir (empty) == 0);
      FUZZ_CHECK (setenv ("PATH", empty, 1) == 0 && setenv ("DOCKER_CONFIG", fuzz_tmpdir (), 1) == 0);
      FUZZ_CHECK (unsetenv ("REGISTRY_AUTH_FILE") == 0 && unsetenv ("XDG_RUNTIME_DIR") == 0);
      FUZZ_CHECK (setenv ("XDG_CONFIG_HOME", empty, 1) == 0);
      ready = 1;
    }
  fuzz_write_file ("config.json", data, size, path, sizeof path);
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
    {
      struct oci_creds c;
      int rc = oci_creds_lookup (hosts[i], &c, &err);
      FUZZ_CHECK (rc >= -1 && rc <= 1);
      if (rc < 0)
        FUZZ_CHECK (err != NULL && err->msg && *err->msg);
      if (rc == 1)
        FUZZ_CHECK (c.from != NULL && (c.username != NULL || c.identity_token != NULL));
      if (c.username)
        FUZZ_CHECK (c.password != NULL);
      enclaver_error_release (&err);
      oci_creds_clear (&c);
    }
  return 0;
}
