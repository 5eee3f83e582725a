#include "runtime/jobs/length_samples.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/base/common.h"

namespace alisa {
namespace {

int64_t positive_integer(const nlohmann::json& line, const char* key, const std::string& where) {
  const auto it = line.find(key);
  ALISA_CHECK(it != line.end(), where, ": no '", key, "'");
  ALISA_CHECK(it->is_number_integer() && it->get<int64_t>() >= 1, where, ": '", key,
              "' must be an integer of at least 1, got ", it->dump());
  return it->get<int64_t>();
}

}  // namespace

std::vector<SequenceLengths> read_length_samples(const std::filesystem::path& path) {
  std::ifstream in(path);
  ALISA_CHECK(in.good(), "workload file '", path.string(), "': cannot open it");
  std::vector<SequenceLengths> out;
  std::string text;
  for (int64_t number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = str("workload file '", path.string(), "' line ", number);
    nlohmann::json line;
    try {
      line = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw Error(str(where, ": not JSON (", e.what(), ")"));
    }
    ALISA_CHECK(line.is_object(), where, ": expected an object");
    if (line.contains("prompt_ids")) {
      const nlohmann::json& ids = line["prompt_ids"];
      ALISA_CHECK(ids.is_array() && !ids.empty(), where,
                  ": 'prompt_ids' must be a list of token ids");
      out.push_back({.prompt_len = static_cast<int64_t>(ids.size()),
                     .gen_len = positive_integer(line, "max_tokens", where)});
    } else {
      ALISA_CHECK(!line.contains("prompt"), where,
                  ": a text prompt's length needs the tokenizer; give {\"prompt_len\": N, "
                  "\"gen_len\": N} or the prompt as prompt_ids");
      out.push_back({.prompt_len = positive_integer(line, "prompt_len", where),
                     .gen_len = positive_integer(line, "gen_len", where)});
    }
  }
  ALISA_CHECK(!in.bad(), "workload file '", path.string(), "': read error");
  ALISA_CHECK(!out.empty(), "workload file '", path.string(), "': no sequences");
  return out;
}

}  // namespace alisa
