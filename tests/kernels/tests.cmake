# Kernel op tests: every CUDA kernel against its CPU twin on random inputs at many shapes.
# Label gpu: they skip themselves (GTEST_SKIP) where no GPU is present.
if(TOME_HAVE_CUDA)
  tome_add_test(NAME test_kernels LABELS "gpu;ops" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernels.cpp
    LIBS tome_kernels CUDA::cudart_static)
  # the int8 weight-only kernels (gemv_i8, dequant_i8, embedding_i8) against their CPU twins
  tome_add_test(NAME test_gemv_i8 LABELS "gpu;ops" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gemv_i8.cpp
    LIBS tome_kernels CUDA::cudart_static)
endif()
if(TOME_HAVE_CUDA)  # the batched-decode kernels against their single-session forms and CPU twins
  tome_add_test(NAME test_batch_kernels LABELS "gpu;ops" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_batch_kernels.cpp
    LIBS tome_kernels CUDA::cudart_static)
endif()
if(TOME_HAVE_CUDA)  # the sampling pre-selection against its CPU twin (tome::select_candidates)
  tome_add_test(NAME test_select_candidates LABELS "gpu;ops" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_select_candidates.cpp
    LIBS tome_kernels CUDA::cudart_static)
endif()
