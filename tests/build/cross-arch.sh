#!/bin/sh
# Cross-architecture enclaves (issue 21, docs/cross-arch.md): from an image of the other
# architecture (a static hello built with the cross compiler), `enclaver build` on this
# host gives an EIF of that architecture whose every ELF file -- the builtin init, the
# supervisor, the app -- is built for it, and a release image for that platform whose
# launcher enclaver-run is too.  The kernel is a stand-in (an arm64 Image header or a
# bzImage one): nothing boots here (tests/boot/arm64.sh does).
. "$top_srcdir/tests/lib.sh"
need_cross
command -v cpio >/dev/null || skip_all "cpio missing"
CHK="python3 $top_srcdir/tests/build/eifcheck.py"
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS

mkdir -p app/bin kern
if ! "$XCC" -static -O2 -o app/bin/hello "$top_srcdir/examples/hello/hello.c" 2>xcc.err; then
  not_ok "$XCC builds the static hello"; diag "$(cat xcc.err)"; done_testing; exit 1
fi
python3 "$top_srcdir/tests/build/mkoci.py" img --layer app --cmd '["/bin/hello"]' --arch "$OTHER_OCI" >/dev/null
if [ "$OTHER" = aarch64 ]; then
  python3 -c 'import sys; b=bytearray(1<<16); b[56:60]=b"ARM\x64"; open(sys.argv[1],"wb").write(b)' kern/Image
else
  python3 -c 'import sys; b=bytearray(1<<16); b[0x202:0x206]=b"HdrS"; open(sys.argv[1],"wb").write(b)' kern/bzImage
fi
echo 'console=ttyS0' >kern/cmdline
cat >enclaver.yaml <<YAML
version: v1
name: xa
target: xa:latest
sources:
  app: oci:./img
kernel:
  blobs: ./kern
YAML

run_cmd "$ENCLAVER" build --platform "linux/$OTHER_OCI" -o json
expect_rc "build the $OTHER enclave on $(uname -m)" 0
run_cmd "$ENCLAVER" describe --sections xa.eif
expect_in "the EIF is an $OTHER EIF" "$OUT" "\"Arch\": \"$OTHER\""

# Every ELF file in the ramdisks, found by their magic, not by name.
$CHK sections xa.eif sec >/dev/null
mkdir boot root
(cd boot && cpio -idm --quiet --no-absolute-filenames <../sec/ramdisk-0) && (cd root && cpio -idm --quiet \
  --no-absolute-filenames <../sec/ramdisk-1) && ok "cpio(1) unpacks both ramdisks" || not_ok "cpio unpack"
elf_machines boot >elves
elf_machines root >>elves
for f in init rootfs/sbin/enclaver-supervisor rootfs/bin/hello; do
  grep -q " $f\$" elves && ok "the EIF has $f" || not_ok "no $f among the ELF files: $(cat elves)"
done
bad=$(grep -v "^$OTHER_EM " elves)
[ -z "$bad" ] && ok "every ELF file in the EIF ($(wc -l <elves)) is for $OTHER (e_machine $OTHER_EM)" \
  || not_ok "ELF files of another machine: $bad"
cmp -s boot/init "$top_builddir/runtime/$OTHER/enclaver-init" && ok "the init is the build's $OTHER enclaver-init" \
  || not_ok "the init is not runtime/$OTHER/enclaver-init"

# The release image: for the other platform, with an enclaver-run built for it.
run_cmd unpack_image xa-image rel
expect_rc "unpack the release image" 0
expect_in "the release image's entrypoint is enclaver-run" "$OUT" 'entrypoint ["/usr/local/bin/enclaver-run"]'
elf_machines rel >rel-elves
grep -q "^$OTHER_EM usr/local/bin/enclaver-run\$" rel-elves && ok "the release image's enclaver-run is for $OTHER" \
  || not_ok "enclaver-run in the release image: $(cat rel-elves)"
arch=$(python3 -c 'import json,sys
d=sys.argv[1]; b=lambda x: json.load(open(d+"/blobs/sha256/"+x.split(":")[1]))
m=b(json.load(open(d+"/index.json"))["manifests"][0]["digest"]); print(b(m["config"]["digest"])["architecture"])' xa-image)
[ "$arch" = "$OTHER_OCI" ] && ok "the release image's config says $OTHER_OCI" || not_ok "release image architecture: $arch"

# The same build twice gives the same bytes (the cross-built runtime is reproducible
# within a build tree, as the host's is).
run_cmd "$ENCLAVER" build --platform "linux/$OTHER_OCI" --eif-only again.eif
cmp -s xa.eif again.eif && ok "the $OTHER EIF is reproducible" || not_ok "two builds differ"

# A launcher of the host's architecture given by path is refused.
sed 's|^kernel:|pipeline:\n  - fetch\n  - flatten\n  - inject\n  - measure\n  - emit-eif\n  - stage: emit-image\n    options:\n      launcher: /bin/true\nkernel:|' \
  enclaver.yaml >hostrun.yaml
run_cmd "$ENCLAVER" build --platform "linux/$OTHER_OCI" -f hostrun.yaml
expect_rc "a host launcher in an $OTHER release image is refused" 1
expect_in "... naming it" "$ERR" "the launcher /bin/true is built for"
done_testing
