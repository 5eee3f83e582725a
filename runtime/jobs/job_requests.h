// The lines of a batch job: alisa's own {"id", "prompt" | "prompt_ids", settings...} or OpenAI's
// Batch format ({"custom_id", "method", "url", "body"}), detected per file from its first
// JSON object.
// A bad line is not an exception: it becomes a JobLine with an error, and the job goes on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace alisa {

enum class JobFormat { kAlisa, kOpenAi };

// What a line sets for itself; unset fields take the job's defaults (its flags).
struct RequestSettings {
  std::optional<int64_t> max_tokens;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;    // matched on the decoded text
  std::optional<int32_t> logprobs;  // the top N per token (0: the chosen token's only)
};

struct JobLine {
  int64_t line = 0;  // 1-based line in the file
  // alisa's "id" (the line number when absent or null) or OpenAI's "custom_id"; null when
  // unreadable.
  nlohmann::json id;
  std::optional<std::string> text;          // "prompt"
  std::optional<std::vector<int32_t>> ids;  // "prompt_ids", or OpenAI's prompt as token ids
  RequestSettings settings;
  std::string model;  // OpenAI's body.model, echoed in the response
  // Non-empty: the line is bad. error_code is OpenAI-style (invalid_json, invalid_request,
  // unsupported_url, duplicate_id, prompt_too_long, ...), error the one-line reason.
  std::string error_code;
  std::string error;
  bool ok() const { return error_code.empty(); }
};

// One line's text (not blank) as a JobLine of the given format.
JobLine parse_job_line(const std::string& text, int64_t line, JobFormat format);

// The id's text as output records carry it, hashed: the key of resume and duplicate checks.
uint64_t id_hash(const nlohmann::json& id);

// --shard K/N: lines K, K + N, K + 2N, ... (1-based K).
struct Shard {
  int64_t index = 1;
  int64_t count = 1;
  bool has(int64_t line) const { return (line - 1) % count == index - 1; }
};
Shard parse_shard(const std::string& text);  // "K/N"

// Reads a job file one line at a time (memory does not grow with the file), skipping blank
// lines and lines of other shards.
class JobReader {
 public:
  JobReader(const std::filesystem::path& path, Shard shard);
  JobFormat format() const { return format_; }
  // The next line of this shard; false at the end of the file.
  bool next(JobLine& line);

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  Shard shard_;
  JobFormat format_ = JobFormat::kAlisa;
  int64_t number_ = 0;
};

}  // namespace alisa
