#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The deployment examples (examples/systemd, examples/kubernetes; docs/deploy.md):
#   - the systemd template and its drop-ins pass `systemd-analyze verify` with no
#     warning, and carry what a graceful CD restart needs (SIGTERM, exit 109 counted as
#     success, a stop timeout above enclaver's own grace and the manifest's
#     stop_timeout, restart on failure, the image from IMAGE, --qemu by drop-in);
#   - where systemd is PID 1, a real start/stop cycle of the unit under emulation;
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

# A real cycle needs systemd as PID 1 (not a container's init) and QEMU for --qemu.
if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
  ok "# SKIP the start/stop cycle: systemd is not PID 1 here ($(cat /proc/1/comm 2>/dev/null))"
elif [ "$(id -u)" != 0 ]; then
  ok "# SKIP the start/stop cycle: needs root to install a unit in /run/systemd/system"
elif ! command -v qemu-system-x86_64 >/dev/null || [ "$(uname -m)" != x86_64 ]; then
  ok "# SKIP the start/stop cycle: needs qemu-system-x86_64 on an x86_64 host"
else
  NAME=enclaver-test-$$
  EIF=$TEST_TMP/hello.eif
  run_cmd "$ENCLAVER" -q build -f "$EX/hello/enclaver.yaml" --eif-only "$EIF"
  expect_rc "the example's EIF for the cycle" 0
  D=/run/systemd/system
  sed "s|/usr/local/bin/enclaver|$ENCLAVER|" "$U" >"$D/$NAME@.service"
  mkdir -p "$D/$NAME@hello.service.d"
  printf '[Service]\nEnvironment=IMAGE=%s\nEnvironment=ENCLAVER_RUN_FLAGS=--qemu\n' "$EIF" \
    >"$D/$NAME@hello.service.d/test.conf"
  trap 'systemctl stop "$NAME@hello" 2>/dev/null; rm -rf "$D/$NAME@.service" "$D/$NAME@hello.service.d"; systemctl daemon-reload' EXIT
  systemctl daemon-reload
  run_cmd systemctl start "$NAME@hello"
  expect_rc "systemctl start" 0
  sleep 20 # the enclave boots and runs its app (a hang guard, not a timing goal)
  run_cmd systemctl stop "$NAME@hello"
  expect_rc "systemctl stop" 0
  run_cmd systemctl show -p Result --value "$NAME@hello"
  expect_in "... ended with success (109 or the app's 0), not a failure" "$OUT" "success"
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
