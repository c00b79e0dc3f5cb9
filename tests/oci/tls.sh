#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The registry client's TLS defaults (core/oci/registry.c), against Debian's docker-registry
# serving TLS (Go's server offers HTTP/2 by ALPN and logs each request's protocol):
#  - HTTP/2 is used where the registry offers it, for pulls and pushes (the registry's own
#    access log says which protocol every request of ours came with);
#  - without --cert-dir, the CA and client certificate come from
#    /etc/containers/certs.d/HOST:PORT/ and then /etc/docker/certs.d/HOST:PORT/ (the first
#    directory that exists for the host wins, as in containers-certs.d(5)).  Those system
#    paths are only ever written inside a private mount namespace, on an overlay over /etc
#    whose upper layer is in TEST_TMP: the host's /etc is never changed.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
command -v openssl >/dev/null 2>&1 || skip_all "openssl not installed"
export ENCLAVER_RETRY_DELAY_MS=10
no_ambient_credentials
export XDG_CACHE_HOME=$TEST_TMP/cache
mkdir -p "$XDG_RUNTIME_DIR"
cd "$TEST_TMP" || exit 1
ARCH=$(host_arch)
COPY="$ENCLAVER image copy --no-progress"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=enclaver-tls-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile san.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=enclaver-tls-client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >cli.ext
openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2 -extfile cli.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-ca 2>/dev/null
[ -s cli.crt ] && [ -s srv.crt ] && [ -s other.crt ] || { not_ok "make the test certificates"; done_testing; exit 1; }

$MKIMAGE layout L "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }

# ---- 1. HTTP/2 where offered.  REG_ACCESSLOG=1: the registry logs every request.
REG_ACCESSLOG=1 start_registry h2 "$TEST_TMP/storage-h2" https "  tls:" "    certificate: $TEST_TMP/srv.crt" \
  "    key: $TEST_TMP/srv.key" || { not_ok "start TLS registry"; done_testing; exit 1; }
H=127.0.0.1:$REG_PORT
HLOG=$TEST_TMP/h2.log
mkdir -p "certs.d/$H"
cp ca.crt "certs.d/$H/ca.crt"
# ours: the access-log lines of requests with our User-Agent
ours () { tap_argc ours 0 0 "$@"; grep '"enclaver/' "$HLOG"; }

run_cmd $COPY --cert-dir "$TEST_TMP/certs.d" oci:L:single "docker://$H/app/single:1"
expect_rc "push over TLS: exit 0" 0
NPUSH=$(ours | wc -l)
check "... the registry logged our requests (HEAD, POST, PUT...)" test "$NPUSH" -ge 4
expect_eq "... every one of them over HTTP/2" "$(ours | grep -vc '"[A-Z]* [^ ]* HTTP/2.0" ')" 0
check "... uploads included" sh -c "grep '\"enclaver/' '$HLOG' | grep -q '\"PUT /v2/app/single/manifests/1 HTTP/2.0\"'"

run_cmd "$ENCLAVER" image pull --no-progress --cert-dir "$TEST_TMP/certs.d" --cache-dir "$TEST_TMP/c1" "$H/app/single:1"
expect_rc "pull over TLS: exit 0" 0
check "... blob downloads logged" test "$(ours | grep -c '"GET /v2/app/single/blobs/sha256:')" -ge 2
expect_eq "... and every request of the run over HTTP/2" "$(ours | grep -vc '"[A-Z]* [^ ]* HTTP/2.0" ')" 0
# `enclaver build --cert-dir`: the fetch stage's pull uses it too.
mkdir -p b/blobs
cp "$top_srcdir/golden/eif/kernel.bin" b/blobs/bzImage
printf 'console=ttyS0\n' >b/blobs/cmdline
fake_boot_blobs b/blobs
printf 'version: v1\nname: t\ntarget: t:latest\nsources:\n  app: %s/app/single:1\nkernel:\n  blobs: ./blobs\n' "$H" \
  >b/enclaver.yaml
run_cmd "$ENCLAVER" build -q --eif-only b/out.eif --cache-dir "$TEST_TMP/c0" -f b/enclaver.yaml
expect_rc "build from the TLS registry without its CA: exit 1" 1
expect_in "... a TLS verification error naming the registry" "$ERR" "registry $H: TLS verification failed"
run_cmd "$ENCLAVER" build -q --eif-only b/out.eif --cache-dir "$TEST_TMP/c0" --cert-dir "$TEST_TMP/certs.d" -f b/enclaver.yaml
expect_rc "... with --cert-dir: exit 0" 0
check "... the EIF is written" test -s b/out.eif
# The log tells the protocols apart (else the check above could not fail): an HTTP/1.1 client.
curl -s --http1.1 --cacert ca.crt -o /dev/null "https://$H/v2/"
check "the registry's log names HTTP/1.1 for an HTTP/1.1 client" grep -q '"GET /v2/ HTTP/1.1"' "$HLOG"
stop_registry h2

# ---- 2. Default certs.d directories, inside a private mount namespace.
if [ "$(id -u)" -ne 0 ]; then
  ok "# SKIP default certs.d paths: need root for a private mount namespace"
  done_testing
  exit
fi
mkdir -p etc-upper etc-work
if ! unshare -m --propagation private sh -c \
  "mount -t overlay overlay -o lowerdir=/etc,upperdir=$TEST_TMP/etc-upper,workdir=$TEST_TMP/etc-work /etc" 2>ns.err; then
  ok "# SKIP default certs.d paths: cannot mount an overlay over /etc in a mount namespace: $(cat ns.err)"
  done_testing
  exit
fi
# in_ns CMD...: run CMD with /etc overlaid, the overlay's upper layer being etc-upper
# (what the test puts in etc-upper/containers/certs.d appears at /etc/containers/certs.d)
in_ns () {
  tap_argc in_ns 1 - "$@"
  unshare -m --propagation private sh -c \
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/etc-upper,workdir=$0/etc-work" /etc && exec "$@"' \
    "$TEST_TMP" "$@"
}
# A registry asking for a client certificate: both the CA and the client certificate
# must come from the same certs.d directory for a push to work.
REG_PROBE_ARGS="--cert $TEST_TMP/cli.crt --key $TEST_TMP/cli.key" start_registry mtls "$TEST_TMP/storage-mtls" https \
  "  tls:" "    certificate: $TEST_TMP/srv.crt" "    key: $TEST_TMP/srv.key" "    clientcas:" "      - $TEST_TMP/ca.crt" \
  || { not_ok "start mutual-TLS registry"; done_testing; exit 1; }
M=127.0.0.1:$REG_PORT
for d in /etc/containers/certs.d /etc/docker/certs.d; do
  [ -e "$d/$M" ] && { not_ok "the host has $d/$M already: cannot test the defaults"; done_testing; exit 1; }
done

run_cmd in_ns $COPY oci:L:single "docker://$M/app/single:1"
expect_rc "no certs.d entry for the registry: exit 1" 1
expect_in "... a TLS verification error naming the registry" "$ERR" "registry $M: TLS verification failed"

mkdir -p "etc-upper/docker/certs.d/$M"
cp ca.crt "etc-upper/docker/certs.d/$M/ca.crt"
cp cli.crt "etc-upper/docker/certs.d/$M/client.cert"
cp cli.key "etc-upper/docker/certs.d/$M/client.key"
run_cmd in_ns $COPY oci:L:single "docker://$M/app/single:1"
expect_rc "CA and client certificate from /etc/docker/certs.d/HOST:PORT/: exit 0" 0
check "... the pushed manifest is served" \
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' --cacert ca.crt --cert cli.crt --key cli.key -o /dev/null "https://$M/v2/app/single/manifests/1"
check "... and the host's own /etc has no such directory" test ! -e "/etc/docker/certs.d/$M"

# /etc/containers/certs.d comes first: its directory for the host, holding only the CA,
# wins over Docker's (no client certificate is presented then).
mkdir -p "etc-upper/containers/certs.d/$M"
cp ca.crt "etc-upper/containers/certs.d/$M/ca.crt"
run_cmd in_ns $COPY oci:L:single "docker://$M/app/single:2"
expect_rc "/etc/containers/certs.d/HOST:PORT/ without a client certificate: exit 1" 1
expect_in "... it is the directory used: the registry asks for a client certificate" "$ERR" \
  "registry $M: it asks for a client certificate"
cp cli.crt "etc-upper/containers/certs.d/$M/client.cert"
cp cli.key "etc-upper/containers/certs.d/$M/client.key"
cp other.crt "etc-upper/docker/certs.d/$M/ca.crt"
run_cmd in_ns $COPY oci:L:single "docker://$M/app/single:2"
expect_rc "... with its client certificate (Docker's directory now holding a wrong CA): exit 0" 0
run_cmd in_ns "$ENCLAVER" image pull --cache-dir "$TEST_TMP/c2" "$M/app/single:2"
expect_rc "... a pull uses it too: exit 0" 0

# --cert-dir replaces both defaults.
cp other.crt "etc-upper/containers/certs.d/$M/ca.crt"
run_cmd in_ns $COPY oci:L:single "docker://$M/app/single:3"
expect_rc "a wrong CA in /etc/containers/certs.d: exit 1" 1
expect_in "... a TLS verification error" "$ERR" "registry $M: TLS verification failed"
mkdir -p "mine/$M"
cp ca.crt "mine/$M/ca.crt"
cp cli.crt "mine/$M/client.cert"
cp cli.key "mine/$M/client.key"
run_cmd in_ns $COPY --cert-dir "$TEST_TMP/mine" oci:L:single "docker://$M/app/single:3"
expect_rc "... --cert-dir DIR is used instead of both defaults: exit 0" 0
stop_registry mtls

done_testing
