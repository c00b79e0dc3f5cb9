#!/bin/sh
# One build time and one source name throughout (issue 12): the EIF's metadata (read
# back with `enclaver describe`), the wrapper image's config, labels, annotations and
# layer, and `build -o json` agree; the build time is SOURCE_DATE_EPOCH when set, else
# the app image's created time; the source is the --from actually built.  -o json
# reports the wrapper image's path, format, tag and digest.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v jq >/dev/null || skip_all "jq missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
W="$TEST_TMP/w"
mkdir -p "$W/l1/bin" "$W/blobs"
cd "$W" || exit 1
printf '#!/bin/sh\necho hi\n' >l1/bin/hello
chmod 755 l1/bin/hello
touch -d 2020-01-01 l1/bin/hello
# The image the manifest names, and the one --from builds: created 06:07:08.5 at +01:00.
$MKOCI named-image --layer l1 --cmd '["/bin/hello"]' --created 2023-01-01T00:00:00Z >/dev/null
mkdir sub
$MKOCI sub/built-image --layer l1 --cmd '["/bin/hello"]' --created 2024-03-05T06:07:08.5+01:00 >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" blobs/bzImage
echo 'console=ttyS0' >blobs/cmdline
cat >enclaver.yaml <<YAML
version: v1
name: prov
target: registry.example/prov:v3
sources:
  app: oci:./named-image
kernel:
  blobs: ./blobs
YAML

# wrapper LAYOUT: prints "config-created label-created source-name manifest-digest"
wrapper () {
  md=$(jq -r '.manifests[0].digest' "$1/index.json")
  cd_=$(jq -r '.config.digest' "$1/blobs/sha256/${md#sha256:}")
  cfg="$1/blobs/sha256/${cd_#sha256:}"
  printf '%s %s %s %s %s\n' "$(jq -r .created "$cfg")" "$(jq -r '.config.Labels["org.opencontainers.image.created"]' "$cfg")" \
    "$(jq -r '.annotations["dev.enclaver.source.name"]' "$1/blobs/sha256/${md#sha256:}")" "$md" \
    "$(jq -r '.layers[0].digest' "$1/blobs/sha256/${md#sha256:}")"
}

# prov NAME EXPECTED-TIME ENV...: build the default stack with -o json and compare.
prov () {
  name=$1 want=$2
  shift 2
  rm -rf out
  run_cmd env "$@" "$ENCLAVER" build --from oci:sub/built-image --output-dir out -o json
  expect_rc "$name: build" 0
  json=$OUT
  run_cmd "$ENCLAVER" describe out/prov.eif
  eif_time=$(printf '%s' "$OUT" | jq -r .Metadata.BuildTime)
  eif_name=$(printf '%s' "$OUT" | jq -r .Metadata.DockerInfo.Name)
  set -- $(wrapper out/prov-image)
  [ "$eif_time" = "$want" ] && ok "$name: EIF BuildTime $want" || not_ok "$name: EIF BuildTime $eif_time, want $want"
  [ "$1" = "$want" ] && ok "$name: wrapper image created = the EIF's BuildTime" || not_ok "$name: wrapper created $1"
  [ "$2" = "$want" ] && ok "$name: wrapper label org.opencontainers.image.created" || not_ok "$name: label $2"
  [ "$(printf '%s' "$json" | jq -r .BuildTime)" = "$want" ] && ok "$name: -o json BuildTime" \
    || not_ok "$name: -o json BuildTime $(printf '%s' "$json" | jq -r .BuildTime)"
  [ "$eif_name" = oci:built-image ] && ok "$name: EIF DockerInfo.Name is the --from built" \
    || not_ok "$name: DockerInfo.Name $eif_name"
  [ "$3" = "$eif_name" ] && ok "$name: wrapper annotation dev.enclaver.source.name = DockerInfo.Name" \
    || not_ok "$name: source.name annotation $3"
  [ "$(printf '%s' "$json" | jq -r .Sources.App.Name)" = "$eif_name" ] && ok "$name: -o json Sources.App.Name = DockerInfo.Name" \
    || not_ok "$name: -o json name $(printf '%s' "$json" | jq -r .Sources.App.Name)"
  [ "$(printf '%s' "$json" | jq -r .Image.Digest)" = "$4" ] && ok "$name: -o json Image.Digest = the layout's manifest" \
    || not_ok "$name: Image.Digest $(printf '%s' "$json" | jq -c .Image)"
  [ "$(printf '%s' "$json" | jq -r .Image.Tag)" = registry.example/prov:v3 ] && ok "$name: -o json Image.Tag" \
    || not_ok "$name: Image.Tag"
  [ "$(printf '%s' "$json" | jq -r .Image.Path)" = out/prov-image ] \
    && [ "$(printf '%s' "$json" | jq -r .Eif.Path)" = out/prov.eif ] && ok "$name: -o json Image.Path and Eif.Path" \
    || not_ok "$name: Image.Path $(printf '%s' "$json" | jq -r .Image.Path)"
  [ "$(printf '%s' "$json" | jq -r .Image.Format)" = oci ] && ok "$name: -o json Image.Format" || not_ok "$name: Image.Format"
  # Every file of the wrapper's layer carries the build time.
  times=$(tar --utc -tvf "out/prov-image/blobs/sha256/${5#sha256:}" | awk '{print $4 "T" $5}' | sort -u | tr '\n' ' ')
  wt=$(printf '%s' "$want" | cut -c1-16)
  [ "$times" = "$wt " ] && ok "$name: the wrapper layer's files carry the build time" || not_ok "$name: layer times '$times', want $wt"
}

prov "image created" 2024-03-05T05:07:08Z -u SOURCE_DATE_EPOCH
prov "SOURCE_DATE_EPOCH" 2001-09-09T01:46:40Z SOURCE_DATE_EPOCH=1000000000

# The time enclaver gives what it adds to the rootfs (the supervisor, its config, the
# directories init needs) is the build time too.
command -v cpio >/dev/null && {
  python3 "$top_srcdir/tests/build/eifcheck.py" sections out/prov.eif sec >/dev/null
  sv=$(cpio -itv --quiet <sec/ramdisk-1 2>/dev/null | awk '$NF == "rootfs/sbin/enclaver-supervisor" {print $6, $7, $8}')
  [ "$sv" = "Sep 9 2001" ] && ok "the supervisor in the rootfs carries the build time" || not_ok "supervisor mtime: $sv"
}

# A docker-archive wrapper: -o json's digest is the one in the archive's index.json.
sed 's/^kernel:/output:\n  image:\n    format: docker-archive\nkernel:/' enclaver.yaml >da.yaml
run_cmd "$ENCLAVER" build -f da.yaml --from oci:sub/built-image --output-dir da -o json
expect_rc "docker-archive build" 0
d=$(tar -xOf da/prov-image.tar index.json | jq -r '.manifests[0].digest')
[ -n "$d" ] && [ "$(printf '%s' "$OUT" | jq -r .Image.Digest)" = "$d" ] && ok "docker-archive: -o json Image.Digest" \
  || not_ok "docker-archive digest $d vs $(printf '%s' "$OUT" | jq -c .Image)"
[ "$(printf '%s' "$OUT" | jq -r .Image.Path)" = da/prov-image.tar ] && ok "docker-archive: -o json Image.Path" \
  || not_ok "docker-archive path"

# An image whose created is not a time: the build says so (and how to choose one).
$MKOCI bad-time --layer l1 --cmd '["/bin/hello"]' --created yesterday >/dev/null
run_cmd env -u SOURCE_DATE_EPOCH "$ENCLAVER" build --from oci:bad-time --eif-only bad.eif
expect_rc "an image created 'yesterday' fails the build" 1
expect_in "names the value and SOURCE_DATE_EPOCH" "$ERR" "config 'created' is 'yesterday', not an RFC 3339 time (set SOURCE_DATE_EPOCH"
run_cmd env SOURCE_DATE_EPOCH=5 "$ENCLAVER" build --from oci:bad-time --eif-only bad.eif
expect_rc "SOURCE_DATE_EPOCH overrides an unreadable created" 0

done_testing
