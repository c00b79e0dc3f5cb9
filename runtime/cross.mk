# The other architecture's runtime (docs/cross-arch.md): enclaver-init,
# enclaver-supervisor and enclaver-run built with the cross compiler configure found
# (CROSS_CC, for CROSS_ARCH) from the same sources as the host's, into
# runtime/$(CROSS_ARCH)/ of the build tree and $(pkglibexecdir)/$(CROSS_ARCH)/ when
# installed, where enclaver_find_runtime_program() looks for them.  Plain make rules,
# not automake programs: automake and libtool know one compiler only.  Static always,
# without the sanitizers (the EIF of a sanitizer build still gets runnable binaries).
#
# The flags follow the host programs' (runtime/local.mk, runtime/host/local.mk) so the
# cross-built files are what a native build on the other architecture compiles; the
# pkg-config *_CFLAGS are the host's and are left out (Debian's are empty: the cross
# compiler finds the multiarch headers and libraries by itself).
if HAVE_CROSS_RUNTIME
XRT = runtime/$(CROSS_ARCH)
XRT_BINS = $(XRT)/enclaver-init $(XRT)/enclaver-supervisor $(XRT)/enclaver-run
XRT_CFLAGS = $(WARN_CFLAGS) $(REPRO_PREFIX_MAP) $(CROSS_CFLAGS)
XRT_DEFS = $(DEFS) $(DEFAULT_INCLUDES) $(CROSS_SYS_CPPFLAGS)
XRT_LDFLAGS = $(CROSS_SYS_LDFLAGS)
# With the other architecture's own libc and gcc files (configure: CROSS_SYS_*), the
# binaries are the bytes a native build of that architecture makes (docs/cross-arch.md,
# "Across build hosts"), but for the ident string each object carries in .comment: the
# cross compiler's names its Debian revision, which is not the native compiler's.  Each
# object gets the native one instead, taken from the native crtbeginT.o (CROSS_CRTBEGIN).
# The section is replaced, not removed: the linker numbers every input section, and on
# aarch64 those numbers are in the names of its erratum-843419 stubs (e843419@...) in
# .strtab, so a removed section per object shifts them.  (-fno-ident would drop it too,
# but gcc records it in the debug info's DW_AT_producer.)
if CROSS_NATIVE_SYS
XRT_IDENT = $(XRT)/obj/native-ident
XRT_NOIDENT = && $(CROSS_OBJCOPY) --update-section .comment=$(XRT_IDENT) $@.tmp
$(XRT_IDENT): $(CROSS_CRTBEGIN)
	@$(MKDIR_P) $(@D)
	$(AM_V_GEN)$(CROSS_OBJCOPY) --dump-section .comment=$@.tmp $(CROSS_CRTBEGIN) $@.junk \
	  && rm -f $@.junk && test -s $@.tmp && mv $@.tmp $@
else
XRT_IDENT =
XRT_NOIDENT =
endif

# The common objects are PIC as the host's libtool convenience library's
# (CROSS_PIC_CFLAGS, configure.ac).
XRT_COMMON_OBJS = $(patsubst %.c,$(XRT)/obj/common/%.o,$(filter %.c,$(libenclaver_common_la_SOURCES)))
XRT_INIT_OBJS = $(patsubst %.c,$(XRT)/obj/init/%.o,$(filter %.c,$(runtime_enclaver_init_SOURCES)))
XRT_SV_OBJS = $(patsubst %.c,$(XRT)/obj/sv/%.o,$(filter %.c,$(runtime_enclaver_supervisor_SOURCES)))
XRT_RUN_OBJS = $(patsubst %.c,$(XRT)/obj/run/%.o,$(filter %.c,$(runtime_enclaver_run_SOURCES)))
XRT_OBJS = $(XRT_COMMON_OBJS) $(XRT_INIT_OBJS) $(XRT_SV_OBJS) $(XRT_RUN_OBJS)

$(XRT)/obj/common/%.o: $(top_srcdir)/%.c config.h $(XRT_IDENT)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CROSS_CC) $(XRT_DEFS) $(AM_CPPFLAGS) $(XRT_CFLAGS) $(CROSS_PIC_CFLAGS) -MMD -MP -MT $@ -MF $(@:.o=.d) -c -o $@.tmp $< $(XRT_NOIDENT) && mv $@.tmp $@
$(XRT)/obj/init/%.o: $(top_srcdir)/%.c config.h $(XRT_IDENT)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CROSS_CC) $(XRT_DEFS) $(RUNTIME_CPPFLAGS) $(XRT_CFLAGS) -MMD -MP -MT $@ -MF $(@:.o=.d) -c -o $@.tmp $< $(XRT_NOIDENT) && mv $@.tmp $@
$(XRT)/obj/sv/%.o: $(top_srcdir)/%.c config.h $(XRT_IDENT)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CROSS_CC) $(XRT_DEFS) $(RUNTIME_CPPFLAGS) $(XRT_CFLAGS) -MMD -MP -MT $@ -MF $(@:.o=.d) -c -o $@.tmp $< $(XRT_NOIDENT) && mv $@.tmp $@
$(XRT)/obj/run/%.o: $(top_srcdir)/%.c config.h $(XRT_IDENT)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CROSS_CC) $(XRT_DEFS) $(HOST_CPPFLAGS) -I$(top_srcdir) $(XRT_CFLAGS) -DENCLAVER_NO_ISAL -pthread \
	  -MMD -MP -MT $@ -MF $(@:.o=.d) -c -o $@.tmp $< $(XRT_NOIDENT) && mv $@.tmp $@
-include $(XRT_OBJS:.o=.d)

$(XRT)/libcommon.a: $(XRT_COMMON_OBJS)
	$(AM_V_AR)rm -f $@ && $(CROSS_AR) crD $@.tmp $(XRT_COMMON_OBJS) && mv $@.tmp $@
$(XRT)/enclaver-init: $(XRT_INIT_OBJS) $(XRT)/libcommon.a
	$(AM_V_CCLD)$(CROSS_CC) $(XRT_CFLAGS) $(XRT_LDFLAGS) -static -o $@.tmp $(XRT_INIT_OBJS) $(XRT)/libcommon.a && mv $@.tmp $@
$(XRT)/enclaver-supervisor: $(XRT_SV_OBJS) $(XRT)/libcommon.a
	$(AM_V_CCLD)$(CROSS_CC) $(XRT_CFLAGS) $(XRT_LDFLAGS) -static -o $@.tmp $(XRT_SV_OBJS) $(XRT)/libcommon.a \
	  -ljansson -lssl -lcrypto -lpthread && mv $@.tmp $@
$(XRT)/enclaver-run: $(XRT_RUN_OBJS) $(XRT)/libcommon.a
	$(AM_V_CCLD)$(CROSS_CC) $(XRT_CFLAGS) $(XRT_LDFLAGS) -pthread -static -o $@.tmp $(XRT_RUN_OBJS) $(XRT)/libcommon.a \
	  -ljansson -lyaml -lcrypto -lz -lpthread && mv $@.tmp $@

all-cross-runtime: $(XRT_BINS)
# $(INSTALL), not $(INSTALL_PROGRAM): install-strip's host strip cannot read them.
install-cross-runtime: $(XRT_BINS)
	@$(NORMAL_INSTALL)
	$(MKDIR_P) '$(DESTDIR)$(pkglibexecdir)/$(CROSS_ARCH)'
	$(INSTALL) -m 755 $(XRT_BINS) '$(DESTDIR)$(pkglibexecdir)/$(CROSS_ARCH)'
uninstall-cross-runtime:
	@$(NORMAL_UNINSTALL)
	for f in $(XRT_BINS); do rm -f "$(DESTDIR)$(pkglibexecdir)/$(CROSS_ARCH)/$${f##*/}"; done
	-rmdir '$(DESTDIR)$(pkglibexecdir)/$(CROSS_ARCH)' 2>/dev/null
clean-cross-runtime:
	-rm -rf $(XRT)
else
all-cross-runtime:
install-cross-runtime:
uninstall-cross-runtime:
clean-cross-runtime:
endif
all-local: all-cross-runtime
install-exec-local: install-cross-runtime
uninstall-local: uninstall-cross-runtime
clean-local: clean-cross-runtime
.PHONY: all-cross-runtime install-cross-runtime uninstall-cross-runtime clean-cross-runtime
EXTRA_DIST += runtime/cross.mk
