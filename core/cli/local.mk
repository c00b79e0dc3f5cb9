# The enclaver command-line tool.
bin_PROGRAMS += enclaver
enclaver_SOURCES = core/cli/main.c core/cli/commands.h core/cli/common.c \
	core/cli/cmd_plugins.c core/cli/cmd_build.c core/cli/cmd_run.c
enclaver_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
enclaver_LDADD = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
# Find libenclaver relative to the binary, so `make install DESTDIR=... prefix=...`
# trees work wherever they are moved.
enclaver_LDFLAGS = $(AM_LDFLAGS) -Wl,-rpath,'$$ORIGIN/../lib'
