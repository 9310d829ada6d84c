# tome generate -t document -t question: the prompt built from the model's templates reaches the
# same answer as `tome ask` (7341 from the sample); an unknown template or a missing value fails
# with a message naming it.
set(model ${SOURCE_DIR}/resources/models/tome-25m)
execute_process(COMMAND ${TOME} generate -m ${model} --backend cpu -q -n 12 -t document -t question
                  --var-file text=${SOURCE_DIR}/resources/sample/keeper.md --var "question=What is the pass key?"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "7341")
  message(FATAL_ERROR "expected 7341, got (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${TOME} generate -m ${model} --backend cpu -t nosuch -n 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "unknown template 'nosuch'")
  message(FATAL_ERROR "an unknown template must fail with its name (${rc}):\n${err}")
endif()
execute_process(COMMAND ${TOME} generate -m ${model} --backend cpu -t question -n 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "question")
  message(FATAL_ERROR "a missing template value must fail (${rc}):\n${err}")
endif()
