// UTF-8 decoding and the Unicode character classes the tokenizer needs (through ICU).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace alisa::unicode {

// Byte offset of the first ill-formed UTF-8 sequence in `text` (overlong forms, surrogates and
// code points above U+10FFFF count as ill-formed), or nullopt when all of it is valid.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// Decodes the code point starting at `text[pos]` and advances `pos` past it. `text` must be
// valid UTF-8 (see find_invalid_utf8).
char32_t next_code_point(std::string_view text, size_t& pos);

void append_utf8(char32_t code_point, std::string& out);

// The code points of valid UTF-8 `text`, and the byte offset where each starts (plus, last,
// text.size()).
struct CodePoints {
  std::vector<char32_t> chars;
  std::vector<size_t> offsets;
};
CodePoints decode_utf8(std::string_view text);

// The code point that ends just before byte `pos` (> 0) of valid UTF-8 `text`.
char32_t code_point_before(std::string_view text, size_t pos);

// Where the run of whitespace that ends `text` starts (text.size() when there is none).
size_t trailing_whitespace_start(std::string_view text);
// Where the run of whitespace that starts `text` ends (0 when there is none).
size_t leading_whitespace_end(std::string_view text);

// `bytes` as UTF-8, each maximal ill-formed subsequence replaced by U+FFFD: the same as Rust's
// String::from_utf8_lossy, which Hugging Face decoders use.
std::string utf8_lossy(std::string_view bytes);

bool is_letter(char32_t c);      // \p{L}: general categories Lu, Ll, Lt, Lm, Lo
bool is_number(char32_t c);      // \p{N}: general categories Nd, Nl, No
bool is_whitespace(char32_t c);  // \s: the White_Space property
// \w of Rust's regex crate: Alphabetic, marks, decimal digits, connector punctuation,
// Join_Control.
bool is_word_character(char32_t c);

// The general categories a short name stands for ("L", "Lu", "LC", "M", "N", "Nd", "P", "S",
// "Z", "C", ... as \p{..} writes them), as a mask of general_category_bit values; nullopt for any
// other name.
std::optional<uint32_t> general_category_mask(std::string_view name);
uint32_t general_category_bit(char32_t c);

// Unicode simple case folding, as case-insensitive matching compares characters.
char32_t fold_case(char32_t c);
// c, its simple folding, lowercase, uppercase and titlecase (some may repeat).
std::array<char32_t, 5> case_variants(char32_t c);
// The full case foldings longer than one character, each with the character it folds ("ss" for
// U+00DF, "ff" for U+FB00, ...).
const std::vector<std::pair<char32_t, std::u32string>>& multi_character_folds();

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// `text` (valid UTF-8) in the given Unicode normalization form.
std::string normalize(std::string_view text, NormalForm form);

}  // namespace alisa::unicode
