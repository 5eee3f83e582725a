#include "policy/workload_spec.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <vector>

#include "runtime/base/common.h"

namespace alisa {
namespace {

const std::vector<std::string>& workload_keys() {
  static const std::vector<std::string> keys = {"prompt_len", "gen_len", "sequences",
                                                "refill",     "seed",    "capacity"};
  return keys;
}

// The parameters a distribution's text may carry after its first one.
bool distribution_parameter(const std::string& key) {
  return key == "min" || key == "max" || key == "median" || key == "sigma";
}

}  // namespace

WorkloadSpec parse_workload_spec(const std::string& text, const std::string& what) {
  const std::string expected =
      str(what, ": expected prompt_len=N,gen_len=N[,sequences=N][,refill=on|off][,seed=N]",
          "[,capacity=N] (prompt_len and gen_len each a number, uniform:min=A,max=B or ",
          "lognormal:median=M,max=X[,sigma=S][,min=Y]), got '", text, "'");
  // Items by key; a distribution's parameters join the item before them.
  std::map<std::string, std::string> items;
  std::string current;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    ALISA_CHECK(eq != std::string::npos, expected);
    const std::string key = item.substr(0, eq);
    if (distribution_parameter(key) && (current == "prompt_len" || current == "gen_len") &&
        items[current].find(':') != std::string::npos) {
      items[current] += "," + item;
    } else {
      ALISA_CHECK(
          std::find(workload_keys().begin(), workload_keys().end(), key) != workload_keys().end(),
          expected, " (unknown key '", key, "')");
      ALISA_CHECK(items.emplace(key, item.substr(eq + 1)).second, expected, " ('", key,
                  "' given twice)");
      current = key;
    }
    start = end + 1;
  }
  ALISA_CHECK(items.count("prompt_len") && items.count("gen_len"), expected);
  const auto integer = [&](const std::string& key, int64_t least) {
    const std::string& value = items[key];
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
    ALISA_CHECK(
        ec == std::errc() && end == value.data() + value.size() && !value.empty() && out >= least,
        expected, " ('", key, "' must be an integer of at least ", least, ")");
    return out;
  };
  WorkloadSpec out;
  out.prompt_len = parse_length_distribution(items["prompt_len"], what + " prompt_len");
  out.gen_len = parse_length_distribution(items["gen_len"], what + " gen_len");
  if (items.count("sequences")) out.sequences = integer("sequences", 0);
  if (items.count("seed")) out.seed = static_cast<uint64_t>(integer("seed", 0));
  if (items.count("capacity")) out.capacity = integer("capacity", 2);
  if (items.count("refill")) {
    const std::string& value = items["refill"];
    ALISA_CHECK(value == "on" || value == "off", expected, " (refill is on or off, got '", value,
                "')");
    out.refill = value == "on";
  }
  ALISA_CHECK(!out.is_job() || out.sequences > 0, what, ": a job of uneven lengths (a ",
              "distribution, refill or capacity) needs sequences=N, the sequences to draw, in '",
              text, "'");
  return out;
}

}  // namespace alisa
