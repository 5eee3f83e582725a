// parse_byte_size: binary and decimal units, optional space, plain byte counts, and errors that
// name the setting and the text.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "runtime/base/common.h"
#include "runtime/base/units.h"

using alisa::parse_byte_size;
using Catch::Contains;

TEST_CASE("parse_byte_size reads binary and decimal units", "[units]") {
  constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  CHECK(parse_byte_size("14.5GiB", "limit") == 14 * kGiB + kGiB / 2);
  CHECK(parse_byte_size("512 MiB", "limit") == 512 * kMiB);
  CHECK(parse_byte_size("2GB", "limit") == 2'000'000'000ull);
  CHECK(parse_byte_size("1024", "limit") == 1024);
  CHECK(parse_byte_size("1048576", "limit") == kMiB);
  CHECK(parse_byte_size("0", "limit") == 0);
  CHECK(parse_byte_size("3B", "limit") == 3);
  CHECK(parse_byte_size("4KiB", "limit") == 4 * kKiB);
  CHECK(parse_byte_size("1.5 KB", "limit") == 1500);
  CHECK(parse_byte_size("7MB", "limit") == 7'000'000ull);
  CHECK(parse_byte_size("1TiB", "limit") == kGiB * 1024);
  CHECK(parse_byte_size("2TB", "limit") == 2'000'000'000'000ull);
  CHECK(parse_byte_size("10000000TB", "limit") == 10'000'000'000'000'000'000ull);  // past 2^63
}

TEST_CASE("parse_byte_size rejects what is not a byte size", "[units]") {
  REQUIRE_THROWS_AS(parse_byte_size("abc", "cpu_memory_limit"), alisa::Error);
  REQUIRE_THROWS_WITH(parse_byte_size("abc", "cpu_memory_limit"), Contains("cpu_memory_limit") &&
                                                                      Contains("'abc'") &&
                                                                      Contains("not a byte size"));
  REQUIRE_THROWS_AS(parse_byte_size("-1GiB", "cpu_memory_limit"), alisa::Error);
  REQUIRE_THROWS_WITH(parse_byte_size("-1GiB", "cpu_memory_limit"),
                      Contains("cpu_memory_limit") && Contains("'-1GiB'"));
  REQUIRE_THROWS_AS(parse_byte_size("5 parsecs", "--cpu-memory-limit"), alisa::Error);
  REQUIRE_THROWS_WITH(
      parse_byte_size("5 parsecs", "--cpu-memory-limit"),
      Contains("--cpu-memory-limit") && Contains("unknown unit 'parsecs'") && Contains("GiB"));
  REQUIRE_THROWS_AS(parse_byte_size("", "limit"), alisa::Error);
  REQUIRE_THROWS_AS(parse_byte_size("inf", "limit"), alisa::Error);
  REQUIRE_THROWS_AS(parse_byte_size("nan", "limit"), alisa::Error);
  REQUIRE_THROWS_AS(parse_byte_size("1gib", "limit"), alisa::Error);  // units are case-sensitive
}

TEST_CASE("parse_byte_size rejects sizes past 2^64 instead of wrapping", "[units]") {
  for (const char* text : {"1e30", "100000000TiB", "20000000TB"}) {
    INFO(text);
    REQUIRE_THROWS_AS(parse_byte_size(text, "cpu_memory_limit"), alisa::Error);
    REQUIRE_THROWS_WITH(parse_byte_size(text, "cpu_memory_limit"),
                        Contains("cpu_memory_limit") && Contains("too large"));
  }
}
