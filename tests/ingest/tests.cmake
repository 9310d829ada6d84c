# ingest/ tests (only when tome_ingest is built, see ingest/CMakeLists.txt): one GoogleTest
# binary per format plus the token map, on the real documents in tests/data/ingest; a check that
# ingest includes no engine header but tome/status.h; the libFuzzer targets of ingest's own
# parsers with their smoke runs (as tests/fuzz/: libFuzzer for 10 s with TOME_FUZZ, else the
# standalone driver's 20,000 deterministic mutations). Longer fuzzing: scripts/fuzz-ingest.sh.
if(NOT TARGET tome_ingest)
  return()
endif()
find_package(ZLIB REQUIRED)  # the tests write zip files by hand (lying size fields)
set(TOME_INGEST_TESTS ${CMAKE_CURRENT_LIST_DIR})

foreach(t pdf epub text repo token_map)
  tome_add_test(NAME test_ingest_${t} LABELS unit
    SOURCES ${TOME_INGEST_TESTS}/test_${t}.cpp
    LIBS tome_ingest PkgConfig::INGEST_DEPS ZLIB::ZLIB)
  target_include_directories(test_ingest_${t} PRIVATE ${PROJECT_SOURCE_DIR}/ingest)
endforeach()

add_test(NAME ingest_includes_no_engine_headers
  COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -P ${TOME_INGEST_TESTS}/check_includes.cmake)
set_tests_properties(ingest_includes_no_engine_headers PROPERTIES LABELS unit TIMEOUT 60)

set(TOME_INGEST_FUZZ ${TOME_INGEST_TESTS}/fuzz)
if(TOME_FUZZ)
  target_compile_options(tome_ingest PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
foreach(name epub_zip epub_package text_decode token_map)
  set(target fuzz_ingest_${name})
  if(TOME_FUZZ)
    add_executable(${target} ${TOME_INGEST_FUZZ}/fuzz_${name}.cpp)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${target} ${TOME_INGEST_FUZZ}/fuzz_${name}.cpp
      ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_driver.cpp)
  endif()
  target_link_libraries(${target} PRIVATE tome_ingest PkgConfig::INGEST_DEPS)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/ingest)
  tome_set_options(${target})
  set(dict ${TOME_INGEST_FUZZ}/epub.dict)
  if(name STREQUAL "text_decode" OR name STREQUAL "token_map")
    set(dict ${TOME_INGEST_FUZZ}/text.dict)
  endif()
  set(work ${PROJECT_BINARY_DIR}/fuzz/ingest_${name})
  file(MAKE_DIRECTORY ${work}/corpus)
  if(TOME_FUZZ)
    add_test(NAME fuzz_ingest_${name}_smoke
      COMMAND ${target} -seed=1 -max_total_time=10 -print_final_stats=1 -dict=${dict} -artifact_prefix=${work}/
              -rss_limit_mb=2048 ${work}/corpus ${TOME_INGEST_FUZZ}/corpus/${name})
  else()
    add_test(NAME fuzz_ingest_${name}_smoke
      COMMAND ${target} --mutations=20000 --seed=1 --dict=${dict} ${TOME_INGEST_FUZZ}/corpus/${name})
  endif()
  set_tests_properties(fuzz_ingest_${name}_smoke PROPERTIES LABELS "fuzz;unit" TIMEOUT 180
    WORKING_DIRECTORY ${work})
endforeach()
