// Runs another program and waits for it: how `alisa experiment` takes each point's measurement
// (alisa's own commands, in a process of their own so that each point's memory peaks and
// failures are its own; the FlexGen peer; the plotting script).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace alisa::cli {

// Runs argv[0] (searched on PATH when it has no '/') with its stdout and stderr written to the
// files; returns its exit status, or 128 + the signal that ended it (127: it could not start).
int run_command(const std::vector<std::string>& argv, const std::filesystem::path& stdout_path,
                const std::filesystem::path& stderr_path);

// The running alisa binary (/proc/self/exe), to run its commands.
std::filesystem::path own_binary();

// The last non-empty line of a file ("" when none): a failed command's one-line error.
std::string last_line(const std::filesystem::path& path);

}  // namespace alisa::cli
