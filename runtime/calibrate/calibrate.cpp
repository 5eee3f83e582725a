#include "runtime/calibrate/calibrate.h"

#include <omp.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "runtime/base/dtype.h"
#include "runtime/base/swa_budget.h"
#include "runtime/calibrate/calibrate_units.h"
#include "runtime/core/tensor.h"
#include "runtime/jobs/engine.h"
#include "runtime/model/model_spec.h"
#include "runtime/ops/cpu_ops.h"
#include "runtime/program/decoder_program.h"
#include "runtime/program/swa.h"
#include "runtime/tiers/disk_file.h"
#include "runtime/tiers/io_pool.h"
#if ALISA_HAVE_CUDA
#include "runtime/calibrate/calibrate_gpu.h"
#include "runtime/core/gpu_device.h"
#endif

namespace alisa {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kRepeats = 3;             // timed runs after the warm-up; their median is reported
constexpr int kDiskPasses = 5;          // disk passes after the warm-up; the fastest is reported
constexpr int kLatencyRequests = 1000;  // single-block disk requests timed, one in flight

double seconds_of(const std::function<void()>& run) {
  const Clock::time_point start = Clock::now();
  run();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The median time of kRepeats runs after one untimed warm-up.
double median_seconds(const std::function<void()>& run) {
  run();
  std::vector<double> times;
  for (int i = 0; i < kRepeats; ++i) times.push_back(seconds_of(run));
  return median(times);
}

// Keeps this thread busy for `us` microseconds, as the runtime's main thread is between two
// CPU-attended units (launching the GPU's work) while the TBB workers idle.
void spin_for(double us) {
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double, std::micro>(us));
  while (Clock::now() < end) {
  }
}

// A cheap, well-mixed hash (splitmix64): fill patterns that no hardware compresses away.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
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

// Creates the folder when missing; throws alisa::Error naming it when it cannot be written.
void prepare_disk_dir(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  ALISA_CHECK(!error, "--disk-dir ", folder.string(), ": cannot create it: ", error.message());
  ALISA_CHECK(::access(folder.c_str(), W_OK) == 0, "--disk-dir ", folder.string(),
              " is not writable: ", errno_text(errno));
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

double median(std::vector<double> values) {
  ALISA_ASSERT(!values.empty(), "median of nothing");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

const std::vector<std::string>& default_calibration_models() {
  static const std::vector<std::string> models = {
      "opt-6.7b", "opt-13b", "opt-30b", "opt-66b", "llama-2-7b", "llama-2-13b", "llama-2-70b"};
  return models;
}

std::vector<GemmShape> calibration_gemm_shapes(const std::vector<std::string>& models) {
  std::vector<GemmShape> shapes;
  auto add = [&](int64_t n, int64_t k) {
    const GemmShape shape{n, k};
    if (std::find(shapes.begin(), shapes.end(), shape) == shapes.end()) shapes.push_back(shape);
  };
  for (const std::string& name : models) {
    const ModelSpec spec = named_model_spec(name);
    const int64_t d = spec.hidden_size;
    // As DecoderProgram launches them: q, k and v separately, then o, the MLP and the head.
    add(spec.q_dim(), d);
    add(spec.kv_dim(), d);
    add(d, spec.q_dim());
    add(spec.ffn_dim, d);  // up (and LLaMA's gate)
    add(d, spec.ffn_dim);  // down
    add(spec.vocab_size, spec.embed_dim());
    if (spec.embed_dim() != d) {
      add(d, spec.embed_dim());  // OPT's project_in
      add(spec.embed_dim(), d);  // project_out
    }
  }
  return shapes;
}

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
  const double seconds = median_seconds([&] {
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
  // Checked, so the compiler keeps the reads and a broken reduction cannot pass for a fast one.
  ALISA_ASSERT(sum == n * (n - 1) / 2, "CPU memory pass summed ", sum);
  return static_cast<double>(n * sizeof(uint64_t)) / seconds / 1e9;
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
  auto make = [&](DType dtype, std::initializer_list<int64_t> dims, const char* what) {
    OwnedTensor owned = allocate_tensor(tier, dtype, dims, what);
    owner.push_back(std::move(owned.buffer));
    return owned.tensor;
  };
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
  scratch.q = make(DType::kF16, {b, row}, "CPU attention queries");
  scratch.k = make(DType::kF16, {b, row}, "CPU attention keys");
  scratch.v = make(DType::kF16, {b, row}, "CPU attention values");
  scratch.attention = make(DType::kF16, {b, row}, "CPU attention output");
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
    const Tensor k = make(DType::kF16, {n, b, s.n_heads, s.head_dim}, "KV cache");
    const Tensor v = make(DType::kF16, {n, b, s.n_heads, s.head_dim}, "KV cache");
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
    return 2.0 * static_cast<double>(s.kv_sets * b * tokens * row) * 2 / median(times) / 1e9;
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

DiskRates measure_disk(const fs::path& folder, uint64_t n_bytes, size_t write_request_bytes,
                       size_t read_request_bytes) {
  for (const size_t request : {write_request_bytes, read_request_bytes}) {
    ALISA_CHECK(request > 0 && request % DiskFile::kBlock == 0, "disk calibration: request size ",
                request, " is not a multiple of ", DiskFile::kBlock);
  }
  const size_t request_bytes = std::max(write_request_bytes, read_request_bytes);
  ALISA_CHECK(request_bytes % std::min(write_request_bytes, read_request_bytes) == 0,
              "disk calibration: request sizes ", write_request_bytes, " and ", read_request_bytes,
              " do not divide one another");
  n_bytes = round_up(std::max<uint64_t>(n_bytes, request_bytes), request_bytes);
  prepare_disk_dir(folder);
  const fs::path path = folder / ("alisa-calibrate-" + std::to_string(::getpid()) + ".bin");
  DiskFile file = DiskFile::create(path, n_bytes);  // unlinked when it goes out of scope
  // Block-aligned, so O_DIRECT requests go straight from and into it.
  std::unique_ptr<char, FreeDeleter> buffer(
      static_cast<char*>(std::aligned_alloc(DiskFile::kBlock, n_bytes)));
  ALISA_CHECK(buffer != nullptr, "disk calibration: cannot allocate ", n_bytes, " bytes");
  tbb::parallel_for(tbb::blocked_range<uint64_t>(0, n_bytes / 8), [&](auto r) {
    for (uint64_t i = r.begin(); i < r.end(); ++i) {
      const uint64_t value = mix(i);
      std::memcpy(buffer.get() + i * 8, &value, 8);
    }
  });
  IoPool pool;  // the runtime's disk tier: a few requests in flight
  auto pass = [&](bool write) {
    return seconds_of([&] {
      if (!write) {  // one request at a time
        for (uint64_t offset = 0; offset < n_bytes; offset += read_request_bytes) {
          file.read(offset, buffer.get() + offset, read_request_bytes);
        }
        return;
      }
      std::vector<std::future<void>> done;
      for (uint64_t offset = 0; offset < n_bytes; offset += write_request_bytes) {
        char* data = buffer.get() + offset;
        done.push_back(pool.submit([&file, offset, data, write_request_bytes] {
          file.write(offset, data, write_request_bytes);
        }));
      }
      for (std::future<void>& f : done) f.get();
    });
  };
  // One warm-up pass, then the best of kDiskPasses: a disk's rate dips with background work,
  // never rises above itself.
  auto best = [&](bool write) {
    (void)pass(write);
    double seconds = INFINITY;
    for (int i = 0; i < kDiskPasses; ++i) seconds = std::min(seconds, pass(write));
    return seconds;
  };
  const double write_seconds = best(true);
  const double read_seconds = best(false);
  // One block at a time at scattered offsets (a mean, as the cost model adds them up): what the
  // runtime's single-token cache writes and per-unit reads pay beyond their bytes.
  const uint64_t n_blocks = n_bytes / DiskFile::kBlock;
  auto latency_us = [&](bool write) {
    auto request = [&](int i) {
      const uint64_t offset =
          mix(static_cast<uint64_t>(i) ^ (write ? 1 : 0)) % n_blocks * DiskFile::kBlock;
      char* data = buffer.get() + offset;
      if (write) {
        file.write(offset, data, DiskFile::kBlock);
      } else {
        file.read(offset, data, DiskFile::kBlock);
      }
    };
    for (int i = 0; i < kLatencyRequests / 20; ++i) request(-1 - i);  // warm-up
    return 1e6 * seconds_of([&] {
             for (int i = 0; i < kLatencyRequests; ++i) request(i);
           }) /
           kLatencyRequests;
  };
  const double write_latency = latency_us(true);
  const double read_latency = latency_us(false);
  const double gb = static_cast<double>(n_bytes) / 1e9;
  return {.read_gbps = gb / read_seconds,
          .write_gbps = gb / write_seconds,
          .read_latency_us = read_latency,
          .write_latency_us = write_latency,
          .direct = file.direct()};
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * page_size : 0;
}

int64_t online_cores() {
  // As CpuOps counts "all cores".
  return std::max<int64_t>(std::thread::hardware_concurrency(), 1);
}

std::string today_text() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &local);
  return text;
}

std::string calibration_gpu_problem() {
#if ALISA_HAVE_CUDA
  if (gpu_device_count() > 0) return "";
  return "alisa calibrate needs a CUDA GPU: no CUDA device is present";
#else
  return "alisa calibrate needs a CUDA GPU: this alisa was built without CUDA (nvcc was not found)";
#endif
}

HardwareProfile calibrate(const CalibrateOptions& options) {
  const std::vector<std::string>& models =
      options.models.empty() ? default_calibration_models() : options.models;
  std::vector<GemmShape> shapes;
  try {
    shapes = calibration_gemm_shapes(models);
  } catch (const Error& e) {
    throw Error(str("--models: ", e.what()));
  }
  const std::string problem = calibration_gpu_problem();
  ALISA_CHECK(problem.empty(), problem);
  auto progress = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  HardwareProfile p;
  p.name = options.name;
  p.measured = today_text();
  p.cpu = cpu_model_name();
  p.cpu_memory_bytes = physical_memory_bytes();
  p.cpu_cores = online_cores();
  const fs::path disk_dir = options.disk_dir.empty() ? default_offload_dir() : options.disk_dir;
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(p.cpu_cores);
  prepare_disk_dir(disk_dir);  // before the GPU's minute, not after it

#if ALISA_HAVE_CUDA
  measure_gpu(GpuCalibrationSizes{}, shapes, p, progress);
  progress("block runner: the fixed cost of a unit, OPT-125M at 32 GPU batches of 1");
  p.unit = measure_unit_costs(DeviceChoice::kGpu, disk_dir, threads);
#endif

  progress(str("CPU memory: ", threads, " threads reading 2 GiB"));
  p.cpu_memory_gbps = measure_cpu_memory_gbps(size_t{2} << 30, threads);
  const std::vector<int64_t> thread_counts = calibration_thread_counts(threads);
  const CpuAttentionShape attention;
  progress(str("CPU attention: float16 KV, ", attention.batch, " sequences x ", attention.n_tokens,
               " tokens in pinned memory, ", thread_counts.size(), " thread counts up to ",
               threads));
  {
#if ALISA_HAVE_CUDA
    PinnedCpuTier tier;  // the runtime's CPU tier on a GPU run, its caches written by the GPU
    const CpuTierMemory memory = tier.memory();
#else
    const CpuTierMemory memory;  // unreachable: calibration needs a GPU
#endif
    p.cpu_attention = measure_cpu_attention(attention, thread_counts, memory);
#if ALISA_HAVE_CUDA
    progress(str("pinned H2D while the CPU attends on ", threads, " threads"));
    // The load attends without idle gaps, for long runs (a second or so of dense attention
    // after its setup), and the copies start once its setup is done: the load's allocations
    // and fills, not its attention, were what the copies met before.
    CpuAttentionShape load = attention;
    load.idle_us = 0;
    load.repeats = 100;
    p.h2d_pinned_cpu_busy_gbps = measure_h2d_pinned_under_load(
        size_t{1} << 30,
        [&](const std::atomic<bool>& stop) {
          while (!stop) (void)measure_cpu_attention(load, {threads}, memory);
        },
        0.5);
    // The mirror: CPU attention at the most threads while the weights' copies stream up, as a
    // share of its rate alone (the table's last entry, measured just before).
    progress(str("CPU attention on ", threads, " threads while pinned H2D copies run"));
    CpuAttentionRate busy;
    const double h2d_gbps = pinned_h2d_during(
        size_t{256} << 20,
        [&] { busy = measure_cpu_attention(attention, {threads}, memory).front(); }, 0.2);
    const CpuAttentionRate& alone = p.cpu_attention.back();
    p.cpu_attention_h2d_busy = {.dense = busy.dense_gbps / alone.dense_gbps,
                                .sparse = busy.sparse_gbps / alone.sparse_gbps};
    progress(str("  kept ", p.cpu_attention_h2d_busy.dense, " (dense), ",
                 p.cpu_attention_h2d_busy.sparse, " (sparse) of its rate; the copies ran at ",
                 h2d_gbps, " GB/s"));
#endif
  }

  progress(str("disk: writing and reading 2 GiB in ", disk_dir.string()));
  // Reads as the block runner loads a unit's cache from disk: a request of a few MiB at a time
  // (its weight reads, on the I/O pool, share the disk with them); writes in large requests
  // on the pool, as the prompt's cache is stored.
  const DiskRates disk =
      measure_disk(disk_dir, uint64_t{2} << 30, size_t{64} << 20, size_t{4} << 20);
  if (!disk.direct) {
    progress(str("warning: ", disk_dir.string(),
                 " refused O_DIRECT; buffered I/O was timed, so the page cache may inflate the "
                 "disk rates"));
  }
  p.disk_read_gbps = disk.read_gbps;
  p.disk_write_gbps = disk.write_gbps;
  p.disk_read_latency_us = disk.read_latency_us;
  p.disk_write_latency_us = disk.write_latency_us;
  p.disk_bytes = free_disk_bytes(disk_dir);

  validate(p, "calibration");
  return p;
}

}  // namespace alisa
