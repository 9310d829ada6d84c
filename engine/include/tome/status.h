// tome::status and tome::result<T>: errors as values at every library boundary.
// A status is ok or carries one human-readable message that names the file (or object) and the
// problem. No exceptions cross the public API; no exit() or abort() on bad input.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tome {

class status {
 public:
  status() = default;
  static status ok_status() { return status(); }
  static status error(std::string message) {
    status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& message() const { return message_; }
  // Prefixes the message with context ("model.safetensors: " + message).
  status with_context(const std::string& context) const {
    return ok_ ? *this : error(context + ": " + message_);
  }

 private:
  bool ok_ = true;
  std::string message_;
};

inline status error(std::string message) { return status::error(std::move(message)); }

// result<T>: a T or an error status (C++23's std::expected, reduced to what Tome needs).
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  result(status s) : v_(std::move(s)) {}     // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  status error_status() const { return ok() ? status() : std::get<status>(v_); }
  const std::string& message() const {
    static const std::string empty;
    return ok() ? empty : std::get<status>(v_).message();
  }

 private:
  std::variant<T, status> v_;
};

}  // namespace tome

// Propagates a failed status from an expression returning tome::status.
#define TOME_TRY(expr)                      \
  do {                                      \
    ::tome::status tome_try_s_ = (expr);    \
    if (!tome_try_s_.ok()) return tome_try_s_; \
  } while (0)
