#!/usr/bin/env bash
# asylo-sign end to end: keygen, sign, show, verify, re-sign, and refusals
# (tampered image, bad key, bad numbers, no .asylo_sig section).
#   sign_tool_test.sh ASYLO_SIGN UNSIGNED_IMAGE NOT_AN_ENCLAVE
set -euo pipefail
sign=$1
unsigned_image=$2
not_an_enclave=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$sign" --help | grep -q "asylo-sign sign --key KEY.pem --product_id N --svn N" ||
    fail "--help does not show the sign usage"
if "$sign" 2>/dev/null; then fail "no arguments accepted"; fi
if "$sign" frobnicate 2>/dev/null; then fail "unknown command accepted"; fi

"$sign" keygen --out "$work/key.pem"
[ "$(stat -c %a "$work/key.pem")" = 600 ] || fail "keygen key is not mode 0600"
if "$sign" keygen --out "$work/key.pem" 2>/dev/null; then fail "keygen overwrote a key"; fi

cp "$unsigned_image" "$work/image.so"
"$sign" show "$work/image.so" | grep -q "signed:      no" || fail "unsigned image not shown as such"
if "$sign" verify "$work/image.so" 2>"$work/err"; then fail "unsigned image verified"; fi
grep -q "not signed" "$work/err" || fail "verify of unsigned does not say so: $(cat "$work/err")"
before=$("$sign" show "$work/image.so" | awk '/measurement/ {print $2}')

"$sign" sign --key "$work/key.pem" --product_id 42 --svn 3 --debug "$work/image.so"
"$sign" verify "$work/image.so" >/dev/null || fail "signed image does not verify"
"$sign" show "$work/image.so" >"$work/show"
grep -q "product id:  42" "$work/show" || fail "product id not shown: $(cat "$work/show")"
grep -q "svn:         3" "$work/show" || fail "svn not shown"
grep -q "debug:       yes" "$work/show" || fail "debug not shown"
after=$(awk '/measurement/ {print $2}' "$work/show")
[ "$before" = "$after" ] || fail "signing changed the measurement ($before -> $after)"
# The measurement is SHA-256 with the .asylo_sig bytes as zeros: check with
# other tools (readelf for the section, sha256sum for the hash).
read -r offset_hex size_hex < <(readelf -SW "$work/image.so" |
    awk '$2 == ".asylo_sig" {print $5, $6}')
offset=$((16#$offset_hex))
size=$((16#$size_hex))
[ "$size" = 512 ] || fail ".asylo_sig is $size bytes"
cp "$work/image.so" "$work/zeroed.so"
dd if=/dev/zero of="$work/zeroed.so" bs=1 seek="$offset" count=512 conv=notrunc status=none
[ "$(sha256sum <"$work/zeroed.so" | cut -d' ' -f1)" = "$after" ] ||
    fail "measurement is not SHA-256 of the image with .asylo_sig zeroed"
# The signer id is SHA-256 of the 65-byte uncompressed public key.
expected_signer=$(openssl pkey -in "$work/key.pem" -pubout -outform DER | tail -c 65 | sha256sum |
    cut -d' ' -f1)
grep -q "signer id:   $expected_signer" "$work/show" || fail "signer id is not SHA-256(pubkey)"

# Re-signing replaces the block.
"$sign" sign --key "$work/key.pem" --product_id 43 --svn 4 "$work/image.so"
"$sign" show "$work/image.so" | grep -q "product id:  43" || fail "re-sign did not replace"

# Tampering: a byte outside the block, and a byte of the signature.
cp "$work/image.so" "$work/tampered.so"
printf '\x99' | dd of="$work/tampered.so" bs=1 seek=$((offset / 2)) conv=notrunc status=none
if "$sign" verify "$work/tampered.so" 2>"$work/err"; then fail "tampered image verified"; fi
grep -q "modified after signing" "$work/err" || fail "tamper not named: $(cat "$work/err")"
cp "$work/image.so" "$work/badsig.so"
printf '\x00' | dd of="$work/badsig.so" bs=1 seek=$((offset + 140)) conv=notrunc status=none
if "$sign" verify "$work/badsig.so" 2>"$work/err"; then fail "bad signature verified"; fi
grep -q "does not verify" "$work/err" || fail "bad signature not named: $(cat "$work/err")"

# Refusals of bad arguments.
if "$sign" sign --key "$work/key.pem" --product_id -1 --svn 0 "$work/image.so" 2>/dev/null; then
    fail "negative product id accepted"; fi
if "$sign" sign --key "$work/key.pem" --product_id 1 --svn 4294967296 "$work/image.so" \
    2>/dev/null; then fail "svn over 32 bits accepted"; fi
if "$sign" sign --key "$work/key.pem" --svn 0 "$work/image.so" 2>/dev/null; then
    fail "missing product id accepted"; fi
openssl genpkey -algorithm ed25519 -out "$work/ed.pem" 2>/dev/null
if "$sign" sign --key "$work/ed.pem" --product_id 1 --svn 0 "$work/image.so" 2>"$work/err"; then
    fail "non-P-256 key accepted"; fi
grep -q "not a P-256" "$work/err" || fail "wrong key type not named: $(cat "$work/err")"
cp "$not_an_enclave" "$work/plain.so"
if "$sign" sign --key "$work/key.pem" --product_id 1 --svn 0 "$work/plain.so" 2>"$work/err"; then
    fail "image without .asylo_sig signed"; fi
grep -q "no .asylo_sig section" "$work/err" || fail "missing section not named"
echo "sign_tool: all checks passed"
