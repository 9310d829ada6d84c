# Session-store tests (engine/store): codecs (unit), the library on random built-in models and
# the golden model (model), and crash safety with real child processes killed by SIGKILL
# (store_child, run by fork + exec).
tome_add_test(NAME test_kv_codec LABELS "unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_codec.cpp
  LIBS tome_store)
tome_add_test(NAME test_store LABELS "model;unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.cpp
  LIBS tome_store PkgConfig::SQLITE3)
target_include_directories(test_store PRIVATE ${PROJECT_SOURCE_DIR}/engine/store/src)
add_executable(store_child ${CMAKE_CURRENT_LIST_DIR}/store_child.cpp)
target_link_libraries(store_child PRIVATE tome_store)
tome_set_options(store_child)
tome_add_test(NAME test_store_crash LABELS "model;unit"
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_crash.cpp LIBS tome_store)
target_compile_definitions(test_store_crash PRIVATE TOME_STORE_CHILD="$<TARGET_FILE:store_child>")
add_dependencies(test_store_crash store_child)
tome_add_test(NAME test_writeback_vfs LABELS "unit" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_writeback_vfs.cpp
  LIBS tome_store PkgConfig::SQLITE3)
target_include_directories(test_writeback_vfs PRIVATE ${PROJECT_SOURCE_DIR}/engine/store/src)
