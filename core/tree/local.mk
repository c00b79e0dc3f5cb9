# rootfs tree + content store + layer applier (core/tree), newc cpio writer (core/cpio),
# the flatten stage, and their tests.
libenclaver_la_SOURCES += core/tree/tree.c core/tree/apply.c core/tree/layer-file.c core/tree/tree-internal.h
enclaverinclude_HEADERS += include/enclaver/tree.h
libenclaver_la_SOURCES += core/cpio/cpio.c
enclaverinclude_HEADERS += include/enclaver/cpio.h

# tests
TREE_TEST_LIBS = libenclaver.la libenclaver_util.la $(DEPS_LIBS)
check_PROGRAMS += tests/tree/test-apply tests/tree/test-cpio tests/tree/test-umoci-benign \
	tests/tree/test-umoci-hostile tests/tree/test-flatten-stage
TESTS += tests/tree/test-apply tests/tree/test-cpio tests/tree/test-umoci-benign \
	tests/tree/test-umoci-hostile tests/tree/test-flatten-stage
tests_tree_test_apply_SOURCES = tests/tree/test-apply.c tests/tree/layergen.h
tests_tree_test_apply_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_apply_LDADD = $(TREE_TEST_LIBS)
tests_tree_test_cpio_SOURCES = tests/tree/test-cpio.c tests/tree/layergen.h
tests_tree_test_cpio_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_cpio_LDADD = $(TREE_TEST_LIBS)
# peer comparison with umoci: benign and hostile images, sharing umoci-peer.h
tests_tree_test_umoci_benign_SOURCES = tests/tree/test-umoci-benign.c tests/tree/umoci-peer.h \
	tests/tree/layergen.h
tests_tree_test_umoci_benign_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_umoci_benign_LDADD = $(TREE_TEST_LIBS)
tests_tree_test_umoci_hostile_SOURCES = tests/tree/test-umoci-hostile.c tests/tree/umoci-peer.h \
	tests/tree/layergen.h
tests_tree_test_umoci_hostile_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_umoci_hostile_LDADD = $(TREE_TEST_LIBS)
tests_tree_test_flatten_stage_SOURCES = tests/tree/test-flatten-stage.c tests/tree/layergen.h
tests_tree_test_flatten_stage_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_flatten_stage_LDADD = $(TREE_TEST_LIBS)
EXTRA_tests_tree_test_flatten_stage_DEPENDENCIES = stages/flatten.la
# memory of the flatten stage with many entries (issue 19)
TESTS += tests/tree/many-entries.sh
EXTRA_DIST += tests/tree/many-entries.sh tests/tree/manyentries.py
# gzip inflate: ISA-L against libarchive's gzip filter (ENCLAVER_INFLATE=zlib)
check_PROGRAMS += tests/tree/test-inflate
TESTS += tests/tree/test-inflate
tests_tree_test_inflate_SOURCES = tests/tree/test-inflate.c tests/tree/layergen.h
tests_tree_test_inflate_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_inflate_LDADD = $(TREE_TEST_LIBS)
# the layer pipeline (inflate thread, hashing threads, tar reader) on layers larger
# than its rings; errors early and late
check_PROGRAMS += tests/tree/test-layer-pipeline
TESTS += tests/tree/test-layer-pipeline
tests_tree_test_layer_pipeline_SOURCES = tests/tree/test-layer-pipeline.c tests/tree/layergen.h
tests_tree_test_layer_pipeline_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
tests_tree_test_layer_pipeline_LDADD = $(TREE_TEST_LIBS)

# the flatten stage
ENCLAVER_STAGES += stages/flatten.la
stages_flatten_la_SOURCES = stages/flatten/flatten.c
stages_flatten_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
stages_flatten_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
stages_flatten_la_LIBADD = $(STAGE_MODULE_LIBS)
