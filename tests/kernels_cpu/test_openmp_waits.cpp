// kernels_cpu/openmp/passive_waits.h: libgomp, which reads its environment once while it loads,
// saw the passive waits this binary's link order promises.
#include <omp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "kernels_cpu/openmp/passive_waits.h"
#include "tests/test_support.h"

namespace alisa::test {
namespace {

// What libgomp reports of the settings it read at load (as OMP_DISPLAY_ENV=VERBOSE prints them).
std::string openmp_settings() {
  ScratchDir dir;
  const std::string path = (dir.path() / "stderr").string();
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  REQUIRE(std::freopen(path.c_str(), "w", stderr) != nullptr);
  omp_display_env(1);
  std::fflush(stderr);
  REQUIRE(dup2(saved, STDERR_FILENO) >= 0);
  close(saved);
  return read_text(path);
}

}  // namespace

TEST_CASE("OpenMP's idle threads sleep at once unless the environment chose", "[threads]") {
  const std::string settings = openmp_settings();
  INFO(settings);
  if (alisa_openmp_waits_passive_by_default() == 0) {
    WARN("OMP_WAIT_POLICY or GOMP_SPINCOUNT was set: the environment's choice stands");
    const bool chosen =
        std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr;
    CHECK(chosen);
    return;
  }
  CHECK_THAT(settings, Catch::Contains("GOMP_SPINCOUNT = '0'"));
  // Still set here: only main() and the Python module give the environment back.
  CHECK(std::string(std::getenv("OMP_WAIT_POLICY")) == "PASSIVE");
}

}  // namespace alisa::test
