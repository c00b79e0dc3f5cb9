#!/bin/sh
# The arrows between files point one way: a check of the source layout.
#
# Nodes are the source files of core/, cli/, lua/, runtime/, stages/ and examples/;
# a .c and the .h of the same name beside it are one node, and a public header
# include/enclaver/X.h is one node with the file that defines the functions it
# declares (every one of them; a header whose functions several files define, or
# that declares none, is a node of its own).  Arrows:
#   include  A includes B (`#include "..."` resolved like the compiler's -I path,
#            `<enclaver/...>` from include/); only the includes of .c files and of
#            the headers in their nodes count: a header that is a node of its own
#            (core/internal.h, lua/lua-internal.h) is a leaf, since what its
#            includers use of what it gathers shows up as calls;
#   call     A's object file uses a global symbol B's object file defines (nm on
#            every .o of the build outside tests/).
# Fails on any cycle (printed as a path of files, with the includes and symbols
# behind each arrow), on a file of core/ that includes or uses anything of lua/,
# cli/ or runtime/, and on getopt in core/.
#
# By hand: top_srcdir=SRC top_builddir=BUILD sh tests/layout/cycles.sh
# (CYCLES_VERBOSE=1 also prints which node each public header joined, and every arrow).
. "$top_srcdir/tests/lib.sh"

T=$TEST_TMP
srcdir=$(cd "$top_srcdir" && pwd)
builddir=$(cd "$top_builddir" && pwd)

# ---- the files, and their includes: "I from to <raw>"
(cd "$srcdir" && find core cli lua runtime stages examples include -name '*.[ch]' | LC_ALL=C sort) >"$T/files"
: >"$T/graph"
while read -r f; do
  echo "F $f" >>"$T/graph"
  d=${f%/*}
  sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$srcdir/$f" |
    while read -r raw; do
      name=${raw#?}
      name=${name%?}
      to=
      case $raw in
        \<enclaver/*) to=include/$name ;;
        \<*) ;;
        *)
          for dir in "$d" include core . runtime; do
            if [ -f "$srcdir/$dir/$name" ]; then
              to=$dir/$name
              break
            fi
          done ;;
      esac
      case $to in
        ./*) to=${to#./} ;;
      esac
      [ -n "$to" ] && echo "I $f $to $raw" >>"$T/graph"
    done
done <"$T/files"

# ---- the functions each public header declares: "H header name"
for h in "$srcdir"/include/enclaver/*.h; do
  awk -v h="include/enclaver/${h##*/}" '
    { text = text $0 "\n" }
    END {
      while ((i = index (text, "/*")) > 0)
        {
          rest = substr (text, i + 2)
          j = index (rest, "*/")
          text = substr (text, 1, i - 1) " " (j ? substr (rest, j + 2) : "")
        }
      while (match (text, /enclaver_[a-z0-9_]+[ \t\n]*\(/))
        {
          name = substr (text, RSTART, RLENGTH)
          sub (/[ \t\n]*\($/, "", name)
          print "H", h, name
          text = substr (text, RSTART + RLENGTH)
        }
    }' "$h" >>"$T/graph"
done

# ---- the symbols each object defines and uses: "D src sym" / "U src sym"
n_obj=0
find "$builddir" -name '*.o' ! -path "$builddir/tests/*" ! -path "$builddir/_san/*" | LC_ALL=C sort >"$T/objects"
while read -r o; do
  rel=${o#"$builddir"/}
  d=${rel%/*}
  d=${d%/.libs}
  [ "$d" = "$rel" ] && d=.
  b=${rel##*/}
  b=${b%.o}
  src=
  # Automake names an object TARGET-BASE.o: try BASE.c with ever fewer prefixes.
  while :; do
    if [ -f "$srcdir/$d/$b.c" ]; then
      src=$d/$b.c
      break
    fi
    case $b in
      *-*) b=${b#*-} ;;
      *) break ;;
    esac
  done
  case $src in
    core/* | cli/* | lua/* | runtime/* | stages/* | examples/*) ;;
    *) continue ;;
  esac
  n_obj=$((n_obj + 1))
  nm -P "$o" | awk -v src="$src" '
    $2 == "U" || $2 == "w" { print "U", src, $1; next }
    $2 ~ /^[A-TV-Z]$/ { print "D", src, $1 }' >>"$T/graph"
done <"$T/objects"

awk -v n_obj="$n_obj" -v out="$T" -v verbose="${CYCLES_VERBOSE:-0}" '
function in_area (p, area) { return substr (p, 1, length (area) + 1) == area "/" }
function forbidden (p) { return in_area (p, "lua") || in_area (p, "cli") || in_area (p, "runtime") }
function add_edge (a, b, why, k) {
  if (a == b)
    return
  k = a SUBSEP b
  if (!(k in E))
    {
      E[k] = 1
      nsucc[a]++
      succ[a, nsucc[a]] = b
      n_edges++
    }
  if (!((k, why) in why_seen))
    {
      why_seen[k, why] = 1
      if (nwhy[k] < 4)
        why_list[k] = why_list[k] (nwhy[k]++ ? ", " : "") why
      else
        more[k]++
    }
}
# Tarjan: strongly connected components.
function visit (v,   i, w) {
  idx[v] = low[v] = ++counter
  stack[++sp] = v
  onstack[v] = 1
  for (i = 1; i <= nsucc[v]; i++)
    {
      w = succ[v, i]
      if (!(w in idx))
        {
          visit (w)
          if (low[w] < low[v])
            low[v] = low[w]
        }
      else if (onstack[w] && idx[w] < low[v])
        low[v] = idx[w]
    }
  if (low[v] == idx[v])
    {
      ncomp++
      do
        {
          w = stack[sp--]
          onstack[w] = 0
          comp[w] = ncomp
          csize[ncomp]++
        }
      while (w != v)
    }
}
# Shortest path from s to t inside component c (BFS); sets path[1..plen].
function bfs (s, t, c,   q, qh, qt, v, i, w, seen, prev, n, tmp) {
  split ("", seen)
  split ("", prev)
  qh = qt = 1
  q[1] = s
  seen[s] = 1
  while (qh <= qt)
    {
      v = q[qh++]
      if (v == t)
        break
      for (i = 1; i <= nsucc[v]; i++)
        {
          w = succ[v, i]
          if (comp[w] == c && !(w in seen))
            {
              seen[w] = 1
              prev[w] = v
              q[++qt] = w
            }
        }
    }
  n = 0
  for (v = t; v != s; v = prev[v])
    tmp[++n] = v
  tmp[++n] = s
  plen = n
  for (i = 1; i <= n; i++)
    path[i] = tmp[n + 1 - i]
}
$1 == "F" { file[$2] = 1; nfiles++; next }
$1 == "I" { inc_from[++ninc] = $2; inc_to[ninc] = $3; inc_raw[ninc] = $4; next }
$1 == "H" { hdecl[$2, $3] = 1; hnames[$2] = hnames[$2] " " $3; next }
$1 == "D" && !(($3, $2) in defined) { defined[$3, $2] = 1; defs[$3] = defs[$3] (defs[$3] == "" ? "" : " ") $2; next }
$1 == "U" { use_src[++nuse] = $2; use_sym[nuse] = $3; next }
END {
  # Nodes: a .c with its .h; a public header with the one file defining its functions.
  for (f in file)
    node[f] = f
  for (f in file)
    if (f ~ /\.h$/)
      {
        c = f
        sub (/\.h$/, ".c", c)
        if (c in file)
          node[f] = c
      }
  for (f in file)
    if (f ~ /^include\/enclaver\//)
      {
        n = split (hnames[f], names, " ")
        impl = ""
        nimpl = 0
        for (i = 1; i <= n; i++)
          {
            if (!(names[i] in defs))
              continue
            m = split (defs[names[i]], where, " ")
            for (j = 1; j <= m; j++)
              if (!((f, where[j]) in seen_impl))
                {
                  seen_impl[f, where[j]] = 1
                  impl = where[j]
                  nimpl++
                }
          }
        if (nimpl == 1)
          node[f] = impl
        if (verbose)
          printf "# %s: %s\n", f, nimpl == 1 ? "part of " impl : sprintf ("a node of its own (%d files define its functions)", nimpl)
      }
  # Include arrows: from .c files and the headers that are part of a .c node.
  for (i = 1; i <= ninc; i++)
    {
      a = inc_from[i]
      b = inc_to[i]
      if (!(b in node))
        continue
      if (node[a] == a && a ~ /\.h$/)
        ; # a header of its own: a leaf
      else
        add_edge(node[a], node[b], "includes " inc_raw[i])
      if ((in_area (a, "core") || (a ~ /^include\// && in_area (node[a], "core"))) \
          && (forbidden (b) || forbidden (node[b])))
        bad[++nbad] = a " includes " inc_raw[i] (node[b] != b ? " (" node[b] ")" : "")
    }
  # Call arrows: a use of a symbol defined by another file.
  for (i = 1; i <= nuse; i++)
    {
      s = use_sym[i]
      if (!(s in defs))
        continue
      m = split (defs[s], where, " ")
      for (j = 1; j <= m; j++)
        {
          a = node[use_src[i]]
          b = node[where[j]]
          add_edge(a, b, "uses " s)
          if (in_area (use_src[i], "core") && forbidden (where[j]) && !((use_src[i], s) in bad_use))
            {
              bad_use[use_src[i], s] = 1
              bad[++nbad] = use_src[i] " uses " s " (" where[j] ")"
            }
        }
    }

  if (verbose)
    for (k in E)
      {
        split (k, ab, SUBSEP)
        printf "# arrow %s -> %s: %s\n", ab[1], ab[2], why_list[k]
      }
  t = failed = 0
  if (nfiles > 0 && n_obj > 0 && n_edges > 0)
    printf "ok %d - %d files, %d objects, %d arrows between files\n", ++t, nfiles, n_obj, n_edges
  else
    {
      failed++
      printf "not ok %d - the graph is empty (%d files, %d objects): is the build done?\n", ++t, nfiles, n_obj
    }

  # Sorted node list, so that the output is the same on every run.
  nn = 0
  for (v in node)
    if (node[v] == v)
      nodes[++nn] = v
  for (i = 2; i <= nn; i++)
    for (j = i; j > 1 && nodes[j - 1] > nodes[j]; j--)
      {
        tmpv = nodes[j]; nodes[j] = nodes[j - 1]; nodes[j - 1] = tmpv
      }
  for (i = 1; i <= nn; i++)
    if (!(nodes[i] in idx))
      visit(nodes[i])
  # Every arrow inside a component lies on a cycle: list shortest cycles until
  # each such arrow is on one printed cycle.
  ncyc = 0
  for (i = 1; i <= nn; i++)
    {
      a = nodes[i]
      if (csize[comp[a]] < 2)
        continue
      for (j = 1; j <= nsucc[a]; j++)
        {
          b = succ[a, j]
          if (comp[b] != comp[a] || ((a, b) in covered))
            continue
          bfs(b, a, comp[a])
          line = a
          for (k = 1; k <= plen; k++)
            line = line " -> " path[k]
          cyc[++ncyc] = line
          prevn = a
          for (k = 1; k <= plen; k++)
            {
              covered[prevn, path[k]] = 1
              cycwhy[ncyc, k] = "  " prevn " -> " path[k] ": " why_list[prevn, path[k]] \
                (more[prevn, path[k]] ? sprintf (" and %d more", more[prevn, path[k]]) : "")
              prevn = path[k]
            }
          cyclen[ncyc] = plen
        }
    }
  ncomp_cyc = 0
  for (c = 1; c <= ncomp; c++)
    if (csize[c] > 1)
      ncomp_cyc++
  if (ncyc == 0)
    printf "ok %d - no include or call cycle between files\n", ++t
  else
    {
      failed++
      printf "not ok %d - %d cycle(s) between files, in %d group(s) of files\n", ++t, ncyc, ncomp_cyc
      for (i = 1; i <= ncyc; i++)
        {
          printf "# cycle %d: %s\n", i, cyc[i]
          for (k = 1; k <= cyclen[i]; k++)
            printf "#%s\n", cycwhy[i, k]
        }
    }
  if (nbad == 0)
    printf "ok %d - no file in core/ includes or uses lua/, cli/ or runtime/\n", ++t
  else
    {
      failed++
      printf "not ok %d - core/ reaches into lua/, cli/ or runtime/\n", ++t
      for (i = 1; i <= nbad; i++)
        printf "# %s\n", bad[i]
    }
  print t, failed >(out "/count")
}' "$T/graph"
read -r TAP_N TAP_FAILED <"$T/count"

# Sources only: an in-tree build puts dependency files naming getopt.h under core/.
if getopt_files=$(cd "$srcdir" && grep -rl --include='*.[ch]' --include='*.mk' --include='*.sym' getopt core/); then
  not_ok "no file in core/ uses getopt"
  diag $getopt_files
else
  ok "no file in core/ uses getopt"
fi
done_testing
