#!/bin/sh
# The runtime programs link the common/ helpers statically and nothing of libenclaver's
# dependencies (libarchive, curl, Lua, libyaml): checked on the real binaries.  The init
# links no OpenSSL either; the supervisor does (the attestation API checks public keys,
# TLS ingress and the KMS proxy need it), statically like everything else it has.  So
# does the release image's launcher enclaver-run.  The same for the other architecture's
# runtime when the build made it (runtime/ARCH/, docs/cross-arch.md), which is static
# even in a sanitizer build.
. "$top_srcdir/tests/lib.sh"
command -v nm >/dev/null || skip_all "nm missing"
command -v readelf >/dev/null || skip_all "readelf missing"
check_runtime () {
RT=$1 tag=${2-}
for prog in enclaver-init enclaver-supervisor; do
  bin="$RT/$prog"
  syms=$(nm "$bin" 2>/dev/null)
  [ -n "$syms" ] || { not_ok "$tag$prog: has a symbol table"; continue; }
  if readelf -d "$bin" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
    ok "$tag$prog: sanitizer build, dynamically linked by design"
  elif readelf -l "$bin" | grep -q INTERP; then
    not_ok "$tag$prog: statically linked"
  else
    ok "$tag$prog: statically linked"
  fi
  for s in xmalloc enclaver_write_all logline_vtext strbuf_init_fixed; do
    printf '%s\n' "$syms" | grep -q " [Tt] $s\$" && ok "$tag$prog: has common/'s $s" || not_ok "$tag$prog: has $s"
  done
  forbidden='archive_|curl_|lua_|luaL_|yaml_|enclaver_make_error|rt_xmalloc|rt_write_all'
  what="libarchive, curl, Lua, libyaml, libenclaver, old rt_ copies"
  if [ "$prog" = enclaver-init ]; then
    forbidden="$forbidden|EVP_|SSL_"
    what="$what, OpenSSL"
  fi
  bad=$(printf '%s\n' "$syms" | grep -E " [TtUu] ($forbidden)" | head -3)
  [ -z "$bad" ] && ok "$tag$prog: no $what" \
    || { not_ok "$tag$prog: pulls in $bad"; }
done
# enclaver-run, the release image's entrypoint: static, with the EIF reader and the
# manifest parser (libyaml) but none of the image code.
bin="$RT/enclaver-run"
if readelf -d "$bin" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
  ok "${tag}enclaver-run: sanitizer build, dynamically linked by design"
  bad=$(readelf -d "$bin" | grep -E 'NEEDED.*(libarchive|libcurl|liblua)' | head -3)
  [ -z "$bad" ] && ok "${tag}enclaver-run: needs no libarchive, curl or Lua" || not_ok "${tag}enclaver-run: needs $bad"
  return
elif readelf -l "$bin" | grep -q INTERP; then
  not_ok "${tag}enclaver-run: statically linked"
else
  ok "${tag}enclaver-run: statically linked"
fi
syms=$(nm "$bin" 2>/dev/null)
for s in enclaver_eif_read enclaver_manifest_load_ex host_run yaml_parser_parse; do
  printf '%s\n' "$syms" | grep -q " [Tt] $s\$" && ok "${tag}enclaver-run: has $s" || not_ok "${tag}enclaver-run: has $s"
done
bad=$(printf '%s\n' "$syms" | grep -E " [TtUu] (archive_|curl_|lua_|luaL_|enclaver_image_source_resolve)" | head -3)
[ -z "$bad" ] && ok "${tag}enclaver-run: no libarchive, curl, Lua or image code" || not_ok "${tag}enclaver-run: pulls in $bad"
}

check_runtime "$top_builddir/runtime"
for arch in x86_64 aarch64; do
  [ -d "$top_builddir/runtime/$arch" ] || continue
  check_runtime "$top_builddir/runtime/$arch" "$arch "
done
done_testing
