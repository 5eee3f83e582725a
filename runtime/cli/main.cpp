// alisa: throughput-oriented LLM inference with offloading. The one place errors are reported.
#include <spdlog/spdlog.h>
#include <iostream>

#include "kernels_cpu/openmp/passive_waits.h"
#include "runtime/base/common.h"
#include "runtime/cli/commands.h"

int main(int argc, char** argv) {
  // Passive OpenMP waits where the environment chose none (kernels_cpu/openmp/passive_waits.h);
  // the children alisa starts (the FlexGen peer, the plotter) see the user's environment again.
  alisa_openmp_waits_restore_environment();
  CLI::App app{"alisa: throughput-oriented LLM inference (OPT, LLaMA) with offloading"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags such as -v are accepted after the subcommand too
  app.set_version_flag("--version", "alisa 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log what alisa does on stderr");
  alisa::cli::add_generate_command(app);
  alisa::cli::add_forward_command(app);
  alisa::cli::add_tokenize_command(app);
  alisa::cli::add_bench_command(app);
  alisa::cli::add_perplexity_command(app);
  alisa::cli::add_calibrate_command(app);
  alisa::cli::add_plan_command(app);
  alisa::cli::add_experiment_command(app);
  app.parse_complete_callback(
      [&] { spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "alisa: error: " << e.what() << " (see alisa --help)\n";
    return 1;
  } catch (const alisa::Error& e) {
    std::cerr << "alisa: error: " << e.what() << "\n";
    return 1;
  } catch (const alisa::InternalError& e) {
    std::cerr << "alisa: internal error (please report): " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "alisa: error: out of host memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "alisa: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
