#!/bin/sh
# docker-daemon: against a real Docker Engine API server: podman's `system service`, run
# by this script on a Unix socket (and on tcp://127.0.0.1) with every piece of state in
# the test directory (storage root, run root, temporaries, network config, events), so
# nothing on the host changes.  The images are docker save tarballs made by mkimage.py
# and loaded with `podman load`; what enclaver reads back is checked against the digests
# the layout holds, and an EIF built from docker-daemon: must equal one built from oci:.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
. "$top_srcdir/tests/oci/contained.sh"
command -v podman >/dev/null 2>&1 || skip_all "podman not found (scripts/setup-deps.sh installs it)"
[ -n "$CONTAINED_UNSHARE" ] || skip_all "unshare -m not permitted: podman would write /var/lib/containers"
command -v cpio >/dev/null 2>&1 || skip_all "cpio not found"
export ENCLAVER_RETRY_DELAY_MS=10
export https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

ARCH=$(host_arch)
L=$TEST_TMP/layout
W=$TEST_TMP/w
P=$TEST_TMP/podman
mkdir -p "$W" "$P/tmp"
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
$MKIMAGE docker-v25 "$L" docker "$TEST_TMP/docker.tar"
$MKIMAGE docker-v25 "$L" otherarch "$TEST_TMP/other.tar"
DOCKER_MD=$(layout_ref_digest "$L" docker)
DOCKER_CD=$(jq -r .config.digest "$(blob "$L" "$DOCKER_MD")")

# podman's whole state under $P (and, through `contained`, /var/lib and /var/tmp too):
# the cni backend because netavark, as root, keeps its lock under /run/containers
# whatever the configuration says.
cat > "$P/containers.conf" <<EOF
[network]
network_backend = "cni"
network_config_dir = "$P/netconf"
[engine]
tmp_dir = "$P/tmp"
events_logger = "file"
events_logfile_path = "$P/events.log"
cgroup_manager = "cgroupfs"
static_dir = "$P/root/libpod"
image_copy_tmp_dir = "$P/tmp"
volume_path = "$P/root/volumes"
EOF
cat > "$P/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$P/root"
runroot = "$P/run"
EOF
export CONTAINERS_CONF="$P/containers.conf" CONTAINERS_STORAGE_CONF="$P/storage.conf"
PODMAN="contained env TMPDIR=$P/tmp podman"

$PODMAN load -q -i "$TEST_TMP/docker.tar" > "$P/load.out" 2>&1 \
  || { not_ok "podman load"; diag "$(cat "$P/load.out")"; done_testing; exit 1; }
ok "podman load of a docker save tarball"
$PODMAN load -q -i "$TEST_TMP/other.tar" > "$P/load2.out" 2>&1 || not_ok "podman load otherarch"
$PODMAN tag example.com/test/img:docker hello:1.0 || not_ok "podman tag"

# start_service NAME URI: podman system service on URI; waits for /_ping
start_service () {
  $PODMAN system service --time=0 "$2" > "$P/$1.log" 2>&1 &
  OCI_PIDS="$OCI_PIDS $!"
  local i=0
  while [ $i -lt 100 ]; do
    case $2 in
      unix://*) curl -s --noproxy '*' --unix-socket "${2#unix://}" -o /dev/null http://d/_ping 2>/dev/null && return 0 ;;
      tcp://*) curl -s --noproxy '*' -o /dev/null "http://${2#tcp://}/_ping" 2>/dev/null && return 0 ;;
    esac
    sleep 0.1; i=$((i + 1))
  done
  diag "podman system service $2 did not start:" "$(cat "$P/$1.log")"
  return 1
}
SOCK=$P/engine.sock
start_service unix "unix://$SOCK" || { not_ok "start podman system service"; done_testing; exit 1; }
ok "podman system service on a Unix socket"
export DOCKER_HOST="unix://$SOCK"
IMG="$ENCLAVER image --cache-dir $TEST_TMP/cache --no-progress"

# ---- pull through the Engine API: the same config and layers as the layout holds
run_cmd $IMG pull --json docker-daemon:example.com/test/img:docker
expect_rc "pull docker-daemon:example.com/test/img:docker" 0
printf '%s' "$OUT" > "$TEST_TMP/d.json"
expect_eq "Transport" "$(jq -r .Transport "$TEST_TMP/d.json")" docker-daemon
expect_eq "Name" "$(jq -r .Name "$TEST_TMP/d.json")" docker-daemon:example.com/test/img:docker
expect_eq "config digest = the layout's" "$(jq -r .Config.Digest "$TEST_TMP/d.json")" "$DOCKER_CD"
expect_eq "Platform" "$(jq -r .Platform "$TEST_TMP/d.json")" "linux/$ARCH"
expect_eq "Cmd" "$(jq -c .Config.Cmd "$TEST_TMP/d.json")" '["--serve","a b"]'
n=$(jq '.layers | length' "$(blob "$L" "$DOCKER_MD")")
expect_eq "layer count" "$(jq '.Layers | length' "$TEST_TMP/d.json")" "$n"
i=0
while [ $i -lt "$n" ]; do
  want=$(jq -r ".layers[$i].digest" "$(blob "$L" "$DOCKER_MD")")
  expect_eq "layer $i: DiffID = the layout's (uncompressed) layer" "$(jq -r ".Layers[$i].DiffID" "$TEST_TMP/d.json")" "$want"
  expect_eq "layer $i: cached blob hashes to its digest" \
    "$(sha_of "$(jq -r ".Layers[$i].Path" "$TEST_TMP/d.json")")" "$(jq -r ".Layers[$i].Digest" "$TEST_TMP/d.json")"
  i=$((i + 1))
done
left=$(ls -A "$TEST_TMP/cache/tmp" 2>/dev/null | wc -l)
expect_eq "the export's temporary is removed" "$left" 0

# short names, explicit tags, image IDs
run_cmd $IMG inspect docker-daemon:hello:1.0
expect_rc "docker-daemon:hello:1.0 (a podman tag)" 0
expect_eq "hello:1.0: the same config" "$(printf '%s' "$OUT" | jq -r .Config.Digest)" "$DOCKER_CD"
run_cmd $IMG inspect "docker-daemon:$DOCKER_CD"
expect_rc "docker-daemon:sha256:ID (an image ID)" 0
expect_eq "by ID: the same config" "$(printf '%s' "$OUT" | jq -r .Config.Digest)" "$DOCKER_CD"

# ---- the Engine's errors, naming the socket
run_cmd $IMG inspect docker-daemon:nosuch:1
expect_rc "unknown image: exit 1" 1
expect_in "unknown image: the socket is named" "$ERR" "unix://$SOCK"
expect_in "unknown image: the status" "$ERR" "answered 404"
expect_in "unknown image: the Engine's message" "$ERR" "nosuch:1"
run_cmd $IMG pull docker-daemon:example.com/test/img:otherarch
expect_rc "wrong platform image: exit 1" 1
case $ARCH in amd64) o=arm64 ;; *) o=amd64 ;; esac
expect_in "wrong platform: names both" "$ERR" "is linux/$o, but linux/$ARCH was requested"
run_cmd env DOCKER_HOST="unix://$P/none.sock" $IMG inspect docker-daemon:hello:1.0
expect_rc "no Engine: exit 1" 1
expect_in "no Engine: names the socket" "$ERR" "cannot reach the Docker Engine at unix://$P/none.sock"
run_cmd env DOCKER_HOST="ssh://host" $IMG inspect docker-daemon:hello:1.0
expect_in "DOCKER_HOST of an unknown kind" "$ERR" "expected unix:///path or tcp://host:port"
run_cmd $IMG inspect docker-daemon:
expect_in "docker-daemon: without a name" "$ERR" "missing image name"
run_cmd $IMG inspect docker-daemon:Bad/Name
expect_in "docker-daemon: an invalid name" "$ERR" "lowercase"

# ---- tcp://
PORT=$(free_port)
if start_service tcp "tcp://127.0.0.1:$PORT"; then
  run_cmd env DOCKER_HOST="tcp://127.0.0.1:$PORT" $IMG pull docker-daemon:hello:1.0
  expect_rc "DOCKER_HOST=tcp://127.0.0.1:PORT" 0
  run_cmd env DOCKER_HOST="tcp://127.0.0.1:$PORT" DOCKER_TLS_VERIFY=1 $IMG pull docker-daemon:hello:1.0
  expect_in "tcp:// with DOCKER_TLS_VERIFY: refused clearly" "$ERR" "TLS to the Docker Engine is not supported"
else
  not_ok "podman system service on tcp://127.0.0.1"
fi

# ---- docker build -t app . && enclaver build: the EIF equals the one from oci:
mkdir -p "$W/blobs"
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'reboot=k panic=30 pci=off nomodules console=ttyS0\n' > "$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cat > "$W/enclaver.yaml" <<YAML
version: v1
name: daemon
target: daemon:latest
sources:
  app: docker-daemon:hello:1.0
kernel:
  blobs: ./blobs
YAML
cd "$W" || exit 1
pcr0 () { printf '%s' "$1" | sed -n 's/.*"PCR0": "\([0-9a-f]*\)".*/\1/p'; }
run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/cache2" --eif-only d.eif
expect_rc "build from sources.app docker-daemon:hello:1.0" 0
PD=$(pcr0 "$OUT")
run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/cache2" --from "oci:$L:docker" --eif-only o.eif
expect_rc "build the same manifest --from oci:" 0
[ -n "$PD" ] && expect_eq "docker-daemon: and oci: give the same PCR0" "$PD" "$(pcr0 "$OUT")" \
  || { not_ok "docker-daemon: build printed a PCR0"; diag "$ERR"; }

done_testing
