// GPT-2's byte-level scheme, as Hugging Face's ByteLevel pre-tokenizer and decoder apply it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace alisa::byte_level {

// Splits `text` (valid UTF-8) into the pieces GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matches, in order; the pieces cover all of `text` and point into it.
std::vector<std::string_view> split_words(std::string_view text);

// Appends each byte of `bytes` as the printable character GPT-2 maps it to (UTF-8 encoded).
void append_mapped(std::string_view bytes, std::string& out);

// The UTF-8 of the character byte `value` maps to (e.g. "Ġ" for a space).
std::string_view mapped_byte(unsigned char value);

// Appends the bytes behind the mapped characters of `token` (valid UTF-8) and returns true, or
// returns false, leaving `out` as it was, when some character is not a mapped byte.
bool append_unmapped(std::string_view token, std::string& out);

}  // namespace alisa::byte_level
