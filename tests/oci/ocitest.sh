# Helpers for the tests/oci shell tests (sourced after tests/lib.sh).  Each checks
# its argument count with tap_argc (tests/lib.sh): a wrong count bails out.
OCI_SRC="$top_srcdir/tests/oci"
PY=${PYTHON:-python3}
MKIMAGE="$PY $OCI_SRC/mkimage.py"
OCI_PIDS=""

oci_cleanup () {
  tap_argc oci_cleanup 0 0 "$@"
  for p in $OCI_PIDS; do kill "$p" 2>/dev/null; done
  for p in $OCI_PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$TEST_TMP"
}
trap oci_cleanup EXIT

command -v "$PY" >/dev/null 2>&1 || skip_all "python3 not found"
command -v jq >/dev/null 2>&1 || skip_all "jq not found"

host_arch () {
  tap_argc host_arch 0 0 "$@"
  case $(uname -m) in
    x86_64|amd64) echo amd64 ;;
    aarch64|arm64) echo arm64 ;;
    *) uname -m ;;
  esac
}

# sha256 of a file as "sha256:<hex>" (independent of enclaver)
sha_of () { tap_argc sha_of 1 1 "$@"; echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
# sha256 of the decompressed content of a layer blob
diffid_of () {
  tap_argc diffid_of 1 1 "$@"
  case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
    1f8b08*) echo "sha256:$(gzip -dc "$1" | sha256sum | cut -d' ' -f1)" ;;
    28b52ffd) echo "sha256:$(zstd -qdc "$1" | sha256sum | cut -d' ' -f1)" ;;
    *) sha_of "$1" ;;
  esac
}
# layout_ref_digest LAYOUT REF: the digest index.json gives REF
layout_ref_digest () {
  tap_argc layout_ref_digest 2 2 "$@"
  jq -r --arg r "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$1/index.json"
}
blob () { tap_argc blob 2 2 "$@"; echo "$1/blobs/sha256/${2#sha256:}"; }

# no_ambient_credentials: HOME, the Docker and containers config and runtime
# directories inside TEST_TMP, no REGISTRY_AUTH_FILE or SSL_CERT_FILE: every credential
# and CA a test uses, it sets itself.
no_ambient_credentials () {
  tap_argc no_ambient_credentials 0 0 "$@"
  export HOME=$TEST_TMP/home DOCKER_CONFIG=$TEST_TMP/no-docker-config XDG_RUNTIME_DIR=$TEST_TMP/run \
    XDG_CONFIG_HOME=$TEST_TMP/xdg
  unset REGISTRY_AUTH_FILE SSL_CERT_FILE
  mkdir -p "$HOME"
}

free_port () {
  tap_argc free_port 0 0 "$@"
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_file FILE: wait up to 10 s for FILE to appear
wait_file () {
  tap_argc wait_file 1 1 "$@"
  local i=0
  while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$1" ]
}

# start_registry NAME STORAGE SCHEME [extra YAML...]: sets REG_PORT; pid in OCI_PIDS.
# REG_PROBE_ARGS: more curl options for the probe that waits for it (a client certificate);
# REG_ACCESSLOG=1: the registry logs every request (protocol, User-Agent) to TEST_TMP/NAME.log
start_registry () {
  tap_argc start_registry 3 - "$@"
  local name=$1 storage=$2 scheme=$3; shift 3
  REG_PORT=$(free_port)
  {
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: %s\n' "$([ "${REG_ACCESSLOG:-0}" = 1 ] && echo false || echo true)"
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$storage"
    printf 'http:\n  addr: 127.0.0.1:%s\n' "$REG_PORT"
    for line in "$@"; do printf '%s\n' "$line"; done
  } > "$TEST_TMP/$name.yml"
  docker-registry serve "$TEST_TMP/$name.yml" > "$TEST_TMP/$name.log" 2>&1 &
  local pid=$!
  OCI_PIDS="$OCI_PIDS $pid"
  eval "REG_PID_$name=$pid"
  local i=0
  while [ $i -lt 100 ]; do
    if curl -sk ${REG_PROBE_ARGS:-} -o /dev/null "$scheme://127.0.0.1:$REG_PORT/v2/" 2>/dev/null; then return 0; fi
    sleep 0.1; i=$((i + 1))
  done
  diag "registry $name did not start:"; diag "$(cat "$TEST_TMP/$name.log")"
  return 1
}

stop_registry () {
  tap_argc stop_registry 1 1 "$@"
  local pid
  eval "pid=\${REG_PID_$1:-}"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  eval "REG_PID_$1="
}

# start_py NAME SCRIPT ARGS...: runs a python helper whose first arg is a port file;
# sets PY_PORT (not in a subshell, so the pid is remembered for cleanup)
start_py () {
  tap_argc start_py 2 - "$@"
  local name=$1 script=$2; shift 2
  rm -f "$TEST_TMP/$name.port"
  $PY "$OCI_SRC/$script" "$TEST_TMP/$name.port" "$@" > "$TEST_TMP/$name.out" 2>&1 &
  OCI_PIDS="$OCI_PIDS $!"
  wait_file "$TEST_TMP/$name.port" || { diag "$name did not start: $(cat "$TEST_TMP/$name.out")"; return 1; }
  PY_PORT=$(cat "$TEST_TMP/$name.port")
}

# expect_eq NAME GOT WANT
expect_eq () {
  tap_argc expect_eq 3 3 "$@"
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "got:      $2" "expected: $3"; fi
}
