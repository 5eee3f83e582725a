#include <spdlog/spdlog.h>

#include "runtime/base/input_files.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/run_flags.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/job_io.h"
#include "runtime/model/safetensors.h"

namespace alisa::cli {

void add_forward_command(CLI::App& app) {
  struct Flags {
    std::string model, input, output, dtype = "f32";
    int threads = 0;
    RunConfig swa;  // the --swa-* flags
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "forward", "Logits of a left-padded batch at every position, as a safetensors file");
  cmd->add_option("--model", flags->model, "Checkpoint folder or dummy:NAME")->required();
  cmd->add_option("--input", flags->input,
                  "JSON with input_ids and attention_mask (lists of lists, left-padded)")
      ->required();
  cmd->add_option("--output", flags->output, "safetensors file to write (tensor 'logits')")
      ->required();
  cmd->add_option("--dtype", flags->dtype,
                  "f32: the CPU engine (the reference); f16 or bf16: the GPU engine in that dtype "
                  "(f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--threads", flags->threads, "CPU threads (default: all cores)")
      ->check(CLI::Range(1, static_cast<int>(kMaxThreads)));
  add_swa_flags(cmd, flags->swa);
  cmd->callback([flags] {
    const ForwardInput input = read_forward_input(flags->input);
    check_output_path(flags->output, "output");  // before the work, not after
    const bool on_gpu = flags->dtype != "f32";
    Engine engine({.model = flags->model,
                   .dummy_seed = 1234,
                   .backend = {.device = on_gpu ? DeviceChoice::kGpu : DeviceChoice::kCpu,
                               .n_threads = flags->threads,
                               .gpu_dtype = on_gpu ? parse_gpu_dtype_choice(flags->dtype, "--dtype")
                                                   : GpuDtypeChoice::kAuto},
                   .swa = swa_options(flags->swa, "the --swa-* flags")});
    const std::vector<float> logits =
        engine.forward(input.input_ids, input.attention_mask, input.batch, input.seq_len);
    write_safetensors(flags->output,
                      {{.name = "logits",
                        .dtype = DType::kF32,
                        .shape = {input.batch, input.seq_len, engine.spec().vocab_size},
                        .data = logits.data()}});
    spdlog::info("wrote logits [{}, {}, {}] to {}", input.batch, input.seq_len,
                 engine.spec().vocab_size, flags->output);
  });
}

}  // namespace alisa::cli
