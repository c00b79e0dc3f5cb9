# Core tests: error/log helpers, context, loader, pipeline runner, CLI.
TEST_PLUGIN_LINK = -module -avoid-version -shared -rpath /nowhere
TEST_PLUGIN_CC = $(AM_CFLAGS) $(DEPS_CFLAGS)

check_LTLIBRARIES += tests/plugins/rec-a.la tests/plugins/rec-b.la tests/plugins/rec-c.la \
	tests/plugins/rec-dup.la tests/plugins/bad-major.la tests/plugins/bad-minor.la \
	tests/plugins/bad-short.la tests/plugins/no-sym.la tests/plugins/unloadable.la \
	tests/plugins/bad-name.la

tests_plugins_rec_a_la_SOURCES = tests/plugins/recorder.c
tests_plugins_rec_a_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTAGE_NAME='"rec-a"'
tests_plugins_rec_a_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_rec_a_la_LDFLAGS = $(TEST_PLUGIN_LINK) -export-symbols-regex '^enclaver_stage_descriptor$$'
tests_plugins_rec_a_la_LIBADD = libenclaver.la
tests_plugins_rec_b_la_SOURCES = tests/plugins/recorder.c
tests_plugins_rec_b_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTAGE_NAME='"rec-b"'
tests_plugins_rec_b_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_rec_b_la_LDFLAGS = $(TEST_PLUGIN_LINK) -export-symbols-regex '^enclaver_stage_descriptor$$'
tests_plugins_rec_b_la_LIBADD = libenclaver.la
tests_plugins_rec_c_la_SOURCES = tests/plugins/recorder.c
tests_plugins_rec_c_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTAGE_NAME='"rec-c"'
tests_plugins_rec_c_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_rec_c_la_LDFLAGS = $(TEST_PLUGIN_LINK) -export-symbols-regex '^enclaver_stage_descriptor$$'
tests_plugins_rec_c_la_LIBADD = libenclaver.la
tests_plugins_rec_dup_la_SOURCES = tests/plugins/recorder.c
tests_plugins_rec_dup_la_CPPFLAGS = $(AM_CPPFLAGS) -DSTAGE_NAME='"rec-a"'
tests_plugins_rec_dup_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_rec_dup_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_rec_dup_la_LIBADD = libenclaver.la
tests_plugins_bad_major_la_SOURCES = tests/plugins/broken.c
tests_plugins_bad_major_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_MAJOR
tests_plugins_bad_major_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_bad_major_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_bad_minor_la_SOURCES = tests/plugins/broken.c
tests_plugins_bad_minor_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_MINOR
tests_plugins_bad_minor_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_bad_minor_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_bad_short_la_SOURCES = tests/plugins/broken.c
tests_plugins_bad_short_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_SHORT
tests_plugins_bad_short_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_bad_short_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_no_sym_la_SOURCES = tests/plugins/broken.c
tests_plugins_no_sym_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_NOSYM
tests_plugins_no_sym_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_no_sym_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_unloadable_la_SOURCES = tests/plugins/broken.c
tests_plugins_unloadable_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_UNLOADABLE
tests_plugins_unloadable_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_unloadable_la_LDFLAGS = $(TEST_PLUGIN_LINK)
tests_plugins_bad_name_la_SOURCES = tests/plugins/broken.c
tests_plugins_bad_name_la_CPPFLAGS = $(AM_CPPFLAGS) -DBROKEN_BADNAME
tests_plugins_bad_name_la_CFLAGS = $(TEST_PLUGIN_CC)
tests_plugins_bad_name_la_LDFLAGS = $(TEST_PLUGIN_LINK)

CORE_TEST_LIBS = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
CORE_TEST_CC = $(AM_CFLAGS) $(DEPS_CFLAGS)

check_PROGRAMS += tests/core/test-error tests/core/test-context tests/core/test-loader \
	tests/core/test-pipeline
TESTS += tests/core/test-error tests/core/test-context tests/core/test-loader \
	tests/core/test-pipeline tests/cli/cli.sh tests/cli/usage.sh tests/cli/nitro.sh tests/cli/install.sh
TESTS += tests/cli/signals.sh tests/core/test-tempfiles tests/cli/image-pcrs.sh
EXTRA_DIST += tests/cli/signals.sh tests/cli/image-pcrs.sh
# A FIFO, socket or device where a file is read by name: a quick clear error (issue 19).
TESTS += tests/cli/fifo.sh
EXTRA_DIST += tests/cli/fifo.sh
check_PROGRAMS += tests/core/test-tempfiles
tests_core_test_tempfiles_SOURCES = tests/core/test-tempfiles.c tests/tap.h
tests_core_test_tempfiles_CFLAGS = $(CORE_TEST_CC) -pthread
tests_core_test_tempfiles_LDADD = $(CORE_TEST_LIBS)
tests_core_test_tempfiles_LDFLAGS = -pthread
EXTRA_DIST += tests/tap.h tests/lib.sh tests/cli/cli.sh tests/cli/usage.sh tests/cli/nitro.sh tests/cli/install.sh

# The shell helpers bail out on a wrong argument count (tests/lib.sh).
TESTS += tests/lib-selftest.sh
EXTRA_DIST += tests/lib-selftest.sh
# The deployment examples: systemd-analyze verify of the unit, a start/stop cycle under
# emulation (by systemd as PID 1, else a user manager in namespaces), the Kubernetes
# Deployment's keys (issue 17).
TESTS += tests/deploy/examples.sh tests/deploy/release-image.sh
EXTRA_DIST += tests/deploy/examples.sh tests/deploy/release-image.sh examples/systemd/enclaver@.service \
	examples/systemd/enclaver@hello.service.d/image.conf \
	examples/systemd/enclaver@hello.service.d/emulation.conf.example \
	examples/kubernetes/deployment.yaml

tests_core_test_error_SOURCES = tests/core/test-error.c
tests_core_test_error_CFLAGS = $(CORE_TEST_CC)
tests_core_test_error_LDADD = $(CORE_TEST_LIBS)
tests_core_test_context_SOURCES = tests/core/test-context.c
tests_core_test_context_CFLAGS = $(CORE_TEST_CC)
tests_core_test_context_LDADD = $(CORE_TEST_LIBS)
tests_core_test_loader_SOURCES = tests/core/test-loader.c tests/core/testlib.h
tests_core_test_loader_CFLAGS = $(CORE_TEST_CC)
tests_core_test_loader_LDADD = $(CORE_TEST_LIBS)
tests_core_test_pipeline_SOURCES = tests/core/test-pipeline.c tests/core/testlib.h
tests_core_test_pipeline_CFLAGS = $(CORE_TEST_CC)
tests_core_test_pipeline_LDADD = $(CORE_TEST_LIBS)

# enclaver build end to end (issue 5).
TESTS += tests/build/build.sh
EXTRA_DIST += tests/build/build.sh tests/build/mkoci.py tests/build/eifcheck.py
# Checks before the first stage, architectures of injected programs, provenance (issue 12).
TESTS += tests/build/checks.sh tests/build/provenance.sh
EXTRA_DIST += tests/build/checks.sh tests/build/provenance.sh
# Cross-architecture enclaves (docs/cross-arch.md): the other architecture's EIF and
# release image from this host, every program in them built for it.
TESTS += tests/build/cross-arch.sh tests/build/multi-platform.sh
EXTRA_DIST += tests/build/cross-arch.sh tests/build/multi-platform.sh
AM_TESTS_ENVIRONMENT += CROSS_CC='$(CROSS_CC)'; export CROSS_CC;
# The same across build hosts: this x86_64 host's runtime of both architectures against
# an emulated arm64 host's (scripts/arm64-root.sh).  Long (the emulated build), so not in
# make check: make check-cross-host (docs/cross-arch.md "Across build hosts").
EXTRA_DIST += tests/build/cross-host.sh
check-cross-host:
	ENCLAVER_CROSS_HOST=1 $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/build/cross-host.sh
.PHONY: check-cross-host

# QEMU boot of the quick-start example (issue 6).
TESTS += tests/boot/boot.sh
EXTRA_DIST += tests/boot/boot.sh
# An aarch64 EIF booted under qemu-system-aarch64 (issue 21, docs/cross-arch.md).
TESTS += tests/boot/arm64.sh
EXTRA_DIST += tests/boot/arm64.sh
# The network end to end under QEMU: egress through "host", a denied name, ingress
# through --publish (issue 15).  netapp is static like the example: it runs in the EIF.
check_PROGRAMS += tests/boot/netapp
tests_boot_netapp_SOURCES = tests/boot/netapp.c
tests_boot_netapp_CFLAGS = $(WARN_CFLAGS) -O2
tests_boot_netapp_LDFLAGS = -all-static
TESTS += tests/boot/net.sh
EXTRA_DIST += tests/boot/net.sh

# Crash consistency (issue 19): builds and pulls killed with SIGKILL/SIGTERM/SIGINT at
# random moments and between renames, parallel builds sharing a cache.  make check
# kills CRASH_ROUNDS=3 times per signal and command and each rename with one signal;
# check-crash-long 20 times, and every rename with both SIGKILL and SIGTERM.
TESTS += tests/crash/kill.sh
EXTRA_DIST += tests/crash/kill.sh tests/crash/crashkit.py
CRASH_LONG_ROUNDS = 20
check-crash-long:
	CRASH_ROUNDS=$(CRASH_LONG_ROUNDS) CRASH_RENAME_BOTH=yes $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/crash/kill.sh
.PHONY: check-crash-long
