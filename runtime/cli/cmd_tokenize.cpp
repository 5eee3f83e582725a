#include "runtime/cli/commands.h"
#include "runtime/jobs/job_io.h"
#include "runtime/text/tokenizer.h"

namespace alisa::cli {

void add_tokenize_command(CLI::App& app) {
  struct Flags {
    std::string tokenizer, input, output;
    bool add_special_tokens = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode {\"text\": ...} lines into {\"ids\": [..], \"decoded\": \"...\"} lines");
  cmd->add_option("--tokenizer", flags->tokenizer, "A Hugging Face tokenizer.json")->required();
  cmd->add_option("--input", flags->input, "JSONL of {\"text\": ...}")->required();
  cmd->add_option("--output", flags->output, "JSONL to write (default: stdout)");
  cmd->add_flag("--add-special-tokens", flags->add_special_tokens,
                "Apply the tokenizer's post-processor (e.g. LLaMA's leading <s>, OPT's </s>)");
  cmd->callback([flags] {
    const Tokenizer tokenizer = Tokenizer::load(flags->tokenizer);
    const std::vector<std::string> texts = read_texts(flags->input);
    JsonlWriter writer(flags->output);
    for (const std::string& text : texts) {
      const std::vector<int32_t> ids = tokenizer.encode(text, flags->add_special_tokens);
      writer.write({{"ids", ids}, {"decoded", tokenizer.decode(ids)}});
    }
    writer.close();
  });
}

}  // namespace alisa::cli
