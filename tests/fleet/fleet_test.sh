#!/usr/bin/env bash
# fleet_test.sh CASE: a fleet of three asylo-provision-servers, each in its
# own network namespace with its own address (10.232.0.11-13), and the host
# in a fourth (10.232.0.1), joined by veth pairs to a bridge in the host's
# namespace. The host loads through the target ipv4:A,B,C (gRPC round_robin).
#   spread    30 loads one after another through one provision object: round
#             robin gives each server 10 (at least 8 asked: the first pick
#             goes to a server gRPC chooses); then 30 with a provision object
#             each, which spread at random (counts printed, not checked)
#   kill      30 loads of a 4 MiB image, one server kill -9'd in the middle of
#             an upload after the 6th: that provision is retried elsewhere,
#             no load fails, the other two take the rest
#   full      one server at its --max_proxies: 12 loads, none on it, none fail
#   all_down  every server killed: UNAVAILABLE within the deadline, naming
#             all three servers
#   dns       mutual TLS, target dns:///fleet.test:4321 (the host namespace's
#             /etc/hosts, from /etc/netns/NS/hosts, gives it the three
#             addresses), servers bound to 0.0.0.0 advertising
#             sN.fleet.test, a certificate with DNS names only: 9 loads, every
#             proxy dialed by its server's advertised name; the plaintext
#             --health_address answers SERVING
#   loopback  a server advertising 127.0.0.1 to a client on another machine:
#             the client is told no loopback address and loads anyway
# Plaintext (--allow_insecure_non_local): the namespaces are private to the
# test. Skips (77) with the reason where namespaces cannot be made.
# Environment: PROVISION_SERVER, FLEET_TOOL, PROVISION_TOOL, TEST_ENCLAVE.
set -uo pipefail
case_name=${1:?usage: fleet_test.sh spread|kill|full|all_down}
skip() { echo "SKIP: $*"; exit 77; }
fail() {
    echo "FAIL [$case_name]: $*" >&2
    for log in "$tmp"/*.err "$tmp"/*.out; do
        [ -f "$log" ] && { echo "---- $log" >&2; tail -n 30 "$log" >&2; }
    done
    exit 1
}
note() { echo "[$case_name] $*"; }

[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"

id=$$
host_ns=asylo-fh-$id
bridge=afb$id
tmp=$(mktemp -d /tmp/asylo-fleet.XXXXXX)
chmod 700 "$tmp"
declare -a server_pids=() namespaces=()
netns_mount_before=0
mountpoint -q /run/netns 2>/dev/null && netns_mount_before=1

cleanup() {
    local pid ns
    for pid in "${server_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${namespaces[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    if [ $netns_mount_before = 0 ] && [ -d /run/netns ] &&
        [ -z "$(ls -A /run/netns 2>/dev/null)" ] && mountpoint -q /run/netns; then
        umount /run/netns 2>/dev/null
    fi
    rm -rf "$tmp"
    [ -n "$etc_netns" ] && rm -rf "$etc_netns"
}
etc_netns=
trap cleanup EXIT

error=$(ip netns add "$host_ns" 2>&1) || skip "cannot create a network namespace: $error"
namespaces+=("$host_ns")
ip -n "$host_ns" link set lo up
ip -n "$host_ns" link add "$bridge" type bridge || skip "cannot create a bridge"
ip -n "$host_ns" addr add 10.232.0.1/24 dev "$bridge"
ip -n "$host_ns" link set "$bridge" up
addresses=()
for n in 1 2 3; do
    ns=asylo-fs$n-$id
    ip netns add "$ns" || skip "cannot create a fourth network namespace"
    namespaces+=("$ns")
    ip link add "fv$n$id" netns "$ns" type veth peer name "fb$n$id" netns "$host_ns" ||
        skip "cannot create a veth pair"
    ip -n "$ns" addr add "10.232.0.1$n/24" dev "fv$n$id"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "fv$n$id" up
    ip -n "$host_ns" link set "fb$n$id" master "$bridge"
    ip -n "$host_ns" link set "fb$n$id" up
    addresses+=("10.232.0.1$n")
done
target="ipv4:10.232.0.11:4321,10.232.0.12:4321,10.232.0.13:4321"
security=(--security_type=local --allow_insecure_non_local)

# start_server N [FLAGS...]: server N in its namespace; waits for it.
start_server() {
    local n=$1
    shift
    ip netns exec "asylo-fs$n-$id" "$PROVISION_SERVER" --address="10.232.0.1$n:4321" \
        --storage_dir="$tmp/store$n" --proxy_ports=4400-4439 "${security[@]}" "$@" \
        >"$tmp/server$n.out" 2>"$tmp/server$n.err" &
    server_pids[$n]=$!
    local deadline=$((SECONDS + 15))
    until grep -q 'listening on' "$tmp/server$n.out"; do
        [ $SECONDS -ge $deadline ] && fail "server $n did not start"
        kill -0 "${server_pids[$n]}" 2>/dev/null || fail "server $n exited"
        sleep 0.05
    done
}

# loads ARGS...: fleet_tool in the host namespace.
loads() {
    ip netns exec "$host_ns" "$FLEET_TOOL" --target="$target" --image="$TEST_ENCLAVE" \
        "${security[@]}" "$@"
}

count_of() { sed -n "s/^server $1 count=//p" "$2" | head -n1; }

case $case_name in
spread)
    for n in 1 2 3; do start_server "$n"; done
    start=$SECONDS
    loads --count=30 >"$tmp/loads.out" 2>"$tmp/loads.err" || fail "a load failed"
    for address in "${addresses[@]}"; do
        count=$(count_of "$address" "$tmp/loads.out")
        note "$address ran ${count:-0} of 30"
        [ "${count:-0}" -ge 8 ] || fail "$address ran ${count:-0} of 30 loads (want >= 8)"
    done
    note "30 loads in $((SECONDS - start)) s: $(grep -c ' ok ' "$tmp/loads.out") ok"
    # One provision object per load (as separate processes do): each new
    # channel's first call goes where gRPC picks, so the spread is random.
    loads --count=30 --fresh >"$tmp/fresh.out" 2>"$tmp/fresh.err" || fail "a fresh load failed"
    note "30 loads, a provision object each: $(for address in "${addresses[@]}"; do
        printf '%s ran %s; ' "$address" "$(count_of "$address" "$tmp/fresh.out")"; done)"
    ;;
kill)
    for n in 1 2 3; do start_server "$n"; done
    # A 4 MiB image (the enclave plus padding, which dlopen ignores) keeps
    # each upload on the wire long enough to kill a server in the middle
    # of one.
    image=$tmp/big_enclave.so
    cp "$TEST_ENCLAVE" "$image" && head -c 4194304 /dev/zero >>"$image" || fail "no image"
    # The padding changes the measurement: sign the padded image again (a
    # key of its own; the load is not pinned to a signer).
    "$ASYLO_SIGN" keygen --out "$tmp/fleet_key.pem" >/dev/null &&
        "$ASYLO_SIGN" sign --key "$tmp/fleet_key.pem" --product_id 1 --svn 1 "$image" \
            >/dev/null || fail "cannot sign the padded image"
    ip netns exec "$host_ns" "$FLEET_TOOL" --target="$target" --image="$image" \
        "${security[@]}" --count=30 >"$tmp/loads.out" 2>"$tmp/loads.err" &
    tool=$!
    deadline=$((SECONDS + 40))
    until grep -q '^load 5 ' "$tmp/loads.out"; do
        [ $SECONDS -ge $deadline ] && fail "6 loads did not finish in 40 s"
        kill -0 "$tool" 2>/dev/null || fail "fleet_tool ended early"
        sleep 0.02
    done
    # Kill server 2 while it holds an upload (a provision in flight) when
    # one comes within 20 s, else anyway.
    mid_upload=0
    deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ] && kill -0 "$tool" 2>/dev/null; do
        if compgen -G "$tmp/store2/images/upload-*" >/dev/null; then
            mid_upload=1
            break
        fi
        sleep 0.002
    done
    kill -KILL "${server_pids[2]}"
    killed_at=$(grep -c '^load ' "$tmp/loads.out")
    note "server 2 (10.232.0.12) kill -9'd after $killed_at loads" \
        "$([ $mid_upload = 1 ] && echo "in the middle of an upload")"
    wait "$tool"
    code=$?
    grep ' failed ' "$tmp/loads.out" && fail "loads failed after a kill -9 of one server"
    [ $code -eq 0 ] || fail "fleet_tool exited $code"
    calls=$(grep -v 'call=OK' "$tmp/loads.out" | grep -c '^load ')
    [ "$calls" -le 1 ] || fail "$calls calls failed (at most the one running at the kill may)"
    after=$(sed -n "/^load $((killed_at + 1)) /,\$p" "$tmp/loads.out" | grep -c 'server=10.232.0.12 ')
    [ "$after" -eq 0 ] || fail "10.232.0.12 ran $after loads after it was killed"
    retried=$(grep -c 'trying another' "$tmp/loads.err")
    if [ $mid_upload = 1 ] && [ "$retried" -lt 1 ]; then
        fail "the provision cut by the kill was not retried on another server"
    fi
    note "servers in order (last digit): $(sed -n 's/.*server=10.232.0.1\([0-9]\) .*/\1/p' \
        "$tmp/loads.out" | tr -d '\n')"
    note "30 loads, none failed; provisions retried: $retried," \
        "proxies gone before LOAD: $(grep -c 'provisioning again' "$tmp/loads.err")," \
        "calls failed: $calls"
    ;;
full)
    start_server 1 --max_proxies=1
    start_server 2
    start_server 3
    # Fill server 1: one enclave held there until the fifo closes.
    mkfifo "$tmp/hold.fifo"
    ip netns exec "$host_ns" "$FLEET_TOOL" --target=10.232.0.11:4321 --image="$TEST_ENCLAVE" \
        "${security[@]}" --hold <"$tmp/hold.fifo" >"$tmp/hold.out" 2>"$tmp/hold.err" &
    holder=$!
    exec 7>"$tmp/hold.fifo"
    deadline=$((SECONDS + 20))
    until grep -q '^summary ok=1' "$tmp/hold.out"; do
        [ $SECONDS -ge $deadline ] && fail "the filling load did not finish"
        kill -0 "$holder" 2>/dev/null || fail "the filling load failed"
        sleep 0.05
    done
    loads --count=12 >"$tmp/loads.out" 2>"$tmp/loads.err" || fail "a load failed"
    exec 7>&-
    wait "$holder" || fail "the held load failed"
    on_full=$(count_of 10.232.0.11 "$tmp/loads.out")
    [ -z "$on_full" ] || fail "the full server ran $on_full loads"
    refused=$(grep -c 'max_proxies' "$tmp/loads.err")
    note "12 loads, none on the full 10.232.0.11 ($refused refusals retried)," \
        "$(count_of 10.232.0.12 "$tmp/loads.out") on .12, $(count_of 10.232.0.13 "$tmp/loads.out") on .13"
    note "load ms: $(sed -n 's/.* ms=\([0-9]*\) .*/\1/p' "$tmp/loads.out" | tr '\n' ' ')"
    note "refusal ms: $(sed -n 's/.*(after \([0-9]*\) ms); trying another/\1/p' "$tmp/loads.err" |
        tr '\n' ' ')"
    ;;
all_down)
    for n in 1 2 3; do start_server "$n"; done
    for n in 1 2 3; do kill -KILL "${server_pids[$n]}"; wait "${server_pids[$n]}" 2>/dev/null; done
    start=$(date +%s%N)
    loads --count=1 --deadline_ms=5000 >"$tmp/loads.out" 2>"$tmp/loads.err" &&
        fail "a load succeeded with every server down"
    took=$((($(date +%s%N) - start) / 1000000))
    line=$(grep '^load 0 failed' "$tmp/loads.out") || fail "no failure line"
    note "$line"
    printf '%s\n' "$line" | grep -q 'failed UNAVAILABLE' || fail "not UNAVAILABLE"
    for address in "${addresses[@]}"; do
        printf '%s\n' "$line" | grep -q "$address:4321" || fail "$address is not named"
    done
    [ "$took" -lt 6000 ] || fail "took $took ms, over the 5000 ms deadline"
    note "UNAVAILABLE naming all three in $took ms"
    ;;
dns)
    etc_netns=/etc/netns/$host_ns
    mkdir -p "$etc_netns" "$tmp/certs"
    printf '127.0.0.1 localhost\n' >"$etc_netns/hosts"
    for n in 1 2 3; do
        printf '10.232.0.1%s fleet.test s%s.fleet.test\n' "$n" "$n" >>"$etc_netns/hosts"
    done
    "$(dirname "$0")/../common/make_certs.sh" "$tmp/certs" "DNS:fleet.test,DNS:*.fleet.test" \
        >/dev/null 2>&1 || fail "make_certs.sh failed"
    certs=$tmp/certs
    for n in 1 2 3; do
        security=(--security_type=ssl --ssl_server_cert="$certs/server.pem"
                  --ssl_server_cred="$certs/server.key" --ssl_root_certs="$certs/ca.pem")
        start_server "$n" --address=0.0.0.0:4321 --advertise_address="s$n.fleet.test" \
            --health_address=0.0.0.0:4320
    done
    # The kubelet's view: a plaintext grpc.health.v1 check of the health
    # listener while provisioning itself takes mutual TLS only.
    if /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
        health=$(ip netns exec "$host_ns" /usr/bin/python3 -c '
import grpc, sys
check = grpc.insecure_channel(sys.argv[1]).unary_unary("/grpc.health.v1.Health/Check")
for service in (b"", b"asylo.remote.RemoteProxyProvisionServer"):
    print(check(bytes([10, len(service)]) + service, timeout=5).hex())
' 10.232.0.12:4320 2>&1) || fail "health check: $health"
        [ "$(printf "%s" "$health" | tr "\n" " ")" = "0801 0801" ] ||
            fail "the health listener did not answer SERVING: $health"
        note "--health_address answers SERVING in plaintext"
    else
        note "python3-grpcio missing: the health listener is not checked"
    fi
    security=(--security_type=ssl --ssl_root_certs="$certs/ca.pem"
              --ssl_client_cert="$certs/client.pem" --ssl_client_key="$certs/client.key")
    target=dns:///fleet.test:4321
    loads --count=9 >"$tmp/loads.out" 2>"$tmp/loads.err" || fail "a load failed"
    for n in 1 2 3; do
        note "s$n.fleet.test ran $(count_of "s$n.fleet.test" "$tmp/loads.out") of 9"
    done
    others=$(grep '^server ' "$tmp/loads.out" | grep -vc 'server s[123].fleet.test ')
    [ "$others" -eq 0 ] || fail "a proxy was dialed at another address than its advertised name"
    used=$(grep -c '^server s' "$tmp/loads.out")
    [ "$used" -ge 2 ] || fail "only $used of 3 servers ran loads"
    ;;
loopback)
    start_server 1 --advertise_address=127.0.0.1
    start_server 2 --advertise_address=two.fleet.example
    # The replies themselves, through the raw protocol client.
    upload() {
        ip netns exec "$host_ns" "$PROVISION_TOOL" upload --server="$1" \
            --image="$TEST_ENCLAVE" --release=yes "${security[@]}"
    }
    reply=$(upload 10.232.0.11:4321) || fail "upload to server 1: $reply"
    printf '%s\n' "$reply" | grep -q 'result code=OK id=[0-9a-f]* address= port=44' ||
        fail "server 1 reported a loopback address to 10.232.0.1: $reply"
    reply=$(upload 10.232.0.12:4321) || fail "upload to server 2: $reply"
    printf '%s\n' "$reply" | grep -q 'address=two.fleet.example:44[0-9]* port=44' ||
        fail "server 2 did not report its advertised name: $reply"
    target=10.232.0.11:4321
    loads --count=2 >"$tmp/loads.out" 2>"$tmp/loads.err" || fail "a load failed"
    [ "$(count_of 10.232.0.11 "$tmp/loads.out")" = 2 ] ||
        fail "the proxies were not dialed at 10.232.0.11"
    note "advertised 127.0.0.1, not reported to 10.232.0.1: proxies dialed at 10.232.0.11"
    ;;
*)
    fail "unknown case"
    ;;
esac
echo "fleet.$case_name: OK"
