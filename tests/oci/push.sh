#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# Pushing (`enclaver image copy`, core/oci/push.c + copy.c) to Debian's docker-registry in
# three set-ups: plain HTTP on loopback (behind tests/oci/faultproxy.py, which logs every
# request and cuts an upload on demand), TLS with the CA in a certs.d directory (and a
# registry asking for a client certificate), and htpasswd Basic auth over TLS.  skopeo, a real client, reads back what we pushed.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
command -v skopeo >/dev/null 2>&1 || skip_all "skopeo not installed"
export ENCLAVER_RETRY_DELAY_MS=10
no_ambient_credentials
export XDG_CACHE_HOME=$TEST_TMP/cache
mkdir -p "$XDG_RUNTIME_DIR"
cd "$TEST_TMP" || exit 1
SK="skopeo --override-os linux"

# The source: a real release image (its EIF layer is 7 MB: several chunks at 1 MiB).
release_image rel || { done_testing; exit 1; }
SRC=oci:rel/rel-image
SD=$(jq -r '.manifests[0].digest' rel/rel-image/index.json)
export ENCLAVER_PUSH_CHUNK_BYTES=1048576

# blob_digests IMAGE...: the config and layer digests skopeo reports, one line
blob_digests () {
  tap_argc blob_digests 1 - "$@"
  local raw
  raw=$($SK inspect --raw "$@") || return 1
  printf '%s' "$raw" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")'
}
SBLOBS=$(blob_digests "$SRC")

# ---- 1. plain HTTP, through the logging proxy
start_registry plain "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
start_py proxy faultproxy.py "http://$R" || { not_ok "start fault proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
PLOG=$TEST_TMP/proxy.port.log

run_cmd "$ENCLAVER" image copy --digestfile rel.digest "$SRC" "docker://$P/app/rel:1"
expect_rc "push a release image from an OCI layout: exit 0" 0
expect_eq "... prints the manifest digest, the source's" "$OUT" "$SD"
expect_eq "... --digestfile holds it" "$(cat rel.digest)" "$SD"
run_cmd $SK inspect --tls-verify=false --raw "docker://$R/app/rel:1"
expect_rc "skopeo inspect of the pushed image" 0
expect_eq "... the registry serves the manifest of that digest" "sha256:$(printf '%s' "$OUT" | sha256sum | cut -d' ' -f1)" "$SD"
expect_eq "... with every blob of the source" "$(blob_digests --tls-verify=false "docker://$R/app/rel:1")" "$SBLOBS"
run_cmd $SK copy -q --src-tls-verify=false "docker://$R/app/rel:1" dir:back
expect_rc "skopeo copy of the pushed image (it verifies every blob)" 0
expect_eq "... gives the same blobs" "$(blob_digests dir:back)" "$SBLOBS"
check "the large blob went in chunks" grep -q '^PATCH .*/blobs/uploads/' "$PLOG"

: >"$PLOG"
run_cmd "$ENCLAVER" image copy -o json "$SRC" "$P/app/rel:1"
expect_rc "push the same image again: exit 0" 0
expect_eq "... every blob was there" "$(printf '%s' "$OUT" | jq -c .Blobs)" '{"Present":3,"Mounted":0,"Uploaded":0}'
expect_eq "... and the registry got no upload at all" "$(grep -cE '^(POST|PATCH) |^PUT .*/blobs/' "$PLOG")" 0
check "... only HEADs for the blobs" grep -q '^HEAD .*/blobs/sha256:' "$PLOG"
check "... over kept-alive connections: fewer connections than requests" \
  test "$(grep -c '^connection$' "$PLOG")" -lt "$(grep -c ' -> ' "$PLOG")"

: >"$PLOG"
run_cmd "$ENCLAVER" image copy -o json "$SRC" "$P/app/second:1"
expect_rc "push to a second repository of the registry: exit 0" 0
expect_eq "... its blobs come by mount" "$(printf '%s' "$OUT" | jq -c .Blobs)" '{"Present":0,"Mounted":3,"Uploaded":0}'
check "... mount requests naming the first repository" grep -q '^POST /v2/app/second/blobs/uploads/?mount=sha256:.*&from=app/rel' "$PLOG"
expect_eq "... and no byte uploaded" "$(grep -c '^PATCH ' "$PLOG")" 0
expect_eq "skopeo reads the mounted image" "$(blob_digests --tls-verify=false "docker://$R/app/second:1")" "$SBLOBS"

# A tag is resolved with HEAD: a manifest the cache has is not fetched again.
"$ENCLAVER" -q image inspect --cache-dir "$TEST_TMP/c-head" "$P/app/rel:1" >/dev/null || not_ok "first inspect"
: >"$PLOG"
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-head" "$P/app/rel:1"
expect_rc "inspect a tag a second time: exit 0" 0
check "... resolved with HEAD" grep -q '^HEAD /v2/app/rel/manifests/1 ' "$PLOG"
expect_eq "... and no manifest GET" "$(grep -c '^GET /v2/app/rel/manifests/' "$PLOG")" 0

# A push cut in the middle of the large blob resumes where the registry's session stands
# (its Range); one whose answer is lost after the registry took the chunk starts a new
# session (docker-registry refuses the old one then).
printf '[{"match": "/blobs/uploads/", "method": "PATCH", "action": "cut-upload", "after": 2}]\n' \
  >"$TEST_TMP/proxy.port.faults"
: >"$PLOG"
run_cmd "$ENCLAVER" image copy -o json --cache-dir "$TEST_TMP/fresh-cache" "$SRC" "$P/resume/rel:1"
expect_rc "a push cut mid-blob: exit 0" 0
check "... the proxy cut the third chunk" grep -q '^PATCH .* -> cut-upload' "$PLOG"
check "... the session's state was asked" grep -q '^GET /v2/resume/rel/blobs/uploads/' "$PLOG"
expect_eq "... one resume, reported" "$(printf '%s' "$OUT" | jq .Resumes)" 1
check "... from where the session stood, not from the start" sh -c "! printf '%s' \"\$1\" | grep -q 'starting the upload again'" _ "$ERR"
expect_eq "... and the registry has the image intact" "$(blob_digests --tls-verify=false "docker://$R/resume/rel:1")" "$SBLOBS"
run_cmd $SK copy -q --src-tls-verify=false "docker://$R/resume/rel:1" dir:back-resumed
expect_rc "... skopeo copies it, verifying every blob" 0
printf '[{"match": "/blobs/uploads/", "method": "PATCH", "action": "cut-reply", "after": 3}]\n' \
  >"$TEST_TMP/proxy.port.faults"
: >"$PLOG"
run_cmd "$ENCLAVER" image copy -o json --cache-dir "$TEST_TMP/fresh-cache2" "$SRC" "$P/resume2/rel:1"
expect_rc "a push whose chunk's answer is lost: exit 0" 0
check "... the registry took that chunk" grep -q '^PATCH .* -> 202 cut-reply' "$PLOG"
expect_in "... the refused session is started again" "$ERR" "starting the upload again"
expect_eq "... and the image is intact" "$(blob_digests --tls-verify=false "docker://$R/resume2/rel:1")" "$SBLOBS"
rm -f "$TEST_TMP/proxy.port.faults"

# --format docker: Docker schema 2 media types, the same config and layers.
run_cmd "$ENCLAVER" image copy --format docker "$SRC" "$R/app/docker:1"
expect_rc "--format docker: exit 0" 0
run_cmd $SK inspect --tls-verify=false --raw "docker://$R/app/docker:1"
expect_eq "... a Docker schema 2 manifest" "$(printf '%s' "$OUT" | jq -r .mediaType)" \
  application/vnd.docker.distribution.manifest.v2+json
expect_eq "... of the same blobs" "$(printf '%s' "$OUT" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")')" "$SBLOBS"
# By digest: the destination's digest must be the manifest's.
run_cmd "$ENCLAVER" image copy "$SRC" "$R/app/bydigest@$SD"
expect_rc "push by digest: exit 0" 0
run_cmd "$ENCLAVER" image copy "$SRC" "$R/app/bydigest@sha256:$(printf '0%.0s' $(seq 64))"
expect_rc "push to another digest: exit 1" 1
expect_in "... saying which" "$ERR" "but the manifest to push is $SD"

# Other sources: an OCI archive and a docker archive (made by skopeo), and back from
# the registry to an OCI layout.
tar -C rel/rel-image -cf rel.tar .
run_cmd "$ENCLAVER" image copy "oci-archive:rel.tar" "$R/app/fromarchive:1"
expect_rc "push from oci-archive: exit 0" 0
expect_eq "... the same manifest digest" "$OUT" "$SD"
$SK copy -q "$SRC" docker-archive:rel-docker.tar:rel:1 || not_ok "skopeo writes a docker archive"
run_cmd "$ENCLAVER" image copy "docker-archive:rel-docker.tar" "$R/app/fromdocker:1"
expect_rc "push from docker-archive: exit 0" 0
expect_eq "... skopeo sees the layers of the archive" \
  "$($SK inspect --tls-verify=false "docker://$R/app/fromdocker:1" | jq -c .Layers)" \
  "$($SK inspect docker-archive:rel-docker.tar | jq -c .Layers)"
run_cmd "$ENCLAVER" image copy "$R/app/rel:1" oci:pulled:v1
expect_rc "registry to an OCI layout: exit 0" 0
expect_eq "... skopeo reads the layout: the same blobs" "$(blob_digests oci:pulled:v1)" "$SBLOBS"
run_cmd "$ENCLAVER" image copy "$SRC" dir:dir-dest
expect_rc "to a skopeo dir: (not a destination): exit 1" 1
expect_in "... saying what is supported" "$ERR" "copies go to a registry"
check "... nothing written" test ! -e dir-dest
run_cmd "$ENCLAVER" image copy "$SRC"
expect_rc "one argument: usage error" 2

# enclaver build --push: the release image goes to the manifest's target (built in a
# copy of the project, so the image the other cases push stays the same).
cp -r rel relb
sed "s|^target: .*|target: $R/built/rel:7|" relb/enclaver.yaml >relb/push.yaml
run_cmd "$ENCLAVER" build -f relb/push.yaml --push --digestfile built.digest -o json
expect_rc "build --push: exit 0" 0
BD=$(jq -r '.manifests[0].digest' relb/rel-image/index.json)
expect_eq "... the JSON result names the pushed digest, the layout's" "$(printf '%s' "$OUT" | jq -r .Push.Digest)" "$BD"
expect_eq "... --digestfile holds it" "$(cat built.digest)" "$BD"
expect_eq "... skopeo finds it at the target" \
  "sha256:$($SK inspect --tls-verify=false --raw "docker://$R/built/rel:7" | sha256sum | cut -d' ' -f1)" "$BD"
sed "s|^target: .*|target: $R/built/rel:8|; s|^kernel:|output:\n  push: true\nkernel:|" relb/enclaver.yaml >relb/push2.yaml
run_cmd "$ENCLAVER" -q build -f relb/push2.yaml
expect_rc "output.push: true: exit 0" 0
check "... pushed to the target" sh -c "$SK inspect --tls-verify=false --raw docker://$R/built/rel:8 >/dev/null"
sed "s|^kernel:|output:\n  image:\n    format: registry\n    destination: $R/built/other:9\nkernel:|" relb/enclaver.yaml >relb/push3.yaml
run_cmd "$ENCLAVER" -q build -f relb/push3.yaml
expect_rc "output.image.format: registry: exit 0" 0
check "... pushed to output.image.destination" sh -c "$SK inspect --tls-verify=false --raw docker://$R/built/other:9 >/dev/null"
sed "s|^kernel:|output:\n  push: yes-please\nkernel:|" relb/enclaver.yaml >relb/push4.yaml
run_cmd "$ENCLAVER" -q build -f relb/push4.yaml
expect_rc "output.push: not a boolean: exit 1" 1
expect_in "... naming the key" "$ERR" "output.push"
run_cmd "$ENCLAVER" build -f relb/enclaver.yaml --digestfile x.digest
expect_rc "--digestfile without a push: usage error" 2
stop_registry plain

# ---- 2. TLS, the CA in a certs.d directory; 3. htpasswd Basic auth over TLS
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=enclaver-push-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile san.ext 2>/dev/null
start_registry tls "$TEST_TMP/storage-tls" https "  tls:" "    certificate: $TEST_TMP/srv.crt" \
  "    key: $TEST_TMP/srv.key" || { not_ok "start TLS registry"; done_testing; exit 1; }
T=127.0.0.1:$REG_PORT
run_cmd "$ENCLAVER" image copy "$SRC" "$T/app/rel:1"
expect_rc "TLS registry, CA unknown: exit 1" 1
expect_in "... a TLS verification error naming the registry" "$ERR" "registry $T: TLS verification failed"
mkdir -p "certs.d/$T"
cp ca.crt "certs.d/$T/ca.crt"
run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" "$SRC" "$T/app/rel:1"
expect_rc "TLS registry, CA from --cert-dir DIR/HOST:PORT/ca.crt: exit 0" 0
expect_eq "... skopeo (trusting the same certs.d) reads the image" \
  "$($SK inspect --cert-dir "$TEST_TMP/certs.d/$T" --raw "docker://$T/app/rel:1" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")')" \
  "$SBLOBS"
mkdir -p "certs.d-bad/$T"
cp ca.crt "certs.d-bad/$T/client.cert"
run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d-bad" "$SRC" "$T/app/rel:2"
expect_rc "a client certificate without its key: exit 1" 1
expect_in "... naming the missing key" "$ERR" "client.key"
stop_registry tls

# A registry that asks for a client certificate (mutual TLS): the certs.d directory's
# client.cert and client.key (containers-certs.d(5)) are presented.
openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj /CN=enclaver-push-client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >cli.ext
openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2 -extfile cli.ext 2>/dev/null
REG_PROBE_ARGS="--cert $TEST_TMP/cli.crt --key $TEST_TMP/cli.key" start_registry mtls "$TEST_TMP/storage-mtls" https \
  "  tls:" "    certificate: $TEST_TMP/srv.crt" "    key: $TEST_TMP/srv.key" "    clientcas:" "      - $TEST_TMP/ca.crt" \
  || { not_ok "start mutual-TLS registry"; done_testing; exit 1; }
M=127.0.0.1:$REG_PORT
mkdir -p "certs.d/$M"
cp ca.crt "certs.d/$M/ca.crt"
run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" "$SRC" "$M/app/rel:1"
expect_rc "mutual-TLS registry, no client certificate: exit 1" 1
expect_in "... naming the registry and what it asks for" "$ERR" "registry $M: it asks for a client certificate"
expect_in "... and where to put it" "$ERR" "put client.cert and client.key in its certs.d directory"
# A certificate of another CA: refused by the registry.
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other 2>/dev/null
cp other.crt "certs.d/$M/client.cert"
cp other.key "certs.d/$M/client.key"
run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" "$SRC" "$M/app/rel:1"
expect_rc "... a client certificate the registry does not trust: exit 1" 1
expect_in "... naming the certificate" "$ERR" "registry $M: it refused the client certificate $TEST_TMP/certs.d/$M/client.cert"
cp cli.crt "certs.d/$M/client.cert"
cp cli.key "certs.d/$M/client.key"
run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" "$SRC" "$M/app/rel:1"
expect_rc "... with client.cert and client.key in certs.d: exit 0" 0
expect_eq "... skopeo (with the same certificate) reads the image" \
  "$($SK inspect --cert-dir "$TEST_TMP/certs.d/$M" --raw "docker://$M/app/rel:1" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")')" \
  "$SBLOBS"
stop_registry mtls

HASH=$($PY -W ignore -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' 2>/dev/null)
case $HASH in
  '$2'*)
    printf 'bob:%s\n' "$HASH" >htpasswd
    start_registry auth "$TEST_TMP/storage-auth" https "  tls:" "    certificate: $TEST_TMP/srv.crt" \
      "    key: $TEST_TMP/srv.key" "auth:" "  htpasswd:" "    realm: enclaver-test" "    path: $TEST_TMP/htpasswd" \
      || { not_ok "start auth registry"; done_testing; exit 1; }
    A=127.0.0.1:$REG_PORT
    mkdir -p "certs.d/$A"
    cp ca.crt "certs.d/$A/ca.crt"
    run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" "$SRC" "$A/app/rel:1"
    expect_rc "Basic auth registry, no credentials: exit 1" 1
    expect_in "... naming the registry and what is missing" "$ERR" "registry $A requires authentication"
    run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" --creds bob:wrong "$SRC" "$A/app/rel:1"
    expect_rc "a wrong password: exit 1" 1
    expect_in "... a clear error naming the registry" "$ERR" "registry $A: "
    expect_in "... and where the credentials came from" "$ERR" "--creds"
    run_cmd "$ENCLAVER" image copy --cert-dir "$TEST_TMP/certs.d" --creds bob:s3cret "$SRC" "$A/app/rel:1"
    expect_rc "--creds: exit 0" 0
    run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-auth" --cert-dir "$TEST_TMP/certs.d" "$A/app/rel:1"
    expect_rc "image pull from the Basic auth registry without credentials: exit 1" 1
    expect_in "... naming the registry" "$ERR" "registry $A requires authentication"
    run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-auth" --cert-dir "$TEST_TMP/certs.d" \
      --creds bob:s3cret "$A/app/rel:1"
    expect_rc "... image pull --creds: exit 0" 0
    expect_eq "... prints the pushed manifest's digest" "$OUT" "$SD"
    printf '{"auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf bob:s3cret | base64)" >auth.json
    run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/auth.json" "$ENCLAVER" image copy -o json --cert-dir "$TEST_TMP/certs.d" \
      "$SRC" "$A/app/other:1"
    expect_rc "credentials from REGISTRY_AUTH_FILE: exit 0" 0
    expect_eq "... blobs mounted from the first repository" "$(printf '%s' "$OUT" | jq .Blobs.Mounted)" 3
    expect_eq "skopeo with the same credentials reads it" \
      "$($SK inspect --authfile auth.json --cert-dir "$TEST_TMP/certs.d/$A" --raw "docker://$A/app/other:1" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")')" \
      "$SBLOBS"
    stop_registry auth ;;
  *) ok "# SKIP htpasswd set-up: no bcrypt (python3 crypt)" ;;
esac
done_testing
