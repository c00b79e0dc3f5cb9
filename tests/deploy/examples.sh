#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The deployment examples (examples/systemd, examples/kubernetes; docs/deploy.md):
#   - the systemd template and its drop-ins pass `systemd-analyze verify` with no
#     warning, and carry what a graceful CD restart needs (SIGTERM, exit 109 counted as
#     success, a stop timeout above enclaver's own grace and the manifest's
#     stop_timeout, restart on failure, the image from IMAGE, --qemu by drop-in);
#   - a real start/stop cycle of the unit under emulation: by systemd where it is PID 1,
#     else by a systemd user manager in namespaces of its own (below);
#   - the Kubernetes Deployment parses and asks for the Nitro device plugin's
#     resource, hugepages equal to examples/hello's defaults.memory_mb, no privileges,
#     and a grace period above enclaver's.
. "$top_srcdir/tests/lib.sh"
EX=$top_srcdir/examples
ENCLAVER=$top_builddir/enclaver
PY=
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || skip_all "no python3 with PyYAML"
# enclaver's own stop grace (runtime/host/streams.h HOST_STOP_GRACE_DEFAULT_MS)
GRACE_MS=$(sed -n 's/^#define HOST_STOP_GRACE_DEFAULT_MS \([0-9]*\).*/\1/p' "$top_srcdir/runtime/host/streams.h")
[ -n "$GRACE_MS" ] || { not_ok "HOST_STOP_GRACE_DEFAULT_MS is found in streams.h"; done_testing; exit 1; }
STOP_S=$("$PY" -c 'import sys,yaml; m=yaml.safe_load(open(sys.argv[1])); print(int((m.get("defaults") or {}).get("stop_timeout", 10)))' "$EX/hello/enclaver.yaml")
MEM=$("$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["defaults"]["memory_mb"])' "$EX/hello/enclaver.yaml")

# ---- systemd ----
U=$EX/systemd/enclaver@.service
key () { tap_argc key 1 1 "$@"; sed -n "s/^$1=//p" "$U"; }
expect_in "systemd: KillSignal is SIGTERM (enclaver's graceful stop)" "$(key KillSignal)" "SIGTERM"
expect_in "systemd: exit 109 (stopped by a signal) counts as success" "$(key SuccessExitStatus)" "109"
expect_in "systemd: restarts on failure" "$(key Restart)" "on-failure"
T=$(key TimeoutStopSec)
if [ -n "$T" ] && [ "$T" -gt $((GRACE_MS / 1000)) ] && [ "$T" -gt "$STOP_S" ]; then
  ok "systemd: TimeoutStopSec ($T s) is above enclaver's grace (${GRACE_MS} ms) and stop_timeout ($STOP_S s)"
else not_ok "systemd: TimeoutStopSec is above enclaver's grace and stop_timeout"; diag "TimeoutStopSec=$T"; fi
expect_in "systemd: ExecStart pulls and runs \${IMAGE} with the instance's name" "$(key ExecStart)" \
  "/usr/local/bin/enclaver run --pull always --name %i \$ENCLAVER_RUN_FLAGS \${IMAGE}"
check "systemd: the image drop-in pins a digest" grep -qE '^Environment=IMAGE=[^ ]+@sha256:[0-9a-f]{64}$' \
  "$EX/systemd/enclaver@hello.service.d/image.conf"
check "systemd: the emulation drop-in sets --qemu" grep -qx 'Environment=ENCLAVER_RUN_FLAGS=--qemu' \
  "$EX/systemd/enclaver@hello.service.d/emulation.conf.example"

if ! command -v systemd-analyze >/dev/null; then
  ok "# SKIP systemd-analyze is not installed"
else
  # systemd-analyze checks that ExecStart's program exists: point it at the build's.
  mkdir -p "$TEST_TMP/units/enclaver@hello.service.d"
  sed "s|/usr/local/bin/enclaver|$ENCLAVER|" "$U" >"$TEST_TMP/units/enclaver@.service"
  cp "$EX/systemd/enclaver@hello.service.d/image.conf" "$TEST_TMP/units/enclaver@hello.service.d/"
  cp "$EX/systemd/enclaver@hello.service.d/emulation.conf.example" \
    "$TEST_TMP/units/enclaver@hello.service.d/emulation.conf"
  run_cmd systemd-analyze verify "$TEST_TMP/units/enclaver@hello.service"
  expect_rc "systemd-analyze verify accepts the unit with its drop-ins" 0
  if [ -z "$OUT$ERR" ]; then ok "... with no warning"; else not_ok "... with no warning"; diag "$OUT$ERR"; fi
  # A key systemd does not know is a warning: the check above would see it.
  printf '[Service]\nKilSignal=SIGTERM\n' >"$TEST_TMP/units/enclaver@hello.service.d/typo.conf"
  run_cmd systemd-analyze verify "$TEST_TMP/units/enclaver@hello.service"
  expect_in "... (a misspelt key in a drop-in is reported)" "$OUT$ERR" "KilSignal"
  rm -f "$TEST_TMP/units/enclaver@hello.service.d/typo.conf"
fi

# ---- a real start/stop cycle of the unit, under emulation ----
# Where systemd is PID 1, the template goes to /run/systemd/system (removed after).
# Elsewhere (a container whose init is not systemd, as on the CI machine) a systemd user
# manager runs it: in new mount, PID and cgroup namespaces, with a private /run (the
# manager wants /run/systemd/system; the host's /run is not touched), a private cgroup2
# mount rooted at a cgroup made for the test (removed after), HOME, XDG_RUNTIME_DIR and
# TMPDIR in the test's directory, and a target of its own as the default, so nothing but
# the unit starts.  (Not a system manager in namespaces: at boot it runs
# systemd-tmpfiles, which empties the shared /tmp.)  Whatever happens, the namespaces end
# with their PID 1 (the kernel kills what is left in them, QEMU included), under a time
# bound, and the cgroup is removed by the EXIT trap.  The unit runs release images,
# pinned by digest, that `enclaver build --push` put in a docker-registry of the test;
# their app waits for SIGTERM.  `systemctl start` pulls the first and boots it under
# QEMU (the emulation drop-in's --qemu); a drop-in with the new digest and `systemctl
# restart` (CD's step) must stop it gracefully, pull the new image and boot it (its app
# greets otherwise), and `systemctl stop` end that: each time the app
# reports SIGTERM, enclaver exits 109, and the unit's result is success (as systemd
# tells ExecStopPost).
cycle_skip=
cg=
cycle_pid=
reg_pid=
KDIR=${ENCLAVER_DEFAULT_KERNEL:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel/default}
# rm_cgroup DIR: remove a cgroup and those below it, waiting (bounded) for the processes
# of a namespace just ended to leave it
rm_cgroup () {
  tap_argc rm_cgroup 1 1 "$@"
  local i=0
  while [ -d "$1" ] && [ $i -lt 100 ]; do
    find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$1" ] && sleep 0.2
    i=$((i + 1))
  done
  [ ! -d "$1" ]
}
# cycle_cleanup: the EXIT trap of the cycle (also on a failure or a signal)
cycle_cleanup () {
  tap_argc cycle_cleanup 0 0 "$@"
  if [ -n "$cycle_pid" ]; then
    kill -TERM "$cycle_pid" 2>/dev/null
    local i=0
    while kill -0 "$cycle_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL "$cycle_pid" 2>/dev/null
  fi
  if [ "$CYCLE_MODE" = system ] && [ -n "$UNIT" ]; then
    timeout 120 systemctl stop "$UNIT" 2>/dev/null
    rm -rf "$UNITS/$T@.service" "$UNITS/$UNIT.d"
    timeout 60 systemctl daemon-reload
  fi
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null; wait "$reg_pid" 2>/dev/null; fi
  [ -n "$cg" ] && rm_cgroup "$cg"
  rm -rf "$TEST_TMP"
}
if [ "$(id -u)" != 0 ]; then
  cycle_skip="needs root (a unit in /run/systemd/system, or the namespaces of a user manager)"
elif [ "$(uname -m)" != x86_64 ] || ! command -v qemu-system-x86_64 >/dev/null; then
  cycle_skip="the emulated enclave needs qemu-system-x86_64 on an x86_64 host"
elif [ ! -f "$KDIR/bzImage" ]; then
  cycle_skip="no default kernel $KDIR/bzImage for the enclave (run scripts/fetch-kernel.sh)"
elif ! command -v docker-registry >/dev/null || ! command -v curl >/dev/null; then
  cycle_skip="the unit pulls its images from a docker-registry the test starts: needs docker-registry and curl"
elif ldd "$top_builddir/runtime/enclaver-init" >/dev/null 2>&1; then
  cycle_skip="the runtime is dynamically linked in this (sanitizer) build; it cannot boot"
elif [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  CYCLE_MODE=system
elif [ ! -x /lib/systemd/systemd ] || ! command -v unshare >/dev/null; then
  cycle_skip="systemd is not PID 1 here ($(cat /proc/1/comm 2>/dev/null)), and a user manager needs /lib/systemd/systemd and unshare"
else
  CYCLE_MODE=user
  # The cgroup2 hierarchy and this process's place in it: the manager gets a cgroup below.
  v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
  me=$(sed -n 's/^0:://p' /proc/self/cgroup)
  cg=$v2${me%/}/enclaver-test-$$
  if [ -z "$v2" ] || ! mkdir "$cg" 2>/dev/null; then
    cycle_skip="systemd is not PID 1 here ($(cat /proc/1/comm 2>/dev/null)), and a user manager needs a cgroup2 hierarchy where this test can make a cgroup (${v2:-none mounted})"
    cg=
  fi
fi
trap cycle_cleanup EXIT
trap 'exit 1' TERM INT HUP
if [ -n "$cycle_skip" ]; then
  ok "# SKIP the start/stop cycle: $cycle_skip"
else
  make -C "$top_builddir" example >/dev/null 2>&1 || not_ok "make example"
  W=$TEST_TMP/cycle
  mkdir -p "$W/tmp"
  # Two release images CD moves between, pushed to a registry of the test: the example's
  # app with Cmd ["--wait"] (it runs until SIGTERM), then GREETING=hi, then new-image.
  for v in hi new-image; do
    "$PY" - "$top_builddir/examples/hello/app-image" "$W/app-$v" "$v" <<'PYEOF'
import hashlib, json, os, shutil, sys
src, dst, greeting = sys.argv[1:4]
shutil.copytree(src, dst)
def blob(d): return os.path.join(dst, "blobs", "sha256", d[7:])
def put(obj):
    b = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(blob(d), "wb").write(b)
    return d, len(b)
idx = json.load(open(os.path.join(dst, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
cfg = json.load(open(blob(man["config"]["digest"])))
cfg["config"]["Cmd"] = ["--wait"]
cfg["config"]["Env"] = ["GREETING=" + greeting]
man["config"]["digest"], man["config"]["size"] = put(cfg)
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(man)
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PYEOF
  done
  REG_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry" "$REG_PORT" >"$W/registry.yml"
  docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
  reg_pid=$!
  i=0
  until curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
  REPO=127.0.0.1:$REG_PORT/hello-enclave
  sed "s|^target: .*|target: $REPO:1|" "$EX/hello/enclaver.yaml" >"$W/enclaver.yaml"
  run_cmd "$ENCLAVER" -q build -f "$W/enclaver.yaml" --from "oci:$W/app-hi" --output-dir "$W/out1" \
    --push --digestfile "$W/d1"
  expect_rc "the release image the unit starts with, pushed to the test's registry" 0
  sed "s|^target: .*|target: $REPO:2|" "$EX/hello/enclaver.yaml" >"$W/enclaver.yaml"
  run_cmd "$ENCLAVER" -q build -f "$W/enclaver.yaml" --from "oci:$W/app-new-image" --output-dir "$W/out2" \
    --push --digestfile "$W/d2"
  expect_rc "... and the new one CD moves it to" 0
  D1=$(cat "$W/d1" 2>/dev/null) D2=$(cat "$W/d2" 2>/dev/null)
  if [ "$CYCLE_MODE" = system ]; then
    UNITS=/run/systemd/system T=enclaver-test-$$ SCTL=systemctl
  else
    UNITS=$W/home/.config/systemd/user T=enclaver SCTL="systemctl --user"
  fi
  UNIT=$T@hello.service
  {
    echo '#!/bin/bash'
    echo "# The cycle: PID 1 of a PID namespace (user manager) or a plain script (systemd PID 1)."
    printf "W='%s' UNITS='%s' UNIT='%s' SCTL='%s' MODE='%s' NEW_IMAGE='%s'\n" "$W" "$UNITS" "$UNIT" "$SCTL" \
      "$CYCLE_MODE" "$REPO@$D2"
    cat <<'SHEOF'
# As PID 1 of a namespace, this shell gets a signal from outside only if it handles it:
# on one it exits, and the kernel ends everything else in the namespace.
trap 'res signalled; exit 1' TERM INT HUP
res () { echo "$1" >>"$W/result"; }
if [ "$MODE" = user ]; then
  mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system \
    && mount -t cgroup2 cgroup2 /sys/fs/cgroup || { res setup=failed; exit 1; }
  export HOME=$W/home XDG_RUNTIME_DIR=$W/xdg TMPDIR=$W/tmp
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  printf '[Unit]\nDescription=the enclaver test cycle (nothing else)\n' >"$UNITS/cycle.target"
  /lib/systemd/systemd --user --unit=cycle.target >"$W/manager.log" 2>&1 &
  i=0
  until case $(timeout 10 $SCTL is-system-running 2>/dev/null) in running|degraded) true;; *) false;; esac; do
    i=$((i + 1)); [ $i -lt 300 ] || { res manager=down; exit 1; }; sleep 0.1
  done
fi
res manager=up
timeout 60 $SCTL daemon-reload
# wait_app N: until the app has started N times, or the unit is no longer active
# (enclaver failed: on-failure would restart it); bounded, as the enclave boots under
# QEMU: a hang guard, not a timing goal.
wait_app () {
  local i=0
  while [ $i -lt 600 ] && [ "$(grep -c "waiting for SIGTERM" "$W/unit.log" 2>/dev/null)" -lt "$1" ] \
    && [ "$(timeout 10 $SCTL show -p ActiveState --value "$UNIT")" = active ]; do
    sleep 0.5; i=$((i + 1))
  done
}
timeout 120 $SCTL start "$UNIT"; res "start=$?"
wait_app 1
res "running=$(timeout 10 $SCTL show -p ActiveState --value "$UNIT")"
res "restarts=$(timeout 10 $SCTL show -p NRestarts --value "$UNIT")"
# CD's step: a drop-in points the instance at a new image, then a restart.
printf '[Service]\nEnvironment=IMAGE=%s\n' "$NEW_IMAGE" >"$UNITS/$UNIT.d/zz-update.conf"
timeout 60 $SCTL daemon-reload
# (TimeoutStopSec bounds the stops; the margin is for the manager)
timeout 120 $SCTL restart "$UNIT"; res "restart=$?"
wait_app 2
res "running-new=$(timeout 10 $SCTL show -p ActiveState --value "$UNIT")"
timeout 120 $SCTL stop "$UNIT"; res "stop=$?"
[ "$MODE" = user ] && timeout 30 $SCTL exit
res done
exit 0
SHEOF
  } >"$W/cycle.sh"
  mkdir -p "$UNITS/$UNIT.d"
  sed "s|/usr/local/bin/enclaver|$ENCLAVER|" "$U" >"$UNITS/$T@.service"
  # The example's drop-ins as shipped (the image pin, the emulation flags), then the
  # test's: its image, HOME (so enclaver's cache and development CA) in the test's
  # directory, the modules of the kernel the EIFs were built with, a state and a
  # temporary directory of its own, the unit's output in a file.
  cp "$EX/systemd/enclaver@hello.service.d/image.conf" "$UNITS/$UNIT.d/"
  cp "$EX/systemd/enclaver@hello.service.d/emulation.conf.example" "$UNITS/$UNIT.d/emulation.conf"
  {
    printf '[Service]\nEnvironment=IMAGE=%s\nEnvironment=HOME=%s\n' "$REPO@$D1" "$W/home"
    printf 'Environment=ENCLAVER_EMU_MODULES=%s\n' "${ENCLAVER_EMU_MODULES:-$KDIR/emu-modules}"
    printf 'Environment=ENCLAVER_RUN_DIR=%s\nEnvironment=TMPDIR=%s\n' "$W/run" "$W/tmp"
    printf 'StandardOutput=append:%s\nStandardError=append:%s\n' "$W/unit.log" "$W/unit.log"
    # How the unit ended, as systemd tells ExecStopPost (a stopped unit that succeeded
    # may be unloaded at once, and `systemctl show` then gives a fresh unit's defaults).
    printf 'ExecStopPost=/bin/sh -c '\''echo "result=$$SERVICE_RESULT code=$$EXIT_CODE status=$$EXIT_STATUS" >>%s'\''\n' \
      "$W/result"
  } >"$UNITS/$UNIT.d/zz-test.conf"
  # The whole cycle is bounded (timeout's SIGTERM reaches the namespace's PID 1, whose
  # trap ends it; its SIGKILL, 10 s later, reaches PID 1 as well).
  if [ "$CYCLE_MODE" = system ]; then
    timeout -k 10 900 bash "$W/cycle.sh" &
  else
    (echo "$BASHPID" >"$cg/cgroup.procs" \
      && exec timeout -k 10 900 unshare --mount --cgroup --pid --fork --kill-child --mount-proc bash "$W/cycle.sh") &
  fi
  cycle_pid=$!
  wait "$cycle_pid"
  cycle_pid=
  R=$(cat "$W/result" 2>/dev/null)
  L=$(cat "$W/unit.log" 2>/dev/null)
  failed=$TAP_FAILED
  expect_in "cycle ($CYCLE_MODE manager): the manager runs the unit" "$R" "manager=up"
  expect_in "... systemctl start: exit 0" "$R" "start=0"
  expect_in "... the enclave booted under QEMU" "$L" "under QEMU"
  expect_in "... and its app runs" "$L" "waiting for SIGTERM"
  expect_in "... the unit is active meanwhile, not restarted" "$R" "running=active
restarts=0"
  expect_in "... systemctl restart (CD's new IMAGE by drop-in): exit 0" "$R" "restart=0"
  check "... the images' digests differ" test -n "$D1" -a -n "$D2" -a "$D1" != "$D2"
  check "... each start pulled its image (--pull always)" test "$(grep -c '^enclaver: fetched ' "$W/unit.log")" = 2
  check "... the first app was the first image's" test "$(grep -c 'GREETING=hi)$' "$W/unit.log")" = 1
  check "... after the restart, the new image's app runs" test "$(grep -c 'GREETING=new-image)$' "$W/unit.log")" = 1
  expect_in "... whose app runs, in an active unit" "$R" "running-new=active"
  expect_in "... systemctl stop: exit 0" "$R" "stop=0"
  check "... the app got SIGTERM at the restart and at the stop (graceful stops)" \
    test "$(grep -c 'caught SIGTERM, exiting' "$W/unit.log")" = 2
  check "... both times enclaver exited 109, which the unit counts as success" \
    test "$(grep -cx 'result=success code=exited status=109' "$W/result")" = 2
  expect_in "... the cycle ran to its end" "$R" "done"
  if [ "$TAP_FAILED" != "$failed" ]; then
    diag "cycle results:" "$R" "unit log (tail):" "$(tail -n 30 "$W/unit.log" 2>/dev/null)" \
      "manager log (tail):" "$(tail -n 30 "$W/manager.log" 2>/dev/null)"
  fi
  [ "$CYCLE_MODE" = user ] && check "... the test's cgroup is gone after" rm_cgroup "$cg"
fi

# ---- Kubernetes ----
check "kubernetes: the Deployment has what a Nitro node needs" "$PY" - "$EX/kubernetes/deployment.yaml" "$MEM" \
  "$GRACE_MS" "$STOP_S" <<'EOF'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
mem, grace_ms, stop_s = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = [x for x in docs if x and x.get("kind") == "Deployment"]
assert len(d) == 1, "one Deployment"
d = d[0]
assert d["apiVersion"] == "apps/v1"
spec = d["spec"]["template"]["spec"]
assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items(), "selector"
assert spec["nodeSelector"].get("aws-nitro-enclaves-k8s-dp") == "enabled", "nodeSelector"
assert spec["terminationGracePeriodSeconds"] > max(grace_ms / 1000, stop_s), "grace period"
(c,) = spec["containers"]
assert "@sha256:" in c["image"], "image pinned by digest"
for part in ("requests", "limits"):
    r = c["resources"][part]
    assert str(r["aws.ec2.nitro/nitro_enclaves"]) == "1", part + ": the device plugin's resource"
    assert r["hugepages-2Mi"] == "%dMi" % mem, part + ": hugepages-2Mi %s != %dMi" % (r["hugepages-2Mi"], mem)
assert c["resources"]["requests"]["hugepages-2Mi"] == c["resources"]["limits"]["hugepages-2Mi"]
sc = c["securityContext"]
assert sc.get("privileged") is False and sc.get("allowPrivilegeEscalation") is False, "no privileges"
vols = {v["name"]: v for v in spec["volumes"]}
assert any(vols[m["name"]].get("emptyDir", {}).get("medium") == "HugePages" and m["mountPath"] == "/dev/hugepages"
           for m in c["volumeMounts"]), "hugepages volume"
EOF
done_testing
