# Host launcher library (runtime/host/): the launcher core (host_run, the event loop, the
# stream clients, the state files of ps/stop) and the "local" test backend.  The Nitro
# backend's fragment (runtime/host/local.mk, branch ne) defines the same library with
# its own sources: merge the two source lists.  See docs/run-launcher.md.
noinst_LTLIBRARIES += runtime/host/libenclaver-host.la
HOST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/runtime -I$(top_srcdir)/runtime/host
runtime_host_libenclaver_host_la_SOURCES = \
	runtime/host/launcher.h runtime/host/launcher.c \
	runtime/host/evloop.c runtime/host/evloop.h \
	runtime/host/streams.c runtime/host/streams.h \
	runtime/host/state.c runtime/host/state.h \
	runtime/host/backend-local.c runtime/host/backend-local.h \
	runtime/transport.c runtime/transport.h runtime/rtutil.c runtime/rtutil.h
runtime_host_libenclaver_host_la_CPPFLAGS = $(HOST_CPPFLAGS)
runtime_host_libenclaver_host_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
runtime_host_libenclaver_host_la_LIBADD = libenclaver.la $(JANSSON_LIBS)

# host_run() end to end over the local backend (the real supervisor binary), the exit
# mapping, the retry/backoff, the stop protocol, the state files; and ps/stop through
# the CLI against a running enclave (launcher-local is the tests' front end).
check_PROGRAMS += tests/runtime/test-launcher tests/runtime/launcher-local
TESTS += tests/runtime/test-launcher tests/runtime/launcher-ps.sh
LAUNCHER_TEST_CPPFLAGS = $(HOST_CPPFLAGS) -I$(top_srcdir) \
	-DRUNTIME_BUILDDIR='"$(abs_top_builddir)/runtime"'
tests_runtime_test_launcher_SOURCES = tests/runtime/test-launcher.c tests/tap.h
tests_runtime_test_launcher_CPPFLAGS = $(LAUNCHER_TEST_CPPFLAGS)
tests_runtime_test_launcher_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_runtime_test_launcher_LDADD = runtime/host/libenclaver-host.la libenclaver.la $(JANSSON_LIBS)
tests_runtime_launcher_local_SOURCES = tests/runtime/launcher-local.c
tests_runtime_launcher_local_CPPFLAGS = $(LAUNCHER_TEST_CPPFLAGS)
tests_runtime_launcher_local_CFLAGS = $(AM_CFLAGS)
tests_runtime_launcher_local_LDADD = runtime/host/libenclaver-host.la libenclaver.la
EXTRA_DIST += tests/runtime/launcher-ps.sh
