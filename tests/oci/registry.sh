#!/bin/sh
# The registry client against a real registry: Debian's docker-registry on a free
# 127.0.0.1 port (plain http; token auth with tests/oci/tokenserver.py; TLS with a CA
# made here plus htpasswd Basic auth), and tests/oci/faultproxy.py in front of it for
# corrupted bytes, cut connections, 5xx/429 and wrong headers.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
command -v openssl >/dev/null 2>&1 || skip_all "openssl not found"
export ENCLAVER_RETRY_DELAY_MS=10
# No ambient credentials: every credential source is set explicitly below.
no_ambient_credentials

ARCH=$(host_arch)
L=$TEST_TMP/layout
S=$TEST_TMP/storage
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
MD=$(layout_ref_digest "$L" single)
XD=$(layout_ref_digest "$L" multi)
MAN=$(blob "$L" "$MD")

# ---- plain registry, anonymous pulls
start_registry plain "$S" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
for ref in single multi docker; do
  $MKIMAGE push "$L" $ref "http://$R" test/img $ref || not_ok "push $ref"
done
C=$TEST_TMP/cache
IMG="$ENCLAVER image --cache-dir $C --no-progress"

run_cmd $IMG inspect "$R/test/img:single"
expect_rc "anonymous inspect over http (loopback)" 0
printf '%s' "$OUT" > "$TEST_TMP/r.json"
expect_eq "registry digest = sha256sum of the pushed manifest" "$(jq -r .Digest "$TEST_TMP/r.json")" "$(sha_of "$MAN")"
expect_eq "registry layers = layout layers" "$(jq -c '[.Layers[].Digest]' "$TEST_TMP/r.json")" "$(jq -c '[.layers[].digest]' "$MAN")"
run_cmd $IMG pull --json "docker://$R/test/img:single"
expect_rc "pull docker://REF" 0
printf '%s' "$OUT" > "$TEST_TMP/p.json"
n=$(jq '.Layers | length' "$TEST_TMP/p.json")
i=0
while [ $i -lt "$n" ]; do
  expect_eq "pulled layer $i verifies with sha256sum" "$(sha_of "$(jq -r ".Layers[$i].Path" "$TEST_TMP/p.json")")" \
    "$(jq -r ".Layers[$i].Digest" "$TEST_TMP/p.json")"
  i=$((i + 1))
done
# progress: per-blob lines with size and rate on a terminal, one summary line otherwise
run_cmd "$ENCLAVER" image pull --cache-dir "$TEST_TMP/c-summary" "$R/test/img:single"
expect_in "not a terminal: one summary line" "$ERR" "enclaver: fetched "
case $ERR in *"/s"*) not_ok "no per-blob rate lines without a terminal";; *) ok "no per-blob rate lines without a terminal";; esac
if command -v script >/dev/null 2>&1; then
  script -qec "$ENCLAVER image pull --cache-dir $TEST_TMP/c-tty $R/test/img:single" /dev/null >"$TEST_TMP/tty.out" 2>&1
  tty_out=$(tr -d '\r' <"$TEST_TMP/tty.out")
  expect_in "terminal: a line per blob with its digest" "$tty_out" "sha256:"
  expect_in "terminal: bytes and rate per blob" "$tty_out" "B/s"
  expect_in "terminal: the summary too" "$tty_out" "enclaver: fetched "
fi
run_cmd $IMG inspect --platform linux/arm64/v8 "$R/test/img:multi"
expect_eq "index from the registry: arm64 selected" "$(printf '%s' "$OUT" | jq -r .Platform)" "linux/arm64"
expect_eq "index digest" "$(printf '%s' "$OUT" | jq -r .Index)" "$XD"
run_cmd $IMG inspect --platform linux/riscv64 "$R/test/img:multi"
expect_rc "registry index without the platform" 1
expect_in "lists what the index offers" "$ERR" "it offers: linux/amd64, linux/arm64/v8"
run_cmd $IMG inspect "$R/test/img:nosuchtag"
expect_rc "unknown tag" 1
expect_in "404 tag: clear error" "$ERR" "manifest unknown"
expect_in "404 tag: names the registry" "$ERR" "$R"
run_cmd $IMG inspect "$R/test/nosuchrepo:single"
expect_rc "unknown repository" 1
run_cmd $IMG pull --json "$R/test/img:docker"
expect_eq "same image via registry and oci layout" "$(printf '%s' "$OUT" | jq -r .Digest)" "$(layout_ref_digest "$L" docker)"

# digest-pinned reference: second pull needs no network at all
PIN="$R/test/img@$MD"
run_cmd $IMG pull "$PIN"
expect_rc "pull by digest" 0
run_cmd $IMG pull "$R/test/img:multi"
stop_registry plain
run_cmd $IMG pull "$PIN"
expect_rc "digest-pinned pull with the registry down (cache only)" 0
expect_eq "same digest from the cache" "$OUT" "$MD"
run_cmd $IMG pull --offline "$PIN"
expect_rc "--offline digest-pinned" 0
run_cmd $IMG pull --offline "$R/test/img:multi"
expect_rc "--offline tag resolved earlier" 0
run_cmd $IMG pull --offline "$R/test/img:docker"
expect_rc "--offline tag never pulled with layers" 0
run_cmd $IMG pull --offline "$R/test/img:nevertagged"
expect_rc "--offline unknown tag fails" 1
expect_in "--offline: explains" "$ERR" "--offline"
run_cmd $IMG pull --offline --cache-dir "$TEST_TMP/empty" "$PIN"
expect_rc "--offline with an empty cache fails" 1
expect_in "--offline: names the missing digest" "$ERR" "$MD"
run_cmd $IMG pull "$R/test/img:single"
expect_rc "tags are re-resolved: registry down means failure" 1
run_cmd $IMG pull --pull "$PIN"
expect_rc "--pull bypasses the cache (registry down: failure)" 1

# ---- fault injection through a proxy
start_registry plain2 "$S" http || not_ok "restart registry"
R=127.0.0.1:$REG_PORT
start_py proxy faultproxy.py "http://$R" || { not_ok "start fault proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
FAULTS=$TEST_TMP/proxy.port.faults
PLOG=$TEST_TMP/proxy.port.log
L2=$(jq -r '.layers[2].digest' "$MAN")   # the 10 KiB uncompressed layer
fault () { printf '%s' "$1" > "$FAULTS.tmp" && mv "$FAULTS.tmp" "$FAULTS"; : > "$PLOG"; }
cached () { test -e "$1/blobs/sha256/${2#sha256:}"; }

fault "[{\"match\": \"${L2#sha256:}\", \"action\": \"corrupt\"}]"
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-corrupt" "$P/test/img:single"
expect_rc "corrupted blob bytes fail the pull" 1
expect_in "digest mismatch named" "$ERR" "digest mismatch"
expect_in "the layer is named" "$ERR" "$L2"
run_cmd cached "$TEST_TMP/c-corrupt" "$L2"
expect_rc "corrupted blob not in the cache" 1
expect_eq "no partial files left" "$(ls -A "$TEST_TMP/c-corrupt/tmp" | wc -l)" "0"

fault "[{\"match\": \"${L2#sha256:}\", \"action\": \"cut\"}]"
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-cut" "$P/test/img:single"
expect_rc "connection cut mid-blob: resumed" 0
expect_in "the retry asked for the rest with Range" "$(cat "$PLOG")" "range=bytes=5120-"
expect_eq "resumed blob verifies" "$(sha_of "$TEST_TMP/c-cut/blobs/sha256/${L2#sha256:}")" "$L2"

fault "[{\"match\": \"${L2#sha256:}\", \"action\": \"cut\"}, {\"match\": \"${L2#sha256:}\", \"action\": \"ignore-range\"}]"
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-cut2" "$P/test/img:single"
expect_rc "cut, then a server ignoring Range: restarted and verified" 0
expect_eq "restarted blob verifies" "$(sha_of "$TEST_TMP/c-cut2/blobs/sha256/${L2#sha256:}")" "$L2"

fault '[{"match": "/manifests/single", "action": "503", "count": 2}, {"match": "/blobs/", "action": "500"}]'
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-5xx" "$P/test/img:single"
expect_rc "503 twice then success" 0
expect_eq "two 503s were served" "$(grep -c ' 503 503' "$PLOG")" "2"
fault '[{"match": "/manifests/single", "action": "429"}]'
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-429" "$P/test/img:single"
expect_rc "429 with Retry-After, then success" 0
fault '[{"match": "/manifests/single", "action": "503", "count": 50}]'
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-503" "$P/test/img:single"
expect_rc "persistent 503 gives up" 1
expect_in "says how often it tried" "$ERR" "after 5 attempts"
# (twice: the HEAD that resolves the tag, then the GET; a HEAD's digest is only used to
# find a manifest the cache has verified, so a wrong one there costs a GET)
fault '[{"match": "/manifests/single", "action": "bad-digest", "count": 2}]'
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-dig" "$P/test/img:single"
expect_rc "wrong Docker-Content-Digest refused" 1
expect_in "names the header" "$ERR" "Docker-Content-Digest"
fault "[{\"match\": \"/manifests/$MD\", \"action\": \"corrupt\"}]"
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-mcor" "$P/test/img@$MD"
expect_rc "manifest fetched by digest with wrong bytes refused" 1
expect_in "manifest digest mismatch" "$ERR" "digest mismatch"
fault '[]'
run_cmd "$ENCLAVER" image pull --no-progress --jobs 1 --cache-dir "$TEST_TMP/c-j1" "$P/test/img:single"
expect_rc "--jobs 1" 0

# ---- bearer tokens: docker-registry with token auth, tokens from tokenserver.py
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_TMP/tok.key" -out "$TEST_TMP/tok.crt" -days 2 \
  -subj /CN=enclaver-test-token-issuer 2>/dev/null || not_ok "token signing key"
start_py tok tokenserver.py "$TEST_TMP/tok.key" "$TEST_TMP/tok.crt" test-issuer test-registry \
  alice:wonderland || not_ok "start token server"
TP=$PY_PORT
start_registry tokreg "$S" http "auth:" "  token:" "    realm: http://127.0.0.1:$TP/token" \
  "    service: test-registry" "    issuer: test-issuer" "    rootcertbundle: $TEST_TMP/tok.crt" \
  || not_ok "start token-auth registry"
T=127.0.0.1:$REG_PORT
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-tok0" "$T/test/img:single"
expect_rc "token server refuses anonymous access" 1
expect_in "clear error naming the token server" "$ERR" "refused anonymous access"
mkdir -p "$TEST_TMP/dc"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$T" "$(printf alice:wonderland | base64)" > "$TEST_TMP/dc/config.json"
run_cmd env DOCKER_CONFIG="$TEST_TMP/dc" "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-tok1" \
  "$T/test/img:single"
expect_rc "bearer token flow with ~/.docker/config.json credentials" 0
expect_eq "token-auth pull digest" "$OUT" "$MD"
expect_in "token requested with the pull scope" "$(cat "$TEST_TMP/tok.port.log")" "scope=repository%3Atest%2Fimg%3Apull auth=yes"
printf '{"auths":{"http://%s/v1/":{"auth":"%s"}}}' "$T" "$(printf alice:wonderland | base64)" > "$TEST_TMP/auth.json"
run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/auth.json" "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-tok2" \
  "$T/test/img:multi"
expect_rc "REGISTRY_AUTH_FILE (key with scheme and path)" 0
printf '{"auths":{"%s":{"auth":"%s"}}}' "$T" "$(printf alice:wrong | base64)" > "$TEST_TMP/bad.json"
run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/bad.json" "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-tok3" \
  "$T/test/img:single"
expect_rc "wrong password refused" 1
expect_in "says where the credentials came from" "$ERR" "$TEST_TMP/bad.json"
# credential helper protocol (credsStore)
mkdir -p "$TEST_TMP/bin" "$TEST_TMP/dch"
cat > "$TEST_TMP/bin/docker-credential-enclavertest" <<HELPER
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r server
echo "\$server" >> "$TEST_TMP/helper.log"
if [ "\$server" = "$T" ]; then
  printf '{"ServerURL":"%s","Username":"alice","Secret":"wonderland"}' "\$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
HELPER
chmod +x "$TEST_TMP/bin/docker-credential-enclavertest"
printf '{"credsStore":"enclavertest","auths":{"%s":{}}}' "$T" > "$TEST_TMP/dch/config.json"
run_cmd env PATH="$TEST_TMP/bin:$PATH" DOCKER_CONFIG="$TEST_TMP/dch" "$ENCLAVER" image inspect \
  --cache-dir "$TEST_TMP/c-tok4" "$T/test/img:single"
expect_rc "credentials from a docker-credential helper" 0
expect_eq "helper asked for this registry" "$(cat "$TEST_TMP/helper.log")" "$T"
printf '{"credHelpers":{"%s":"missinghelper"}}' "$T" > "$TEST_TMP/dch/config.json"
run_cmd env DOCKER_CONFIG="$TEST_TMP/dch" "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-tok5" "$T/test/img:single"
expect_rc "missing credential helper is an error" 1
expect_in "names the helper" "$ERR" "docker-credential-missinghelper"
# Redirects (blob storage elsewhere): the Authorization header must not follow to another host.
start_py front faultproxy.py "http://$T" || not_ok "start front proxy"
FRONT=127.0.0.1:$PY_PORT
start_py store faultproxy.py "http://$R" || not_ok "start storage proxy"
STORE=127.0.0.1:$PY_PORT
printf '[{"match": "/blobs/", "action": "redirect:http://%s", "count": 100}]' "$STORE" > "$TEST_TMP/front.port.faults"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$FRONT" "$(printf alice:wonderland | base64)" > "$TEST_TMP/dc/config.json"
run_cmd env DOCKER_CONFIG="$TEST_TMP/dc" "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-redir" \
  "$FRONT/test/img:single"
expect_rc "blobs redirected to another host are fetched" 0
expect_in "the registry got the bearer token" "$(cat "$TEST_TMP/front.port.log")" "/manifests/single range=- auth=yes"
expect_in "blob requests were redirected" "$(cat "$TEST_TMP/front.port.log")" "307 redirect"
expect_in "the storage host served the blobs" "$(cat "$TEST_TMP/store.port.log")" "/blobs/"
expect_eq "no Authorization header reached the other host" "$(grep -c 'auth=yes' "$TEST_TMP/store.port.log")" "0"
stop_registry tokreg

# ---- TLS with a CA made here, and htpasswd Basic auth
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_TMP/ca.key" -out "$TEST_TMP/ca.crt" -days 2 \
  -subj /CN=enclaver-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$TEST_TMP/srv.key" -out "$TEST_TMP/srv.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$TEST_TMP/san.ext"
openssl x509 -req -in "$TEST_TMP/srv.csr" -CA "$TEST_TMP/ca.crt" -CAkey "$TEST_TMP/ca.key" -CAcreateserial \
  -out "$TEST_TMP/srv.crt" -days 2 -extfile "$TEST_TMP/san.ext" 2>/dev/null
HASH=$($PY -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' 2>/dev/null)
if [ -z "$HASH" ] && command -v htpasswd >/dev/null 2>&1; then
  HASH=$(htpasswd -nbB -C 4 bob s3cret | cut -d: -f2-)
fi
case $HASH in
  '$2'*)
    printf 'bob:%s\n' "$HASH" > "$TEST_TMP/htpasswd"
    start_registry tls "$S" https "  tls:" "    certificate: $TEST_TMP/srv.crt" "    key: $TEST_TMP/srv.key" \
      "auth:" "  htpasswd:" "    realm: enclaver-test" "    path: $TEST_TMP/htpasswd" || not_ok "start TLS registry"
    H=127.0.0.1:$REG_PORT
    run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c-tls0" "$H/test/img:single"
    expect_rc "unknown CA refused" 1
    expect_in "TLS verification error suggests --ca-cert" "$ERR" "--ca-cert"
    run_cmd "$ENCLAVER" image inspect --ca-cert "$TEST_TMP/ca.crt" --cache-dir "$TEST_TMP/c-tls1" "$H/test/img:single"
    expect_rc "Basic challenge without credentials" 1
    expect_in "401 names the registry and the missing credentials" "$ERR" "registry $H requires authentication (Basic) and no credentials were found"
    printf '{"auths":{"%s":{"auth":"%s"}}}' "$H" "$(printf bob:s3cret | base64)" > "$TEST_TMP/basic.json"
    run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/basic.json" "$ENCLAVER" image pull --no-progress \
      --ca-cert "$TEST_TMP/ca.crt" --cache-dir "$TEST_TMP/c-tls2" "$H/test/img:single"
    expect_rc "TLS + Basic auth pull" 0
    expect_eq "TLS + Basic digest" "$OUT" "$MD"
    run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/basic.json" SSL_CERT_FILE="$TEST_TMP/ca.crt" "$ENCLAVER" image inspect \
      --cache-dir "$TEST_TMP/c-tls3" "$H/test/img:multi"
    expect_rc "SSL_CERT_FILE honoured" 0
    printf '{"auths":{"%s":{"auth":"%s"}}}' "$H" "$(printf bob:nope | base64)" > "$TEST_TMP/basic-bad.json"
    run_cmd env REGISTRY_AUTH_FILE="$TEST_TMP/basic-bad.json" "$ENCLAVER" image inspect --ca-cert "$TEST_TMP/ca.crt" \
      --cache-dir "$TEST_TMP/c-tls4" "$H/test/img:single"
    expect_rc "wrong Basic password" 1
    expect_in "denied with the credentials from the file" "$ERR" "denied"
    stop_registry tls ;;
  *) diag "no bcrypt implementation (python3 crypt or htpasswd): TLS/Basic part skipped"
     ok "# SKIP TLS + Basic auth (no bcrypt)" ;;
esac

done_testing
