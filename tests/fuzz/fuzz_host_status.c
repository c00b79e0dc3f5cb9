/* enclaver: libFuzzer target for the host launcher's side of the status stream
 * (runtime/host/streams.c, runtime/host/launcher.c; docs/run.md): the byte stream is
 * split into lines (bounded, long ones skipped) and each line is mapped to the
 * launcher's exit code ({"status":"exited","code":N}, "signaled", "fatal").
 *
 * The input is what the supervisor sent, delivered in pieces whose sizes come from the
 * first byte.  Every line delivered must be within the bound and contain no '\n'; the
 * exit code of a line is -1 (not final) or a process exit status. */
#include "config.h"

#include "launcher.h"
#include "streams.h"

#include "fuzz.h"

#define MAX_LINE 256

static void
on_line (void *ctx, const char *line, size_t len, int partial)
{
  size_t *count = ctx;
  (*count)++;
  if (line == NULL)
    {
      FUZZ_CHECK (partial == 1); /* a skipped long line */
      return;
    }
  FUZZ_CHECK (len <= MAX_LINE && memchr (line, '\n', len) == NULL);
  int code = host_status_exit_code (line, len);
  FUZZ_CHECK (code >= -1 && code <= 255);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct host_lines l;
  size_t count = 0, off = 1;

  if (size < 1)
    return 0;
  size_t piece = (size_t) (data[0] & 0x3f) + 1;
  host_lines_init (&l, MAX_LINE, data[0] >> 7);
  while (off < size)
    {
      size_t n = piece < size - off ? piece : size - off;
      host_lines_feed (&l, (const char *) data + off, n, on_line, &count);
      off += n;
    }
  host_lines_finish (&l, on_line, &count);
  host_lines_free (&l);
  /* at least one callback per '\n' */
  size_t nl = 0;
  for (size_t i = 1; i < size; i++)
    nl += data[i] == '\n';
  FUZZ_CHECK (count >= nl || (data[0] >> 7));
  return 0;
}
