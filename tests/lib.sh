# enclaver tests: shell TAP helpers.  Source from a tests/*.sh script.
# Provides: ok/not_ok via check, skip_all, done_testing, and $ENCLAVER / $top_srcdir.
#
# Every helper checks how many arguments it was given.  A wrong count is a bug
# in the test (expect_rc "name" "$RC" 1 once compared the exit code with
# itself), so it is reported as a failed point naming the helper and the
# caller, then "Bail out!", and the whole script exits 1, even from inside a
# $(...) subshell.  tests/lib-selftest.sh proves it.
set -u
: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
: "${ENCLAVER:=$top_builddir/enclaver}"
TAP_N=0
TAP_FAILED=0
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/enclaver-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
# USR1 from a $(...) subshell ends the main script (tap_bug)
trap 'exit 1' USR1

# tap_where HELPER: "file:line" of the call to HELPER (bash only; other
# shells name the script)
tap_where () {
  if [ -n "${BASH_VERSION:-}" ]; then
    eval 'local i=1
      while [ $i -lt ${#FUNCNAME[@]} ] && [ "${FUNCNAME[$i]}" != "$1" ]; do i=$((i + 1)); done
      echo "${BASH_SOURCE[$((i + 1))]:-$0}:${BASH_LINENO[$i]:-?}"'
  else
    echo "$0"
  fi
}
# tap_bug HELPER WHY "$@": HELPER was called wrongly; fail the script loudly
tap_bug () {
  local fn=$1 why=$2 where out
  shift 2
  where=$(tap_where "$fn")
  TAP_N=$((TAP_N + 1))
  # the main script's stdout is the TAP stream, also when ours is captured by $(...)
  out=/proc/$$/fd/1
  [ -w "$out" ] || out=/dev/stderr
  {
    echo "not ok $TAP_N - test bug: $fn $why (called at $where)"
    printf '# arguments:'; printf ' [%s]' "$@"; echo
    echo "Bail out! $fn $why (called at $where)"
  } >>"$out"
  echo "$where: $fn $why" >&2
  kill -USR1 $$
  exit 1
}
# tap_argc HELPER MIN MAX "$@": MAX is a number or '-' (no upper bound)
tap_argc () {
  local fn=$1 min=$2 max=$3 want
  shift 3
  if [ $# -ge "$min" ] && { [ "$max" = - ] || [ $# -le "$max" ]; }; then
    return 0
  fi
  case $max in
    "$min") want=$min ;;
    -) want="at least $min" ;;
    *) want="$min to $max" ;;
  esac
  tap_bug "$fn" "called with $# argument(s), it takes $want" "$@"
}

ok () { tap_argc ok 1 - "$@"; TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
not_ok () {
  tap_argc not_ok 1 - "$@"
  TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"
}
diag () { tap_argc diag 1 - "$@"; printf '%s\n' "$@" | sed 's/^/# /'; }
# check "name" command...   (passes when the command exits 0)
check () {
  tap_argc check 2 - "$@"
  local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# run_cmd: runs the command, storing exit code in RC, stdout in OUT, stderr in ERR
run_cmd () {
  tap_argc run_cmd 1 - "$@"
  "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"; RC=$?
  OUT=$(cat "$TEST_TMP/out"); ERR=$(cat "$TEST_TMP/err")
}
# expect_rc "name" EXPECTED  (after run_cmd: compares $RC with EXPECTED)
expect_rc () {
  tap_argc expect_rc 2 2 "$@"
  case $2 in
    ''|*[!0-9]*) tap_bug expect_rc "given '$2' as the expected exit code" "$@" ;;
  esac
  if [ "$RC" -eq "$2" ]; then ok "$1"; else not_ok "$1"; diag "exit $RC, expected $2" "stdout: $OUT" "stderr: $ERR"; fi
}
# expect_in "name" "haystack" "needle"  (an empty needle would match anything)
expect_in () {
  tap_argc expect_in 3 3 "$@"
  [ -n "$3" ] || tap_bug expect_in "given an empty needle (it matches anything)" "$@"
  case $2 in *"$3"*) ok "$1";; *) not_ok "$1"; diag "expected to find: $3" "in: $2";; esac
}
# fake_boot_blobs DIR: an init and an nsm.ko that inject accepts (they start as ELF files
# of the host's architecture, then random bytes) in DIR, for builds whose EIF is never
# booted.  The kernel and cmdline are the test's own.
fake_boot_blobs () {
  tap_argc fake_boot_blobs 1 1 "$@"
  [ -d "$1" ] || tap_bug fake_boot_blobs "given '$1', which is not a directory" "$@"
  { cat /bin/true; head -c 3000 /dev/urandom; } >"$1/init"
  { head -c 64 /bin/true; head -c 1234 /dev/urandom; } >"$1/nsm.ko"
}
# release_image DIR: build a small release image with `enclaver build` from a one-file
# image and the golden kernel with fake boot blobs; it lands in oci:DIR/rel-image, and
# DIR/pcrs.json gets the build's {"Measurements": ...}.  Fails the test when the build
# does.
release_image () {
  tap_argc release_image 1 1 "$@"
  mkdir -p "$1/img-root/bin" "$1/blobs"
  printf '#!/bin/sh\necho release\n' >"$1/img-root/bin/app"
  chmod 755 "$1/img-root/bin/app"
  python3 "$top_srcdir/tests/build/mkoci.py" "$1/img" --layer "$1/img-root" --cmd '["/bin/app"]' >/dev/null
  cp "$top_srcdir/golden/eif/kernel.bin" "$1/blobs/bzImage"
  printf 'console=ttyS0\n' >"$1/blobs/cmdline"
  fake_boot_blobs "$1/blobs"
  printf 'version: v1\nname: rel\ntarget: rel:latest\nsources:\n  app: oci:./img\nkernel:\n  blobs: ./blobs\n' \
    >"$1/enclaver.yaml"
  "$ENCLAVER" -q build -f "$1/enclaver.yaml" >"$1/pcrs.json" || { not_ok "release_image: enclaver build in $1"; return 1; }
}
# unpack_image OCI_DIR ROOT: apply the image's layers in order into ROOT; prints the entrypoint
# and one line per layer (its members), for the checks below.
unpack_image () {
  tap_argc unpack_image 2 2 "$@"
  python3 - "$1" "$2" <<'PYEOF'
import json, os, sys, tarfile
d, root = sys.argv[1], sys.argv[2]
def blob(x): return os.path.join(d, "blobs", "sha256", x.split(":")[1])
m = json.load(open(blob(json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"])))
cfg = json.load(open(blob(m["config"]["digest"])))
print("entrypoint", json.dumps(cfg["config"].get("Entrypoint")))
os.makedirs(root, exist_ok=True)
for l in m["layers"]:
    with tarfile.open(blob(l["digest"])) as t:
        print("layer", " ".join(t.getnames()))
        t.extractall(root)
PYEOF
}

# need_boot: skip unless this machine and build can boot an EIF under QEMU (x86_64, QEMU
# installed, the default kernel fetched, the runtime linked statically); sets KDIR.
need_boot () {
  tap_argc need_boot 0 0 "$@"
  [ "$(uname -m)" = x86_64 ] || skip_all "boot tests run on x86_64 hosts"
  command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed (scripts/setup-deps.sh installs it)"
  KDIR=${ENCLAVER_DEFAULT_KERNEL:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel/default}
  [ -f "$KDIR/bzImage" ] || skip_all "no default kernel in $KDIR (run scripts/fetch-kernel.sh)"
  if ldd "$top_builddir/runtime/enclaver-init" >/dev/null 2>&1; then
    skip_all "the runtime is dynamically linked in this (sanitizer) build; it cannot boot"
  fi
}
# need_cross: skip unless this build has the other architecture's runtime
# (docs/cross-arch.md) and its cross compiler builds static programs (CROSS_CC, from
# configure).  Sets OTHER (aarch64 / x86_64), OTHER_OCI (arm64 / amd64), OTHER_EM (its
# ELF e_machine) and XCC.
need_cross () {
  tap_argc need_cross 0 0 "$@"
  case $(uname -m) in
    x86_64) OTHER=aarch64 OTHER_OCI=arm64 OTHER_EM=183 ;;
    aarch64) OTHER=x86_64 OTHER_OCI=amd64 OTHER_EM=62 ;;
    *) skip_all "host architecture $(uname -m) is not one of Nitro's" ;;
  esac
  XCC=${CROSS_CC:-}
  [ -n "$XCC" ] && command -v "$XCC" >/dev/null \
    || skip_all "no cross compiler for $OTHER (scripts/setup-deps.sh installs it; configure finds it)"
  [ -x "$top_builddir/runtime/$OTHER/enclaver-init" ] \
    || skip_all "this build has no $OTHER runtime (configure: runtime binaries for $OTHER: no)"
}
# elf_machines DIR: one line "E_MACHINE PATH" per ELF file below DIR.
elf_machines () {
  tap_argc elf_machines 1 1 "$@"
  python3 - "$1" <<'PYEOF'
import os, struct, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        with open(p, "rb") as fh:
            h = fh.read(20)
        if len(h) == 20 and h[:4] == b"\x7fELF":
            print(struct.unpack("<H", h[18:20])[0], os.path.relpath(p, sys.argv[1]))
PYEOF
}
skip_all () { tap_argc skip_all 1 - "$@"; echo "1..0 # SKIP $*"; exit 0; }  # the TAP driver counts exit 77 as an error
done_testing () { tap_argc done_testing 0 0 "$@"; echo "1..$TAP_N"; [ "$TAP_FAILED" -eq 0 ]; }
