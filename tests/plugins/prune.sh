#!/bin/sh
# The prune plugin (issue 18): a real image with documentation, manual pages, locales,
# caches, a Debian copyright file and a hardlink into the docs; built with prune between
# flatten and inject.  The customer ramdisk, unpacked with cpio(1), lacks exactly the
# pruned paths; the bytes reported saved are what the test counts itself; two builds are
# byte-identical; bad options and a bad place in the pipeline fail naming the plugin.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v cpio >/dev/null || skip_all "cpio missing"
command -v jq >/dev/null || skip_all "jq missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
CHK="python3 $top_srcdir/tests/build/eifcheck.py"
W="$TEST_TMP/w"
R="$W/root"
mkdir -p "$R/bin" "$R/usr/share/doc/pkg" "$R/usr/share/man/man1" "$R/usr/share/locale/de/LC_MESSAGES" \
  "$R/var/cache/apt" "$R/app/__pycache__" "$R/app/lib" "$R/usr/share/doc-keep" "$W/blobs"
printf '#!/bin/sh\necho hi\n' >"$R/bin/hello"
chmod 755 "$R/bin/hello"
head -c 5000 /dev/urandom >"$R/usr/share/doc/pkg/README"
printf 'Copyright: someone\n' >"$R/usr/share/doc/pkg/copyright"
head -c 3000 /dev/urandom >"$R/usr/share/man/man1/hello.1.gz"
head -c 700 /dev/urandom >"$R/usr/share/locale/de/LC_MESSAGES/hello.mo"
head -c 11000 /dev/urandom >"$R/var/cache/apt/pkgcache.bin"
head -c 900 /dev/urandom >"$R/app/__pycache__/m.cpython-311.pyc"
printf 'x = 1\n' >"$R/app/lib/m.py"
printf 'not a doc dir\n' >"$R/usr/share/doc-keep/file"
# A hardlink from the docs to a file that stays: its content is not saved.
ln "$R/bin/hello" "$R/usr/share/doc/pkg/hello-copy"
find "$R" -exec touch -h -d 2023-05-01 {} +
$MKOCI "$W/img" --layer "$R" --cmd '["/bin/hello"]' >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1

# manifest NAME PRUNE-ENTRY: a pipeline with the given prune entry between flatten and inject
manifest () {
  cat >"$1" <<YAML
version: v1
name: pr
target: pr:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline:
  - fetch
  - flatten
$2
  - inject
  - measure
  - emit-eif
YAML
}

manifest plain.yaml ""
manifest pruned.yaml "  - stage: prune
    options:
      report: prune.json"
run_cmd "$ENCLAVER" build -f plain.yaml --eif-only plain.eif
expect_rc "build without prune" 0
run_cmd "$ENCLAVER" build -f pruned.yaml --eif-only pruned.eif
expect_rc "build with prune" 0
# What the test expects saved: README, man page, locale, apt cache, pyc (the hardlink's
# content stays with bin/hello; the copyright file is kept).
want=$((5000 + 3000 + 700 + 11000 + 900))
expect_in "prune logs the bytes saved" "$ERR" "($want bytes) of file content saved"
expect_in "... under its own name" "$ERR" "stage:prune:2"
[ "$(jq -r .bytes_saved prune.json)" = "$want" ] && ok "report: bytes_saved = $want" \
  || not_ok "report bytes_saved $(jq -r .bytes_saved prune.json)"
[ "$(jq -r '.removed | join(" ")' prune.json)" = "app/__pycache__ usr/share/doc/pkg/README usr/share/doc/pkg/hello-copy usr/share/locale/de usr/share/man/man1 var/cache/apt" ] \
  && ok "report: the removed paths, in tree order" || not_ok "report removed: $(jq -c .removed prune.json)"

$CHK sections pruned.eif sec >/dev/null
mkdir x && (cd x && cpio -idm --quiet --no-absolute-filenames <../sec/ramdisk-1) || not_ok "cpio unpack"
gone=0
for p in usr/share/doc/pkg/README usr/share/man/man1 usr/share/locale/de var/cache/apt app/__pycache__ usr/share/doc/pkg/hello-copy; do
  [ -e "x/rootfs/$p" ] && { gone=1; diag "still there: $p"; }
done
[ $gone -eq 0 ] && ok "the pruned paths are not in the EIF's rootfs" || not_ok "pruned paths left in the EIF"
[ -f x/rootfs/usr/share/doc/pkg/copyright ] && ok "the Debian copyright file is kept (default keep)" || not_ok "copyright file removed"
[ -f x/rootfs/usr/share/doc-keep/file ] && [ -f x/rootfs/app/lib/m.py ] && cmp -s x/rootfs/bin/hello "$R/bin/hello" \
  && ok "everything else is still there" || not_ok "prune removed too much"
[ -d x/rootfs/usr/share/man ] && [ -d x/rootfs/var/cache ] && ok "the directories above a glob's matches stay" \
  || not_ok "parent directories removed"

run_cmd "$ENCLAVER" build -f pruned.yaml --eif-only pruned2.eif
expect_rc "second build with prune" 0
cmp -s pruned.eif pruned2.eif && ok "two builds with prune are byte-identical" || not_ok "prune builds differ"

# rootfs EIF DIR: unpack the customer ramdisk's rootfs into DIR, without the manifest
# copy (the manifests differ)
rootfs () {
  rm -rf "$2.sec" && $CHK sections "$1" "$2.sec" >/dev/null && mkdir -p "$2" \
    && (cd "$2" && cpio -idm --quiet --no-absolute-filenames <"../$2.sec/ramdisk-1") && rm -f "$2/rootfs/etc/enclaver/enclaver.yaml"
}
# dry_run (set from the command line) leaves the rootfs as without prune.
run_cmd "$ENCLAVER" build -f pruned.yaml --stage-opt prune.dry_run=true --eif-only dry.eif
expect_rc "dry run (--stage-opt prune.dry_run=true) builds" 0
expect_in "dry run says what it would remove" "$ERR" "would remove 6 paths"
rootfs plain.eif plain-x && rootfs dry.eif dry-x
diff -r plain-x/rootfs dry-x/rootfs >/dev/null && ok "a dry run leaves the rootfs as without prune" || not_ok "dry run changed the rootfs"
[ "$(jq -r .dry_run prune.json)" = true ] && ok "the report says it was a dry run" || not_ok "report dry_run"
run_cmd "$ENCLAVER" build -f pruned.yaml --stage-opt prune.dry_rnu=true --eif-only dry.eif
expect_rc "a misspelt --stage-opt key fails" 1
expect_in "... with the stage's did-you-mean" "$ERR" "stage 'prune': unknown option 'dry_rnu' (did you mean 'dry_run'?)"
run_cmd "$ENCLAVER" build -f pruned.yaml --stage-opt nosuch.x=1 --eif-only dry.eif
expect_rc "--stage-opt for a stage not in the pipeline is a usage error" 2
expect_in "... naming it" "$ERR" "--stage-opt nosuch.x: the pipeline has no stage of that name"
manifest custom.yaml "  - stage: prune
    options:
      paths: usr/share/doc
      add: '*.py'
      keep: usr/share/doc/pkg/README
      report: custom.json"
run_cmd "$ENCLAVER" build -f custom.yaml --eif-only custom.eif
expect_rc "paths, add and keep" 0
[ "$(jq -r '.removed | join(" ")' custom.json)" = "app/lib/m.py usr/share/doc/pkg/copyright usr/share/doc/pkg/hello-copy" ] \
  && ok "a kept file keeps its directory; a glob without '/' matches names at any depth" \
  || not_ok "custom removed: $(jq -c .removed custom.json)"

# Bad options and bad places: exit 1, the plugin named, no EIF left.
bad () {
  name=$1 entry=$2 needle=$3
  manifest bad.yaml "$entry"
  run_cmd "$ENCLAVER" build -f bad.yaml --eif-only bad.eif
  expect_rc "$name: the build fails" 1
  expect_in "$name: the error says why" "$ERR" "$needle"
  [ -e bad.eif ] && not_ok "$name: an EIF was left behind" || ok "$name: no EIF left behind"
}
bad "a glob matching everything" "  - stage: prune
    options:
      paths: '/*'" "stage prune: init: option paths: glob '*' would remove the whole rootfs"
bad "a '..' glob" "  - stage: prune
    options:
      add: usr/../etc" "stage prune: init: option add: glob 'usr/../etc' has a '..' component"
bad "a misspelt option" "  - stage: prune
    options:
      pahts: x" "stage 'prune': unknown option 'pahts' (did you mean 'paths'?)"
bad "a bad boolean" "  - stage: prune
    options:
      dry_run: maybe" "stage 'prune': option 'dry_run': 'maybe' is not a boolean"
bad "an empty list" "  - stage: prune
    options:
      paths: ' , '" "stage prune: init: options paths and add name nothing to remove"
bad "a report in a missing directory" "  - stage: prune
    options:
      report: no/such/dir/r.json" "the prune report"
# prune before flatten, and after measure
cat >early.yaml <<YAML
version: v1
name: pr
target: pr:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline: [fetch, prune, flatten, inject, measure, emit-eif]
YAML
run_cmd "$ENCLAVER" build -f early.yaml --eif-only early.eif
expect_rc "prune before flatten fails" 1
expect_in "... saying where it belongs" "$ERR" "stage prune: the build context has no rootfs: put prune after flatten"
sed 's/pipeline: .*/pipeline: [fetch, flatten, inject, measure, prune, emit-eif]/' early.yaml >late.yaml
run_cmd "$ENCLAVER" build -f late.yaml --eif-only late.eif
expect_rc "prune after measure fails" 1
expect_in "... saying the rootfs is measured" "$ERR" "stage prune: the rootfs is already measured: put prune before measure"
[ -e late.eif ] && not_ok "prune after measure left the EIF" || ok "prune after measure leaves no EIF"
done_testing
