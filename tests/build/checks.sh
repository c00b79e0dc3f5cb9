#!/bin/sh
# enclaver build checks its outputs and inputs before the first stage (issue 12): a bad
# --output-dir, EIF or wrapper image path, or a missing kernel fails at once, before
# any fetch, naming the path; a missing --output-dir is created.  Every injected
# program must be an ELF file for the EIF's architecture: a cross-architecture build
# takes the runtime built for that architecture, or is refused naming what to install.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
W="$TEST_TMP/w"
mkdir -p "$W/l1/bin" "$W/blobs"
cd "$W" || exit 1

printf '#!/bin/sh\necho hi\n' >l1/bin/hello
chmod 755 l1/bin/hello
$MKOCI img --layer l1 --cmd '["/bin/hello"]' >/dev/null
$MKOCI armimg --layer l1 --cmd '["/bin/hello"]' --arch arm64 >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" blobs/bzImage
echo 'console=ttyS0' >blobs/cmdline
cat >enclaver.yaml <<YAML
version: v1
name: chk
target: chk:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
YAML
[ "$(id -u)" = 0 ] && ok "checks run as root: /proc stands in for an unwritable directory" \
  || ok "checks run as $(id -un)"

# A source that fetch would refuse at once (offline, nothing cached) with its own
# message: a check that ran after fetch shows up as that message.
NOFETCH="--offline --cache-dir $TEST_TMP/empty-cache --from 127.0.0.1:9/never/fetched:1"
# early NAME NEEDLE ARGS...: the build fails with exit 1, the error names NEEDLE, and no
# fetch happened.
early () {
  name=$1 needle=$2
  shift 2
  run_cmd "$ENCLAVER" build $NOFETCH "$@"
  expect_rc "$name: exit 1" 1
  expect_in "$name: the error names the path" "$ERR" "$needle"
  case $ERR in
    *stage:fetch* | *never/fetched*) not_ok "$name: before any fetch"; diag "$ERR" ;;
    *) ok "$name: before any fetch" ;;
  esac
}

: >afile
early "--output-dir is a file" "--output-dir afile exists and is not a directory" --output-dir afile
early "--output-dir below a file" "--output-dir afile/sub: cannot create afile" --output-dir afile/sub
early "--output-dir that cannot be created" "--output-dir /proc/self/out" --output-dir /proc/self/out
early "EIF in a missing directory" "the EIF nodir/x.eif: directory nodir" --eif-only nodir/x.eif
mkdir adir
early "EIF path is a directory" "the EIF adir is a directory" --eif-only adir
early "EIF in an unwritable directory" "the EIF /proc/self/x.eif: cannot create files in /proc/self" \
  --eif-only /proc/self/x.eif
early "EIF below --output-dir /proc/self" "cannot create files in /proc/self" --output-dir /proc/self
sed 's|^kernel:|output:\n  image:\n    destination: /proc/self/wrapper\nkernel:|' enclaver.yaml >imgdest.yaml
early "wrapper image in an unwritable directory" "the wrapper image /proc/self/wrapper: cannot create files in /proc/self" \
  -f imgdest.yaml
sed 's|^kernel:|output:\n  image:\n    format: docker-archive\n    destination: afile/w.tar\nkernel:|' enclaver.yaml >imgfile.yaml
early "wrapper archive below a file" "the wrapper image $W/afile/w.tar: $W/afile is not a directory" -f imgfile.yaml
[ "$(ls -A . adir | grep -c enclaver-)" -eq 0 ] && ok "failed checks leave no temporary or probe file" \
  || not_ok "files left: $(ls -A . adir)"

# The kernel: a --kernel-dir without one, and no kernel anywhere (the default kernel's
# directory is missing), name the paths and the ways to get one.
mkdir empty
early "missing kernel in --kernel-dir" "kernel image $W/empty/bzImage not found" --kernel-dir "$W/empty"
expect_in "missing kernel: names --kernel-dir" "$ERR" "give --kernel-dir DIR, kernel.blobs"
expect_in "missing kernel: names NITRO_CLI_BLOBS" "$ERR" "NITRO_CLI_BLOBS"
expect_in "missing kernel: names nitro-cli's blobs" "$ERR" "/usr/share/nitro_enclaves/blobs"
head -n 5 enclaver.yaml >nokernel.yaml
run_cmd env -u NITRO_CLI_BLOBS ENCLAVER_DEFAULT_KERNEL="$W/no-default" "$ENCLAVER" build -f nokernel.yaml $NOFETCH \
  --eif-only nk.eif
expect_rc "no kernel at all: exit 1" 1
expect_in "no kernel at all: names the default kernel's path" "$ERR" "kernel image $W/no-default/bzImage not found"
expect_in "uninstalled: points at the build tree's fetch script" "$ERR" "$(cd "$top_srcdir" && pwd -P)/scripts/fetch-kernel.sh"
case $ERR in *stage:fetch*) not_ok "no kernel at all: before any fetch" ;; *) ok "no kernel at all: before any fetch" ;; esac
[ ! -e nk.eif ] && ok "no EIF from a build without kernel" || not_ok "nk.eif written"

# A missing --output-dir is created (like mkdir -p) and receives the outputs.
run_cmd "$ENCLAVER" build --output-dir new/deeper/out
expect_rc "build into a missing --output-dir" 0
[ -f new/deeper/out/chk.eif ] && [ -f new/deeper/out/chk-image/index.json ] \
  && ok "--output-dir created with the EIF and wrapper image in it" || not_ok "outputs: $(find new 2>&1)"

# ---- architectures
# ELF files of both architectures: a real host program, and the same bytes with the ELF
# header's e_machine (offset 18) changed.
host=$(uname -m)
case $host in
  x86_64) other=aarch64 other_oci=arm64 other_em=183 ;;
  aarch64) other=x86_64 other_oci=amd64 other_em=62 ;;
  *) skip_all "host architecture $host is not one of Nitro's" ;;
esac
setem () { python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[18]=int(sys.argv[3])&255; b[19]=int(sys.argv[3])>>8; open(sys.argv[2],"wb").write(b)' "$@"; }
setem /bin/true other.elf "$other_em"
printf 'not an ELF\n' >text.bin
[ "$other" = aarch64 ] || { $MKOCI armimg --layer l1 --cmd '["/bin/hello"]' --arch amd64 >/dev/null; }
# A kernel directory for the other architecture: an arm64 Image (header magic "ARM\x64"
# at 56) or a bzImage ("HdrS" at 0x202).
mkdir okern
if [ "$other" = aarch64 ]; then
  python3 -c 'import sys; b=bytearray(1<<16); b[56:60]=b"ARM\x64"; open(sys.argv[1],"wb").write(b)' okern/Image
else
  python3 -c 'import sys; b=bytearray(1<<16); b[0x202:0x206]=b"HdrS"; open(sys.argv[1],"wb").write(b)' okern/bzImage
fi
echo 'console=ttyS0' >okern/cmdline

# The cross-architecture build takes this build's runtime for the other architecture
# (runtime/OTHER/, docs/cross-arch.md), never the host's; without it (configure found no
# cross toolchain) it is refused before fetch, naming the architecture and what to
# install.  tests/cli/install.sh checks the refusal of an installed tree without it.
run_cmd "$ENCLAVER" build --from oci:armimg --platform "linux/$other_oci" --kernel-dir "$W/okern" --eif-only cross.eif
if [ -x "$top_builddir/runtime/$other/enclaver-init" ]; then
  expect_rc "cross-architecture build with the cross-built runtime" 0
  expect_in "takes the builtin init built for $other" "$ERR" "using the builtin init $top_builddir/runtime/$other/enclaver-init"
  expect_in "takes the supervisor built for $other" "$ERR" "installed the supervisor $top_builddir/runtime/$other/enclaver-supervisor"
  run_cmd "$ENCLAVER" describe --sections cross.eif
  expect_in "the cross-built EIF is an $other EIF" "$OUT" "\"Arch\": \"$other\""
  rm -f cross.eif
  sed "s|^kernel:|kernel:\n  arch: $other|" enclaver.yaml >karch.yaml
  run_cmd "$ENCLAVER" build -f karch.yaml --from oci:armimg --platform "linux/$other_oci" --kernel-dir "$W/okern" \
    --eif-only cross.eif
  expect_rc "kernel.arch: the same" 0
else
  expect_rc "cross-architecture build without a cross-built runtime refused" 1
  expect_in "names the init and the architecture" "$ERR" "enclaver-init for $other not found"
  expect_in "names what to install" "$ERR" "scripts/setup-deps.sh installs them"
  case $ERR in *stage:fetch*) not_ok "cross-architecture refused before fetch" ;; *) ok "cross-architecture refused before fetch" ;; esac
  [ ! -e cross.eif ] && ok "no EIF from a refused cross-architecture build" || not_ok "cross.eif written"
  sed "s|^kernel:|kernel:\n  arch: $other|" enclaver.yaml >karch.yaml
  run_cmd "$ENCLAVER" build -f karch.yaml --from oci:armimg --platform "linux/$other_oci" --kernel-dir "$W/okern" \
    --eif-only cross.eif
  expect_in "kernel.arch: refused the same way" "$ERR" "enclaver-init for $other not found"
fi
# kernel.arch that contradicts the image.
run_cmd "$ENCLAVER" build -f karch.yaml --kernel-dir "$W/okern" --eif-only cross.eif
expect_rc "kernel.arch against the image's architecture refused" 1
# The way out works: an init for the other architecture and no supervisor give an EIF
# of that architecture.
cp other.elf okern/init
cat >way-out.yaml <<YAML
version: v1
name: chk
target: chk:latest
sources:
  app: oci:./armimg
pipeline:
  - fetch
  - flatten
  - stage: inject
    options:
      supervisor: none
  - measure
  - emit-eif
YAML
run_cmd "$ENCLAVER" build -f way-out.yaml --platform "linux/$other_oci" --kernel-dir "$W/okern" --eif-only way.eif
expect_rc "with $other init and no supervisor, the $other build works" 0
run_cmd "$ENCLAVER" describe --sections way.eif
expect_in "the EIF is an $other EIF" "$OUT" "\"Arch\": \"$other\""
rm okern/init

# The same-architecture build of the same layer works.
run_cmd "$ENCLAVER" build --eif-only same.eif
expect_rc "same-architecture build works" 0

# Planted files: each injected program is checked.
mkdir planted
cp blobs/bzImage blobs/cmdline planted/
cp other.elf planted/init
run_cmd "$ENCLAVER" build --kernel-dir "$W/planted" --eif-only p.eif
expect_rc "an init for the other architecture is refused" 1
expect_in "names the init and both architectures" "$ERR" "the init $W/planted/init is built for $other, but the EIF is for $host"
cp text.bin planted/init
run_cmd "$ENCLAVER" build --kernel-dir "$W/planted" --eif-only p.eif
expect_in "an init that is not ELF is refused" "$ERR" "$W/planted/init is not an ELF file"
cp /bin/true planted/init
cp other.elf planted/nsm.ko
run_cmd "$ENCLAVER" build --kernel-dir "$W/planted" --eif-only p.eif
expect_in "an nsm.ko for the other architecture is refused" "$ERR" "the kernel module nsm.ko $W/planted/nsm.ko is built for $other"
rm planted/nsm.ko
sed 's|^kernel:|pipeline:\n  - fetch\n  - flatten\n  - stage: inject\n    options:\n      supervisor: '"$W"'/other.elf\n  - measure\n  - emit-eif\nkernel:|' enclaver.yaml >sv.yaml
run_cmd "$ENCLAVER" build -f sv.yaml --eif-only p.eif
expect_in "a supervisor for the other architecture is refused" "$ERR" "the supervisor (inject option supervisor) $W/other.elf is built for $other"
sed "s|other.elf|text.bin|" sv.yaml >sv2.yaml
run_cmd "$ENCLAVER" build -f sv2.yaml --eif-only p.eif
expect_in "a supervisor that is not ELF is refused" "$ERR" "$W/text.bin is not an ELF file"
sed 's|^kernel:|pipeline:\n  - fetch\n  - flatten\n  - inject\n  - measure\n  - emit-eif\n  - stage: emit-image\n    options:\n      launcher: '"$W"'/other.elf\nkernel:|' enclaver.yaml >launch.yaml
run_cmd "$ENCLAVER" build -f launch.yaml $NOFETCH
expect_in "a launcher for the other architecture is refused before fetch" "$ERR" "the launcher $W/other.elf is built for $other"
if [ "$host" = x86_64 ]; then
  cp okern/Image planted/bzImage
  run_cmd "$ENCLAVER" build --kernel-dir "$W/planted" --eif-only p.eif
  expect_in "an arm64 Image as the x86_64 kernel is refused" "$ERR" "kernel $W/planted/bzImage is an aarch64 kernel"
fi
[ ! -e p.eif ] && ok "no EIF from refused programs" || not_ok "p.eif written"

done_testing
