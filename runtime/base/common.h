// Shared error handling for every layer of alisa (kernels included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace alisa {

// A problem the user can fix (bad input, bad config, missing file). Its message is one line that
// names the culprit; the CLI prints it and exits 1.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A broken invariant or a failed library call: a bug or a broken machine, not the user's input.
class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

// Builds a message from streamable pieces: alisa::str("layer ", j, " of ", n).
template <typename... Args>
std::string str(Args&&... args) {
  return detail::concat(std::forward<Args>(args)...);
}

// "[2, 7, 64]": a shape for messages.
std::string shape_text(const int64_t* dims, size_t rank);
template <typename Container>
std::string shape_text(const Container& dims) {
  return shape_text(dims.data(), dims.size());
}

// The message of an errno value, e.g. "No space left on device".
std::string errno_text(int error);

// n rounded up to a multiple of `to` (> 0): layouts of slots, files and buffers.
constexpr uint64_t round_up(uint64_t n, uint64_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace alisa

#define ALISA_ASSERT(cond, ...)                                                                  \
  do {                                                                                           \
    if (!(cond))                                                                                 \
      throw ::alisa::InternalError(::alisa::str(__FILE__, ":", __LINE__, ": assertion `", #cond, \
                                                "` failed: ", ##__VA_ARGS__));                   \
  } while (0)

// Throws alisa::Error (user-fixable) when cond is false.
#define ALISA_CHECK(cond, ...)                                    \
  do {                                                            \
    if (!(cond)) throw ::alisa::Error(::alisa::str(__VA_ARGS__)); \
  } while (0)
