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

# libFuzzer target for the reader: `make fuzz` (needs clang); not part of `make check`.
#   ./tests/fuzz/fuzz_eif_reader -max_total_time=60 corpus   (seeds: see docs/eif.md)
FUZZ_CC = clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
EXTRA_DIST += tests/fuzz/fuzz_eif_reader.c
fuzz: tests/fuzz/fuzz_eif_reader
tests/fuzz/fuzz_eif_reader: $(top_srcdir)/tests/fuzz/fuzz_eif_reader.c $(EIF_LIB_SOURCES:%=$(top_srcdir)/%)
	@$(MKDIR_P) tests/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -std=gnu11 $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) \
	  $(DEPS_CFLAGS) -pthread -o $@ $(top_srcdir)/tests/fuzz/fuzz_eif_reader.c \
	  $(filter %.c,$(EIF_LIB_SOURCES:%=$(top_srcdir)/%)) $(top_srcdir)/core/util.c $(top_srcdir)/core/digest-worker.c \
	  $(top_srcdir)/core/error.c $(top_srcdir)/core/log.c $(top_srcdir)/core/tempfiles.c \
	  $(filter %.c,$(libenclaver_common_la_SOURCES:%=$(top_srcdir)/%)) $(DEPS_LIBS)
CLEANFILES += tests/fuzz/fuzz_eif_reader
.PHONY: fuzz
