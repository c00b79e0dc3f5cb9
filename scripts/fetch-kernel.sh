#!/bin/sh
# Fetch Debian's cloud kernel without installing it on the host and lay it out as an
# enclaver kernel directory: bzImage + cmdline (no init, no nsm.ko: enclaver then
# uses its builtin init).  This is the default kernel for trying enclaver locally and
# for the QEMU boot tests; production enclaves use AWS's Nitro kernel blobs
# (/usr/share/nitro_enclaves/blobs, or --kernel-dir / kernel.blobs).
#
# Usage: scripts/fetch-kernel.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/enclaver/kernel.
# Prints the kernel directory; CACHE_DIR/default points at it.  Idempotent.
set -eu
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case $arch in
  amd64) meta=linux-image-cloud-amd64; kname=bzImage ;;
  arm64) meta=linux-image-cloud-arm64; kname=Image ;;
  *) echo "fetch-kernel: no Debian cloud kernel for $arch" >&2; exit 1 ;;
esac
cache=${1:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel}
mkdir -p "$cache"

pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve $meta with apt-cache" >&2; exit 1; }
dir="$cache/$pkg"
if [ ! -f "$dir/$kname" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  ( cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1 ) \
    || { echo "fetch-kernel: apt-get download $pkg failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$dir.tmp"
  cp "$tmp"/x/boot/vmlinuz-* "$dir.tmp/$kname"
  # Nitro's x86_64 command line, with the enclave console on the first serial port.
  printf '%s\n' "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on" >"$dir.tmp/cmdline"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
ln -sfn "$pkg" "$cache/default"
echo "$dir"
