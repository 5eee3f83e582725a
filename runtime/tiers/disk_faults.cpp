#include "runtime/tiers/disk_faults.h"

#include <atomic>
#include <mutex>
#include <optional>

#include "runtime/base/common.h"

namespace alisa {
namespace {

std::atomic<bool> g_armed{false};
std::mutex g_mutex;
std::optional<DiskFault> g_fault;  // guarded by g_mutex
int g_seen = 0;
int g_hits = 0;

}  // namespace

ScopedDiskFault::ScopedDiskFault(DiskFault fault) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  ALISA_ASSERT(!g_fault, "one injected disk fault at a time");
  ALISA_ASSERT(fault.error != 0 || fault.op == DiskOp::kRead, "only reads come back short");
  g_fault = std::move(fault);
  g_seen = g_hits = 0;
  g_armed.store(true);
}

ScopedDiskFault::~ScopedDiskFault() {
  const std::lock_guard<std::mutex> lock(g_mutex);
  g_armed.store(false);
  g_fault.reset();
}

int ScopedDiskFault::hits() const {
  const std::lock_guard<std::mutex> lock(g_mutex);
  return g_hits;
}

namespace detail {

int injected_disk_fault(DiskOp op, const std::filesystem::path& path) {
  if (!g_armed.load(std::memory_order_relaxed)) return 0;
  const std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_fault || g_fault->op != op) return 0;
  if (path.filename().string().find(g_fault->file_part) == std::string::npos) return 0;
  if (g_seen++ < g_fault->skip) return 0;
  if (g_fault->once && g_hits > 0) return 0;
  ++g_hits;
  return g_fault->error != 0 ? g_fault->error : -1;
}

}  // namespace detail
}  // namespace alisa
