# Fuzz targets tests/fuzz/fuzz_<name>.cpp (LLVMFuzzerTestOneInput) and their ctest smoke tests.
# TOME_FUZZ=ON (clang): libFuzzer, with tome_engine coverage-instrumented; the smoke test fuzzes
# for 15 s (seed 1, so that CI explores the same inputs each run) from corpus/<name>, writing new inputs to <build>/fuzz/<name>/corpus and crashes next
# to it. Otherwise: standalone_driver.cpp replays the seeds plus 20,000 deterministic mutations.
# Longer runs: cd <build>/fuzz/<name> && ../../tests/fuzz_<name> -max_total_time=600
#   corpus <src>/tests/fuzz/corpus/<name> -dict=<src>/tests/fuzz/<name>.dict
set(TOME_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
if(TOME_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TOME_FUZZ=ON needs clang (CC=clang CXX=clang++), found ${CMAKE_CXX_COMPILER_ID}")
  endif()
  target_compile_options(tome_engine PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
  target_compile_options(tome_store PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()

# fuzz_tome: the session store's .tome reader and the engine's snapshot reader (links tome_store).
foreach(name safetensors config tokenizer tome)
  set(target fuzz_${name})
  if(TOME_FUZZ)
    add_executable(${target} ${TOME_FUZZ_DIR}/fuzz_${name}.cpp)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${target} ${TOME_FUZZ_DIR}/fuzz_${name}.cpp ${TOME_FUZZ_DIR}/standalone_driver.cpp)
  endif()
  target_link_libraries(${target} PRIVATE tome_engine)
  if(name STREQUAL "tome")
    target_link_libraries(${target} PRIVATE tome_store)
  endif()
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/engine/src
    ${PROJECT_BINARY_DIR}/engine/generated ${TOME_FUZZ_DIR})
  target_compile_definitions(${target} PRIVATE TOME_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  tome_set_options(${target})

  set(work ${PROJECT_BINARY_DIR}/fuzz/${name})
  file(MAKE_DIRECTORY ${work}/corpus)
  set(dict ${TOME_FUZZ_DIR}/${name}.dict)
  if(TOME_FUZZ)
    add_test(NAME fuzz_${name}_smoke
      COMMAND ${target} -seed=1 -max_total_time=15 -print_final_stats=1 -dict=${dict} -artifact_prefix=${work}/
              ${work}/corpus ${TOME_FUZZ_DIR}/corpus/${name})
  else()
    add_test(NAME fuzz_${name}_smoke
      COMMAND ${target} --mutations=20000 --seed=1 --dict=${dict} ${TOME_FUZZ_DIR}/corpus/${name})
  endif()
  set_tests_properties(fuzz_${name}_smoke PROPERTIES LABELS "fuzz;unit" TIMEOUT 120
    WORKING_DIRECTORY ${work} ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()
