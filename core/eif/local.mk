# EIF library (writer, reader, PCRs, signing).
EIF_LIB_SOURCES = core/eif/pcr.c core/eif/cbor.c core/eif/sign.c core/eif/writer.c core/eif/metadata.c \
	core/eif/reader.c core/eif/eif-internal.h
libenclaver_la_SOURCES += $(EIF_LIB_SOURCES)

# Golden data (reference vectors produced by AWS's eif_build; see docs/eif.md).
EIF_GOLDEN = golden/eif/kernel.bin golden/eif/cmdline.txt golden/eif/ramdisk0.cpio \
	golden/eif/ramdisk1.cpio golden/eif/sign-cert.pem golden/eif/sign-key.pem \
	golden/eif/vector1.eif golden/eif/README.md
EXTRA_DIST += $(EIF_GOLDEN) docs/eif.md

EIF_TEST_LDADD = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
check_PROGRAMS += tests/eif/test-eif tests/eif/test-eif-hostile tests/eif/test-eif-stream tests/eif/test-eif-push
TESTS += tests/eif/test-eif tests/eif/test-eif-hostile tests/eif/test-eif-stream tests/eif/test-eif-push tests/eif/cli.sh
EXTRA_DIST += tests/eif/cli.sh
tests_eif_test_eif_SOURCES = tests/eif/test-eif.c tests/eif/eif-test-util.h tests/tap.h
tests_eif_test_eif_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_eif_test_eif_LDADD = $(EIF_TEST_LDADD)
tests_eif_test_eif_hostile_SOURCES = tests/eif/test-eif-hostile.c tests/eif/eif-test-util.h tests/tap.h
tests_eif_test_eif_hostile_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_eif_test_eif_hostile_LDADD = $(EIF_TEST_LDADD)
tests_eif_test_eif_stream_SOURCES = tests/eif/test-eif-stream.c tests/tap.h
tests_eif_test_eif_stream_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_eif_test_eif_stream_LDADD = $(EIF_TEST_LDADD)
tests_eif_test_eif_push_SOURCES = tests/eif/test-eif-push.c tests/eif/eif-test-util.h tests/tap.h
tests_eif_test_eif_push_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_eif_test_eif_push_LDADD = $(EIF_TEST_LDADD)
# Its libFuzzer target (tests/fuzz/fuzz_eif_reader) is built by tests/fuzz/local.mk.
