// Helpers of the tokenizer tests: tokenizers from JSON written on the fly, error messages.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/base/common.h"
#include "runtime/text/tokenizer.h"
#include "tests/test_support.h"

namespace alisa::test {

inline Tokenizer load_json(const ScratchDir& dir, const nlohmann::json& json) {
  const auto path = dir / "tokenizer.json";
  write_text(path, json.dump());
  return Tokenizer::load(path);
}

// The alisa::Error message `action` throws, or a note that it threw none.
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no alisa::Error thrown)";
}

inline std::string load_error(const nlohmann::json& json) {
  ScratchDir dir;
  return error_of([&] { load_json(dir, json); });
}

}  // namespace alisa::test
