#!/bin/sh
# enclaver build --eif-only end to end: a real OCI image made by the test, real
# stages, the EIF read back by enclaver and checked by an independent Python reader,
# the customer ramdisk unpacked with cpio(1), and reproducibility under a changed
# machine environment.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v cpio >/dev/null || skip_all "cpio missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
CHK="python3 $top_srcdir/tests/build/eifcheck.py"
G="$top_srcdir/golden/eif"
W="$TEST_TMP/w"
mkdir -p "$W/l1/bin" "$W/l1/etc" "$W/l1/usr/share/doc/x" "$W/l2/etc" "$W/blobs"

# Two layers: the second changes a file and whites one out.
printf '#!/bin/sh\necho hello from the enclave\n' >"$W/l1/bin/hello"
chmod 755 "$W/l1/bin/hello"
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/l1/etc/passwd"
echo 'v1' >"$W/l1/etc/version"
echo 'docs' >"$W/l1/usr/share/doc/x/README"
echo 'v2' >"$W/l2/etc/version"
# Content on both sides of the size from which measure hands file content to the EIF
# writer by reference (64 KiB: mapped, copy_file_range), with odd sizes and a small
# file after the large ones, so the headers and padding around them are checked too.
mkdir -p "$W/l1/data"
head -c 65535 /dev/urandom >"$W/l1/data/a-below.bin"
head -c 65536 /dev/urandom >"$W/l1/data/b-at.bin"
head -c 1048579 /dev/urandom >"$W/l1/data/c-large.bin"
echo 'after the large files' >"$W/l1/data/d-small.txt"
touch -d 2023-05-01 "$W"/l1/bin/hello "$W"/l1/etc/* "$W"/l1/usr/share/doc/x/README "$W"/l2/etc/version
$MKOCI "$W/img" --layer "$W/l1" --layer "$W/l2" --whiteout usr/share/doc/x/README \
  --cmd '["/bin/hello","--greeting","hi there"]' --env PATH=/usr/bin:/bin --env GREETING=hi >/dev/null

cp "$G/kernel.bin" "$W/blobs/bzImage"
printf 'reboot=k panic=30 pci=off nomodules console=ttyS0\n' >"$W/blobs/cmdline"
printf 'reboot=k panic=30 pci=off nomodules console=ttyS0' >"$W/cmdline.trimmed"
# init and nsm.ko must be ELF files for the EIF's architecture (inject checks the
# header): a real host program and an ELF header, each followed by random bytes.
{ cat /bin/true; head -c 3000 /dev/urandom; } >"$W/blobs/init"
{ head -c 64 /bin/true; head -c 1234 /dev/urandom; } >"$W/blobs/nsm.ko"
cat >"$W/enclaver.yaml" <<YAML
version: v1
name: e2e
target: e2e:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
YAML

cd "$W" || exit 1
run_cmd "$ENCLAVER" build --eif-only out.eif
expect_rc "build --eif-only" 0
printf '%s' "$OUT" >pcrs.json
expect_in "prints nitro-cli style measurements" "$OUT" '"HashAlgorithm": "Sha384 { ... }"'
expect_in "reports the EIF" "$ERR" "built EIF: out.eif"
[ -f out.eif ] && ok "EIF written" || not_ok "EIF written"
left=$(ls -A | grep -c 'enclaver-tmp') ; [ "$left" -eq 0 ] && ok "no temporary files left" || not_ok "temporary files left"

pcr() { printf '%s' "$1" | sed -n "s/.*\"PCR$2\": \"\\([0-9a-f]*\\)\".*/\\1/p"; }
P0=$(pcr "$OUT" 0) P1=$(pcr "$OUT" 1) P2=$(pcr "$OUT" 2)
set -- $($CHK pcrs out.eif)
[ "$1" = "$P0" ] && ok "PCR0 matches an independent reader" || { not_ok "PCR0 independent"; diag "$1 vs $P0"; }
[ "$2" = "$P1" ] && ok "PCR1 matches an independent reader" || not_ok "PCR1 independent"
[ "$3" = "$P2" ] && ok "PCR2 matches an independent reader" || not_ok "PCR2 independent"

# PCR1 depends only on kernel, trimmed cmdline and nitro-cli's bootstrap cpio: build
# that cpio from the linuxkit rules independently.
$CHK bootstrap blobs/init blobs/nsm.ko boot.cpio
exp1=$($CHK pcr1 blobs/bzImage cmdline.trimmed boot.cpio)
[ "$exp1" = "$P1" ] && ok "PCR1 equals nitro-cli's rules for the same blobs" || { not_ok "PCR1 vs linuxkit rules"; diag "$exp1"; }

run_cmd "$ENCLAVER" describe out.eif
expect_rc "describe the built EIF" 0
expect_in "describe: same PCR0" "$OUT" "$P0"
expect_in "describe: CRC ok" "$OUT" '"CheckCRC": true'
expect_in "describe: build tool" "$OUT" '"BuildTool": "enclaver"'
run_cmd "$ENCLAVER" verify out.eif --pcrs pcrs.json
expect_rc "verify against the build's own JSON" 0

# The customer ramdisk, unpacked with cpio(1).
$CHK sections out.eif sec >/dev/null
mkdir x && (cd x && cpio -idm --quiet --no-absolute-filenames <../sec/ramdisk-1) && ok "cpio(1) unpacks the customer ramdisk" || not_ok "cpio unpack"
[ "$(cat x/cmd)" = /sbin/enclaver-supervisor ] && ok "cmd starts the supervisor" || not_ok "cmd file: $(cat x/cmd)"
[ "$(cat x/env)" = "PATH=/sbin:/usr/sbin:/bin:/usr/bin" ] && ok "env: the init's PATH" || not_ok "env file"
cmp -s x/rootfs/sbin/enclaver-supervisor "$top_builddir/runtime/enclaver-supervisor" && ok "supervisor installed" || not_ok "supervisor installed"
cmp -s x/rootfs/etc/enclaver/enclaver.yaml enclaver.yaml && ok "manifest copied into the rootfs" || not_ok "manifest in rootfs"
sv=x/rootfs/etc/enclaver/supervisor.json
[ "$(jq -c .cmd $sv)" = '["/bin/hello","--greeting","hi there"]' ] && ok "supervisor.json: the image's Cmd" || not_ok "supervisor.json cmd: $(jq -c .cmd $sv)"
[ "$(jq -c .env $sv)" = '["PATH=/usr/bin:/bin","GREETING=hi"]' ] && ok "supervisor.json: the image's Env" || not_ok "supervisor.json env"
[ "$(jq -r .status_addr $sv)" = vsock:any:17000 ] && ok "supervisor.json: status port" || not_ok "status_addr"

# Without the supervisor the ramdisk is what nitro-cli makes: cmd/env from the image.
cat >nosv.yaml <<YAML
version: v1
name: e2e
target: e2e:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline:
  - fetch
  - flatten
  - stage: inject
    options:
      supervisor: none
  - measure
  - emit-eif
YAML
run_cmd "$ENCLAVER" build -f nosv.yaml --eif-only nosv.eif
expect_rc "build without the supervisor" 0
$CHK sections nosv.eif nosv >/dev/null
mkdir y && (cd y && cpio -idm --quiet --no-absolute-filenames <../nosv/ramdisk-1)
[ "$(cat y/cmd)" = "$(printf '/bin/hello\n--greeting\nhi there')" ] && ok "cmd: one argv element per line (nitro-cli)" || not_ok "cmd file"
[ "$(cat y/env)" = "$(printf 'PATH=/usr/bin:/bin\nGREETING=hi')" ] && ok "env: one variable per line (nitro-cli)" || not_ok "env file"
[ ! -e y/rootfs/sbin/enclaver-supervisor ] && ok "no supervisor when disabled" || not_ok "supervisor present"

# The short form of a stage with options (docs/flatten.md): "- flatten: { OPTION: VALUE }".
# The options reach the stage: one entry too many fails the build, a generous limit works.
for lim in 1 1G; do
  sed 's|^kernel:|pipeline:\n  - fetch\n  - flatten: { max_entries: '"${lim%G}"', max_bytes: 1G }\n  - inject\n  - measure\n  - emit-eif\nkernel:|' enclaver.yaml >short$lim.yaml
done
sed -i 's/max_entries: 1,/max_entries: 1000000,/' short1G.yaml
run_cmd "$ENCLAVER" build -f short1.yaml --eif-only short1.eif
expect_rc "short form: max_entries 1 reaches flatten (the build fails)" 1
expect_in "short form: the entry limit names the option" "$ERR" "more than 1 tar entries in the image's layers (the flatten limit max_entries"
run_cmd "$ENCLAVER" build -f short1G.yaml --eif-only short.eif
expect_rc "short form \"- flatten: { max_bytes: 1G }\": the build works" 0
cmp -s x/rootfs/bin/hello "$W/l1/bin/hello" && ok "rootfs file content" || not_ok "rootfs file content"
for f in a-below.bin b-at.bin c-large.bin d-small.txt; do
  cmp -s "x/rootfs/data/$f" "$W/l1/data/$f" && ok "rootfs content of data/$f (below, at and above the by-reference size)" \
    || not_ok "rootfs content of data/$f"
done
[ "$(cat x/rootfs/etc/version)" = v2 ] && ok "upper layer wins" || not_ok "upper layer wins"
[ ! -e x/rootfs/usr/share/doc/x/README ] && ok "whiteout removed the lower file" || not_ok "whiteout"
[ -d x/rootfs/usr/share/doc/x ] && ok "whiteout keeps the directory" || not_ok "whiteout keeps dir"
for d in dev run sys var proc tmp; do [ -d x/rootfs/$d ] || miss="$miss $d"; done
[ -z "${miss:-}" ] && ok "rootfs/{dev,run,sys,var,proc,tmp} present" || not_ok "missing:$miss"
[ -x x/rootfs/bin/hello ] && ok "mode kept" || not_ok "mode kept"
order=$(cpio -it --quiet <sec/ramdisk-1 | head -4 | tr '\n' ' ')
[ "$order" = "cmd env rootfs rootfs/bin " ] && ok "entries in byte order, parents first" || not_ok "order: $order"
cmp -s sec/ramdisk-0 boot.cpio && ok "bootstrap ramdisk is byte-identical to nitro-cli's rules" || not_ok "bootstrap bytes"

# Reproducible: another directory, TMPDIR, umask, TZ, locale, an empty cache, one job.
mkdir -p "$TEST_TMP/elsewhere" "$TEST_TMP/tmp2" "$TEST_TMP/cache2"
cp -r "$W/img" "$W/blobs" "$W/enclaver.yaml" "$TEST_TMP/elsewhere/"
( cd / && umask 077 && TZ=Asia/Tokyo LANG=C.UTF-8 LC_ALL=C.UTF-8 TMPDIR="$TEST_TMP/tmp2" \
  "$ENCLAVER" -q build -f "$TEST_TMP/elsewhere/enclaver.yaml" --eif-only "$TEST_TMP/elsewhere/out.eif" \
  --cache-dir "$TEST_TMP/cache2" --jobs 1 >/dev/null 2>"$TEST_TMP/err2" )
cmp -s "$W/out.eif" "$TEST_TMP/elsewhere/out.eif" && ok "byte-identical EIF from another dir/TMPDIR/umask/TZ/locale/cache" \
  || { not_ok "reproducible EIF"; diag "$(cat "$TEST_TMP/err2")"; }
mode=$(stat -c %a "$TEST_TMP/elsewhere/out.eif")
[ "$mode" = 600 ] && ok "EIF mode follows the umask" || not_ok "EIF mode $mode under umask 077"

# SOURCE_DATE_EPOCH pins every timestamp and the metadata's BuildTime.
SOURCE_DATE_EPOCH=1000000000 "$ENCLAVER" -q build --eif-only sde.eif >/dev/null
run_cmd "$ENCLAVER" describe sde.eif
expect_in "BuildTime from SOURCE_DATE_EPOCH" "$OUT" '"BuildTime": "2001-09-09T01:46:40Z"'
$CHK sections sde.eif sde >/dev/null
newest=$(cpio -itv --quiet <sde/ramdisk-1 2>/dev/null | awk '{print $6,$7,$8}' | sort -u | tr '\n' ';')
case $newest in *2023*) not_ok "mtimes clamped to SOURCE_DATE_EPOCH ($newest)";; *) ok "mtimes clamped to SOURCE_DATE_EPOCH";; esac
SOURCE_DATE_EPOCH=1000000000 "$ENCLAVER" -q build --eif-only sde2.eif >/dev/null
cmp -s sde.eif sde2.eif && ok "same SOURCE_DATE_EPOCH, same bytes" || not_ok "SDE rebuild identical"
run_cmd env SOURCE_DATE_EPOCH=soon "$ENCLAVER" build --eif-only bad.eif
expect_rc "malformed SOURCE_DATE_EPOCH fails" 1
expect_in "malformed SOURCE_DATE_EPOCH named" "$ERR" "SOURCE_DATE_EPOCH='soon'"

# Signing from the manifest: PCR8 is the certificate's, PCR0-2 unchanged.
cp "$G/sign-cert.pem" "$G/sign-key.pem" .
sed 's/^kernel:/signature:\n  certificate: sign-cert.pem\n  key: sign-key.pem\nkernel:/' enclaver.yaml >signed.yaml
run_cmd "$ENCLAVER" build -f signed.yaml --eif-only signed.eif
expect_rc "signed build" 0
expect_in "PCR8 of the signing certificate" "$OUT" '"PCR8": "977e3a9a03b181f4f84e4b52f508165154ab87f25ac75e1ea7fb9dff853c440b60e0af659782f523aeb27c8ff706e93c"'
expect_in "PCR1 unchanged by signing" "$OUT" "$P1"
run_cmd "$ENCLAVER" sign out.eif --signing-certificate sign-cert.pem --private-key sign-key.pem --output out-signed.eif
expect_rc "enclaver sign of the built EIF" 0
run_cmd "$ENCLAVER" describe --ignore-cert-time out-signed.eif
expect_in "signing keeps PCR0" "$OUT" "$P0"

# -o json
run_cmd "$ENCLAVER" build --eif-only j.eif -o json
expect_in "-o json: Eif.Sha256" "$OUT" "\"Sha256\": \"$(sha256sum j.eif | cut -d' ' -f1)\""
expect_in "-o json: Sources.App.Digest" "$OUT" '"Digest": "sha256:'
expect_in "-o json: Eif.Size" "$OUT" "\"Size\": $(stat -c %s j.eif)"

# Failures leave nothing behind.
mkdir fail && cp enclaver.yaml fail/ && cp -r img fail/ && cd fail || exit 1
run_cmd "$ENCLAVER" build --eif-only out.eif
expect_rc "missing kernel blobs fail the build" 1
expect_in "error says where it looked" "$ERR" "$W/fail/blobs/bzImage not found"
[ -z "$(ls -A | grep -v -e '^img$' -e '^enclaver.yaml$')" ] && ok "failed build leaves no file" || not_ok "failed build left: $(ls -A)"
cd "$W" || exit 1
$MKOCI nocmd --layer l1 >/dev/null
sed 's|oci:./img|oci:./nocmd|' enclaver.yaml >nocmd.yaml
run_cmd "$ENCLAVER" build -f nocmd.yaml --eif-only nocmd.eif
expect_rc "image without Cmd/Entrypoint fails" 1
expect_in "says there is nothing to run" "$ERR" "neither Cmd nor Entrypoint"
$MKOCI nlcmd --layer l1 --cmd '["/bin/hello","two\nlines"]' >/dev/null
sed 's|oci:./img|oci:./nlcmd|' enclaver.yaml >nl.yaml
run_cmd "$ENCLAVER" build -f nl.yaml --eif-only nl.eif
expect_rc "newline inside an argv element fails" 1
expect_in "names the element" "$ERR" "Cmd[1] contains a newline"
[ ! -e nl.eif ] && [ ! -e nocmd.eif ] && ok "no EIF from failed builds" || not_ok "EIF left by a failed build"
# Layers are read from the layout in place: a tampered blob (same size) is caught while
# flattening, by its digest.
cp -r img tampered
mdig=$(jq -r '.manifests[0].digest' tampered/index.json)
blob=$(jq -r '.layers[0].digest' "tampered/blobs/sha256/${mdig#sha256:}" | cut -c8-)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "tampered/blobs/sha256/$blob"
sed 's|oci:./img|oci:./tampered|' enclaver.yaml >tampered.yaml
run_cmd "$ENCLAVER" build -f tampered.yaml --eif-only tampered.eif
expect_rc "a tampered layer blob fails the build" 1
expect_in "the error names the layer's digest" "$ERR" "sha256:$blob"
[ ! -e tampered.eif ] && ok "no EIF from a tampered layer" || not_ok "EIF from a tampered layer"

# The full default stack also writes the wrapper image, which our own reader accepts.
cd "$W" || exit 1
run_cmd "$ENCLAVER" build
expect_rc "default stack: build writes EIF and wrapper image" 0
[ -f e2e.eif ] && [ -f e2e-image/index.json ] && ok "EIF and OCI layout written" || not_ok "default outputs"
run_cmd "$ENCLAVER" image inspect oci:e2e-image
expect_rc "wrapper image readable by enclaver image inspect" 0
expect_in "annotations carry PCR0" "$OUT" "\"dev.enclaver.pcr0\": \"$P0\""
layer=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"][-1]["Digest"][7:])')
mkdir lay && tar -xf "e2e-image/blobs/sha256/$layer" -C lay
cmp -s lay/enclave/application.eif e2e.eif && ok "image layer holds the EIF" || not_ok "image layer EIF"
cmp -s lay/enclave/enclaver.yaml enclaver.yaml && ok "image layer holds the manifest as written" || not_ok "image manifest"
d1=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' e2e-image/index.json)
"$ENCLAVER" -q build >/dev/null
d2=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' e2e-image/index.json)
[ -n "$d1" ] && [ "$d1" = "$d2" ] && ok "wrapper image digest is reproducible" || not_ok "image digest $d1 vs $d2"
sed 's/^kernel:/output:\n  image:\n    format: docker-archive\n    destination: out\/wrapper.tar\nkernel:/' enclaver.yaml >da.yaml
mkdir -p out
run_cmd "$ENCLAVER" build -f da.yaml
expect_rc "docker-archive output" 0
DA0=$(pcr "$OUT" 0)
run_cmd "$ENCLAVER" image inspect docker-archive:out/wrapper.tar
expect_rc "docker-archive readable as docker-archive" 0
expect_in "docker-archive: PCR0 annotation" "$OUT" "\"dev.enclaver.pcr0\": \"$DA0\""
run_cmd "$ENCLAVER" image inspect oci-archive:out/wrapper.tar
expect_rc "docker-archive is also an OCI archive" 0
[ -z "$(ls -A out | grep -v '^wrapper.tar$')" ] && ok "no scratch files beside the archive" || not_ok "scratch left: $(ls -A out)"

done_testing
