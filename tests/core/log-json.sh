#!/bin/sh
# --log-format json end to end (docs/logging.md): the real enclaver, real inputs; every
# stderr line is parsed back with python3's json module.  Checks: one record per
# problem with file/line/column/key for manifest errors, stage/layer/digest/file for a
# layer that fails to flatten, file/offset for a broken EIF; the text format unchanged.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
G="$top_srcdir/golden/eif"
W="$TEST_TMP/w"
mkdir -p "$W/blobs" "$W/l1/etc"
cd "$W" || exit 1
# A cache of this test's own: a blob cached by an earlier run would hide a corruption.
XDG_CACHE_HOME="$W/cache"
export XDG_CACHE_HOME

# recs EXPR: evaluate a python expression over R, the list of records of $ERR (fails
# when any stderr line is not a JSON object).
recs () {
  printf '%s\n' "$ERR" | python3 -c '
import json, re, sys
R = []
for line in sys.stdin.read().splitlines():
    if not line:
        continue
    o = json.loads(line)
    assert isinstance(o, dict), line
    R.append(o)
T = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ok = eval(sys.argv[1])
if not ok:
    print(json.dumps(R, indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)' "$1"
}
check_recs () { if recs "$2" 2>"$W/diag"; then ok "$1"; else not_ok "$1"; sed 's/^/# /' "$W/diag"; fi; }

# 1. A manifest with three mistakes.
cat >bad.yaml <<'YAML'
version: v1
name: bad
target: bad:latest
sources:
  app: oci:./img
defaults:
  memory_mb: lots
  cpu_count: -1
colour: blue
YAML
run_cmd "$ENCLAVER" manifest -f bad.yaml
expect_rc "manifest with mistakes fails" 1
text_lines=$(printf '%s\n' "$ERR" | grep -c '^enclaver: error: bad.yaml:')
[ "$text_lines" -ge 3 ] && ok "text: one tagged line per problem ($text_lines)" || not_ok "text lines: $ERR"
run_cmd "$ENCLAVER" --log-format json manifest -f bad.yaml
expect_rc "manifest with mistakes fails (json)" 1
check_recs "json: one record per problem, as many as the text lines" "len(R) == $text_lines"
check_recs "json: every record has time (RFC 3339 UTC), level error, msg" \
  'all(T.match(r["time"]) and r["level"] == "error" and r["msg"] for r in R)'
check_recs "json: every record names the file" 'all(r.get("file") == "bad.yaml" for r in R)'
check_recs "json: line and column are integers matching the message" \
  'all(isinstance(r["line"], int) and isinstance(r["column"], int) and r["msg"].startswith("bad.yaml:%d:%d: " % (r["line"], r["column"])) for r in R)'
check_recs "json: the memory_mb problem carries its key and line 7" \
  'any(r.get("key") == "defaults.memory_mb" and r["line"] == 7 for r in R)'
check_recs "json: the unknown key is on line 9" 'any(r["line"] == 9 and "colour" in r["msg"] for r in R)'

# The same manifest through build: text is one entry as before, JSON one record each.
cp "$G/kernel.bin" blobs/bzImage
printf 'console=ttyS0\n' >blobs/cmdline
fake_boot_blobs "blobs"
run_cmd "$ENCLAVER" build -f bad.yaml --eif-only out.eif
expect_rc "build with a bad manifest fails" 1
first=$(printf '%s\n' "$ERR" | grep -c '^enclaver: error: ')
[ "$first" -eq 1 ] && ok "build text: the error is one entry, as before" || not_ok "build text: $ERR"
run_cmd "$ENCLAVER" --log-format json build -f bad.yaml --eif-only out.eif
expect_rc "build with a bad manifest fails (json)" 1
check_recs "build json: one error record per problem, each with file and line" \
  'len([r for r in R if r["level"] == "error"]) == '"$text_lines"' and all(r.get("file") == "bad.yaml" and isinstance(r.get("line"), int) for r in R if r["level"] == "error")'

# 2. A layer that cannot be flattened (a uid outside 0..2^32-1).
echo 'v1' >l1/etc/version
$MKOCI img --layer l1 --owner etc/version=5000000000:0 --cmd '["/bin/true"]' >/dev/null
cat >enclaver.yaml <<'YAML'
version: v1
name: layer
target: layer:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
YAML
run_cmd "$ENCLAVER" build --eif-only out.eif
expect_rc "build of a bad layer fails" 1
expect_in "text: names the layer entry" "$ERR" "entry 'etc/version'"
run_cmd "$ENCLAVER" --log-format json build --eif-only out.eif
expect_rc "build of a bad layer fails (json)" 1
check_recs "layer json: the error record names stage flatten" \
  'any(r["level"] == "error" and r.get("stage") == "flatten" and isinstance(r.get("stage_index"), int) for r in R)'
check_recs "layer json: layer and digest fields are the layer's digest" \
  'any(r["level"] == "error" and re.match(r"^sha256:[0-9a-f]{64}$", r.get("layer", "")) and r.get("digest") == r.get("layer") and r["layer"] in r["msg"] for r in R)'
check_recs "layer json: file is the entry at fault" \
  'any(r["level"] == "error" and r.get("file") == "etc/version" for r in R)'
check_recs "layer json: only one error record" 'len([r for r in R if r["level"] == "error"]) == 1'

# A corrupted layer blob (flatten) and a corrupted config blob (fetch): the records name
# the blob's digest.
$MKOCI img2 --layer l1 --cmd '["/bin/true"]' >/dev/null
blob_of () { python3 -c '
import json, sys
idx = json.load(open("img2/index.json")); m = idx["manifests"][0]["digest"].split(":")[1]
man = json.load(open("img2/blobs/sha256/" + m))
print(man["layers"][0]["digest"] if sys.argv[1] == "layer" else man["config"]["digest"])' "$1"; }
flip () { python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xff; open(p, "wb").write(b)' "img2/blobs/sha256/${1#sha256:}"; }
sed 's|oci:./img|oci:./img2|' enclaver.yaml >img2.yaml
L=$(blob_of layer) C=$(blob_of config)
flip "$C"
run_cmd "$ENCLAVER" --log-format json build -f img2.yaml --eif-only out.eif
expect_rc "build of a corrupted config fails (json)" 1
check_recs "corrupted config: stage fetch, the expected digest as a field" \
  'any(r["level"] == "error" and r.get("stage") == "fetch" and r.get("digest") == "'"$C"'" and "digest mismatch" in r["msg"] for r in R)'
flip "$C"
flip "$L"
run_cmd "$ENCLAVER" --log-format json build -f img2.yaml --eif-only out.eif
expect_rc "build of a corrupted layer fails (json)" 1
check_recs "corrupted layer: stage flatten, layer and digest fields" \
  'any(r["level"] == "error" and r.get("stage") == "flatten" and r.get("layer") == "'"$L"'" and r.get("digest") == "'"$L"'" for r in R)'

# 3. A broken EIF: cut after the header.
head -c 600 "$G/vector1.eif" >cut.eif
run_cmd "$ENCLAVER" describe cut.eif
expect_rc "describe of a cut EIF fails" 1
run_cmd "$ENCLAVER" --log-format json describe cut.eif
expect_rc "describe of a cut EIF fails (json)" 1
check_recs "eif json: file and offset fields" \
  'any(r["level"] == "error" and r.get("file") == "cut.eif" and isinstance(r.get("offset"), int) and ("offset %d" % r["offset"]) in r["msg"] for r in R)'
run_cmd "$ENCLAVER" --log-format json describe missing.eif
check_recs "eif json: a missing file is named too" \
  'any(r["level"] == "error" and r.get("file") == "missing.eif" for r in R)'

done_testing
