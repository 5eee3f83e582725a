// The records a batch job writes, one JSON line per input line, in its input's format:
// alisa's {"id", "token_ids", "text", "finish_reason"[, "logprobs"]} or {"id", "error"}, and
// OpenAI's Batch output {"id", "custom_id", "response": {"status_code", "request_id", "body"},
// "error"}. Every field is a function of the line and the job, so a resumed job writes the very
// lines an uninterrupted one does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/jobs/generator.h"
#include "runtime/jobs/job_requests.h"
#include "runtime/text/tokenizer.h"

namespace alisa {

struct RecordContext {
  JobFormat format = JobFormat::kAlisa;
  std::string model;    // the model's name, when a line does not give one
  int64_t created = 0;  // the job's start (Unix seconds), recorded with its settings
  const Tokenizer* tokenizer = nullptr;
};

struct JobResult {
  Completion completion;
  std::optional<std::string> text;  // decoded, cut before a stop string
  int64_t prompt_tokens = 0;
};

nlohmann::json result_record(const JobLine& line, const JobResult& result,
                             const RecordContext& context);
nlohmann::json error_record(const JobLine& line, const RecordContext& context);

}  // namespace alisa
