#!/bin/sh
# nitro-cli's spellings, as its users' scripts write them: describe-eif --eif-path, and
# build-enclave --docker-uri/--output-file mapped onto `enclaver build --eif-only`.
. "$top_srcdir/tests/lib.sh"
KDIR=${ENCLAVER_DEFAULT_KERNEL:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/enclaver/kernel/default}
[ -f "$KDIR/bzImage" ] || skip_all "no default kernel in $KDIR (run scripts/fetch-kernel.sh)"
make -C "$top_builddir" example >/dev/null 2>&1 || { not_ok "make example"; done_testing; exit 1; }
IMG="$top_builddir/examples/hello/app-image"
CERT="$top_srcdir/golden/eif/sign-cert.pem" KEY="$top_srcdir/golden/eif/sign-key.pem"
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS

run_cmd "$ENCLAVER" describe-eif --eif-path "$top_srcdir/golden/eif/vector1.eif"
expect_rc "describe-eif --eif-path" 0
d1=$OUT
run_cmd "$ENCLAVER" describe "$top_srcdir/golden/eif/vector1.eif"
[ "$d1" = "$OUT" ] && ok "describe-eif prints what describe prints" || not_ok "describe-eif prints what describe prints"
run_cmd "$ENCLAVER" describe-eif
expect_rc "describe-eif without --eif-path: usage error" 2

# The same EIF as `enclaver build --eif-only` over the equivalent manifest.
mkdir -p sub
( cd sub && "$ENCLAVER" -q build-enclave --docker-uri "oci:$IMG" --output-file app.eif >../be.json 2>../be.err ); RC=$?
ERR=$(cat be.err)
expect_rc "build-enclave --docker-uri --output-file" 0
[ -f sub/app.eif ] && ok "the EIF is written where --output-file says (relative to the caller)" ||
  not_ok "the EIF is written where --output-file says (relative to the caller)"
expect_in "measurements printed as nitro-cli prints them" "$(cat be.json)" '"Measurements"'
# The manifest build-enclave builds over (docs/nitro-cli.md).
cat >app.yaml <<EOF
version: v1
name: "app"
target: "app"
sources:
  app: "oci:$IMG"
EOF
run_cmd "$ENCLAVER" -q build -f app.yaml --eif-only ref.eif
expect_rc "reference build" 0
if cmp -s sub/app.eif ref.eif; then ok "build-enclave's EIF is byte-identical to enclaver build --eif-only's"
else not_ok "build-enclave's EIF is byte-identical to enclaver build --eif-only's"; fi
ls /tmp/enclaver-build-enclave-* >/dev/null 2>&1 && not_ok "no temporary manifest left" || ok "no temporary manifest left"

run_cmd "$ENCLAVER" -q build-enclave --docker-uri "oci:$IMG" --output-file signed.eif \
  --signing-certificate "$CERT" --private-key "$KEY"
expect_rc "build-enclave with a signing certificate" 0
pcr8=$("$ENCLAVER" pcr --signing-certificate "$CERT" | sed -n 's/.*"PCR8": *"\([0-9a-f]*\)".*/\1/p')
expect_in "the signed EIF's PCR8 is the certificate's" "$OUT" "$pcr8"
run_cmd "$ENCLAVER" build-enclave --docker-uri "oci:$IMG" --output-file x.eif --signing-certificate "$CERT"
expect_rc "a certificate without a key: usage error" 2
run_cmd "$ENCLAVER" build-enclave --docker-dir . --output-file x.eif
expect_rc "--docker-dir is refused: usage error" 2
expect_in "--docker-dir says what to do instead" "$ERR" "build the image first"
[ -f x.eif ] && not_ok "refused builds write nothing" || ok "refused builds write nothing"

done_testing
