# The sampler chain (engine/src/sampling): greedy, seeded draws, top-k / top-p / min-p sets,
# repetition penalty, temperature, NaN / inf logits. Statistical checks use fixed seeds.
tome_add_test(NAME test_sampling LABELS unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampling.cpp)
