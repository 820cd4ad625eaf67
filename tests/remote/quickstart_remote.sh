#!/usr/bin/env bash
# The quickstart over the remote backend with local provisioning, on
# 127.0.0.1, [::1] and unix:, each with local and ssl (mutual TLS) security:
# it must print "Encrypted message: <hex>" and "Round trip OK", and leave no
# asylo-remote-proxy behind. Every run pins the enclave's measurement (the
# file the build wrote with asylo-sign show), as scripts/quickstart does; a
# wrong measurement must be refused with UNAUTHENTICATED before the enclave
# runs.
#
#   quickstart_remote.sh QUICKSTART QUICKSTART_ENCLAVE PROXY MAKE_CERTS MEASUREMENT_FILE
#
# The enclave image is copied into a private directory, so every proxy this
# script causes carries that directory in its command line
# (--enclave_path=...): /proc shows whether any is left, without confusing it
# with proxies of tests running in parallel.
set -euo pipefail
quickstart=$1 enclave=$2 proxy=$3 make_certs=$4 measurement=$(cat "$5")
[[ $measurement =~ ^[0-9a-f]{64}$ ]] || { echo "FAIL: no measurement in $5"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/asylo-quickstart-remote-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$enclave" "$tmp/quickstart_enclave.so"
mkdir "$tmp/certs"
sh "$make_certs" "$tmp/certs"

# Processes whose command line mentions our enclave copy. One grep over
# /proc; the bracket keeps grep from matching its own command line.
leftovers() {
    local file found=""
    for file in $(grep -laE -- "$tmp/quickstart_enclave[.]s[o]" /proc/[0-9]*/cmdline \
        2>/dev/null); do
        found="$found $(basename "$(dirname "$file")")"
    done
    echo "$found"
}

listens=("127.0.0.1:0" "unix:")
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
    listens+=("[::1]:0")
else
    echo "SKIP [::1]: no IPv6 loopback address on this machine (/proc/net/if_inet6)"
fi

failures=0
for listen in "${listens[@]}"; do
    for security in local ssl; do
        flags=()
        if [ "$security" = ssl ]; then
            c=$tmp/certs
            flags=(--security_type=ssl --ssl_server_cert="$c/server.pem"
                --ssl_server_cred="$c/server.key" --ssl_root_certs="$c/ca.pem"
                --ssl_client_cert="$c/client.pem" --ssl_client_key="$c/client.key")
        fi
        message="attack at dawn over $listen/$security"
        start=$(date +%s%N)
        if ! output=$(timeout 30 "$quickstart" --message="$message" --backend=remote \
            --remote_proxy="$proxy" --remote_listen="$listen" \
            --enclave_path="$tmp/quickstart_enclave.so" --log_level=warning "${flags[@]}" \
            --expected_measurement="$measurement" \
            2>"$tmp/stderr"); then
            echo "FAIL $listen $security: quickstart failed:"
            cat "$tmp/stderr"
            failures=$((failures + 1))
            continue
        fi
        took=$((($(date +%s%N) - start) / 1000000))
        if ! grep -qE '^Encrypted message: [0-9a-f]{60,}$' <<<"$output" ||
            ! grep -q '^Round trip OK' <<<"$output"; then
            echo "FAIL $listen $security: unexpected output:"
            echo "$output"
            failures=$((failures + 1))
            continue
        fi
        left=$(leftovers)
        if [ -n "$left" ]; then
            echo "FAIL $listen $security: processes left behind:$left"
            failures=$((failures + 1))
            continue
        fi
        echo "ok   $listen $security (${took} ms): $(head -n1 <<<"$output" | cut -c1-60)..."
    done
done
# Another measurement pinned: refused by remote attestation, nothing runs.
wrong=$(tr 0-9a-f 1-9a-f0 <<<"$measurement")
if output=$(timeout 30 "$quickstart" --message="never" --backend=remote --remote_proxy="$proxy" \
    --remote_listen=unix: --enclave_path="$tmp/quickstart_enclave.so" --log_level=warning \
    --expected_measurement="$wrong" 2>"$tmp/stderr"); then
    echo "FAIL wrong measurement: the quickstart ran: $output"
    failures=$((failures + 1))
elif ! grep -q "UNAUTHENTICATED.*remote attestation.*$wrong" "$tmp/stderr" ||
    grep -q "Encrypted message" <<<"$output"; then
    echo "FAIL wrong measurement: not refused by attestation:"
    cat "$tmp/stderr"
    failures=$((failures + 1))
else
    echo "ok   wrong measurement refused: $(grep -o 'UNAUTHENTICATED.*' "$tmp/stderr" | cut -c1-80)..."
fi
left=$(leftovers)
if [ -n "$left" ]; then
    echo "FAIL wrong measurement: processes left behind:$left"
    failures=$((failures + 1))
fi
exit $((failures > 0))
