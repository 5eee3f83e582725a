// A batch job's prompts file, alisa's lines or OpenAI Batch lines (the first JSON object picks
// the format): JobReader reads every line; a bad line is a JobLine with an error, not a throw.
#include "runtime/jobs/job_requests.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alisa;
  const auto path = fuzz::write_scratch("prompts.jsonl", fuzz::as_text(data, size));
  fuzz::expect_ok_or_error([&] {
    JobReader reader(path, Shard{});
    JobLine line;
    while (reader.next(line)) {
      if (line.ok()) (void)id_hash(line.id);
    }
  });
  return 0;
}
