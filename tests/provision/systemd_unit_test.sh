#!/usr/bin/env bash
# provision.systemd_unit UNIT: checks packaging/systemd/asylo-provision-server.service
#   1. `systemd-analyze verify` accepts it with no warning (skip, 77, without
#      systemd-analyze), ExecStart pointed at this build's binary;
#   2. it keeps the server unprivileged and confined (the directives we rely on);
#   3. its ExecStart flags start the real server (specifiers replaced by a
#      temporary state directory and the test certificates, the address by
#      loopback), which then drains on SIGTERM and exits 0.
# Environment: PROVISION_SERVER, CERTS (tests/provision/CMakeLists.txt).
set -uo pipefail
unit=${1:?usage: systemd_unit_test.sh UNIT}
name=$(basename "$unit")
tmp=$(mktemp -d /tmp/asylo-unit-test.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

for directive in DynamicUser=yes StateDirectory=asylo-provision StateDirectoryMode=0700 \
    NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
    CapabilityBoundingSet= KillMode=mixed UMask=0077; do
    grep -qx "$directive" "$unit" || fail "$name lacks $directive"
done
echo "confinement directives present"

# The ExecStart command line, continuation lines joined.
exec_start=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr -s ' \n' ' ' |
    sed 's/^ExecStart=//')
binary=${exec_start%% *}
flags=${exec_start#* }

if command -v systemd-analyze >/dev/null; then
    sed "s#$binary#${PROVISION_SERVER:-/bin/true}#" "$unit" >"$tmp/$name"
    output=$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$tmp/$name" 2>&1)
    code=$?
    [ $code -eq 0 ] || fail "systemd-analyze verify: $output"
    if printf '%s\n' "$output" | grep -q "$name"; then
        fail "systemd-analyze verify warns: $output"
    fi
    echo "systemd-analyze verify: clean"
    exposure=$(cd "$tmp" && systemd-analyze security --offline=yes "$tmp/$name" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: //p')
    echo "systemd-analyze security (offline): $exposure"
else
    echo "systemd-analyze not installed: verify skipped"
    verify_skipped=1
fi

if [ -n "${PROVISION_SERVER:-}" ] && [ -n "${CERTS:-}" ]; then
    # What systemd makes: StateDirectory= under %S, the credentials directory.
    mkdir -m 700 "$tmp/state" "$tmp/state/asylo-provision" "$tmp/credentials"
    cp "$CERTS/server.pem" "$CERTS/server.key" "$CERTS/ca.pem" "$tmp/credentials/"
    args=()
    for flag in $flags; do
        case "$flag" in
        '$ASYLO_PROVISION_FLAGS') continue ;;
        --address=*) flag=--address=127.0.0.1:0 ;;
        --proxy_ports=*) flag=--proxy_ports=27900-27919 ;;
        esac
        flag=${flag//%S/$tmp/state}
        flag=${flag//%d/$tmp/credentials}
        args+=("$flag")
    done
    "$PROVISION_SERVER" "${args[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    for _ in $(seq 1 200); do
        grep -q 'listening on' "$tmp/server.out" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q 'listening on' "$tmp/server.out" ||
        fail "the unit's flags do not start the server: $(cat "$tmp/server.err")"
    [ -d "$tmp/state/asylo-provision/store/images" ] || fail "no store under the state directory"
    kill -TERM "$server_pid"
    wait "$server_pid"
    code=$?
    server_pid=
    [ $code -eq 0 ] || fail "the server exited with $code on SIGTERM"
    echo "ExecStart flags: the server starts and drains on SIGTERM"
fi
[ -n "${verify_skipped:-}" ] && { echo "SKIP: systemd-analyze verify not available"; exit 77; }
echo "ok"
