# Built-in stage plugins (one folder each).  fetch is built from core/oci/local.mk,
# flatten from core/tree/local.mk.

ENCLAVER_STAGES += stages/inject.la stages/measure.la stages/emit-eif.la

stages_inject_la_SOURCES = stages/inject/inject.c
stages_inject_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
stages_inject_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
stages_inject_la_LIBADD = $(STAGE_MODULE_LIBS)

stages_measure_la_SOURCES = stages/measure/measure.c
stages_measure_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) -pthread
stages_measure_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS) -pthread
stages_measure_la_LIBADD = $(STAGE_MODULE_LIBS) $(JANSSON_LIBS)

stages_emit_eif_la_SOURCES = stages/emit-eif/emit-eif.c
stages_emit_eif_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
stages_emit_eif_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
stages_emit_eif_la_LIBADD = $(STAGE_MODULE_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)

ENCLAVER_STAGES += stages/emit-image.la
stages_emit_image_la_SOURCES = stages/emit-image/emit-image.c
stages_emit_image_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
stages_emit_image_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
stages_emit_image_la_LIBADD = $(STAGE_MODULE_LIBS) $(LIBARCHIVE_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
