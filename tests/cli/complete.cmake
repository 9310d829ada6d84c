# tome ingest of a tiny repository, then tome complete at a cursor: the pipeline runs (exit 0,
# FIM through the model's completion template with the repository in context), and a missing
# file, a line past the end and a malformed cursor are refused with their messages.
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
execute_process(COMMAND ${TOME} ingest ${WORK_DIR}/repo --session demo ${common}
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
file(REMOVE_RECURSE ${WORK_DIR})
