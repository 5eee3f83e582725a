// Host facts for the hardware profile: what the machine is, read rather than timed.
#pragma once

#include <cstdint>
#include <string>

namespace alisa {

// /proc/cpuinfo's "model name" ("" when absent), physical memory, online cores, and today's
// local date "YYYY-MM-DD".
std::string cpu_model_name();
uint64_t physical_memory_bytes();
int64_t online_cores();
std::string today_text();

}  // namespace alisa
