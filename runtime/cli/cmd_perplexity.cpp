#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/base/input_files.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/perplexity.h"

namespace alisa::cli {

void add_perplexity_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto text_path = std::make_shared<std::string>();
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity", "Perplexity of a text file under the model, in windows of a context length");
  add_engine_flags(cmd, *flags);
  cmd->add_option("--text", *text_path, "UTF-8 text file")->required();
  add_override(cmd, "--tokenizer", flags->overrides.tokenizer,
               "tokenizer.json (default: the checkpoint's own)");
  cmd->add_option("--context-length", options->context_length,
                  "Tokens per window (default: the model's max positions)")
      ->check(at_least_one());
  cmd->add_option("--stride", options->stride,
                  "Tokens between window starts (default: the context length, no overlap)")
      ->check(at_least_one());
  cmd->add_option("--batch-size", options->batch_size, "Windows run together (default: auto)")
      ->check(at_least_one());
  cmd->callback([flags, text_path, options] {
    const RunConfig config = resolve_run_config(*flags);
    const std::string text = read_text_file(*text_path, "text file");
    Engine engine(engine_options(config));
    std::optional<Tokenizer> own_tokenizer;
    if (config.tokenizer) own_tokenizer = Tokenizer::load(*config.tokenizer);
    const Tokenizer* tokenizer = own_tokenizer ? &*own_tokenizer : engine.tokenizer();
    ALISA_CHECK(tokenizer != nullptr, "the model has no tokenizer.json (give --tokenizer FILE)");
    // No special tokens: the windows are cut from the text's own tokens.
    const std::vector<int32_t> ids = tokenizer->encode(text, false);
    const PerplexityResult r = compute_perplexity(engine, ids, *options);
    const nlohmann::json report = {{"model", engine.spec().name},
                                   {"text", *text_path},
                                   {"perplexity", r.perplexity},
                                   {"mean_nll", r.mean_nll},
                                   {"n_tokens", r.n_tokens},
                                   {"n_windows", r.n_windows},
                                   {"context_length", r.context_length},
                                   {"stride", r.stride},
                                   {"device", engine.device().name()}};
    std::cout << report.dump(2) << std::endl;
  });
}

}  // namespace alisa::cli
