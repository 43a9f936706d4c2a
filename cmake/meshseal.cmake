# CMake entry point of meshseal's C API: include() this file, then
#
#   meshseal_add_library(<name>
#       [RUST_TARGET <triple>]        # e.g. thumbv7em-none-eabihf; default: the host
#       [PROFILE release|debug]       # default: release
#       [NO_DEFAULT_FEATURES]         # e.g. a platform-AEAD-only build
#       [FEATURES <feature>...]       # e.g. panic-halt signed
#       [CARGO_ENV <VAR=value>...])   # e.g. CARGO_PROFILE_RELEASE_OPT_LEVEL=s for size
#
# builds libmeshseal_ffi.a with cargo (every build: cargo's own up-to-date check keeps it
# cheap) and defines <name>, a static library target carrying the header's include directory,
# to link into a firmware or program: target_link_libraries(app PRIVATE <name>).
# The cargo target directory is MESHSEAL_CARGO_TARGET_DIR (default: <build dir>/meshseal-cargo).
# Needs cargo on the PATH and, for a cross target, `rustup target add <triple>`.
include_guard(GLOBAL)

get_filename_component(MESHSEAL_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(MESHSEAL_CARGO_TARGET_DIR "${CMAKE_BINARY_DIR}/meshseal-cargo"
    CACHE PATH "cargo target directory for meshseal's static library")

function(meshseal_add_library name)
    cmake_parse_arguments(MS "NO_DEFAULT_FEATURES" "RUST_TARGET;PROFILE" "FEATURES;CARGO_ENV"
        ${ARGN})
    find_program(MESHSEAL_CARGO cargo REQUIRED)
    if(NOT MS_PROFILE)
        set(MS_PROFILE release)
    endif()
    if(NOT MS_PROFILE MATCHES "^(release|debug)$")
        message(FATAL_ERROR "meshseal_add_library: PROFILE is release or debug, not ${MS_PROFILE}")
    endif()
    set(args build -q -p meshseal-ffi --lib --target-dir "${MESHSEAL_CARGO_TARGET_DIR}")
    if(MS_PROFILE STREQUAL "release")
        list(APPEND args --release)
    endif()
    set(out "${MESHSEAL_CARGO_TARGET_DIR}")
    if(MS_RUST_TARGET)
        list(APPEND args --target "${MS_RUST_TARGET}")
        set(out "${out}/${MS_RUST_TARGET}")
    endif()
    if(MS_NO_DEFAULT_FEATURES)
        list(APPEND args --no-default-features)
    endif()
    if(MS_FEATURES)
        list(JOIN MS_FEATURES "," features)
        list(APPEND args --features "${features}")
    endif()
    set(built "${out}/${MS_PROFILE}/libmeshseal_ffi.a")
    # Cargo hands back an earlier build of the same features with its old timestamp, which
    # would leave a program linked against other features: link a copy that changes (and
    # so relinks) exactly when the library's contents do.
    set(lib "${CMAKE_CURRENT_BINARY_DIR}/meshseal-${name}/libmeshseal_ffi.a")
    add_custom_target(${name}-cargo
        COMMAND "${CMAKE_COMMAND}" -E env ${MS_CARGO_ENV} "${MESHSEAL_CARGO}" ${args}
        COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${built}" "${lib}"
        WORKING_DIRECTORY "${MESHSEAL_ROOT}"
        BYPRODUCTS "${lib}"
        COMMENT "cargo: libmeshseal_ffi.a (${MS_PROFILE}${MS_RUST_TARGET})"
        VERBATIM)
    add_library(${name} STATIC IMPORTED GLOBAL)
    set_target_properties(${name} PROPERTIES
        IMPORTED_LOCATION "${lib}"
        INTERFACE_INCLUDE_DIRECTORIES "${MESHSEAL_ROOT}/crates/meshseal-ffi/include")
    if(NOT MS_RUST_TARGET AND UNIX)
        # A hosted build links Rust's standard library, which needs these.
        set_property(TARGET ${name} PROPERTY INTERFACE_LINK_LIBRARIES pthread dl m)
    endif()
    add_dependencies(${name} ${name}-cargo)
endfunction()
