#!/bin/sh
# Command one of the README: set up a fresh Debian 12 machine, build enclaver, and run
# the main job on the bundled example: build examples/hello into an EIF and a wrapper
# image (printing its PCRs), then boot it under QEMU.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/setup-deps.sh
kdir=$(./scripts/fetch-kernel.sh)
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  ./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi
mkdir -p _build
cd _build
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
  "$top/configure" -q
fi
make -j"$jobs" >/dev/null
make example >/dev/null

echo "== enclaver build (examples/hello, kernel $kdir, builtin init)" >&2
./enclaver build -f "$top/examples/hello/enclaver.yaml" --from oci:examples/hello/app-image \
  --output-dir examples/hello
echo "== outputs: _build/examples/hello/hello.eif and the wrapper image _build/examples/hello/hello-image" >&2
./enclaver describe examples/hello/hello.eif >/dev/null && echo "== enclaver describe: EIF reads back, CRC ok" >&2
if [ "$(uname -m)" = x86_64 ] && command -v qemu-system-x86_64 >/dev/null; then
  echo "== enclaver run --qemu (emulation: no attestation, no isolation)" >&2
  ./enclaver run --qemu --timeout 600 examples/hello/hello-image
fi
