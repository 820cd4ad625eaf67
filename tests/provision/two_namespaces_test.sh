#!/usr/bin/env bash
# provision.two_namespaces: the two-machine quickstart across two network
# namespaces joined by a veth pair (scripts/two-machine-quickstart --netns):
# asylo-provision-server in the "target" namespace, the quickstart with
# --backend=remote in the "host" namespace, over the target's IPv4 and IPv6
# addresses, with TLS and with mutual TLS. Skips (77) with the reason where
# namespaces cannot be made (not root, no iproute2).
#
# Environment: PROVISION_SERVER, QUICKSTART, QUICKSTART_ENCLAVE, CERTS (whose
# server certificate names 10.231.0.1 and fd00:231::1: tests/provision/CMakeLists.txt).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
script=$root/scripts/two-machine-quickstart
export PROVISION_SERVER QUICKSTART QUICKSTART_ENCLAVE

for family in ipv4 ipv6; do
    for security in tls mtls; do
        flags=(--netns --certs="$CERTS")
        [ $family = ipv6 ] && flags+=(--ipv6)
        [ $security = mtls ] && flags+=(--mtls)
        output=$("$script" "${flags[@]}" 2>&1)
        code=$?
        if [ $code -eq 77 ]; then
            printf '%s\n' "$output" | grep '^SKIP'
            exit 77
        fi
        if [ $code -ne 0 ] || ! printf '%s\n' "$output" | grep -q '^Round trip OK'; then
            echo "FAIL: $family $security (exit $code):"
            printf '%s\n' "$output"
            exit 1
        fi
        echo "$family $security: $(printf '%s\n' "$output" | grep -E '^(== host|Round trip)' | tr '\n' ' ')"
        # The namespaces it made (named in its output) are gone again.
        for ns in $(printf '%s\n' "$output" | sed -n 's/^== [a-z]* (\(asylo-[a-z]*-[0-9-]*\)).*/\1/p'); do
            if [ -e "/run/netns/$ns" ]; then
                echo "FAIL: namespace $ns left behind"
                exit 1
            fi
        done
    done
done
echo "two namespaces: IPv4 and IPv6, TLS and mutual TLS: Round trip OK"
