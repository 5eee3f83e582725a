#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/model/safetensors.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using alisa::DType;
using alisa::SafetensorsCheckpoint;
using alisa::SafetensorsEntry;
using alisa::SafetensorsTensorView;
using alisa::test::fixture_path;
using alisa::test::ScratchDir;
using alisa::test::write_text;
using Catch::Contains;
using StringMatcher = Catch::Matchers::Impl::MatcherBase<std::string>;

static_assert(!std::is_copy_constructible_v<SafetensorsCheckpoint>);
static_assert(std::is_nothrow_move_constructible_v<SafetensorsCheckpoint>);
static_assert(std::is_nothrow_move_assignable_v<SafetensorsCheckpoint>);

namespace {

std::string le64(uint64_t v) {
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &v, 8);
  return bytes;
}

// A safetensors file made of the given header text and data_bytes zero bytes of data.
fs::path craft(const ScratchDir& dir, const std::string& name, const std::string& header,
               size_t data_bytes = 64) {
  const fs::path path = dir / name;
  write_text(path, le64(header.size()) + header + std::string(data_bytes, '\0'));
  return path;
}

// The action must throw alisa::Error with a one-line message matching `matcher`.
void require_error(const std::function<void()>& action, const StringMatcher& matcher) {
  REQUIRE_THROWS_AS(action(), alisa::Error);
  REQUIRE_THROWS_WITH(action(), matcher);
  REQUIRE_THROWS_WITH(action(), !Contains("\n"));
}

// Opening `path` must fail with a message naming the file and matching `matcher`.
void require_open_error(const fs::path& path, const StringMatcher& matcher) {
  require_error([&] { SafetensorsCheckpoint::open(path); }, Contains(path.string()) && matcher);
}

std::vector<uint8_t> raw_bytes(const SafetensorsCheckpoint& checkpoint, const SafetensorsEntry& e) {
  std::vector<uint8_t> bytes(e.n_bytes);
  checkpoint.read_raw(e, bytes.data());
  return bytes;
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

TEST_CASE("safetensors reads the opt-tiny checkpoint folder", "[safetensors]") {
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(fixture_path("opt-tiny"));
  const SafetensorsEntry& embed = checkpoint.at("model.decoder.embed_tokens.weight");
  CHECK(embed.dtype == DType::kF16);
  CHECK(embed.shape == std::vector<int64_t>{512, 64});
  CHECK(embed.n_elements() == 512 * 64);
  CHECK(embed.n_bytes == 512 * 64 * 2);
  CHECK(embed.file.filename() == "model.safetensors");
  CHECK(checkpoint.find("lm_head.weight") == nullptr);  // tied to the embedding, not stored
  CHECK(checkpoint.find("model.decoder.layers.0.self_attn.q_proj.weight") != nullptr);
  CHECK(checkpoint.metadata().at("format") == "pt");

  const std::vector<std::string> names = checkpoint.names();
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(names.size() == checkpoint.size());

  // The tensors tile the data section exactly: offsets are where the header says.
  const uint64_t file_bytes = fs::file_size(embed.file);
  uint64_t total_bytes = 0;
  uint64_t data_start = file_bytes;
  for (const std::string& name : names) {
    const SafetensorsEntry& e = checkpoint.at(name);
    CHECK(e.dtype == DType::kF16);
    total_bytes += e.n_bytes;
    data_start = std::min(data_start, e.offset_bytes);
    CHECK(e.offset_bytes + e.n_bytes <= file_bytes);
  }
  CHECK(data_start + total_bytes == file_bytes);
  CHECK(data_start % 8 == 0);
  CHECK(embed.offset_bytes == data_start + 16640);  // after embed_positions [130, 64]

  const std::vector<uint8_t> raw = raw_bytes(checkpoint, embed);
  std::vector<float> values(embed.n_elements());
  checkpoint.read_f32(embed, values.data());
  bool all_zero = true;
  size_t n_mismatched = 0, n_non_finite = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, raw.data() + 2 * i, 2);
    n_mismatched += values[i] != alisa::half_bits_to_float(bits);
    n_non_finite += !std::isfinite(values[i]);
    all_zero = all_zero && values[i] == 0.0f;
  }
  CHECK(n_mismatched == 0);
  CHECK(n_non_finite == 0);
  CHECK(!all_zero);
}

TEST_CASE("safetensors reads the reference logits and the llama-tiny checkpoint", "[safetensors]") {
  const SafetensorsCheckpoint reference =
      SafetensorsCheckpoint::open(fixture_path("opt-tiny/reference.safetensors"));
  const SafetensorsEntry& prefill = reference.at("prefill_logits");
  CHECK(prefill.dtype == DType::kF32);
  REQUIRE(prefill.shape.size() == 3);
  CHECK(prefill.shape[2] == 512);
  std::vector<float> logits(prefill.n_elements());
  reference.read_f32(prefill, logits.data());
  size_t n_nonzero = 0, n_non_finite = 0;
  for (float v : logits) {
    n_non_finite += !std::isfinite(v);
    n_nonzero += v != 0.0f;
  }
  CHECK(n_non_finite == 0);
  CHECK(n_nonzero > logits.size() / 2);
  CHECK(reference.find("decode_logits") != nullptr);

  const SafetensorsCheckpoint llama = SafetensorsCheckpoint::open(fixture_path("llama-tiny"));
  CHECK(llama.at("lm_head.weight").shape == std::vector<int64_t>{512, 64});
  CHECK(llama.at("model.embed_tokens.weight").dtype == DType::kF16);
  CHECK(llama.find("model.layers.0.mlp.gate_proj.weight") != nullptr);
}

TEST_CASE("safetensors round trip keeps dtypes, shapes, bytes and metadata", "[safetensors]") {
  ScratchDir dir;
  const std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, -7.0f};
  const std::vector<float> f16_values = {1.5f, -2.25f, 0.0078125f, 65504.0f, -0.0f};
  const std::vector<float> bf16_values = {1.0f, -3.0f, std::ldexp(1.5f, 66), 0.5f};
  std::vector<uint16_t> f16, bf16;
  for (float v : f16_values) f16.push_back(alisa::float_to_half_bits(v));
  for (float v : bf16_values) bf16.push_back(alisa::float_to_bf16_bits(v));
  const std::vector<int32_t> i32 = {7, -1, 2147483647, 0};
  const float scalar = 42.0f;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "h\u00e9llo"}};

  const fs::path path = dir / "round_trip.safetensors";
  alisa::write_safetensors(path,
                           {{"w.f32", DType::kF32, {2, 3}, f32.data()},
                            {"b.f16", DType::kF16, {5}, f16.data()},
                            {"a.bf16", DType::kBF16, {2, 2}, bf16.data()},
                            {"ids", DType::kI32, {4}, i32.data()},
                            {"scalar", DType::kF32, {}, &scalar},
                            {"empty", DType::kF32, {0, 5}, nullptr}},
                           metadata);

  const std::string bytes = alisa::test::read_text(path);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  CHECK(header_bytes % 8 == 0);
  const std::string header = bytes.substr(8, header_bytes);  // JSON, then space padding
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));

  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
  CHECK(checkpoint.names() ==
        std::vector<std::string>{"a.bf16", "b.f16", "empty", "ids", "scalar", "w.f32"});
  CHECK(checkpoint.metadata() == metadata);
  // Data in the given order.
  CHECK(checkpoint.at("w.f32").offset_bytes == 8 + header_bytes);
  CHECK(checkpoint.at("b.f16").offset_bytes == 8 + header_bytes + 24);
  CHECK(checkpoint.at("a.bf16").offset_bytes == 8 + header_bytes + 34);

  CHECK(checkpoint.at("w.f32").shape == std::vector<int64_t>{2, 3});
  CHECK(raw_bytes(checkpoint, checkpoint.at("w.f32")) == as_bytes(f32));
  CHECK(raw_bytes(checkpoint, checkpoint.at("b.f16")) == as_bytes(f16));
  CHECK(raw_bytes(checkpoint, checkpoint.at("a.bf16")) == as_bytes(bf16));
  CHECK(checkpoint.at("ids").dtype == DType::kI32);
  CHECK(raw_bytes(checkpoint, checkpoint.at("ids")) == as_bytes(i32));

  std::vector<float> out(6);
  checkpoint.read_f32(checkpoint.at("b.f16"), out.data());
  for (size_t i = 0; i < f16_values.size(); ++i) CHECK(out[i] == f16_values[i]);
  checkpoint.read_f32(checkpoint.at("a.bf16"), out.data());
  for (size_t i = 0; i < bf16_values.size(); ++i) CHECK(out[i] == bf16_values[i]);
  checkpoint.read_f32(checkpoint.at("w.f32"), out.data());
  CHECK(out == f32);

  const SafetensorsEntry& scalar_entry = checkpoint.at("scalar");
  CHECK(scalar_entry.shape.empty());
  CHECK(scalar_entry.n_elements() == 1);
  checkpoint.read_f32(scalar_entry, out.data());
  CHECK(out[0] == 42.0f);
  CHECK(checkpoint.at("empty").n_bytes == 0);
  CHECK(checkpoint.at("empty").n_elements() == 0);

  require_error([&] { checkpoint.read_f32(checkpoint.at("ids"), out.data()); },
                Contains(path.string()) && Contains("'ids'") && Contains("I32"));

  // Movable: the moved-to object keeps the open file.
  SafetensorsCheckpoint moved = SafetensorsCheckpoint::open(path);
  SafetensorsCheckpoint target = std::move(moved);
  CHECK(raw_bytes(target, target.at("ids")) == as_bytes(i32));

  // No tensors, no metadata: still a valid file.
  const fs::path empty_path = dir / "empty.safetensors";
  alisa::write_safetensors(empty_path, {});
  CHECK(SafetensorsCheckpoint::open(empty_path).size() == 0);
}

TEST_CASE("safetensors reads a sharded checkpoint through its index", "[safetensors]") {
  ScratchDir dir;
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6}, c = {7, 8, 9};
  alisa::write_safetensors(
      dir / "model-00001-of-00002.safetensors",
      {{"a", DType::kF32, {2, 2}, a.data()}, {"b", DType::kF32, {2}, b.data()}},
      {{"format", "pt"}});
  alisa::write_safetensors(dir / "model-00002-of-00002.safetensors",
                           {{"c", DType::kF32, {3}, c.data()}}, {{"format", "other"}});
  write_text(dir / "model.safetensors.index.json",
             R"({"metadata": {"total_size": 36}, "weight_map": {
                 "a": "model-00001-of-00002.safetensors",
                 "b": "model-00001-of-00002.safetensors",
                 "c": "./model-00002-of-00002.safetensors"}})");

  for (const fs::path& path : {dir.path(), dir / "model.safetensors.index.json"}) {
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
    CHECK(checkpoint.names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(checkpoint.metadata().at("format") == "pt");
    CHECK(checkpoint.at("c").file == dir / "model-00002-of-00002.safetensors");
    std::vector<float> out(4);
    checkpoint.read_f32(checkpoint.at("a"), out.data());
    CHECK(out == a);
    checkpoint.read_f32(checkpoint.at("c"), out.data());
    CHECK(std::vector<float>(out.begin(), out.begin() + 3) == c);
    checkpoint.read_f32(checkpoint.at("b"), out.data());
    CHECK(std::vector<float>(out.begin(), out.begin() + 2) == b);
  }
}

TEST_CASE("safetensors rejects malformed files, naming the file and tensor", "[safetensors]") {
  ScratchDir dir;
  const std::string ok_offsets = R"("data_offsets": [0, 8])";

  const fs::path tiny = dir / "tiny.safetensors";
  write_text(tiny, "abc");
  require_open_error(tiny, Contains("too short"));

  const fs::path zero = dir / "zero.safetensors";
  write_text(zero, le64(0) + "{}");
  require_open_error(zero, Contains("header length is 0"));

  const fs::path long_header = dir / "long_header.safetensors";
  write_text(long_header, le64(1000) + "{}");
  require_open_error(long_header, Contains("1000") && Contains("larger than"));

  const fs::path absurd = dir / "absurd.safetensors";
  write_text(absurd, le64(200'000'000) + "{}");
  require_open_error(absurd, Contains("absurd"));

  require_open_error(craft(dir, "not_json.safetensors", "{not json"), Contains("not valid JSON"));
  require_open_error(craft(dir, "array.safetensors", "[1, 2]"),
                     Contains("array") && Contains("not an object"));
  require_open_error(craft(dir, "entry.safetensors", R"({"w": 5})"),
                     Contains("'w'") && Contains("not an object"));
  // A control character in a name is escaped, keeping the message on one line.
  require_open_error(craft(dir, "newline.safetensors", R"({"w\nx": 5})"),
                     Contains("'w\\x0ax'") && Contains("not an object"));
  require_open_error(craft(dir, "dup.safetensors", R"({"w": {}, "w": {}})"),
                     Contains("'w'") && Contains("twice"));

  // One tensor entry "w" with the given fields.
  const auto entry = [&](const std::string& name, const std::string& fields) {
    return craft(dir, name, R"({"w": {)" + fields + "}}");
  };
  require_open_error(entry("no_dtype.safetensors", R"("shape": [2], )" + ok_offsets),
                     Contains("'w'") && Contains("dtype"));
  require_open_error(entry("int_dtype.safetensors", R"("dtype": 5, "shape": [2], )" + ok_offsets),
                     Contains("'w'") && Contains("dtype") && Contains("not a string"));
  require_open_error(entry("f64.safetensors", R"("dtype": "F64", "shape": [1], )" + ok_offsets),
                     Contains("'w'") && Contains("F64"));
  require_open_error(entry("no_shape.safetensors", R"("dtype": "F32", )" + ok_offsets),
                     Contains("'w'") && Contains("shape"));
  require_open_error(entry("int_shape.safetensors", R"("dtype": "F32", "shape": 2, )" + ok_offsets),
                     Contains("'w'") && Contains("shape") && Contains("not an array"));
  require_open_error(
      entry("float_dim.safetensors", R"("dtype": "F32", "shape": [2.5], )" + ok_offsets),
      Contains("'w'") && Contains("2.5"));
  require_open_error(
      entry("string_dim.safetensors", R"("dtype": "F32", "shape": ["2"], )" + ok_offsets),
      Contains("'w'") && Contains("non-integer"));
  require_open_error(
      entry("negative_dim.safetensors", R"("dtype": "F32", "shape": [-2, 2], )" + ok_offsets),
      Contains("'w'") && Contains("negative") && Contains("-2"));
  require_open_error(entry("no_offsets.safetensors", R"("dtype": "F32", "shape": [2])"),
                     Contains("'w'") && Contains("data_offsets"));
  for (const std::string offsets : {"[0]", "[0, \"8\"]", "[8, 0]", "[-8, 0]", "[0, 8.0]", "8"}) {
    INFO("data_offsets " << offsets);
    require_open_error(entry("bad_offsets.safetensors",
                             R"("dtype": "F32", "shape": [2], "data_offsets": )" + offsets),
                       Contains("'w'") && Contains("data_offsets") && Contains("ascending"));
  }
  require_open_error(
      entry("size.safetensors", R"("dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12])"),
      Contains("'w'") && Contains("12 bytes") && Contains("16 bytes"));
  require_open_error(
      entry("past_end.safetensors", R"("dtype": "F32", "shape": [32], "data_offsets": [0, 128])"),
      Contains("'w'") && Contains("past the end") && Contains("64 bytes"));
  require_open_error(craft(dir, "overlap.safetensors",
                           R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})"),
                     Contains("'a'") && Contains("'b'") && Contains("overlaps"));
  require_open_error(craft(dir, "meta_value.safetensors", R"({"__metadata__": {"k": 1}})"),
                     Contains("__metadata__") && Contains("'k'"));
  require_open_error(craft(dir, "meta_string.safetensors", R"({"__metadata__": "pt"})"),
                     Contains("__metadata__") && Contains("string-to-string"));

  // Zero-sized tensors share an offset without overlapping anything.
  const fs::path empties = craft(dir, "empties.safetensors",
                                 R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]},
                                     "b": {"dtype": "I8", "shape": [2, 0], "data_offsets": [8, 8]},
                                     "c": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})");
  CHECK(SafetensorsCheckpoint::open(empties).size() == 3);
}

TEST_CASE("safetensors reports missing paths, tensors and truncated files", "[safetensors]") {
  ScratchDir dir;
  require_open_error(dir / "missing.safetensors", Contains("not found"));
  fs::create_directory(dir / "empty_folder");
  require_open_error(dir / "empty_folder", Contains("model.safetensors"));

  // A real file cut in its data section fails at open, naming a tensor past the end.
  const std::string full = alisa::test::read_text(fixture_path("opt-tiny/model.safetensors"));
  const fs::path truncated = dir / "truncated.safetensors";
  write_text(truncated, full.substr(0, full.size() - 1000));
  require_open_error(truncated,
                     Contains("tensor '") && Contains("past the end") && Contains("truncated"));

  const std::vector<float> values(256, 1.0f);
  const fs::path path = dir / "w.safetensors";
  alisa::write_safetensors(path, {{"w", DType::kF32, {256}, values.data()}});
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(path);
  require_error([&] { checkpoint.at("nope"); }, Contains("'nope'") && Contains(path.string()));

  // Shrunk after open: the read itself reports the short read.
  fs::resize_file(path, 100);
  std::vector<float> out(256);
  require_error([&] { checkpoint.read_raw(checkpoint.at("w"), out.data()); },
                Contains(path.string()) && Contains("'w'") && Contains("short read"));
}

TEST_CASE("safetensors rejects broken sharded checkpoints", "[safetensors]") {
  ScratchDir dir;
  const std::vector<float> a = {1, 2};
  alisa::write_safetensors(dir / "s1.safetensors", {{"a", DType::kF32, {2}, a.data()}});
  alisa::write_safetensors(dir / "s2.safetensors", {{"a", DType::kF32, {2}, a.data()}});
  const fs::path index = dir / "model.safetensors.index.json";
  const auto with_index = [&](const std::string& text, const StringMatcher& matcher) {
    write_text(index, text);
    require_open_error(dir.path(), Contains(index.string()) && matcher);
  };
  with_index("{oops", Contains("not valid JSON"));
  with_index(R"({"metadata": {}})", Contains("weight_map"));
  with_index(R"({"weight_map": {"a": 3}})", Contains("'a'"));
  with_index(R"({"weight_map": {"a": "gone.safetensors"}})",
             Contains("gone.safetensors") && Contains("'a'") && Contains("does not exist"));
  with_index(R"({"weight_map": {"a": "s1.safetensors", "zzz": "s1.safetensors"}})",
             Contains("'zzz'") && Contains("s1.safetensors") && Contains("does not contain"));
  write_text(index, R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  require_open_error(dir.path(), Contains("'a'") && Contains("s1.safetensors") &&
                                     Contains("s2.safetensors") && Contains("only one shard"));
}

TEST_CASE("safetensors writer validates its inputs and reports I/O errors", "[safetensors]") {
  ScratchDir dir;
  const std::vector<float> v = {1, 2, 3, 4};
  const fs::path path = dir / "out.safetensors";
  const auto write_fails = [&](const fs::path& target, std::vector<SafetensorsTensorView> tensors,
                               const StringMatcher& matcher) {
    require_error([&] { alisa::write_safetensors(target, tensors); },
                  Contains(target.string()) && matcher);
  };
  write_fails(path, {{"w", DType::kF32, {-1, 4}, v.data()}}, Contains("'w'") && Contains("shape"));
  write_fails(path, {{"w", DType::kF32, {4}, v.data()}, {"w", DType::kF32, {4}, v.data()}},
              Contains("'w'") && Contains("twice"));
  write_fails(path, {{"w", DType::kF32, {4}, nullptr}}, Contains("'w'") && Contains("no data"));
  write_fails(path, {{"__metadata__", DType::kF32, {4}, v.data()}}, Contains("__metadata__"));
  write_fails(path, {{"bad\xff", DType::kF32, {4}, v.data()}}, Contains("UTF-8"));
  write_fails(dir / "no_such_folder" / "x.safetensors", {{"w", DType::kF32, {4}, v.data()}},
              Contains("cannot create"));
  if (fs::exists("/dev/full")) {
    write_fails("/dev/full", {{"w", DType::kF32, {4}, v.data()}}, Contains("No space left"));
  }
}
