// Reading and writing Hugging Face safetensors checkpoints (single file or sharded with an index).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>  // std::less<>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/dtype.h"

namespace alisa {

struct SafetensorsEntry {
  std::string name;
  DType dtype;                 // F32, F16, BF16, I32, I64, U8, I8
  std::vector<int64_t> shape;  // [] for scalars
  std::filesystem::path file;
  uint64_t offset_bytes;  // absolute offset of the data in `file`
  uint64_t n_bytes;
  int64_t n_elements() const;
};

// The safetensors spelling of a dtype ("F32", "BF16", ...).
std::string_view safetensors_dtype_name(DType dtype);

namespace detail {
// An owned POSIX file descriptor: closed on destruction, movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {  // gives up ownership
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};
}  // namespace detail

// One checkpoint: a single .safetensors file, a folder with model.safetensors, or a folder with a
// sharded model.safetensors.index.json (HF format: {"metadata": {...}, "weight_map": {tensor:
// shard file}}). Everything in the headers is validated at open(); each file stays open (one fd)
// until the object is destroyed, and reads use pread, so const reads may run concurrently.
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::filesystem::path& file_or_folder);
  // The file open() starts from in a checkpoint folder: model.safetensors, else the index; an
  // error when there is neither or it is not a regular file. Cheap: nothing is read.
  static std::filesystem::path folder_entry(const std::filesystem::path& folder);

  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept = default;
  SafetensorsCheckpoint(const SafetensorsCheckpoint&) = delete;
  SafetensorsCheckpoint& operator=(const SafetensorsCheckpoint&) = delete;
  ~SafetensorsCheckpoint() = default;

  const std::filesystem::path& path() const { return path_; }  // as given to open()
  const SafetensorsEntry* find(std::string_view name) const;   // nullptr when absent
  const SafetensorsEntry& at(std::string_view name) const;     // Error when absent
  std::vector<std::string> names() const;                      // sorted
  size_t size() const { return entries_.size(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Reads the tensor's raw bytes into dst (n_bytes). Error naming file+tensor on a short read.
  void read_raw(const SafetensorsEntry& e, void* dst) const;
  // Reads and converts to float32 (from F32, F16, BF16); dst holds n_elements floats.
  void read_f32(const SafetensorsEntry& e, float* dst) const;

 private:
  SafetensorsCheckpoint() = default;
  void add_file(const std::filesystem::path& file);         // parses, validates, checks duplicates
  void add_index(const std::filesystem::path& index_file);  // every shard the index names
  int fd_of(const SafetensorsEntry& e) const;

  std::filesystem::path path_;
  std::map<std::string, SafetensorsEntry, std::less<>> entries_;
  std::map<std::string, std::string> metadata_;  // __metadata__ of the (first) file
  std::vector<std::filesystem::path> files_;     // files_[i] is read through fds_[i]
  std::vector<detail::UniqueFd> fds_;
};

struct SafetensorsTensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // product(shape) * dtype_size(dtype) bytes
};

// Writes a valid safetensors file (header padded to 8 bytes with spaces, as HF does; data in the
// given order). Error on invalid views (bad shape, duplicate names) and on I/O errors.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace alisa
