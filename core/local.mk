# libenclaver: the core shared library.  Only enclaver_* is exported (libenclaver.sym).
noinst_LTLIBRARIES += libenclaver_util.la
libenclaver_util_la_SOURCES = core/util.c core/util.h
libenclaver_util_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)

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
