#!/usr/bin/env bash
# Runs the real examples/quickstart binary: the success path, each user error
# (non-zero exit and a clear message on stderr) and --help.
#
#   quickstart_test.sh PATH/TO/quickstart
set -u
quickstart=${1:?usage: quickstart_test.sh PATH/TO/quickstart}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run NAME ARGS...: runs the quickstart, keeps stdout/stderr/exit code.
run() {
    local name=$1
    shift
    "$quickstart" "$@" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.code"
}

code_of() { cat "$work/$1.code"; }

# expect_error NAME TEXT ARGS...: non-zero exit and TEXT on stderr.
expect_error() {
    local name=$1 text=$2
    shift 2
    run "$name" "$@"
    local code
    code=$(code_of "$name")
    if [ "$code" -eq 0 ]; then
        fail "$name: exit code 0, expected non-zero"
    fi
    if ! grep -qF -- "$text" "$work/$name.err"; then
        fail "$name: stderr lacks '$text'; it was: $(cat "$work/$name.err")"
    fi
    if [ -s "$work/$name.out" ]; then
        fail "$name: printed on stdout: $(cat "$work/$name.out")"
    fi
    echo "ok: $name -> exit $code, stderr: $(head -c 300 "$work/$name.err" | tr '\n' ' ')"
}

# --- success: the ciphertext is nonce(12) || ciphertext(len) || tag(16), in hex.
check_success() {
    local message=$1
    run success --message="$message"
    if [ "$(code_of success)" -ne 0 ]; then
        fail "success ('$message'): exit $(code_of success): $(cat "$work/success.err")"
        return
    fi
    local hex
    hex=$(sed -n 's/^Encrypted message: \([0-9a-f]*\)$/\1/p' "$work/success.out")
    local expected=$((2 * (12 + ${#message} + 16)))
    if [ -z "$hex" ]; then
        fail "success: no 'Encrypted message: <hex>' line in: $(cat "$work/success.out")"
    elif [ "${#hex}" -ne "$expected" ]; then
        fail "success: hex of ${#hex} characters, expected $expected"
    fi
    if ! grep -q "^Round trip OK" "$work/success.out"; then
        fail "success: no 'Round trip OK' in: $(cat "$work/success.out")"
    fi
    echo "ok: success with a ${#message}-byte message (${#hex} hex characters)"
}
check_success "hello"
check_success "x"
check_success "$(printf 'a%.0s' $(seq 1 1000))"
# Two runs encrypt the same message differently (fresh key and nonce).
run first --message=same
run second --message=same
if [ "$(grep '^Encrypted' "$work/first.out")" = "$(grep '^Encrypted' "$work/second.out")" ]; then
    fail "two runs printed the same ciphertext"
fi

# --- user errors.
expect_error empty_message "--message is required and must not be empty" --message=
expect_error missing_message "--message is required and must not be empty"
expect_error bad_flag "unknown or incomplete flag '--bogus'" --message=hi --bogus
expect_error flag_without_value "unknown or incomplete flag '--backend'" --message=hi --backend
expect_error stray_argument "unexpected argument 'stray'" --message=hi stray
expect_error unknown_backend "no backend named 'sgx' in this build; available: sim" \
    --message=hi --backend=sgx
expect_error empty_backend "names no backend; choose one of: sim" --message=hi --backend=
expect_error missing_enclave \
    "cannot open enclave image '$work/missing.so': No such file or directory" \
    --message=hi --enclave_path="$work/missing.so"
expect_error enclave_path_without_value "unknown or incomplete flag '--enclave_path'" \
    --message=hi --enclave_path
echo "just text" >"$work/text.so"
expect_error enclave_not_elf "'$work/text.so' is not an enclave image: not an ELF file" \
    --message=hi --enclave_path="$work/text.so"
expect_error bad_log_level "--log_level: unknown log level 'loud'" --message=hi --log_level=loud
# The failing load names what failed.
if ! grep -qF "quickstart: loading the enclave: NOT_FOUND (backend):" "$work/missing_enclave.err"; then
    fail "missing_enclave: stderr does not say which step failed: $(cat "$work/missing_enclave.err")"
fi

# --- --help: exit 0, every flag mentioned, on stdout.
run help --help
if [ "$(code_of help)" -ne 0 ]; then
    fail "--help exited $(code_of help)"
fi
for flag in --message --enclave_path --backend --log_level --help; do
    if ! grep -qF -- "$flag" "$work/help.out"; then
        fail "--help does not mention $flag"
    fi
done
echo "ok: --help"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "all quickstart checks passed"
