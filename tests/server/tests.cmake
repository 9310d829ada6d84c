# tome serve (app/server): the request parser alone, the server over loopback with the embedded
# default model (endpoints, streaming, threads, cancellation on disconnect, errors), `tome serve`
# with curl, and the libFuzzer target on the request
# parser with its smoke test (as tests/fuzz/tests.cmake: real libFuzzer with TOME_FUZZ=ON, else
# the standalone driver). Only when app/server is built (cpp-httplib found).
if(NOT TARGET tome_server)
  return()
endif()

# One label each: tome_add_test hands LABELS to gtest_discover_tests as a list, which keeps only
# the first (`ctest -R Server` selects them all).
tome_add_test(NAME test_server_request LABELS "unit"
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_server_request.cpp LIBS tome_server_request)
tome_add_test(NAME test_server LABELS "unit"
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_server.cpp ${CMAKE_CURRENT_LIST_DIR}/test_server_cancel.cpp
  LIBS tome_server tome_service PkgConfig::TOME_HTTPLIB nlohmann_json::nlohmann_json)

if(TOME_BUILD_CLI AND TARGET tome AND TOME_BUILD_INGEST)  # the script reads a repository with `tome ingest`
  find_program(TOME_CURL curl)
  if(TOME_CURL)
    add_test(NAME cli_serve_curl
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve_cli.sh $<TARGET_FILE:tome> ${PROJECT_SOURCE_DIR})
    set_tests_properties(cli_serve_curl PROPERTIES LABELS "server;unit;model" TIMEOUT 120)
  endif()
endif()

# fuzz_server_request: parse_request on arbitrary bodies for each endpoint.
set(TOME_SERVER_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
if(TOME_FUZZ)
  target_compile_options(tome_server_request PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
  add_executable(fuzz_server_request ${TOME_SERVER_FUZZ_DIR}/fuzz_server_request.cpp)
  target_compile_options(fuzz_server_request PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_server_request PRIVATE -fsanitize=fuzzer)
else()
  add_executable(fuzz_server_request ${TOME_SERVER_FUZZ_DIR}/fuzz_server_request.cpp
    ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_driver.cpp)
endif()
target_link_libraries(fuzz_server_request PRIVATE tome_server_request)
tome_set_options(fuzz_server_request)
set(work ${PROJECT_BINARY_DIR}/fuzz/server_request)
file(MAKE_DIRECTORY ${work}/corpus)
set(dict ${TOME_SERVER_FUZZ_DIR}/server_request.dict)
if(TOME_FUZZ)
  add_test(NAME fuzz_server_request_smoke
    COMMAND fuzz_server_request -seed=1 -max_total_time=15 -print_final_stats=1 -dict=${dict}
            -artifact_prefix=${work}/ ${work}/corpus ${TOME_SERVER_FUZZ_DIR}/corpus/server_request)
else()
  add_test(NAME fuzz_server_request_smoke
    COMMAND fuzz_server_request --mutations=20000 --seed=1 --dict=${dict}
            ${TOME_SERVER_FUZZ_DIR}/corpus/server_request)
endif()
set_tests_properties(fuzz_server_request_smoke PROPERTIES LABELS "fuzz;unit;server" TIMEOUT 120
  WORKING_DIRECTORY ${work})
