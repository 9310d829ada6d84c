// Small public helpers of the engine API: version and enum names.
#include "tome/engine.h"

namespace tome {

const char* version_string() { return TOME_VERSION; }

const char* to_string(backend_kind kind) {
  switch (kind) {
    case backend_kind::automatic: return "auto";
    case backend_kind::cpu: return "cpu";
    case backend_kind::cuda: return "cuda";
  }
  return "?";
}

const char* to_string(stop_reason reason) {
  switch (reason) {
    case stop_reason::eos: return "eos";
    case stop_reason::stop_string: return "stop string";
    case stop_reason::max_tokens: return "max tokens";
    case stop_reason::cancelled: return "cancelled";
    case stop_reason::callback: return "stopped by caller";
  }
  return "?";
}

}  // namespace tome
