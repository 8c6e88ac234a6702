# earshot_add_module(name SOURCES ... DEPS ... PRIVATE_DEPS ...)
#   Creates the static library earshot_<name> with alias earshot::<name>.
#   DEPS are linked PUBLIC (other earshot modules whose headers we expose),
#   PRIVATE_DEPS are third-party libraries adapted inside this module.
function(earshot_add_module name)
    cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
    add_library(earshot_${name} STATIC ${ARG_SOURCES})
    add_library(earshot::${name} ALIAS earshot_${name})
    target_include_directories(earshot_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(earshot_${name} PUBLIC ${ARG_DEPS} PRIVATE earshot_build_flags ${ARG_PRIVATE_DEPS})
endfunction()

# earshot_add_test(name SOURCES ... DEPS ... [LABELS ...])
#   One GoogleTest executable per module (earshot_<name>_tests); every TEST becomes a CTest
#   test carrying LABELS (default: unit). Tests run from the source root and see
#   EARSHOT_SHARED_DIR in their environment.
function(earshot_add_test name)
    cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
    set(target earshot_${name}_tests)
    add_executable(${target} ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE ${ARG_DEPS} earshot_test_support GTest::gtest
                          GTest::gtest_main earshot_build_flags)
    if(NOT ARG_LABELS)
        set(ARG_LABELS unit)
    endif()
    # Tests of modules without libtorch get their label suffixed: `unit_torchfree`,
    # `golden_torchfree` (the `asan` test preset selects `torchfree`; label filters are regular
    # expressions, so `-L unit` still selects them). A suffix, not a second label, because
    # gtest_discover_tests splits a list-valued LABELS property into separate arguments.
    if(name IN_LIST EARSHOT_TORCH_FREE_TEST_MODULES)
        list(TRANSFORM ARG_LABELS APPEND _torchfree)
    endif()
    gtest_discover_tests(${target}
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        PROPERTIES LABELS "${ARG_LABELS}"
                   ENVIRONMENT "EARSHOT_SHARED_DIR=${EARSHOT_SHARED_DIR}"
        DISCOVERY_TIMEOUT 120)
endfunction()
