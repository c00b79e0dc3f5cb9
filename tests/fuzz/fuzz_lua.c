/* enclaver: libFuzzer target for the Lua API's argument checks (lua/): every function a
 * hook script can call (ctx.*, ctx.image, ctx.rootfs, enclaver.*), called with
 * arguments of every type and shape, inside the real sandbox with its memory and
 * instruction limits, through the public entry points (enclaver_lua_attach_hooks, then
 * enclaver_ctx_hook_fire of the event the script subscribed to).
 *
 * The input is a program for a small generator: each call is three or four bytes (the
 * function, then the arguments, each an index into a pool of values: nil, booleans,
 * integers at the edges, floats, NaN, paths good and bad, strings with NULs, tables,
 * functions, the ctx itself, the JSON null...).  The rest of the input after a 0xff
 * byte is a string value S of the pool too (so JSON decode, paths, attestation
 * documents see fuzzed bytes).  Each call runs under pcall, so one refused argument
 * does not end the script; a Lua error that escapes (ctx.fail) fails the hook cleanly.
 * What the target checks: no crash, no sanitizer report, no leak, and every failure of
 * the C entry points explains itself. */
#include "config.h"

#include <limits.h>

#include <enclaver/context.h>
#include <enclaver/image.h>
#include <enclaver/log.h>
#include <enclaver/lua.h>
#include <enclaver/tree.h>
#include "util.h"

#include "fuzz.h"

static const char *const funcs[] = {
  /* error-level records always print: logged as warnings instead */
  "ctx.log(a == 'error' and 'warn' or a, b)", "ctx.fail(a)", "ctx.param(a)",
  "local _ = ctx.manifest and ctx.manifest[a]",
  "local _ = ctx.measurements, ctx.artifacts, ctx.event, ctx.error",
  "ctx.image:getenv(a)", "ctx.image:setenv(a, b)", "ctx.image:unsetenv(a)", "ctx.image.env = a",
  "ctx.image.cmd = a", "ctx.image.entrypoint = a", "ctx.image.workdir = a", "ctx.image.user = a",
  "local _ = ctx.image[a]", "ctx.rootfs:list(a)", "ctx.rootfs:stat(a, b)", "ctx.rootfs:exists(a)",
  "ctx.rootfs:read(a)", "ctx.rootfs:hash(a, b)", "ctx.rootfs:write(a, b, c)", "ctx.rootfs:mkdir(a, b)",
  "ctx.rootfs:symlink(a, b, c)", "ctx.rootfs:remove(a, b)", "ctx.rootfs:chmod(a, b)",
  "ctx.rootfs:chown(a, b, c)", "ctx.rootfs:walk(a, b)", "ctx.rootfs.list(a)", "enclaver.read_file(a)",
  "enclaver.write_output(a, b)", "enclaver.json.encode(a, b)", "enclaver.json.decode(a)",
  "enclaver.json.encode(enclaver.json.decode(a))", "enclaver.sha256(a)", "enclaver.sha384(a)",
  "enclaver.attestation.verify(a, b)", "enclaver.on(a, b)",
};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

static const char pool[] =
  "local V = { n = 0, true, false, 0, -1, 1, 0x7fffffffffffffff, math.mininteger, 0.5, 2^63, -2^63, 0/0, 1/0,\n"
  "  '', '/', '/etc/motd', 'etc/motd', '/etc', '/etc/link', '/etc/../../../x', '/nowhere/x', '/dev/null',\n"
  "  'a\\0b', string.rep('x', 300), string.rep('/a', 2100), 'sha256', 'sha384', 'md5', 'error', 'warning',\n"
  "  'info', 'debug', 'after:flatten', 'before:*', 'out.txt', '../out.txt', '.hidden', 'PATH', 'FOO=bar',\n"
  "  'data.txt', '0755', 0x1ff, 0xfff, 4294967296, {}, { 1, 2, 3 }, { 'a', 'b' }, { 'A=1', 'B=2' },\n"
  "  { FOO = 'bar', [1] = 'x' }, { recursive = true, force = true }, { follow = true }, { parents = true },\n"
  "  { replace = true }, { mode = 0x1ed, uid = 1, gid = 2, mtime = 3 }, { indent = 2 }, { indent = -1 },\n"
  "  { root = 'x', pcrs = { [0] = 'ab' }, nonce = '', at = -1, allow_debug = 1 }, { {} },\n"
  "  function () end, function () error('raised') end, function (p, st) return st end, enclaver.json.null,\n"
  "  setmetatable({}, { __index = function () error('meta') end }), setmetatable({}, { __tostring = function () error('tostring') end }), S }\n"
  "V[#V + 1] = ctx\n";
#define POOL_SIZE 70 /* the 64 values above, ctx, and past the end nil */

static char dir[PATH_MAX], script[PATH_MAX], outdir[PATH_MAX];

static void
add_lua_string (FILE *f, const uint8_t *p, size_t n)
{
  fputc ('"', f);
  for (size_t i = 0; i < n; i++)
    fprintf (f, "\\%03u", p[i]);
  fputc ('"', f);
}

static void
write_script (const uint8_t *data, size_t size)
{
  const uint8_t *end = memchr (data, 0xff, size);
  size_t prog = end ? (size_t) (end - data) : size;
  FILE *f = fopen (script, "w");
  FUZZ_CHECK (f != NULL);
  fputs ("local S = ", f);
  if (end)
    add_lua_string (f, end + 1, size - prog - 1);
  else
    fputs ("''", f);
  fputs ("\nlocal function body (ctx)\n", f);
  fputs (pool, f);
  for (size_t i = 0; i + 4 <= prog && i < 4 * 24; i += 4)
    fprintf (f, "pcall (function (a, b, c) %s end, V[%u], V[%u], V[%u])\n", funcs[data[i] % NFUNCS],
             data[i + 1] % POOL_SIZE + 1, data[i + 2] % POOL_SIZE + 1, data[i + 3] % POOL_SIZE + 1);
  fputs ("if S:byte (1) == 33 then ctx.fail ('the input asked to fail') end\nend\n", f);
  /* at load time (no ctx: the functions that need one must refuse cleanly), then in the hook */
  fputs ("pcall (body, nil)\nenclaver.on ('after:flatten', function (ctx, event) body (ctx) end)\n", f);
  FUZZ_CHECK (fclose (f) == 0);
}

static enclaver_tree_t *
make_tree (void)
{
  enclaver_error_t err = NULL;
  struct enclaver_tree_attr d = { 0755, 0, 0, 0, 0, 0 }, r = { 0644, 0, 0, 0, 0, 0 };
  enclaver_tree_t *t = enclaver_tree_new (&err);
  FUZZ_CHECK (t != NULL);
  FUZZ_CHECK (enclaver_tree_add_dir (t, "/etc", &d, 0, &err) == 0);
  FUZZ_CHECK (enclaver_tree_add_file (t, "/etc/motd", &r, "hello\n", 6, 0, &err) == 0);
  FUZZ_CHECK (enclaver_tree_add_symlink (t, "/etc/link", &r, "motd", 0, &err) == 0);
  FUZZ_CHECK (enclaver_tree_add_dir (t, "/usr/share/doc", &d, ENCLAVER_TREE_MKPARENTS, &err) == 0);
  return t;
}

static char **
strv (size_t *n, const char *a, const char *b)
{
  char **v = calloc (3, sizeof *v);
  FUZZ_CHECK (v != NULL);
  v[0] = strdup (a);
  v[1] = b ? strdup (b) : NULL;
  *n = b ? 2 : 1;
  return v;
}

static struct enclaver_image *
make_image (void)
{
  struct enclaver_image *img = calloc (1, sizeof *img);
  FUZZ_CHECK (img != NULL);
  img->source = strdup ("docker.io/library/app:1");
  img->os = strdup ("linux");
  img->architecture = strdup ("amd64");
  img->env = strv (&img->n_env, "PATH=/usr/bin:/bin", "FOO=bar");
  img->cmd = strv (&img->n_cmd, "/bin/app", "--port");
  img->has_cmd = 1;
  img->working_dir = strdup ("/");
  return img;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enclaver_error_t err = NULL;
  const char *scripts[] = { script, NULL };

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  if (dir[0] == '\0')
    {
      char p[PATH_MAX];
      snprintf (dir, sizeof dir, "%s", fuzz_tmpdir ());
      snprintf (script, sizeof script, "%s/hook.lua", dir);
      snprintf (outdir, sizeof outdir, "%s/out", dir);
      fuzz_write_file ("data.txt", (const uint8_t *) "data\n", 5, p, sizeof p);
      FUZZ_CHECK (chdir (dir) == 0);
    }
  write_script (data, size);
  FUZZ_CHECK (mkdir (outdir, 0700) == 0);

  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  FUZZ_CHECK (ctx != NULL);
  FUZZ_CHECK (enclaver_ctx_set_param (ctx, "lua-memory", "8M", &err) == 0);
  FUZZ_CHECK (enclaver_ctx_set_param (ctx, "lua-instructions", "2000000", &err) == 0);
  FUZZ_CHECK (enclaver_ctx_set_param (ctx, "output-dir", outdir, &err) == 0);
  FUZZ_CHECK (enclaver_ctx_set (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE, make_tree (), enclaver_tree_free_void,
                                &err) == 0);
  FUZZ_CHECK (enclaver_ctx_set (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE, make_image (), enclaver_image_free_void,
                                &err) == 0);
  if (enclaver_lua_attach_hooks (ctx, NULL, scripts, &err) < 0)
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  else if (enclaver_ctx_hook_fire (ctx, "after:flatten", &err) < 0)
    FUZZ_CHECK (err != NULL && err->msg && *err->msg);
  if (err)
    fuzz_note ("fuzz_lua", err->msg);
  enclaver_error_release (&err);
  enclaver_ctx_outputs_discard (ctx);
  enclaver_ctx_free (ctx);
  fuzz_rmtree (outdir);
  return 0;
}
