# enclaver.yaml: parser/validator (libenclaver), and its tests.
libenclaver_la_SOURCES += core/manifest/manifest.c core/manifest/walk.c core/manifest/schema.c \
	core/manifest/yaml.c core/manifest/internal.h

check_PROGRAMS += tests/manifest/test-manifest
tests_manifest_test_manifest_SOURCES = tests/manifest/test-manifest.c tests/tap.h
tests_manifest_test_manifest_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_manifest_test_manifest_LDADD = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
TESTS += tests/manifest/test-manifest tests/manifest/cli.sh
# One YAML file per case, with NAME.expect (and golden .json files) alongside.
EXTRA_DIST += tests/manifest/cli.sh tests/manifest/cases
