#!/bin/sh
# `make install DESTDIR=... prefix=...` gives a working, relocatable tree that
# finds its own stages and library, with nothing from the build tree.
. "$top_srcdir/tests/lib.sh"

dest="$TEST_TMP/dest"
if ! make -C "$top_builddir" install DESTDIR="$dest" prefix=/opt/enclaver >"$TEST_TMP/install.log" 2>&1; then
  not_ok "make install DESTDIR"
  diag "$(tail -20 "$TEST_TMP/install.log")"
  done_testing; exit 1
fi
ok "make install DESTDIR prefix=/opt/enclaver"
root="$dest/opt/enclaver"
# Move the tree somewhere else entirely: it must not depend on where it was put.
mv "$root" "$TEST_TMP/moved"
root="$TEST_TMP/moved"
[ -x "$root/bin/enclaver" ] && ok "binary installed" || not_ok "binary installed"
[ -f "$root/include/enclaver/stage.h" ] && ok "public headers installed" || not_ok "public headers installed"

run_cmd env -u ENCLAVER_PLUGIN_PATH "$root/bin/enclaver" version
expect_rc "installed binary runs from a moved prefix" 0
run_cmd env -u ENCLAVER_PLUGIN_PATH "$root/bin/enclaver" plugins --search-path
expect_in "relocated pkglibdir searched" "$OUT" "$root/lib/enclaver"
case $OUT in *"$top_builddir"*) not_ok "installed binary ignores the build tree";; *) ok "installed binary ignores the build tree";; esac

nstages=$(ls "$root/lib/enclaver/"*.so 2>/dev/null | wc -l)
if [ "$nstages" -gt 0 ]; then
  run_cmd env -u ENCLAVER_PLUGIN_PATH "$root/bin/enclaver" plugins --json
  expect_rc "installed plugins listed" 0
  expect_in "installed stage found in the moved pkglibdir" "$OUT" "$root/lib/enclaver/"
  # Each installed stage exports exactly one symbol: the descriptor.
  bad=0
  for so in "$root/lib/enclaver/"*.so; do
    syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | sort -u | tr '\n' ' ')
    [ "$syms" = "enclaver_stage_descriptor " ] || { bad=1; diag "$so exports: $syms"; }
  done
  [ $bad -eq 0 ] && ok "each stage exports only enclaver_stage_descriptor" || not_ok "stage exports"
else
  ok "no built-in stages built yet # SKIP"
fi
# The default kernel's fetch script is installed, and an installed enclaver points at it
# (not at the source tree's scripts/) when no kernel is found, before fetching anything.
[ -x "$root/bin/enclaver-fetch-kernel" ] && ok "enclaver-fetch-kernel installed" || not_ok "enclaver-fetch-kernel installed"
printf 'version: v1\nname: k\ntarget: k:1\nsources:\n  app: 127.0.0.1:9/never/fetched:1\n' >"$TEST_TMP/k.yaml"
run_cmd env -u ENCLAVER_PLUGIN_PATH -u NITRO_CLI_BLOBS ENCLAVER_DEFAULT_KERNEL="$TEST_TMP/no-kernel" \
  "$root/bin/enclaver" build -f "$TEST_TMP/k.yaml" --offline --cache-dir "$TEST_TMP/c" --eif-only "$TEST_TMP/k.eif"
expect_in "installed: the missing-kernel message names enclaver-fetch-kernel" "$ERR" "with enclaver-fetch-kernel"
case $ERR in *scripts/fetch-kernel.sh*) not_ok "installed: no build-tree script in the message";; *) ok "installed: no build-tree script in the message";; esac
# The other architecture's runtime (docs/cross-arch.md) is installed in a directory of its
# own when the build made it; without it a cross-architecture build is refused before
# anything is fetched, naming the architecture and what to install -- never built with
# the host's binaries.
case $(uname -m) in
  x86_64) other=aarch64 other_oci=arm64 ;;
  aarch64) other=x86_64 other_oci=amd64 ;;
  *) other="" ;;
esac
if [ -n "$other" ] && [ -x "$top_builddir/runtime/$other/enclaver-init" ]; then
  for p in enclaver-init enclaver-supervisor enclaver-run; do
    cmp -s "$top_builddir/runtime/$other/$p" "$root/libexec/enclaver/$other/$p" \
      && ok "$other $p installed in libexec/enclaver/$other" || not_ok "$other $p installed: $(ls "$root/libexec/enclaver" 2>&1)"
  done
  rm -rf "$root/libexec/enclaver/$other"
fi
if [ -n "$other" ]; then
  mkdir -p "$TEST_TMP/okern"
  if [ "$other" = aarch64 ]; then
    python3 -c 'import sys; b=bytearray(4096); b[56:60]=b"ARM\x64"; open(sys.argv[1],"wb").write(b)' "$TEST_TMP/okern/Image"
  else
    python3 -c 'import sys; b=bytearray(4096); b[0x202:0x206]=b"HdrS"; open(sys.argv[1],"wb").write(b)' "$TEST_TMP/okern/bzImage"
  fi
  echo console=ttyS0 >"$TEST_TMP/okern/cmdline"
  run_cmd env -u ENCLAVER_PLUGIN_PATH -u ENCLAVER_LIBEXEC_DIR "$root/bin/enclaver" build -f "$TEST_TMP/k.yaml" \
    --offline --cache-dir "$TEST_TMP/c" --platform "linux/$other_oci" --kernel-dir "$TEST_TMP/okern" \
    --eif-only "$TEST_TMP/x.eif"
  expect_rc "installed without the $other runtime: an $other build fails" 1
  expect_in "the error names the $other init and where it looked" "$ERR" \
    "enclaver-init for $other not found (looked for $root/libexec/enclaver/$other/enclaver-init"
  expect_in "the error says what to install" "$ERR" "scripts/setup-deps.sh installs them"
  case $ERR in *never/fetched*) not_ok "refused before any fetch" ;; *) ok "refused before any fetch" ;; esac
  [ ! -e "$TEST_TMP/x.eif" ] && ok "no $other EIF written" || not_ok "$TEST_TMP/x.eif written"
fi
# The library exports only the enclaver_* API.
lib=$(ls "$root"/lib/libenclaver.so.* | head -1)
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^enclaver_' | grep -v '^_' | grep -v '^LIBENCLAVER' | tr '\n' ' ')
[ -z "$others" ] && ok "libenclaver exports only enclaver_*" || { not_ok "libenclaver exports only enclaver_*"; diag "$others"; }
nm -D --defined-only "$lib" | grep -q ' xmalloc$' && not_ok "internal helpers hidden" || ok "internal helpers hidden"
done_testing
