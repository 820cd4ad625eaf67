#!/bin/bash
# The trusted runtime calls only the libc functions listed in
# src/enclave/libc.txt: every undefined symbol of libasylo_trusted.a must be
# defined in the archive itself, by libcrypto (asylo/crypto.h in this build),
# by the enclave author (asylo__trusted_application), by the sanitizers'
# instrumentation, or be on the list.
# Usage: trusted_libc_test.sh ARCHIVE LIST C_COMPILER
set -u
archive=$1
list=$2
cc=$3
temp=$(mktemp -d)
trap 'rm -rf "$temp"' EXIT

libcrypto=$("$cc" -print-file-name=libcrypto.so)
if [ ! -e "$libcrypto" ]; then
    echo "FAIL: cannot find libcrypto.so ($libcrypto)"
    exit 1
fi
nm -u "$archive" | awk '$1 == "U" {print $2}' | sort -u >"$temp/undefined"
nm --defined-only "$archive" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u >"$temp/defined"
nm -D --defined-only "$libcrypto" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$temp/crypto"
grep -vE '^(#|$)' "$list" | sort -u >"$temp/allowed"
comm -23 "$temp/undefined" "$temp/defined" | comm -23 - "$temp/crypto" |
    grep -vE '^(_GLOBAL_OFFSET_TABLE_|asylo__trusted_application|__(asan|ubsan|lsan|sanitizer)_.*|__stack_chk_fail)$' \
        >"$temp/used"
unlisted=$(comm -23 "$temp/used" "$temp/allowed")
if [ -n "$unlisted" ]; then
    echo "FAIL: the trusted runtime calls libc functions missing from $list:"
    echo "$unlisted"
    exit 1
fi
echo "the trusted runtime uses $(wc -l <"$temp/used") libc functions, all listed in $list"
