#!/bin/bash
# The dependency rules of docs/architecture.md ("Dependencies"), checked over
# the #include "..." lines of src/ and tools/, plus the guard that keeps
# enclave and host headers out of one translation unit.
# Usage: deps_test.sh SOURCE_DIR C_COMPILER
set -u
root=$1
cc=$2
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# folder | the folders (and public headers) its files may include. "asylo"
# is include/asylo; "asylo-host" adds the host API headers, which enclave
# code must never see.
rules=(
    "src/common|common asylo"
    "src/crypto|asylo"
    "src/identity|identity common asylo"
    "src/enclave|enclave common identity asylo"
    "src/transport|transport protocol common asylo asylo-host"
    "src/metrics|metrics common asylo asylo-host"
    "src/observability|observability metrics transport common asylo asylo-host"
    "src/protocol|protocol common asylo"
    "src/backends|backends protocol transport identity common asylo asylo-host"
    "src/host|host backends metrics common identity asylo asylo-host"
    "src/provision|provision observability transport common asylo asylo-host"
    "src/proxy|proxy protocol observability transport metrics identity common asylo asylo-host"
    "tools|tools proxy provision observability protocol transport identity common asylo asylo-host"
)
# Known exceptions, each with its reason (keep this list short).
#   the remote backend asks a local provision how its proxy ended, to name
#   the cause (signal, exit status) in the status of a lost call.
#   the provision server runs the loader's own image check (ELF, shared
#   object, enclave ABI) on an upload before it spawns a proxy for it.
#   the process backend's sandboxed runner is that backend's other half: it
#   shares its channel and its system call table.
exceptions=(
    "src/backends/remote/remote_backend.c:provision/local_provision.h"
    "src/provision/image_verify.c:backends/sim/image_check.h"
    "tools/asylo_enclave_runner.c:backends/process/shm_channel.h"
    "tools/asylo_enclave_runner.c:backends/process/syscall_allowlist.h"
)
# Within src/backends, only backend.h is for the host.
host_headers="asylo/asylo.h asylo/manager.h asylo/client.h asylo/remote.h"

is_exception() {
    local entry
    for entry in "${exceptions[@]}"; do
        [ "$entry" = "$1:$2" ] && return 0
    done
    return 1
}

for rule in "${rules[@]}"; do
    folder=${rule%%|*}
    allowed=" ${rule#*|} "
    [ -d "$root/$folder" ] || continue
    while IFS= read -r line; do
        file=${line%%:*}
        header=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${line#*:}")
        relative=${file#"$root"/}
        case $header in
        */*) ;;
        *) continue ;; # a header next to the file (tools' own, generated)
        esac
        top=${header%%/*}
        if [ "$top" = asylo ]; then
            base=$(basename "$header")
            case " $host_headers " in
            *" asylo/$base "*) top=asylo-host ;;
            esac
            # Generated protobuf-c headers are transport's wire format.
            case $base in *.pb-c.h) top=transport ;; esac
        fi
        case $allowed in
        *" $top "*) continue ;;
        esac
        is_exception "$relative" "$header" && continue
        fail "$relative includes \"$header\": $folder may include only:${allowed% }"
    done < <(grep -rnE '^#include "' "$root/$folder" --include=*.c --include=*.h |
        sed -E 's/^([^:]+):[0-9]+:/\1:/')
done

# Nothing under src/host/ reaches into a particular backend.
if grep -rnE '#include "backends/(sim|remote)/' "$root/src/host" >/dev/null; then
    fail "src/host includes a backend's insides: $(grep -rnE '#include "backends/(sim|remote)/' "$root/src/host" | head -1)"
fi

# The #error guard: enclave and host headers in one translation unit fail to
# compile, in either order.
for order in "trusted.h asylo.h" "manager.h trusted.h" "remote.h trusted.h"; do
    set -- $order
    out=$(printf '#include "asylo/%s"\n#include "asylo/%s"\n' "$1" "$2" |
        "$cc" -fsyntax-only -I "$root/include" -x c - 2>&1)
    if [ $? -eq 0 ] || ! grep -q "one translation unit" <<<"$out"; then
        fail "including asylo/$1 then asylo/$2 compiled (or failed for another reason): $out"
    fi
done
# Each side alone compiles.
for header in trusted.h asylo.h files.h; do
    printf '#include "asylo/%s"\n' "$header" | "$cc" -fsyntax-only -I "$root/include" -x c - ||
        fail "asylo/$header alone does not compile"
done

if [ "$failures" -ne 0 ]; then
    echo "$failures dependency rule(s) broken (docs/architecture.md, \"Dependencies\")"
    exit 1
fi
echo "dependency rules hold"
