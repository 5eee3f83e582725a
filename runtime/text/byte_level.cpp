#include "runtime/text/byte_level.h"

#include <array>
#include <cstdint>

#include "runtime/text/unicode_classes.h"

namespace alisa::byte_level {
namespace {

// Every mapped character is below U+0144: printable Latin-1 bytes map to themselves, the other
// bytes to U+0100 + n in byte order.
constexpr char32_t kMappedLimit = 0x144;

struct ByteTables {
  std::array<std::string, 256> mapped;           // byte -> UTF-8 of its character
  std::array<int16_t, kMappedLimit> unmapped{};  // character -> byte, or -1

  ByteTables() {
    unmapped.fill(-1);
    char32_t next_extra = 0x100;
    for (unsigned value = 0; value < 256; ++value) {
      const bool printable = (value >= '!' && value <= '~') || (value >= 0xA1 && value <= 0xAC) ||
                             (value >= 0xAE && value <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(value) : next_extra++;
      unicode::append_utf8(c, mapped[value]);
      unmapped[c] = static_cast<int16_t>(value);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables instance;
  return instance;
}

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t c) {
  if (unicode::is_whitespace(c)) return CharClass::kSpace;
  if (unicode::is_letter(c)) return CharClass::kLetter;
  if (unicode::is_number(c)) return CharClass::kNumber;
  return CharClass::kOther;
}

// Length in code points of 's 't 're 've 'm 'll 'd at `i`, or 0.
size_t contraction_length(const std::vector<char32_t>& chars, size_t i) {
  const size_t n = chars.size();
  if (chars[i] != U'\'' || i + 1 >= n) return 0;
  const char32_t first = chars[i + 1];
  if (first == U's' || first == U't' || first == U'm' || first == U'd') return 2;
  if (i + 2 >= n) return 0;
  const char32_t second = chars[i + 2];
  if ((first == U'r' && second == U'e') || (first == U'v' && second == U'e') ||
      (first == U'l' && second == U'l')) {
    return 3;
  }
  return 0;
}

// End (exclusive) of ` ?<cls>+` matched at `i`, or `i` when it does not match.
size_t run_with_optional_space(const std::vector<char32_t>& chars,
                               const std::vector<CharClass>& classes, size_t i, CharClass cls) {
  const size_t n = chars.size();
  size_t j = chars[i] == U' ' ? i + 1 : i;
  if (j >= n || classes[j] != cls) return i;
  while (j < n && classes[j] == cls) ++j;
  return j;
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view text) {
  const auto [chars, offsets] = unicode::decode_utf8(text);
  std::vector<CharClass> classes(chars.size());
  for (size_t i = 0; i < chars.size(); ++i) classes[i] = classify(chars[i]);

  // The alternatives are tried in the pattern's order at each position (a backtracking engine
  // takes the first that matches); some alternative always matches, so pieces are contiguous.
  std::vector<std::string_view> words;
  const size_t n = chars.size();
  size_t i = 0;
  while (i < n) {
    size_t end = i + contraction_length(chars, i);
    for (CharClass cls : {CharClass::kLetter, CharClass::kNumber, CharClass::kOther}) {
      if (end != i) break;
      end = run_with_optional_space(chars, classes, i, cls);
    }
    if (end == i) {
      // chars[i] is whitespace. \s+(?!\S) backs off one character when the run is followed by
      // a non-space, unless the run is a single character: then plain \s+ takes it.
      size_t run_end = i;
      while (run_end < n && classes[run_end] == CharClass::kSpace) ++run_end;
      end = (run_end < n && run_end - i >= 2) ? run_end - 1 : run_end;
    }
    words.push_back(text.substr(offsets[i], offsets[end] - offsets[i]));
    i = end;
  }
  return words;
}

void append_mapped(std::string_view bytes, std::string& out) {
  const ByteTables& t = tables();
  for (char byte : bytes) out += t.mapped[static_cast<unsigned char>(byte)];
}

std::string_view mapped_byte(unsigned char value) {
  return tables().mapped[value];
}

bool append_unmapped(std::string_view token, std::string& out) {
  const ByteTables& t = tables();
  const size_t original_size = out.size();
  for (size_t pos = 0; pos < token.size();) {
    const char32_t c = unicode::next_code_point(token, pos);
    if (c >= kMappedLimit || t.unmapped[c] < 0) {
      out.resize(original_size);
      return false;
    }
    out += static_cast<char>(t.unmapped[c]);
  }
  return true;
}

}  // namespace alisa::byte_level
