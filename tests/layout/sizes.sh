#!/bin/sh
# No source file of the library, the tool, the Lua binding, the runtime or the stages is
# over 1,200 lines, unless docs/architecture.md names it (with its reason) in its
# section "Files over 1,200 lines".  Long files are where unrelated code settles.
. "$top_srcdir/tests/lib.sh"
LIMIT=1200
doc="$top_srcdir/docs/architecture.md"
[ -f "$doc" ] || { not_ok "docs/architecture.md exists"; done_testing; exit 1; }
# The paths named in backquotes in that section.
allowed=$(sed -n '/^## Files over 1,200 lines/,/^## /p' "$doc" | grep -o '`[^`]*\.[ch]`' | tr -d '`')
n=0 over=0
for f in $(cd "$top_srcdir" && find common core cli lua runtime stages -name '*.[ch]' | LC_ALL=C sort); do
  n=$((n + 1))
  lines=$(wc -l <"$top_srcdir/$f")
  [ "$lines" -le "$LIMIT" ] && continue
  case " $(echo $allowed) " in
    *" $f "*) diag "$f: $lines lines (allowed by docs/architecture.md)" ;;
    *) not_ok "$f: $lines lines, over $LIMIT and not explained in docs/architecture.md"; over=$((over + 1)) ;;
  esac
done
[ "$n" -gt 50 ] && ok "$n source files looked at" || not_ok "source files found ($n)"
[ "$over" -eq 0 ] && ok "no source file over $LIMIT lines without a reason"
done_testing
