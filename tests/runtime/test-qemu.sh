#!/bin/sh
# The QEMU backend (runtime/host/backend-qemu.c) booting the quick-start example's EIF
# for real: builds the EIF as tests/boot/boot.sh does, then runs tests/runtime/test-qemu.
. "$top_srcdir/tests/lib.sh"
QEMU=qemu-system-x86_64
[ "$(uname -m)" = x86_64 ] || skip_all "the QEMU backend test runs on x86_64 hosts"
command -v $QEMU >/dev/null || skip_all "$QEMU not installed (scripts/setup-deps.sh installs it)"
KDIR=${ENCLAVER_DEFAULT_KERNEL:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel/default}
[ -f "$KDIR/bzImage" ] || skip_all "no default kernel in $KDIR (run scripts/fetch-kernel.sh)"
[ -f "$KDIR/emu-modules/virtio_net.ko" ] \
  || skip_all "no virtio modules in $KDIR/emu-modules (run scripts/fetch-kernel.sh again)"
if ldd "$top_builddir/runtime/enclaver-init" >/dev/null 2>&1; then
  skip_all "the runtime is dynamically linked in this (sanitizer) build; it cannot boot"
fi
make -C "$top_builddir" example >/dev/null 2>&1 || { not_ok "make example"; done_testing; exit 1; }
unset NITRO_CLI_BLOBS
cd "$TEST_TMP" || exit 1
"$ENCLAVER" -q build -f "$top_srcdir/examples/hello/enclaver.yaml" \
  --from "oci:$top_builddir/examples/hello/app-image" --eif-only hello.eif >hello.json 2>hello.err \
  || { cat hello.err >&2; not_ok "build the example EIF"; done_testing; exit 1; }
mkdir work
export ENCLAVER_EMU_MODULES="$KDIR/emu-modules"
exec "$top_builddir/tests/runtime/test-qemu" "$TEST_TMP/hello.eif" "$TEST_TMP/work"
