// parse_json: nlohmann's DOM parser with a callback that tracks keys per open object (duplicates
// are an error, not "last one wins") and the nesting depth. nlohmann's parser and destructor
// are iterative, so deep input cannot overflow the stack; we still refuse depth > 64.
#include "util/json.h"

#include <set>
#include <vector>

namespace tome {

result<json> parse_json(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool too_deep = false;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (depth > k_json_max_depth) too_deep = true;
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() && duplicate.empty() &&
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second) {
          duplicate = parsed.get_ref<const std::string&>();
        }
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      default: break;
    }
    return true;
  };
  try {
    json value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
    if (too_deep)
      return error("JSON nested deeper than " + std::to_string(k_json_max_depth) + " levels");
    if (!duplicate.empty()) return error("duplicate key '" + duplicate + "'");
    return value;
  } catch (const json::exception& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> drop the tag.
    if (!msg.empty() && msg[0] == '[') {
      const size_t close = msg.find("] ");
      if (close != std::string::npos) msg = msg.substr(close + 2);
    }
    return error("invalid JSON: " + msg);
  } catch (const std::exception& e) {
    return error(std::string("cannot parse JSON: ") + e.what());
  } catch (...) {
    return error("cannot parse JSON");
  }
}

std::string describe_json(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) {
    size_t cut = 37;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;  // whole chars
    s = s.substr(0, cut) + "...";
  }
  return s;
}

}  // namespace tome
