# Desktop app tests (app/desktop), Qt Test. test_desktop_core: models (QAbstractItemModelTester),
# source index, plans and refusals, the controllers with the real engine worker and the embedded
# model (read with cancel and resume, ask with streaming and stop), offscreen. test_desktop_window:
# the main window offscreen (closing while a read runs, destroying the controller mid-answer).
# test_desktop_e2e: the real window under Xvfb with the embedded model: drop the sample document,
# read it, ask, click the source, land on the line; screenshots under
# <build>/tests/desktop/e2e-artifacts/. Only when the desktop app is built (TOME_BUILD_DESKTOP).
if(NOT TARGET tome_desktop_ui)
  return()
endif()
find_package(Qt6 REQUIRED COMPONENTS Test)

function(tome_add_desktop_test name labels)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES AUTOMOC ON)
  target_link_libraries(${name} PRIVATE tome_desktop_ui Qt6::Test)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_compile_definitions(${name} PRIVATE TOME_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TOME_ARTIFACT_DIR="${CMAKE_CURRENT_BINARY_DIR}/desktop/e2e-artifacts")
  tome_set_options(${name})
endfunction()

tome_add_desktop_test(test_desktop_core "desktop;unit" ${CMAKE_CURRENT_LIST_DIR}/test_core.cpp)
add_test(NAME desktop_core COMMAND test_desktop_core)
tome_add_desktop_test(test_desktop_window "desktop;unit" ${CMAKE_CURRENT_LIST_DIR}/test_window.cpp)
add_test(NAME desktop_window COMMAND test_desktop_window)
# 300 s: about 60 s each under ASan on 2 cores; one CI run on an oversubscribed VM took over 180 s.
set_tests_properties(desktop_core desktop_window PROPERTIES LABELS "desktop;unit" TIMEOUT 300
  ENVIRONMENT "QT_QPA_PLATFORM=offscreen;OPENBLAS_NUM_THREADS=1;TOME_LIBRARY=")

tome_add_desktop_test(test_desktop_e2e "desktop;e2e" ${CMAKE_CURRENT_LIST_DIR}/test_e2e.cpp)
find_program(TOME_XVFB_RUN xvfb-run)
if(TOME_XVFB_RUN)
  add_test(NAME desktop_e2e COMMAND ${TOME_XVFB_RUN} -a -s "-screen 0 1400x900x24"
    $<TARGET_FILE:test_desktop_e2e>)
  set_tests_properties(desktop_e2e PROPERTIES LABELS "desktop;e2e" TIMEOUT 180
    ENVIRONMENT "QT_QPA_PLATFORM=xcb;OPENBLAS_NUM_THREADS=1;TOME_LIBRARY=;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp")
else()
  message(STATUS "Tome: xvfb-run not found: the desktop end-to-end test is not registered (Debian: xvfb xauth)")
endif()
