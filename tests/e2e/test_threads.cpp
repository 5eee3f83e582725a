// The alisa binary's OpenMP waits (kernels_cpu/openmp/passive_waits.h), as libgomp reports what it
// read while loading (OMP_DISPLAY_ENV=VERBOSE): passive unless the user's environment chose.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>

#include "tests/test_support.h"

namespace alisa::test {
namespace {

// Sets (or with nullopt, unsets) an environment variable for the children this test starts, and
// puts it back after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string alisa_openmp_settings() {
  std::string output;
  const ScopedEnv display("OMP_DISPLAY_ENV", "VERBOSE");
  REQUIRE(run_alisa("--version", &output) == 0);
  return output;
}

}  // namespace

TEST_CASE("alisa's OpenMP threads wait passively unless the environment chose", "[e2e][threads]") {
  const ScopedEnv spin_count("GOMP_SPINCOUNT", std::nullopt);
  {
    const ScopedEnv policy("OMP_WAIT_POLICY", std::nullopt);
    const std::string settings = alisa_openmp_settings();
    INFO(settings);
    CHECK_THAT(settings, Catch::Contains("GOMP_SPINCOUNT = '0'"));
  }
  {
    const ScopedEnv policy("OMP_WAIT_POLICY", "ACTIVE");
    const std::string settings = alisa_openmp_settings();
    INFO(settings);
    CHECK_THAT(settings, Catch::Contains("OMP_WAIT_POLICY = 'ACTIVE'"));
    CHECK_THAT(settings, !Catch::Contains("GOMP_SPINCOUNT = '0'"));
  }
}

}  // namespace alisa::test
