# The sampler chain (engine/src/sampling): greedy, seeded draws, top-k / top-p / min-p sets,
# repetition penalty, temperature, NaN / inf logits. Statistical checks use fixed seeds.
tome_add_test(NAME test_sampling LABELS unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampling.cpp)
# Pre-selection: sample_candidates on the host twin's candidates against sample() on full logits.
tome_add_test(NAME test_preselect LABELS unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_preselect.cpp)
