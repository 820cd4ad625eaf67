#!/usr/bin/env bash
# Installs asylo-c into a temporary prefix, then builds examples/hello_world as
# an outside project against it (find_package(asylo)) and a host program with
# pkg-config, and runs both. Proves the installed headers, libraries, CMake
# package and .pc files are complete.
#   install_test.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF)
set -euo pipefail
build_dir=$1
source_dir=$2
sanitize=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

extra_flags=()
cflags=""
if [ "$sanitize" = ON ]; then
    # An instrumented libasylo needs an instrumented program around it.
    cflags="-fsanitize=address,undefined"
    extra_flags=(-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags"
                 -DCMAKE_MODULE_LINKER_FLAGS="$cflags")
fi

cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
for installed in include/asylo/asylo.h include/asylo/trusted.h lib/libasylo.so \
                 lib/libasylo_trusted.a lib/pkgconfig/asylo.pc lib/pkgconfig/asylo-trusted.pc \
                 lib/cmake/asylo/asylo-config.cmake bin/asylo-remote-proxy \
                 bin/asylo-provision-server libexec/asylo/asylo-enclave-runner; do
    [ -e "$work/prefix/$installed" ] || { echo "FAIL: $installed not installed"; exit 1; }
done

cmake -S "$source_dir/examples/hello_world" -B "$work/hello" \
      -DCMAKE_PREFIX_PATH="$work/prefix" "${extra_flags[@]}" >"$work/configure.log"
cmake --build "$work/hello" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
output=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/hello/hello_world" Installed 2>/dev/null)
[ "$output" = "Hello, Installed!" ] || { echo "FAIL: hello_world printed '$output'"; exit 1; }

# A host program built with nothing but pkg-config.
cat >"$work/host.c" <<'PROGRAM'
#include <asylo/asylo.h>
#include <stdio.h>
int main(void) {
    asylo_manager *manager = NULL;
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) return 1;
    asylo_client *client = NULL;
    asylo_code code = asylo_manager_get_client(manager, "absent", &client, &status);
    asylo_manager_destroy(manager);
    printf("%s\n", asylo_code_name(code));
    return code == ASYLO_NOT_FOUND ? 0 : 1;
}
PROGRAM
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc $cflags -Wall -Werror "$work/host.c" -o "$work/host" $(pkg-config --cflags --libs asylo)
[ "$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/host")" = NOT_FOUND ] || {
    echo "FAIL: pkg-config host program"; exit 1; }
echo "install: headers, libraries, CMake package and pkg-config files work from $work/prefix"
