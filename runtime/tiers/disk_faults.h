// A test seam of the disk tier: faults (a full disk, EIO, a short read) injected into DiskFile's
// system calls, so that tests can prove each ends in a clear error naming the file, with nothing
// torn or left behind. Nothing arms one outside tests; unarmed, a call costs one atomic load.
#pragma once

#include <filesystem>
#include <string>

namespace alisa {

enum class DiskOp { kReserve, kWrite, kRead };

struct DiskFault {
  DiskOp op = DiskOp::kWrite;
  // The errno the call fails with (ENOSPC, EIO); 0: a read that comes back short, at the end of
  // the file as a truncated file's would (writes and reserves take an errno).
  int error = 0;
  std::string file_part = {};  // only files whose name contains this ("alisa-kv-cache"); empty: any
  int skip = 0;                // matching calls that succeed first
  bool once = false;           // hits one call (a transient fault); otherwise every later one
};

// Arms `fault` for the scope's life (one at a time); disarms on destruction.
class ScopedDiskFault {
 public:
  explicit ScopedDiskFault(DiskFault fault);
  ~ScopedDiskFault();
  ScopedDiskFault(const ScopedDiskFault&) = delete;
  ScopedDiskFault& operator=(const ScopedDiskFault&) = delete;
  int hits() const;  // calls the fault has hit so far
};

namespace detail {
// For DiskFile: the errno an armed fault gives this call (-1: a short read), or 0 for none.
int injected_disk_fault(DiskOp op, const std::filesystem::path& path);
}  // namespace detail

}  // namespace alisa
