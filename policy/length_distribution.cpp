#include "policy/length_distribution.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <numbers>
#include <random>

#include "runtime/base/common.h"

namespace alisa {
namespace {

// What a message shows of the text a distribution was read from.
std::string forms() {
  return "N, uniform:min=A,max=B or lognormal:median=M,max=X[,sigma=S][,min=Y]";
}

int64_t parse_integer(const std::string& text, const std::string& context) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  ALISA_CHECK(ec == std::errc() && end == text.data() + text.size() && !text.empty(), context,
              ": '", text, "' is not an integer");
  return value;
}

double parse_number(const std::string& text, const std::string& context) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  ALISA_CHECK(ec == std::errc() && end == text.data() + text.size() && !text.empty() &&
                  std::isfinite(value),
              context, ": '", text, "' is not a number");
  return value;
}

// "key=value,key=value" into a map; each key once, each one of `allowed`.
std::map<std::string, std::string> parse_parameters(const std::string& text,
                                                    const std::vector<std::string>& allowed,
                                                    const std::string& context) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    ALISA_CHECK(eq != std::string::npos, context, ": expected key=value, got '", item, "'");
    const std::string key = item.substr(0, eq);
    ALISA_CHECK(std::find(allowed.begin(), allowed.end(), key) != allowed.end(), context,
                ": unknown parameter '", key, "'");
    ALISA_CHECK(out.emplace(key, item.substr(eq + 1)).second, context, ": '", key, "' given twice");
    start = end + 1;
  }
  return out;
}

// An integer in [0, range): rejection of the low 2^64 mod range outputs leaves a multiple of
// `range` equally likely values.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t range) {
  const uint64_t reject_below = (0 - range) % range;
  uint64_t u = rng();
  while (u < reject_below) u = rng();
  return u % range;
}

// A double in [0, 1) from the top 53 bits.
double unit_interval(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// A standard normal by Box-Muller (the cosine half; the sine half is not kept, so each draw
// takes two outputs whatever came before).
double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1 - unit_interval(rng);  // (0, 1]: the logarithm is finite
  const double u2 = unit_interval(rng);
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

int64_t draw_one(const LengthDistribution& d, std::mt19937_64& rng) {
  switch (d.kind) {
    case LengthDistribution::Kind::kFixed:
      return d.min;
    case LengthDistribution::Kind::kUniform:
      return d.min +
             static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(d.max - d.min) + 1));
    case LengthDistribution::Kind::kLognormal: {
      const double x = d.median * std::exp(d.sigma * standard_normal(rng));
      if (!(x < static_cast<double>(d.max))) return d.max;
      return std::clamp<int64_t>(std::llround(x), d.min, d.max);
    }
  }
  throw InternalError("unknown length distribution");
}

// SplitMix64's finaliser: independent-looking seeds for the streams of one job seed.
uint64_t mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  return mix(seed + stream * 0x9e3779b97f4a7c15ULL);
}

}  // namespace

LengthDistribution parse_length_distribution(const std::string& text, const std::string& what) {
  const std::string context = str(what, " '", text, "'");
  LengthDistribution d;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    ALISA_CHECK(!text.empty() && text.find_first_not_of("0123456789") == std::string::npos, context,
                ": expected ", forms());
    d.min = d.max = parse_integer(text, context);
    ALISA_CHECK(d.min >= 1, context, ": a length must be at least 1");
    return d;
  }
  const std::string kind = text.substr(0, colon);
  const std::string parameters = text.substr(colon + 1);
  if (kind == "uniform") {
    d.kind = LengthDistribution::Kind::kUniform;
    auto p = parse_parameters(parameters, {"min", "max"}, context);
    ALISA_CHECK(p.count("min") && p.count("max"), context, ": uniform needs min and max");
    d.min = parse_integer(p["min"], context);
    d.max = parse_integer(p["max"], context);
  } else if (kind == "lognormal") {
    d.kind = LengthDistribution::Kind::kLognormal;
    auto p = parse_parameters(parameters, {"median", "max", "sigma", "min"}, context);
    ALISA_CHECK(p.count("median") && p.count("max"), context, ": lognormal needs median and max");
    d.median = parse_number(p["median"], context);
    d.max = parse_integer(p["max"], context);
    if (p.count("min")) d.min = parse_integer(p["min"], context);
    d.sigma = p.count("sigma") ? parse_number(p["sigma"], context) : kDefaultLognormalSigma;
    ALISA_CHECK(d.sigma > 0, context, ": sigma must be positive");
    ALISA_CHECK(d.median >= static_cast<double>(d.min) && d.median <= static_cast<double>(d.max),
                context, ": the median must lie in [min, max] = [", d.min, ", ", d.max, "]");
  } else {
    throw Error(str(context, ": unknown distribution '", kind, "' (expected ", forms(), ")"));
  }
  ALISA_CHECK(d.min >= 1, context, ": min must be at least 1");
  ALISA_CHECK(d.min <= d.max, context, ": min is more than max");
  return d;
}

std::string length_distribution_text(const LengthDistribution& d) {
  switch (d.kind) {
    case LengthDistribution::Kind::kFixed:
      return std::to_string(d.min);
    case LengthDistribution::Kind::kUniform:
      return str("uniform:min=", d.min, ",max=", d.max);
    case LengthDistribution::Kind::kLognormal: {
      // Shortest round trip of the doubles.
      const auto number = [](double x) {
        char text[32];
        const auto [end, ec] = std::to_chars(text, text + sizeof text, x);
        return std::string(text, end);
      };
      return str("lognormal:median=", number(d.median), ",max=", d.max, ",sigma=", number(d.sigma),
                 ",min=", d.min);
    }
  }
  throw InternalError("unknown length distribution");
}

std::vector<int64_t> draw_lengths(const LengthDistribution& d, int64_t n, uint64_t seed) {
  ALISA_CHECK(n >= 0, "draw_lengths: n must not be negative, got ", n);
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t& x : out) x = draw_one(d, rng);
  return out;
}

std::vector<SequenceLengths> draw_job_lengths(const LengthDistribution& prompt_len,
                                              const LengthDistribution& gen_len, int64_t n,
                                              uint64_t seed) {
  const std::vector<int64_t> prompts = draw_lengths(prompt_len, n, stream_seed(seed, 1));
  const std::vector<int64_t> gens = draw_lengths(gen_len, n, stream_seed(seed, 2));
  std::vector<SequenceLengths> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) out[i] = {prompts[i], gens[i]};
  return out;
}

SequenceLengths longest_lengths(const std::vector<SequenceLengths>& job) {
  SequenceLengths out;
  for (const SequenceLengths& s : job) {
    out.prompt_len = std::max(out.prompt_len, s.prompt_len);
    out.gen_len = std::max(out.gen_len, s.gen_len);
  }
  return out;
}

}  // namespace alisa
