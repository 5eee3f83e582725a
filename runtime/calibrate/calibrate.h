// `alisa calibrate`: measures this machine into a HardwareProfile (policy/hardware.h) for the cost
// model. This file runs the measurements in turn and fills the profile; they are, by what they
// measure: calibrate_host.h (what the machine is), calibrate_cpu.h (CPU memory and attention),
// calibrate_disk.h, calibrate_units.h (the block runner's fixed costs), and on CUDA builds
// calibrate_links_gpu.h (CPU<->GPU transfers) and calibrate_gpu.h (GPU memory and kernels).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "policy/hardware.h"

namespace alisa {

struct CalibrateOptions {
  std::string name;                                  // the profile's name
  std::filesystem::path disk_dir;                    // empty: default_offload_dir()
  std::vector<std::string> models;                   // empty: default_calibration_models()
  int threads = 0;                                   // most CPU threads measured; 0: online_cores()
  std::function<void(const std::string&)> progress;  // one line per step; may be empty
};

// "alisa calibrate needs a CUDA GPU: ..." when this build has no CUDA or no device is present;
// "" when calibration can run.
std::string calibration_gpu_problem();

// Every measurement, about two minutes on a 16-core H100 host. Throws alisa::Error for a bad
// option (unknown model, disk folder not writable) or a machine without a CUDA GPU.
HardwareProfile calibrate(const CalibrateOptions& options);

}  // namespace alisa
