#!/bin/sh
# Without /dev/kvm the kvm tests skip (exit 77) and say why, naming /dev/kvm.
# /dev is hidden by a tmpfs in a private mount namespace, so this runs on a
# machine that has KVM too. Usage: no_kvm_test.sh <test binary> [arguments...]
# (kvm_vm_test, or conformance_test kvm)
if ! unshare -m true 2>/dev/null; then
    echo "SKIP: cannot make a mount namespace here (needs root or user namespaces)"
    exit 77
fi
output=$(unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" "$@"' "$@" 2>&1)
status=$?
echo "$output"
if [ "$status" -ne 77 ]; then
    echo "FAIL: expected exit 77 without /dev/kvm, got $status"
    exit 1
fi
case "$output" in
*"SKIP: "*"the kvm backend needs /dev/kvm read-write: No such file or directory"*) ;;
*)
    echo "FAIL: the skip reason does not name /dev/kvm and what is wrong"
    exit 1
    ;;
esac
echo "PASS"
