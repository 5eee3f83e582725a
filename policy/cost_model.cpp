#include "policy/cost_model.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "runtime/base/common.h"
#include "runtime/base/swa_budget.h"

namespace alisa {
namespace {

// Stages the decode steps are priced in: each is evaluated at its mean cache length. Resource
// times are affine in the length, so a range's only error is where its bottleneck changes.
constexpr int64_t kDecodeRanges = 8;
// Kernels of one decoder layer for one GPU batch (norms, q/k/v/o, rotary or positions,
// attention, residual adds, the MLP's matrices and activation, the cache write), and SWA's
// score update, selection and sparse attention on top.
constexpr double kKernelsPerUnit = 14;
// Qwen3's per-head q and k norms.
constexpr double kQkNormKernels = 2;
constexpr double kSwaKernelsPerUnit = 3;
// The head: final norm, the LM head GEMM, sampling, and the step's one host synchronisation.
constexpr double kHeadKernels = 4;

constexpr double kGB = 1e9;
constexpr double kTFLOP = 1e12;

// One matrix of a decoder layer: n outputs from k inputs.
struct Matrix {
  int64_t n, k;
};

std::vector<Matrix> layer_matrices(const ModelFootprint& m) {
  std::vector<Matrix> out = {{m.q_dim, m.hidden_size},
                             {m.kv_dim, m.hidden_size},
                             {m.kv_dim, m.hidden_size},
                             {m.hidden_size, m.q_dim}};
  if (m.gated_mlp) out.push_back({m.ffn_dim, m.hidden_size});
  out.push_back({m.ffn_dim, m.hidden_size});
  out.push_back({m.hidden_size, m.ffn_dim});
  return out;
}

// Seconds of an f16 GEMM of `rows` tokens through [k, n]: at the profile's rate for the shape,
// and never faster than reading the matrix from GPU memory.
double gemm_s(const HardwareProfile& hw, double rows, int64_t n, int64_t k) {
  if (rows <= 0) return 0;
  const int64_t m = std::max<int64_t>(1, std::llround(rows));
  const double nk = static_cast<double>(n) * static_cast<double>(k);
  return std::max(2.0 * rows * nk / (gemm_tflops(hw, m, n, k) * kTFLOP),
                  2.0 * nk / (hw.gpu_memory_gbps * kGB));
}

double kernels_per_unit(const ModelFootprint& m) {
  return kKernelsPerUnit + (m.qk_norm ? kQkNormKernels : 0);
}

double layer_gemm_s(const HardwareProfile& hw, const ModelFootprint& model, double rows) {
  double total = 0;
  for (const Matrix& matrix : layer_matrices(model)) total += gemm_s(hw, rows, matrix.n, matrix.k);
  return total;
}

// Seconds to move `bytes` at `gbps`.
double at(double bytes, double gbps) {
  return bytes / (gbps * kGB);
}

// Seconds the disk is busy reading (writing) `bytes` in `requests` requests: each pays the
// latency of a request on top of its bytes, which is what makes the runtime's per-unit cache
// reads and single-token writes of small GPU batches dear.
double disk_read_s(const HardwareProfile& hw, double bytes, double requests) {
  return at(bytes, hw.disk_read_gbps) + requests * hw.disk_read_latency_us * 1e-6;
}
double disk_write_s(const HardwareProfile& hw, double bytes, double requests) {
  return at(bytes, hw.disk_write_gbps) + requests * hw.disk_write_latency_us * 1e-6;
}

// The affine forms a stage adds up, by resource.
class StageBuilder {
 public:
  Affine& operator[](const std::string& resource) { return terms_[resource]; }
  Stage finish(std::string name, bool decode, double count, const HardwareProfile& hw) {
    // Both directions of the link at once share it: their bytes over the duplex rates.
    if (terms_.count("pcie_h2d") && terms_.count("pcie_d2h")) {
      const double alone_h2d = hw.h2d_pinned.alone_gbps, alone_d2h = hw.d2h_pinned.alone_gbps;
      const double duplex = std::min(hw.h2d_pinned.duplex_gbps, alone_h2d) +
                            std::min(hw.d2h_pinned.duplex_gbps, alone_d2h);
      Affine both;
      add_scaled(both, terms_["pcie_h2d"], alone_h2d / duplex);
      add_scaled(both, terms_["pcie_d2h"], alone_d2h / duplex);
      terms_["pcie_duplex"] = both;
    }
    Stage stage{std::move(name), decode, count, {}};
    for (auto& [resource, seconds] : terms_) stage.resources.push_back({resource, seconds});
    return stage;
  }
  static void add_scaled(Affine& into, const Affine& x, double scale) {
    into.c0 += scale * x.c0;
    for (int i = 0; i < kPlacementVars; ++i) into.c[i] += scale * x.c[i];
  }

 private:
  std::map<std::string, Affine> terms_;
};

// The share of units (or bytes) on disk: 1 - gpu - cpu, as an affine form scaled by `x`.
void add_disk_share(Affine& into, int gpu_var, int cpu_var, double x) {
  into.c0 += x;
  into.c[gpu_var] -= x;
  into.c[cpu_var] -= x;
}

// What the decoder moves and computes for a block, in the cost model's symbols.
struct Sizes {
  double L, d, q, kv, V, E;  // layers, hidden, q_dim, kv_dim, vocab, embed_dim
  double b, G;               // gpu_batch_size, num_gpu_batches
  double s;                  // prompt_len
  double Wl, Wf;             // stored and f16 bytes of one layer's weights
  double Kt, Kf;             // stored and f16 K+V bytes of one token in one layer
  double h;                  // Phase III: positions kept as hidden states
  double Nw;                 // weight matrices of a layer (one disk read each)
  double Nkv;                // disk requests of a unit's cache: K and V, each in its parts
};

Sizes sizes_of(const CostInputs& in, const Policy& p) {
  const ModelFootprint& m = in.model;
  const auto f = [](int64_t x) { return static_cast<double>(x); };
  return {.L = f(m.n_layers),
          .d = f(m.hidden_size),
          .q = f(m.q_dim),
          .kv = f(m.kv_dim),
          .V = f(m.vocab_size),
          .E = f(m.embed_dim),
          .b = f(p.gpu_batch_size),
          .G = f(p.num_gpu_batches),
          .s = f(in.workload.prompt_len),
          .Wl = f(static_cast<int64_t>(stored_layer_weight_bytes(m, p.compress_weights))),
          .Wf = f(static_cast<int64_t>(m.layer_weight_bytes)),
          .Kt = f(static_cast<int64_t>(stored_kv_bytes_per_token_per_layer(m, p.compress_cache))),
          .Kf = f(static_cast<int64_t>(m.kv_bytes_per_token_per_layer)),
          .h = f(kept_hidden_positions(p, in.workload.prompt_len + in.workload.gen_len,
                                       in.workload.prompt_len)),
          .Nw = f(static_cast<int64_t>(layer_matrices(m).size())),
          .Nkv = p.compress_cache ? 6.0 : 2.0};  // int8: values, scales and zeros
}

// Weights of one layer: what is not on the GPU crosses the link (the CPU part from pageable
// memory without pin_weights), the disk part is read first.
void add_weight_stream(StageBuilder& st, const Sizes& z, const HardwareProfile& hw,
                       const Policy& p) {
  Affine& h2d = st["pcie_h2d"];
  const double pinned = 1 / (hw.h2d_pinned.alone_gbps * kGB);
  const double cpu_rate = p.pin_weights ? pinned : 1 / (hw.h2d_pageable.alone_gbps * kGB);
  h2d.c[kWeightsCpu] += z.Wl * cpu_rate;
  add_disk_share(h2d, kWeightsGpu, kWeightsCpu, z.Wl * pinned);
  add_disk_share(st["disk"], kWeightsGpu, kWeightsCpu, disk_read_s(hw, z.Wl, z.Nw));
  if (p.compress_weights) st["gpu"].c0 += at(z.Wl + z.Wf, hw.gpu_memory_gbps);  // dequantise
}

// Hidden states of the G units of a layer, `tokens` per sequence, loaded and stored where they
// are not on the GPU.
void add_activation_stream(StageBuilder& st, const Sizes& z, const HardwareProfile& hw,
                           double tokens) {
  const double bytes = z.G * z.b * tokens * z.d * 2;
  for (const char* link : {"pcie_h2d", "pcie_d2h"}) {
    const double gbps =
        std::string(link) == "pcie_h2d" ? hw.h2d_pinned.alone_gbps : hw.d2h_pinned.alone_gbps;
    Affine& t = st[link];
    t.c0 += at(bytes, gbps);
    t.c[kActGpu] -= at(bytes, gbps);
  }
  add_disk_share(st["disk"], kActGpu, kActCpu,
                 disk_read_s(hw, bytes, z.G) + disk_write_s(hw, bytes, z.G));
}

// The runner's fixed cost per unit on the scheduling thread (launches, events, waits): the
// floor of a unit whose cache and hidden states are on the GPU, and what a unit adds where its
// hidden states are loaded, its cache loaded into a slot (`loaded`: the units that are, by their
// cache's home) or attended on the CPU (`cpu_attended`).
void add_unit_costs(Affine& host, const Sizes& z, const HardwareProfile& hw, const Affine& loaded,
                    const Affine& cpu_attended) {
  const UnitCosts& u = hw.unit;
  const double per_unit = z.G * 1e-6;
  host.c0 += per_unit * u.gpu_us;
  const double hidden = per_unit * std::max(0.0, u.hidden_load_us - u.gpu_us);
  host.c0 += hidden;
  host.c[kActGpu] -= hidden;
  StageBuilder::add_scaled(host, loaded, per_unit * std::max(0.0, u.cache_load_us - u.gpu_us));
  StageBuilder::add_scaled(host, cpu_attended,
                           per_unit * std::max(0.0, u.cpu_attention_us - u.gpu_us));
}

// The share 1 - gpu - cpu (+ cpu when `with_cpu`) of a placement kind, as an affine form.
Affine off_gpu_share(int gpu_var, int cpu_var, bool with_cpu) {
  Affine share;
  add_disk_share(share, gpu_var, cpu_var, 1);
  if (with_cpu) share.c[cpu_var] += 1;
  return share;
}

// Refill's lanes in a decode step, per layer: the prompts prefilled for one row each after the
// GPU batches' decode units (their GEMMs, causal attention over their own tokens and launches on
// the compute stream) and their K and V written to the cache's home.
struct LaneLoad {
  double lanes = 0;
  double gpu_s = 0;
  double kv_bytes = 0;
  LaneLoad& operator+=(const LaneLoad& o) {
    lanes += o.lanes, gpu_s += o.gpu_s, kv_bytes += o.kv_bytes;
    return *this;
  }
  LaneLoad scaled(double x) const { return {lanes * x, gpu_s * x, kv_bytes * x}; }
};

// Causal attention of `rows` sequences of `tokens` each: QK^T and PV over half the pairs (SWA's
// prefill score as much again), at the GEMM rate of the step's rows.
double prefill_attention_s(const CostInputs& in, double rows, double tokens) {
  const double flops = 2 * rows * tokens * tokens * static_cast<double>(in.model.q_dim) *
                       (in.swa.sparsity > 0 ? 2 : 1);
  return flops / (gemm_tflops(in.hardware, std::max<int64_t>(1, std::llround(rows * tokens)),
                              in.model.hidden_size, in.model.hidden_size) *
                  kTFLOP);
}

// The compute stream's seconds of a lane of `prompt_len` tokens in one layer.
double lane_gpu_s(const CostInputs& in, int64_t prompt_len) {
  const double p = static_cast<double>(prompt_len);
  return layer_gemm_s(in.hardware, in.model, p) + prefill_attention_s(in, 1, p) +
         kernels_per_unit(in.model) * in.hardware.gpu_launch_us * 1e-6;
}

// What lane_gpu_s reads of `in`, hashed: its memo (JobScheduleCache) is kept per value.
uint64_t lane_inputs_hash(const CostInputs& in) {
  uint64_t h = 1469598103934665603ULL;
  const auto mix = [&h](auto x) {
    uint64_t bits = 0;
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      bits = std::bit_cast<uint64_t>(static_cast<double>(x));
    } else {
      bits = static_cast<uint64_t>(x);
    }
    h = (h ^ bits) * 1099511628211ULL;
  };
  const ModelFootprint& m = in.model;
  for (const int64_t x : {m.hidden_size, m.q_dim, m.kv_dim, m.ffn_dim, m.n_kv_heads}) mix(x);
  mix(m.gated_mlp), mix(m.qk_norm), mix(in.swa.sparsity > 0);
  mix(in.hardware.gpu_launch_us), mix(in.hardware.gpu_memory_gbps);
  for (const GemmRate& g : in.hardware.gemm) mix(g.m), mix(g.n), mix(g.k), mix(g.tflops);
  return h;
}

Stage prefill_stage(const CostInputs& in, const Policy& p, const Sizes& z) {
  const HardwareProfile& hw = in.hardware;
  StageBuilder st;
  const double rows = z.b * z.s;
  Affine& gpu = st["gpu"];
  gpu.c0 += z.G * (layer_gemm_s(hw, in.model, rows) + prefill_attention_s(in, z.b, z.s) +
                   kernels_per_unit(in.model) * hw.gpu_launch_us * 1e-6);
  add_weight_stream(st, z, hw, p);
  add_activation_stream(st, z, hw, z.s);
  // The prompt's K and V go home: every unit not on the GPU stores them (Phase III keeps hidden
  // states of the kept positions, 2d bytes each instead of Kt).
  const double store_bytes = z.G * z.b * ((z.s - z.h) * z.Kt + z.h * 2 * z.d);
  const double disk_bytes = z.G * z.b * z.s * z.Kt;
  Affine& d2h = st["pcie_d2h"];
  d2h.c0 += at(disk_bytes, hw.d2h_pinned.alone_gbps);
  d2h.c[kCacheGpu] -= at(disk_bytes, hw.d2h_pinned.alone_gbps);
  d2h.c[kCacheCpu] += at(store_bytes - disk_bytes, hw.d2h_pinned.alone_gbps);
  add_disk_share(st["disk"], kCacheGpu, kCacheCpu, disk_write_s(hw, disk_bytes, z.G * z.Nkv));
  // Every unit off the GPU stores its cache through a slot in the prefill.
  add_unit_costs(st["host"], z, hw, off_gpu_share(kCacheGpu, kCacheCpu, true), Affine{});
  return st.finish("prefill", false, z.L, hw);
}

// The profile a decode step sees: with cpu_attention the CPU reads host memory on every core
// while the weights and caches stream out of it, which slows the pinned H2D copies.
HardwareProfile decode_hardware(const HardwareProfile& profile, const Policy& p) {
  HardwareProfile hw = profile;
  if (p.cpu_attention) {
    hw.h2d_pinned.alone_gbps = std::min(hw.h2d_pinned.alone_gbps, hw.h2d_pinned_cpu_busy_gbps);
    hw.h2d_pinned.duplex_gbps = std::min(hw.h2d_pinned.duplex_gbps, hw.h2d_pinned.alone_gbps);
  }
  return hw;
}

// One decode step of a layer with `past` tokens cached (the step attends past + 1), with `lanes`
// prefilled in it.
Stage decode_stage(const CostInputs& in, const Policy& p, const Sizes& z, double past, double count,
                   const LaneLoad& lanes = {}) {
  const HardwareProfile hw = decode_hardware(in.hardware, p);
  const bool swa = in.swa.sparsity > 0;
  const double attended = past + 1;
  const double selected =
      swa ? static_cast<double>(
                swa_budget(std::llround(attended), in.swa.sparsity, in.swa.min_tokens).total)
          : attended;
  StageBuilder st;
  Affine& gpu = st["gpu"];
  // One unit's GEMMs and launches; its attention depends on where its cache lies (below).
  const double unit_compute_s =
      layer_gemm_s(hw, in.model, z.b) +
      (kernels_per_unit(in.model) + (swa ? kSwaKernelsPerUnit : 0)) * hw.gpu_launch_us * 1e-6;
  gpu.c0 += z.G * unit_compute_s;
  add_weight_stream(st, z, hw, p);
  add_activation_stream(st, z, hw, 1);

  // Per unit: attention from HBM (caches on the GPU, or loaded there) at the rate the runtime's
  // kernel reaches at this batch, and an int8 cache dequantised whole first.
  const GpuAttentionRate attention = gpu_attention_rate(hw, p.gpu_batch_size);
  const double hbm_attention =
      at(z.b * selected * z.Kf, swa ? attention.sparse_gbps : attention.dense_gbps) +
      (p.compress_cache ? at(z.b * attended * (z.Kt + z.Kf), hw.gpu_memory_gbps) : 0);
  // Units loaded into a GPU slot: disk-homed ones always; CPU-homed ones unless attended where
  // they lie (on the CPU, or read in place by SWA).
  const bool cpu_homed_in_place = !p.cpu_attention && swa;
  const bool cpu_homed_loaded = !p.cpu_attention && !swa;
  const double unit_load = z.b * past * z.Kt;
  const double unit_store = z.b * z.Kt;  // the new token's K and V
  // The cache stream runs one unit ahead (two slots): a loaded unit's copy overlaps only the
  // unit before it, so each loaded unit costs the compute stream the copy's excess over one
  // unit's compute, whatever the other units leave idle.
  const double unit_gpu_s = unit_compute_s + hbm_attention;
  const double load_excess_s = std::max(0.0, at(unit_load, hw.h2d_pinned.alone_gbps) - unit_gpu_s);
  Affine& stream = st["kv_stream"];
  stream.c0 += z.G * unit_gpu_s;
  add_disk_share(stream, kCacheGpu, kCacheCpu, z.G * load_excess_s);
  if (cpu_homed_loaded) stream.c[kCacheCpu] += z.G * load_excess_s;
  Affine& h2d = st["pcie_h2d"];
  Affine& d2h = st["pcie_d2h"];
  const double h2d_rate = hw.h2d_pinned.alone_gbps, d2h_rate = hw.d2h_pinned.alone_gbps;
  // Every unit attended in HBM pays hbm_attention; CPU-homed ones replace it below.
  gpu.c0 += z.G * hbm_attention;
  gpu.c[kCacheCpu] -= z.G * hbm_attention;
  // Disk-homed units: read, loaded, stored, every read and write a request of its own. The
  // scheduling thread reads a unit's cache into the pinned staging and copies it up before it
  // moves on (one staging), so those reads and copies add up on the `host` with its CPU
  // attention rather than overlapping it.
  const double unit_read_s = disk_read_s(hw, unit_load, z.Nkv);
  Affine host;
  add_disk_share(host, kCacheGpu, kCacheCpu, z.G * (unit_read_s + at(unit_load, h2d_rate)));
  add_disk_share(st["disk"], kCacheGpu, kCacheCpu,
                 z.G * (unit_read_s + disk_write_s(hw, unit_store, z.Nkv)));
  add_disk_share(h2d, kCacheGpu, kCacheCpu, z.G * at(unit_load, h2d_rate));
  add_disk_share(d2h, kCacheGpu, kCacheCpu, z.G * at(unit_store, d2h_rate));
  // CPU-homed units.
  d2h.c[kCacheCpu] += z.G * at(unit_store, d2h_rate);
  if (cpu_homed_loaded) {
    gpu.c[kCacheCpu] += z.G * hbm_attention;
    h2d.c[kCacheCpu] += z.G * at(unit_load, h2d_rate);
  } else if (cpu_homed_in_place) {
    // The compute stream reads the selected rows through the mapping (an int8 cache: every row,
    // then dequantised in HBM); the bytes cross the link like any other.
    const double mapped_cache = p.compress_cache ? z.b * past * z.Kt : z.b * selected * z.Kf;
    double mapped_hidden = 0;
    double recompute_s = 0;
    if (z.h > 0) {
      // Phase III: the selected kept positions' hidden states are gathered and K and V
      // recomputed over min(selected, h) rows per sequence.
      const double rows = z.b * std::min(selected, z.h);
      mapped_hidden = rows * z.d * 2;
      recompute_s = 2 * gemm_s(hw, rows, in.model.kv_dim, in.model.hidden_size);
    }
    // The sparse kernel reads the selected rows at its own rate; an int8 cache (dequantised) and
    // Phase III's hidden states (gathered) stream at the mapping's.
    const double cache_read_s = p.compress_cache
                                    ? at(mapped_cache, hw.mapped_read_gbps) + hbm_attention
                                    : at(mapped_cache, attention.mapped_sparse_gbps);
    gpu.c[kCacheCpu] += z.G * (cache_read_s + at(mapped_hidden, hw.mapped_read_gbps) + recompute_s);
    h2d.c[kCacheCpu] += z.G * at(mapped_cache + mapped_hidden, h2d_rate);
  } else {
    // cpu_attention: the step's q, k, v go to the host, the attention output comes back; the CPU
    // reads the cache (an int8 one is dequantised first).
    const double qkv = z.b * (z.q + 2 * z.kv) * 2, out = z.b * z.q * 2;
    d2h.c[kCacheCpu] += z.G * at(qkv, d2h_rate);
    h2d.c[kCacheCpu] += z.G * at(out, h2d_rate);
    const CpuAttentionRate rate = cpu_attention_rate(hw, in.cpu_threads);
    const double cpu_s =
        at(z.b * selected * z.Kf, swa ? rate.sparse_gbps : rate.dense_gbps) +
        (p.compress_cache ? at(z.b * attended * (z.Kt + z.Kf), hw.cpu_memory_gbps) : 0);
    Affine cpu;
    cpu.c[kCacheCpu] = z.G * cpu_s;
    // While the link copies up (weights, loaded caches, the outputs), the DMA reads host memory
    // beside the CPU, which keeps only its busy share of the rate: every second of copies costs
    // the attention (1 - share) seconds. Exact while the copies overlap the attention; beyond
    // it the copies themselves are the longer lane.
    const double share = swa ? hw.cpu_attention_h2d_busy.sparse : hw.cpu_attention_h2d_busy.dense;
    StageBuilder::add_scaled(cpu, h2d, std::max(0.0, 1 - share));
    // The pipeline across GPU batches: the CPU starts after the first batch's queries and the
    // GPU finishes after the last batch's attention.
    Affine cpu_bound = cpu, gpu_bound = gpu;
    StageBuilder::add_scaled(cpu_bound, gpu, 1 / z.G);
    StageBuilder::add_scaled(gpu_bound, cpu, 1 / z.G);
    st["cpu_attention"] = cpu_bound;
    st["gpu"] = gpu_bound;
    StageBuilder::add_scaled(host, cpu_bound, 1);
  }
  Affine cpu_attended;
  if (p.cpu_attention) cpu_attended.c[kCacheCpu] = 1;
  add_unit_costs(host, z, hw, off_gpu_share(kCacheGpu, kCacheCpu, cpu_homed_loaded), cpu_attended);
  if (lanes.lanes > 0) {
    // The lanes run on the compute stream after the layer's units; each costs the scheduling
    // thread a unit's fixed cost; their K and V go home where the cache is off the GPU.
    st["gpu"].c0 += lanes.gpu_s;
    stream.c0 += lanes.gpu_s;
    host.c0 += lanes.lanes * hw.unit.gpu_us * 1e-6;
    const double store_s = at(lanes.kv_bytes, d2h_rate);
    d2h.c0 += store_s;
    d2h.c[kCacheGpu] -= store_s;
    add_disk_share(st["disk"], kCacheGpu, kCacheCpu,
                   disk_write_s(hw, lanes.kv_bytes, lanes.lanes * z.Nkv));
  }
  st["host"] = host;
  return st.finish("decode", true, count, hw);
}

// The head of a step: the final norm and LM head over the block's last tokens, and sampling.
Stage head_stage(const CostInputs& in, const Sizes& z, bool decode, double count) {
  StageBuilder st;
  st["gpu"].c0 = z.G * gemm_s(in.hardware, z.b, in.model.vocab_size, in.model.embed_dim) +
                 z.G * kHeadKernels * in.hardware.gpu_launch_us * 1e-6;
  return st.finish("head", decode, count, in.hardware);
}

double memo_lane_gpu_s(const JobWorkload& job, uint64_t inputs, int64_t prompt,
                       const std::function<double()>& compute);

std::vector<Stage> job_stages(const CostInputs& in, const Policy& p, const Sizes& z,
                              const JobStepGroups& groups) {
  const uint64_t lane_inputs = lane_inputs_hash(in);
  const auto lanes_of = [&](const JobStepGroup& group) {
    LaneLoad total;
    for (const auto& [prompt, count] : group.lane_prompts) {
      const double n = static_cast<double>(count);
      total += {.lanes = n,
                .gpu_s = n * memo_lane_gpu_s(*in.job, lane_inputs, prompt,
                                             [&] { return lane_gpu_s(in, prompt); }),
                .kv_bytes = n * static_cast<double>(prompt) * z.Kt};
    }
    return total;
  };
  std::vector<Stage> stages;
  for (const JobStepGroup& group : groups.prefills) {
    Sizes prompt = z;
    prompt.s = group.mean_index();
    Stage stage = prefill_stage(in, p, prompt);
    stage.count = z.L * static_cast<double>(group.steps);
    stages.push_back(std::move(stage));
  }
  const JobSchedule& totals = groups.totals;
  stages.push_back(head_stage(in, z, false, static_cast<double>(totals.prefills)));
  for (const JobStepGroup& group : groups.decodes) {
    const double steps = static_cast<double>(group.steps);
    stages.push_back(
        decode_stage(in, p, z, group.mean_index(), z.L * steps, lanes_of(group).scaled(1 / steps)));
  }
  if (totals.decode_steps > 0) {
    stages.push_back(head_stage(in, z, true, static_cast<double>(totals.decode_steps)));
  }
  return stages;
}

double max_resource(const Stage& stage, const Placement& x) {
  double worst = 0;
  for (const ResourceTime& r : stage.resources) worst = std::max(worst, r.seconds.at(x));
  return worst;
}

}  // namespace

Placement placement_of(const Policy& p) {
  return {p.weights_gpu_percent / 100,     p.weights_cpu_percent / 100,
          p.cache_gpu_percent / 100,       p.cache_cpu_percent / 100,
          p.activations_gpu_percent / 100, p.activations_cpu_percent / 100};
}

Policy with_placement(Policy p, const Placement& x) {
  // Percentages to four decimals (what a policy file shows), the CPU's share taking the rest
  // where less than a thousandth of a percent would be left for the disk: such a sliver is the
  // solver's rounding, not a reason to open a disk tier.
  const auto percent = [&](int var) {
    return std::clamp(std::round(x[static_cast<size_t>(var)] * 1e6) / 1e4, 0.0, 100.0);
  };
  const auto split = [&](int gpu_var, int cpu_var, double& gpu, double& cpu) {
    gpu = percent(gpu_var);
    cpu = std::min(percent(cpu_var), 100 - gpu);
    if (gpu + cpu > 100 - 1e-3) cpu = 100 - gpu;
  };
  split(kWeightsGpu, kWeightsCpu, p.weights_gpu_percent, p.weights_cpu_percent);
  split(kCacheGpu, kCacheCpu, p.cache_gpu_percent, p.cache_cpu_percent);
  split(kActGpu, kActCpu, p.activations_gpu_percent, p.activations_cpu_percent);
  return p;
}

double Affine::at(const Placement& x) const {
  double total = c0;
  for (int i = 0; i < kPlacementVars; ++i) total += c[i] * x[i];
  return total;
}

CostInputs job_cost_inputs(CostInputs in, JobWorkload job, int64_t capacity) {
  ALISA_CHECK(!job.sequences.empty(), "job: no sequences");
  const SequenceLengths longest = longest_lengths(job.sequences);
  ALISA_CHECK(capacity >= longest.prompt_len + longest.gen_len - 1, "job: a cache of ", capacity,
              " positions cannot hold the longest prompt (", longest.prompt_len,
              ") and the longest generation (", longest.gen_len, ")");
  // A capacity of exactly longest prompt + longest generation - 1 leaves gen_len 0 here; the
  // memory plan needs at least one generated position.
  capacity = std::max(capacity, longest.prompt_len + 1);
  in.workload = {.prompt_len = longest.prompt_len, .gen_len = capacity - longest.prompt_len};
  in.job = std::move(job);
  return in;
}

JobShape job_shape(const CostInputs& in, const Policy& policy) {
  ALISA_CHECK(in.job, "job_shape: the cost inputs have no job");
  const int64_t capacity = in.workload.prompt_len + in.workload.gen_len;
  return {.rows = policy.block_size(),
          .capacity = capacity,
          .kept = in.swa.enabled() ? kept_hidden_positions(policy, capacity, in.workload.prompt_len)
                                   : 0,
          .refill = in.job->refill};
}

double JobStepGroup::mean_index() const {
  return steps > 0 ? static_cast<double>(index_sum) / static_cast<double>(steps) : 0;
}

JobStepGroups group_job_steps(const JobSchedule& schedule, int64_t capacity) {
  JobStepGroups out;
  std::vector<JobStepGroup> prefills(kJobPrefillRanges), decodes(2 * kJobDecodeRanges);
  std::vector<std::map<int64_t, int64_t>> lanes(decodes.size());
  const auto range = [capacity](int64_t index, int64_t ranges) {
    return static_cast<size_t>(std::clamp<int64_t>(index * ranges / capacity, 0, ranges - 1));
  };
  for (const JobStep& step : schedule.steps) {
    size_t at = 0;
    if (step.prefill) {
      at = range(step.write_index, kJobPrefillRanges);
    } else {
      at = 2 * range(step.write_index, kJobDecodeRanges) + (step.lane_prompts.empty() ? 0 : 1);
      for (const int64_t prompt : step.lane_prompts) ++lanes[at][prompt];
    }
    JobStepGroup& group = step.prefill ? prefills[at] : decodes[at];
    group.steps += 1;
    group.index_sum += step.write_index;
  }
  for (JobStepGroup& group : prefills) {
    if (group.steps > 0) out.prefills.push_back(std::move(group));
  }
  for (size_t i = 0; i < decodes.size(); ++i) {
    if (decodes[i].steps == 0) continue;
    decodes[i].lane_prompts.assign(lanes[i].begin(), lanes[i].end());
    out.decodes.push_back(std::move(decodes[i]));
  }
  out.totals = schedule;
  out.totals.steps.clear();
  return out;
}

struct JobScheduleCache {
  std::mutex mutex;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, JobStepGroups> by_shape;
  // lane_gpu_s by (lane_inputs_hash, prompt): the solver prices the same lanes for every policy.
  std::map<std::pair<uint64_t, int64_t>, double> lane_gpu_s;
};

namespace {

double memo_lane_gpu_s(const JobWorkload& job, uint64_t inputs, int64_t prompt,
                       const std::function<double()>& compute) {
  JobScheduleCache& cache = *job.schedules;
  const std::lock_guard lock(cache.mutex);
  auto [it, added] = cache.lane_gpu_s.try_emplace({inputs, prompt}, 0);
  if (added) it->second = compute();
  return it->second;
}

}  // namespace

const JobStepGroups& job_step_groups(const JobWorkload& job, const JobShape& shape) {
  ALISA_ASSERT(job.schedules, "a JobWorkload without its schedule cache");
  JobScheduleCache& cache = *job.schedules;
  const std::lock_guard lock(cache.mutex);
  const auto key = std::tuple{shape.rows, shape.capacity, shape.kept, shape.refill};
  auto it = cache.by_shape.find(key);
  if (it == cache.by_shape.end()) {
    it = cache.by_shape
             .emplace(key, group_job_steps(simulate_job(job.sequences, shape), shape.capacity))
             .first;
  }
  return it->second;  // map nodes stay where they are
}

std::shared_ptr<JobScheduleCache> new_job_schedule_cache() {
  return std::make_shared<JobScheduleCache>();
}

namespace {

void check_inputs(const CostInputs& in, const Policy& policy) {
  const Workload& w = in.workload;
  ALISA_CHECK(w.prompt_len >= 1 && w.gen_len >= 0, "workload: prompt_len must be at least 1 and ",
              "gen_len at least 0, got ", w.prompt_len, " and ", w.gen_len);
  validate(policy, "policy");
  validate(in.hardware, "hardware profile");
}

}  // namespace

std::vector<Stage> cost_stages(const CostInputs& in, const Policy& policy) {
  const Workload& w = in.workload;
  check_inputs(in, policy);
  const Sizes z = sizes_of(in, policy);
  if (in.job) return job_stages(in, policy, z, job_step_groups(*in.job, job_shape(in, policy)));
  std::vector<Stage> stages = {prefill_stage(in, policy, z), head_stage(in, z, false, 1)};
  const int64_t steps = std::max<int64_t>(0, w.gen_len - 1);
  const int64_t ranges = std::min(kDecodeRanges, steps);
  for (int64_t r = 0; r < ranges; ++r) {
    // Steps [first, last) of the decode, the first one with prompt_len tokens cached.
    const int64_t first = steps * r / ranges, last = steps * (r + 1) / ranges;
    const double mean_past =
        static_cast<double>(w.prompt_len) + 0.5 * static_cast<double>(first + last - 1);
    stages.push_back(
        decode_stage(in, policy, z, mean_past, z.L * static_cast<double>(last - first)));
  }
  if (steps > 0) stages.push_back(head_stage(in, z, true, static_cast<double>(steps)));
  return stages;
}

double total_seconds(const std::vector<Stage>& stages, const Placement& x) {
  double total = 0;
  for (const Stage& stage : stages) total += stage.count * max_resource(stage, x);
  return total;
}

MemoryPlan memory_plan_of(const CostInputs& in, const Policy& policy) {
  const Workload& w = in.workload;
  return block_memory_plan(in.model, in.tensors, in.swa, policy, w.prompt_len + w.gen_len,
                           w.prompt_len, in.activation_bytes, in.job && in.job->refill);
}

Prediction predict(const CostInputs& in, const Policy& policy) {
  if (in.tensors.empty()) return predict(in, policy, {});
  return predict(in, policy,
                 layer_disk_reads(in.tensors, place_weights(in.tensors, in.activation_bytes,
                                                            weight_placement_of(policy))));
}

Prediction predict(const CostInputs& in, const Policy& policy,
                   const std::vector<LayerDiskRead>& layer_reads) {
  const std::vector<Stage> stages = cost_stages(in, policy);
  const JobSchedule* schedule =
      in.job ? &job_step_groups(*in.job, job_shape(in, policy)).totals : nullptr;
  const Placement x = placement_of(policy);
  const double layers = static_cast<double>(in.model.n_layers);
  // The schedule reads a layer's disk-resident weights while the layer two before it computes
  // and waits for them when the layer before starts: a read longer than a layer stalls the
  // schedule by the difference. The stages price the mean layer's read; whole matrices are
  // placed, so some layers read much more than others.
  std::vector<double> layer_reads_s;
  for (const LayerDiskRead& read : layer_reads) {
    if (read.requests > 0) {
      layer_reads_s.push_back(
          disk_read_s(in.hardware, read.bytes, static_cast<double>(read.requests)));
    }
  }
  Prediction out;
  std::map<std::string, double> prefill_busy, decode_busy, bounded;
  for (const Stage& stage : stages) {
    const double worst = max_resource(stage, x);
    double stall = 0;
    if (stage.name != "head") {
      for (const double read_s : layer_reads_s) stall += std::max(0.0, read_s - worst);
      stall *= stage.count / layers;  // per pass through the layers
    }
    out.weight_read_stall_s += stall;
    if (stage.decode) bounded["disk"] += stall;
    (stage.decode ? out.decode_s : out.prefill_s) += stage.count * worst + stall;
    auto& busy = stage.decode ? decode_busy : prefill_busy;
    const ResourceTime* bound = nullptr;
    for (const ResourceTime& r : stage.resources) {
      // A disk share of 1 - gpu - cpu may round to a hair below zero.
      busy[r.resource] += stage.count * std::max(0.0, r.seconds.at(x));
      if (!bound || r.seconds.at(x) > bound->seconds.at(x)) bound = &r;
    }
    if (stage.decode && bound) bounded[bound->resource] += stage.count * worst;
  }
  double steps = 0;
  if (schedule) {
    const int64_t decode_tokens = schedule->slot_steps - schedule->idle_slot_steps;
    steps = static_cast<double>(schedule->decode_steps);
    const double seconds = out.prefill_s + out.decode_s;
    out.total_throughput = static_cast<double>(schedule->generated_tokens) / seconds;
    out.decode_throughput =
        out.decode_s > 0 ? static_cast<double>(decode_tokens) / out.decode_s : 0;
    out.job = JobPrediction{.refill = in.job->refill,
                            .capacity = in.workload.prompt_len + in.workload.gen_len,
                            .sequences = static_cast<int64_t>(in.job->sequences.size()),
                            .generated_tokens = schedule->generated_tokens,
                            .prefills = schedule->prefills,
                            .decode_steps = schedule->decode_steps,
                            .lanes = schedule->lanes,
                            .slot_steps = schedule->slot_steps,
                            .idle_slot_steps = schedule->idle_slot_steps,
                            .idle_share = schedule->idle_share(),
                            .seconds = seconds,
                            .useful_throughput = out.total_throughput};
  } else {
    const double block = static_cast<double>(policy.block_size());
    const double n = static_cast<double>(in.workload.gen_len);
    steps = std::max(0.0, n - 1);
    out.total_throughput = block * n / (out.prefill_s + out.decode_s);
    out.decode_throughput = out.decode_s > 0 ? block * steps / out.decode_s : 0;
  }
  for (const auto& [resource, total] : prefill_busy) {
    out.prefill.push_back({resource, total / layers, total});
  }
  for (const auto& [resource, total] : decode_busy) {
    out.decode.push_back({resource, steps > 0 ? total / (layers * steps) : 0, total});
  }
  for (const auto& [resource, seconds] : bounded) {
    if (seconds > out.bottleneck_share * out.decode_s) {
      out.bottleneck = resource;
      out.bottleneck_share = seconds / out.decode_s;
    }
  }
  if (out.bottleneck.empty()) {  // no decode steps: the prefill's largest resource
    double worst = -1;
    for (const ResourceShare& r : out.prefill) {
      if (r.total_s > worst) worst = r.total_s, out.bottleneck = r.resource;
    }
    out.bottleneck_share = out.prefill_s > 0 ? worst / out.prefill_s : 0;
  }
  out.memory = memory_plan_of(in, policy);
  return out;
}

}  // namespace alisa
