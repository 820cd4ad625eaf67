# asylo_add_enclave(<name> SOURCES <files...> [LIBRARIES <libs...>]
#                   [SIGN_KEY <key.pem>] [PRODUCT_ID <n>] [SVN <n>]
#                   [DEBUG_SIGNED] [UNSIGNED])
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
# Works in this source tree and, through the installed package
# (find_package(asylo)), in outside projects.
set(_ASYLO_ENCLAVE_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(asylo_add_enclave name)
    cmake_parse_arguments(ARG "DEBUG_SIGNED;UNSIGNED" "SIGN_KEY;PRODUCT_ID;SVN"
                          "SOURCES;LIBRARIES" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "asylo_add_enclave(${name}): give SOURCES")
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
endfunction()
