#include "runtime/model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

namespace alisa {

// The length prefix and the data go to disk as they lie in memory.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

namespace fs = std::filesystem;

namespace {

// A single write call moves at most this much (Linux caps one call just under 2 GiB).
constexpr uint64_t kMaxIoChunkBytes = uint64_t{1} << 30;

// Writes all n bytes, looping over partial writes and EINTR; Error naming the path on failure.
void write_all(int fd, const fs::path& path, const void* src, uint64_t n) {
  const auto* in = static_cast<const char*>(src);
  uint64_t done = 0;
  while (done < n) {
    const size_t want = static_cast<size_t>(std::min(n - done, kMaxIoChunkBytes));
    const ssize_t wrote = ::write(fd, in + done, want);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      throw Error(str("cannot write safetensors file ", path.string(), ": ", errno_text(errno)));
    }
    done += static_cast<uint64_t>(wrote);
  }
}

}  // namespace

void write_safetensors(const fs::path& path, const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string where = str("writing safetensors file ", path.string(), ": ");
  // Ordered, so the header lists tensors in the order of their data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> sizes_bytes;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const SafetensorsTensorView& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      throw Error(str(where, "invalid tensor name '", t.name, "'"));
    }
    if (!names.insert(t.name).second) throw Error(str(where, "tensor '", t.name, "' given twice"));
    uint64_t n_elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(n_elements, static_cast<uint64_t>(d), &n_elements)) {
        throw Error(str(where, "tensor '", t.name, "' has invalid shape ", shape_text(t.shape)));
      }
    }
    uint64_t n_bytes = 0;
    if (__builtin_mul_overflow(n_elements, dtype_size(t.dtype), &n_bytes) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(str(where, "tensor '", t.name, "' has absurd shape ", shape_text(t.shape)));
    }
    if (t.data == nullptr && n_bytes > 0) {
      throw Error(str(where, "tensor '", t.name, "' has no data for its ", n_bytes, " bytes"));
    }
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n_bytes}}};
    sizes_bytes.push_back(n_bytes);
    offset += n_bytes;
  }

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(str(where, "names and metadata must be valid UTF-8 (", e.what(), ")"));
  }
  // Pad with spaces so the data section starts 8-byte aligned, as HF's writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_bytes = header_text.size();

  detail::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw Error(str(where, "cannot create: ", errno_text(errno)));
  write_all(fd.get(), path, &header_bytes, 8);
  write_all(fd.get(), path, header_text.data(), header_bytes);
  for (size_t i = 0; i < tensors.size(); ++i) {
    write_all(fd.get(), path, tensors[i].data, sizes_bytes[i]);
  }
  // close() can report a deferred write error (e.g. on network file systems).
  if (::close(fd.release()) != 0) {
    throw Error(str("cannot write safetensors file ", path.string(), ": ", errno_text(errno)));
  }
}

}  // namespace alisa
