// Parsing of human-written quantities in configs and flags.
#pragma once

#include <cstdint>
#include <string>

namespace alisa {

// "14.5GiB", "512 MiB", "2GB", "1048576" -> bytes. Throws alisa::Error naming `what`.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

}  // namespace alisa
