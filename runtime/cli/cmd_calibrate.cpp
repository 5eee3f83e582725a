#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "policy/hardware.h"
#include "policy/memory_plan.h"
#include "runtime/base/common.h"
#include "runtime/calibrate/calibrate.h"
#include "runtime/cli/commands.h"

namespace alisa::cli {
namespace {

namespace fs = std::filesystem;

// Refused before the measurements, so a bad path does not cost a two-minute run.
void check_output_writable(const fs::path& output) {
  const fs::path folder = output.parent_path().empty() ? fs::path(".") : output.parent_path();
  std::error_code error;
  fs::create_directories(folder, error);
  ALISA_CHECK(!error, "--output ", output.string(), ": cannot create ", folder.string(), ": ",
              error.message());
  const bool exists = fs::exists(output, error);
  const fs::path& checked = exists ? output : folder;
  ALISA_CHECK(::access(checked.c_str(), W_OK) == 0, "--output ", output.string(), ": cannot write ",
              checked.string(), ": ", errno_text(errno));
}

void write_profile(const fs::path& output, const std::string& yaml) {
  std::ofstream out(output, std::ios::binary);
  out << yaml;
  out.close();
  ALISA_CHECK(out.good(), "cannot write the hardware profile to ", output.string());
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

void print_summary(const HardwareProfile& p, const fs::path& output) {
  std::ostream& out = std::cout;
  out << "hardware profile " << p.name << " (" << output.string() << "), measured " << p.measured
      << "\n";
  out << "  GPU            " << p.gpu << ", " << bytes_text(p.gpu_memory_bytes) << "\n";
  out << "  CPU            " << (p.cpu.empty() ? "?" : p.cpu) << ", " << p.cpu_cores << " cores, "
      << bytes_text(p.cpu_memory_bytes) << "\n";
  out << "  disk free      " << bytes_text(p.disk_bytes) << "\n";
  auto link = [&](const char* name, const LinkRate& h2d, const LinkRate& d2h) {
    out << "  " << name << "H2D " << fixed(h2d.alone_gbps, 1) << " GB/s (duplex "
        << fixed(h2d.duplex_gbps, 1) << "), D2H " << fixed(d2h.alone_gbps, 1) << " GB/s (duplex "
        << fixed(d2h.duplex_gbps, 1) << ")\n";
  };
  link("pinned         ", p.h2d_pinned, p.d2h_pinned);
  link("pageable       ", p.h2d_pageable, p.d2h_pageable);
  out << "  mapped         read " << fixed(p.mapped_read_gbps, 1) << " GB/s, write "
      << fixed(p.mapped_write_gbps, 1) << " GB/s\n";
  out << "  disk           read " << fixed(p.disk_read_gbps, 2) << " GB/s, write "
      << fixed(p.disk_write_gbps, 2) << " GB/s; a block's request: read "
      << fixed(p.disk_read_latency_us, 0) << " us, write " << fixed(p.disk_write_latency_us, 0)
      << " us\n";
  out << "  memory         GPU " << fixed(p.gpu_memory_gbps, 0) << " GB/s, CPU "
      << fixed(p.cpu_memory_gbps, 1) << " GB/s\n";
  out << "  GPU launch     " << fixed(p.gpu_launch_us, 2) << " us\n";
  out << "  GEMM TFLOP/s   [m, k] x [k, n]\n";
  char line[64];
  for (size_t i = 0; i < p.gemm.size(); ++i) {
    const GemmRate& g = p.gemm[i];
    if (i == 0 || g.n != p.gemm[i - 1].n || g.k != p.gemm[i - 1].k) {
      if (i > 0) out << "\n";
      std::snprintf(line, sizeof line, "    n %6lld k %6lld:", static_cast<long long>(g.n),
                    static_cast<long long>(g.k));
      out << line;
    }
    out << "  m " << g.m << " " << fixed(g.tflops, 1);
  }
  out << "\n  CPU attention  GB/s of K and V read (dense, sparse)\n";
  for (const CpuAttentionRate& r : p.cpu_attention) {
    out << "    " << r.threads << " threads: " << fixed(r.dense_gbps, 1) << ", "
        << fixed(r.sparse_gbps, 1) << "\n";
  }
  out << "  GPU attention  GB/s of K and V read (dense, sparse, mapped sparse), 512 cached "
         "tokens\n";
  for (const GpuAttentionRate& r : p.gpu_attention) {
    out << "    batch " << r.batch << ": " << fixed(r.dense_gbps, 1) << ", "
        << fixed(r.sparse_gbps, 1) << ", " << fixed(r.mapped_sparse_gbps, 1) << "\n";
  }
  out.flush();
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  struct Flags {
    std::string output, name, disk_dir;
    std::vector<std::string> models;
    int threads = 0;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Measure this machine (GPU copies, kernels, GEMMs, CPU attention, disk) into a hardware "
      "profile for the cost model; about 45 s on the H100 host");
  cmd->add_option("--output", flags->output,
                  "The profile to write, e.g. configs/hardware/NAME.yaml")
      ->required();
  cmd->add_option("--name", flags->name, "The profile's name (default: the output's stem)");
  cmd->add_option("--disk-dir", flags->disk_dir,
                  "The disk tier's folder to time (default: <temp>/alisa-offload, as offload_dir)");
  cmd->add_option("--models", flags->models,
                  "Named models whose matrix shapes the GEMMs take (default: opt-6.7b, opt-13b, "
                  "opt-30b, opt-66b, llama-2-7b, llama-2-13b, llama-2-70b)")
      ->delimiter(',');
  cmd->add_option("--threads", flags->threads, "Most CPU threads timed (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([flags] {
    const fs::path output = flags->output;
    check_output_writable(output);
    CalibrateOptions options;
    options.name = flags->name.empty() ? output.stem().string() : flags->name;
    options.disk_dir = flags->disk_dir;
    options.models = flags->models;
    options.threads = flags->threads;
    options.progress = [](const std::string& line) { std::cerr << "calibrate: " << line << "\n"; };
    const HardwareProfile profile = calibrate(options);
    write_profile(output, hardware_to_yaml(profile));
    print_summary(profile, output);
  });
}

}  // namespace alisa::cli
