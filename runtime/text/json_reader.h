// Reading tokenizer.json's JSON: every problem becomes an alisa::Error naming the file and the
// key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "runtime/base/common.h"

namespace alisa::text {

using Json = nlohmann::json;

class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw Error(str("tokenizer file '", file_, "': key '", key, "': ", problem));
  }

  static std::string join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : str(path, ".", key);
  }

  // nullptr when the key is absent or null.
  const Json* find(const Json& object, std::string_view path, const char* key) const {
    if (!object.is_object()) fail(path, "expected an object");
    const auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }

  const Json& require(const Json& object, std::string_view path, const char* key) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) fail(join(path, key), "missing");
    return *value;
  }

  const Json& require_object(const Json& object, std::string_view path, const char* key) const {
    const Json& value = require(object, path, key);
    if (!value.is_object()) fail(join(path, key), "expected an object");
    return value;
  }

  const Json& require_array(const Json& object, std::string_view path, const char* key) const {
    const Json& value = require(object, path, key);
    if (!value.is_array()) fail(join(path, key), "expected an array");
    return value;
  }

  std::string string_value(const Json& value, std::string_view path) const {
    if (!value.is_string()) fail(path, "expected a string");
    return value.get<std::string>();
  }

  std::string require_string(const Json& object, std::string_view path, const char* key) const {
    return string_value(require(object, path, key), join(path, key));
  }

  std::optional<std::string> optional_string(const Json& object, std::string_view path,
                                             const char* key) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) return std::nullopt;
    return string_value(*value, join(path, key));
  }

  bool bool_or(const Json& object, std::string_view path, const char* key, bool fallback) const {
    const Json* value = find(object, path, key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail(join(path, key), "expected true or false");
    return value->get<bool>();
  }

  bool require_bool(const Json& object, std::string_view path, const char* key) const {
    require(object, path, key);
    return bool_or(object, path, key, false);
  }

  // A non-negative integer.
  uint64_t require_count(const Json& object, std::string_view path, const char* key) const {
    const Json& value = require(object, path, key);
    if (!value.is_number_integer() || value.get<int64_t>() < 0) {
      fail(join(path, key), "expected a non-negative integer");
    }
    return value.get<uint64_t>();
  }

  // A string of exactly one character (a Rust `char`), as UTF-8.
  std::string require_character(const Json& object, std::string_view path, const char* key) const {
    std::string text = require_string(object, path, key);
    const auto lead = text.empty() ? 0u : static_cast<unsigned char>(text[0]);
    const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (text.empty() || text.size() != length) fail(join(path, key), "expected one character");
    return text;
  }

  int32_t id_value(const Json& value, std::string_view path) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      fail(path, "expected a token id (an integer from 0 to 2^31-1)");
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }

  std::string component_type(const Json& component, std::string_view path) const {
    return require_string(component, path, "type");
  }

 private:
  std::string file_;
};

inline std::string at_index(std::string_view path, size_t index) {
  return str(path, "[", index, "]");
}

}  // namespace alisa::text
