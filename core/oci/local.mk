# OCI sources, registry client, blob cache, and the fetch stage.
libenclaver_la_SOURCES += core/oci/oci.h core/oci/registry-internal.h core/oci/push.c core/oci/progress.c core/oci/copy.c core/oci/copy-archive.c core/oci/digest.c core/oci/ref.c core/oci/pathlike.c core/oci/platform.c \
	core/oci/doc.c core/oci/cache.c core/oci/archive.c core/oci/archive-write.c core/oci/layer.c core/oci/auth.c \
	core/oci/registry.c core/oci/image.c core/oci/dir.c core/oci/docker-daemon.c
enclaverinclude_HEADERS += include/enclaver/image.h include/enclaver/cache.h

ENCLAVER_STAGES += stages/fetch.la
stages_fetch_la_SOURCES = stages/fetch/fetch.c
stages_fetch_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
stages_fetch_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
stages_fetch_la_LIBADD = $(STAGE_MODULE_LIBS)

# Tests.  test-oci-unit compiles the internal sources it exercises directly.
OCI_TEST_LIBS = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
check_PROGRAMS += tests/oci/test-oci-unit tests/oci/test-oci-layer
TESTS += tests/oci/test-oci-unit tests/oci/test-oci-layer tests/oci/local.sh tests/oci/registry.sh tests/oci/faults.sh tests/oci/push.sh \
	tests/oci/stage.sh tests/oci/transports.sh tests/oci/sources.sh tests/oci/daemon.sh
TESTS += tests/oci/cache.sh tests/oci/fetchlog.sh tests/oci/copy-archive.sh tests/oci/progress.sh tests/oci/tls.sh
EXTRA_DIST += tests/oci/cache.sh tests/oci/fetchlog.sh tests/oci/copy-archive.sh tests/oci/progress.sh tests/oci/tls.sh tests/oci/ptyrun.py docs/cache.md
EXTRA_DIST += tests/oci/transports.sh tests/oci/sources.sh tests/oci/daemon.sh tests/oci/contained.sh tests/oci/local.sh tests/oci/registry.sh tests/oci/faults.sh tests/oci/push.sh tests/oci/stage.sh tests/oci/ocitest.sh tests/oci/tokenserver.py \
	tests/oci/faultproxy.py tests/oci/mkimage.py

tests_oci_test_oci_unit_SOURCES = tests/oci/test-oci-unit.c core/oci/ref.c core/oci/pathlike.c core/oci/platform.c \
	core/oci/doc.c core/oci/digest.c core/oci/auth.c core/oci/registry.c core/oci/progress.c core/oci/cache.c
tests_oci_test_oci_unit_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_oci_test_oci_unit_LDADD = $(OCI_TEST_LIBS)

tests_oci_test_oci_layer_SOURCES = tests/oci/test-oci-layer.c
tests_oci_test_oci_layer_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_oci_test_oci_layer_LDADD = $(OCI_TEST_LIBS)
