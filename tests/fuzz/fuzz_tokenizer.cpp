// Fuzz target: the tokenizer on tests/data/tokenizer/tiny.model. The first input byte picks a
// mode: (even) the rest is text — encode must not crash and, for valid UTF-8, decode(encode(s))
// must give s back; (odd) the rest is a list of 16-bit ids, some out of range — the streaming
// detokenizer must emit only well-formed UTF-8 and, with flush(), exactly decode()'s text.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "tome/tokenizer.h"
#include "util/utf8.h"

namespace {

const tome::tokenizer& tok() {
  static const std::unique_ptr<tome::tokenizer> t = [] {
    auto r = tome::tokenizer::load(TOME_SOURCE_DIR "/tests/data/tokenizer/tiny.model", [] {
      auto c = tome::parse_model_config(R"({
        "format": "tome-yoco", "format_version": 1, "dim": 4, "n_self_layers": 1, "n_cross_layers": 1,
        "n_self_heads": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 4, "vocab_size": 512,
        "self_decoder": {"kind": "gated_retention", "gate_temperature": 16.0},
        "rope_theta": 10000.0, "norm_eps": 1e-5, "max_context": 64,
        "special_tokens": {"bos": {"id": 1, "piece": "<s>"}, "eos": {"id": 2, "piece": "</s>"},
                           "question": {"id": 7, "piece": "<|question|>"}, "answer": {"id": 8, "piece": "<|answer|>"}},
        "templates": {"question": "<|question|>{question}<|answer|>"}})",
                                        "fuzz");
      if (!c) tome::fuzz::fail("config", c.message());
      return *c;
    }());
    if (!r) tome::fuzz::fail("tokenizer", r.message());
    return std::move(*r);
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tome;
  if (size == 0) return 0;
  const tokenizer& t = tok();
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    const auto ids = t.encode(rest);
    for (int32_t id : ids) {
      if (id < 0 || id >= t.vocab_size() || t.is_special(id))
        fuzz::fail("encode produced a special or bad id");
    }
    if (valid_utf8(rest) == rest && t.decode(ids) != rest) fuzz::fail("round trip", rest);
    auto q = t.encode_template("question", {{"question", rest}});
    if (!q || q->empty() || q->front() != 7 || q->back() != 8) fuzz::fail("template");
    return 0;
  }
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < rest.size(); i += 2) {
    const int v =
        (static_cast<uint8_t>(rest[i]) << 8 | static_cast<uint8_t>(rest[i + 1])) % 520 - 4;
    ids.push_back(v);  // -4 .. 515: a few out of range on both sides
  }
  detokenizer d(t);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = d.push(id);
    if (valid_utf8(piece) != piece) fuzz::fail("partial character emitted");
    streamed += piece;
  }
  streamed += d.flush();
  if (streamed != t.decode(ids)) fuzz::fail("stream != decode");
  return 0;
}
