# Lua 5.4 binding: sandboxed hook scripts and the built-in Lua stage (docs/lua.md).
libenclaver_la_SOURCES += lua/json.c lua/sandbox.c lua/classes.c lua/class-ctx.c lua/class-image.c \
	lua/class-rootfs.c lua/hooks.c lua/attest.c lua/lua-internal.h
enclaverinclude_HEADERS += include/enclaver/lua.h

LUA_EXAMPLES = lua/examples/pin-pcrs.lua lua/examples/ci-outputs.lua lua/examples/add-ca-bundle.lua \
	lua/examples/strip-docs.lua lua/examples/set-env.lua lua/examples/file-manifest.lua
luaexamplesdir = $(pkgdatadir)/lua
dist_luaexamples_DATA = $(LUA_EXAMPLES)

EXTRA_DIST += tests/lua/scripts tests/lua/data docs/lua.md

check_PROGRAMS += tests/lua/test-lua
TESTS += tests/lua/test-lua
tests_lua_test_lua_SOURCES = tests/lua/test-lua.c tests/tap.h
tests_lua_test_lua_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_lua_test_lua_LDADD = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
TESTS += tests/lua/cli.sh
EXTRA_DIST += tests/lua/cli.sh
# One name for a Lua stage in its logs, errors, events and --stage-opt (issue 18).
TESTS += tests/lua/names.sh
EXTRA_DIST += tests/lua/names.sh
