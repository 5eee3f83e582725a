// Job files: texts to tokenize, forward-pass inputs (JSON) and JSON Lines out. Batch jobs'
// prompts are job_requests.h's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace alisa {

// {"text": ...} lines of a tokenize job.
std::vector<std::string> read_texts(const std::filesystem::path& path);

// A forward job: {"input_ids": [[..]], "attention_mask": [[..]]} (mask optional: all ones).
struct ForwardInput {
  std::vector<int32_t> input_ids;       // [batch, seq_len]
  std::vector<uint8_t> attention_mask;  // [batch, seq_len]
  int64_t batch = 0;
  int64_t seq_len = 0;
};
ForwardInput read_forward_input(const std::filesystem::path& path);

// Writes one JSON object per line to a file, or to stdout when the path is empty or "-".
class JsonlWriter {
 public:
  explicit JsonlWriter(const std::filesystem::path& path);
  void write(const nlohmann::json& record);
  void close();  // flushes; throws alisa::Error naming the file on a write failure

 private:
  std::filesystem::path path_;
  std::unique_ptr<std::ofstream> file_;
  std::ostream* out_;
};

}  // namespace alisa
