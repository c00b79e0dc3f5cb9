# The enclaver command-line tool: main.c, one cmd_*.c per command, shared helpers.
# Everything here is over libenclaver's API (core/) and its internal helpers (util.h),
# and the host launcher (runtime/host/) for run, ps and stop; nothing in core/ parses
# argv or prints usage.
bin_PROGRAMS += enclaver
enclaver_SOURCES = cli/main.c cli/commands.h cli/common.c \
	cli/cmd_plugins.c cli/cmd_build.c cli/build-push.c cli/build-push.h cli/build-multi.c cli/build-multi.h cli/cmd_run.c cli/run.h cli/run-image.c \
	cli/eif-common.c cli/eif-common.h cli/image-eif.c cli/image-eif.h cli/cmd_eif.c cli/cmd_describe.c cli/cmd_verify.c \
	cli/cmd_sign.c cli/cmd_pcr.c cli/cmd_manifest.c cli/cmd_image.c cli/cmd_image_copy.c cli/cmd_nitro.c \
	cli/cmd_ps.c cli/cmd_stop.c
enclaver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) -I$(top_srcdir)/runtime -I$(top_srcdir)/runtime/host
enclaver_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
enclaver_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_util.la $(DEPS_LIBS)
# Find libenclaver relative to the binary, so `make install DESTDIR=... prefix=...`
# trees work wherever they are moved.
enclaver_LDFLAGS = $(AM_LDFLAGS) -Wl,-rpath,'$$ORIGIN/../lib'
