#!/bin/sh
# A self-check of the test suite (not part of `make check`; docs/testing.md):
# plant one bug per area, rebuild, run the tests of that area, expect them to
# fail, take the bug out again.  All of it happens in a scratch copy of the tree
# (the tracked and untracked files as they are now, build folders left out), so
# the tree itself is never written to; the script checks that at exit.
# Usage: scripts/mutants.sh [AREA...]   (default: every area; AREA as listed below)
# Exit status: 0 when every planted bug was caught; 1 when one was missed, no
# longer applies (its code changed: update the table), or does not compile.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
command -v python3 >/dev/null 2>&1 || { echo "mutants.sh: python3 is needed" >&2; exit 1; }

state () { git -C "$top" status --porcelain=v1 -uall | sha256sum; }
before=$(state)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/enclaver-mutants.XXXXXX")
cleanup () {
  rm -rf "$scratch"
  if [ "$(state)" != "$before" ]; then
    echo "mutants.sh: error: the tree at $top changed while the script ran" >&2
    exit 1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

src=$scratch/src
mkdir -p "$src" "$scratch/orig"
( cd "$top" && git ls-files -z --cached --others --exclude-standard ) \
  | ( cd "$top" && tar --null --ignore-failed-read -T - -cf - ) | tar -xf - -C "$src"
echo "== scratch copy in $src: autogen, configure, make"
( cd "$src" && ./autogen.sh >"$scratch/autogen.log" 2>&1 ) || { cat "$scratch/autogen.log"; exit 1; }
mkdir -p "$src/_build"
( cd "$src/_build" && ../configure -q --enable-werror >/dev/null && make -j"$jobs" >"$scratch/make.log" 2>&1 ) \
  || { tail -n 30 "$scratch/make.log"; exit 1; }

# check_tests TESTS: run them in the scratch build; sets FAILED (failed + error)
check_tests () {
  rm -f "$src/_build/test-suite.log"
  ( cd "$src/_build" && make -j"$jobs" check TESTS="$1" >"$scratch/check.log" 2>&1 ) || true
  if [ -f "$src/_build/test-suite.log" ]; then
    f=$(sed -n 's/^# FAIL: *//p' "$src/_build/test-suite.log")
    e=$(sed -n 's/^# ERROR: *//p' "$src/_build/test-suite.log")
    FAILED=$((${f:-0} + ${e:-0}))
  else
    FAILED=-1
  fi
}

# replace FILE FROM TO: exactly one occurrence of FROM in FILE becomes TO
replace () {
  MUT_FILE=$1 MUT_FROM=$2 MUT_TO=$3 python3 - <<'EOF'
import os, sys
p, a, b = os.environ["MUT_FILE"], os.environ["MUT_FROM"], os.environ["MUT_TO"]
s = open(p).read()
n = s.count(a)
if n != 1:
    sys.stderr.write("%s: the text to mutate occurs %d times (want 1): %s\n" % (p, n, a))
    sys.exit(1)
open(p, "w").write(s.replace(a, b))
EOF
}

N=0 CAUGHT=0 BAD=0
RESULTS=""
selected () { # AREA: is it asked for?
  [ -z "$AREAS" ] && return 0
  for a in $AREAS; do [ "$a" = "$1" ] && return 0; done
  return 1
}
# mutant AREA FILE TESTS DESCRIPTION FROM TO
mutant () {
  area=$1 file=$2 tests=$3 what=$4 from=$5 to=$6
  selected "$area" || return 0
  N=$((N + 1))
  echo "== [$area] $file: $what"
  cp "$src/$file" "$scratch/orig/x"
  if ! replace "$src/$file" "$from" "$to"; then
    result="STALE "
  elif ! ( cd "$src/_build" && make -j"$jobs" >"$scratch/make.log" 2>&1 ); then
    tail -n 20 "$scratch/make.log"
    result="NOBUILD"
  else
    check_tests "$tests"
    if [ "$FAILED" -gt 0 ]; then
      result="caught"
      CAUGHT=$((CAUGHT + 1))
    else
      result="MISSED"
    fi
  fi
  [ "$result" = caught ] || BAD=$((BAD + 1))
  detail=""
  [ "$result" = caught ] && detail=" ($FAILED failed in $tests)"
  [ "$result" = MISSED ] && detail=" (all of $tests passed)"
  RESULTS="$RESULTS
$result  $area: $file: $what$detail"
  echo "   $result$detail"
  cp "$scratch/orig/x" "$src/$file"
}

AREAS="$*"
ALL_TESTS="tests/eif/test-eif tests/eif/test-eif-hostile tests/tree/test-cpio tests/tree/test-apply \
  tests/tree/test-umoci-benign tests/oci/local.sh tests/oci/registry.sh tests/manifest/test-manifest \
  tests/manifest/cli.sh tests/lua/test-lua tests/cli/cli.sh tests/runtime/test-supervisor \
  tests/runtime/test-init tests/build/build.sh tests/plugins/provenance.sh tests/lua/names.sh"
echo "== the unmutated tree passes the tests used below"
check_tests "$ALL_TESTS"
if [ "$FAILED" -ne 0 ]; then
  tail -n 40 "$scratch/check.log"
  echo "mutants.sh: the tests fail without any mutation ($FAILED failed): nothing to measure" >&2
  exit 1
fi

# ---- one planted bug per area: AREA FILE TESTS DESCRIPTION FROM TO
mutant eif-writer core/eif/writer.c "tests/eif/test-eif" \
  "section headers carry flags 1 instead of 0" \
  'eif_put_be16 (hdr + 2, 0);' 'eif_put_be16 (hdr + 2, 1);'
mutant eif-reader core/eif/reader.c "tests/eif/test-eif-hostile" \
  "the CRC32 check always passes" \
  'info->crc_ok = crc == info->crc_stored;' 'info->crc_ok = 1;'
mutant pcr core/eif/pcr.c "tests/eif/test-eif tests/build/build.sh" \
  "a PCR is extended from 0x01 bytes instead of zeros" \
  'memset (buf, 0, ENCLAVER_PCR_SIZE);' 'memset (buf, 1, ENCLAVER_PCR_SIZE);'
mutant cpio core/cpio/cpio.c "tests/tree/test-cpio" \
  "newc namesize without the terminating NUL" \
  '(uint32_t) (name_len + 1), 0u };' '(uint32_t) (name_len), 0u };'
mutant tree core/tree/apply.c "tests/tree/test-apply tests/tree/test-umoci-benign" \
  "opaque-directory markers are taken for AUFS metadata and skipped" \
  'if (strcmp (base, ".wh..wh..opq") == 0)' 'if (strcmp (base, ".wh..wh..opq") == 0 && 0)'
mutant oci-image core/oci/image.c "tests/oci/local.sh" \
  "a single-platform image of another architecture is taken without --platform" \
  'if ((f->want_explicit || !opts->only_metadata) && !oci_platform_match (&have, &f->want))' \
  'if (0 && !oci_platform_match (&have, &f->want))'
mutant oci-cache core/oci/cache.c "tests/oci/local.sh" \
  "a blob whose content does not match its digest enters the cache" \
  'if (digest && strcmp (got, digest) != 0)' 'if (0 && digest && strcmp (got, digest) != 0)'
mutant oci-registry core/oci/registry.c "tests/oci/registry.sh" \
  "a cut blob download restarts from byte 0 instead of resuming with Range" \
  'x->sink && x->sink->n > 0 ? xasprintf' '0 ? xasprintf'
mutant manifest core/manifest/schema.c "tests/manifest/test-manifest tests/manifest/cli.sh" \
  "defaults.memory_mb accepts values below 64" \
  '.off = M (memory_mb), .min = 64,' '.off = M (memory_mb), .min = 1,'
mutant lua lua/sandbox.c "tests/lua/test-lua" \
  "load() accepts binary chunks" \
  'lua_pushliteral (L, "t");' 'lua_pushliteral (L, "bt");'
mutant provenance plugins/provenance/provenance.c "tests/plugins/provenance.sh" \
  "the DSSE pre-authentication encoding counts one byte too many of the payload" \
  '"DSSEv1 %zu %s %zu ", strlen (type), type, blen);' '"DSSEv1 %zu %s %zu ", strlen (type), type, blen + 1);'
mutant lua-names lua/class-ctx.c "tests/lua/names.sh" \
  "ctx.log of a Lua stage logs under the script's file name, not the stage's name" \
  'enclaver_log (lv[level], lscript_log_source (s, src, sizeof src), "%s", msg);' \
  'snprintf (src, sizeof src, "lua:%s", s->display); enclaver_log (lv[level], src, "%s", msg);'
mutant cli cli/common.c "tests/cli/cli.sh" \
  "usage errors exit 1 instead of 2" \
  'return EXIT_USAGE;' 'return EXIT_FAIL;'
mutant cli-image cli/cmd_image.c "tests/oci/local.sh tests/oci/registry.sh" \
  "enclaver image exits 0 when it fails (issue 12: 184 OCI points once passed like this)" \
  '  free (insecure);
  return rc;' '  free (insecure);
  return rc == EXIT_FAIL ? EXIT_OK : rc;'
mutant supervisor runtime/supervisor/main.c "tests/runtime/test-supervisor" \
  "an app killed by signal N makes the supervisor exit N, not 128+N" \
  'finish (s, 128 + WTERMSIG (st));' 'finish (s, WTERMSIG (st));'
mutant init runtime/init/initlib.c "tests/runtime/test-init" \
  "quotes on the kernel command line no longer protect spaces" \
  'quoted = !quoted;' 'quoted = 0;'

[ "$N" -gt 0 ] || { echo "mutants.sh: no area named $AREAS" >&2; exit 2; }
echo "== results"
printf '%s\n' "$RESULTS" | sed '/^$/d'
echo "mutants: $N planted, $CAUGHT caught, $BAD missed or not applied"
[ "$BAD" -eq 0 ]
