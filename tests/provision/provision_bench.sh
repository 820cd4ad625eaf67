#!/usr/bin/env bash
# provision_bench.sh [BUILD_DIR] [RUNS]: time to provision and load a 1 MiB and
# a 16 MiB enclave image through asylo-provision-server over loopback
# (127.0.0.1, local security). Not a test: a measurement.
#
# The images are tests/enclaves' test_enclave.so with random bytes appended
# up to the size (the ELF loader ignores what follows the image; the bytes
# are still hashed, uploaded, stored, hashed again and copied by sim). Each
# run is tests/provision/provision_bench.c: asylo_manager_load through the
# provision server (hash, upload in 1 MiB chunks, store, proxy start, connect,
# load, initialize) plus one call; it prints each run and the median.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
runs=${2:-5}
build=$(cd "$build" && pwd)
tmp=$(mktemp -d /tmp/asylo-provision-bench.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

enclave=$build/tests/enclaves/test_enclave.so
for mib in 1 16; do
    size=$((mib << 20))
    cp "$enclave" "$tmp/enclave-${mib}MiB.so"
    head -c $((size - $(stat -c %s "$enclave"))) /dev/urandom >>"$tmp/enclave-${mib}MiB.so"
done

"$build/tools/asylo-provision-server" --address=127.0.0.1:0 --storage_dir="$tmp/store" \
    --proxy_ports=28400-28419 --log_level=warning >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q 'listening on' "$tmp/server.out" && break
    sleep 0.05
done
address=$(sed -n 's/^asylo-provision-server: listening on //p' "$tmp/server.out")
[ -n "$address" ] || { cat "$tmp/server.err" >&2; exit 1; }
echo "asylo-provision-server on $address; $(nproc) CPUs; $runs runs per size"
for mib in 1 16; do
    ASYLO_LOG_LEVEL=warning "$build/tests/provision/provision_bench" --server="$address" \
        --image="$tmp/enclave-${mib}MiB.so" --runs="$runs" 2>&1 | grep -v ' info '
done
