// What every fuzz target shares: the scratch folder for parsers that read a path, and the one
// outcome a bad input may have besides success (alisa::Error; anything else escapes and is a
// finding: a crash, an InternalError, a sanitizer report).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "runtime/base/common.h"

namespace alisa::fuzz {

// A folder of this process's own (pid in its name, in /dev/shm where there is one), made once
// and removed at exit.
const std::filesystem::path& scratch_dir();

// Writes `bytes` to scratch_dir() / name and returns the path.
std::filesystem::path write_scratch(const std::string& name, std::string_view bytes);

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `parse`; an alisa::Error is the expected answer to a bad input and is dropped.
template <typename Parse>
void expect_ok_or_error(Parse&& parse) {
  try {
    parse();
  } catch (const alisa::Error&) {
  }
}

}  // namespace alisa::fuzz
