# End-to-end: the `tome` binary reads the bundled sample document with the embedded default model
# into a fresh library and answers the sample question from it (greedy, CPU). Label model.
if(TARGET tome_ingest AND TOME_BUILD_CLI)
  add_test(NAME cli_ingest_and_ask_sample
    COMMAND ${CMAKE_COMMAND} -DTOME=$<TARGET_FILE:tome> -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/cli_sample -P ${CMAKE_CURRENT_LIST_DIR}/ingest_and_ask.cmake)
  set_tests_properties(cli_ingest_and_ask_sample PROPERTIES LABELS "model;unit")
endif()
if(TOME_BUILD_CLI)
  add_test(NAME cli_generate_templates
    COMMAND ${CMAKE_COMMAND} -DTOME=$<TARGET_FILE:tome> -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -P ${CMAKE_CURRENT_LIST_DIR}/generate_templates.cmake)
  set_tests_properties(cli_generate_templates PROPERTIES LABELS "model;unit")
endif()
if(TARGET tome_ingest AND TOME_BUILD_CLI)
  add_test(NAME cli_ingest_repo_and_complete
    COMMAND ${CMAKE_COMMAND} -DTOME=$<TARGET_FILE:tome> -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -P ${CMAKE_CURRENT_LIST_DIR}/complete.cmake)
  set_tests_properties(cli_ingest_repo_and_complete PROPERTIES LABELS "model;unit")
endif()
# `tome score`: the rows file reader and the scorer (app/cli/score_rows.cpp) against a direct
# computation from session logits, and the binary on tests/golden/gret-f32. Label model.
if(TOME_BUILD_CLI)
  tome_add_test(NAME test_score LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_score.cpp
    ${PROJECT_SOURCE_DIR}/app/cli/score_rows.cpp LIBS nlohmann_json::nlohmann_json)
  target_include_directories(test_score PRIVATE ${PROJECT_SOURCE_DIR}/app/cli)
  target_compile_definitions(test_score PRIVATE TOME_CLI="$<TARGET_FILE:tome>")
  add_dependencies(test_score tome)
endif()
