// The disk tier's scratch files (offloaded weights "alisa-weights-PID.bin", the KV cache
// "alisa-kv-cache-PID.bin", activations): created in the offload folder and unlinked as soon as
// they are open, like tmpfile(3), so that their space returns to the filesystem however the
// process ends (normal exit, an error, SIGINT, SIGTERM or SIGKILL) and nothing piles up in the
// folder run after run. Files of this name left by a process no longer alive (an older alisa, a
// crash between create and unlink) are removed when the next scratch file is made there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "runtime/tiers/disk_file.h"

namespace alisa {

// A scratch file of n_bytes for `what` ("weights", "kv-cache") in `folder` (created if absent).
std::unique_ptr<DiskFile> create_scratch_file(const std::filesystem::path& folder,
                                              const std::string& what, uint64_t n_bytes);

// Removes the alisa-WHAT-PID.bin files in `folder` whose process is not alive; returns how many.
int remove_stale_scratch_files(const std::filesystem::path& folder);

}  // namespace alisa
