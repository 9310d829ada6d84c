# Self-test of check_layering.cmake: a scratch tree breaking every rule must fail with each
# violation named; a clean tree with near misses (<queue>, <qpdf/QPDF.hh>, a commented-out Qt
# include, Qt under app/) must pass. Usage: cmake -DCHECK=<script> -DWORK=<dir> -P self_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK}")

file(WRITE "${WORK}/bad/engine/src/a.cpp" "#include <vector>\n#include <QString>\n")
file(WRITE "${WORK}/bad/engine/include/tome/b.h" "#pragma once\n  #  include <QtCore/QObject>\n")
file(WRITE "${WORK}/bad/kernels/rope/rope.cu" "#include \"../../app/service/service.h\"\n")
file(WRITE "${WORK}/bad/ingest/pdf/pdf.cpp" "#include <app/cli/cli_common.h>\n#include <QtGui>\n")
file(WRITE "${WORK}/bad/ingest/CMakeLists.txt" "find_package(Qt6 REQUIRED COMPONENTS Core)\n"
  "target_link_libraries(tome_ingest PRIVATE Qt6::Core)\n")
file(WRITE "${WORK}/bad/kernels/CMakeLists.txt"
  "target_include_directories(tome_kernels PRIVATE \${PROJECT_SOURCE_DIR}/app/service)\n")
set(expected
  "engine/src/a.cpp: includes a Qt header: <QString>"
  "engine/include/tome/b.h: includes a Qt header: <QtCore/QObject>"
  "kernels/rope/rope.cu: includes a file under app/: \"../../app/service/service.h\""
  "ingest/pdf/pdf.cpp: includes a file under app/: \"app/cli/cli_common.h\""
  "ingest/pdf/pdf.cpp: includes a Qt header: <QtGui>"
  "ingest/CMakeLists.txt: Qt or app/ in CMake: find_package(Qt6"
  "ingest/CMakeLists.txt: Qt or app/ in CMake: target_link_libraries(tome_ingest PRIVATE Qt6::Core)"
  "kernels/CMakeLists.txt: Qt or app/ in CMake: target_include_directories(tome_kernels PRIVATE"
  "layering: 8 violation(s)")

file(WRITE "${WORK}/good/engine/src/ok.cpp" [=[
#include <queue>
#include <quadmath.h>
#include <qpdf/QPDF.hh>
#include "tome/quantize.h"
#include "mapp/x.h"
// #include <QString>
]=])
file(WRITE "${WORK}/good/engine/CMakeLists.txt"
  "# No Qt6::Core here, ever.\nadd_library(tome_engine STATIC a.cpp)\n")
file(WRITE "${WORK}/good/app/desktop/window.cpp" "#include <QWidget>\n")

execute_process(COMMAND "${CMAKE_COMMAND}" -DROOT=${WORK}/bad -P "${CHECK}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "check_layering passed a tree with violations:\n${out}${err}")
endif()
foreach(e IN LISTS expected)
  string(FIND "${out}${err}" "${e}" at)
  if(at LESS 0)
    message(FATAL_ERROR "check_layering did not report '${e}'; it said:\n${out}${err}")
  endif()
endforeach()

execute_process(COMMAND "${CMAKE_COMMAND}" -DROOT=${WORK}/good -P "${CHECK}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_layering failed a clean tree:\n${out}${err}")
endif()
message(STATUS "layering self-test: OK")
