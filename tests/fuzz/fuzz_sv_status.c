/* enclaver: libFuzzer target for the supervisor's status stream (runtime/supervisor/
 * streams.c, docs/runtime.md): the requests a status client sends ({"request":"stop"})
 * and the status lines it writes, whose "fatal" message is arbitrary text.
 *
 * The input is split at '\n' into request lines, each parsed as the server does.  The
 * whole input (up to its first NUL) is also written as a fatal status line, which must
 * be one line of valid JSON whose "error" is the text itself when the text is UTF-8. */
#include "config.h"

#include <jansson.h>

#include "supervisor/streams.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *p = (const char *) data, *end = p + size;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t) (end - p));
      size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
      enum sv_request r = sv_request_parse (p, n);
      FUZZ_CHECK (r == SV_REQUEST_NONE || r == SV_REQUEST_STOP || r == SV_REQUEST_UNKNOWN);
      p += n + 1;
    }

  char *text = fuzz_cstr (data, size);
  char *line = sv_status_line ("fatal", 0, text);
  size_t len = strlen (line);
  FUZZ_CHECK (len > 0 && line[len - 1] == '\n' && memchr (line, '\n', len - 1) == NULL);
  json_error_t je;
  json_t *o = json_loadb (line, len, JSON_REJECT_DUPLICATES, &je);
  if (o == NULL)
    {
      fprintf (stderr, "status line is not JSON (%s): %s", je.text, line);
      abort ();
    }
  FUZZ_CHECK (strcmp (json_string_value (json_object_get (o, "status")), "fatal") == 0);
  const char *e = json_string_value (json_object_get (o, "error"));
  FUZZ_CHECK (e != NULL);
  json_t *probe = json_string (text); /* NULL when text is not UTF-8 */
  if (probe)
    FUZZ_CHECK (strcmp (e, text) == 0);
  json_decref (probe);
  json_decref (o);
  free (line);
  free (text);
  return 0;
}
