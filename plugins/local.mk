# Optional stage plugins (issue 18), one folder each: built and installed with the
# built-in stages, never in the default stack; a manifest names them in `pipeline:`.
# Their shared helpers are a convenience library linked into each module.
noinst_LTLIBRARIES += plugins/libplugin-util.la
plugins_libplugin_util_la_SOURCES = plugins/common/plugin-util.c plugins/common/plugin-util.h
plugins_libplugin_util_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS) -fPIC
PLUGIN_LIBS = $(STAGE_MODULE_LIBS) plugins/libplugin-util.la $(CRYPTO_LIBS)

ENCLAVER_STAGES += plugins/prune.la
plugins_prune_la_SOURCES = plugins/prune/prune.c
plugins_prune_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
plugins_prune_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
plugins_prune_la_LIBADD = $(PLUGIN_LIBS) $(JANSSON_LIBS)

ENCLAVER_STAGES += plugins/pcr-pin.la
plugins_pcr_pin_la_SOURCES = plugins/pcr-pin/pcr-pin.c
plugins_pcr_pin_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
plugins_pcr_pin_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
plugins_pcr_pin_la_LIBADD = $(PLUGIN_LIBS) $(JANSSON_LIBS)

# provenance (issue 18): in-toto/SLSA provenance of the EIF, DSSE-signed with the PCR8 key.
ENCLAVER_STAGES += plugins/provenance.la
plugins_provenance_la_SOURCES = plugins/provenance/provenance.c
plugins_provenance_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
plugins_provenance_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
plugins_provenance_la_LIBADD = $(PLUGIN_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)

# sbom (issue 18 part A): SPDX 2.3 JSON of the rootfs, docs/plugins/sbom.md.
ENCLAVER_STAGES += plugins/sbom.la
plugins_sbom_la_SOURCES = plugins/sbom/sbom.c
plugins_sbom_la_CFLAGS = $(AM_CFLAGS) $(DEPS_CFLAGS)
plugins_sbom_la_LDFLAGS = $(AM_LDFLAGS) $(STAGE_MODULE_FLAGS)
plugins_sbom_la_LIBADD = $(PLUGIN_LIBS) $(JANSSON_LIBS)
