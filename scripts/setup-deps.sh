#!/bin/sh
# Install every build and test dependency of enclaver on Debian 12 with apt-get.
# Idempotent: does nothing (and prints nothing) when all packages are present.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config make gcc clang
libarchive-dev libssl-dev libcurl4-openssl-dev liblua5.4-dev lua5.4 libjansson-dev
libyaml-dev zlib1g-dev libzstd-dev libisal-dev
docker-registry curl ca-certificates openssl jq xz-utils zstd cpio git python3 umoci
podman skopeo socat python3-jsonschema python3-boto3 debootstrap strace"

# QEMU boots the built EIFs in the test suite (x86_64 hosts).
# Both QEMU system emulators and the other architecture's cross compiler: the tests
# build and boot enclaves of both architectures (docs/cross-arch.md).
# The cross-built runtime (enclaver-init, enclaver-supervisor, enclaver-run: static) links
# the other architecture's libssl, jansson, libyaml and zlib: Debian's multiarch -dev
# packages of that architecture, which dpkg must be told about first.
other=""
case $(dpkg --print-architecture 2>/dev/null) in
  amd64) other=arm64
    PKGS="$PKGS qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
  arm64) other=amd64
    PKGS="$PKGS qemu-system-arm qemu-system-x86 gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
esac
# The other architecture's own libc and gcc files (libc6-dev, libgcc-12-dev of it) make the
# cross-built runtime the bytes a native build of that architecture gives: configure
# compiles and links it against them instead of the cross toolchain's older glibc
# (docs/cross-arch.md, "Across build hosts").
[ -n "$other" ] && PKGS="$PKGS libssl-dev:$other libjansson-dev:$other libyaml-dev:$other zlib1g-dev:$other
libc6-dev:$other libgcc-12-dev:$other"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "setup-deps: need root (or sudo) to install:$missing" >&2; exit 1
    fi
fi
echo "setup-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if [ -n "$other" ] && ! dpkg --print-foreign-architectures | grep -qx "$other"; then
    $SUDO dpkg --add-architecture "$other"
fi
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
