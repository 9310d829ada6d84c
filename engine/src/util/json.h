// Strict JSON parsing for model files (config.json, the safetensors header) on top of
// nlohmann::json: exceptions are caught inside, duplicate keys and absurd nesting are refused,
// and errors carry nlohmann's position ("line 3, column 5"). Internal to the engine.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tome/status.h"

namespace tome {

using json = nlohmann::ordered_json;  // keeps the file's key order

inline constexpr int k_json_max_depth = 64;

// Parses a whole JSON text. Error messages have no file name (callers prefix it).
result<json> parse_json(std::string_view text);

// A short description of a value for error messages: scalars as JSON (cut at ~40 characters),
// containers as "an object" / "an array".
std::string describe_json(const json& v);

}  // namespace tome
