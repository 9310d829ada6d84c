// Fuzz target: parse_safetensors on arbitrary bytes, then check_tensors against a small config.
// Beyond "no crash, no out-of-bounds read" (ASan), it checks what the parser promises: every
// view lies inside the input, nbytes = numel × dtype size, views sorted and not overlapping.
#include <cstdint>
#include <vector>

#include "fuzz_common.h"
#include "model/safetensors.h"
#include "model/tensor_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome;
  auto r = parse_safetensors(std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!r) {
    if (r.message().rfind("fuzz.safetensors: ", 0) != 0)
      fuzz::fail("message without file name", r.message());
    return 0;
  }
  const uint8_t* end = data + size;
  const uint8_t* last_end = nullptr;
  unsigned sink = 0;
  std::vector<float> floats;
  for (const tensor_view& t : r->tensors) {
    if (t.data < data || t.data > end || t.nbytes > static_cast<size_t>(end - t.data)) {
      fuzz::fail("view outside the input", t.name);
    }
    if (static_cast<uint64_t>(t.numel()) * dtype_size(t.type) != t.nbytes)
      fuzz::fail("nbytes", t.name);
    if (t.nbytes > 0) {
      if (last_end && t.data < last_end) fuzz::fail("overlap or order", t.name);
      last_end = t.data + t.nbytes;
      sink += t.data[0] + t.data[t.nbytes - 1];  // ASan checks both ends
      if (t.type != dtype::i8 && t.numel() <= 4096) {
        floats.resize(static_cast<size_t>(t.numel()));
        to_f32(t.data, t.type, floats.data(), floats.size());
      }
    }
    if (r->find(t.name) == nullptr) fuzz::fail("find", t.name);
  }
  const status s = check_tensors(*r, fuzz::small_config(), "fuzz.safetensors");
  if (!s.ok() && s.message().empty()) fuzz::fail("empty message");
  return static_cast<int>(sink & 0);
}
