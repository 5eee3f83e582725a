// scripts/plot_experiment.py, compiled into the binary by CMake so that `alisa experiment` draws
// its plots wherever the binary goes (the GPU host has no source tree beside it).
#pragma once

namespace alisa::cli {

const char* plot_script();

}  // namespace alisa::cli
