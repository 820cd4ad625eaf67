#!/usr/bin/env bash
# Runs the README's build-and-install commands (taken from between its
# install-commands markers, so this breaks when the README drifts) against this
# build tree into a temporary prefix, then builds examples/hello_world as an
# outside project against it (find_package(asylo)), an outside project that
# runs an enclave on the remote backend through the installed proxy found via
# ASYLO_REMOTE_PROXY_PATH and asylo::remote_proxy, an outside project that
# builds an enclave's kvm image too (BACKENDS sim kvm) and runs it where
# /dev/kvm works, and a host program with pkg-config, and runs them. Proves the README's commands, the installed
# headers, libraries, servers, CMake package and .pc files are complete.
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

# The README's commands: configure, build, install, in that order. They name
# the build directory "build" and the prefix /usr/local; here they run on
# this test's build tree (already configured with its options, so configure
# and build only check it) and install into the temporary prefix.
mapfile -t commands < <(sed -n '/<!-- install-commands:begin/,/<!-- install-commands:end/p' \
    "$source_dir/README.md" | grep -v -e '^<!--' -e '^```' -e '^[[:space:]]*$')
expected=("cmake -S . -B build" "cmake --build build" "cmake --install build --prefix /usr/local")
[ "${#commands[@]}" -eq 3 ] || {
    echo "FAIL: README.md has ${#commands[@]} commands between the install-commands markers," \
         "expected configure, build, install:"; printf '  %s\n' "${commands[@]}"; exit 1; }
for i in 0 1 2; do
    case "${commands[$i]}" in
        "${expected[$i]}"*) ;;
        *) echo "FAIL: README install command $((i + 1)) is '${commands[$i]}'," \
                "expected it to start with '${expected[$i]}'"; exit 1 ;;
    esac
done
for i in 0 1 2; do
    command=${commands[$i]}
    command=${command/-B build/-B \"$build_dir\"}
    command=${command/--build build/--build \"$build_dir\"}
    command=${command/--install build/--install \"$build_dir\"}
    command=${command/--prefix \/usr\/local/--prefix \"$work/prefix\"}
    echo "README command $((i + 1)): ${commands[$i]}"
    (cd "$source_dir" && eval "$command") >"$work/readme-$i.log" 2>&1 || {
        echo "FAIL: '$command' failed:"; tail -30 "$work/readme-$i.log"; exit 1; }
done
for installed in include/asylo/asylo.h include/asylo/trusted.h lib/libasylo.so \
                 lib/libasylo_trusted.a lib/pkgconfig/asylo.pc lib/pkgconfig/asylo-trusted.pc \
                 lib/cmake/asylo/asylo-config.cmake bin/asylo-remote-proxy \
                 bin/asylo-provision-server bin/asylo-sign include/asylo/crypto.h \
                 libexec/asylo/asylo-enclave-runner; do
    [ -e "$work/prefix/$installed" ] || { echo "FAIL: $installed not installed"; exit 1; }
done

cmake -S "$source_dir/examples/hello_world" -B "$work/hello" \
      -DCMAKE_PREFIX_PATH="$work/prefix" "${extra_flags[@]}" >"$work/configure.log"
cmake --build "$work/hello" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
output=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/hello/hello_world" Installed 2>/dev/null)
[ "$output" = "Hello, Installed!" ] || { echo "FAIL: hello_world printed '$output'"; exit 1; }

# An outside project that finds the installed proxy through the package and
# runs hello_world's enclave in it on the remote backend.
mkdir -p "$work/remote_user"
cp "$source_dir/examples/hello_world/hello_enclave.c" "$work/remote_user/"
cat >"$work/remote_user/CMakeLists.txt" <<'PROJECT'
cmake_minimum_required(VERSION 3.25)
project(remote_user LANGUAGES C)
find_package(asylo REQUIRED)
if(NOT EXISTS "${ASYLO_REMOTE_PROXY_PATH}" OR NOT EXISTS "${ASYLO_PROVISION_SERVER_PATH}")
    message(FATAL_ERROR "ASYLO_REMOTE_PROXY_PATH '${ASYLO_REMOTE_PROXY_PATH}' or "
                        "ASYLO_PROVISION_SERVER_PATH '${ASYLO_PROVISION_SERVER_PATH}' missing")
endif()
if(NOT TARGET asylo::remote_proxy OR NOT TARGET asylo::provision_server)
    message(FATAL_ERROR "asylo::remote_proxy or asylo::provision_server is not defined")
endif()
asylo_add_enclave(hello_enclave SOURCES hello_enclave.c)
add_executable(remote_user remote_user.c)
target_link_libraries(remote_user PRIVATE asylo::asylo)
target_compile_definitions(remote_user PRIVATE
    PROXY_BY_VARIABLE="${ASYLO_REMOTE_PROXY_PATH}"
    PROXY_BY_TARGET="$<TARGET_FILE:asylo::remote_proxy>"
    ENCLAVE_PATH="$<TARGET_FILE:hello_enclave>")
add_dependencies(remote_user hello_enclave)
PROJECT
cat >"$work/remote_user/remote_user.c" <<'PROGRAM'
#include <asylo/asylo.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    if (strcmp(PROXY_BY_VARIABLE, PROXY_BY_TARGET) != 0) {
        printf("variable %s, target %s\n", PROXY_BY_VARIABLE, PROXY_BY_TARGET);
        return 1;
    }
    asylo_status status;
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = PROXY_BY_VARIABLE;
    asylo_remote_provision *provision = NULL;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_buffer greeting = {0};
    int result = 1;
    if (asylo_local_provision_create(&local, &provision, &status) != ASYLO_OK ||
        asylo_manager_create(&manager, &status) != ASYLO_OK) goto out;
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "hello";
    config.backend = "remote";
    config.enclave_path = ENCLAVE_PATH;
    config.backend_config = &remote;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK ||
        asylo_client_run(client, "Remote", 6, &greeting, &status) != ASYLO_OK) goto out;
    printf("%.*s\n", (int)greeting.size, (const char *)greeting.data);
    result = asylo_manager_destroy_client(manager, client, NULL, 0, &status) == ASYLO_OK ? 0 : 1;
    client = NULL;
out:
    if (result != 0) printf("%s\n", status.message);
    asylo_buffer_free(&greeting);
    if (client != NULL) asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
    return result;
}
PROGRAM
cmake -S "$work/remote_user" -B "$work/remote_user/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      "${extra_flags[@]}" >"$work/remote_configure.log" 2>&1 || {
    cat "$work/remote_configure.log"; exit 1; }
cmake --build "$work/remote_user/build" >"$work/remote_build.log" 2>&1 || {
    cat "$work/remote_build.log"; exit 1; }
output=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/remote_user/build/remote_user" 2>"$work/remote.err") || {
    echo "FAIL: remote_user: $output"; cat "$work/remote.err"; exit 1; }
[ "$output" = "Hello, Remote!" ] || { echo "FAIL: remote_user printed '$output'"; exit 1; }

# An outside project that builds hello_world's enclave for kvm too
# (asylo_add_enclave ... BACKENDS sim kvm, from the installed guest runtime)
# and runs the kvm image where /dev/kvm is usable.
if [ -e "$work/prefix/lib/asylo/kvm/libasylo_guest_trusted.a" ]; then
    mkdir -p "$work/kvm_user"
    cp "$source_dir/examples/hello_world/hello_enclave.c" "$work/kvm_user/"
    cat >"$work/kvm_user/CMakeLists.txt" <<'PROJECT'
cmake_minimum_required(VERSION 3.25)
project(kvm_user LANGUAGES C)
find_package(asylo REQUIRED)
asylo_add_enclave(hello_enclave SOURCES hello_enclave.c BACKENDS sim kvm)
get_target_property(image hello_enclave ASYLO_KVM_IMAGE)
add_executable(kvm_user kvm_user.c)
target_link_libraries(kvm_user PRIVATE asylo::asylo)
target_compile_definitions(kvm_user PRIVATE KVM_IMAGE="${image}")
add_dependencies(kvm_user hello_enclave_kvm)
PROJECT
    cat >"$work/kvm_user/kvm_user.c" <<'PROGRAM'
#include <asylo/asylo.h>
#include <stdio.h>
int main(void) {
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_buffer greeting = {0};
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) return 1;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "hello";
    config.backend = "kvm";
    config.enclave_path = KVM_IMAGE;
    int result = 1;
    asylo_code code = asylo_manager_load(manager, &config, &client, &status);
    if (code == ASYLO_UNAVAILABLE) {
        printf("SKIP %s\n", status.message);
        result = 77;
    } else if (code == ASYLO_OK && asylo_client_run(client, "Kvm", 3, &greeting, &status) == ASYLO_OK) {
        printf("%.*s\n", (int)greeting.size, (const char *)greeting.data);
        result = 0;
    } else {
        printf("%s\n", status.message);
    }
    asylo_buffer_free(&greeting);
    if (client != NULL) asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    asylo_manager_destroy(manager);
    return result;
}
PROGRAM
    cmake -S "$work/kvm_user" -B "$work/kvm_user/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
          "${extra_flags[@]}" >"$work/kvm_configure.log" 2>&1 || {
        cat "$work/kvm_configure.log"; exit 1; }
    cmake --build "$work/kvm_user/build" >"$work/kvm_build.log" 2>&1 || {
        cat "$work/kvm_build.log"; exit 1; }
    [ -s "$work/kvm_user/build/hello_enclave.kvm" ] || { echo "FAIL: no hello_enclave.kvm"; exit 1; }
    status=0
    output=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/kvm_user/build/kvm_user" 2>"$work/kvm.err") ||
        status=$?
    case "$status:$output" in
        "0:Hello, Kvm!") ;;
        77:*) echo "kvm image built from the install tree; not run: $output" ;;
        *) echo "FAIL: kvm_user ($status): $output"; cat "$work/kvm.err"; exit 1 ;;
    esac
else
    echo "FAIL: the kvm guest runtime (lib/asylo/kvm) was not installed"; exit 1
fi

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
echo "install: the README's commands, headers, libraries, servers (found by" \
     "ASYLO_REMOTE_PROXY_PATH and asylo::remote_proxy), CMake package (kvm images" \
     "included) and pkg-config files work from $work/prefix"
