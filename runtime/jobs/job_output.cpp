#include "runtime/jobs/job_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "runtime/base/common.h"
#include "runtime/base/json_limits.h"
#include "runtime/jobs/job_requests.h"

namespace alisa {
namespace {

using Json = nlohmann::json;

constexpr std::chrono::seconds kSyncEvery{2};

void write_all(int fd, const std::string& text, const std::filesystem::path& path) {
  size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    ALISA_CHECK(n > 0, "writing ", path.empty() ? "stdout" : path.string(),
                " failed: ", std::strerror(errno));
    at += static_cast<size_t>(n);
  }
}

}  // namespace

WrittenRecords scan_output(const std::filesystem::path& path) {
  WrittenRecords written;
  std::ifstream in(path, std::ios::binary);
  ALISA_CHECK(in.good(), "cannot read ", path.string());
  std::string text;
  int64_t good_bytes = 0;
  int64_t number = 0;
  while (std::getline(in, text)) {
    ++number;
    const bool whole = !in.eof();  // the last line of a file that ends in '\n' is whole
    const Json record = try_parse_json(text);
    const bool readable =
        record.is_object() && (record.contains("custom_id") || record.contains("id"));
    if (!whole || !readable) {
      // Only the last line can be torn: it was being written when the job stopped.
      ALISA_CHECK(in.peek() == std::char_traits<char>::eof(), path.string(), ":", number,
                  " is not a job record; refusing to resume (--overwrite starts over)");
      break;
    }
    good_bytes += static_cast<int64_t>(text.size()) + 1;
    ++written.lines;
    const Json& id = record.contains("custom_id") ? record["custom_id"] : record["id"];
    const Json& error = record.value("error", Json());
    if (id.is_null() || (error.is_object() && error.value("code", Json()) == "duplicate_id")) {
      ++written.repeats[id_hash(id)];
    } else {
      written.done.insert(id_hash(id));
    }
  }
  const auto size = static_cast<int64_t>(std::filesystem::file_size(path));
  if (size > good_bytes) {
    written.repaired_bytes = size - good_bytes;
    std::filesystem::resize_file(path, static_cast<uintmax_t>(good_bytes));
  }
  return written;
}

JobOutput::JobOutput(const std::filesystem::path& path, bool keep)
    : path_(path), last_sync_(std::chrono::steady_clock::now()) {
  if (path.empty() || path == "-") {
    path_.clear();
    return;
  }
  fd_ =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0644);
  ALISA_CHECK(fd_ >= 0, "cannot write ", path.string(), ": ", std::strerror(errno));
  owned_ = true;
}

JobOutput::~JobOutput() {
  if (!owned_) return;
  ::fsync(fd_);
  ::close(fd_);
}

void JobOutput::write(const Json& record) {
  // One write(2) of the whole line: a killed process leaves it whole or absent.
  const std::string line = record.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  if (!owned_) {
    write_all(fd_, line, path_);
    return;
  }
  // A write that fails part-way (a full disk) is cut back off, so no torn line is left.
  struct stat before {};
  const bool sized = ::fstat(fd_, &before) == 0;
  try {
    write_all(fd_, line, path_);
  } catch (const Error&) {
    if (sized) {
      [[maybe_unused]] const int ignored = ::ftruncate(fd_, before.st_size);
    }
    throw;
  }
}

void JobOutput::sync() {
  if (owned_) {
    ALISA_CHECK(::fsync(fd_) == 0, "syncing ", path_.string(), " failed: ", std::strerror(errno));
  }
  last_sync_ = std::chrono::steady_clock::now();
}

void JobOutput::sync_if_due() {
  if (std::chrono::steady_clock::now() - last_sync_ >= kSyncEvery) sync();
}

}  // namespace alisa
