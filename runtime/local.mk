# In-enclave runtime: enclaver-supervisor and enclaver-init (static binaries, installed
# into $(pkglibexecdir) for the inject stage; uninstalled copies live in runtime/ of the
# build tree).  See docs/runtime.md.
if SANITIZERS
# The sanitizer runtimes cannot be linked statically; the sanitizer build checks the
# same code dynamically linked.
RUNTIME_STATIC =
else
RUNTIME_STATIC = -all-static
endif

RUNTIME_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/runtime
# The binaries end up inside EIFs, whose PCRs hash their bytes: keep build directories out
# of them (debug info), so the same toolchain gives the same bytes from any checkout
# (REPRO_PREFIX_MAP, common/local.mk; the common/ helpers are built with it too).
RUNTIME_PREFIX_MAP = $(REPRO_PREFIX_MAP)
# What the runtime shares with the core (allocation, safe I/O, JSON lines, the log line
# format) is the libc-only helper library of common/, linked in statically; nothing of
# libenclaver (libarchive, curl, Lua, ...) is.
RUNTIME_LIBS = libenclaver_common.la
SV_SSL_LIBS = -lssl -lcrypto
RUNTIME_COMMON = runtime/rtutil.c runtime/rtutil.h runtime/transport.c runtime/transport.h
RUNTIME_SV_SOURCES = $(RUNTIME_COMMON) runtime/nsm.c runtime/nsm.h \
	runtime/supervisor/svconfig.c runtime/supervisor/svconfig.h \
	runtime/supervisor/user.c runtime/supervisor/user.h \
	runtime/supervisor/launch.c runtime/supervisor/launch.h \
	runtime/supervisor/streams.c runtime/supervisor/streams.h \
	runtime/evloop.c runtime/evloop.h \
	runtime/supervisor/net.c runtime/supervisor/net.h \
	runtime/supervisor/services.c runtime/supervisor/services.h \
	$(RUNTIME_NET_SOURCES) runtime/net/egressproto.c runtime/net/egressproto.h \
	runtime/supervisor/egress.c
RUNTIME_INIT_SOURCES = $(RUNTIME_COMMON) runtime/init/initlib.c runtime/init/initlib.h \
	runtime/init/emu.c runtime/init/emu.h

pkglibexec_PROGRAMS = runtime/enclaver-supervisor runtime/enclaver-init

runtime_enclaver_supervisor_SOURCES = $(RUNTIME_SV_SOURCES) runtime/supervisor/main.c
runtime_enclaver_supervisor_CPPFLAGS = $(RUNTIME_CPPFLAGS)
runtime_enclaver_supervisor_CFLAGS = $(AM_CFLAGS) $(RUNTIME_PREFIX_MAP) $(JANSSON_CFLAGS)
runtime_enclaver_supervisor_LDFLAGS = $(AM_LDFLAGS) $(RUNTIME_STATIC)
# The network services (TLS ingress, the KMS proxy) use OpenSSL; Debian ships its static
# archives, so the supervisor stays one static file.  -pthread: the network thread.
runtime_enclaver_supervisor_LDADD = $(RUNTIME_LIBS) $(JANSSON_LIBS) $(SV_SSL_LIBS) -lpthread

runtime_enclaver_init_SOURCES = $(RUNTIME_INIT_SOURCES) runtime/init/main.c
runtime_enclaver_init_CPPFLAGS = $(RUNTIME_CPPFLAGS)
runtime_enclaver_init_CFLAGS = $(AM_CFLAGS) $(RUNTIME_PREFIX_MAP)
runtime_enclaver_init_LDFLAGS = $(AM_LDFLAGS) $(RUNTIME_STATIC)
runtime_enclaver_init_LDADD = $(RUNTIME_LIBS)

# Tests: units of the runtime, the init pieces that run outside PID 1, and the real
# supervisor binary driven over Unix sockets.
RUNTIME_TEST_CPPFLAGS = $(RUNTIME_CPPFLAGS) -I$(top_srcdir) \
	-DRUNTIME_BUILDDIR='"$(abs_top_builddir)/runtime"'
check_PROGRAMS += tests/runtime/test-runtime-units tests/runtime/test-init \
	tests/runtime/test-supervisor
TESTS += tests/runtime/test-runtime-units tests/runtime/test-init tests/runtime/test-supervisor

tests_runtime_test_runtime_units_SOURCES = tests/runtime/test-runtime-units.c tests/tap.h \
	$(RUNTIME_SV_SOURCES)
tests_runtime_test_runtime_units_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS)
tests_runtime_test_runtime_units_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_runtime_test_runtime_units_LDADD = $(RUNTIME_LIBS) $(JANSSON_LIBS) $(SV_SSL_LIBS) -lpthread

tests_runtime_test_init_SOURCES = tests/runtime/test-init.c tests/tap.h $(RUNTIME_INIT_SOURCES)
tests_runtime_test_init_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS)
tests_runtime_test_init_CFLAGS = $(AM_CFLAGS)
tests_runtime_test_init_LDADD = $(RUNTIME_LIBS)

tests_runtime_test_supervisor_SOURCES = tests/runtime/test-supervisor.c tests/tap.h \
	$(RUNTIME_COMMON)
tests_runtime_test_supervisor_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS)
tests_runtime_test_supervisor_CFLAGS = $(AM_CFLAGS)
tests_runtime_test_supervisor_LDADD = $(RUNTIME_LIBS)

# Shared network code of both sides (runtime/net/, docs/network.md): the HTTP/1.1 head
# parser and the relay, with their unit test.
RUNTIME_NET_SOURCES = runtime/net/http.c runtime/net/http.h \
	runtime/net/relay.c runtime/net/relay.h
check_PROGRAMS += tests/net/test-net-units
TESTS += tests/net/test-net-units
tests_net_test_net_units_SOURCES = tests/net/test-net-units.c tests/tap.h \
	$(RUNTIME_NET_SOURCES) runtime/evloop.c runtime/evloop.h
tests_net_test_net_units_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS)
tests_net_test_net_units_CFLAGS = $(AM_CFLAGS)
tests_net_test_net_units_LDADD = $(RUNTIME_LIBS)
# The egress proxy, both halves over the transport seam (tests/net/egress-peer.py is the
# far end: origins, raw clients, stand-ins of Enclaver's halves for the framing).
TESTS += tests/net/egress.sh tests/net/ingress.sh
EXTRA_DIST += tests/net/egress.sh tests/net/egress-peer.py tests/net/ingress.sh tests/net/ingress-app.py
# The runtime under load and faults (issue 19; docs/reliability.md "Resource model"):
# make check runs the short counts, make check-load the full ones (docs/testing.md).
TESTS += tests/load/load.sh
EXTRA_DIST += tests/load/load.sh tests/load/loadgen.py
check-load:
	LOAD_CONNS=2000 LOAD_STATUS_CLIENTS=1000 LOAD_SPEW_SECONDS=10 LOAD_TRICKLERS=50 LOAD_HOLD=200 \
	  $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/load/load.sh
.PHONY: check-load

# The egress policy (common/netpolicy.c) from a table of cases: libc only, as the
# supervisor links it.
check_PROGRAMS += tests/net/test-netpolicy
TESTS += tests/net/test-netpolicy
tests_net_test_netpolicy_SOURCES = tests/net/test-netpolicy.c tests/tap.h
tests_net_test_netpolicy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)
tests_net_test_netpolicy_CFLAGS = $(AM_CFLAGS)
tests_net_test_netpolicy_LDADD = libenclaver_common.la

# The attestation API (docs/attestation.md) and the HTTP head parser it uses.  (The HTTP
# parser is in RUNTIME_SV_SOURCES already, for the egress proxy.)
RUNTIME_SV_SOURCES += runtime/supervisor/api.c
# The CBOR decoder's limits and the NSM client's codec; the attestation API end to end
# with the real supervisor, the strict fake NSM and curl (tests/nsm/).
check_PROGRAMS += tests/nsm/test-nsm-units
TESTS += tests/nsm/test-nsm-units tests/nsm/api.sh tests/nsm/emu.sh
EXTRA_DIST += tests/nsm/api.sh tests/nsm/fake-nsm.py tests/nsm/emu.sh tests/nsm/nsm-raw.py
tests_nsm_test_nsm_units_SOURCES = tests/nsm/test-nsm-units.c tests/tap.h runtime/nsm.c runtime/nsm.h \
	runtime/rtutil.c runtime/rtutil.h runtime/transport.c runtime/transport.h
tests_nsm_test_nsm_units_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS)
tests_nsm_test_nsm_units_CFLAGS = $(AM_CFLAGS)
tests_nsm_test_nsm_units_LDADD = $(RUNTIME_LIBS)

# Ingress, the enclave half (runtime/supervisor/ingress.c; docs/network.md "Ingress").
RUNTIME_SV_SOURCES += runtime/supervisor/ingress.c runtime/net/tlspump.c runtime/net/tlspump.h

# The KMS proxy (runtime/supervisor/kms.c; docs/attestation.md "KMS proxy"): SigV4 and the
# recipient's CMS (runtime/kms/), their unit test with the published SigV4 vectors and
# Enclaver's CMS vector, and the proxy end to end against the strict fake KMS + IMDSv2
# of tests/kms/fake-kms.py with a real AWS SDK (boto3) and curl as clients.
RUNTIME_KMS_SOURCES = runtime/kms/sigv4.c runtime/kms/sigv4.h runtime/kms/cms.c runtime/kms/cms.h
RUNTIME_SV_SOURCES += $(RUNTIME_KMS_SOURCES) runtime/supervisor/kms.c runtime/supervisor/kms-upstream.h \
	runtime/supervisor/kms-upstream.c
check_PROGRAMS += tests/kms/test-kms-units
TESTS += tests/kms/test-kms-units tests/kms/proxy.sh
EXTRA_DIST += tests/kms/proxy.sh tests/kms/fake-kms.py tests/kms/kms-client.py \
	tests/kms/vectors/cms-ciphertext.ber tests/kms/vectors/cms-plaintext.txt \
	tests/kms/vectors/cms-recipient-key.pem
tests_kms_test_kms_units_SOURCES = tests/kms/test-kms-units.c tests/tap.h $(RUNTIME_KMS_SOURCES) \
	runtime/rtutil.c runtime/rtutil.h
tests_kms_test_kms_units_CPPFLAGS = $(RUNTIME_TEST_CPPFLAGS) \
	-DKMS_VECTORS='"$(abs_top_srcdir)/tests/kms/vectors"'
tests_kms_test_kms_units_CFLAGS = $(AM_CFLAGS)
tests_kms_test_kms_units_LDADD = $(RUNTIME_LIBS) $(SV_SSL_LIBS)
