#!/bin/sh
# Fetch Debian's cloud kernel without installing it on the host and lay it out as an
# enclaver kernel directory: bzImage + cmdline (no init, no nsm.ko: enclaver then
# uses its builtin init), plus emu-modules/: the kernel's virtio modules that
# `enclaver run --qemu` hands the guest in an extra cpio (docs/run.md).  They are
# not part of any EIF: `enclaver build` reads only bzImage, cmdline, init and nsm.ko.  This is the default kernel for trying enclaver locally and
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
# The virtio modules emulation needs (docs/run.md; EMULATION.md): virtio-mmio and
# virtio-net for the user-mode NIC, vsock for hosts with /dev/vhost-vsock.
mods="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko
net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko
net/vmw_vsock/vmw_vsock_virtio_transport.ko"
if [ ! -f "$dir/$kname" ] || [ ! -f "$dir/emu-modules/virtio_net.ko" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  ( cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1 ) \
    || { echo "fetch-kernel: apt-get download $pkg failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$dir.tmp/emu-modules"
  cp "$tmp"/x/boot/vmlinuz-* "$dir.tmp/$kname"
  # Nitro's x86_64 command line, with the enclave console on the first serial port.
  printf '%s\n' "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on" >"$dir.tmp/cmdline"
  kmod=$(echo "$tmp"/x/lib/modules/*/kernel)
  for m in $mods; do
    if [ -f "$kmod/$m" ]; then
      cp "$kmod/$m" "$dir.tmp/emu-modules/"
    elif [ -f "$kmod/$m.xz" ]; then
      xz -dc "$kmod/$m.xz" >"$dir.tmp/emu-modules/${m##*/}"
    else
      echo "fetch-kernel: $pkg has no $m (emulation will not have it)" >&2
    fi
  done
  if [ -f "$dir/$kname" ] && cmp -s "$dir/$kname" "$dir.tmp/$kname"; then
    # Only the modules were missing: add them next to the kernel already in use.
    rm -rf "$dir/emu-modules.tmp" && mv "$dir.tmp/emu-modules" "$dir/emu-modules.tmp" \
      && rm -rf "$dir/emu-modules" && mv "$dir/emu-modules.tmp" "$dir/emu-modules"
    rm -rf "$dir.tmp"
  else
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
fi
ln -sfn "$pkg" "$cache/default"
echo "$dir"
