#!/bin/sh
# Every file enclaver reads by name is opened so that a FIFO (no writer ever comes), a
# socket or a device cannot block it: each case puts one where a file is expected and
# wants a quick exit 1 whose message names the file and says what it is.  `timeout 20`
# turns a regression (a blocking open) into a failure (exit 124) instead of a hang.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v jq >/dev/null || skip_all "jq missing"
command -v mkfifo >/dev/null || skip_all "mkfifo missing"
MKIMAGE="python3 $top_srcdir/tests/oci/mkimage.py"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
W=$TEST_TMP/w
mkdir -p "$W"
cd "$W" || exit 1
export ENCLAVER_RETRY_DELAY_MS=10 HOME=$W/home DOCKER_CONFIG=$W/no-docker XDG_CONFIG_HOME=$W/xdg
unset REGISTRY_AUTH_FILE SSL_CERT_FILE
mkdir -p "$HOME"
case $(uname -m) in x86_64|amd64) ARCH=amd64 ;; aarch64|arm64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;; esac

# refused NAME NEEDLE CMD...: CMD exits 1 within 20 s and its error contains NEEDLE
refused () {
  name=$1 needle=$2
  shift 2
  run_cmd timeout 20 "$@"
  expect_rc "$name: exit 1, no hang" 1
  expect_in "$name: the error names the file and what it is" "$ERR" "$needle"
}
# fifo_at PATH: replace PATH (if any) with a FIFO
fifo_at () { rm -rf "$1"; mkfifo "$1"; }
IMG="$ENCLAVER image --no-progress --cache-dir $W/cache"

$MKIMAGE layout L "$ARCH" >/dev/null || { not_ok "build the test layout"; done_testing; exit 1; }
MD=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "single") | .digest' L/index.json)
CD=$(jq -r .config.digest "L/blobs/sha256/${MD#sha256:}")
LD=$(jq -r '.layers[0].digest' "L/blobs/sha256/${MD#sha256:}")

# ---- OCI layouts
cp -r L l-index && fifo_at l-index/index.json
refused "index.json" "l-index/index.json is a FIFO, not a regular file" $IMG inspect oci:l-index:single
cp -r L l-layout && fifo_at l-layout/oci-layout
refused "oci-layout" "l-layout/oci-layout is a FIFO, not a regular file" $IMG inspect oci:l-layout:single
cp -r L l-man && fifo_at "l-man/blobs/sha256/${MD#sha256:}"
refused "manifest blob" "l-man/blobs/sha256/${MD#sha256:} is a FIFO, not a regular file" $IMG inspect oci:l-man:single
cp -r L l-cfg && fifo_at "l-cfg/blobs/sha256/${CD#sha256:}"
refused "config blob" "l-cfg/blobs/sha256/${CD#sha256:} is a FIFO, not a regular file" $IMG inspect oci:l-cfg:single
cp -r L l-layer && fifo_at "l-layer/blobs/sha256/${LD#sha256:}"
refused "layer blob" "l-layer/blobs/sha256/${LD#sha256:} is a FIFO, not a regular file" \
  $IMG pull --cache-dir "$W/cache-layer" oci:l-layer:single
cp -r L l-dev && rm "l-dev/blobs/sha256/${LD#sha256:}" && ln -s /dev/zero "l-dev/blobs/sha256/${LD#sha256:}"
refused "layer blob linked to /dev/zero" "l-dev/blobs/sha256/${LD#sha256:}" \
  $IMG pull --cache-dir "$W/cache-dev" oci:l-dev:single

# ---- archives and skopeo directories
mkfifo a.tar
refused "docker-archive:FIFO" "a.tar is a FIFO, not a regular file" $IMG inspect docker-archive:a.tar
refused "oci-archive:FIFO" "a.tar is a FIFO, not a regular file" $IMG inspect oci-archive:a.tar
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' a.sock
refused "oci-archive:socket" "a.sock is a socket, not a regular file" $IMG inspect oci-archive:a.sock
mkdir sk && printf 'Directory Transport Version: 1.1\n' >sk/version && mkfifo sk/manifest.json
refused "dir: manifest.json" "sk/manifest.json is a FIFO, not a regular file" $IMG inspect dir:sk
fifo_at sk/version
refused "dir: version" "sk/version is a FIFO, not a regular file" $IMG inspect dir:sk

# ---- credentials and TLS files.  Credentials are looked up on a 401: a small server
# asks for Basic auth on every request.
python3 - "$W/auth.port" >"$W/auth.log" 2>&1 <<'PYEOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="fifo"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PYEOF
AUTH_PID=$!
trap 'kill $AUTH_PID 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
i=0
while [ ! -s "$W/auth.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
AUTH=127.0.0.1:$(cat "$W/auth.port")
mkfifo auth.json
refused "REGISTRY_AUTH_FILE" "auth.json is a FIFO, not a regular file" \
  env REGISTRY_AUTH_FILE="$W/auth.json" $IMG inspect "$AUTH/x/y:1"
mkdir -p dc && mkfifo dc/config.json
refused "DOCKER_CONFIG/config.json" "dc/config.json is a FIFO, not a regular file" \
  env DOCKER_CONFIG="$W/dc" $IMG inspect "$AUTH/x/y:1"
mkfifo ca.crt
refused "--ca-cert" "ca.crt is a FIFO, not a regular file" $IMG inspect --ca-cert "$W/ca.crt" 127.0.0.1:9/x/y:1

# ---- enclaver.yaml and the kernel blobs of a build
mkdir -p l1/bin blobs
printf '#!/bin/sh\necho hi\n' >l1/bin/hello
chmod 755 l1/bin/hello
$MKOCI img --layer l1 --cmd '["/bin/hello"]' >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" blobs/bzImage
echo 'console=ttyS0' >blobs/cmdline
fake_boot_blobs blobs
printf 'version: v1\nname: ff\ntarget: ff:latest\nsources:\n  app: oci:./img\nkernel:\n  blobs: ./blobs\n' >enclaver.yaml
mkfifo m.yaml
refused "manifest -f FIFO" "m.yaml is a FIFO, not a regular file" "$ENCLAVER" manifest -f m.yaml
refused "build -f FIFO" "m.yaml is a FIFO, not a regular file" "$ENCLAVER" build -f m.yaml
BUILD="$ENCLAVER -q build --cache-dir $W/cache-build --eif-only $W/out.eif"
for b in bzImage cmdline init nsm.ko; do
  rm -rf kb && cp -r blobs kb && fifo_at "kb/$b"
  refused "kernel blobs: $b" "kb/$b is a FIFO, not a regular file" $BUILD --kernel-dir kb
done
run_cmd test -e out.eif
expect_rc "no EIF was written" 1

# ---- EIF tools
run_cmd timeout 60 $BUILD
expect_rc "the build with regular files works" 0
refused "eif build --kernel" "k.fifo is a FIFO, not a regular file" \
  sh -c 'mkfifo k.fifo && exec "$0" eif build --kernel k.fifo --cmdline x --ramdisk blobs/init --output e.eif' "$ENCLAVER"
refused "eif build --cmdline-file" "c.fifo is a FIFO, not a regular file" \
  sh -c 'mkfifo c.fifo && exec "$0" eif build --kernel blobs/bzImage --cmdline-file c.fifo --ramdisk blobs/init --output e.eif' "$ENCLAVER"
refused "eif build --ramdisk" "r.fifo is a FIFO, not a regular file" \
  sh -c 'mkfifo r.fifo && exec "$0" eif build --kernel blobs/bzImage --cmdline x --ramdisk r.fifo --output e.eif' "$ENCLAVER"
mkfifo e.fifo
refused "describe FIFO" "e.fifo is a FIFO, not a regular file" "$ENCLAVER" describe e.fifo
refused "pcr --input FIFO" "e.fifo is a FIFO, not a regular file" "$ENCLAVER" pcr --input e.fifo
refused "pcr --signing-certificate FIFO" "e.fifo is a FIFO, not a regular file" \
  "$ENCLAVER" pcr --signing-certificate e.fifo
refused "verify FIFO" "e.fifo is a FIFO, not a regular file" "$ENCLAVER" verify e.fifo --pcr0 "$(printf '%096d' 0)"
run_cmd timeout 20 "$ENCLAVER" verify out.eif --pcrs e.fifo
expect_rc "verify --pcrs FIFO: a usage error (as a missing file), no hang" 2
expect_in "verify --pcrs FIFO: the error names the file and what it is" "$ERR" "e.fifo is a FIFO, not a regular file"
refused "sign FIFO" "e.fifo is a FIFO, not a regular file" \
  "$ENCLAVER" sign out.eif --signing-certificate e.fifo --private-key e.fifo

done_testing
