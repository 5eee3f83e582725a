#include "runtime/tiers/scratch_file.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>

#include "runtime/base/common.h"

namespace alisa {
namespace {

namespace fs = std::filesystem;

// The PID of a scratch file's name ("alisa-kv-cache-4242.bin" -> 4242), or 0 for other names.
pid_t scratch_pid(const std::string& name) {
  constexpr std::string_view kPrefix = "alisa-", kSuffix = ".bin";
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return 0;
  const size_t dash = name.rfind('-');
  if (dash < kPrefix.size()) return 0;
  const char* begin = name.data() + dash + 1;
  const char* end = name.data() + name.size() - kSuffix.size();
  pid_t pid = 0;
  const auto [next, error] = std::from_chars(begin, end, pid);
  return error == std::errc() && next == end && pid > 0 ? pid : 0;
}

// kill(pid, 0) fails with ESRCH only when no such process exists (EPERM: alive, someone else's).
bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace

int remove_stale_scratch_files(const fs::path& folder) {
  int removed = 0;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const pid_t pid = scratch_pid(it->path().filename().string());
    if (pid == 0 || pid == ::getpid() || alive(pid)) continue;
    std::error_code ignored;
    if (it->is_regular_file(ignored) && fs::remove(it->path(), ignored)) {
      spdlog::info("removed {}, left by process {} which is gone", it->path().string(), pid);
      ++removed;
    }
  }
  return removed;
}

std::unique_ptr<DiskFile> create_scratch_file(const fs::path& folder, const std::string& what,
                                              uint64_t n_bytes) {
  std::error_code error;
  fs::create_directories(folder, error);
  ALISA_CHECK(!error, "cannot create the offload folder ", folder.string(), ": ", error.message());
  remove_stale_scratch_files(folder);
  const fs::path path = folder / str("alisa-", what, "-", ::getpid(), ".bin");
  auto file = std::make_unique<DiskFile>(DiskFile::create(path, n_bytes));
  file->unlink_now();
  return file;
}

}  // namespace alisa
