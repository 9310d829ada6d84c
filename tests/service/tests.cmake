# Orchestration-layer tests (app/service) on the golden gret-f32 model (it has a tokenizer).
tome_add_test(NAME test_service LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_service.cpp
  LIBS tome_service nlohmann_json::nlohmann_json)
