// Files that inputs come from (configs, prompts, checkpoints, tokenizers): each checked to be a
// regular file before it is opened, so that a FIFO, a directory or a device names itself in an
// error instead of hanging the run, and every failure carries errno's reason and the path.
#pragma once

#include <filesystem>
#include <string>

namespace alisa {

// Throws alisa::Error unless `path` is a regular file (symlinks followed):
// "<what> <path> does not exist", "<what> <path> is a directory, not a file", ...
void check_regular_file(const std::filesystem::path& path, const std::string& what);

// A read-only descriptor of the regular file `path` (O_CLOEXEC), the caller's to close. Opened
// with O_NONBLOCK and checked with fstat before it is used, so that a FIFO swapped in after a
// check cannot block the open; the flag is cleared again for regular files.
int open_regular_file(const std::filesystem::path& path, const std::string& what);

// The whole text of the regular file `path`.
std::string read_text_file(const std::filesystem::path& path, const std::string& what);

// Checked before a job runs, so that a bad output path does not discard its work: `path` is an
// existing regular file (or character device, as /dev/null) we may write, or can be created in an
// existing, writable folder. Nothing is created. Errors carry errno's reason and the path.
void check_output_path(const std::filesystem::path& path, const std::string& what);

// Whether the two paths name one existing file (same device and inode, as realpath would).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace alisa
