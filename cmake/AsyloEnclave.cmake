# asylo_add_enclave(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds an enclave image <name>.so from trusted sources plus the asylo-c
# trusted runtime. The image exports only `asylo_enclave_abi`; everything else
# is hidden and bound inside the image (-Bsymbolic), so the enclave's own
# symbols win even in a host that exports the same names, and unresolved
# symbols are a link error rather than a load-time surprise.
#
# Works in this source tree and, through the installed package
# (find_package(asylo)), in outside projects.
function(asylo_add_enclave name)
    cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
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
    # --undefined pulls the runtime's ABI table out of the static archive even
    # though no enclave source refers to it.
    target_link_options(${name} PRIVATE -Wl,-Bsymbolic -Wl,--no-undefined -Wl,-z,now
                        -Wl,--undefined=asylo_enclave_abi)
endfunction()
