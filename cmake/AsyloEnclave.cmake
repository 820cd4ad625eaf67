# asylo_add_enclave(<name> SOURCES <files...> [LIBRARIES <libs...>]
#                   [SIGN_KEY <key.pem>] [PRODUCT_ID <n>] [SVN <n>]
#                   [DEBUG_SIGNED] [UNSIGNED] [BACKENDS <sim|process|remote|kvm>...])
#
# Builds an enclave image <name>.so from trusted sources plus the asylo-c
# trusted runtime. The image exports only `asylo_enclave_abi`; everything else
# is hidden and bound inside the image (-Bsymbolic), so the enclave's own
# symbols win even in a host that exports the same names, and unresolved
# symbols are a link error rather than a load-time surprise.
#
# Signing (docs/attestation.md): every image reserves a `.asylo_sig` section,
# and after linking asylo-sign signs it with SIGN_KEY, PRODUCT_ID and SVN
# (default 0 and 0; DEBUG_SIGNED sets the debug flag). Without SIGN_KEY the
# image is signed with a development key generated once per build tree
# (<build>/asylo-dev-signing-key.pem): good for tests and development, never
# for production, where the signer id should be pinned. UNSIGNED skips
# signing: such an image loads only with the load config's debug flag.
#
# BACKENDS (default: sim process remote) names where the image will run. sim,
# process and remote load <name>.so, which is always built. With kvm the same
# sources are also built as <name>.kvm (target <name>_kvm, path in the
# target property ASYLO_KVM_IMAGE of both targets): a static guest ELF for
# the kvm backend's micro-VM, linked with the guest runtime, the trusted
# runtime, musl's libc.a (musl-dev) and BearSSL (libbearssl-dev), and signed
# exactly like the .so. docs/kvm.md says what C library the guest offers.
#
# Works in this source tree and, through the installed package
# (find_package(asylo)), in outside projects.
set(_ASYLO_ENCLAVE_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

# The kvm variant: enclave sources compiled for the guest (musl's headers, no
# sanitizers, no PIC, no red zone), linked with libasylo_guest_trusted.a.
# In this source tree src/guest sets the ASYLO_GUEST_* variables; the
# installed package sets them in asylo-config.cmake.
function(_asylo_add_kvm_image name sources sign_command sign_files sign_targets)
    foreach(variable ASYLO_GUEST_TRUSTED_ARCHIVE ASYLO_GUEST_LINKER_SCRIPT ASYLO_GUEST_INCLUDE_DIR)
        if(NOT ${variable} OR NOT EXISTS ${${variable}})
            if(NOT TARGET asylo_guest_trusted)
                message(FATAL_ERROR "asylo_add_enclave(${name} ... BACKENDS kvm): the kvm guest "
                        "runtime is missing (${variable} '${${variable}}'); asylo-c builds it "
                        "only where musl-dev and libbearssl-dev are installed")
            endif()
        endif()
    endforeach()
    set(musl_dir /usr/lib/x86_64-linux-musl)
    set(musl_include /usr/include/x86_64-linux-musl)
    set(bearssl /usr/lib/x86_64-linux-gnu/libbearssl.a)
    foreach(needed ${musl_dir}/libc.a ${musl_include}/stdio.h ${bearssl})
        if(NOT EXISTS ${needed})
            message(FATAL_ERROR "asylo_add_enclave(${name} ... BACKENDS kvm): ${needed} is "
                    "missing: install musl-dev and libbearssl-dev")
        endif()
    endforeach()
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=include
                    OUTPUT_VARIABLE gcc_include OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(includes "$<TARGET_PROPERTY:${name},INCLUDE_DIRECTORIES>")
    set(flags -O2 -g -std=c11 -fno-pic -fno-pie -mno-red-zone -fno-asynchronous-unwind-tables
              -fstack-protector-strong -fcf-protection=none -nostdinc -isystem ${musl_include}
              -isystem ${gcc_include} -I${ASYLO_GUEST_INCLUDE_DIR} -D_GNU_SOURCE
              -DASYLO_TRUSTED_BUILD=1
              "$<$<BOOL:${includes}>:-I$<JOIN:${includes},$<SEMICOLON>-I>>")
    set(dir ${CMAKE_CURRENT_BINARY_DIR}/${name}.kvm.d)
    set(objects)
    foreach(source IN LISTS sources)
        get_filename_component(source ${source} ABSOLUTE)
        get_filename_component(base ${source} NAME)
        set(object ${dir}/${base}.o)
        add_custom_command(OUTPUT ${object}
            COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
            COMMAND ${CMAKE_C_COMPILER} ${flags} -MD -MF ${object}.d -c ${source} -o ${object}
            DEPENDS ${source}
            DEPFILE ${object}.d
            COMMENT "kvm image ${name}: ${base}"
            COMMAND_EXPAND_LISTS
            VERBATIM)
        list(APPEND objects ${object})
    endforeach()
    set(image ${CMAKE_CURRENT_BINARY_DIR}/${name}.kvm)
    set(sign)
    if(sign_command)
        set(sign ${sign_command} ${image})
    endif()
    set(runtime_depends)
    if(TARGET asylo_guest_trusted)
        set(runtime_depends asylo_guest_trusted)
    endif()
    add_custom_command(OUTPUT ${image}
        COMMAND ${CMAKE_C_COMPILER} -nostdlib -static -no-pie -Wl,--build-id=none
                -Wl,-T,${ASYLO_GUEST_LINKER_SCRIPT} -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack
                ${objects} -Wl,--whole-archive ${ASYLO_GUEST_TRUSTED_ARCHIVE}
                -Wl,--no-whole-archive ${bearssl} ${musl_dir}/libc.a -lgcc -o ${image}
        ${sign}
        DEPENDS ${objects} ${ASYLO_GUEST_TRUSTED_ARCHIVE} ${ASYLO_GUEST_LINKER_SCRIPT}
                ${sign_files}
        COMMENT "kvm image ${name}: linking ${name}.kvm"
        VERBATIM)
    add_custom_target(${name}_kvm ALL DEPENDS ${image})
    foreach(target IN LISTS runtime_depends sign_targets)
        add_dependencies(${name}_kvm ${target})
    endforeach()
    set_target_properties(${name} ${name}_kvm PROPERTIES ASYLO_KVM_IMAGE ${image})
endfunction()

function(asylo_add_enclave name)
    cmake_parse_arguments(ARG "DEBUG_SIGNED;UNSIGNED" "SIGN_KEY;PRODUCT_ID;SVN"
                          "SOURCES;LIBRARIES;BACKENDS" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "asylo_add_enclave(${name}): give SOURCES")
    endif()
    set(kvm OFF)
    foreach(backend IN LISTS ARG_BACKENDS)
        if(backend STREQUAL "kvm")
            set(kvm ON)
        elseif(NOT backend MATCHES "^(sim|process|remote)$")
            message(FATAL_ERROR "asylo_add_enclave(${name}): unknown backend '${backend}' in "
                    "BACKENDS (sim, process, remote, kvm)")
        endif()
    endforeach()
    if(kvm AND ARG_LIBRARIES)
        message(FATAL_ERROR "asylo_add_enclave(${name}): LIBRARIES are host-built and cannot "
                "go into the kvm image; leave kvm out of BACKENDS or pass the sources")
    endif()
    add_library(${name} MODULE ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE asylo::trusted ${ARG_LIBRARIES})
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        SUFFIX ".so"
        C_VISIBILITY_PRESET hidden
        POSITION_INDEPENDENT_CODE ON)
    # --undefined pulls the runtime's ABI table and the reserved signature
    # section out of the static archive even though no enclave source refers
    # to them.
    target_link_options(${name} PRIVATE -Wl,-Bsymbolic -Wl,--no-undefined -Wl,-z,now
                        -Wl,--undefined=asylo_enclave_abi
                        -Wl,--undefined=asylo__signature_block)
    if(ARG_UNSIGNED)
        if(kvm)
            _asylo_add_kvm_image(${name} "${ARG_SOURCES}" "" "" "")
        endif()
        return()
    endif()

    if(TARGET asylo-sign)
        set(sign_tool $<TARGET_FILE:asylo-sign>)
        set(sign_tool_target asylo-sign)
    else()
        find_program(ASYLO_SIGN_TOOL asylo-sign
                     HINTS ${_ASYLO_ENCLAVE_CMAKE_DIR}/../../../bin REQUIRED)
        set(sign_tool ${ASYLO_SIGN_TOOL})
        set(sign_tool_target)
    endif()
    set(key ${ARG_SIGN_KEY})
    if(NOT key)
        set(key ${CMAKE_BINARY_DIR}/asylo-dev-signing-key.pem)
        if(NOT TARGET asylo_dev_signing_key)
            # Made once: a rebuilt asylo-sign must not replace the key (and
            # so the signer id of every image), hence an order-only
            # dependency on the tool.
            add_custom_command(OUTPUT ${key}
                COMMAND ${sign_tool} keygen --out ${key}
                COMMENT "Generating the development signing key of this build tree")
            add_custom_target(asylo_dev_signing_key DEPENDS ${key})
            if(sign_tool_target)
                add_dependencies(asylo_dev_signing_key ${sign_tool_target})
            endif()
        endif()
        add_dependencies(${name} asylo_dev_signing_key)
    endif()
    if(sign_tool_target)
        add_dependencies(${name} ${sign_tool_target})
    endif()
    set(product_id 0)
    if(DEFINED ARG_PRODUCT_ID)
        set(product_id ${ARG_PRODUCT_ID})
    endif()
    set(svn 0)
    if(DEFINED ARG_SVN)
        set(svn ${ARG_SVN})
    endif()
    set(debug_flag)
    if(ARG_DEBUG_SIGNED)
        set(debug_flag --debug)
    endif()
    add_custom_command(TARGET ${name} POST_BUILD
        COMMAND ${sign_tool} sign --key ${key} --product_id ${product_id} --svn ${svn}
                ${debug_flag} $<TARGET_FILE:${name}>
        VERBATIM)
    if(kvm)
        set(sign_targets ${sign_tool_target})
        if(NOT ARG_SIGN_KEY)
            list(APPEND sign_targets asylo_dev_signing_key)
        endif()
        _asylo_add_kvm_image(${name} "${ARG_SOURCES}"
            "COMMAND;${sign_tool};sign;--key;${key};--product_id;${product_id};--svn;${svn};${debug_flag}"
            "${key}" "${sign_targets}")
    endif()
endfunction()
