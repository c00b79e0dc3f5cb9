#!/bin/sh
# `enclaver plugins` lists the shipped plugins with their options (issue 18): -o json
# parsed by python3 holds prune, pcr-pin and provenance with every option's name, type,
# default and description as the plugins' pages document them; --json is the same
# output; -o text shows the same options; a bad format is a usage error (2).  sbom,
# when its plugin is built, is listed the same way without a change here.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"

run_cmd "$ENCLAVER" plugins -o json
expect_rc "plugins -o json" 0
printf '%s\n' "$OUT" >"$TEST_TMP/list.json"
run_cmd "$ENCLAVER" plugins --json
[ "$OUT" = "$(cat "$TEST_TMP/list.json")" ] && ok "--json is -o json" || not_ok "--json differs from -o json"
run_cmd "$ENCLAVER" plugins --output=json
[ "$OUT" = "$(cat "$TEST_TMP/list.json")" ] && ok "--output=json is -o json" || not_ok "--output=json differs"

# The options each plugin documents (docs/plugins/*.md): name type default.
cat >"$TEST_TMP/check.py" <<'PY'
import json, os, sys
stages = {s["name"]: s for s in json.load(open(sys.argv[1]))}
want = {
    "prune": [("paths", "string", "usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* "
               "usr/share/i18n/locales/* var/cache/* var/lib/apt/lists/* __pycache__"),
              ("add", "string", None), ("keep", "string", "usr/share/doc/*/copyright"),
              ("report", "string", None), ("dry_run", "bool", "false")],
    "pcr-pin": [("file", "string", "pcrs.json"), ("update", "bool", "false"), ("pcrs", "string", "0,1,2,8")],
    "provenance": [("output", "string", None), ("sign", "string", "auto"), ("builder_id", "string", None)],
}
def report(good, name):
    print(("ok - " if good else "not ok - ") + name)
for name, opts in want.items():
    s = stages.get(name)
    report(s is not None, "%s is listed" % name)
    if s is None:
        continue
    report(os.path.isfile(s["path"]) and os.path.basename(s["path"]) == name + ".so", "%s: path is its .so" % name)
    report(s["abi"] == "1.1" and s["description"] != "", "%s: ABI and description" % name)
    got = [(o["name"], o["type"], o["default"]) for o in s["options"]]
    report(got == opts, "%s: options (name, type, default) %r" % (name, got))
    report(all(o["description"] and o["required"] is False for o in s["options"]),
           "%s: every option described, none required" % name)
# sbom: listed when the plugin is built, with options described.
if os.path.exists(os.path.join(sys.argv[2], "plugins", "sbom.la")):
    s = stages.get("sbom")
    report(s is not None and len(s["options"]) > 0 and all(o["description"] for o in s["options"]),
           "sbom is listed with its options")
else:
    print("ok - sbom not built in this tree (nothing to list)")
# The built-in stages are listed too.
for b in ("fetch", "flatten", "inject", "measure", "emit-eif", "emit-image"):
    report(b in stages, "built-in %s is listed" % b)
PY
python3 "$TEST_TMP/check.py" "$TEST_TMP/list.json" "$top_builddir" >"$TEST_TMP/points" 2>&1 \
  || not_ok "the listing's checks failed to run: $(cat "$TEST_TMP/points")"
while IFS= read -r line; do
  case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
  esac
done <"$TEST_TMP/points"
[ "$(grep -c '^ok - ' "$TEST_TMP/points")" -ge 21 ] && ok "all listing checks ran" || not_ok "listing checks: $(cat "$TEST_TMP/points")"

# The text listing shows the same options.
run_cmd "$ENCLAVER" plugins -o text
expect_rc "plugins -o text" 0
expect_in "text: provenance's sign option" "$OUT" "option sign (string, default auto): "
expect_in "text: pcr-pin's update option" "$OUT" "option update (bool, default false): "
expect_in "text: prune's report option" "$OUT" "option report (string): "
run_cmd "$ENCLAVER" plugins
[ "$OUT" = "$(cd "$TEST_TMP" && "$ENCLAVER" plugins -o text 2>/dev/null)" ] && ok "text is the default" || not_ok "default differs from -o text"
run_cmd "$ENCLAVER" plugins -o yaml
expect_rc "-o yaml is a usage error" 2
expect_in "... saying what it wants" "$ERR" "enclaver plugins: --output wants text or json, got 'yaml'"
done_testing
