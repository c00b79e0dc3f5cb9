# common/: the helper library shared by the core and the in-enclave runtime (allocation,
# safe I/O, paths, JSON lines, the log line format).  libc only: it is linked into
# libenclaver (through libenclaver_util.la), into each program that uses the hidden
# helpers, and statically into runtime/enclaver-init and runtime/enclaver-supervisor.
# Built with the reproducible prefix map because its code ends up inside EIFs (the
# runtime binaries), whose PCRs hash their bytes.  The source names the compiler sees
# depend on how configure was called: `../configure` gives `../runtime/x.c`, an absolute
# path gives `/src/runtime/x.c`; both become `./runtime/x.c`, so a build host's binaries
# do not depend on it (the first map is tried last: GCC tries the last given first).
REPRO_PREFIX_MAP = -ffile-prefix-map=$(top_srcdir)=. \
	-ffile-prefix-map=$(abs_top_srcdir)=. -ffile-prefix-map=$(abs_top_builddir)=.

noinst_LTLIBRARIES += libenclaver_common.la
libenclaver_common_la_SOURCES = common/base.h \
	common/xalloc.c common/xalloc.h common/fdio.c common/fdio.h \
	common/paths.c common/paths.h common/strbuf.c common/strbuf.h \
	common/jsonl.c common/jsonl.h common/logline.c common/logline.h
libenclaver_common_la_SOURCES += common/cbor.c common/cbor.h
libenclaver_common_la_CFLAGS = $(AM_CFLAGS) $(REPRO_PREFIX_MAP)
# The egress allow/deny policy (docs/network.md, "Egress policy"): the manifest's lint,
# the in-enclave proxy and the host half share it.
libenclaver_common_la_SOURCES += common/netpolicy.c common/netpolicy.h
