# Model-directory loading: config.json, safetensors, the tensor table, the tokenizer, and the
# small utilities under them (dtype, hash, mmap, UTF-8). All "unit": no model files needed
# beyond tests/data/tokenizer/tiny.model.
tome_add_test(NAME test_model_format LABELS unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp ${CMAKE_CURRENT_LIST_DIR}/safetensors_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/tensor_table_test.cpp ${CMAKE_CURRENT_LIST_DIR}/util_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/golden_dirs_test.cpp
  LIBS nlohmann_json::nlohmann_json)
tome_add_test(NAME test_tokenizer LABELS unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tokenizer_test.cpp
  LIBS nlohmann_json::nlohmann_json)
