#!/bin/sh
# An aarch64 enclave boots (issue 21, docs/cross-arch.md): a static aarch64 hello (the
# cross compiler's on an x86_64 host), packed into an OCI layout, built into an aarch64
# EIF with Debian's arm64 cloud kernel and the aarch64 runtime, and booted with
# `enclaver run --qemu`, which picks qemu-system-aarch64 (-M virt, TCG) for an aarch64
# EIF by itself.  The app's line and its exit code come back, as in tests/boot/boot.sh.
. "$top_srcdir/tests/lib.sh"
case $(uname -m) in
  x86_64) need_cross; CC_A64=$XCC ;;
  aarch64) CC_A64=${CC:-cc} ;;
  *) skip_all "host architecture $(uname -m) is not one of Nitro's" ;;
esac
command -v qemu-system-aarch64 >/dev/null || skip_all "qemu-system-aarch64 not installed (scripts/setup-deps.sh installs it)"
KDIR=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel/default-aarch64
[ -f "$KDIR/Image" ] || skip_all "no arm64 kernel in $KDIR (run scripts/fetch-kernel.sh --arch arm64)"
if ldd "$top_builddir/runtime/enclaver-init" >/dev/null 2>&1 && [ "$(uname -m)" = aarch64 ]; then
  skip_all "the runtime is dynamically linked in this (sanitizer) build; it cannot boot"
fi
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS ENCLAVER_DEFAULT_KERNEL
export ENCLAVER_RUN_DIR="$TEST_TMP/run"

mkdir -p app/bin
if ! "$CC_A64" -static -O2 -o app/bin/hello "$top_srcdir/examples/hello/hello.c" 2>cc.err; then
  not_ok "$CC_A64 builds the static aarch64 hello"; diag "$(cat cc.err)"; done_testing; exit 1
fi
[ "$(elf_machines app)" = "183 bin/hello" ] && ok "the app is an aarch64 ELF" || not_ok "app: $(elf_machines app)"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
$MKOCI img --layer app --entrypoint '["/bin/hello"]' --cmd '["--greeting","arm64"]' --arch arm64 >/dev/null
$MKOCI img7 --layer app --entrypoint '["/bin/hello"]' --cmd '["--greeting","arm64","--exit","7"]' --arch arm64 >/dev/null
cat >enclaver.yaml <<YAML
version: v1
name: a64
target: a64:latest
sources:
  app: oci:./img
defaults:
  memory_mb: 512
YAML

# No --kernel-dir: the default kernel of the EIF's architecture (default-aarch64).
run_cmd "$ENCLAVER" build --platform linux/arm64 --eif-only a64.eif -o json
expect_rc "build the aarch64 EIF with the default arm64 kernel" 0
# pcr0_of: PCR0 of the `enclaver build -o json` document on stdin
pcr0_of () { python3 -c 'import json,sys; print(json.load(sys.stdin)["Measurements"]["PCR0"])'; }
pcr0=$(printf '%s' "$OUT" | pcr0_of)
run_cmd "$ENCLAVER" describe --sections a64.eif
expect_in "an aarch64 EIF" "$OUT" '"Arch": "aarch64"'
expect_in "the EIF records the arm64 kernel's version" "$OUT" '"KernelVersion": "6.'

run_cmd timeout 900 "$ENCLAVER" -v run --qemu --timeout 600 a64.eif
expect_rc "the app's exit code 0 is enclaver run's" 0
expect_in "enclaver run picked qemu-system-aarch64 with the virt machine" "$ERR" "qemu: qemu-system-aarch64 -M virt"
expect_in "the app ran; its line arrived over the log stream" "$ERR" "Hello from the enclave, arm64! (pid"
expect_in "the launcher reports the app's end" "$ERR" "the app exited with code 0"

# the second boot (each is ~20 s under TCG): -o json and a non-zero exit at once
"$ENCLAVER" -q build --platform linux/arm64 --from oci:./img7 --eif-only a64-7.eif -o json >b7.json 2>b7.err \
  || { not_ok "build the exit-7 EIF"; diag "$(cat b7.err)"; }
pcr0_7=$(pcr0_of <b7.json 2>/dev/null)
run_cmd timeout 900 "$ENCLAVER" run --qemu --timeout 600 -o json a64-7.eif
expect_rc "an aarch64 app exiting 7 makes enclaver run -o json exit 7" 7
[ -n "$pcr0_7" ] && [ "$pcr0_7" != "$pcr0" ] && ok "the exit-7 EIF has its own PCR0" || not_ok "the exit-7 EIF's PCR0 ($pcr0_7)"
expect_in "-o json: the started event carries the build's PCR0" "$OUT" "$pcr0_7"
expect_in "-o json: the app's line as a log event" "$OUT" '"line":"Hello from the enclave, arm64!'
expect_in "-o json: the exit is reported" "$OUT" '{"event":"status","status":"exited","code":7}'
done_testing
