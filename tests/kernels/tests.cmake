# Kernel op tests: every CUDA kernel against its CPU twin on random inputs at many shapes.
# Label gpu: they skip themselves (GTEST_SKIP) where no GPU is present.
if(TOME_HAVE_CUDA)
  tome_add_test(NAME test_kernels LABELS "gpu;ops" SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernels.cpp
    LIBS tome_kernels CUDA::cudart_static)
endif()
