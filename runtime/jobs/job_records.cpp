#include "runtime/jobs/job_records.h"

#include <cstdio>

namespace alisa {
namespace {

using Json = nlohmann::json;

// OpenAI's ids are random; these derive from the custom_id so that a resume repeats them.
std::string derived_id(const char* prefix, const JobLine& line, uint64_t salt) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(id_hash(line.id) ^ salt));
  return std::string(prefix) + hex;
}

const char* finish_reason(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

std::string token_text(const RecordContext& context, int32_t token) {
  if (!context.tokenizer) return std::to_string(token);
  const int32_t one[] = {token};
  return context.tokenizer->decode(one);
}

// alisa's: token ids; OpenAI's completions object: token strings.
Json logprobs_json(const JobResult& result, const RecordContext& context) {
  const Completion& c = result.completion;
  if (c.logprobs.empty()) return Json();
  Json token_logprobs = Json::array();
  Json top = Json::array();
  if (context.format == JobFormat::kAlisa) {
    for (const StepLogprobs& step : c.logprobs) {
      token_logprobs.push_back(step.logprob);
      Json entries = Json::array();
      for (const TokenLogprob& t : step.top)
        entries.push_back({{"token_id", t.token}, {"logprob", t.logprob}});
      top.push_back(entries);
    }
    return {{"token_logprobs", token_logprobs}, {"top_logprobs", top}};
  }
  Json tokens = Json::array();
  Json offsets = Json::array();
  int64_t offset = 0;
  for (size_t i = 0; i < c.logprobs.size(); ++i) {
    const std::string text = token_text(context, c.tokens[i]);
    tokens.push_back(text);
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
    token_logprobs.push_back(c.logprobs[i].logprob);
    Json entries = Json::object();
    for (const TokenLogprob& t : c.logprobs[i].top)
      entries[token_text(context, t.token)] = t.logprob;
    top.push_back(entries);
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

}  // namespace

Json result_record(const JobLine& line, const JobResult& result, const RecordContext& context) {
  const Completion& c = result.completion;
  if (context.format == JobFormat::kAlisa) {
    Json record = {{"id", line.id}, {"token_ids", c.tokens}};
    if (result.text) record["text"] = *result.text;
    record["finish_reason"] = finish_reason(c.finish);
    if (!c.logprobs.empty()) record["logprobs"] = logprobs_json(result, context);
    return record;
  }
  const int64_t completion_tokens = static_cast<int64_t>(c.tokens.size());
  const Json body = {{"id", derived_id("cmpl-", line, 0x636d706cull)},
                     {"object", "text_completion"},
                     {"created", context.created},
                     {"model", line.model.empty() ? context.model : line.model},
                     {"choices", Json::array({{{"index", 0},
                                               {"text", result.text.value_or("")},
                                               {"finish_reason", finish_reason(c.finish)},
                                               {"logprobs", logprobs_json(result, context)}}})},
                     {"usage",
                      {{"prompt_tokens", result.prompt_tokens},
                       {"completion_tokens", completion_tokens},
                       {"total_tokens", result.prompt_tokens + completion_tokens}}}};
  return {{"id", derived_id("batch_req_", line, 0)},
          {"custom_id", line.id},
          {"response",
           {{"status_code", 200},
            {"request_id", derived_id("req_", line, 0x726571ull)},
            {"body", body}}},
          {"error", nullptr}};
}

Json error_record(const JobLine& line, const RecordContext& context) {
  const Json error = {{"code", line.error_code},
                      {"message", "line " + std::to_string(line.line) + ": " + line.error}};
  if (context.format == JobFormat::kAlisa) return {{"id", line.id}, {"error", error}};
  return {{"id", derived_id("batch_req_", line, 0)},
          {"custom_id", line.id},
          {"response", nullptr},
          {"error", error}};
}

}  // namespace alisa
