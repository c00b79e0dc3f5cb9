#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The release image `enclaver build` writes (docs/image.md): a bottom layer with the static
# launcher /usr/local/bin/enclaver-run, a top layer with /enclave/application.eif and
# /enclave/enclaver.yaml, the launcher as the entrypoint; reproducible; read the same by
# skopeo; and the launcher in it starts from the image's own files (run in a chroot of the
# unpacked image, and by podman as `docker run` would, where there is no Nitro device,
# so it must get as far as the device).
# The boot of an EIF through this launcher is in tests/boot/boot.sh.
. "$top_srcdir/tests/lib.sh"
cd "$TEST_TMP" || exit 1
trap 'rm -rf "$TEST_TMP"' EXIT
release_image rel || { done_testing; exit 1; }

run_cmd unpack_image rel/rel-image root
expect_rc "the release image unpacks" 0
expect_in "its entrypoint is the launcher" "$OUT" 'entrypoint ["/usr/local/bin/enclaver-run"]'
expect_in "its bottom layer holds the launcher alone" "$OUT" \
  "layer usr usr/local usr/local/bin usr/local/bin/enclaver-run"
expect_in "its top layer holds the EIF and the manifest" "$OUT" \
  "layer enclave enclave/application.eif enclave/enclaver.yaml"
check "... in that order, two layers" test "$(printf '%s\n' "$OUT" | grep -c '^layer')" = 2
check "the launcher in the image is this build's enclaver-run" cmp root/usr/local/bin/enclaver-run \
  "$top_builddir/runtime/enclaver-run"
check "the EIF in the image is the one the build wrote" cmp root/enclave/application.eif rel/rel.eif
STATIC=1
if readelf -d "$top_builddir/runtime/enclaver-run" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
  STATIC=0
  ok "the launcher: sanitizer build, dynamically linked by design (the normal build checks it is static)"
else
  check "the launcher is static: no interpreter" sh -c '! readelf -l root/usr/local/bin/enclaver-run | grep -q INTERP'
  check "... and no NEEDED entries" sh -c '! readelf -d root/usr/local/bin/enclaver-run | grep -q NEEDED'
fi
run_cmd root/usr/local/bin/enclaver-run --help
expect_rc "enclaver-run --help: exit 0" 0
expect_in "... names its default EIF" "$OUT" "/enclave/application.eif"
run_cmd root/usr/local/bin/enclaver-run --pull always
expect_rc "enclaver-run --pull: usage error" 2
expect_in "... saying nothing is pulled" "$ERR" "nothing is pulled"

# The launcher from the image's own files: with no argument it takes /enclave/.
if [ "$STATIC" = 0 ]; then
  ok "# SKIP enclaver-run in a chroot of the image: this (sanitizer) build links it dynamically"
elif [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
  run_cmd chroot root /usr/local/bin/enclaver-run
  expect_rc "enclaver-run in the unpacked image, no device: exit 1" 1
  expect_in "... it got as far as the device, and says what to do" "$ERR" "/dev/nitro_enclaves does not exist"
  run_cmd chroot root /usr/local/bin/enclaver-run --publish 8080:9999
  expect_rc "a port the image's manifest has no ingress for: exit 1" 1
  expect_in "... it read /enclave/enclaver.yaml" "$ERR" "9999"
  printf '{"Measurements": {"PCR0": "%s"}}\n' "$(printf 'ab%.0s' $(seq 48))" >root/other-pcrs.json
  run_cmd chroot root /usr/local/bin/enclaver-run --verify-pcrs /other-pcrs.json
  expect_rc "other PCRs than the image's EIF: exit 1" 1
  expect_in "... refused before the device, naming PCR0" "$ERR" "PCR0 is"
  rm root/enclave/application.eif
  run_cmd chroot root /usr/local/bin/enclaver-run
  expect_rc "an image without its EIF: exit 1" 1
  expect_in "... naming the missing file" "$ERR" "/enclave/application.eif: no EIF here"
else
  ok "# SKIP enclaver-run in a chroot of the image needs root"
fi

# As `docker run IMAGE ARGS...`: a real container runtime (podman, crun) runs the image
# by its config: the entrypoint is the launcher, the arguments after the image are its
# options.  podman's state is the test's (storage, temporaries, and through a private
# mount namespace /var/lib and /var/tmp); on a hybrid cgroup host crun wants a cgroup2
# /sys/fs/cgroup, mounted in that namespace only (the container gets no cgroup:
# --cgroups disabled).  Limits no higher than a container may set here.
podman_run () {
  tap_argc podman_run 1 - "$@"
  CONTAINERS_CONF=$TEST_TMP/podman/containers.conf CONTAINERS_STORAGE_CONF=$TEST_TMP/podman/storage.conf \
    TMPDIR=$TEST_TMP/podman/tmp timeout 300 unshare -m --propagation private sh -c '
    mount --bind "$1/ns/var-lib" /var/lib && mount --bind "$1/ns/var-tmp" /var/tmp || exit 125
    if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 125; fi
    shift; exec podman "$@"' podman_run "$TEST_TMP" "$@"
}
if [ "$STATIC" = 0 ]; then
  ok "# SKIP podman run of the image: this (sanitizer) build links enclaver-run dynamically"
elif [ "$(id -u)" -ne 0 ] || ! command -v podman >/dev/null || ! unshare -m true 2>/dev/null; then
  ok "# SKIP podman run of the image: needs root, podman and unshare -m"
else
  P=$TEST_TMP/podman
  mkdir -p "$P/tmp" "$TEST_TMP/ns/var-lib" "$TEST_TMP/ns/var-tmp"
  printf '[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "%s/netconf"\n[engine]\ntmp_dir = "%s/tmp"\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\nstatic_dir = "%s/root/libpod"\nimage_copy_tmp_dir = "%s/tmp"\nvolume_path = "%s/root/volumes"\n' \
    "$P" "$P" "$P" "$P" "$P" >"$P/containers.conf"
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' "$P" "$P" >"$P/storage.conf"
  RUN="run --rm --cgroups disabled --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
  run_cmd podman_run pull -q oci:rel/rel-image
  expect_rc "podman pull of the release image" 0
  IMG=$(printf '%s\n' "$OUT" | tail -n 1)
  run_cmd podman_run $RUN "$IMG" --help
  expect_rc "podman run IMAGE --help: exit 0" 0
  expect_in "... the entrypoint is the launcher, and gets the arguments after the image" "$OUT" \
    "Usage: enclaver-run [OPTIONS] [EIF]"
  run_cmd podman_run $RUN "$IMG"
  expect_rc "podman run IMAGE without a device: exit 1" 1
  expect_in "... it got as far as the device, and says what to do" "$ERR" "/dev/nitro_enclaves does not exist"
  run_cmd podman_run $RUN "$IMG" --publish 8080:9999
  expect_rc "podman run IMAGE --publish to a port the manifest has no ingress for: exit 1" 1
  expect_in "... it read the image's /enclave/enclaver.yaml" "$ERR" "9999 is not an ingress port"
fi

# Reproducible: the same inputs give the same image digest.
digest_of () { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$1"; }
d1=$(digest_of rel/rel-image)
cp -r rel/rel-image first
run_cmd "$ENCLAVER" -q build -f rel/enclaver.yaml
expect_rc "rebuild: exit 0" 0
check "two builds give the same image digest" test "$d1" = "$(digest_of rel/rel-image)"
check "... and the same bytes" diff -r first rel/rel-image

# skopeo reads the two layers and the entrypoint as we wrote them.
if command -v skopeo >/dev/null; then
  run_cmd skopeo inspect --raw oci:rel/rel-image
  expect_rc "skopeo inspect --raw" 0
  check "... two layers" python3 -c 'import json,sys; sys.exit(len(json.loads(sys.argv[1])["layers"]) != 2)' "$OUT"
  run_cmd skopeo inspect --config oci:rel/rel-image
  expect_in "... the entrypoint" "$OUT" "/usr/local/bin/enclaver-run"
else
  ok "# SKIP skopeo not installed"
fi

# docker-archive: Docker's manifest.json lists both layers, bottom first.
sed 's|^kernel:|output:\n  image:\n    format: docker-archive\nkernel:|' rel/enclaver.yaml >rel/docker.yaml
run_cmd "$ENCLAVER" -q build -f rel/docker.yaml
expect_rc "build a docker-archive release image" 0
check "... its manifest.json has the launcher layer, then the enclave layer" python3 - rel/rel-image.tar <<'PYEOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
m = json.load(t.extractfile("manifest.json"))[0]
names = [tarfile.open(fileobj=t.extractfile(l)).getnames() for l in m["Layers"]]
sys.exit(0 if len(names) == 2 and names[0][-1] == "usr/local/bin/enclaver-run"
         and "enclave/application.eif" in names[1] else "layers: %r" % names)
PYEOF

# --label: OCI labels from the command line, in the config and the manifest's annotations.
run_cmd "$ENCLAVER" -q build -f rel/enclaver.yaml --label org.opencontainers.image.source=https://git.example/app \
  --label org.opencontainers.image.revision=0123abc --label org.opencontainers.image.version=1.2.3
expect_rc "build with --label: exit 0" 0
check "... the labels are in the config and the manifest annotations" python3 - rel/rel-image <<'PYEOF'
import json, os, sys
d = sys.argv[1]
def blob(x): return json.load(open(os.path.join(d, "blobs", "sha256", x.split(":")[1])))
m = blob(json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"])
want = {"org.opencontainers.image.source": "https://git.example/app",
        "org.opencontainers.image.revision": "0123abc", "org.opencontainers.image.version": "1.2.3"}
for a in (m["annotations"], blob(m["config"]["digest"])["config"]["Labels"]):
    for k, v in want.items():
        assert a.get(k) == v, (k, a)
    assert "dev.enclaver.pcr0" in a and "org.opencontainers.image.created" in a, a
PYEOF
run_cmd "$ENCLAVER" -q build -f rel/enclaver.yaml --label dev.enclaver.pcr0=forged
expect_rc "--label of a dev.enclaver.* key: usage error" 2
expect_in "... saying they are the build's" "$ERR" "dev.enclaver.* labels are the build's own"
run_cmd "$ENCLAVER" -q build -f rel/enclaver.yaml --label novalue
expect_rc "--label without =: usage error" 2

# launcher: none: no entrypoint, one layer.
sed 's|^kernel:|pipeline:\n  - fetch\n  - flatten\n  - inject\n  - measure\n  - emit-eif\n  - stage: emit-image\n    options:\n      launcher: none\nkernel:|' \
  rel/enclaver.yaml >rel/none.yaml
run_cmd "$ENCLAVER" -q build -f rel/none.yaml
expect_rc "build with launcher: none" 0
run_cmd unpack_image rel/rel-image root-none
expect_in "... no entrypoint" "$OUT" "entrypoint null"
check "... one layer" test "$(printf '%s\n' "$OUT" | grep -c '^layer')" = 1
done_testing
