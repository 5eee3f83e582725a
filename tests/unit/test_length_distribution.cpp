#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/length_distribution.h"
#include "policy/workload_spec.h"
#include "runtime/base/common.h"

namespace alisa {
namespace {

// The value below which a share q of the sorted draws lie.
int64_t quantile(std::vector<int64_t> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1))];
}

void require_refused(const std::string& text, const std::string& expected) {
  INFO(text);
  try {
    parse_length_distribution(text, "--gen-len-dist");
    FAIL("accepted");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_THAT(message,
               Catch::Contains("--gen-len-dist '" + text + "'") && Catch::Contains(expected));
  }
}

}  // namespace

TEST_CASE("length distributions: the texts parse and read back", "[length_distribution]") {
  const LengthDistribution fixed = parse_length_distribution("128", "x");
  CHECK(fixed.fixed());
  CHECK(fixed.min == 128);
  CHECK(fixed.max == 128);
  const LengthDistribution uniform = parse_length_distribution("uniform:min=64,max=512", "x");
  CHECK(uniform.kind == LengthDistribution::Kind::kUniform);
  CHECK(uniform.min == 64);
  CHECK(uniform.max == 512);
  const LengthDistribution log = parse_length_distribution("lognormal:median=128,max=512", "x");
  CHECK(log.kind == LengthDistribution::Kind::kLognormal);
  CHECK(log.median == 128);
  CHECK(log.max == 512);
  CHECK(log.min == 1);
  CHECK(log.sigma == kDefaultLognormalSigma);
  const LengthDistribution full =
      parse_length_distribution("lognormal:min=8,sigma=0.5,median=100.5,max=300", "x");
  CHECK(full.min == 8);
  CHECK(full.sigma == 0.5);
  CHECK(full.median == 100.5);
  for (const LengthDistribution& d : {fixed, uniform, log, full}) {
    const LengthDistribution back = parse_length_distribution(length_distribution_text(d), "x");
    CHECK(back.kind == d.kind);
    CHECK(back.min == d.min);
    CHECK(back.max == d.max);
    CHECK(back.median == d.median);
    CHECK(back.sigma == d.sigma);
  }
}

TEST_CASE("length distributions: bad texts are refused, naming the text", "[length_distribution]") {
  require_refused("", "expected N");
  require_refused("0", "at least 1");
  require_refused("-3", "expected N");
  require_refused("12x", "expected N");
  require_refused("normal:mean=3", "unknown distribution 'normal'");
  require_refused("uniform:min=5", "needs min and max");
  require_refused("uniform:min=9,max=3", "min is more than max");
  require_refused("uniform:min=0,max=3", "min must be at least 1");
  require_refused("uniform:min=1,max=5,foo=2", "unknown parameter 'foo'");
  require_refused("uniform:min=1,min=2,max=5", "'min' given twice");
  require_refused("uniform:min=1.5,max=5", "'1.5' is not an integer");
  require_refused("uniform:", "expected key=value");
  require_refused("lognormal:median=128", "needs median and max");
  require_refused("lognormal:median=600,max=512", "the median must lie in [min, max]");
  require_refused("lognormal:median=128,max=512,sigma=0", "sigma must be positive");
  require_refused("lognormal:median=x,max=512", "'x' is not a number");
  require_refused("lognormal:median=nan,max=512", "is not a number");
}

TEST_CASE("length distributions: draws are seeded and pinned", "[length_distribution]") {
  const LengthDistribution uniform = parse_length_distribution("uniform:min=64,max=512", "x");
  const LengthDistribution log = parse_length_distribution("lognormal:median=128,max=512", "x");
  for (const LengthDistribution& d : {uniform, log}) {
    const std::vector<int64_t> a = draw_lengths(d, 1000, 7);
    CHECK(a == draw_lengths(d, 1000, 7));
    CHECK(a != draw_lengths(d, 1000, 8));
    // A shorter draw is the longer one's start.
    const std::vector<int64_t> start = draw_lengths(d, 10, 7);
    CHECK(std::equal(start.begin(), start.end(), a.begin()));
    for (const int64_t x : a) {
      CHECK(x >= d.min);
      CHECK(x <= d.max);
    }
  }
  // mt19937_64 is fixed by the standard and the integers and normals are computed here, so the
  // draws are the same with every standard library: these are seed 42's.
  CHECK(draw_lengths(uniform, 6, 42) == std::vector<int64_t>{266, 392, 438, 177, 87, 199});
  CHECK(draw_lengths(log, 6, 42) == std::vector<int64_t>{44, 382, 512, 51, 69, 109});
  CHECK(draw_lengths(parse_length_distribution("77", "x"), 3, 1) ==
        std::vector<int64_t>{77, 77, 77});
  CHECK(draw_lengths(uniform, 0, 1).empty());
}

TEST_CASE("length distributions: 100k draws have the analytic quantiles", "[length_distribution]") {
  constexpr int64_t n = 100000;
  const std::vector<int64_t> uniform =
      draw_lengths(parse_length_distribution("uniform:min=64,max=512", "x"), n, 3);
  for (const double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
    INFO("uniform quantile " << q);
    CHECK(std::abs(static_cast<double>(quantile(uniform, q)) - (64 + q * 449)) <= 4);
  }
  CHECK(*std::min_element(uniform.begin(), uniform.end()) == 64);
  CHECK(*std::max_element(uniform.begin(), uniform.end()) == 512);
  // lognormal median 128, sigma 1, clamped to [1, 512]: the quantile q is 128 exp(z_q) below the
  // clamp, and P(Z > ln 4) = 8.28% of the draws are 512.
  const std::vector<int64_t> log =
      draw_lengths(parse_length_distribution("lognormal:median=128,max=512", "x"), n, 3);
  const std::pair<double, double> z[] = {{0.05, -1.6448536}, {0.1, -1.2815516}, {0.25, -0.6744898},
                                         {0.5, 0},           {0.75, 0.6744898}, {0.9, 1.2815516}};
  for (const auto& [q, zq] : z) {
    INFO("lognormal quantile " << q);
    CHECK(static_cast<double>(quantile(log, q)) == Approx(128 * std::exp(zq)).epsilon(0.03));
  }
  const double at_max = static_cast<double>(std::count(log.begin(), log.end(), 512)) / n;
  CHECK(at_max == Approx(0.0828).margin(0.004));
  // sigma 0.5: the spread halves.
  const std::vector<int64_t> narrow =
      draw_lengths(parse_length_distribution("lognormal:median=128,max=4096,sigma=0.5", "x"), n, 3);
  CHECK(static_cast<double>(quantile(narrow, 0.9)) ==
        Approx(128 * std::exp(0.5 * 1.2815516)).epsilon(0.03));
}

TEST_CASE("length distributions: a job's two lengths come from streams of their own",
          "[length_distribution]") {
  const LengthDistribution prompts = parse_length_distribution("uniform:min=64,max=512", "x");
  const LengthDistribution gens = parse_length_distribution("lognormal:median=128,max=512", "x");
  const std::vector<SequenceLengths> job = draw_job_lengths(prompts, gens, 500, 11);
  REQUIRE(job.size() == 500);
  CHECK(job == draw_job_lengths(prompts, gens, 500, 11));
  // Another prompt distribution leaves the generation lengths as they were.
  const std::vector<SequenceLengths> fixed_prompts =
      draw_job_lengths(parse_length_distribution("100", "x"), gens, 500, 11);
  for (size_t i = 0; i < job.size(); ++i) {
    CHECK(fixed_prompts[i].prompt_len == 100);
    CHECK(fixed_prompts[i].gen_len == job[i].gen_len);
  }
  // The two streams are not the same draws.
  int64_t same = 0;
  const std::vector<SequenceLengths> both_uniform = draw_job_lengths(prompts, prompts, 500, 11);
  for (const SequenceLengths& s : both_uniform) same += s.prompt_len == s.gen_len;
  CHECK(same < 10);
  CHECK(longest_lengths(job).prompt_len == 512);
  CHECK(longest_lengths({{3, 9}, {7, 2}}) == SequenceLengths{7, 9});
}

TEST_CASE("workload texts: lengths, distributions and the job's keys", "[length_distribution]") {
  const WorkloadSpec plain = parse_workload_spec("prompt_len=128,gen_len=64", "--workload");
  CHECK_FALSE(plain.is_job());
  CHECK(plain.prompt_len.min == 128);
  CHECK(plain.gen_len.min == 64);
  CHECK(plain.sequences == 0);
  const WorkloadSpec job = parse_workload_spec(
      "prompt_len=uniform:min=64,max=512,gen_len=lognormal:median=128,max=512,sigma=0.8,"
      "sequences=2000,refill=off,seed=5,capacity=1500",
      "--workload");
  CHECK(job.is_job());
  CHECK(job.prompt_len.kind == LengthDistribution::Kind::kUniform);
  CHECK(job.prompt_len.max == 512);
  CHECK(job.gen_len.kind == LengthDistribution::Kind::kLognormal);
  CHECK(job.gen_len.sigma == 0.8);
  CHECK(job.sequences == 2000);
  CHECK(job.refill == false);
  CHECK(job.seed == 5);
  CHECK(job.capacity == 1500);
  CHECK(parse_workload_spec("prompt_len=8,gen_len=4,sequences=3,refill=on", "w").is_job());
  const auto refused = [](const std::string& text, const std::string& expected) {
    INFO(text);
    try {
      parse_workload_spec(text, "--workload");
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(expected));
    }
  };
  refused("gen_len=4", "prompt_len=N");
  refused("prompt_len=8,gen_len=4,batch=3", "unknown key 'batch'");
  refused("prompt_len=8,gen_len=4,min=3", "unknown key 'min'");
  refused("prompt_len=8,prompt_len=9,gen_len=4", "'prompt_len' given twice");
  refused("prompt_len=x,gen_len=4", "prompt_len 'x'");
  refused("prompt_len=uniform:min=1,max=8,gen_len=4", "needs sequences=N");
  refused("prompt_len=8,gen_len=4,sequences=2,refill=yes", "refill is on or off");
  refused("prompt_len=8,gen_len=4,sequences=-2", "'sequences' must be an integer");
  refused("prompt_len=uniform:min=1,gen_len=4,max=8,sequences=2", "unknown key 'max'");
}

}  // namespace alisa
