# contained CMD...: run CMD in a private mount namespace in which /var/lib and /var/tmp
# are empty directories of the test.  containers/image (skopeo, podman) keeps its
# blob-info cache in /var/lib/containers/cache and big temporaries in /var/tmp whatever
# --root or CONTAINERS_STORAGE_CONF say; inside, they land in $TEST_TMP and the host is
# left as it was.  Sourced after tests/lib.sh.
CONTAINED_UNSHARE=""
for u in "unshare -m --propagation private" "unshare -r -m --propagation private"; do
  if $u true 2>/dev/null; then CONTAINED_UNSHARE=$u; break; fi
done
contained () {
  [ -n "$CONTAINED_UNSHARE" ] || { echo "contained: unshare -m is not permitted here" >&2; return 126; }
  mkdir -p "$TEST_TMP/ns/var-lib" "$TEST_TMP/ns/var-tmp"
  $CONTAINED_UNSHARE sh -c 'mount --bind "$1" /var/lib && mount --bind "$2" /var/tmp && shift 2 && exec "$@"' \
    contained "$TEST_TMP/ns/var-lib" "$TEST_TMP/ns/var-tmp" "$@"
}
