#!/usr/bin/env bash
# faults.link_cut: two network namespaces joined by a veth pair, the host in
# one (10.233.0.1) and asylo-provision-server in the other (10.233.0.2). The
# host side (link_cut_test) cuts the link (ip link set down) and restores it
# during remote calls and during uploads; see link_cut_test.c for what must
# hold. Afterwards the server's store must be empty and its proxies gone.
# Plaintext (--allow_insecure_non_local): the namespaces are private to the
# test. Skips (77) with the reason where namespaces cannot be made.
#   link_cut_test.sh DRIVER PROVISION_SERVER REMOTE_PROXY
set -uo pipefail
driver=${1:?usage: link_cut_test.sh DRIVER PROVISION_SERVER REMOTE_PROXY}
server=${2:?}
proxy=${3:?}
skip() { echo "SKIP: $*"; exit 77; }
fail() {
    echo "FAIL: $*" >&2
    for log in "$tmp"/*.err "$tmp"/*.out; do
        [ -f "$log" ] && { echo "---- $log" >&2; tail -n 30 "$log" >&2; }
    done
    exit 1
}

[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"

id=$$
host_ns=asylo-lch-$id
target_ns=asylo-lct-$id
host_dev=lch$id
target_dev=lct$id
tmp=$(mktemp -d /tmp/asylo-link-cut.XXXXXX)
chmod 700 "$tmp"
server_pid=
namespaces=()
netns_mount_before=0
mountpoint -q /run/netns 2>/dev/null && netns_mount_before=1

cleanup() {
    local ns
    [ -n "$server_pid" ] && { kill -KILL "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }
    for ns in "${namespaces[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    if [ $netns_mount_before = 0 ] && [ -d /run/netns ] &&
        [ -z "$(ls -A /run/netns 2>/dev/null)" ] && mountpoint -q /run/netns; then
        umount /run/netns 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

error=$(ip netns add "$host_ns" 2>&1) || skip "cannot create a network namespace: $error"
namespaces+=("$host_ns")
ip netns add "$target_ns" || skip "cannot create a second network namespace"
namespaces+=("$target_ns")
ip link add "$host_dev" netns "$host_ns" type veth peer name "$target_dev" netns "$target_ns" ||
    skip "cannot create a veth pair"
ip -n "$host_ns" addr add 10.233.0.1/24 dev "$host_dev"
ip -n "$target_ns" addr add 10.233.0.2/24 dev "$target_dev"
for ns in "$host_ns" "$target_ns"; do ip -n "$ns" link set lo up; done
ip -n "$host_ns" link set "$host_dev" up
ip -n "$target_ns" link set "$target_dev" up

store=$tmp/store
ip netns exec "$target_ns" "$server" --address=10.233.0.2:4321 --storage_dir="$store" \
    --remote_proxy="$proxy" --proxy_ports=4400-4439 --security_type=local \
    --allow_insecure_non_local --upload_timeout_ms=2000 --proxy_load_timeout_ms=5000 \
    --log_level=warning >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 150); do
    grep -q 'listening on' "$tmp/server.out" && break
    sleep 0.1
done
grep -q 'listening on' "$tmp/server.out" || fail "the provision server did not start"

started=$SECONDS
# The driver's own bounds end it; timeout is only the last resort.
timeout -k 5 150 ip netns exec "$host_ns" "$driver" 10.233.0.2:4321 "$host_dev" ||
    fail "the host side failed (exit $?)"
echo "driver: $((SECONDS - started)) s"

# Nothing left behind on the target: no image, no pid file, no proxy.
files_in() { find "$1" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
for _ in $(seq 150); do
    [ "$(files_in "$store/images")" -eq 0 ] && [ "$(files_in "$store/proxies")" -eq 0 ] &&
        [ -z "$(cat "/proc/$server_pid/task/$server_pid/children" 2>/dev/null)" ] && break
    sleep 0.1
done
[ "$(files_in "$store/images")" -eq 0 ] || fail "images left in the store: $(ls "$store/images")"
[ "$(files_in "$store/proxies")" -eq 0 ] || fail "proxy files left: $(ls "$store/proxies")"
[ -z "$(cat "/proc/$server_pid/task/$server_pid/children" 2>/dev/null)" ] ||
    fail "proxies still running: $(cat "/proc/$server_pid/task/$server_pid/children")"
kill -TERM "$server_pid"
wait "$server_pid"
code=$?
server_pid=
[ $code -eq 0 ] || fail "the provision server exited $code after SIGTERM"
echo PASS
