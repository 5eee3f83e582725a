#include "runtime/model/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "runtime/base/input_files.h"
#include "runtime/base/json_limits.h"

namespace alisa {

// Data and the length prefix are little-endian on disk; we copy them without byte swapping.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// HF's own limit: a longer header is a corrupt length prefix, not a real checkpoint.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A single read/write call moves at most this much (Linux caps one call just under 2 GiB).
constexpr uint64_t kMaxIoChunkBytes = uint64_t{1} << 30;

constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32,
                                DType::kI64, DType::kU8,  DType::kI8};

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType t : kAllDTypes) {
    if (safetensors_dtype_name(t) == name) return t;
  }
  return std::nullopt;
}

// Names come from the file and may hold control characters; keep the message on one line.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += str("\\x", "0123456789abcdef"[(c >> 4) & 0xf], "0123456789abcdef"[c & 0xf]);
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] void fail_file(const fs::path& file, const std::string& message) {
  throw Error(printable(str("safetensors file ", file.string(), ": ", message)));
}

[[noreturn]] void fail_tensor(const fs::path& file, std::string_view name,
                              const std::string& message) {
  fail_file(file, str("tensor '", name, "' ", message));
}

[[noreturn]] void fail_index(const fs::path& index_file, const std::string& message) {
  throw Error(printable(str("safetensors index ", index_file.string(), ": ", message)));
}

// Reads n bytes at offset, looping over partial reads and EINTR. Returns the bytes read, fewer
// than n only at end of file; *error is the errno of a failed read (0 otherwise).
uint64_t pread_full(int fd, void* dst, uint64_t n, uint64_t offset, int* error) {
  auto* out = static_cast<char*>(dst);
  uint64_t done = 0;
  *error = 0;
  while (done < n) {
    const size_t want = static_cast<size_t>(std::min(n - done, kMaxIoChunkBytes));
    const ssize_t got = ::pread(fd, out + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      *error = errno;
      return done;
    }
    if (got == 0) return done;
    done += static_cast<uint64_t>(got);
  }
  return done;
}

// pread_full that throws an Error naming the file and what was being read.
void read_exact(int fd, const fs::path& file, std::string_view what, void* dst, uint64_t n,
                uint64_t offset) {
  int error = 0;
  const uint64_t got = pread_full(fd, dst, n, offset, &error);
  if (error != 0) {
    fail_file(file, str("reading ", what, " failed: ", errno_text(error)));
  }
  if (got != n) {
    fail_file(file, str("short read of ", what, ": got ", got, " of ", n, " bytes at offset ",
                        offset, " (was the file truncated after it was opened?)"));
  }
}

// Non-negative integer from JSON, or nullopt when it is not one (floats, strings, negatives).
std::optional<uint64_t> as_unsigned(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

std::map<std::string, std::string> parse_metadata(const fs::path& file, const Json& v) {
  if (!v.is_object()) {
    fail_file(file, str("__metadata__ is a JSON ", v.type_name(), ", not a string-to-string map"));
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      fail_file(file, str("__metadata__ value of '", key, "' is a JSON ", value.type_name(),
                          ", not a string"));
    }
    metadata[key] = value.get<std::string>();
  }
  return metadata;
}

// Validates one header entry. data_start: absolute offset of the data section; data_bytes: its
// length.
SafetensorsEntry parse_entry(const fs::path& file, const std::string& name, const Json& v,
                             uint64_t data_start, uint64_t data_bytes) {
  if (!v.is_object()) {
    fail_tensor(file, name,
                str("is a JSON ", v.type_name(),
                    ", not an object with \"dtype\", \"shape\" and \"data_offsets\""));
  }
  SafetensorsEntry e;
  e.name = name;
  e.file = file;

  const auto dtype_it = v.find("dtype");
  if (dtype_it == v.end()) fail_tensor(file, name, "has no \"dtype\"");
  if (!dtype_it->is_string()) {
    fail_tensor(file, name,
                str("has a \"dtype\" that is a JSON ", dtype_it->type_name(), ", not a string"));
  }
  const std::string dtype_name = dtype_it->get<std::string>();
  const std::optional<DType> dtype = parse_dtype(dtype_name);
  if (!dtype) {
    fail_tensor(file, name,
                str("has dtype ", dtype_name,
                    ", which alisa does not read (supported: F32, F16, BF16, I32, I64, U8, I8)"));
  }
  e.dtype = *dtype;

  const auto shape_it = v.find("shape");
  if (shape_it == v.end()) fail_tensor(file, name, "has no \"shape\"");
  if (!shape_it->is_array()) {
    fail_tensor(file, name,
                str("has a \"shape\" that is a JSON ", shape_it->type_name(), ", not an array"));
  }
  uint64_t n_elements = 1;
  for (const Json& dim : *shape_it) {
    if (!dim.is_number_integer()) {
      fail_tensor(file, name, str("has a non-integer dimension ", dim.dump(), " in its shape"));
    }
    if (dim.is_number_unsigned() &&
        dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail_tensor(file, name, str("has an absurd dimension ", dim.dump(), " in its shape"));
    }
    const int64_t d = dim.get<int64_t>();
    if (d < 0) fail_tensor(file, name, str("has a negative dimension ", d, " in its shape"));
    e.shape.push_back(d);
    if (__builtin_mul_overflow(n_elements, static_cast<uint64_t>(d), &n_elements) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail_tensor(file, name, str("has shape ", shape_text(e.shape), ": too many elements"));
    }
  }

  const auto offsets_it = v.find("data_offsets");
  if (offsets_it == v.end()) fail_tensor(file, name, "has no \"data_offsets\"");
  std::optional<uint64_t> begin, end;
  if (offsets_it->is_array() && offsets_it->size() == 2) {
    begin = as_unsigned((*offsets_it)[0]);
    end = as_unsigned((*offsets_it)[1]);
  }
  if (!begin || !end || *begin > *end) {
    fail_tensor(file, name,
                str("has data_offsets ", offsets_it->dump(),
                    "; expected two ascending non-negative integers [begin, end]"));
  }
  e.n_bytes = *end - *begin;
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(n_elements, dtype_size(e.dtype), &expected_bytes)) {
    fail_tensor(file, name, str("has shape ", shape_text(e.shape), ": too many bytes"));
  }
  if (e.n_bytes != expected_bytes) {
    fail_tensor(file, name,
                str("has data_offsets [", *begin, ", ", *end, "] spanning ", e.n_bytes,
                    " bytes, but shape ", shape_text(e.shape), " of ", dtype_name, " needs ",
                    n_elements, " * ", dtype_size(e.dtype), " = ", expected_bytes, " bytes"));
  }
  if (*end > data_bytes) {
    fail_tensor(
        file, name,
        str("has data_offsets [", *begin, ", ", *end, "] past the end of the data section (",
            data_bytes, " bytes); is the file truncated?"));
  }
  e.offset_bytes = data_start + *begin;
  return e;
}

struct ParsedFile {
  detail::UniqueFd fd;
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
};

// Opens a safetensors file and validates its whole header against the file's size.
ParsedFile parse_file(const fs::path& file) {
  ParsedFile parsed;
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer; fstat refuses it below.
  const int raw_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (raw_fd < 0) fail_file(file, str("cannot open: ", errno_text(errno)));
  parsed.fd = detail::UniqueFd(raw_fd);
  const int fd = parsed.fd.get();

  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_file(file, str("cannot stat: ", errno_text(errno)));
  if (!S_ISREG(st.st_mode)) fail_file(file, "is not a regular file");
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < 8) {
    fail_file(file,
              str("is ", file_bytes,
                  " bytes long, too short for the 8-byte header length of a safetensors file"));
  }

  uint64_t header_bytes = 0;
  read_exact(fd, file, "the header length", &header_bytes, 8, 0);
  if (header_bytes == 0) fail_file(file, "header length is 0; not a safetensors file");
  if (header_bytes > kMaxHeaderBytes) {
    fail_file(file, str("header length ", header_bytes,
                        " is absurd (over 100 MB); not a safetensors file or corrupt"));
  }
  if (header_bytes > file_bytes - 8) {
    fail_file(file, str("header length ", header_bytes, " is larger than the rest of the file (",
                        file_bytes - 8, " bytes); truncated or not a safetensors file"));
  }
  std::string header_text(header_bytes, '\0');
  read_exact(fd, file, "the header", header_text.data(), header_bytes, 8);

  // nlohmann keeps the last of duplicate keys silently; a duplicated tensor name is corruption.
  std::set<std::string> seen_keys;
  const Json::parser_callback_t reject_duplicates = [&](int depth, Json::parse_event_t event,
                                                        Json& value) {
    if (depth == 1 && event == Json::parse_event_t::key &&
        !seen_keys.insert(value.get<std::string>()).second) {
      fail_file(file, str("header names '", value.get<std::string>(), "' twice"));
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(header_text, json_depth_limit(reject_duplicates));
  } catch (const Json::exception& e) {
    fail_file(file, str("header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) {
    fail_file(file, str("header is a JSON ", header.type_name(), ", not an object"));
  }

  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - data_start;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      parsed.metadata = parse_metadata(file, value);
    } else {
      parsed.entries.push_back(parse_entry(file, name, value, data_start, data_bytes));
    }
  }

  // Tensors must not share bytes: sort by start and compare each with the furthest end so far.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : parsed.entries) {
    if (e.n_bytes > 0) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->offset_bytes < b->offset_bytes; });
  const auto range_text = [&](const SafetensorsEntry* e) {
    const uint64_t begin = e->offset_bytes - data_start;
    return str("[", begin, ", ", begin + e->n_bytes, "]");
  };
  const SafetensorsEntry* furthest = nullptr;
  for (const SafetensorsEntry* e : by_offset) {
    if (furthest != nullptr && e->offset_bytes < furthest->offset_bytes + furthest->n_bytes) {
      fail_tensor(file, e->name,
                  str("(data_offsets ", range_text(e), ") overlaps tensor '", furthest->name,
                      "' (data_offsets ", range_text(furthest), ")"));
    }
    if (furthest == nullptr ||
        e->offset_bytes + e->n_bytes > furthest->offset_bytes + furthest->n_bytes) {
      furthest = e;
    }
  }
  return parsed;
}

std::string read_small_text_file(const fs::path& file) {
  return read_text_file(file, "safetensors index");
}

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  // Indexed by DType: kF32, kF16, kBF16, kI32, kI64, kU8, kI8.
  static constexpr std::string_view kNames[] = {"F32", "F16", "BF16", "I32", "I64", "U8", "I8"};
  return kNames[static_cast<size_t>(dtype)];
}

int64_t SafetensorsEntry::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace detail {
UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}
}  // namespace detail

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& file_or_folder) {
  std::error_code ec;
  const fs::file_status status = fs::status(file_or_folder, ec);
  if (!fs::exists(status)) {
    throw Error(str("safetensors checkpoint not found: ", file_or_folder.string()));
  }
  SafetensorsCheckpoint checkpoint;
  checkpoint.path_ = file_or_folder;
  if (fs::is_directory(status)) {
    const fs::path entry = folder_entry(file_or_folder);
    if (entry.filename() == "model.safetensors") {
      checkpoint.add_file(entry);
    } else {
      checkpoint.add_index(entry);
    }
  } else if (file_or_folder.string().ends_with(".index.json")) {
    checkpoint.add_index(file_or_folder);
  } else {
    checkpoint.add_file(file_or_folder);
  }
  return checkpoint;
}

fs::path SafetensorsCheckpoint::folder_entry(const fs::path& folder) {
  // Like HF from_pretrained: a single model.safetensors wins over an index.
  std::error_code ec;
  const fs::path single = folder / "model.safetensors";
  const fs::path index = folder / "model.safetensors.index.json";
  const fs::path entry = fs::exists(fs::symlink_status(single, ec)) ? single
                         : fs::exists(fs::symlink_status(index, ec))
                             ? index
                             : throw Error(str("checkpoint folder ", folder.string(),
                                               " has neither model.safetensors nor "
                                               "model.safetensors.index.json"));
  check_regular_file(entry, "checkpoint file");
  return entry;
}

void SafetensorsCheckpoint::add_file(const fs::path& file) {
  ParsedFile parsed = parse_file(file);
  for (SafetensorsEntry& e : parsed.entries) {
    if (const SafetensorsEntry* other = find(e.name)) {
      fail_tensor(file, e.name,
                  str("is also in ", other->file.string(), "; a tensor may be in only one shard"));
    }
  }
  if (files_.empty()) metadata_ = std::move(parsed.metadata);
  for (SafetensorsEntry& e : parsed.entries) {
    std::string name = e.name;
    entries_.emplace(std::move(name), std::move(e));
  }
  files_.push_back(file);
  fds_.push_back(std::move(parsed.fd));
}

void SafetensorsCheckpoint::add_index(const fs::path& index_file) {
  const std::string text = read_small_text_file(index_file);
  Json index;
  try {
    index = Json::parse(text, json_depth_limit());
  } catch (const Json::exception& e) {
    fail_index(index_file, str("not valid JSON: ", e.what()));
  }
  if (!index.is_object()) {
    fail_index(index_file, str("is a JSON ", index.type_name(), ", not an object"));
  }
  const auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object()) {
    fail_index(index_file, "has no \"weight_map\" object");
  }

  // Shard paths are normalised so that "./a.safetensors" and "a.safetensors" are one shard.
  const fs::path folder = index_file.parent_path();
  std::map<std::string, fs::path> shard_of;         // tensor -> shard file
  std::map<fs::path, std::string> first_tensor_of;  // shard file -> a tensor it should hold
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string() || shard.get<std::string>().empty()) {
      fail_index(index_file, str("weight_map entry of tensor '", tensor, "' is ", shard.dump(),
                                 ", not a shard file name"));
    }
    const fs::path shard_name = shard.get<std::string>();
    if (shard_name.is_absolute()) {
      fail_index(index_file, str("shard ", shard_name.string(), " (tensor '", tensor,
                                 "') must be a file name relative to the index's folder"));
    }
    // Confined to the index's folder: an index must not open files elsewhere ("../../etc").
    const fs::path inside = shard_name.lexically_normal();
    if (inside.empty() || *inside.begin() == "..") {
      fail_index(index_file, str("shard ", shard_name.string(), " (tensor '", tensor,
                                 "') lies outside the index's folder"));
    }
    const fs::path shard_path = (folder / shard_name).lexically_normal();
    shard_of[tensor] = shard_path;
    first_tensor_of.emplace(shard_path, tensor);
  }

  for (const auto& [shard_path, tensor] : first_tensor_of) {
    std::error_code ec;
    if (!fs::exists(shard_path, ec)) {
      fail_index(index_file, str("shard file ", shard_path.string(), " (holding tensor '", tensor,
                                 "') does not exist"));
    }
    add_file(shard_path);
  }
  for (const auto& [tensor, shard_path] : shard_of) {
    const SafetensorsEntry* e = find(tensor);
    if (e == nullptr || e->file != shard_path) {
      fail_index(index_file, str("tensor '", tensor, "' is mapped to shard ", shard_path.string(),
                                 ", which does not contain it"));
    }
  }
}

const SafetensorsEntry* SafetensorsCheckpoint::find(std::string_view name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

const SafetensorsEntry& SafetensorsCheckpoint::at(std::string_view name) const {
  const SafetensorsEntry* e = find(name);
  if (e == nullptr) {
    throw Error(str("tensor '", name, "' not found in safetensors checkpoint ", path_.string(),
                    " (it has ", entries_.size(), " tensors)"));
  }
  return *e;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [name, e] : entries_) names.push_back(name);
  return names;
}

int SafetensorsCheckpoint::fd_of(const SafetensorsEntry& e) const {
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i] == e.file) return fds_[i].get();
  }
  ALISA_ASSERT(false, "tensor '", e.name, "' (", e.file.string(), ") is not from checkpoint ",
               path_.string());
  return -1;
}

void SafetensorsCheckpoint::read_raw(const SafetensorsEntry& e, void* dst) const {
  read_exact(fd_of(e), e.file, str("tensor '", e.name, "'"), dst, e.n_bytes, e.offset_bytes);
}

void SafetensorsCheckpoint::read_f32(const SafetensorsEntry& e, float* dst) const {
  if (e.dtype == DType::kF32) {
    read_raw(e, dst);
    return;
  }
  if (e.dtype != DType::kF16 && e.dtype != DType::kBF16) {
    fail_tensor(e.file, e.name,
                str("has dtype ", safetensors_dtype_name(e.dtype),
                    "; only F32, F16 and BF16 tensors can be read as float32"));
  }
  // Convert through a bounded staging buffer rather than a second copy of the whole tensor.
  const int fd = fd_of(e);
  const std::string what = str("tensor '", e.name, "'");
  const uint64_t n = static_cast<uint64_t>(e.n_elements());
  std::vector<uint16_t> staging(std::min<uint64_t>(n, uint64_t{1} << 18));
  for (uint64_t first = 0; first < n; first += staging.size()) {
    const uint64_t count = std::min<uint64_t>(staging.size(), n - first);
    read_exact(fd, e.file, what, staging.data(), count * 2, e.offset_bytes + first * 2);
    if (e.dtype == DType::kF16) {
      for (uint64_t i = 0; i < count; ++i) dst[first + i] = half_bits_to_float(staging[i]);
    } else {
      for (uint64_t i = 0; i < count; ++i) dst[first + i] = bf16_bits_to_float(staging[i]);
    }
  }
}

}  // namespace alisa
