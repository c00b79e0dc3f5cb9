#!/bin/sh
# enclaver tests: the EIF commands through the real CLI
# (eif build, describe, verify, sign, pcr): outputs, exit codes, help texts.
. "$top_srcdir/tests/lib.sh"

G=$top_srcdir/golden/eif
T=$TEST_TMP
V1_PCR0=923b424cbee778652c0c7d4908d2b4d5fe2710914d303f402abeebf31dff99fa2f0d7b829bae1f218f4b77808d0c6746
V1_PCR1=4a571fcf5e3084f8f022fdf8dbf3dbb37868e6e94c2b19ff26aaace87e168125a1297b6dffa7b7facf120d0519614c10
V1_PCR2=ce323f9e39c5b83dee1599b8f4ea4a81cf3e7fa0d3cde76dc5c4cb3365b0ce3c11c299bfa36081c87ed991f138a87aee
V2_PCR8=977e3a9a03b181f4f84e4b52f508165154ab87f25ac75e1ea7fb9dff853c440b60e0af659782f523aeb27c8ff706e93c
ZERO=000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000

# The golden certificate is valid from 2026-11-26: on a machine whose clock is earlier,
# images signed with it are described with --ignore-cert-time.
IGN=
if command -v openssl >/dev/null 2>&1; then
  nb=$(openssl x509 -in "$G/sign-cert.pem" -noout -startdate | cut -d= -f2)
  nbs=$(date -u -d "$nb" +%s 2>/dev/null || echo 0)
  if [ "$(date -u +%s)" -le "$nbs" ]; then
    IGN=--ignore-cert-time
    diag "clock is before the golden certificate's NotBefore: using $IGN"
  fi
fi

# value of "KEY": "..." in pretty JSON output
json_str () { printf '%s\n' "$1" | sed -n "s/^ *\"$2\": \"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }

build_v1 () { # build_v1 OUT [extra args]
  out=$1; shift
  "$ENCLAVER" eif build --kernel "$G/kernel.bin" --cmdline "$(cat "$G/cmdline.txt")" \
    --ramdisk "$G/ramdisk0.cpio" --ramdisk "$G/ramdisk1.cpio" --output "$out" \
    --name vector1 --version 1.0 --build-time 2020-01-01T00:00:00+00:00 \
    --build-tool eif_build --build-tool-version 0.3.1 --img-os OS --img-kernel kernel "$@"
}

# --- eif build ---
run_cmd build_v1 "$T/v1.eif"
expect_rc "eif build vector1 exits 0" 0
check "eif build output is byte-identical to the reference vector1.eif" cmp -s "$T/v1.eif" "$G/vector1.eif"
expect_in "build prints Measurements" "$OUT" '"Measurements": {'
expect_in "build prints HashAlgorithm" "$OUT" '"HashAlgorithm": "Sha384 { ... }"'
check "build PCR0" test "$(json_str "$OUT" PCR0)" = "$V1_PCR0"
check "build PCR1" test "$(json_str "$OUT" PCR1)" = "$V1_PCR1"
check "build PCR2" test "$(json_str "$OUT" PCR2)" = "$V1_PCR2"
check "unsigned build prints no PCR8" test -z "$(json_str "$OUT" PCR8)"
printf '%s\n' "$OUT" >"$T/v1.json"

printf '%s\n' "$(cat "$G/cmdline.txt")" >"$T/cmdline-nl.txt"
run_cmd "$ENCLAVER" eif build --kernel "$G/kernel.bin" --cmdline-file "$T/cmdline-nl.txt" \
  --ramdisk "$G/ramdisk0.cpio" --ramdisk "$G/ramdisk1.cpio" --output "$T/v1b.eif"
expect_rc "build with --cmdline-file (trailing newline trimmed)" 0
check "--cmdline-file gives the same PCR0" test "$(json_str "$OUT" PCR0)" = "$V1_PCR0"
run_cmd "$ENCLAVER" describe "$T/v1b.eif"
expect_in "default ImageName is the kernel file name" "$OUT" '"ImageName": "kernel.bin"'
expect_in "default BuildTool is enclaver" "$OUT" '"BuildTool": "enclaver"'

run_cmd env SOURCE_DATE_EPOCH=86400 "$ENCLAVER" eif build --kernel "$G/kernel.bin" --cmdline x \
  --ramdisk "$G/ramdisk0.cpio" --output "$T/sde.eif"
run_cmd "$ENCLAVER" describe "$T/sde.eif"
expect_in "SOURCE_DATE_EPOCH sets BuildTime" "$OUT" '"BuildTime": "1970-01-02T00:00:00+00:00"'
check "one ramdisk: PCR2 is the empty-data constant" \
  test "$(json_str "$OUT" PCR2)" = 21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a

printf '{"zeta":1,"alpha":{"x":"y"}}' >"$T/custom.json"
run_cmd build_v1 "$T/arm.eif" --arch aarch64 --metadata "$T/custom.json"
expect_rc "build --arch aarch64 --metadata" 0
check "aarch64 keeps PCR0" test "$(json_str "$OUT" PCR0)" = "$V1_PCR0"
run_cmd "$ENCLAVER" describe --sections "$T/arm.eif"
expect_rc "describe the aarch64 image" 0
expect_in "describe --sections shows the aarch64 arch" "$OUT" '"Arch": "aarch64"'
expect_in "describe --sections shows flags 1" "$OUT" '"Flags": 1'
expect_in "custom metadata keys are merged into Metadata" "$OUT" '"zeta": 1'

head -c 5000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
run_cmd build_v1 "$T/huge.eif" --metadata "$T/huge.json"
expect_rc "--metadata larger than 4096 bytes fails" 1
check "failed build leaves no output" test ! -e "$T/huge.eif"
run_cmd build_v1 "$T/missing.eif" --ramdisk "$T/no-such.cpio"
expect_rc "missing ramdisk fails with exit 1" 1
expect_in "error names the missing file" "$ERR" "no-such.cpio"
check "no partial EIF or temporary file left" sh -c "! ls -a '$T' | grep -q missing"

run_cmd "$ENCLAVER" eif build --cmdline x --ramdisk "$G/ramdisk0.cpio" --output "$T/x.eif"
expect_rc "eif build without --kernel is a usage error" 2
run_cmd "$ENCLAVER" eif build --kernel "$G/kernel.bin" --cmdline x --output "$T/x.eif"
expect_rc "eif build without --ramdisk is a usage error" 2
run_cmd build_v1 "$T/x.eif" --arch sparc
expect_rc "bad --arch is a usage error" 2
run_cmd build_v1 "$T/x.eif" --private-key "$G/sign-key.pem"
expect_rc "--private-key without certificate is a usage error" 2
run_cmd "$ENCLAVER" eif biuld
expect_rc "unknown eif command is a usage error" 2
expect_in "unknown eif command suggests a fix" "$ERR" "did you mean 'build'"

# --- help texts ---
for c in "eif build" describe verify sign pcr eif; do
  # shellcheck disable=SC2086
  run_cmd "$ENCLAVER" $c --help
  expect_rc "enclaver $c --help exits 0" 0
  expect_in "enclaver $c --help has a usage line" "$OUT" "Usage: enclaver"
  expect_in "enclaver $c --help documents exit status" "$OUT" "Exit status"
done

# --- describe ---
run_cmd "$ENCLAVER" describe "$G/vector1.eif"
expect_rc "describe vector1 exits 0" 0
expect_in "describe EifVersion" "$OUT" '"EifVersion": 4'
expect_in "describe CheckCRC" "$OUT" '"CheckCRC": true'
expect_in "describe IsSigned false" "$OUT" '"IsSigned": false'
expect_in "describe ImageName" "$OUT" '"ImageName": "vector1"'
expect_in "describe BuildTime" "$OUT" '"BuildTime": "2020-01-01T00:00:00+00:00"'
check "describe PCR1" test "$(json_str "$OUT" PCR1)" = "$V1_PCR1"
run_cmd "$ENCLAVER" describe "$G/vector1.eif" --sections
expect_in "describe --sections lists the cmdline offset" "$OUT" '"Offset": 1049136'
expect_in "describe --sections shows the CRC" "$OUT" '"CRC32": "0x87569f89"'
run_cmd "$ENCLAVER" describe
expect_rc "describe without a file is a usage error" 2
run_cmd "$ENCLAVER" describe "$T/nope.eif"
expect_rc "describe of a missing file exits 1" 1

cp "$G/vector1.eif" "$T/bad-crc.eif"
printf 'X' | dd of="$T/bad-crc.eif" bs=1 seek=2000 conv=notrunc 2>/dev/null
run_cmd "$ENCLAVER" describe "$T/bad-crc.eif"
expect_rc "describe of a corrupted image exits 1" 1
expect_in "describe still prints CheckCRC false" "$OUT" '"CheckCRC": false'
expect_in "describe reports the CRC mismatch" "$ERR" "CRC mismatch"
head -c 1000 "$G/vector1.eif" >"$T/trunc.eif"
run_cmd "$ENCLAVER" describe "$T/trunc.eif"
expect_rc "describe of a truncated image exits 1" 1
expect_in "truncation error names an offset" "$ERR" "offset"

# --- verify ---
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcrs "$T/v1.json"
expect_rc "verify against the build output" 0
expect_in "verify says Verified" "$OUT" '"Verified": true'
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcr0 "$V1_PCR0" --pcr2 "$V1_PCR2"
expect_rc "verify --pcr0 --pcr2" 0
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcr1 "$ZERO"
expect_rc "verify with a wrong PCR1 exits 1" 1
expect_in "mismatch report shows the expected value" "$ERR" "expected $ZERO"
expect_in "mismatch report shows the actual value" "$ERR" "actual $V1_PCR1"
expect_in "verify JSON says Match false" "$OUT" '"Match": false'
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcr8 "$V2_PCR8"
expect_rc "verify --pcr8 on an unsigned image exits 1" 1
run_cmd "$ENCLAVER" verify "$T/bad-crc.eif" --pcr0 "$V1_PCR0"
expect_rc "verify of a corrupted image exits 1" 1
run_cmd "$ENCLAVER" verify "$G/vector1.eif"
expect_rc "verify without expected values is a usage error" 2
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcr0 abc
expect_rc "verify with malformed hex is a usage error" 2
printf '{"PCR0": "%s"}' "$V1_PCR0" >"$T/flat.json"
run_cmd "$ENCLAVER" verify "$G/vector1.eif" --pcrs "$T/flat.json"
expect_rc "verify accepts a flat PCR object" 0

# --- sign ---
run_cmd "$ENCLAVER" sign "$G/vector1.eif" --signing-certificate "$G/sign-cert.pem" \
  --private-key "$G/sign-key.pem" --output "$T/signed.eif"
expect_rc "sign vector1" 0
check "sign keeps PCR0" test "$(json_str "$OUT" PCR0)" = "$V1_PCR0"
check "sign prints PCR8" test "$(json_str "$OUT" PCR8)" = "$V2_PCR8"
run_cmd "$ENCLAVER" describe $IGN "$T/signed.eif"
expect_rc "describe the signed image" 0
expect_in "IsSigned true" "$OUT" '"IsSigned": true'
expect_in "SignatureCheck true" "$OUT" '"SignatureCheck": true'
expect_in "SigningCertificate issuer" "$OUT" '"commonName": "ref-eif-signer"'
expect_in "SigningCertificate algorithm" "$OUT" '"Algorithm": "ecdsa-with-SHA384"'
check "describe PCR8" test "$(json_str "$OUT" PCR8)" = "$V2_PCR8"
printf '%s\n' "$OUT" >"$T/signed.json"
run_cmd "$ENCLAVER" verify $IGN "$T/signed.eif" --pcrs "$T/signed.json"
expect_rc "verify the signed image against describe's output (incl. PCR8)" 0
cp "$T/signed.eif" "$T/inplace.eif"
run_cmd "$ENCLAVER" sign "$T/inplace.eif" --signing-certificate "$G/sign-cert.pem" --private-key "$G/sign-key.pem"
expect_rc "re-sign in place" 0
run_cmd "$ENCLAVER" verify $IGN "$T/inplace.eif" --pcr0 "$V1_PCR0" --pcr8 "$V2_PCR8"
expect_rc "re-signed image verifies" 0
run_cmd build_v1 "$T/built-signed.eif" --signing-certificate "$G/sign-cert.pem" --private-key "$G/sign-key.pem"
expect_rc "eif build with signing" 0
check "eif build signed prints PCR8" test "$(json_str "$OUT" PCR8)" = "$V2_PCR8"
run_cmd "$ENCLAVER" describe $IGN "$T/built-signed.eif"
expect_in "signed build verifies" "$OUT" '"SignatureCheck": true'
run_cmd "$ENCLAVER" sign "$T/bad-crc.eif" --signing-certificate "$G/sign-cert.pem" --private-key "$G/sign-key.pem" \
  --output "$T/never.eif"
expect_rc "signing a corrupted image fails" 1
check "no output for a failed sign" test ! -e "$T/never.eif"
run_cmd "$ENCLAVER" sign "$G/vector1.eif" --private-key "$G/sign-key.pem"
expect_rc "sign without certificate is a usage error" 2

# tamper with the signed image's kernel: PCR0 no longer matches the signature
cp "$T/signed.eif" "$T/tampered.eif"
printf 'Z' | dd of="$T/tampered.eif" bs=1 seek=3000 conv=notrunc 2>/dev/null
run_cmd "$ENCLAVER" describe "$T/tampered.eif"
expect_rc "tampered signed image exits 1" 1

if command -v openssl >/dev/null 2>&1; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
  openssl req -new -x509 -key "$T/rsa.key" -subj /CN=rsa -days 2 -out "$T/rsa.pem" 2>/dev/null
  run_cmd "$ENCLAVER" sign "$G/vector1.eif" --signing-certificate "$T/rsa.pem" --private-key "$T/rsa.key" \
    --output "$T/rsa.eif"
  expect_rc "RSA key rejected" 1
  expect_in "RSA rejection says why" "$ERR" "P-384"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/p256.key" 2>/dev/null
  openssl req -new -x509 -key "$T/p256.key" -subj /CN=p256 -days 2 -out "$T/p256.pem" 2>/dev/null
  run_cmd "$ENCLAVER" sign "$G/vector1.eif" --signing-certificate "$T/p256.pem" --private-key "$T/p256.key" \
    --output "$T/p256.eif"
  expect_rc "P-256 key rejected" 1
  expect_in "P-256 rejection says why" "$ERR" "P-384"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/p384.key" 2>/dev/null
  openssl req -new -x509 -key "$T/p384.key" -subj /CN=fresh -days 2 -out "$T/p384.pem" 2>/dev/null
  run_cmd "$ENCLAVER" sign "$G/vector1.eif" --signing-certificate "$T/p384.pem" --private-key "$T/p384.key" \
    --output "$T/p384.eif"
  expect_rc "fresh P-384 key accepted" 0
  P8=$(json_str "$OUT" PCR8)
  run_cmd "$ENCLAVER" pcr --signing-certificate "$T/p384.pem"
  check "pcr --signing-certificate equals the signed image's PCR8" test "$(json_str "$OUT" PCR8)" = "$P8"
  # independent PCR: SHA384(48 zero bytes || SHA384(file))
  want=$({ head -c 48 /dev/zero; openssl dgst -sha384 -binary "$G/kernel.bin"; } | openssl dgst -sha384 -r | cut -d' ' -f1)
  run_cmd "$ENCLAVER" pcr --input "$G/kernel.bin"
  expect_rc "pcr --input" 0
  check "pcr --input equals an independent openssl computation" test "$(json_str "$OUT" PCR)" = "$want"
  run_cmd "$ENCLAVER" sign "$G/vector1.eif" --signing-certificate "$G/sign-cert.pem" --private-key "$T/p384.key" \
    --output "$T/mismatch.eif"
  expect_rc "key not matching the certificate rejected" 1
else
  diag "openssl not found: skipping key-type checks"
fi

# --- pcr ---
run_cmd "$ENCLAVER" pcr --signing-certificate "$G/sign-cert.pem"
expect_rc "pcr --signing-certificate" 0
check "pcr --signing-certificate gives the reference PCR8" test "$(json_str "$OUT" PCR8)" = "$V2_PCR8"
: >"$T/empty"
run_cmd "$ENCLAVER" pcr --input "$T/empty"
check "pcr of an empty file is the empty-data constant" \
  test "$(json_str "$OUT" PCR)" = 21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a
run_cmd "$ENCLAVER" pcr --input "$T/empty" --signing-certificate "$G/sign-cert.pem"
expect_rc "pcr with both options is a usage error" 2
run_cmd "$ENCLAVER" pcr
expect_rc "pcr without options is a usage error" 2
run_cmd "$ENCLAVER" pcr --signing-certificate "$G/kernel.bin"
expect_rc "pcr of a non-certificate exits 1" 1

done_testing
