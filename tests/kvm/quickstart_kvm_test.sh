#!/bin/sh
# The unchanged quickstart enclave as a signed kvm image, run by the real
# quickstart binary with --backend=kvm. Skips (77) without a usable /dev/kvm.
# Usage: quickstart_kvm_test.sh PATH/TO/quickstart PATH/TO/quickstart_enclave_kvm.kvm
quickstart=$1
image=$2
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "SKIP: the kvm backend needs /dev/kvm read-write"
    exit 77
fi
output=$("$quickstart" --backend=kvm --enclave_path="$image" --message="hello kvm" 2>&1)
status=$?
echo "$output"
if [ "$status" -ne 0 ]; then
    echo "FAIL: quickstart on kvm exited $status"
    exit 1
fi
case "$output" in
*"Round trip OK: the enclave (backend kvm)"*) echo "PASS" ;;
*)
    echo "FAIL: no round trip on kvm"
    exit 1
    ;;
esac
