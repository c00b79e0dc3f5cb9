# Host launcher library (runtime/host/): the launcher core (host_run, the event loop, the
# stream clients, the state files of ps/stop), the backends (Nitro device, the tests'
# "local" one), and the transport they listen and connect through.  Linked into
# `enclaver` (run, ps, stop) and the tests.  See docs/run.md.
noinst_LTLIBRARIES += runtime/host/libenclaver-host.la
HOST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/runtime -I$(top_srcdir)/runtime/host
runtime_host_libenclaver_host_la_SOURCES = \
	runtime/host/ne.c runtime/host/ne.h runtime/host/ne-errors.c runtime/host/ne-errors.h \
	runtime/host/hugepages.c runtime/host/hugepages.h runtime/host/heartbeat.c \
	runtime/host/heartbeat.h runtime/host/backend-nitro.c \
	runtime/host/backend-qemu.c runtime/host/backend-qemu.h \
	runtime/host/qemu-support.c runtime/host/qemu-support.h \
	runtime/host/launcher.h runtime/host/launcher.c \
	runtime/evloop.c runtime/evloop.h \
	runtime/host/hostsvc.h runtime/host/services.c runtime/host/services.h \
	runtime/host/egress.c runtime/host/nsm-emu.c \
	runtime/net/http.c runtime/net/http.h runtime/net/relay.c runtime/net/relay.h \
	runtime/net/egressproto.c runtime/net/egressproto.h \
	runtime/host/streams.c runtime/host/streams.h \
	runtime/host/state.c runtime/host/state.h \
	runtime/host/backend-local.c runtime/host/backend-local.h \
	runtime/transport.c runtime/transport.h runtime/rtutil.c runtime/rtutil.h
runtime_host_libenclaver_host_la_CPPFLAGS = $(HOST_CPPFLAGS)
runtime_host_libenclaver_host_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
runtime_host_libenclaver_host_la_LIBADD = libenclaver.la libenclaver_common.la $(JANSSON_LIBS) \
	$(CRYPTO_LIBS) -lpthread

# The NE backend against the fake device (tests/runtime/fake-ne.c).
check_PROGRAMS += tests/runtime/test-ne
TESTS += tests/runtime/test-ne
tests_runtime_test_ne_SOURCES = tests/runtime/test-ne.c tests/runtime/fake-ne.c \
	tests/runtime/fake-ne.h tests/tap.h
tests_runtime_test_ne_CPPFLAGS = $(HOST_CPPFLAGS) -I$(top_srcdir) -I$(top_srcdir)/tests/runtime \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_runtime_test_ne_CFLAGS = $(AM_CFLAGS)
tests_runtime_test_ne_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_common.la

# Benchmark (not in make check): `make bench-ne` times a 1 GiB EIF load into the fake
# device against memcpy and reports the launcher's own peak RSS (docs/performance.md).
EXTRA_PROGRAMS = bench/ne-launch-bench
bench_ne_launch_bench_SOURCES = bench/ne-launch-bench.c tests/runtime/fake-ne.c \
	tests/runtime/fake-ne.h
bench_ne_launch_bench_CPPFLAGS = $(HOST_CPPFLAGS) -I$(top_srcdir)/tests/runtime
bench_ne_launch_bench_CFLAGS = $(AM_CFLAGS)
bench_ne_launch_bench_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_common.la
CLEANFILES += bench/ne-launch-bench$(EXEEXT)

bench-ne: bench/ne-launch-bench$(EXEEXT)
	BENCH_NE='$(abs_top_builddir)/bench/ne-launch-bench$(EXEEXT)' \
	  $(SHELL) $(top_srcdir)/bench/ne-launch.sh
.PHONY: bench-ne

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
tests_runtime_test_launcher_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_common.la $(JANSSON_LIBS)
tests_runtime_launcher_local_SOURCES = tests/runtime/launcher-local.c
tests_runtime_launcher_local_CPPFLAGS = $(LAUNCHER_TEST_CPPFLAGS)
tests_runtime_launcher_local_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_runtime_launcher_local_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_common.la \
	$(JANSSON_LIBS)
EXTRA_DIST += tests/runtime/launcher-ps.sh

# Emulation (docs/run.md): the transport's tcp: addresses and vsock mapping, the
# init's module and NIC helpers (test-emu), and the QEMU backend booting a real EIF
# (test-qemu.sh drives test-qemu; it skips without QEMU or the default kernel).
check_PROGRAMS += tests/runtime/test-emu tests/runtime/test-qemu
TESTS += tests/runtime/test-emu tests/runtime/test-qemu.sh
EXTRA_DIST += tests/runtime/test-qemu.sh
tests_runtime_test_emu_SOURCES = tests/runtime/test-emu.c tests/tap.h \
	runtime/transport.c runtime/transport.h runtime/rtutil.c runtime/rtutil.h \
	runtime/init/emu.c runtime/init/emu.h runtime/init/initlib.c runtime/init/initlib.h
tests_runtime_test_emu_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/runtime -I$(top_srcdir)
tests_runtime_test_emu_CFLAGS = $(AM_CFLAGS)
tests_runtime_test_emu_LDADD = libenclaver_common.la
tests_runtime_test_qemu_SOURCES = tests/runtime/test-qemu.c tests/tap.h
tests_runtime_test_qemu_CPPFLAGS = $(HOST_CPPFLAGS) -I$(top_srcdir)
tests_runtime_test_qemu_CFLAGS = $(AM_CFLAGS)
tests_runtime_test_qemu_LDADD = runtime/host/libenclaver-host.la libenclaver.la libenclaver_common.la
# Ingress, the host half (runtime/host/ingress.c; docs/network.md "Ingress").
runtime_host_libenclaver_host_la_SOURCES += runtime/host/ingress.c runtime/host/ingress.h

# enclaver-run: the release image's entrypoint (cli/enclaver-run.c, docs/image.md), the
# `enclaver run` front end over local files only.  Static (no NEEDED entries: the image
# holds no libraries), so it is linked from the sources it needs -- the EIF reader, the
# manifest parser, the host launcher -- and never from libenclaver, whose libarchive,
# curl and Lua it does not use.  emit-image installs it as /usr/local/bin/enclaver-run.
pkglibexec_PROGRAMS += runtime/enclaver-run
runtime_enclaver_run_SOURCES = cli/enclaver-run.c cli/cmd_run.c cli/run.h cli/common.c \
	cli/commands.h cli/eif-common.c cli/eif-common.h \
	core/error.c core/log.c core/util.c core/util.h core/tempfiles.c \
	core/digest-worker.c core/digest-worker.h core/oci/pathlike.c \
	core/manifest/manifest.c core/manifest/walk.c core/manifest/schema.c \
	core/manifest/yaml.c core/manifest/internal.h \
	$(EIF_LIB_SOURCES) $(runtime_host_libenclaver_host_la_SOURCES)
runtime_enclaver_run_CPPFLAGS = $(HOST_CPPFLAGS) -I$(top_srcdir)
runtime_enclaver_run_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS) $(CRYPTO_CFLAGS) \
	$(ZLIB_CFLAGS) -DENCLAVER_NO_ISAL -pthread $(RUNTIME_PREFIX_MAP)
runtime_enclaver_run_LDADD = libenclaver_common.la $(JANSSON_LIBS) $(YAML_LIBS) $(CRYPTO_LIBS) \
	$(ZLIB_LIBS) -lpthread
runtime_enclaver_run_LDFLAGS = $(RUNTIME_STATIC)
