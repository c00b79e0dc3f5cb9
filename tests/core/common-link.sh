#!/bin/sh
# The runtime programs link the common/ helpers statically and nothing of libenclaver's
# dependencies (libarchive, curl, Lua, libyaml): checked on the real binaries.  The init
# links no OpenSSL either; the supervisor does (the attestation API checks public keys,
# TLS ingress and the KMS proxy need it), statically like everything else it has.
. "$top_srcdir/tests/lib.sh"
command -v nm >/dev/null || skip_all "nm missing"
command -v readelf >/dev/null || skip_all "readelf missing"
RT="$top_builddir/runtime"
for prog in enclaver-init enclaver-supervisor; do
  bin="$RT/$prog"
  syms=$(nm "$bin" 2>/dev/null)
  [ -n "$syms" ] || { not_ok "$prog: has a symbol table"; continue; }
  if readelf -d "$bin" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    ok "$prog: sanitizer build, dynamically linked by design"
  elif readelf -l "$bin" | grep -q INTERP; then
    not_ok "$prog: statically linked"
  else
    ok "$prog: statically linked"
  fi
  for s in xmalloc enclaver_write_all logline_vtext strbuf_init_fixed; do
    printf '%s\n' "$syms" | grep -q " [Tt] $s\$" && ok "$prog: has common/'s $s" || not_ok "$prog: has $s"
  done
  forbidden='archive_|curl_|lua_|luaL_|yaml_|enclaver_make_error|rt_xmalloc|rt_write_all'
  what="libarchive, curl, Lua, libyaml, libenclaver, old rt_ copies"
  if [ "$prog" = enclaver-init ]; then
    forbidden="$forbidden|EVP_|SSL_"
    what="$what, OpenSSL"
  fi
  bad=$(printf '%s\n' "$syms" | grep -E " [TtUu] ($forbidden)" | head -3)
  [ -z "$bad" ] && ok "$prog: no $what" \
    || { not_ok "$prog: pulls in $bad"; }
done
done_testing
