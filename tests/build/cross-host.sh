#!/bin/sh
# Reproducibility across build hosts (issue 21, docs/cross-arch.md "Across build hosts"):
# what this x86_64 host builds for both architectures -- its native x86_64 runtime and
# its cross-built aarch64 one -- against what an arm64 build host builds: its native
# aarch64 runtime and its cross-built x86_64 one.  The arm64 host is an emulated Debian 12
# root (scripts/arm64-root.sh: debootstrap, qemu-user through a binfmt_misc of its own
# user namespace) holding the same source tree at the same paths, configured as this
# build.  Compared: the runtime binaries (enclaver-init, enclaver-supervisor,
# enclaver-run) of each architecture, then an aarch64 EIF (the static aarch64 hello of
# tests/build/cross-arch.sh, the arm64 kernel) and an x86_64 EIF (a static x86_64 hello,
# the x86_64 kernel) built from each host's runtime: bytes and PCRs.
#
# Long (the emulated root: about an hour the first time, cached under
# $XHOST_DIR; see docs/cross-arch.md): `make check-cross-host`, not in `make check`.
. "$top_srcdir/tests/lib.sh"
[ "${ENCLAVER_CROSS_HOST:-}" = 1 ] || skip_all "long: run make check-cross-host"
[ "$(uname -m)" = x86_64 ] || skip_all "the emulated arm64 host needs an x86_64 host"
[ "$(id -u)" = 0 ] || skip_all "needs root (debootstrap, namespaces)"
need_cross
command -v qemu-aarch64-static >/dev/null || skip_all "qemu-user-static missing (apt-get install qemu-user-static)"
command -v debootstrap >/dev/null || skip_all "debootstrap missing"
ldd "$top_builddir/runtime/enclaver-init" >/dev/null 2>&1 && skip_all "the runtime is not static here (sanitizer build)"
XROOT="$top_srcdir/scripts/arm64-root.sh"
XHOST_DIR=${XHOST_DIR:-/var/tmp/enclaver-xhost}; export XHOST_DIR
KC=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS ENCLAVER_DEFAULT_KERNEL ENCLAVER_LIBEXEC_DIR
now () { date +%s; }
abs_src=$(cd "$top_srcdir" && pwd) abs_build=$(cd "$top_builddir" && pwd)

# The host's binfmt_misc before: the emulation must not touch it.
binfmt_before=$(grep binfmt_misc /proc/mounts; ls /proc/sys/fs/binfmt_misc 2>/dev/null)

# 1. The arm64 root (cached).
t=$(now)
if root=$("$XROOT" create 2>create.err); then ok "the arm64 root: $root ($(($(now) - t)) s; $(cat "$root/.enclaver-xhost-ok"))"
else not_ok "scripts/arm64-root.sh create"; diag "$(cat create.err)"; done_testing; exit 1; fi
run_cmd "$XROOT" run uname -m
[ "$OUT" = aarch64 ] && ok "programs in the root run as aarch64" || not_ok "uname -m in the root: $OUT $ERR"

# 2. The same tree, at the same paths, configured as this build: the arm64 host's native
# aarch64 runtime and its cross-built x86_64 one.  Paths are the same so that nothing
# of them can make a difference (they are mapped out of the debug info anyway).
eval "set -- $("$top_builddir/config.status" --config)"
t=$(now)
rm -rf "$root/xhost"
mkdir -p "$root$abs_src" "$root/xhost"
(cd "$abs_src" && find . -mindepth 1 -maxdepth 1 ! -name '.git' ! -name '_build*' -print0 \
  | tar --null -T - -cf -) | tar -C "$root$abs_src" -xf - || not_ok "copy the tree into the root"
# The root's build tree is kept from run to run: tar keeps the sources' mtimes, so make
# there rebuilds what changed (and reruns configure when configure.ac did), as here.
# XHOST_CLEAN=1 starts it afresh.
[ "${XHOST_CLEAN:-}" = 1 ] && rm -rf "$root$abs_build"
mkdir -p "$root$abs_build"
[ -f "$root$abs_build/Makefile" ] && conf=: || conf="nice -n 10 $abs_src/configure $*"
printf '%s\n' "cd $abs_build" "$conf" "nice -n 10 make -j2 runtime/enclaver-init \
runtime/enclaver-supervisor runtime/enclaver-run all-cross-runtime" >"$root/xhost/build.sh"
if "$XROOT" run sh -e /xhost/build.sh >native-build.log 2>&1; then
  ok "the arm64 host builds enclaver's runtime ($(($(now) - t)) s)"
else not_ok "the build in the root failed"; diag "$(tail -20 native-build.log)"; done_testing; exit 1; fi
grep -q '^CROSS_ARCH = x86_64$' "$root$abs_build/Makefile" && grep -q '^S\["CROSS_NATIVE_SYS_TRUE"\]=""$' "$root$abs_build/config.status" \
  && ok "the arm64 host's configure found the x86_64 cross toolchain and amd64's own libc" \
  || not_ok "no x86_64 cross runtime against amd64's libc in the root: $(grep 'runtime binaries for' "$root$abs_build/config.log")"

# 3. The runtime binaries of each architecture from both hosts.
mkdir -p a64host
cp "$root$abs_build"/runtime/enclaver-init "$root$abs_build"/runtime/enclaver-supervisor \
  "$root$abs_build"/runtime/enclaver-run a64host/ && mkdir -p a64host/aarch64 \
  && mv a64host/enclaver-* a64host/aarch64/ && mkdir -p a64host/x86_64 \
  && cp "$root$abs_build"/runtime/x86_64/enclaver-* a64host/x86_64/ || not_ok "collect the root's binaries"
for a in aarch64 x86_64; do
  for p in enclaver-init enclaver-supervisor enclaver-run; do
    if [ $a = x86_64 ]; then here=$top_builddir/runtime/$p how="native here, cross-built there"
    else here=$top_builddir/runtime/aarch64/$p how="cross-built here, native there"; fi
    cmp -s "$here" a64host/$a/$p && ok "$a $p is byte-identical ($how)" \
      || not_ok "$a $p differs ($how): $(cmp "$here" a64host/$a/$p 2>&1 | head -1)"
  done
done

# 4. EIFs of both architectures from the same image, manifest and kernel, once with this
# host's runtime and once with the arm64 host's (ENCLAVER_LIBEXEC_DIR: its native aarch64
# programs in aarch64/, its x86_64 ones at the top as a host's own).
mkdir -p libexec/aarch64 a64app/bin x64app/bin
cp a64host/aarch64/* libexec/aarch64/ && cp a64host/x86_64/* libexec/
"$XCC" -static -O2 -o a64app/bin/hello "$top_srcdir/examples/hello/hello.c" || not_ok "$XCC builds the hello"
${CC:-cc} -static -O2 -o x64app/bin/hello "$top_srcdir/examples/hello/hello.c" || not_ok "cc builds the hello"
python3 "$top_srcdir/tests/build/mkoci.py" a64img --layer a64app --cmd '["/bin/hello"]' --arch arm64 >/dev/null
python3 "$top_srcdir/tests/build/mkoci.py" x64img --layer x64app --cmd '["/bin/hello"]' --arch amd64 >/dev/null
for a in aarch64 x86_64; do
  # The default kernels when fetched (scripts/fetch-kernel.sh), else stand-ins.
  if [ -d "$KC/default-$a" ]; then k=$KC/default-$a
  else k=kern-$a; mkdir -p $k; echo 'console=ttyS0' >$k/cmdline
    if [ $a = aarch64 ]; then python3 -c 'import sys; b=bytearray(1<<16); b[56:60]=b"ARM\x64"; open(sys.argv[1],"wb").write(b)' $k/Image
    else python3 -c 'import sys; b=bytearray(1<<16); b[0x202:0x206]=b"HdrS"; open(sys.argv[1],"wb").write(b)' $k/bzImage; fi
  fi
  case $a in aarch64) img=a64img plat=linux/arm64 ;; *) img=x64img plat=linux/amd64 ;; esac
  printf 'version: v1\nname: xh\ntarget: xh:latest\nsources:\n  app: oci:./%s\n' $img >$a.yaml
  run_cmd "$ENCLAVER" build -f $a.yaml --platform $plat --kernel-dir "$k" --eif-only x86host-$a.eif -o json
  expect_rc "$a EIF with this host's runtime" 0
  pcr_here=$(printf '%s' "$OUT" | python3 -c 'import json,sys; m=json.load(sys.stdin)["Measurements"]; print(m["PCR0"], m["PCR1"], m["PCR2"])')
  run_cmd env ENCLAVER_LIBEXEC_DIR="$TEST_TMP/libexec" "$ENCLAVER" build -f $a.yaml --platform $plat --kernel-dir "$k" \
    --eif-only a64host-$a.eif -o json
  expect_rc "$a EIF with the arm64 host's runtime" 0
  pcr_there=$(printf '%s' "$OUT" | python3 -c 'import json,sys; m=json.load(sys.stdin)["Measurements"]; print(m["PCR0"], m["PCR1"], m["PCR2"])')
  # The EIF really holds the arm64 host's init (not this host's from the build tree).
  python3 "$top_srcdir/tests/build/eifcheck.py" sections a64host-$a.eif sec-$a >/dev/null
  mkdir boot-$a && (cd boot-$a && cpio -idm --quiet --no-absolute-filenames <../sec-$a/ramdisk-0) \
    || not_ok "unpack the $a bootstrap ramdisk"
  cmp -s boot-$a/init libexec/$( [ $a = aarch64 ] && echo aarch64/)enclaver-init \
    && ok "the $a EIF of the arm64 host's runtime has its init" || not_ok "the $a EIF's init is not the arm64 host's"
  cmp -s x86host-$a.eif a64host-$a.eif && ok "the $a EIF is byte-identical from both hosts' runtime" \
    || not_ok "the $a EIFs differ: $(cmp x86host-$a.eif a64host-$a.eif 2>&1 | head -1)"
  [ "$pcr_here" = "$pcr_there" ] && ok "the $a PCR0-2 are equal: $pcr_here" \
    || not_ok "the $a PCRs differ: $pcr_here (x86_64 host) vs $pcr_there (arm64 host)"
done

binfmt_after=$(grep binfmt_misc /proc/mounts; ls /proc/sys/fs/binfmt_misc 2>/dev/null)
[ "$binfmt_before" = "$binfmt_after" ] && ok "the host's binfmt_misc is as it was" \
  || not_ok "the host's binfmt_misc changed: [$binfmt_before] -> [$binfmt_after]"
rm -rf "$root/xhost"
done_testing
