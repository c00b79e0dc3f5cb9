#!/bin/bash
# Crash consistency: `enclaver build` (full and --eif-only) and `enclaver image pull`
# killed with SIGKILL, SIGTERM and SIGINT at random moments, from a real
# docker-registry and from an OCI layout, with a cold and a warm cache, over no output
# and over the outputs of an older build.  After each kill:
#   - the output path holds nothing, the old output byte for byte, or the new one
#     byte-identical to an undisturbed build (never anything else);
#   - after SIGTERM/SIGINT no temporary is left next to the outputs or in the cache;
#   - every cached blob re-hashes to its name, every remembered tag is one digest;
# then the same command again, undisturbed, succeeds, leaves byte-identical outputs
# and no temporary anywhere (SIGKILL's leftovers are gone).  Last, three builds
# sharing one cold cache, and builds racing for one output directory.
#
# CRASH_ROUNDS (default 3; 2 in the sanitizer build, whose point here is ASan and UBSan
# on the interrupted paths, while the normal build covers the moments) kills per signal
# and command; `make check-crash-long` runs 20.  CRASH_SEED picks the moments (printed,
# so a failure can be replayed).  Between renames, each rename gets one signal, SIGKILL
# and SIGTERM by turns (both at every rename when CRASH_RENAME_BOTH=yes, as
# check-crash-long sets).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (scripts/setup-deps.sh installs it)"
no_ambient_credentials
if [ "${ENCLAVER_SANITIZED:-no}" = yes ]; then ROUNDS=${CRASH_ROUNDS:-2}; else ROUNDS=${CRASH_ROUNDS:-3}; fi
declare -A GOOD_EIF GOOD_IMG GOOD_TAR SPAN
SEED=${CRASH_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
diag "CRASH_ROUNDS=$ROUNDS CRASH_SEED=$SEED"
KIT="$PY $top_srcdir/tests/crash/crashkit.py"
W=$TEST_TMP/w
mkdir -p "$W/n/bin" "$W/n/data" "$W/o/bin" "$W/blobs"
cd "$W" || exit 1

# Two images: "new" (three layers, 12 MB of random file content: a build takes a
# moment, so the kills land in every stage) and "old", whose outputs sit at the output
# paths before some of the kills.
printf '#!/bin/sh\necho new\n' >n/bin/app
printf '#!/bin/sh\necho old\n' >o/bin/app
chmod 755 n/bin/app o/bin/app
mkdir -p n2/data n3/data
head -c 6000000 /dev/urandom >n2/data/a
head -c 6000000 /dev/urandom >n3/data/b
python3 "$top_srcdir/tests/build/mkoci.py" img-new --layer n --layer n2 --layer n3 --cmd '["/bin/app"]' --tag v1 >/dev/null
python3 "$top_srcdir/tests/build/mkoci.py" img-old --layer o --cmd '["/bin/app"]' --tag v0 >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" blobs/bzImage
printf 'console=ttyS0\n' >blobs/cmdline
fake_boot_blobs "$W/blobs"
printf 'version: v1\nname: cx\ntarget: cx:latest\nsources:\n  app: oci:./img-new\nkernel:\n  blobs: ./blobs\n' >enclaver.yaml
# the same with the release image as a docker-archive tarball (made in a scratch
# directory beside it)
printf 'output:\n  image:\n    format: docker-archive\n' | cat enclaver.yaml - >enclaver-tar.yaml

start_registry reg "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
$MKIMAGE push img-new v1 "http://$R" test/cx v1 || not_ok "push the image"

# src_ref SRC: the --from value of a source kind
src_ref () {
  case $1 in
    layout) echo "oci:$W/img-new:v1" ;;
    registry) echo "$R/test/cx:v1" ;;
  esac
}
# cmd_of OP SRC CACHE OUTDIR: the command line (in CMD)
cmd_of () {
  case $1 in
    full) CMD=("$ENCLAVER" -q build --no-progress --cache-dir "$3" --from "$(src_ref "$2")" --output-dir "$4") ;;
    eif) CMD=("$ENCLAVER" -q build --no-progress --cache-dir "$3" --from "$(src_ref "$2")" --eif-only "$4/cx.eif") ;;
    tar) CMD=("$ENCLAVER" -q build -f "$W/enclaver-tar.yaml" --no-progress --cache-dir "$3" --from "$(src_ref "$2")" \
      --output-dir "$4") ;;
    pull) CMD=("$ENCLAVER" -q image pull --no-progress --cache-dir "$3" "$(src_ref "$2")") ;;
  esac
}
# temps OUTDIR CACHE: the temporaries (enclaver's own names) next to the outputs and in
# the cache (its tmp/, and beside its remembered tags)
temps () {
  [ -d "$1" ] && find "$1" -mindepth 1 \( -name '*.enclaver-tmp.*' -o -name '*.enclaver-old.*' -o -name '*.tmp.*' \) \
    -prune -print
  [ -d "$2/tmp" ] && find "$2/tmp" -mindepth 1 -maxdepth 1
  [ -d "$2/refs" ] && find "$2/refs" -name '*.tmp.*'
  return 0
}

# ---- the reference outputs: undisturbed builds
for s in layout registry; do
  for op in full eif tar; do
    cmd_of $op $s "$W/c-ref" "$W/good-$op-$s"
    mkdir -p "$W/good-$op-$s"
    run_cmd "${CMD[@]}"
    expect_rc "reference build: $op from the $s" 0
    GOOD_EIF[${op}_$s]=$($KIT treehash "$W/good-$op-$s/cx.eif")
    [ $op = full ] && GOOD_IMG[$s]=$($KIT treehash "$W/good-$op-$s/cx-image")
    [ $op = tar ] && GOOD_TAR[$s]=$($KIT treehash "$W/good-$op-$s/cx-image.tar")
    # how long it takes cold and warm: the kills land in [0, 1.3 x that)
    rm -rf "$W/c-t"; mkdir -p "$W/t"
    cmd_of $op $s "$W/c-t" "$W/t"
    SPAN[${op}_${s}_cold]=$($KIT time "${CMD[@]}")
    SPAN[${op}_${s}_warm]=$($KIT time "${CMD[@]}")
    rm -rf "$W/t"
  done
  cmd_of pull $s "$W/c-t" "$W/t"
  rm -rf "$W/c-t"
  SPAN[pull_${s}_cold]=$($KIT time "${CMD[@]}")
  SPAN[pull_${s}_warm]=$($KIT time "${CMD[@]}")
done
diag "undisturbed wall times: $(for k in "${!SPAN[@]}"; do printf '%s=%s ' "$k" "${SPAN[$k]}"; done)"
expect_eq "the EIF of a full build and of --eif-only are the same bytes" "${GOOD_EIF[full_layout]}" "${GOOD_EIF[eif_layout]}"
mkdir -p "$W/old"
run_cmd "$ENCLAVER" -q build --no-progress --cache-dir "$W/c-ref" --from "oci:$W/img-old:v0" --output-dir "$W/old"
expect_rc "the old outputs" 0
OLD_EIF=$($KIT treehash "$W/old/cx.eif")
OLD_IMG=$($KIT treehash "$W/old/cx-image")
run_cmd "$ENCLAVER" -q build -f enclaver-tar.yaml --no-progress --cache-dir "$W/c-ref" --from "oci:$W/img-old:v0" \
  --output-dir "$W/old-tar"
expect_rc "the old outputs, with a tarball" 0
OLD_TAR=$($KIT treehash "$W/old-tar/cx-image.tar")
OLD_TAR_EIF=$($KIT treehash "$W/old-tar/cx.eif")
[ "$OLD_EIF" != "${GOOD_EIF[full_layout]}" ] && ok "the old EIF differs from the new" || not_ok "the old EIF differs from the new"
# the blobs of the new image, for the pulls' check
NEED=$( (echo "$(layout_ref_digest img-new v1)"; jq -r '.config.digest, .layers[].digest' \
  "$(blob img-new "$(layout_ref_digest img-new v1)")") | sed 's/^sha256://' | sort)

# judge NAME GOT OLD NEW OLD_PRESENT: the output path after a kill
judge () {
  if [ "$2" = "$4" ]; then return 0; fi
  if [ "$5" = yes ] && [ "$2" = "$3" ]; then return 0; fi
  if [ "$5" = no ] && [ "$2" = absent ]; then return 0; fi
  PROBLEMS="$PROBLEMS; $1 is $( [ "$2" = absent ] && echo absent || echo 'neither the old nor the new output')"
}

# one_kill SIG I OP SRC COLD OLD [N]: kill one run (at a random moment, or right after
# its N-th rename), check, then run it again undisturbed
one_kill () {
  local sig=$1 i=$2 op=$3 s=$4 temp=$5 old=$6 rc when left
  local C=$W/cache-$op-$s O=$W/out-$op-$s what
  what="$sig $op from the $s, $temp cache, $( [ "$old" = yes ] && echo 'over old outputs' || echo 'no output before')"
  [ "$temp" = cold ] && rm -rf "$C"
  rm -rf "$O"; mkdir -p "$O"
  if [ "$old" = yes ] && [ "$op" = tar ]; then
    cp -a "$W/old-tar/cx.eif" "$W/old-tar/cx-image.tar" "$O/"
  elif [ "$old" = yes ] && [ "$op" != pull ]; then
    cp -a "$W/old/cx.eif" "$O/cx.eif"
    [ "$op" = full ] && cp -a "$W/old/cx-image" "$O/cx-image"
  fi
  if [ "$temp" = warm ] && [ ! -d "$C/blobs" ]; then
    cmd_of $op $s "$C" "$W/warmup"; mkdir -p "$W/warmup"; "${CMD[@]}" >/dev/null 2>&1; rm -rf "$W/warmup"
  fi
  cmd_of $op $s "$C" "$O"
  if [ -n "${7:-}" ]; then
    read -r rc when < <($KIT at-rename "$7" "$sig" "$TEST_TMP/k.out" "$TEST_TMP/k.err" -- "${CMD[@]}")
    when="right after rename $7: $when"
  else
    read -r rc when < <($KIT kill "$sig" "$(awk -v t="${SPAN[${op}_${s}_$temp]}" 'BEGIN { print t * 1.3 }')" \
      "$SEED-$sig-$i" "$TEST_TMP/k.out" "$TEST_TMP/k.err" -- "${CMD[@]}")
    when="signal at ${when}s"
  fi
  PROBLEMS=
  case $sig in KILL) n=9 ;; TERM) n=15 ;; INT) n=2 ;; esac
  if [ "$rc" = hung ]; then
    PROBLEMS="; did not end within 120 s of the signal"
  elif [ "$rc" != 0 ] && [ "$rc" != $((128 + n)) ]; then
    PROBLEMS="; exit $rc, not 0 or $((128 + n)): $(tail -3 "$TEST_TMP/k.err")"
  fi
  if [ "$op" != pull ]; then
    judge "$O/cx.eif" "$($KIT treehash "$O/cx.eif")" "$( [ "$op" = tar ] && echo "$OLD_TAR_EIF" || echo "$OLD_EIF")" \
      "${GOOD_EIF[${op}_$s]}" "$old"
    [ "$op" = full ] && judge "$O/cx-image" "$($KIT treehash "$O/cx-image")" "$OLD_IMG" "${GOOD_IMG[$s]}" "$old"
    [ "$op" = tar ] && judge "$O/cx-image.tar" "$($KIT treehash "$O/cx-image.tar")" "$OLD_TAR" "${GOOD_TAR[$s]}" "$old"
  fi
  left=$(temps "$O" "$C")
  [ "$sig" != KILL ] && [ -n "$left" ] && PROBLEMS="$PROBLEMS; temporaries left: $(echo $left)"
  bad=$($KIT rehash "$C")
  [ -n "$bad" ] && PROBLEMS="$PROBLEMS; cache damaged: $(echo $bad)"
  if [ -z "$PROBLEMS" ]; then ok "$what, $when (exit $rc)"
  else not_ok "$what, $when (exit $rc)"; diag "${PROBLEMS#; }"; fi
  KILLED_LEFT=$((KILLED_LEFT + $(echo "$left" | grep -c .)))

  # the next run: succeeds, outputs byte-identical, nothing temporary anywhere
  run_cmd "${CMD[@]}"
  PROBLEMS=
  [ "$RC" = 0 ] || PROBLEMS="; exit $RC: $ERR"
  if [ "$op" = pull ]; then
    have=$(ls "$C/blobs/sha256" 2>/dev/null | sort)
    [ -z "$(comm -23 <(echo "$NEED") <(echo "$have"))" ] || PROBLEMS="$PROBLEMS; blobs missing from the cache"
  else
    [ "$($KIT treehash "$O/cx.eif")" = "${GOOD_EIF[${op}_$s]}" ] || PROBLEMS="$PROBLEMS; the EIF differs from the reference"
    if [ "$op" = full ] && [ "$($KIT treehash "$O/cx-image")" != "${GOOD_IMG[$s]}" ]; then
      PROBLEMS="$PROBLEMS; the release image differs from the reference"
    fi
    if [ "$op" = tar ] && [ "$($KIT treehash "$O/cx-image.tar")" != "${GOOD_TAR[$s]}" ]; then
      PROBLEMS="$PROBLEMS; the release tarball differs from the reference"
    fi
  fi
  left=$(temps "$O" "$C")
  [ -n "$left" ] && PROBLEMS="$PROBLEMS; temporaries still there: $(echo $left)"
  bad=$($KIT rehash "$C")
  [ -n "$bad" ] && PROBLEMS="$PROBLEMS; cache damaged: $(echo $bad)"
  if [ -z "$PROBLEMS" ]; then ok "  then undisturbed: byte-identical, no temporary left"
  else not_ok "  then undisturbed: byte-identical, no temporary left"; diag "${PROBLEMS#; }"; fi
}

KILLED_LEFT=0
# Each round takes the next of the 24 combinations of (full, --eif-only or with a
# tarball; source; cache; old outputs) for builds and of the 4 (source, cache) for
# pulls, shifted per signal so that a short run still covers each kind with each
# signal.
k=0
for sig in KILL TERM INT; do
  for i in $(seq 0 $((ROUNDS - 1))); do
    c=$(( (i + k * 5) % 24 ))
    op=$(echo full eif tar | cut -d' ' -f$((c % 3 + 1)))
    s=$( [ $((c / 3 % 2)) = 0 ] && echo registry || echo layout )
    t=$( [ $((c / 6 % 2)) = 0 ] && echo cold || echo warm )
    o=$( [ $((c / 12)) = 0 ] && echo yes || echo no )
    one_kill $sig "b$i" $op $s $t $o
    c=$(( (i + k) % 4 ))
    s=$( [ $((c & 1)) = 0 ] && echo registry || echo layout )
    t=$( [ $((c & 2)) = 0 ] && echo cold || echo warm )
    one_kill $sig "p$i" pull $s $t no
  done
  k=$((k + 1))
done
diag "SIGKILL left $KILLED_LEFT temporaries, each removed by the next run"

# ---- kills between two renames: strace(1) holds the build a moment after each rename
# (the commit of the outputs, blobs entering the cache, a remembered tag) and the
# signal arrives right then.
if command -v strace >/dev/null 2>&1 && strace -qq -o /dev/null true 2>/dev/null; then
  rm -rf "$W/cache-full-registry"
  cmd_of full registry "$W/cache-full-registry" "$W/t"; mkdir -p "$W/t"
  cp -a "$W/old/cx.eif" "$W/old/cx-image" "$W/t/"
  NREN=$($KIT count-renames "${CMD[@]}")
  rm -rf "$W/t"
  [ "$NREN" -ge 5 ] && ok "a cold build from the registry makes $NREN renames" || not_ok "a cold build makes renames ($NREN)"
  for n in $(seq 1 "$NREN"); do
    # by turns: KILL at the odd renames, TERM at the even ones (or both everywhere)
    if [ "${CRASH_RENAME_BOTH:-no}" = yes ]; then sigs="KILL TERM"
    elif [ $((n % 2)) = 1 ]; then sigs=KILL
    else sigs=TERM; fi
    for sig in $sigs; do
      one_kill $sig "r$n" full registry cold yes "$n"
    done
  done
else
  ok "kills between renames # SKIP strace not installed or not permitted (ptrace)"
fi

# ---- parallel builds sharing one cache
# same_outputs DIR SRC: DIR holds the reference outputs, no temporary
same_outputs () {
  [ "$($KIT treehash "$1/cx.eif")" = "${GOOD_EIF[full_$2]}" ] && [ "$($KIT treehash "$1/cx-image")" = "${GOOD_IMG[$2]}" ] \
    && [ -z "$(temps "$1" "$W/nowhere")" ]
}
for round in 1 2; do
  C=$W/cache-par; rm -rf "$C" "$W"/par-*
  pids=
  for j in 1 2 3; do
    mkdir -p "$W/par-$j"
    cmd_of full registry "$C" "$W/par-$j"
    "${CMD[@]}" >"$TEST_TMP/par-$j.out" 2>"$TEST_TMP/par-$j.err" &
    pids="$pids $!"
  done
  rcs=; for p in $pids; do wait "$p"; rcs="$rcs $?"; done
  expect_eq "round $round: three builds from the registry sharing one cold cache all succeed" "$rcs" " 0 0 0"
  good=0; for j in 1 2 3; do same_outputs "$W/par-$j" registry && good=$((good + 1)); done
  expect_eq "  their outputs are byte-identical to an undisturbed build's" "$good" 3
  expect_eq "  the cache re-hashes, nothing temporary in it" "$($KIT rehash "$C")$(temps "$W/nowhere" "$C")" ""
done

# One of three builds sharing a cold cache is killed -9 at a random moment: the two
# others are not disturbed, and the next build cleans up after it.
for round in 1 2 3; do
  C=$W/cache-par; rm -rf "$C" "$W"/par-*
  mkdir -p "$W/par-1" "$W/par-2" "$W/par-3"
  cmd_of full registry "$C" "$W/par-2"; "${CMD[@]}" >/dev/null 2>"$TEST_TMP/par-2.err" & p2=$!
  cmd_of full registry "$C" "$W/par-3"; "${CMD[@]}" >/dev/null 2>"$TEST_TMP/par-3.err" & p3=$!
  cmd_of full registry "$C" "$W/par-1"
  read -r rc delay < <($KIT kill KILL "$(awk -v t="${SPAN[full_registry_cold]}" 'BEGIN { print t * 1.3 }')" \
    "$SEED-par-$round" "$TEST_TMP/k.out" "$TEST_TMP/k.err" -- "${CMD[@]}")
  wait "$p2"; r2=$?; wait "$p3"; r3=$?
  expect_eq "round $round: a sibling killed -9 at ${delay}s (exit $rc): the other two builds succeed" "$r2 $r3" "0 0"
  good=0; for j in 2 3; do same_outputs "$W/par-$j" registry && good=$((good + 1)); done
  expect_eq "  with byte-identical outputs" "$good" 2
  run_cmd "${CMD[@]}"
  expect_rc "  the killed build, run again, succeeds" 0
  check "  byte-identical, its leftovers and the cache's gone" same_outputs "$W/par-1" registry
  expect_eq "  the cache re-hashes, nothing temporary in it" "$($KIT rehash "$C")$(temps "$W/nowhere" "$C")" ""
done

# Three builds racing to write one output directory (over an old output): each
# succeeds, the last one's outputs stand, and no temporary is left.
for round in 1 2 3; do
  rm -rf "$W/race"; mkdir -p "$W/race"; cp -a "$W/old/cx.eif" "$W/old/cx-image" "$W/race/"
  pids=
  for j in 1 2 3; do
    cmd_of full layout "$W/cache-race" "$W/race"
    "${CMD[@]}" >/dev/null 2>"$TEST_TMP/race-$j.err" &
    pids="$pids $!"
  done
  rcs=; for p in $pids; do wait "$p"; rcs="$rcs $?"; done
  expect_eq "round $round: three builds into one output directory all succeed" "$rcs" " 0 0 0"
  [ "$rcs" = " 0 0 0" ] || diag "$(cat "$TEST_TMP"/race-*.err)"
  check "  the outputs are the new ones, byte-identical, no temporary left" same_outputs "$W/race" layout
done
done_testing
