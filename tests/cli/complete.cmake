# tome ingest of a tiny repository, then tome complete at a cursor: the pipeline runs (exit 0,
# FIM through the model's completion template with the repository in context), and a missing
# file, a line past the end and a malformed cursor are refused with their messages. Then a file is
# edited and the repository ingested again: the session keeps the tokens before the change (from
# the last checkpoint before it) and reads only the rest, and completes exactly like a session
# that read the edited repository afresh.
# The repository lives outside the source tree: inside it, the tree's own .gitignore (build/)
# would rightly hide every file from the ingest.
string(RANDOM LENGTH 8 suffix)
set(WORK_DIR /tmp/tome-cli-complete-${suffix})
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/repo/src)
file(WRITE ${WORK_DIR}/repo/src/geometry.py "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n")
file(WRITE ${WORK_DIR}/repo/src/main.py "from geometry import circle_area\n\n\ndef report(r):\n    print(\"circle\", \n")
set(lib ${WORK_DIR}/library.db)
set(model ${SOURCE_DIR}/resources/models/tome-25m)
set(common --model ${model} --backend cpu --library ${lib})
execute_process(COMMAND ${TOME} ingest ${WORK_DIR}/repo --session demo --chunk 16 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "files: +2")
  message(FATAL_ERROR "tome ingest of the repository failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${TOME} complete demo src/main.py:5 -n 8 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tome complete failed (${rc}):\n${out}\n${err}")
endif()
foreach(case "src/nope.py:1|cannot be read" "src/main.py:99|has no line 99" "src/main.py|expected FILE:LINE")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 cursor)
  list(GET parts 1 want)
  execute_process(COMMAND ${TOME} complete demo ${cursor} ${common}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "${want}")
    message(FATAL_ERROR "cursor ${cursor}: expected a refusal '${want}' (${rc}):\n${err}")
  endif()
endforeach()
# Edit main.py (the most recently changed file: read last) and ingest again.
file(APPEND ${WORK_DIR}/repo/src/main.py "\n\ndef report_twice(r):\n    report(r)\n    report(r)\n")
execute_process(COMMAND ${TOME} ingest ${WORK_DIR}/repo --session demo --chunk 16 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "kept [1-9][0-9]* tokens already read")
  message(FATAL_ERROR "re-ingest of the edited repository did not keep the unchanged part (${rc}):\n${out}\n${err}")
endif()
string(REGEX MATCH "kept [0-9]+ tokens already read \\(unchanged\\), read [0-9]+" kept "${err}")
message(STATUS "re-ingest: ${kept}")
execute_process(COMMAND ${TOME} ingest ${WORK_DIR}/repo --session fresh --chunk 16 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fresh ingest of the edited repository failed (${rc}):\n${out}\n${err}")
endif()
foreach(s demo fresh)
  execute_process(COMMAND ${TOME} complete ${s} src/main.py:9 -n 12 ${common}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out_${s} ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "tome complete on ${s} failed (${rc}):\n${err}")
  endif()
endforeach()
if(NOT out_demo STREQUAL out_fresh)
  message(FATAL_ERROR "the re-read session completes differently from a fresh one:\n[${out_demo}]\n[${out_fresh}]")
endif()

# tome ask --choose-path: the answer is one of the repository's file paths, exactly (the model's
# most likely one, tome::choose), saved in its thread like a generated answer.
execute_process(COMMAND ${TOME} ask fresh "Which file defines `circle_area`?" --choose-path ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(STRIP "${out}" out)
if(NOT rc EQUAL 0 OR NOT (out STREQUAL "src/geometry.py" OR out STREQUAL "src/main.py"))
  message(FATAL_ERROR "tome ask --choose-path: expected one of the two paths (${rc}):\n[${out}]\n${err}")
endif()
message(STATUS "--choose-path answer: ${out}")
# The note on stderr: the name is in both files (the definition and a use); the heads chose.
if(NOT err MATCHES "`circle_area` occurs in 2 files; the model's pointer heads attend most to ${out} \\(")
  message(FATAL_ERROR "tome ask --choose-path: expected the pointer's note naming ${out}:\n${err}")
endif()
# --sources with the pointer (the default): the lines where the model found the symbol, the
# answer's file among them; with --no-pointer, a path chosen by probability has no record: refused.
execute_process(COMMAND ${TOME} ask fresh "Which file defines `circle_area`?" --choose-path --sources 2 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "sources:\n")
  message(FATAL_ERROR "--choose-path --sources: expected the pointer's sources (${rc}):\n[${out}]\n${err}")
endif()
string(REGEX MATCH "^[^\n]*" answer "${out}")
string(FIND "${out}" "%  ${answer} line" at)
if(at EQUAL -1)
  message(FATAL_ERROR "--choose-path --sources: the answer's file ${answer} is not among the sources:\n${out}")
endif()
execute_process(COMMAND ${TOME} ask fresh "Which file?" --choose-path --no-pointer --sources 2 ${common}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "cannot be combined")
  message(FATAL_ERROR "--choose-path --no-pointer with --sources: expected a refusal (${rc}):\n${err}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
