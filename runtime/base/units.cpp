#include "runtime/base/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "runtime/base/common.h"

namespace alisa {

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  ALISA_CHECK(end != begin && std::isfinite(value) && value >= 0, what, ": '", text,
              "' is not a byte size (examples: 14.5GiB, 512MiB, 1073741824)");
  std::string unit(end);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  double scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1024.0;
  else if (unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "TiB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "KB")
    scale = 1e3;
  else if (unit == "MB")
    scale = 1e6;
  else if (unit == "GB")
    scale = 1e9;
  else if (unit == "TB")
    scale = 1e12;
  ALISA_CHECK(scale > 0, what, ": unknown unit '", unit, "' in '", text,
              "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
  // llround is signed: past 2^63 it overflows (1e30 came back as 2^63). Check the range first.
  const double bytes = std::round(value * scale);
  ALISA_CHECK(bytes < 18446744073709551616.0, what, ": '", text,
              "' is too large (at most 2^64 - 1 bytes)");
  return static_cast<uint64_t>(bytes);
}

}  // namespace alisa
