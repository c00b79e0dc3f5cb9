# libFuzzer targets, one per parser (docs/reliability.md lists them and the last long
# run).  `make fuzz` builds them with clang (-fsanitize=fuzzer,address,undefined);
# `make check` runs each over its seed corpus for a fixed number of executions
# (tests/fuzz/smoke.sh); `make fuzz-long` runs each for FUZZ_LONG_SECONDS (an hour).
#
# The sources are compiled once with the fuzzing flags into tests/fuzz/obj/ (mirroring
# the source tree) and archived per side: the core (libenclaver's sources, the parsers of
# the build side and the Lua binding), the supervisor (RUNTIME_SV_SOURCES) and the host
# launcher (its library).  A target links its own file against the archives it needs,
# so the linker takes from them only the objects its parser reaches.
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CPPFLAGS = $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) -I$(top_srcdir) -I$(top_srcdir)/runtime \
	-I$(top_srcdir)/runtime/host
FUZZ_COMPILE = $(FUZZ_CC) $(FUZZ_FLAGS) -std=gnu11 $(WARN_CFLAGS) $(FUZZ_CPPFLAGS) $(DEPS_CFLAGS) -pthread
FUZZ_OBJ = tests/fuzz/obj
fuzz_objs = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(filter %.c,$(1)))

FUZZ_CORE_SRCS = $(libenclaver_la_SOURCES) $(libenclaver_util_la_SOURCES) $(libenclaver_common_la_SOURCES)
FUZZ_SV_SRCS = $(RUNTIME_SV_SOURCES)
FUZZ_HOST_SRCS = $(runtime_host_libenclaver_host_la_SOURCES)
# Every object is rebuilt when a header changes (there is no dependency tracking here).
FUZZ_HDRS = $(filter %.h,$(FUZZ_CORE_SRCS) $(FUZZ_SV_SRCS) $(FUZZ_HOST_SRCS)) \
	$(enclaverinclude_HEADERS)

# The targets: tests/fuzz/NAME.c, seeds in tests/fuzz/corpus/NAME/, and a dictionary
# tests/fuzz/NAME.dict where the format has keywords.  FUZZ_CORE_TARGETS link the core
# archive, FUZZ_SV_TARGETS the supervisor's, FUZZ_HOST_TARGETS the host's and the core's.
FUZZ_CORE_TARGETS = fuzz_eif_reader fuzz_manifest fuzz_oci_doc fuzz_image_ref fuzz_www_authenticate fuzz_token \
	fuzz_docker_config fuzz_docker_archive fuzz_tree_apply fuzz_attest fuzz_cbor fuzz_lua
FUZZ_SV_TARGETS = fuzz_http fuzz_egress_frame fuzz_svconfig fuzz_sv_status fuzz_nsm
FUZZ_HOST_TARGETS = fuzz_host_status
FUZZ_NAMES = $(FUZZ_CORE_TARGETS) $(FUZZ_SV_TARGETS) $(FUZZ_HOST_TARGETS)
FUZZ_BINS = $(FUZZ_NAMES:%=tests/fuzz/%)

$(FUZZ_OBJ)/%.o: $(top_srcdir)/%.c $(FUZZ_HDRS:%=$(top_srcdir)/%) config.h
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_COMPILE) -c -o $@ $<

tests/fuzz/libfuzz-core.a: $(call fuzz_objs,$(FUZZ_CORE_SRCS))
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $^ && $(RANLIB) $@
tests/fuzz/libfuzz-sv.a: $(call fuzz_objs,$(FUZZ_SV_SRCS) $(libenclaver_common_la_SOURCES))
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $^ && $(RANLIB) $@
tests/fuzz/libfuzz-host.a: $(call fuzz_objs,$(FUZZ_HOST_SRCS))
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $^ && $(RANLIB) $@

FUZZ_LINK = $(FUZZ_CC) $(FUZZ_FLAGS) -pthread -o $@
$(FUZZ_CORE_TARGETS:%=tests/fuzz/%): tests/fuzz/%: $(FUZZ_OBJ)/tests/fuzz/%.o tests/fuzz/libfuzz-core.a
	$(AM_V_CCLD)$(FUZZ_LINK) $^ $(DEPS_LIBS)
$(FUZZ_SV_TARGETS:%=tests/fuzz/%): tests/fuzz/%: $(FUZZ_OBJ)/tests/fuzz/%.o tests/fuzz/libfuzz-sv.a
	$(AM_V_CCLD)$(FUZZ_LINK) $^ $(JANSSON_LIBS) $(SV_SSL_LIBS)
$(FUZZ_HOST_TARGETS:%=tests/fuzz/%): tests/fuzz/%: $(FUZZ_OBJ)/tests/fuzz/%.o tests/fuzz/libfuzz-host.a \
		tests/fuzz/libfuzz-core.a
	$(AM_V_CCLD)$(FUZZ_LINK) $^ $(DEPS_LIBS)

if HAVE_FUZZ
fuzz: $(FUZZ_BINS)
# The smoke run needs the targets: they are built before the tests run.
check_SCRIPTS = $(FUZZ_BINS)
else
fuzz:
	@echo "make fuzz: no clang that links -fsanitize=fuzzer was found by configure;" >&2
	@echo "install clang (scripts/setup-deps.sh) or pass FUZZ_CC=... to configure" >&2
	@exit 1
endif

# The smoke run of `make check`: every target over its seeds plus FUZZ_SMOKE_RUNS
# executions (fixed, not timed).  It skips, saying why, without clang.
FUZZ_SMOKE_RUNS = 2000
TESTS += tests/fuzz/smoke.sh
AM_TESTS_ENVIRONMENT += FUZZ_STATE='$(have_fuzz)'; export FUZZ_STATE; \
	FUZZ_NAMES='$(FUZZ_NAMES)'; export FUZZ_NAMES; \
	FUZZ_SMOKE_RUNS='$(FUZZ_SMOKE_RUNS)'; export FUZZ_SMOKE_RUNS;

# The long run: each target for FUZZ_LONG_SECONDS, one after the other, with its corpus
# kept in tests/fuzz/long/NAME (grown from the seeds) and crash inputs in
# tests/fuzz/long/NAME-crash-*.  FUZZ_LONG_TARGETS picks some of them.
FUZZ_LONG_SECONDS = 3600
FUZZ_LONG_TARGETS = $(FUZZ_NAMES)
fuzz-long: fuzz
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	  $(SHELL) $(top_srcdir)/tests/fuzz/long.sh $(FUZZ_LONG_SECONDS) $(FUZZ_LONG_TARGETS)
.PHONY: fuzz fuzz-long

# Dictionaries: the formats with keywords (the EIF reader and the Lua generator have none).
FUZZ_DICTS = $(filter-out tests/fuzz/fuzz_eif_reader.dict tests/fuzz/fuzz_lua.dict,$(FUZZ_NAMES:%=tests/fuzz/%.dict))
EXTRA_DIST += $(FUZZ_NAMES:%=tests/fuzz/%.c) tests/fuzz/fuzz.h tests/fuzz/smoke.sh tests/fuzz/long.sh \
	tests/fuzz/corpus $(FUZZ_DICTS)
CLEANFILES += $(FUZZ_BINS) tests/fuzz/libfuzz-core.a tests/fuzz/libfuzz-sv.a tests/fuzz/libfuzz-host.a
