# libenclaver: the core shared library.  Only enclaver_* is exported (libenclaver.sym).
# libenclaver_util.la: the core's hidden helpers (core/util.c) together with the libc-only
# helpers of common/ (libenclaver_common.la, shared with the runtime); linked into
# libenclaver and into every program that calls the hidden helpers.
noinst_LTLIBRARIES += libenclaver_util.la
libenclaver_util_la_SOURCES = core/util.c core/util.h
libenclaver_util_la_CFLAGS = $(AM_CFLAGS)
libenclaver_util_la_LIBADD = libenclaver_common.la

lib_LTLIBRARIES += libenclaver.la
libenclaver_la_SOURCES = \
	core/error.c core/log.c core/context.c core/stage.c core/loader.c core/pipeline.c core/build.c \
	core/digest-worker.c core/digest-worker.h core/tempfiles.c \
	core/internal.h
libenclaver_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) -pthread
libenclaver_la_LIBADD = libenclaver_util.la $(DEPS_LIBS)
libenclaver_la_LDFLAGS = $(AM_LDFLAGS) -pthread -version-info 0:0:0 \
	-Wl,--version-script=$(top_srcdir)/core/libenclaver.sym
EXTRA_libenclaver_la_DEPENDENCIES = core/libenclaver.sym
EXTRA_DIST += core/libenclaver.sym

enclaverincludedir = $(includedir)/enclaver
enclaverinclude_HEADERS = include/enclaver/error.h include/enclaver/log.h \
	include/enclaver/stage.h include/enclaver/context.h include/enclaver/manifest.h \
	include/enclaver/loader.h include/enclaver/pipeline.h include/enclaver/eif.h \
	include/enclaver/build.h include/enclaver/tempfiles.h

# Tests of the error objects and log records (tests/core/test-error is in tests/local.mk).
check_PROGRAMS += tests/core/test-log tests/core/test-common
TESTS += tests/core/test-log tests/core/test-common
tests_core_test_log_SOURCES = tests/core/test-log.c tests/core/testlib.h tests/tap.h
tests_core_test_log_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_core_test_log_LDADD = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
# The common/ helpers alone: libc only, as the runtime links them.
tests_core_test_common_SOURCES = tests/core/test-common.c tests/tap.h
tests_core_test_common_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_core_test_common_LDADD = libenclaver_common.la $(JANSSON_LIBS)
TESTS += tests/core/log-json.sh
EXTRA_DIST += tests/core/log-json.sh
TESTS += tests/core/common-link.sh
EXTRA_DIST += tests/core/common-link.sh
