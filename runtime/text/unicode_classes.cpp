#include "runtime/text/unicode_classes.h"

#include <unicode/uchar.h>

namespace alisa::unicode {
namespace {

struct Utf8Step {
  size_t length;  // bytes of the well-formed sequence, or of the maximal ill-formed subpart
  bool valid;
};

// Follows the Unicode "maximal subpart" rule (Table 3-7 well-formed byte sequences), which is
// also what Rust's from_utf8_lossy does.
Utf8Step scan_utf8(std::string_view text, size_t pos) {
  const auto byte_at = [&](size_t i) -> unsigned {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0x100u;  // 0x100: past the end
  };
  const unsigned lead = byte_at(pos);
  if (lead < 0x80) return {1, true};
  size_t width = 0;
  unsigned second_lo = 0x80, second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    width = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    width = 3;
    if (lead == 0xE0) second_lo = 0xA0;  // no overlong forms
    if (lead == 0xED) second_hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    width = 4;
    if (lead == 0xF0) second_lo = 0x90;  // no overlong forms
    if (lead == 0xF4) second_hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false};
  }
  const unsigned second = byte_at(pos + 1);
  if (second < second_lo || second > second_hi) return {1, false};
  for (size_t k = 2; k < width; ++k) {
    const unsigned next = byte_at(pos + k);
    if (next < 0x80 || next > 0xBF) return {k, false};
  }
  return {width, true};
}

uint32_t category_mask(char32_t c) {
  return U_GET_GC_MASK(static_cast<UChar32>(c));
}

}  // namespace

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = scan_utf8(text, pos);
    if (!step.valid) return pos;
    pos += step.length;
  }
  return std::nullopt;
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const auto continuation = [&](size_t k) {
    return static_cast<char32_t>(static_cast<unsigned char>(text[pos + k]) & 0x3F);
  };
  char32_t c = 0;
  if (lead < 0x80) {
    c = lead;
    pos += 1;
  } else if (lead < 0xE0) {
    c = (static_cast<char32_t>(lead & 0x1F) << 6) | continuation(1);
    pos += 2;
  } else if (lead < 0xF0) {
    c = (static_cast<char32_t>(lead & 0x0F) << 12) | (continuation(1) << 6) | continuation(2);
    pos += 3;
  } else {
    c = (static_cast<char32_t>(lead & 0x07) << 18) | (continuation(1) << 12) |
        (continuation(2) << 6) | continuation(3);
    pos += 4;
  }
  return c;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

char32_t code_point_before(std::string_view text, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

size_t trailing_whitespace_start(std::string_view text) {
  size_t start = text.size();
  while (start > 0 && is_whitespace(code_point_before(text, start))) {
    --start;
    while ((static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  }
  return start;
}

size_t leading_whitespace_end(std::string_view text) {
  size_t end = 0;
  while (end < text.size()) {
    size_t next = end;
    if (!is_whitespace(next_code_point(text, next))) break;
    end = next;
  }
  return end;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Step step = scan_utf8(bytes, pos);
    if (step.valid) {
      out.append(bytes.substr(pos, step.length));
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
    }
    pos += step.length;
  }
  return out;
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return (category_mask(c) & U_GC_L_MASK) != 0;
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return (category_mask(c) & U_GC_N_MASK) != 0;
}

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool is_word_character(char32_t c) {
  const auto code_point = static_cast<UChar32>(c);
  return u_hasBinaryProperty(code_point, UCHAR_ALPHABETIC) ||
         (category_mask(c) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0 ||
         u_hasBinaryProperty(code_point, UCHAR_JOIN_CONTROL);
}

}  // namespace alisa::unicode
