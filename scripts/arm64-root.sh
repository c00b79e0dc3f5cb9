#!/bin/sh
# An emulated arm64 Debian 12 build host (issue 21, docs/cross-arch.md "Across build
# hosts"): a debootstrap'd arm64 root whose programs run under qemu-user, used by
# tests/build/cross-host.sh to build enclaver natively for aarch64 and compare it with
# the cross build of this x86_64 host.
#
#   scripts/arm64-root.sh create          make (or reuse) the root, print its path
#   scripts/arm64-root.sh run CMD [ARG]...  run CMD in the root (as root, cwd /)
#
# The root is cached under $XHOST_DIR (default /var/tmp/enclaver-xhost), keyed on the
# debootstrap package list below and the host's apt sources: a changed list makes a new
# root.  The amd64 packages are installed into it when missing, on every create.
# Running arm64 programs needs a binfmt_misc entry for qemu-aarch64-static.  It is
# registered in a binfmt_misc instance of a new user namespace (Linux >= 6.7), never in
# the host's: the host's /proc/sys/fs/binfmt_misc is neither mounted nor changed.  The
# F flag opens the interpreter at registration, so the root needs no copy of qemu.
# Needs root, debootstrap and qemu-user-static on the host.
set -eu

XHOST_DIR=${XHOST_DIR:-/var/tmp/enclaver-xhost}
MIRROR=${XHOST_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
QEMU=/usr/bin/qemu-aarch64-static
# What a native arm64 build of enclaver needs (scripts/setup-deps.sh's build part), and
# the x86_64 cross compiler for the reverse direction.  The amd64 multiarch -dev packages
# come from apt in the root (debootstrap knows one architecture): the libraries the
# runtime links, and amd64's own libc and gcc files, against which configure builds the
# cross runtime (docs/cross-arch.md, "Across build hosts").
PKGS="gcc make autoconf automake libtool pkg-config libarchive-dev libssl-dev
libcurl4-openssl-dev liblua5.4-dev lua5.4 libjansson-dev libyaml-dev zlib1g-dev
libzstd-dev libisal-dev gcc-x86-64-linux-gnu libc6-dev-amd64-cross ca-certificates"
PKGS_AMD64="libssl-dev:amd64 libjansson-dev:amd64 libyaml-dev:amd64 zlib1g-dev:amd64 libc6-dev:amd64
libgcc-12-dev:amd64"

die () { echo "arm64-root: $*" >&2; exit 1; }

# The binfmt_misc entry of Debian's qemu-user-static (/usr/lib/binfmt.d/qemu-aarch64.conf)
# with the interpreter's own path and the F flag.
BINFMT=':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'$QEMU':F'

# in_root ROOT CMD...: CMD in ROOT, in new user, mount and PID namespaces, with its own
# binfmt_misc and /proc.  The user namespace maps uids and gids 0-65535 to themselves
# (apt drops to _apt); root writes the maps from outside, which needs no newuidmap.
# Everything mounted here goes away with the namespaces.
in_root () {
  r=$1; shift
  d=$(mktemp -d); mkfifo "$d/go"
  unshare --user sh -c 'echo $$ >"$1/pid"; read x <"$1/go"; shift; exec "$@"' in_root "$d" \
    unshare --mount --pid --fork --propagation private sh -euc '
      r=$1; binfmt=$2; shift 2
      mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
      printf "%b" "$binfmt" >/proc/sys/fs/binfmt_misc/register
      mount -t proc proc "$r/proc"
      mount -t tmpfs tmpfs "$r/tmp"
      exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"' in_root "$r" "$BINFMT" "$@" &
  job=$!
  while [ ! -s "$d/pid" ]; do sleep 0.1; done
  p=$(cat "$d/pid")
  echo "0 0 65536" >"/proc/$p/uid_map" && echo "0 0 65536" >"/proc/$p/gid_map" || { kill "$job"; rm -rf "$d"; die "cannot map uids of the namespace"; }
  echo go >"$d/go"
  rc=0; wait "$job" || rc=$?
  rm -rf "$d"
  return "$rc"
}

key () {
  { echo "$SUITE $MIRROR"; echo "$PKGS"
    cat /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources 2>/dev/null || :; } | sha256sum | cut -c1-16
}

create () {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, namespaces)"
  command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
  [ -x "$QEMU" ] || die "$QEMU missing: apt-get install qemu-user-static"
  k=$(key); root=$XHOST_DIR/root-$k
  [ -f "$root/.enclaver-xhost-ok" ] || make_root
  # The amd64 packages, when missing.
  missing=$(in_root "$root" dpkg-query -W -f '${binary:Package} ${db:Status-Status}\n' $PKGS_AMD64 2>/dev/null \
    | awk -v want="$(echo $PKGS_AMD64)" '$2 == "installed" { ok[$1] = 1 }
      END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) printf "%s ", w[i] }') || :
  if [ -n "$missing" ]; then
    in_root "$root" sh -euc "apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing && apt-get clean" \
      >"$XHOST_DIR/apt-amd64.log" 2>&1 || die "apt in the root failed: see $XHOST_DIR/apt-amd64.log"
  fi
  echo "$root"
}

make_root () {
  mkdir -p "$XHOST_DIR"
  t0=$(date +%s)
  # A first stage done before (the downloads) is kept; a failed later step starts over
  # from it.
  if [ ! -f "$root.new/.stage1-ok" ] || [ -f "$root.new/.stage2-started" ]; then
    rm -rf "$root.new"
    debootstrap --arch=arm64 --foreign --variant=minbase \
      --include="$(echo $PKGS | tr ' ' ,)" "$SUITE" "$root.new" "$MIRROR" >"$XHOST_DIR/debootstrap-1.log" 2>&1 \
      || die "debootstrap (first stage) failed: see $XHOST_DIR/debootstrap-1.log"
    touch "$root.new/.stage1-ok"
  fi
  t1=$(date +%s)
  touch "$root.new/.stage2-started"
  # container=lxc: debootstrap's test that it may create device nodes fails in a user
  # namespace; the first stage (root on the host) made them already.
  in_root "$root.new" /usr/bin/env container=lxc /debootstrap/debootstrap --second-stage >"$XHOST_DIR/debootstrap-2.log" 2>&1 \
    || die "debootstrap --second-stage failed: see $XHOST_DIR/debootstrap-2.log"
  t2=$(date +%s)
  # The host's apt sources (Debian's part), so the root gets the same package versions as
  # this host: the libraries linked into the static runtime must be the same builds.
  cp /etc/apt/sources.list.d/debian.sources "$root.new/etc/apt/sources.list.d/" 2>/dev/null \
    || cp /etc/apt/sources.list "$root.new/etc/apt/sources.list"
  cp /etc/resolv.conf "$root.new/etc/resolv.conf"
  in_root "$root.new" sh -euc "
    dpkg --add-architecture amd64
    apt-get update -qq
    apt-get -y -qq dist-upgrade
    apt-get clean" >"$XHOST_DIR/apt.log" 2>&1 \
    || die "apt in the root failed: see $XHOST_DIR/apt.log"
  t3=$(date +%s)
  rm -f "$root.new/.stage1-ok" "$root.new/.stage2-started"
  echo "first stage $((t1 - t0)) s, second stage $((t2 - t1)) s, apt $((t3 - t2)) s" >"$root.new/.enclaver-xhost-ok"
  rm -rf "$root"; mv "$root.new" "$root"
}

case ${1:-} in
  create) create ;;
  run) shift; [ $# -ge 1 ] || die "usage: $0 run CMD [ARG]..."; root=$XHOST_DIR/root-$(key)
    [ -f "$root/.enclaver-xhost-ok" ] || die "no root at $root: run $0 create first"
    in_root "$root" "$@" ;;
  *) echo "usage: $0 create | run CMD [ARG]..." >&2; exit 2 ;;
esac
