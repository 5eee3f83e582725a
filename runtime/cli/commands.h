// The alisa subcommands. Each registers its flags on the app; errors surface as alisa::Error
// and are reported once, in main.
#pragma once

#include <CLI/CLI.hpp>

namespace alisa::cli {

void add_generate_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_experiment_command(CLI::App& app);

}  // namespace alisa::cli
