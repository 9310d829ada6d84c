// config.json parsing: the golden-like config in full, then every rule of docs/model-format.md
// broken once, asserting on the message (file, field and numbers named).
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace tome {
namespace {

using test::ojson;

// Parses the golden config after `edit` and returns the error message ("" if it parsed).
std::string error_of(const std::function<void(ojson&)>& edit) {
  auto c = parse_model_config(test::golden_config_text(edit), "config.json");
  return c ? std::string() : c.message();
}

std::string error_of_text(const std::string& text) {
  auto c = parse_model_config(text, "config.json");
  return c ? std::string() : c.message();
}

// Expects the edit to be refused with a message that starts with "config.json: " and contains
// `substring`. (A function behind a macro: lambdas with braces do not pass through macro args.)
void expect_error_at(int line, const std::function<void(ojson&)>& edit,
                     const std::string& substring) {
  SCOPED_TRACE("line " + std::to_string(line));
  const std::string msg = error_of(edit);
  EXPECT_NE(msg.find(substring), std::string::npos)
      << "message: \"" << msg << "\"\nexpected to contain: " << substring;
  EXPECT_EQ(msg.rfind("config.json: ", 0), 0u) << msg;
}
#define EXPECT_ERROR(...) expect_error_at(__LINE__, __VA_ARGS__)

TEST(Config, GoldenParsesWithEveryField) {
  auto r = parse_model_config(test::golden_config_text(), "config.json");
  ASSERT_TRUE(r) << r.message();
  const model_config& c = *r;
  EXPECT_EQ(c.name, "tome-golden-gret");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_self_layers, 2);
  EXPECT_EQ(c.n_cross_layers, 2);
  EXPECT_EQ(c.n_self_heads, 4);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.ffn_dim, 96);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.self_kind, self_decoder_kind::gated_retention);
  EXPECT_DOUBLE_EQ(c.retention_gate_temperature, 16.0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.max_context, 1048576);
  EXPECT_EQ(c.special_tokens.size(), 12u);
  EXPECT_EQ(c.special_id("eos"), 2);
  EXPECT_EQ(c.special_tokens.at("question").piece, "<|question|>");
  EXPECT_EQ(c.special_id("nope"), -1);
  EXPECT_EQ(c.templates.size(), 4u);
  EXPECT_EQ(c.templates.at("file"), "<|file|>{path}\n{text}");
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.self_head_dim(), 16);
  EXPECT_EQ(c.kv_dim(), 32);
}

TEST(Config, SlidingWindowKind) {
  auto r = parse_model_config(test::golden_config_text([](ojson& j) {
                                j["self_decoder"] = {{"kind", "sliding_window"}, {"window", 8}};
                              }),
                              "config.json");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->self_kind, self_decoder_kind::sliding_window);
  EXPECT_EQ(r->window, 8);
  EXPECT_STREQ(to_string(self_decoder_kind::sliding_window), "sliding_window");
  EXPECT_STREQ(to_string(self_decoder_kind::gated_retention), "gated_retention");
}

TEST(Config, OptionalFieldsAndNumberForms) {
  auto r = parse_model_config(test::golden_config_text([](ojson& j) {
                                j.erase("name");
                                j.erase("training");
                                j["rope_theta"] = 500000;  // an integer is a number too
                                j["templates"] = ojson::object();
                              }),
                              "config.json");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->name, "");
  EXPECT_DOUBLE_EQ(r->rope_theta, 500000.0);
  EXPECT_TRUE(r->templates.empty());
  EXPECT_EQ(r->file_header_every, 0);  // absent: one header a file
}

TEST(Config, FileHeaderEvery) {
  auto r = parse_model_config(
      test::golden_config_text([](ojson& j) { j["file_header_every"] = 128; }), "config.json");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->file_header_every, 128);
  EXPECT_EQ(test::golden_config([](ojson& j) { j["file_header_every"] = 0; }).file_header_every, 0);
  EXPECT_ERROR([](ojson& j) { j["file_header_every"] = -1; },
               "field 'file_header_every' (-1) must be >= 0");
  EXPECT_ERROR([](ojson& j) { j["file_header_every"] = "128"; },
               "field 'file_header_every' must be an integer");
  EXPECT_ERROR([](ojson& j) { j["file_header_every"] = 12.5; }, "must be an integer, found 12.5");
}

TEST(Config, PointerHeads) {
  auto r = parse_model_config(test::golden_config_text([](ojson& j) {
                                j["pointer_heads"] = ojson::array({ojson::array({0, 1}), ojson::array({1, 0})});
                              }),
                              "config.json");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->pointer_heads, (std::vector<attention_head>{{0, 1}, {1, 0}}));
  EXPECT_TRUE(test::golden_config([](ojson&) {}).pointer_heads.empty()) << "absent: none";
  EXPECT_ERROR([](ojson& j) { j["pointer_heads"] = 3; }, "field 'pointer_heads' must be an array");
  EXPECT_ERROR([](ojson& j) { j["pointer_heads"] = ojson::array({ojson::array({0})}); },
               "field 'pointer_heads[0]' must be a [layer, head] pair of integers");
  EXPECT_ERROR([](ojson& j) { j["pointer_heads"] = ojson::array({ojson::array({0, 1.5})}); },
               "must be a [layer, head] pair of integers");
  EXPECT_ERROR([](ojson& j) { j["pointer_heads"] = ojson::array({ojson::array({99, 0})}); },
               "field 'pointer_heads[0]': layer 99 is not a cross-decoder layer");
  EXPECT_ERROR([](ojson& j) { j["pointer_heads"] = ojson::array({ojson::array({0, -1})}); },
               "head -1 is not a head");
  EXPECT_ERROR([](ojson& j) {
    j["pointer_heads"] = ojson::array({ojson::array({0, 1}), ojson::array({0, 1})});
  }, "field 'pointer_heads[1]' repeats a head");
}

TEST(Config, BadJsonGivesPosition) {
  const std::string msg = error_of_text("{\n  \"format\": \"tome-yoco\",\n  \"dim\": 64,,\n}");
  EXPECT_EQ(msg.rfind("config.json: invalid JSON", 0), 0u) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column"), std::string::npos) << msg;
  EXPECT_NE(error_of_text("").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of_text("{\"a\": \"\xff\"}").find("invalid JSON"),
            std::string::npos);  // bad UTF-8
  EXPECT_NE(error_of_text("{} trailing").find("invalid JSON"), std::string::npos);
}

TEST(Config, TopLevelMustBeObject) {
  EXPECT_NE(error_of_text("[1, 2]").find("expected a JSON object at the top level"),
            std::string::npos);
  EXPECT_NE(error_of_text("42").find("expected a JSON object"), std::string::npos);
}

TEST(Config, FormatAndVersion) {
  EXPECT_ERROR([](ojson& j) { j["format"] = "gguf"; },
               "field 'format' must be \"tome-yoco\", found \"gguf\"");
  EXPECT_ERROR([](ojson& j) { j.erase("format"); }, "missing field 'format'");
  EXPECT_ERROR([](ojson& j) { j["format_version"] = 2; },
               "format_version 2 was made by a newer Tome");
  EXPECT_ERROR([](ojson& j) { j["format_version"] = 18446744073709551615ull; },
               "made by a newer Tome");
  EXPECT_ERROR([](ojson& j) { j["format_version"] = 0; },
               "field 'format_version' (0) must be >= 1");
  EXPECT_ERROR([](ojson& j) { j["format_version"] = "1"; },
               "field 'format_version' must be an integer");
  EXPECT_ERROR([](ojson& j) { j.erase("format_version"); }, "missing field 'format_version'");
  // A newer version is reported as such even when it brings fields this build does not know.
  EXPECT_ERROR(
      [](ojson& j) {
        j["format_version"] = 3;
        j["new_thing"] = 1;
      },
      "made by a newer Tome");
}

TEST(Config, UnknownAndDuplicateFields) {
  EXPECT_ERROR([](ojson& j) { j["dimm"] = 64; }, "unknown field 'dimm'");
  const std::string text = test::golden_config_text();
  const std::string dup = "{\"dim\": 32, " + text.substr(1);
  EXPECT_NE(error_of_text(dup).find("duplicate key 'dim'"), std::string::npos)
      << error_of_text(dup);
}

TEST(Config, IntegerFields) {
  for (const char* f : {"dim", "n_self_layers", "n_cross_layers", "n_self_heads", "n_heads",
                        "n_kv_heads", "ffn_dim", "vocab_size", "max_context"}) {
    SCOPED_TRACE(f);
    const std::string q = std::string("'") + f + "'";
    EXPECT_ERROR([&](ojson& j) { j.erase(f); }, "missing field " + q);
    EXPECT_ERROR([&](ojson& j) { j[f] = 0; }, "field " + q + " (0) must be > 0");
    EXPECT_ERROR([&](ojson& j) { j[f] = -4; }, "field " + q + " (-4) must be > 0");
    EXPECT_ERROR([&](ojson& j) { j[f] = "64"; },
                 "field " + q + " must be an integer, found \"64\"");
    EXPECT_ERROR([&](ojson& j) { j[f] = 64.5; }, "field " + q + " must be an integer, found 64.5");
    EXPECT_ERROR([&](ojson& j) { j[f] = nullptr; }, "must be an integer, found null");
    EXPECT_ERROR([&](ojson& j) { j[f] = 18446744073709551615ull; }, "must be at most");
    EXPECT_ERROR([&](ojson& j) { j[f] = int64_t{1} << 50; }, "must be at most");
  }
  EXPECT_ERROR([](ojson& j) { j["n_self_layers"] = 2000; },
               "field 'n_self_layers' (2000) must be at most 1024");
}

TEST(Config, DivisibilityAndEvenHeadDims) {
  EXPECT_ERROR([](ojson& j) { j["n_self_heads"] = 5; },
               "field 'dim' (64) must be divisible by 'n_self_heads' (5)");
  EXPECT_ERROR([](ojson& j) { j["n_heads"] = 3; },
               "field 'dim' (64) must be divisible by 'n_heads' (3)");
  EXPECT_ERROR(
      [](ojson& j) {
        j["dim"] = 96;
        j["n_heads"] = 6;
        j["n_kv_heads"] = 4;
      },
      "field 'n_heads' (6) must be divisible by 'n_kv_heads' (4)");
  EXPECT_ERROR([](ojson& j) { j["dim"] = 60; },
               "self head dim 'dim' / 'n_self_heads' (60 / 4 = 15) must be even");
  EXPECT_ERROR(
      [](ojson& j) {
        j["n_heads"] = 64;
        j["n_kv_heads"] = 2;
      },
      "cross head dim 'dim' / 'n_heads' (64 / 64 = 1) must be even");
  // Unequal halves and H_s != H_q are fine.
  EXPECT_EQ(error_of([](ojson& j) {
              j["n_self_layers"] = 3;
              j["n_self_heads"] = 2;
              j["n_heads"] = 8;
            }),
            "");
}

TEST(Config, SelfDecoder) {
  EXPECT_ERROR([](ojson& j) { j.erase("self_decoder"); }, "missing field 'self_decoder'");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"] = "gated_retention"; },
               "field 'self_decoder' must be an object");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"]["kind"] = "mamba"; },
               "field 'self_decoder.kind' must be \"gated_retention\" or \"sliding_window\", found "
               "\"mamba\"");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"].erase("kind"); },
               "missing field 'self_decoder.kind'");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"].erase("gate_temperature"); },
               "missing field 'self_decoder.gate_temperature'");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"]["gate_temperature"] = 0; },
               "field 'self_decoder.gate_temperature' (0) must be > 0");
  EXPECT_ERROR([](ojson& j) { j["self_decoder"]["window"] = 8; },
               "unknown field 'self_decoder.window' for kind 'gated_retention'");
  EXPECT_ERROR(
      [](ojson& j) {
        j["self_decoder"] = {{"kind", "sliding_window"}};
      },
      "missing field 'self_decoder.window'");
  EXPECT_ERROR(
      [](ojson& j) {
        j["self_decoder"] = {{"kind", "sliding_window"}, {"window", 0}};
      },
      "field 'self_decoder.window' (0) must be > 0");
  EXPECT_ERROR(
      [](ojson& j) {
        j["self_decoder"] = {{"kind", "sliding_window"}, {"window", 8}, {"gate_temperature", 16}};
      },
      "unknown field 'self_decoder.gate_temperature' for kind 'sliding_window'");
}

TEST(Config, FloatFields) {
  for (const char* f : {"rope_theta", "norm_eps"}) {
    SCOPED_TRACE(f);
    const std::string q = std::string("'") + f + "'";
    EXPECT_ERROR([&](ojson& j) { j.erase(f); }, "missing field " + q);
    EXPECT_ERROR([&](ojson& j) { j[f] = 0.0; }, "field " + q + " (0.0) must be > 0");
    EXPECT_ERROR([&](ojson& j) { j[f] = -1e-5; }, "must be > 0");
    EXPECT_ERROR([&](ojson& j) { j[f] = "1e-5"; },
                 "field " + q + " must be a number, found \"1e-5\"");
  }
  // JSON has no inf or NaN; an overflowing literal is a JSON error, not a silent inf.
  const std::string text = test::golden_config_text();
  std::string big = text;
  big.replace(big.find("10000.0"), 7, "1e999");
  EXPECT_NE(error_of_text(big).find("invalid JSON"), std::string::npos) << error_of_text(big);
}

TEST(Config, SpecialTokens) {
  EXPECT_ERROR([](ojson& j) { j.erase("special_tokens"); }, "missing field 'special_tokens'");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"] = ojson::array(); },
               "field 'special_tokens' must be an object");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"].erase("eos"); },
               "field 'special_tokens' has no 'eos' (required)");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"]["id"] = 512; },
               "field 'special_tokens.eos.id' (512) must be < 'vocab_size' (512)");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"]["id"] = -1; },
               "field 'special_tokens.eos.id' (-1) must be >= 0");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"].erase("piece"); },
               "missing field 'special_tokens.eos.piece'");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"]["piece"] = ""; },
               "field 'special_tokens.eos.piece' must not be empty");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"]["piece"] = "<{eos}>"; },
               "must not contain '{' or '}'");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"]["weight"] = 1; },
               "unknown field 'special_tokens.eos.weight'");
  EXPECT_ERROR([](ojson& j) { j["special_tokens"]["eos"] = 2; },
               "field 'special_tokens.eos' must be {\"id\"");
  EXPECT_ERROR(
      [](ojson& j) {
        j["special_tokens"]["end"] = {{"id", 99}, {"piece", "</s>"}};
      },
      "special tokens 'eos' and 'end' share the piece \"</s>\" but not the id");
  EXPECT_ERROR(
      [](ojson& j) {
        j["special_tokens"]["end"] = {{"id", 2}, {"piece", "<end>"}};
      },
      "special tokens 'eos' and 'end' share the id 2 but not the piece");
  // The same token under two roles is allowed.
  EXPECT_EQ(error_of([](ojson& j) {
              j["special_tokens"]["end"] = {{"id", 2}, {"piece", "</s>"}};
            }),
            "");
}

TEST(Config, Templates) {
  EXPECT_ERROR([](ojson& j) { j.erase("templates"); }, "missing field 'templates'");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = 5; },
               "field 'templates.question' must be a string, found 5");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "<|question|>{question<|answer|>"; },
               "template 'question': placeholder at offset 12 must be {name}");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "<|question|>{question"; },
               "template 'question': '{' at offset 12 is never closed");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "<|question|>question}"; },
               "template 'question': '}' at offset 20 has no '{'");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "{}"; },
               "empty placeholder '{}' at offset 0");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "{a{b}}"; }, "must be {name}");
  EXPECT_ERROR([](ojson& j) { j["templates"]["question"] = "{the question}"; }, "must be {name}");
  EXPECT_EQ(error_of([](ojson& j) { j["templates"]["x"] = "plain text, {a_1}{B2} no specials"; }),
            "");
}

TEST(Config, DeepNestingIsRefusedNotCrashed) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  const std::string text = test::golden_config_text();
  std::string t = text;
  t.insert(t.rfind('}'), ", \"training\": " + deep);  // a second "training" also collides
  const std::string msg = error_of_text(t);
  EXPECT_NE(msg.find("nested deeper than 64"), std::string::npos) << msg;
}

TEST(Config, LoadFromFile) {
  test::temp_dir dir("config_load_from_file");
  const auto p = dir.write("config.json", test::golden_config_text());
  auto r = load_model_config(p);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->dim, 64);

  auto missing = load_model_config(dir.path() / "nope.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("nope.json"), std::string::npos) << missing.message();

  auto is_dir = load_model_config(dir.path());
  ASSERT_FALSE(is_dir);
  EXPECT_NE(is_dir.message().find("is a directory"), std::string::npos) << is_dir.message();

  const auto bad =
      dir.write("bad.json", test::golden_config_text([](ojson& j) { j["n_kv_heads"] = 3; }));
  auto r2 = load_model_config(bad);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.message().rfind(
                bad.string() + ": field 'n_heads' (4) must be divisible by 'n_kv_heads' (3)", 0),
            0u)
      << r2.message();
}

}  // namespace
}  // namespace tome
