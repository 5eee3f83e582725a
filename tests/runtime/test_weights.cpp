// Weights: the layout derived from a ModelSpec against real checkpoints, seeded dummy values, and
// materialising a checkpoint on the CPU device (values, tying, memory cap).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/base/common.h"
#include "runtime/base/dtype.h"
#include "runtime/core/device.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/weights.h"
#include "runtime/schedule/weight_store.h"
#include "tests/test_support.h"

using alisa::CpuDevice;
using alisa::DType;
using alisa::ModelSpec;
using alisa::SafetensorsCheckpoint;
using alisa::Tensor;
using alisa::weight_layout;
using alisa::WeightSlot;
using alisa::WeightStore;
using alisa::test::fixture_path;
using Catch::Contains;

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const WeightSlot& slot_named(const std::vector<WeightSlot>& layout, const std::string& name) {
  const auto it = std::find_if(layout.begin(), layout.end(),
                               [&](const WeightSlot& slot) { return slot.name == name; });
  INFO("slot " << name);
  REQUIRE(it != layout.end());
  return *it;
}

std::vector<float> read_slot(const alisa::WeightSource& source, const WeightSlot& slot) {
  std::vector<float> values(static_cast<size_t>(numel(slot.shape)));
  source.read_f32(slot, values.data());
  return values;
}

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};

Moments moments(const std::vector<float>& values) {
  Moments m;
  double sum = 0, sum_sq = 0;
  m.min = m.max = values.at(0);
  for (float v : values) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    m.min = std::min<double>(m.min, v);
    m.max = std::max<double>(m.max, v);
  }
  const double n = static_cast<double>(values.size());
  m.mean = sum / n;
  m.std = std::sqrt(std::max(0.0, sum_sq / n - m.mean * m.mean));
  return m;
}

const Tensor& tensor_of(const WeightStore& weights, const WeightSlot& slot) {
  return slot.layer >= 0 ? weights.resident_layer(slot.layer).*slot.layer_field
                         : weights.globals().*slot.global_field;
}

// The checkpoint's float16 values of one tensor, widened to float32.
std::vector<float> f16_values(const SafetensorsCheckpoint& checkpoint, const std::string& name) {
  const alisa::SafetensorsEntry& entry = checkpoint.at(name);
  REQUIRE(entry.dtype == DType::kF16);
  std::vector<uint16_t> raw(static_cast<size_t>(entry.n_elements()));
  checkpoint.read_raw(entry, raw.data());
  std::vector<float> values;
  for (uint16_t h : raw) values.push_back(alisa::half_bits_to_float(h));
  return values;
}

// Every weight on `device`.
alisa::Tiers on(CpuDevice& device) {
  return {.compute = &device, .cpu = &device, .cpu_weights = &device};
}

}  // namespace

TEST_CASE("weight_layout names and shapes are exactly the fixture checkpoints' tensors",
          "[weights]") {
  for (const char* model : {"opt-tiny", "llama-tiny"}) {
    INFO(model);
    const ModelSpec spec = alisa::load_model_spec(fixture_path(model));
    const std::vector<WeightSlot> layout = weight_layout(spec);
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(fixture_path(model));

    std::vector<std::string> names;
    for (const WeightSlot& slot : layout) {
      INFO(slot.name);
      names.push_back(slot.name);
      const alisa::SafetensorsEntry* entry = checkpoint.find(slot.name);
      REQUIRE(entry != nullptr);
      CHECK(entry->shape == slot.shape);
      // Exactly one destination, consistent with the layer index.
      CHECK((slot.layer >= 0) == (slot.layer_field != nullptr));
      CHECK((slot.layer < 0) == (slot.global_field != nullptr));
      CHECK(slot.layer < spec.n_layers);
      const bool norm_weight = slot.name.find("norm.weight") != std::string::npos;
      CHECK(slot.is_norm_weight == norm_weight);
    }
    std::sort(names.begin(), names.end());
    CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());  // no duplicates
    CHECK(names == checkpoint.names());

    // Checkpoint order: the globals, then layer 0, then layer 1.
    int64_t last_layer = -1;
    for (const WeightSlot& slot : layout) {
      CHECK(slot.layer >= last_layer);
      last_layer = std::max(last_layer, slot.layer);
    }
    CHECK(last_layer == spec.n_layers - 1);
  }
  const ModelSpec opt = alisa::load_model_spec(fixture_path("opt-tiny"));
  for (const WeightSlot& slot : weight_layout(opt)) CHECK(slot.name != "lm_head.weight");
}

TEST_CASE("weight_layout adds project_in/out when word_embed_proj_dim != hidden", "[weights]") {
  ModelSpec spec = alisa::load_model_spec(fixture_path("opt-tiny"));
  spec.word_embed_proj_dim = 32;
  spec.tie_word_embeddings = false;
  const std::vector<WeightSlot> layout = weight_layout(spec);
  CHECK(slot_named(layout, "model.decoder.embed_tokens.weight").shape ==
        std::vector<int64_t>{512, 32});
  const WeightSlot& project_in = slot_named(layout, "model.decoder.project_in.weight");
  CHECK(project_in.shape == std::vector<int64_t>{64, 32});  // Linear(embed_dim -> hidden)
  CHECK(project_in.global_field == &alisa::GlobalWeights::project_in);
  const WeightSlot& project_out = slot_named(layout, "model.decoder.project_out.weight");
  CHECK(project_out.shape == std::vector<int64_t>{32, 64});  // Linear(hidden -> embed_dim)
  CHECK(project_out.global_field == &alisa::GlobalWeights::project_out);
  CHECK(slot_named(layout, "lm_head.weight").shape == std::vector<int64_t>{512, 32});

  // The fixture itself has none.
  for (const WeightSlot& slot : weight_layout(alisa::load_model_spec(fixture_path("opt-tiny")))) {
    CHECK(slot.name.find("project_") == std::string::npos);
  }
}

TEST_CASE("weight_layout holds exactly n_parameters() values for every named model", "[weights]") {
  for (const std::string& name : alisa::named_model_names()) {
    INFO(name);
    const ModelSpec spec = alisa::named_model_spec(name);
    int64_t total = 0;
    for (const WeightSlot& slot : weight_layout(spec)) total += numel(slot.shape);
    CHECK(total == spec.n_parameters());
  }
  ModelSpec opt_350m = alisa::named_model_spec("opt-125m");
  opt_350m.word_embed_proj_dim = 512;
  opt_350m.final_norm = false;
  int64_t total = 0;
  for (const WeightSlot& slot : weight_layout(opt_350m)) total += numel(slot.shape);
  CHECK(total == opt_350m.n_parameters());
}

TEST_CASE("dummy weights are seeded, varied and of a realistic scale", "[weights]") {
  const std::vector<WeightSlot> layout = weight_layout(alisa::named_model_spec("opt-125m"));
  const WeightSlot& q = slot_named(layout, "model.decoder.layers.3.self_attn.q_proj.weight");
  const WeightSlot& k = slot_named(layout, "model.decoder.layers.3.self_attn.k_proj.weight");
  const WeightSlot& fc1 = slot_named(layout, "model.decoder.layers.0.fc1.weight");
  const WeightSlot& q_bias = slot_named(layout, "model.decoder.layers.3.self_attn.q_proj.bias");
  const WeightSlot& norm = slot_named(layout, "model.decoder.layers.3.self_attn_layer_norm.weight");
  const WeightSlot& final_norm = slot_named(layout, "model.decoder.final_layer_norm.weight");
  CHECK(q.shape == std::vector<int64_t>{768, 768});

  const auto seed_1 = alisa::make_dummy_weights(1);
  const auto seed_1_again = alisa::make_dummy_weights(1);
  const auto seed_2 = alisa::make_dummy_weights(2);
  CHECK_THAT(seed_1->description(), Contains("dummy") && Contains("1"));
  seed_1->validate(layout);  // anything goes

  const std::vector<float> q1 = read_slot(*seed_1, q);
  CHECK(q1 == read_slot(*seed_1_again, q));  // deterministic
  CHECK(q1 == read_slot(*seed_1, q));
  const std::vector<float> q2 = read_slot(*seed_2, q);
  const std::vector<float> k1 = read_slot(*seed_1, k);
  size_t same_seed = 0, same_tensor = 0;
  for (size_t i = 0; i < q1.size(); ++i) {
    same_seed += q1[i] == q2[i];
    same_tensor += q1[i] == k1[i];
  }
  CHECK(same_seed < q1.size() / 100);                    // another seed: other values
  CHECK(same_tensor < q1.size() / 100);                  // another tensor: other values
  CHECK(std::count(q1.begin(), q1.end(), q1[0]) < 100);  // not all equal

  for (const WeightSlot* matrix : {&q, &fc1}) {
    INFO(matrix->name);
    const Moments m = moments(read_slot(*seed_1, *matrix));
    CHECK(std::abs(m.mean) < 1e-3);
    CHECK(m.std == Approx(0.02).epsilon(0.02));
    CHECK(m.max <= 0.02 * std::sqrt(3.0) + 1e-6);
    CHECK(m.min >= -0.02 * std::sqrt(3.0) - 1e-6);
  }
  const Moments bias = moments(read_slot(*seed_1, q_bias));
  CHECK(std::abs(bias.mean) < 3e-3);
  CHECK(bias.max <= 0.02f);
  CHECK(bias.min >= -0.02f);
  CHECK(bias.max > bias.min);
  for (const WeightSlot* slot : {&norm, &final_norm}) {
    INFO(slot->name);
    CHECK(slot->is_norm_weight);
    const Moments m = moments(read_slot(*seed_1, *slot));
    CHECK(m.mean == Approx(1.0).margin(0.01));
    CHECK(m.min >= 0.9 - 1e-6);
    CHECK(m.max <= 1.1 + 1e-6);
    CHECK(m.std > 0.01);
  }
}

TEST_CASE("dummy weights loaded into a WeightStore match slot-by-slot reads", "[weights]") {
  const ModelSpec spec = alisa::load_model_spec(fixture_path("llama-tiny"));
  const auto source = alisa::make_dummy_weights(7);
  CpuDevice device;
  const WeightStore weights(spec, *source, on(device), DType::kF32, {});
  for (const WeightSlot& slot : weight_layout(spec)) {
    INFO(slot.name);
    const Tensor& t = tensor_of(weights, slot);
    REQUIRE(t.numel() == numel(slot.shape));
    const std::vector<float> expected = read_slot(*source, slot);
    CHECK(std::equal(expected.begin(), expected.end(), t.data_as<float>()));
  }
}

TEST_CASE("a WeightStore of a fixture gives the checkpoint's float16 values", "[weights]") {
  for (const char* model : {"opt-tiny", "llama-tiny"}) {
    INFO(model);
    const ModelSpec spec = alisa::load_model_spec(fixture_path(model));
    const std::unique_ptr<alisa::WeightSource> source =
        alisa::open_checkpoint_weights(fixture_path(model));
    CHECK_THAT(source->description(), Contains(fixture_path(model).string()));
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(fixture_path(model));
    CpuDevice device;
    const WeightStore weights(spec, *source, on(device), DType::kF32, {});

    int64_t total = 0;
    for (const WeightSlot& slot : weight_layout(spec)) {
      INFO(slot.name);
      const Tensor& t = tensor_of(weights, slot);
      REQUIRE_FALSE(t.empty());
      CHECK(t.dtype() == DType::kF32);
      CHECK(t.device() == &device);
      CHECK(t.is_contiguous());
      REQUIRE(t.rank() == static_cast<int>(slot.shape.size()));
      for (int d = 0; d < t.rank(); ++d) CHECK(t.size(d) == slot.shape[static_cast<size_t>(d)]);
      const std::vector<float> expected = f16_values(checkpoint, slot.name);
      REQUIRE(static_cast<int64_t>(expected.size()) == t.numel());
      CHECK(std::equal(expected.begin(), expected.end(), t.data_as<float>()));
      total += t.numel();
    }
    CHECK(total == spec.n_parameters());
    CHECK(weights.bytes_on(alisa::Tier::kCompute) == static_cast<size_t>(total) * sizeof(float));
    CHECK(device.used_bytes() == weights.bytes_on(alisa::Tier::kCompute));

    const alisa::GlobalWeights& g = weights.globals();
    if (spec.tie_word_embeddings) {
      CHECK(g.lm_head.data() == g.token_embedding.data());
      CHECK(g.position_embedding.size(0) == 130);
    } else {
      CHECK(g.lm_head.data() != g.token_embedding.data());
      const std::vector<float> lm_head = f16_values(checkpoint, "lm_head.weight");
      CHECK(std::equal(lm_head.begin(), lm_head.end(), g.lm_head.data_as<float>()));
      CHECK(g.position_embedding.empty());
      CHECK(weights.resident_layer(0).q_bias.empty());  // LLaMA: no biases
      CHECK(weights.resident_layer(1).down_bias.empty());
      CHECK(weights.resident_layer(1).gate_weight.size(0) == 160);
    }
  }
}

TEST_CASE("a WeightStore frees everything and names the cap when it does not fit", "[weights]") {
  const ModelSpec spec = alisa::load_model_spec(fixture_path("opt-tiny"));
  const auto source = alisa::open_checkpoint_weights(fixture_path("opt-tiny"));
  CpuDevice device(64 * 1024);  // the model needs ~400 KiB in float32
  REQUIRE_THROWS_AS(WeightStore(spec, *source, on(device), DType::kF32, {}), alisa::Error);
  REQUIRE_THROWS_WITH(
      WeightStore(spec, *source, on(device), DType::kF32, {}),
      Contains("memory limit") && Contains("64.00 KiB") && Contains("model.decoder."));
  CHECK(device.used_bytes() == 0);
  CHECK(device.peak_bytes() <= 64 * 1024);
}

TEST_CASE("checkpoint weights are validated against the layout", "[weights]") {
  const auto source = alisa::open_checkpoint_weights(fixture_path("opt-tiny"));
  ModelSpec spec = alisa::load_model_spec(fixture_path("opt-tiny"));
  source->validate(weight_layout(spec));

  spec.ffn_dim = 128;
  REQUIRE_THROWS_AS(source->validate(weight_layout(spec)), alisa::Error);
  REQUIRE_THROWS_WITH(source->validate(weight_layout(spec)),
                      Contains(fixture_path("opt-tiny").string()) &&
                          Contains("'model.decoder.layers.0.fc1.weight' has shape [256, 64]") &&
                          Contains("[128, 64]"));

  spec = alisa::load_model_spec(fixture_path("opt-tiny"));
  spec.tie_word_embeddings = false;
  REQUIRE_THROWS_WITH(source->validate(weight_layout(spec)),
                      Contains("missing tensor 'lm_head.weight'"));
}

TEST_CASE("checkpoints whose names lack the 'model.' prefix load too", "[weights]") {
  const SafetensorsCheckpoint original = SafetensorsCheckpoint::open(fixture_path("llama-tiny"));
  std::map<std::string, std::vector<uint8_t>> data;
  std::vector<alisa::SafetensorsTensorView> views;
  for (const std::string& name : original.names()) {
    const alisa::SafetensorsEntry& entry = original.at(name);
    std::vector<uint8_t>& bytes = data[name];
    bytes.resize(entry.n_bytes);
    original.read_raw(entry, bytes.data());
    const std::string stripped = name.rfind("model.", 0) == 0 ? name.substr(6) : name;
    views.push_back({stripped, entry.dtype, entry.shape, bytes.data()});
  }
  alisa::test::ScratchDir dir;
  alisa::write_safetensors(dir / "model.safetensors", views);
  const auto source = alisa::open_checkpoint_weights(dir.path());
  const ModelSpec spec = alisa::load_model_spec(fixture_path("llama-tiny"));
  const std::vector<WeightSlot> layout = weight_layout(spec);
  source->validate(layout);
  const WeightSlot& embed = slot_named(layout, "model.embed_tokens.weight");
  CHECK(read_slot(*source, embed) == f16_values(original, "model.embed_tokens.weight"));
}
