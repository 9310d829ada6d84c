# Engine tests: CPU ops against naive double-precision references (ops), sessions on random
# built-in models (model), and the golden files from training/make_golden.py (model).
tome_add_test(NAME test_ops LABELS "ops;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops.cpp)
tome_add_test(NAME test_session LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_session.cpp)
tome_add_test(NAME test_choose LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_choose.cpp)
tome_add_test(NAME test_kv_rows LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_rows.cpp)
tome_add_test(NAME test_transformer LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_transformer.cpp)
tome_add_test(NAME test_golden LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_golden.cpp
  LIBS nlohmann_json::nlohmann_json)
# Generation with the sampling pre-selection on and off gives the same tokens (CPU; CUDA where a GPU is).
tome_add_test(NAME test_engine_preselect LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_preselect.cpp)
if(TOME_HAVE_CUDA)
  tome_add_test(NAME test_cuda_backend LABELS "gpu;model" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cuda_backend.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_cuda_transformer.cpp ${CMAKE_CURRENT_LIST_DIR}/test_cuda_int8.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_cuda_determinism.cpp LIBS tome_kernels CUDA::cudart_static)
  if(TARGET tome_store)  # the fp8-KV store round trip
    target_link_libraries(test_cuda_backend PRIVATE tome_store)
    target_compile_definitions(test_cuda_backend PRIVATE TOME_TEST_HAVE_STORE=1)
  endif()
endif()
