#!/bin/sh
# Fetch Debian's cloud kernel without installing it on the host and lay it out as an
# enclaver kernel directory: the kernel (bzImage on x86_64, the arm64 Image on aarch64)
# + cmdline (no init, no nsm.ko: enclaver then uses its builtin init), plus
# emu-modules/: the kernel's virtio modules that `enclaver run --qemu` hands the guest
# in an extra cpio (docs/run.md).  They are not part of any EIF: `enclaver build` reads
# only the kernel, cmdline, init and nsm.ko.  This is the default kernel for trying
# enclaver locally and for the QEMU boot tests; production enclaves use AWS's Nitro
# kernel blobs (/usr/share/nitro_enclaves/blobs, or --kernel-dir / kernel.blobs).
#
# Usage: scripts/fetch-kernel.sh [--arch ARCH] [CACHE_DIR]
#   ARCH: amd64 (x86_64) or arm64 (aarch64); default the host's.  The other
#     architecture's kernel needs that architecture known to apt
#     (dpkg --add-architecture arm64 && apt-get update; scripts/setup-deps.sh does).
#   CACHE_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/enclaver/kernel.
# Prints the kernel directory; CACHE_DIR/default-ARCH (x86_64, aarch64) points at it,
# and CACHE_DIR/default too for the host's architecture: where `enclaver build` looks
# for the default kernel of an EIF of that architecture.  Idempotent.
set -eu
host=$(dpkg --print-architecture 2>/dev/null || echo amd64)
arch=$host
case ${1:-} in
  --arch) [ $# -ge 2 ] || { echo "fetch-kernel: --arch needs amd64 or arm64" >&2; exit 2; }
    arch=$2; shift 2 ;;
  --arch=*) arch=${1#--arch=}; shift ;;
  -*) echo "usage: scripts/fetch-kernel.sh [--arch amd64|arm64] [CACHE_DIR]" >&2; exit 2 ;;
esac
case $arch in
  amd64 | x86_64) arch=amd64 eif_arch=x86_64 kname=bzImage
    # Nitro's x86_64 command line (EIF.md), the enclave console on the first serial port.
    cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on" ;;
  arm64 | aarch64) arch=arm64 eif_arch=aarch64 kname=Image
    # Nitro's aarch64 command line (EIF.md).
    cmdline="reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on root=/dev/ram0" ;;
  *) echo "fetch-kernel: no Debian cloud kernel for '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
meta=linux-image-cloud-$arch
# apt names the host's packages without a qualifier, the other architecture's with one.
q=""
[ "$arch" = "$host" ] || q=":$arch"
cache=${1:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel}
mkdir -p "$cache"

resolve () {
  apt-cache depends "$meta$q" 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\)\(:[a-z0-9]*\)\{0,1\}$/\1/p' | head -n 1
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
  if [ -n "$q" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    echo "fetch-kernel: apt does not know $arch packages: dpkg --add-architecture $arch && apt-get update" \
      "(scripts/setup-deps.sh does both)" >&2
  else
    echo "fetch-kernel: cannot resolve $meta$q with apt-cache" >&2
  fi
  exit 1
fi
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
  ( cd "$tmp" && apt-get download -qq "$pkg$q" >/dev/null 2>&1 ) \
    || { echo "fetch-kernel: apt-get download $pkg$q failed" >&2; exit 1; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp/emu-modules"
  set -- "$tmp"/x/boot/vmlinuz-*
  [ -f "$1" ] || { echo "fetch-kernel: $pkg has no /boot/vmlinuz-*" >&2; exit 1; }
  if [ "$arch" = arm64 ]; then
    # The EIF takes the arm64 Image itself (EIF.md); a vmlinuz that is a gzip'd Image
    # is unpacked.  Either way the result must carry the Image header's magic.
    if [ "$(od -An -tx1 -N2 "$1" | tr -d ' ')" = 1f8b ]; then
      gzip -dc "$1" >"$dir.tmp/$kname"
    else
      cp "$1" "$dir.tmp/$kname"
    fi
    [ "$(od -An -c -j56 -N3 "$dir.tmp/$kname" | tr -d ' ')" = ARM ] \
      || { echo "fetch-kernel: $1 of $pkg is not an arm64 Image (no ARM\\x64 magic at 56)" >&2; exit 1; }
  else
    cp "$1" "$dir.tmp/$kname"
  fi
  printf '%s\n' "$cmdline" >"$dir.tmp/cmdline"
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
ln -sfn "$pkg" "$cache/default-$eif_arch"
[ "$arch" = "$host" ] && ln -sfn "$pkg" "$cache/default"
echo "$dir"
