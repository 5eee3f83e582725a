#include "runtime/text/unicode_classes.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <utility>

#include "runtime/base/common.h"

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

void check_icu(UErrorCode status, const char* call) {
  ALISA_ASSERT(U_SUCCESS(status), call, " failed: ", u_errorName(status));
}

// `convert` (an ICU u_strFromUTF8 / u_strToUTF8) of `text` into `capacity` units, cut to what it
// wrote.
template <typename Out, typename In, typename Convert>
Out icu_convert(const In& text, size_t capacity, Convert convert, const char* call) {
  Out out(capacity, typename Out::value_type{});
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  convert(out.data(), static_cast<int32_t>(out.size()), &length, text.data(),
          static_cast<int32_t>(text.size()), &status);
  check_icu(status, call);
  out.resize(static_cast<size_t>(length));
  return out;
}

std::u16string to_utf16(std::string_view text) {
  // UTF-16 never needs more units than UTF-8 bytes.
  return icu_convert<std::u16string>(text, text.size(), u_strFromUTF8, "u_strFromUTF8");
}

std::string to_utf8(const std::u16string& text) {
  // A UTF-16 unit never needs more than 3 bytes.
  return icu_convert<std::string>(text, text.size() * 3, u_strToUTF8, "u_strToUTF8");
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

CodePoints decode_utf8(std::string_view text) {
  CodePoints result;
  result.chars.reserve(text.size());
  result.offsets.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    result.offsets.push_back(pos);
    result.chars.push_back(next_code_point(text, pos));
  }
  result.offsets.push_back(text.size());
  return result;
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

std::optional<uint32_t> general_category_mask(std::string_view name) {
  static const std::pair<std::string_view, uint32_t> kNames[] = {
      {"L", U_GC_L_MASK},   {"LC", U_GC_LC_MASK}, {"Lu", U_GC_LU_MASK}, {"Ll", U_GC_LL_MASK},
      {"Lt", U_GC_LT_MASK}, {"Lm", U_GC_LM_MASK}, {"Lo", U_GC_LO_MASK}, {"M", U_GC_M_MASK},
      {"Mn", U_GC_MN_MASK}, {"Mc", U_GC_MC_MASK}, {"Me", U_GC_ME_MASK}, {"N", U_GC_N_MASK},
      {"Nd", U_GC_ND_MASK}, {"Nl", U_GC_NL_MASK}, {"No", U_GC_NO_MASK}, {"P", U_GC_P_MASK},
      {"Pc", U_GC_PC_MASK}, {"Pd", U_GC_PD_MASK}, {"Ps", U_GC_PS_MASK}, {"Pe", U_GC_PE_MASK},
      {"Pi", U_GC_PI_MASK}, {"Pf", U_GC_PF_MASK}, {"Po", U_GC_PO_MASK}, {"S", U_GC_S_MASK},
      {"Sm", U_GC_SM_MASK}, {"Sc", U_GC_SC_MASK}, {"Sk", U_GC_SK_MASK}, {"So", U_GC_SO_MASK},
      {"Z", U_GC_Z_MASK},   {"Zs", U_GC_ZS_MASK}, {"Zl", U_GC_ZL_MASK}, {"Zp", U_GC_ZP_MASK},
      {"C", U_GC_C_MASK},   {"Cc", U_GC_CC_MASK}, {"Cf", U_GC_CF_MASK}, {"Cs", U_GC_CS_MASK},
      {"Co", U_GC_CO_MASK}, {"Cn", U_GC_CN_MASK},
  };
  for (const auto& [short_name, mask] : kNames) {
    if (short_name == name) return mask;
  }
  return std::nullopt;
}

uint32_t general_category_bit(char32_t c) {
  return category_mask(c);
}

char32_t fold_case(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
  return static_cast<char32_t>(u_foldCase(static_cast<UChar32>(c), U_FOLD_CASE_DEFAULT));
}

std::array<char32_t, 5> case_variants(char32_t c) {
  const auto code_point = static_cast<UChar32>(c);
  return {c, fold_case(c), static_cast<char32_t>(u_tolower(code_point)),
          static_cast<char32_t>(u_toupper(code_point)),
          static_cast<char32_t>(u_totitle(code_point))};
}

const std::vector<std::pair<char32_t, std::u32string>>& multi_character_folds() {
  static const std::vector<std::pair<char32_t, std::u32string>> folds = [] {
    std::vector<std::pair<char32_t, std::u32string>> found;
    // Case mappings stop below U+20000.
    for (char32_t c = 0; c < 0x20000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      if (!u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CHANGES_WHEN_CASEFOLDED)) continue;
      std::string utf8;
      append_utf8(c, utf8);
      const std::u16string source = to_utf16(utf8);
      UChar folded[16];
      UErrorCode status = U_ZERO_ERROR;
      const int32_t length =
          u_strFoldCase(folded, 16, source.data(), static_cast<int32_t>(source.size()),
                        U_FOLD_CASE_DEFAULT, &status);
      check_icu(status, "u_strFoldCase");
      const std::string folded_utf8 = to_utf8(std::u16string(folded, folded + length));
      std::u32string code_points;
      for (size_t pos = 0; pos < folded_utf8.size();) {
        code_points += next_code_point(folded_utf8, pos);
      }
      if (code_points.size() > 1) found.emplace_back(c, std::move(code_points));
    }
    return found;
  }();
  return folds;
}

std::string normalize(std::string_view text, NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* normalizer = nullptr;
  switch (form) {
    case NormalForm::kNfc:
      normalizer = unorm2_getNFCInstance(&status);
      break;
    case NormalForm::kNfd:
      normalizer = unorm2_getNFDInstance(&status);
      break;
    case NormalForm::kNfkc:
      normalizer = unorm2_getNFKCInstance(&status);
      break;
    case NormalForm::kNfkd:
      normalizer = unorm2_getNFKDInstance(&status);
      break;
  }
  check_icu(status, "unorm2_get*Instance");
  const std::u16string source = to_utf16(text);
  std::u16string result(source.size() * 4 + 16, u'\0');
  for (;;) {
    status = U_ZERO_ERROR;
    const int32_t length =
        unorm2_normalize(normalizer, source.data(), static_cast<int32_t>(source.size()),
                         result.data(), static_cast<int32_t>(result.size()), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      result.resize(static_cast<size_t>(length));
      continue;
    }
    check_icu(status, "unorm2_normalize");
    result.resize(static_cast<size_t>(length));
    return to_utf8(result);
  }
}

}  // namespace alisa::unicode
