#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "policy/cost_model.h"
#include "runtime/base/common.h"
#include "runtime/base/swa_budget.h"
#include "runtime/model/model_spec.h"
#include "runtime/model/tensor_shapes.h"
#include "tests/unit/cost_test_support.h"

namespace alisa {
namespace {

using cost_test::fast_hardware;
using cost_test::test_hardware;

CostInputs inputs(const std::string& model, int64_t prompt_len, int64_t gen_len,
                  const HardwareProfile& hw) {
  CostInputs in;
  in.model = model_footprint(named_model_spec(model));
  in.workload = {.prompt_len = prompt_len, .gen_len = gen_len};
  in.hardware = hw;
  return in;
}

Policy offloaded(int64_t b, int64_t g) {
  Policy p;
  p.gpu_batch_size = b;
  p.num_gpu_batches = g;
  return p;
}

TEST_CASE("cost model: weights streamed over the link, by hand", "[cost_model]") {
  // Only the link is slow (10 GB/s): each layer of each step and of the prefill moves the whole
  // layer, L * n times in all.
  HardwareProfile hw = fast_hardware();
  hw.h2d_pinned = {.alone_gbps = 10, .duplex_gbps = 10};
  CostInputs in = inputs("opt-1.3b", 64, 9, hw);
  Policy p = offloaded(4, 2);
  p.weights_gpu_percent = 0;
  p.weights_cpu_percent = 100;
  const Prediction out = predict(in, p);
  const double Wl = static_cast<double>(in.model.layer_weight_bytes);
  const double L = static_cast<double>(in.model.n_layers);
  CHECK(out.prefill_s == Approx(L * Wl / 10e9).epsilon(1e-6));
  CHECK(out.decode_s == Approx(8 * L * Wl / 10e9).epsilon(1e-6));
  CHECK(out.bottleneck == "pcie_h2d");
  CHECK(out.bottleneck_share == Approx(1));
  CHECK(out.total_throughput == Approx(8.0 * 9 / (9 * L * Wl / 10e9)).epsilon(1e-6));
  CHECK(out.decode_throughput == Approx(8.0 * 8 / (8 * L * Wl / 10e9)).epsilon(1e-6));
  // Pageable weights go at the pageable rate.
  p.pin_weights = false;
  hw.h2d_pageable = {.alone_gbps = 5, .duplex_gbps = 5};
  in.hardware = hw;
  CHECK(predict(in, p).decode_s == Approx(8 * L * Wl / 5e9).epsilon(1e-6));
  // From disk: the disk's rate bounds it.
  p.pin_weights = true;
  p.weights_cpu_percent = 0;
  hw.disk_read_gbps = 2;
  in.hardware = hw;
  CHECK(predict(in, p).decode_s == Approx(8 * L * Wl / 2e9).epsilon(1e-6));
  CHECK(predict(in, p).bottleneck == "disk");
}

TEST_CASE("cost model: each disk request pays the disk's latency, by hand", "[cost_model]") {
  // Only the requests take time: 200 us a read, 300 us a write. A disk-homed unit reads its K
  // and V (int8: values, scales and zeros of each) every step and writes the new token's.
  HardwareProfile hw = fast_hardware();
  hw.disk_read_latency_us = 200;
  hw.disk_write_latency_us = 300;
  CostInputs in = inputs("opt-1.3b", 32, 11, hw);
  const double L = static_cast<double>(in.model.n_layers);
  Policy p = offloaded(2, 4);
  p.cache_gpu_percent = p.cache_cpu_percent = 0;
  Prediction out = predict(in, p);
  CHECK(out.decode_s == Approx(L * 10 * 4 * 2 * (200 + 300) * 1e-6).epsilon(1e-6));
  CHECK(out.prefill_s == Approx(L * 4 * 2 * 300 * 1e-6).epsilon(1e-6));  // the prompt's K, V
  CHECK(out.bottleneck == "disk");
  p.compress_cache = true;
  CHECK(predict(in, p).decode_s == Approx(L * 10 * 4 * 6 * (200 + 300) * 1e-6).epsilon(1e-6));
  // Hidden states on disk: one read and one write a unit.
  p.compress_cache = false;
  p.cache_gpu_percent = 100;
  p.activations_gpu_percent = p.activations_cpu_percent = 0;
  CHECK(predict(in, p).decode_s == Approx(L * 10 * 4 * (200 + 300) * 1e-6).epsilon(1e-6));
  // Weights on disk: one read a matrix (OPT: q, k, v, out, fc1, fc2).
  p.activations_gpu_percent = 100;
  p.weights_gpu_percent = p.weights_cpu_percent = 0;
  CHECK(predict(in, p).decode_s == Approx(L * 10 * 6 * 200 * 1e-6).epsilon(1e-6));
}

TEST_CASE("cost model: a layer whose disk read outlasts a layer stalls the schedule, by hand",
          "[cost_model]") {
  // Layer 0 reads 1 GB at 1 GB/s (two requests of 100 us) while its predecessor computes in
  // next to no time: every pass through the layers (the prefill and each of 10 decode steps)
  // waits for it.
  HardwareProfile hw = fast_hardware();
  hw.disk_read_gbps = 1;
  hw.disk_read_latency_us = 100;
  CostInputs in = inputs("opt-1.3b", 32, 11, hw);
  std::vector<LayerDiskRead> reads(static_cast<size_t>(in.model.n_layers));
  reads[0] = {.bytes = 1e9, .requests = 2};
  Policy p = offloaded(2, 4);
  Prediction out = predict(in, p, reads);
  CHECK(out.prefill_s == Approx(1.0002).epsilon(1e-6));
  CHECK(out.decode_s == Approx(10 * 1.0002).epsilon(1e-6));
  CHECK(out.weight_read_stall_s == Approx(11 * 1.0002).epsilon(1e-6));
  CHECK(out.bottleneck == "disk");
  // Under a layer of 10 GB/s weight copies (all on the CPU) a 5 MB read hides.
  hw.h2d_pinned = {.alone_gbps = 10, .duplex_gbps = 10};
  in.hardware = hw;
  p.weights_gpu_percent = 0, p.weights_cpu_percent = 100;
  reads.assign(static_cast<size_t>(in.model.n_layers), {.bytes = 5e6, .requests = 1});
  out = predict(in, p, reads);
  CHECK(out.weight_read_stall_s == 0);
  CHECK(out.bottleneck == "pcie_h2d");
}

TEST_CASE("cost model: CPU attention, by hand", "[cost_model]") {
  // The CPU reads every cached token of every CPU-resident unit at 1 GB/s; the steps' lengths
  // are affine, so the ranges' means add up to the exact sum.
  HardwareProfile hw = fast_hardware();
  hw.cpu_attention = {{.threads = 16, .dense_gbps = 1, .sparse_gbps = 1}};
  CostInputs in = inputs("opt-1.3b", 100, 41, hw);
  Policy p = offloaded(8, 3);
  p.cache_gpu_percent = 0;
  p.cache_cpu_percent = 100;
  p.cpu_attention = true;
  const double Kf = static_cast<double>(in.model.kv_bytes_per_token_per_layer);
  const double L = static_cast<double>(in.model.n_layers);
  double tokens = 0;  // sum over the 40 decode steps of the tokens attended
  for (int64_t past = 100; past < 140; ++past) tokens += static_cast<double>(past + 1);
  const Prediction out = predict(in, p);
  CHECK(out.decode_s == Approx(L * 3 * 8 * Kf * tokens / 1e9).epsilon(1e-5));
  // The scheduling thread runs the CPU attention (and each unit's launches and waits, here too
  // fast to count).
  CHECK(out.bottleneck == "host");
  // Half the cache on the GPU: half the units are attended on the CPU.
  p.cache_gpu_percent = p.cache_cpu_percent = 50;
  CHECK(predict(in, p).decode_s == Approx(L * 1.5 * 8 * Kf * tokens / 1e9).epsilon(1e-5));
  SECTION("weights streaming up meanwhile slow it by what it loses of its rate") {
    // Weights from the CPU at the busy H2D rate (100 GB/s), and the attention outputs back; the
    // CPU keeps half its rate while they copy, so each step's attention takes half their time
    // more.
    p.cache_gpu_percent = 0, p.cache_cpu_percent = 100;
    p.weights_gpu_percent = 0, p.weights_cpu_percent = 100;
    hw.h2d_pinned_cpu_busy_gbps = 100;
    hw.cpu_attention_h2d_busy = {.dense = 0.5, .sparse = 1};
    in.hardware = hw;
    const double copied = static_cast<double>(in.model.layer_weight_bytes) +
                          3 * 8 * static_cast<double>(in.model.q_dim) * 2;
    const double attention = 3 * 8 * Kf * tokens / 1e9;
    const Prediction slowed = predict(in, p);
    CHECK(slowed.decode_s == Approx(L * (attention + 40 * 0.5 * copied / 100e9)).epsilon(1e-5));
    CHECK(slowed.bottleneck == "host");
    // SWA's sparse attention keeps its whole rate here.
    hw.cpu_attention_h2d_busy = {.dense = 1, .sparse = 0.5};
    in.hardware = hw;
    CHECK(predict(in, p).decode_s == Approx(L * attention).epsilon(1e-5));
  }
}

TEST_CASE("cost model: the runner's fixed cost per unit, by hand", "[cost_model]") {
  // Nothing else takes time: each (layer, GPU batch) of each step costs its floor on the
  // scheduling thread, plus what its hidden states, cache loads or CPU attention add.
  HardwareProfile hw = fast_hardware();
  hw.unit = {.gpu_us = 100, .cpu_attention_us = 300, .cache_load_us = 250, .hidden_load_us = 130};
  CostInputs in = inputs("opt-1.3b", 32, 11, hw);
  Policy p = offloaded(2, 4);
  const double units = static_cast<double>(in.model.n_layers) * 4 * 10;  // 10 decode steps
  const auto decode_us = [&](const Policy& policy) { return predict(in, policy).decode_s * 1e6; };
  CHECK(decode_us(p) == Approx(units * 100).epsilon(1e-6));
  CHECK(predict(in, p).bottleneck == "host");
  p.activations_gpu_percent = 0, p.activations_cpu_percent = 100;
  CHECK(decode_us(p) == Approx(units * 130).epsilon(1e-6));
  p.activations_gpu_percent = 100, p.activations_cpu_percent = 0;
  p.cache_gpu_percent = 50, p.cache_cpu_percent = 50;  // half the units loaded into a slot
  CHECK(decode_us(p) == Approx(units * (100 + 0.5 * 150)).epsilon(1e-6));
  p.cpu_attention = true;  // half attended on the CPU instead
  CHECK(decode_us(p) == Approx(units * (100 + 0.5 * 200)).epsilon(1e-6));
  p.cache_gpu_percent = 0, p.cache_cpu_percent = 50;  // the other half on disk: loaded
  CHECK(decode_us(p) == Approx(units * (100 + 0.5 * 200 + 0.5 * 150)).epsilon(1e-6));
}

TEST_CASE("cost model: SWA reads the selected tokens in place, by hand", "[cost_model]") {
  // gen_len 6: five decode steps, each its own range, priced at its own budget.
  HardwareProfile hw = fast_hardware();
  hw.gpu_attention[0].mapped_sparse_gbps = 2;  // the sparse kernel reading over the mapping
  CostInputs in = inputs("opt-1.3b", 60, 6, hw);
  in.swa = {.sparsity = 0.8, .min_tokens = 16};
  Policy p = offloaded(4, 1);
  p.cache_gpu_percent = 0;
  p.cache_cpu_percent = 100;
  const double Kf = static_cast<double>(in.model.kv_bytes_per_token_per_layer);
  const double L = static_cast<double>(in.model.n_layers);
  double selected = 0;
  for (int64_t past = 60; past < 65; ++past) {
    selected += static_cast<double>(swa_budget(past + 1, 0.8, 16).total);
  }
  CHECK(selected == 16 * 5);  // round(61..65 * 0.2) = 12..13, so min_tokens
  const Prediction out = predict(in, p);
  CHECK(out.decode_s == Approx(L * 4 * Kf * selected / 2e9).epsilon(1e-6));
  CHECK(out.bottleneck == "gpu");  // the in-place reads are kernels on the compute stream
  // Dense attention over the same placement streams the whole cache instead.
  in.swa = {};
  hw.h2d_pinned = {.alone_gbps = 2, .duplex_gbps = 2};
  in.hardware = hw;
  double loaded = 0;
  for (int64_t past = 60; past < 65; ++past) loaded += static_cast<double>(past);
  CHECK(predict(in, p).decode_s == Approx(L * 4 * Kf * loaded / 2e9).epsilon(1e-6));
}

TEST_CASE("cost model: GEMMs at the profile's rate, by hand", "[cost_model]") {
  // One GEMM rate for every shape: the decode step's layer costs 2 * b * params / rate per GPU
  // batch, plus the kernels' launches.
  HardwareProfile hw = fast_hardware();
  hw.gemm = {{.m = 1, .n = 2048, .k = 2048, .tflops = 50}};
  hw.gpu_launch_us = 10;
  CostInputs in = inputs("opt-1.3b", 32, 2, hw);
  const Policy p = offloaded(16, 2);
  const Prediction out = predict(in, p);
  const double params = static_cast<double>(in.model.layer_matrix_params);
  const double L = static_cast<double>(in.model.n_layers);
  const double layer = 2 * (2 * 16 * params / 50e12 + 14 * 10e-6);
  const double head = 2 * (2 * 16.0 * static_cast<double>(in.model.vocab_size) *
                               static_cast<double>(in.model.embed_dim) / 50e12 +
                           4 * 10e-6);
  CHECK(out.decode_s == Approx(L * layer + head).epsilon(1e-4));
}

TEST_CASE("cost model: more bandwidth never predicts slower", "[cost_model]") {
  const HardwareProfile base = test_hardware();
  // Each rate of the profile, doubled on its own.
  const std::vector<std::function<void(HardwareProfile&)>> faster = {
      [](HardwareProfile& h) { h.h2d_pinned.alone_gbps *= 2; },
      [](HardwareProfile& h) { h.h2d_pinned.duplex_gbps *= 2; },
      [](HardwareProfile& h) { h.h2d_pinned_cpu_busy_gbps *= 2; },
      [](HardwareProfile& h) {
        h.cpu_attention_h2d_busy.dense = h.cpu_attention_h2d_busy.sparse = 1;
      },
      [](HardwareProfile& h) { h.d2h_pinned.alone_gbps *= 2; },
      [](HardwareProfile& h) { h.d2h_pinned.duplex_gbps *= 2; },
      [](HardwareProfile& h) { h.h2d_pageable.alone_gbps *= 2; },
      [](HardwareProfile& h) { h.mapped_read_gbps *= 2; },
      [](HardwareProfile& h) {
        for (GpuAttentionRate& r : h.gpu_attention) {
          r.dense_gbps *= 2, r.sparse_gbps *= 2, r.mapped_sparse_gbps *= 2;
        }
      },
      [](HardwareProfile& h) { h.disk_read_gbps *= 2; },
      [](HardwareProfile& h) { h.disk_write_gbps *= 2; },
      [](HardwareProfile& h) { h.disk_read_latency_us /= 2; },
      [](HardwareProfile& h) { h.disk_write_latency_us /= 2; },
      [](HardwareProfile& h) { h.gpu_memory_gbps *= 2; },
      [](HardwareProfile& h) { h.cpu_memory_gbps *= 2; },
      [](HardwareProfile& h) { h.gpu_launch_us /= 2; },
      [](HardwareProfile& h) {
        for (GemmRate& g : h.gemm) g.tflops *= 2;
      },
      [](HardwareProfile& h) {
        for (CpuAttentionRate& r : h.cpu_attention) r.dense_gbps *= 2, r.sparse_gbps *= 2;
      },
  };
  std::vector<Policy> policies;
  for (bool cpu_attention : {false, true}) {
    for (bool compress : {false, true}) {
      Policy p = offloaded(16, 4);
      p.weights_gpu_percent = 30, p.weights_cpu_percent = 50;
      p.cache_gpu_percent = 20, p.cache_cpu_percent = 60;
      p.activations_gpu_percent = 50, p.activations_cpu_percent = 30;
      p.cpu_attention = cpu_attention;
      p.compress_weights = p.compress_cache = compress;
      p.pin_weights = !compress;
      policies.push_back(p);
    }
  }
  for (double sparsity : {0.0, 0.8}) {
    for (size_t i = 0; i < faster.size(); ++i) {
      for (const Policy& p : policies) {
        CostInputs in = inputs("opt-6.7b", 128, 64, base);
        in.swa.sparsity = sparsity;
        const Prediction before = predict(in, p);
        faster[i](in.hardware);
        const Prediction after = predict(in, p);
        INFO("rate " << i << ", sparsity " << sparsity << ", cpu_attention " << p.cpu_attention
                     << ", compressed " << p.compress_weights);
        CHECK(after.prefill_s <= before.prefill_s * (1 + 1e-12));
        CHECK(after.decode_s <= before.decode_s * (1 + 1e-12));
      }
    }
  }
}

TEST_CASE("cost model: reports every resource, the memory plan and the bottleneck",
          "[cost_model]") {
  CostInputs in = inputs("opt-6.7b", 128, 256, test_hardware());
  Policy p = offloaded(16, 4);
  p.cache_gpu_percent = 0, p.cache_cpu_percent = 100;
  p.cpu_attention = true;
  const Prediction out = predict(in, p);
  std::vector<std::string> names;
  for (const ResourceShare& r : out.decode) names.push_back(r.resource);
  CHECK(names == std::vector<std::string>{"cpu_attention", "disk", "gpu", "host", "kv_stream",
                                          "pcie_d2h", "pcie_duplex", "pcie_h2d"});
  CHECK(out.bottleneck == "host");  // CPU attention, and each unit's launches and waits
  CHECK(out.memory.cpu.cache == plan_memory(in.model, in.workload, p).cpu.cache);
  // With the model's tensors, the weights are counted where the WeightStore places them.
  in.tensors = tensor_shapes(weight_layout(named_model_spec("opt-6.7b")));
  CHECK(predict(in, p).memory.gpu.weights == placed_weight_bytes(in.tensors, p, 2).gpu);
  CHECK(predict(in, p).memory.cpu.workspace ==
        block_memory_plan(in.model, in.tensors, {}, p, 128 + 256, 128, 2, false).cpu.workspace);
}

TEST_CASE("cost model: refuses bad inputs, naming them", "[cost_model]") {
  CostInputs in = inputs("opt-1.3b", 0, 8, test_hardware());
  CHECK_THROWS_WITH(predict(in, Policy{}), Catch::Contains("prompt_len"));
  in.workload.prompt_len = 8;
  in.hardware.gemm.clear();
  CHECK_THROWS_WITH(predict(in, Policy{}), Catch::Contains("gpu_gemm"));
  in.hardware = test_hardware();
  Policy bad;
  bad.cache_gpu_percent = 80, bad.cache_cpu_percent = 30;
  CHECK_THROWS_WITH(predict(in, bad), Catch::Contains("more than 100"));
}

}  // namespace
}  // namespace alisa
