#include "runtime/calibrate/calibrate_cpu.h"

#include <omp.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "runtime/base/dtype.h"
#include "runtime/base/swa_budget.h"
#include "runtime/calibrate/calibrate_timing.h"
#include "runtime/core/owned_buffers.h"
#include "runtime/core/tensor.h"
#include "runtime/model/model_spec.h"
#include "runtime/ops/cpu_ops.h"
#include "runtime/program/decoder_program.h"
#include "runtime/program/swa.h"

namespace alisa {
namespace {

using namespace calibration;  // the folder's timing helpers
using Clock = std::chrono::steady_clock;

// Keeps this thread busy for `us` microseconds, as the runtime's main thread is between two
// CPU-attended units (launching the GPU's work) while the TBB workers idle.
void spin_for(double us) {
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double, std::micro>(us));
  while (Clock::now() < end) {
  }
}

// n float16 values in [-1, 1), in parallel on the caller's arena (all cores outside one): the
// pages of fresh memory land near the cores that will read them.
void fill_halves(uint16_t* data, size_t n, uint64_t seed) {
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, size_t{1} << 16), [&](auto r) {
    for (size_t i = r.begin(); i < r.end(); ++i) {
      const float value = static_cast<float>(mix(seed ^ i) >> 40) / static_cast<float>(1 << 23);
      data[i] = float_to_half_bits(value - 1.0f);
    }
  });
}

}  // namespace

std::vector<int64_t> calibration_thread_counts(int64_t max_threads) {
  std::vector<int64_t> counts;
  for (int64_t t = 1; t < max_threads; t *= 2) counts.push_back(t);
  counts.push_back(std::max<int64_t>(max_threads, 1));
  return counts;
}

double measure_cpu_memory_gbps(size_t n_bytes, int threads) {
  const size_t n = std::max<size_t>(n_bytes / sizeof(uint64_t), 1);
  tbb::task_arena arena(threads);
  // Left uninitialised: the first touch below happens on the arena's threads, so pages land near
  // the cores that read them.
  std::unique_ptr<uint64_t[]> data(new uint64_t[n]);
  const tbb::blocked_range<size_t> range(0, n, size_t{1} << 15);
  arena.execute([&] {
    tbb::parallel_for(range, [&](auto r) {
      for (size_t i = r.begin(); i < r.end(); ++i) data[i] = i;
    });
  });
  uint64_t sum = 0;
  const double seconds = median_of_runs([&] {
    return seconds_of([&] {
      sum = arena.execute([&] {
        return tbb::parallel_reduce(
            range, uint64_t{0},
            [&](auto r, uint64_t total) {
              uint64_t a = 0, b = 0, c = 0, e = 0;  // independent chains: not latency-bound
              size_t i = r.begin();
              for (; i + 4 <= r.end(); i += 4) {
                a += data[i];
                b += data[i + 1];
                c += data[i + 2];
                e += data[i + 3];
              }
              for (; i < r.end(); ++i) a += data[i];
              return total + a + b + c + e;
            },
            std::plus<>());
      });
    });
  });
  // Checked, so the compiler keeps the reads and a broken reduction cannot pass for a fast one.
  ALISA_ASSERT(sum == n * (n - 1) / 2, "CPU memory pass summed ", sum);
  return gbps(static_cast<double>(n * sizeof(uint64_t)), seconds);
}

std::vector<CpuAttentionRate> measure_cpu_attention(const CpuAttentionShape& s,
                                                    const std::vector<int64_t>& thread_counts,
                                                    const CpuTierMemory& memory) {
  ALISA_CHECK(s.batch > 0 && s.n_heads > 0 && s.head_dim > 0 && s.n_tokens > 1 && s.kv_sets > 0,
              "CPU attention calibration: empty shape (a decode step needs 2 tokens or more)");
  ALISA_CHECK(s.swa_sparsity > 0 && s.swa_sparsity < 1 && s.idle_us >= 0 && s.repeats > 0,
              "CPU attention calibration: SWA sparsity ", s.swa_sparsity, ", idle ", s.idle_us,
              " us, ", s.repeats, " repeats");
  CpuDevice pageable(0, "cpu tier");
  Device& tier = memory.device != nullptr ? *memory.device : pageable;
  std::vector<Buffer> owner;  // every buffer below; freed after the tensors' last use
  uint64_t seed = 1;
  auto fill = [&](const Tensor& t) {
    if (memory.fill_f16) {
      memory.fill_f16(t.data(), t.numel(), seed++);
    } else {
      fill_halves(t.data_as<uint16_t>(), static_cast<size_t>(t.numel()), seed++);
    }
  };

  // The decoder of one layer with the shape's heads: layer_attend reads only these fields.
  const int64_t b = s.batch, n = s.n_tokens, row = s.n_heads * s.head_dim;
  ModelSpec spec;
  spec.name = "cpu attention calibration";
  spec.hidden_size = row;
  spec.n_heads = s.n_heads;
  spec.n_kv_heads = s.n_heads;  // OPT-like, no GQA
  spec.head_dim = s.head_dim;
  const DecoderProgram program(spec);
  // The step's queries, keys and values and the attention output on the CPU tier, as
  // BlockRunner's host scratch.
  DecoderScratch scratch;
  scratch.max_tokens = b;
  scratch.q = owned_tensor(owner, tier, DType::kF16, {b, row}, "CPU attention queries");
  scratch.k = owned_tensor(owner, tier, DType::kF16, {b, row}, "CPU attention keys");
  scratch.v = owned_tensor(owner, tier, DType::kF16, {b, row}, "CPU attention values");
  scratch.attention = owned_tensor(owner, tier, DType::kF16, {b, row}, "CPU attention output");
  for (const Tensor* t : {&scratch.q, &scratch.k, &scratch.v}) fill(*t);
  // A decode step at a full cache: the new token is the last, every token is real.
  std::vector<uint8_t> mask(static_cast<size_t>(b * n), 1);
  StepBatch step;
  step.batch = b;
  step.n_new = 1;
  step.past = n - 1;
  step.key_mask = Tensor(mask.data(), &tier, DType::kU8, {b, n});

  // SWA as the runtime runs it by default (score `window`, granularity `layer`): the step's plan
  // from the runtime's planner, the budget's ceil(B/2) most recent tokens and the older ones of
  // highest score, here random: scattered, different per sequence and unit.
  SwaOptions swa_options;
  swa_options.sparsity = s.swa_sparsity;
  const SwaShape swa_dims = swa_shape(swa_options, s.n_heads, b, n, 1);
  const SwaState swa_scratch = allocate_swa_scratch(tier, swa_dims, owner);
  SwaPlanner planner(swa_options, b);
  const std::vector<int32_t> n_real(static_cast<size_t>(b), static_cast<int32_t>(n));
  std::vector<SwaSequence> plan(static_cast<size_t>(b));
  const int64_t selected = swa_budget(n, swa_options.sparsity, swa_options.min_tokens).total;

  // The units: K and V [n_tokens, batch, heads, head_dim] each, viewed batch-major as
  // BlockRunner::kv_view does, and the unit's SWA state.
  std::vector<KvLayerView> units(static_cast<size_t>(s.kv_sets));
  for (KvLayerView& unit : units) {
    const Tensor k =
        owned_tensor(owner, tier, DType::kF16, {n, b, s.n_heads, s.head_dim}, "KV cache");
    const Tensor v =
        owned_tensor(owner, tier, DType::kF16, {n, b, s.n_heads, s.head_dim}, "KV cache");
    fill(k);
    fill(v);
    unit.k = k.transpose(0, 1);
    unit.v = v.transpose(0, 1);
    unit.swa = with_scratch(allocate_swa_layer(tier, swa_options, swa_dims, owner), swa_scratch);
    float* score = unit.swa.score.data_as<float>();
    for (int64_t i = 0; i < unit.swa.score.numel(); ++i) {
      score[i] = static_cast<float>(mix(seed ^ static_cast<uint64_t>(i)) >> 40) /
                 static_cast<float>(1 << 24);
    }
    ++seed;
    if (!unit.swa.ring_count.empty()) {
      std::memset(unit.swa.ring_count.data(), 0, unit.swa.ring_count.n_bytes());
    }
  }

  // One run: every unit once, each call after an idle gap; the seconds of the calls alone.
  auto run = [&](CpuOps& ops, bool sparse) {
    if (sparse) {  // the step's plan, the same for every unit (BlockRunner::plan_swa)
      planner.plan(n_real, n, false, plan);
      std::memcpy(swa_scratch.sequences.data(), plan.data(), plan.size() * sizeof(SwaSequence));
    }
    double seconds = 0;
    for (const KvLayerView& unit : units) {
      spin_for(s.idle_us);
      const Clock::time_point start = Clock::now();
      program.layer_attend(
          {.k = unit.k, .v = unit.v, .swa = sparse ? unit.swa : SwaState{}, .recompute = {}}, step,
          scratch, ops);
      seconds += std::chrono::duration<double>(Clock::now() - start).count();
    }
    return seconds;
  };
  // K and V, 2 bytes an element, of every unit.
  auto rate = [&](CpuOps& ops, bool sparse) {
    (void)run(ops, sparse);
    std::vector<double> times;
    for (int64_t i = 0; i < s.repeats; ++i) times.push_back(run(ops, sparse));
    const int64_t tokens = sparse ? selected : n;
    return gbps(2.0 * static_cast<double>(s.kv_sets * b * tokens * row) * 2, median(times));
  };
  // CpuOps sets OpenMP's thread count (oneDNN's, unused here) to its own: put it back after.
  const int omp_threads = omp_get_max_threads();
  std::vector<CpuAttentionRate> rates;
  for (const int64_t threads : thread_counts) {
    ALISA_CHECK(threads > 0, "CPU attention calibration: ", threads, " threads");
    CpuOps ops(static_cast<int>(threads));  // the runtime's CPU ops and their arena
    CpuAttentionRate& r = rates.emplace_back();
    r.threads = threads;
    r.dense_gbps = rate(ops, false);
    r.sparse_gbps = rate(ops, true);
  }
  omp_set_num_threads(omp_threads);
  return rates;
}

}  // namespace alisa
