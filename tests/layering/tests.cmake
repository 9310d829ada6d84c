# Layering (ARCHITECTURE.md rule 1): engine/, kernels/ and ingest/ include no Qt header and
# nothing under app/. A plain CMake script scans the sources; its self-test feeds it scratch
# trees that break and keep the rules.
set(TOME_LAYERING_CHECK ${CMAKE_CURRENT_LIST_DIR}/check_layering.cmake)
add_test(NAME layering_no_qt_or_app
  COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -P ${TOME_LAYERING_CHECK})
add_test(NAME layering_self_test
  COMMAND ${CMAKE_COMMAND} -DCHECK=${TOME_LAYERING_CHECK}
          -DWORK=${CMAKE_CURRENT_BINARY_DIR}/layering_self_test
          -P ${CMAKE_CURRENT_LIST_DIR}/self_test.cmake)
set_tests_properties(layering_no_qt_or_app layering_self_test PROPERTIES LABELS unit TIMEOUT 60)
