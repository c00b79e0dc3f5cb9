#!/bin/sh
# The bootable proof: build the quick-start example into an EIF (Debian cloud kernel +
# enclaver's builtin init + supervisor), then boot it under QEMU with `enclaver run
# --qemu`, which extracts kernel, cmdline and ramdisks with enclaver's own EIF reader,
# and check what the enclave reports on its console and the exit codes.
. "$top_srcdir/tests/lib.sh"
need_boot
make -C "$top_builddir" example >/dev/null 2>&1 || { not_ok "make example"; done_testing; exit 1; }
IMG="$top_builddir/examples/hello/app-image"
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS
# The launchers' state files stay in the test's directory: not /run/enclaver, where
# another test run on the machine could hold the same enclave names.
export ENCLAVER_RUN_DIR="$TEST_TMP/run"

# Variants of the example image with other commands, from the same layer.
python3 - "$IMG" <<'PY'
import json, os, sys, hashlib, shutil
src = sys.argv[1]
def variant(name, cmd, entrypoint=None):
    dst = name
    shutil.copytree(src, dst)
    idx = json.load(open(os.path.join(dst, "index.json")))
    md = idx["manifests"][0]["digest"][7:]
    man = json.load(open(os.path.join(dst, "blobs", "sha256", md)))
    cfg = json.load(open(os.path.join(dst, "blobs", "sha256", man["config"]["digest"][7:])))
    cfg["config"]["Cmd"] = cmd
    if entrypoint is not None:
        cfg["config"]["Entrypoint"] = entrypoint
    cb = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    cd = hashlib.sha256(cb).hexdigest()
    open(os.path.join(dst, "blobs", "sha256", cd), "wb").write(cb)
    man["config"]["digest"] = "sha256:" + cd
    man["config"]["size"] = len(cb)
    mb = json.dumps(man, sort_keys=True, separators=(",", ":")).encode()
    mdg = hashlib.sha256(mb).hexdigest()
    open(os.path.join(dst, "blobs", "sha256", mdg), "wb").write(mb)
    idx["manifests"][0]["digest"] = "sha256:" + mdg
    idx["manifests"][0]["size"] = len(mb)
    json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
variant("exit7", ["--exit", "7"])
variant("killed", ["--signal", "9"])
variant("waiter", ["--wait"])
variant("nocmd", [], ["/no/such/program"])
PY

build () { # name source
  "$ENCLAVER" -q build -f "$top_srcdir/examples/hello/enclaver.yaml" --from "$2" --eif-only "$1.eif" >"$1.json" 2>"$1.err"
}
build hello "oci:$IMG"
RC=$?; OUT=$(cat hello.json); ERR=$(cat hello.err)
expect_rc "build the example EIF with the default kernel and builtin init" 0
run_cmd "$ENCLAVER" describe hello.eif
expect_in "the EIF records the Debian kernel's version" "$OUT" '"KernelVersion": "6.'

run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 hello.eif
expect_rc "the app's exit code 0 is enclaver run's" 0
expect_in "the app ran; its output arrived over the log stream" "$ERR" "Hello from the enclave, world! (pid"
expect_in "Env from the image reached the app" "$ERR" "GREETING=hi"
expect_in "the launcher reports the app's end from the status stream" "$ERR" "the app exited with code 0"
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 -o json hello.eif
expect_rc "-o json: exit 0" 0
expect_in "-o json: a started event with the PCR0" "$OUT" '"event":"started"'
expect_in "-o json: the status event" "$OUT" '{"event":"status","status":"exited","code":0}'
expect_in "-o json: the app's line as a log event" "$OUT" '"line":"Hello from the enclave, world!'
expect_in "-o json: the exit event" "$OUT" '"event":"exit"'

build nocmd oci:nocmd || not_ok "build nocmd"
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 nocmd.eif
expect_rc "a command that does not exist: the supervisor's fatal status makes exit 108" 108
expect_in "the launcher says the enclave failed" "$ERR" "/no/such/program"

build exit7 oci:exit7 || not_ok "build exit7"
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 exit7.eif
expect_rc "an app exiting 7 makes enclaver run exit 7" 7
expect_in "the exit is reported" "$ERR" "the app exited with code 7"

build killed oci:killed || not_ok "build killed"
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 -o json killed.eif
expect_rc "an app killed by a signal makes enclaver run exit 107" 107
expect_in "the signal is in the status event" "$OUT" '"status":"signaled","signal":9'

# SIGTERM to enclaver run while the app runs: the app gets SIGTERM (the stop request to
# the supervisor), its last line arrives, exit 109.
build waiter oci:waiter || not_ok "build waiter"
# (not under timeout(1): it passes a SIGTERM on to its whole process group, so the
# launcher would get two, and a second signal terminates at once)
"$ENCLAVER" run --qemu --timeout 600 waiter.eif >waiter.out 2>waiter.err &
wpid=$!
i=0
while [ $i -lt 600 ] && ! grep -q "waiting for SIGTERM" waiter.err 2>/dev/null; do sleep 0.5; i=$((i + 1)); done
kill -TERM $wpid
wait $wpid; RC=$?
ERR=$(cat waiter.err)
expect_rc "SIGTERM to enclaver run: exit 109" 109
expect_in "the app saw SIGTERM and its last line arrived" "$ERR" "caught SIGTERM, exiting"

# Two enclaves at once (each gets its own forwarded ports), seen by `enclaver ps` and
# stopped by `enclaver stop` the same graceful way.
"$ENCLAVER" run --qemu --timeout 600 --name boot-a waiter.eif >a.out 2>a.err &
apid=$!
"$ENCLAVER" run --qemu --timeout 600 --name boot-b waiter.eif >b.out 2>b.err &
bpid=$!
i=0
while [ $i -lt 600 ] && ! { grep -q "waiting for SIGTERM" a.err && grep -q "waiting for SIGTERM" b.err; } 2>/dev/null; do
  sleep 0.5; i=$((i + 1))
done
run_cmd "$ENCLAVER" ps -o json
expect_rc "enclaver ps" 0
expect_in "ps lists the first enclave" "$OUT" '"name":"boot-a"'
expect_in "ps lists the second enclave" "$OUT" '"name":"boot-b"'
# A late client of boot-a's log stream gets the retained tail (the app's lines so far).
la=$(printf '%s\n' "$OUT" | python3 -c 'import json,sys; print(next(e["log_addr"] for e in json.load(sys.stdin) if e["name"] == "boot-a"))')
case $la in
  tcp:127.0.0.1:*)
    ok "ps -o json names the log stream ($la)"
    tail=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"${la##*:}"'; cat <&3' 2>/dev/null)
    expect_in "a late log client gets the replayed tail" "$tail" "waiting for SIGTERM" ;;
  *) not_ok "ps -o json names the log stream ($la)" ;;
esac
run_cmd "$ENCLAVER" stop boot-a
expect_rc "enclaver stop boot-a" 0
wait $apid; RC=$?
expect_rc "the stopped enclave's launcher: exit 109" 109
expect_in "the stopped app saw SIGTERM" "$(cat a.err)" "caught SIGTERM, exiting"
run_cmd "$ENCLAVER" ps -o json
case $OUT in *'"name":"boot-a"'*) not_ok "boot-a is gone from ps" ;; *) ok "boot-a is gone from ps" ;; esac
expect_in "boot-b still runs" "$OUT" '"name":"boot-b"'
run_cmd "$ENCLAVER" stop boot-b
wait $bpid; RC=$?
expect_rc "the second enclave stopped too: exit 109" 109

timeout 600 "$ENCLAVER" run --qemu --timeout 3 waiter.eif >waiter.out 2>waiter.err; RC=$?
ERR=$(cat waiter.err)
expect_rc "--timeout stops the enclave as a signal would: exit 109" 109
expect_in "--timeout: the app was stopped gracefully" "$ERR" "caught SIGTERM, exiting"

# Signed EIFs boot: signed by `enclaver sign`, and by the manifest's signature: key.
CERT="$top_srcdir/golden/eif/sign-cert.pem" KEY="$top_srcdir/golden/eif/sign-key.pem"
run_cmd "$ENCLAVER" sign hello.eif --signing-certificate "$CERT" --private-key "$KEY" -o signed.eif
expect_rc "enclaver sign" 0
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 signed.eif
expect_rc "an EIF signed by 'enclaver sign' boots: exit 0" 0
expect_in "the signed EIF's app ran" "$ERR" "Hello from the enclave, world! (pid"

# A signed wrapper image whose manifest sets memory and CPUs; run reads them from the
# image's enclave/enclaver.yaml.  The same manifest, as -f without an image, names its
# build output.
mkdir -p proj
cat >proj/enclaver.yaml <<EOF
version: v1
name: boot-signed
target: boot-signed:latest
sources:
  app: oci:$IMG
defaults:
  cpu_count: 1
  memory_mb: 777
signature:
  certificate: $CERT
  key: $KEY
EOF
run_cmd "$ENCLAVER" -q build -f proj/enclaver.yaml
expect_rc "build a signed wrapper image" 0
run_cmd "$ENCLAVER" describe proj/boot-signed.eif
expect_in "the manifest's signature: signed the EIF" "$OUT" '"SignatureCheck": true'
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 proj/boot-signed-image
expect_rc "a signed wrapper image boots: exit 0" 0
expect_in "the signed image's app ran" "$ERR" "Hello from the enclave, world! (pid"
expect_in "memory and CPUs come from the image's defaults" "$ERR" "with 777 MiB and 1 CPU "
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 --memory 640 --cpu-count 2 proj/boot-signed-image
expect_rc "--memory (nitro-cli's spelling) and --cpu-count: exit 0" 0
expect_in "the command line wins over the image's defaults" "$ERR" "with 640 MiB and 2 CPUs "
# The release image's own launcher (the static enclaver-run of its bottom layer) boots
# the EIF of its top layer with the defaults of the manifest beside it.
run_cmd unpack_image proj/boot-signed-image rel-root
expect_rc "unpack the release image" 0
run_cmd timeout 600 rel-root/usr/local/bin/enclaver-run --qemu --timeout 300 rel-root/enclave/application.eif
expect_rc "the image's enclaver-run boots the image's EIF: exit 0" 0
expect_in "... the app ran" "$ERR" "Hello from the enclave, world! (pid"
expect_in "... with the memory and CPUs of the enclaver.yaml beside it" "$ERR" "with 777 MiB and 1 CPU "
( cd proj && timeout 600 "$ENCLAVER" run --qemu --timeout 300 >../target.out 2>../target.err ); RC=$?
OUT=$(cat target.out); ERR=$(cat target.err)
expect_rc "run without an image: ./enclaver.yaml's build output" 0
expect_in "it says which image it runs" "$ERR" "the build output of enclaver.yaml"
expect_in "that image's app ran" "$ERR" "Hello from the enclave, world! (pid"
run_cmd "$ENCLAVER" run --qemu -f proj/enclaver.yaml hello.eif
expect_rc "-f and an image together: usage error" 2

# --console (and nitro-cli's --attach-console) shows the boot, without the firmware's
# terminal escapes (SeaBIOS clears the screen).
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 --attach-console --eif-path hello.eif
expect_rc "--attach-console --eif-path: exit 0" 0
expect_in "the console shows the kernel's messages" "$ERR" "Linux version"
expect_in "the console shows the supervisor's status lines" "$ERR" 'enclaver-supervisor: status {"status":"running"}'
esc=$(printf '\033')
case $ERR in *"$esc"*) not_ok "no escape sequences reach the terminal" ;; *) ok "no escape sequences reach the terminal" ;; esac

# The wrapper image's PCR labels and --verify-pcrs are checked before anything starts.
"$ENCLAVER" describe hello.eif >hello-pcrs.json
run_cmd timeout 600 "$ENCLAVER" run --qemu --timeout 300 --verify-pcrs hello-pcrs.json hello.eif
expect_rc "--verify-pcrs with the EIF's own PCRs: exit 0" 0
"$ENCLAVER" describe exit7.eif >other-pcrs.json
run_cmd "$ENCLAVER" run --qemu --verify-pcrs other-pcrs.json hello.eif
expect_rc "--verify-pcrs with another EIF's PCRs: refused, exit 1" 1
expect_in "the refusal names the PCR and the file" "$ERR" "other-pcrs.json expects"
case $ERR in *"started enclave"*) not_ok "nothing was started" ;; *) ok "nothing was started" ;; esac
run_cmd "$ENCLAVER" run hello.eif
expect_rc "run without --qemu on a host without Nitro: exit 1" 1
expect_in "it says what to install" "$ERR" "/dev/nitro_enclaves"
run_cmd "$ENCLAVER" run --qemu "$top_srcdir/README.md"
expect_rc "run --qemu on a file that is neither an EIF nor an image: exit 1" 1

done_testing
