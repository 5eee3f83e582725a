// GPU kernel benchmarks (Google Benchmark, manual timing with CUDA events), f16 data throughout
// (f32 logits for sampling). Before the benchmarks run, the binary measures two ceilings on the
// device it runs on: HBM bandwidth (a 2 GiB device-to-device copy, bytes read + written) and the
// cuBLAS f16 GEMM rate (LinearGpu, 8192 x 8192 x 8192). Every benchmark then reports its rate
// (GB/s from the fewest bytes the kernel must move: each input read once, each output written
// once; or TFLOP/s), the ceiling it is compared with, and the fraction of it reached.
//
// Method: random values in [-1, 1] (never zeros); a warm-up before any timing; each timed replay
// runs one launch per buffer set, the sets together spanning >= 192 MiB (H100's L2 is 50 MB), so
// no launch reads what an earlier one left in L2; the launches are captured into a CUDA graph
// where capture works (label "graph"; "stream" where it fell back to plain launches), and an
// untimed replay is queued ahead of each timed one so that host launch latency stays out of the
// events. Rates come from the median per-launch time; the "Time" column is the mean.
//
// Without a CUDA device the binary prints why and exits 77.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels_gpu/attention_decode.cuh"
#include "kernels_gpu/attention_prefill.cuh"
#include "kernels_gpu/cuda_check.cuh"
#include "kernels_gpu/layer_norm.cuh"
#include "kernels_gpu/linear.cuh"
#include "kernels_gpu/rms_norm.cuh"
#include "kernels_gpu/sampling.cuh"
#include "runtime/common.h"
#include "runtime/dtype.h"
#include "runtime/kernel_params.h"

namespace alisa {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kRotateBytes = 192 * kMiB;  // buffer sets of one timed replay span at least this
constexpr int kMaxSets = 256;
constexpr int kIterations = 30;      // timed replays per benchmark (fixed: predictable run time)
constexpr int kBigIterations = 15;   // for the multi-millisecond GEMMs
constexpr int kCeilingWarmup = 5;    // untimed replays before the ceilings are measured
constexpr int kCeilingSamples = 15;  // timed replays of each ceiling, median taken

struct Ceilings {
  double hbm_gbps = 0.0;     // device-to-device copy, bytes read + written
  double gemm_tflops = 0.0;  // LinearGpu f16, 8192^3
};
Ceilings g_ceilings;
bool g_failed = false;  // any benchmark skipped with an error: the exit status says so

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// ---- RAII wrappers -------------------------------------------------------------------------

class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    ALISA_CUDA_CHECK(cudaMalloc(&ptr_, std::max<size_t>(bytes, 256)));
  }
  ~DeviceMemory() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  char* get() const { return static_cast<char*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() { ALISA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// ---- random data ---------------------------------------------------------------------------

// Host pattern of uniform values in [-1, 1), never zero. Its length is odd, so rows of any
// power-of-two width do not repeat in step with it.
constexpr size_t kPatternElems = (size_t{1} << 22) - 5;

const std::vector<uint8_t>& random_pattern(DType dtype) {
  static std::vector<uint8_t> f16, f32;
  std::vector<uint8_t>& bytes = dtype == DType::kF16 ? f16 : f32;
  if (bytes.empty()) {
    std::mt19937_64 rng(dtype == DType::kF16 ? 0x5eed16 : 0x5eed32);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    const size_t size = dtype_size(dtype);
    bytes.resize(kPatternElems * size);
    for (size_t i = 0; i < kPatternElems; ++i) {
      float v = uniform(rng);
      if (std::fabs(v) < 1e-3f) v = 0.5f;  // stays non-zero once rounded to f16
      if (dtype == DType::kF16) {
        const uint16_t h = float_to_half_bits(v);
        std::memcpy(&bytes[i * size], &h, size);
      } else {
        std::memcpy(&bytes[i * size], &v, size);
      }
    }
  }
  return bytes;
}

// Fills `bytes` at `dst` with random `dtype` values (f16 or f32): the host pattern is uploaded
// once, then doubled on the device by copies.
void fill_random(char* dst, size_t bytes, DType dtype, cudaStream_t stream) {
  const std::vector<uint8_t>& pattern = random_pattern(dtype);
  const size_t size = dtype_size(dtype);
  const size_t n = bytes / size;
  const size_t first = std::min(n, kPatternElems);
  ALISA_CUDA_CHECK(
      cudaMemcpyAsync(dst, pattern.data(), first * size, cudaMemcpyHostToDevice, stream));
  for (size_t done = first; done < n;) {
    const size_t chunk = std::min(done, n - done);
    ALISA_CUDA_CHECK(
        cudaMemcpyAsync(dst + done * size, dst, chunk * size, cudaMemcpyDeviceToDevice, stream));
    done += chunk;
  }
  ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// `n_sets` copies of one list of buffers, back to back in one allocation (each buffer 256-byte
// aligned), all filled with random `dtype` values. n_sets is the fewest copies spanning
// kRotateBytes (at most kMaxSets).
class BufferSets {
 public:
  BufferSets(const std::vector<size_t>& buffer_bytes, DType dtype, cudaStream_t stream)
      : offsets_(buffer_bytes.size()) {
    size_t stride = 0;
    for (size_t i = 0; i < buffer_bytes.size(); ++i) {
      offsets_[i] = stride;
      stride += align256(buffer_bytes[i]);
    }
    stride_ = std::max<size_t>(stride, 256);
    n_sets_ = static_cast<int>(
        std::clamp<size_t>((kRotateBytes + stride_ - 1) / stride_, 1, size_t{kMaxSets}));
    memory_ = std::make_unique<DeviceMemory>(stride_ * static_cast<size_t>(n_sets_));
    fill_random(memory_->get(), memory_->bytes(), dtype, stream);
  }
  void* at(int set, size_t buffer) const {
    return memory_->get() + static_cast<size_t>(set) * stride_ + offsets_.at(buffer);
  }
  int n_sets() const { return n_sets_; }

 private:
  std::vector<size_t> offsets_;
  size_t stride_ = 0;
  int n_sets_ = 1;
  std::unique_ptr<DeviceMemory> memory_;
};

// ---- timing --------------------------------------------------------------------------------

// Times `launch(0) .. launch(n - 1)` (one launch per buffer set) as one replay. The constructor
// warms up (twice through every launch: module load, cuBLAS plans) and captures the launches
// into a CUDA graph; where capture fails the replays launch them directly.
class Replayer {
 public:
  Replayer(cudaStream_t stream, int n_launches, std::function<void(int)> launch)
      : stream_(stream), n_(n_launches), launch_(std::move(launch)) {
    ALISA_CUDA_CHECK(cudaEventCreate(&start_));
    ALISA_CUDA_CHECK(cudaEventCreate(&stop_));
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = 0; i < n_; ++i) launch_(i);
    }
    ALISA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    ALISA_CUDA_CHECK(cudaGetLastError());
    capture();
    replay();
    ALISA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    ALISA_CUDA_CHECK(cudaGetLastError());
  }
  ~Replayer() {
    cudaStreamSynchronize(stream_);
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stop_ != nullptr) cudaEventDestroy(stop_);
  }
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  bool graphed() const { return exec_ != nullptr; }
  int n_launches() const { return n_; }

  // Seconds per launch of one timed replay. An untimed replay is queued first, so the device
  // is still busy with it while the host queues the start event and the timed replay.
  double time_once() {
    replay();
    ALISA_CUDA_CHECK(cudaEventRecord(start_, stream_));
    replay();
    ALISA_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    ALISA_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0.0f;
    ALISA_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return static_cast<double>(ms) * 1e-3 / n_;
  }

 private:
  void replay() {
    if (exec_ != nullptr) {
      ALISA_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    } else {
      for (int i = 0; i < n_; ++i) launch_(i);
    }
  }

  void capture() {
    // Relaxed: the launchers may query or set function attributes while capturing.
    if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
      (void)cudaGetLastError();
      return;
    }
    bool ok = true;
    try {
      for (int i = 0; i < n_; ++i) launch_(i);
    } catch (const std::exception&) {
      ok = false;
    }
    cudaGraph_t graph = nullptr;
    ok = cudaStreamEndCapture(stream_, &graph) == cudaSuccess && ok && graph != nullptr;
    if (ok && cudaGraphInstantiate(&exec_, graph, 0) != cudaSuccess) exec_ = nullptr;
    if (!ok) exec_ = nullptr;
    if (graph != nullptr) cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // a failed capture leaves a (non-sticky) error behind
  }

  cudaStream_t stream_ = nullptr;
  int n_ = 0;
  std::function<void(int)> launch_;
  cudaGraphExec_t exec_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// What one launch must do at least: bytes through HBM (memory-bound kernels) or flops.
struct Work {
  double bytes = 0.0;
  double flops = 0.0;
};

// The timing loop and the counters: us_median; GB/s or TFLOP/s from the median; ceiling (the
// matching ceiling measured at start, GB/s or TFLOP/s) and of_ceiling (rate / ceiling).
void run_timed(benchmark::State& state, Replayer& replayer, const Work& work) {
  std::vector<double> times;
  times.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    const double seconds = replayer.time_once();
    state.SetIterationTime(seconds);
    times.push_back(seconds);
  }
  const double t = median(times);
  if (t <= 0.0) throw InternalError("no timed iteration");
  state.counters["us_median"] = t * 1e6;
  if (work.flops > 0.0) {
    const double tflops = work.flops / t * 1e-12;
    state.counters["TFLOP/s"] = tflops;
    state.counters["ceiling"] = g_ceilings.gemm_tflops;
    state.counters["of_ceiling"] = g_ceilings.gemm_tflops > 0 ? tflops / g_ceilings.gemm_tflops : 0;
  } else {
    const double gbps = work.bytes / t * 1e-9;
    state.counters["GB/s"] = gbps;
    state.counters["ceiling"] = g_ceilings.hbm_gbps;
    state.counters["of_ceiling"] = g_ceilings.hbm_gbps > 0 ? gbps / g_ceilings.hbm_gbps : 0;
  }
  state.counters["sets"] = replayer.n_launches();
  state.SetLabel(replayer.graphed() ? "graph" : "stream");
}

// ---- ceilings ------------------------------------------------------------------------------

constexpr size_t kCopyBytes = 2 * kGiB;
constexpr int64_t kGemmSize = 8192;

struct CopyCeiling {
  Stream stream;
  DeviceMemory src{kCopyBytes}, dst{kCopyBytes};
  std::unique_ptr<Replayer> replayer;
  CopyCeiling() {
    fill_random(src.get(), kCopyBytes, DType::kF16, stream.get());
    replayer = std::make_unique<Replayer>(stream.get(), 1, [this](int) {
      ALISA_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), kCopyBytes, cudaMemcpyDeviceToDevice,
                                       stream.get()));
    });
  }
  ~CopyCeiling() { replayer.reset(); }
  static Work work() { return {2.0 * static_cast<double>(kCopyBytes), 0.0}; }
};

struct GemmCeiling {
  static constexpr size_t kMatrixBytes = kGemmSize * kGemmSize * 2;
  Stream stream;
  gpu::LinearGpu linear;
  DeviceMemory x{kMatrixBytes}, w{kMatrixBytes}, y{kMatrixBytes};
  std::unique_ptr<Replayer> replayer;
  GemmCeiling() {
    fill_random(x.get(), kMatrixBytes, DType::kF16, stream.get());
    fill_random(w.get(), kMatrixBytes, DType::kF16, stream.get());
    LinearParams p;
    p.x = x.get();
    p.weight = w.get();
    p.y = y.get();
    p.m = p.n = p.k = kGemmSize;
    p.dtype = p.weight_dtype = DType::kF16;
    replayer = std::make_unique<Replayer>(stream.get(), 1,
                                          [this, p](int) { linear.run(p, stream.get()); });
  }
  ~GemmCeiling() { replayer.reset(); }
  static Work work() {
    const double s = static_cast<double>(kGemmSize);
    return {0.0, 2.0 * s * s * s};
  }
};

template <typename Ceiling>
double measure_ceiling_seconds() {
  Ceiling c;
  for (int i = 0; i < kCeilingWarmup; ++i) c.replayer->time_once();
  std::vector<double> times;
  for (int i = 0; i < kCeilingSamples; ++i) times.push_back(c.replayer->time_once());
  return median(times);
}

void measure_ceilings() {
  // GEMM first: it also brings the clocks up before the copy is timed.
  const double gemm_s = measure_ceiling_seconds<GemmCeiling>();
  const double copy_s = measure_ceiling_seconds<CopyCeiling>();
  g_ceilings.gemm_tflops = GemmCeiling::work().flops / gemm_s * 1e-12;
  g_ceilings.hbm_gbps = CopyCeiling::work().bytes / copy_s * 1e-9;
}

template <typename Ceiling>
void bench_ceiling(benchmark::State& state) {
  Ceiling c;
  run_timed(state, *c.replayer, Ceiling::work());
}

// ---- kernels -------------------------------------------------------------------------------

constexpr int64_t kHeadDim = 128;

// Decode attention: one query per sequence (the last cached token) over a cache of `len`
// tokens, with an all-ones key mask (as the runtime passes). Bytes: K + V + q + out + mask.
void bench_attention_decode(benchmark::State& state, int64_t batch, int64_t len, int64_t heads,
                            int64_t kv_heads) {
  Stream stream;
  const size_t q_bytes = static_cast<size_t>(batch * heads * kHeadDim) * 2;
  const size_t kv_bytes = static_cast<size_t>(batch * len * kv_heads * kHeadDim) * 2;
  const size_t mask_bytes = static_cast<size_t>(batch * len);
  enum { kQ, kK, kV, kMask, kOut };
  BufferSets sets({q_bytes, kv_bytes, kv_bytes, mask_bytes, q_bytes}, DType::kF16, stream.get());
  for (int s = 0; s < sets.n_sets(); ++s) {
    ALISA_CUDA_CHECK(cudaMemsetAsync(sets.at(s, kMask), 1, mask_bytes, stream.get()));
  }
  ALISA_CUDA_CHECK(cudaStreamSynchronize(stream.get()));

  AttentionParams p;
  p.batch = batch;
  p.n_q = 1;
  p.n_kv_tokens = len;
  p.n_heads = heads;
  p.n_kv_heads = kv_heads;
  p.head_dim = kHeadDim;
  p.q_start = len - 1;
  p.q_token_stride = p.out_token_stride = heads * kHeadDim;
  p.q_batch_stride = p.out_batch_stride = heads * kHeadDim;
  p.kv_token_stride = kv_heads * kHeadDim;
  p.kv_batch_stride = len * kv_heads * kHeadDim;
  p.mask_batch_stride = len;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  p.dtype = p.kv_dtype = DType::kF16;
  auto params_for = [&sets, p](int s) {
    AttentionParams q = p;
    q.q = sets.at(s, kQ);
    q.k = sets.at(s, kK);
    q.v = sets.at(s, kV);
    q.key_mask = static_cast<const uint8_t*>(sets.at(s, kMask));
    q.out = sets.at(s, kOut);
    return q;
  };
  const AttentionParams p0 = params_for(0);
  DeviceMemory workspace(gpu::attention_decode_workspace_bytes(p0));
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    gpu::attention_decode(params_for(s), workspace.get(), workspace.bytes(), stream.get());
  });
  run_timed(state, replayer, {static_cast<double>(2 * kv_bytes + 2 * q_bytes + mask_bytes), 0.0});
  state.counters["splits"] = static_cast<double>(gpu::attention_decode_num_splits(p0));
}

// Causal prefill attention of `seq` tokens from position 0, all-ones key mask. FLOPs: QK^T and
// PV over the causal triangle, 4 * b * h * (S (S + 1) / 2) * d.
void bench_attention_prefill(benchmark::State& state, int64_t batch, int64_t seq, int64_t heads) {
  Stream stream;
  const size_t x_bytes = static_cast<size_t>(batch * seq * heads * kHeadDim) * 2;
  const size_t mask_bytes = static_cast<size_t>(batch * seq);
  enum { kQ, kK, kV, kMask, kOut };
  BufferSets sets({x_bytes, x_bytes, x_bytes, mask_bytes, x_bytes}, DType::kF16, stream.get());
  for (int s = 0; s < sets.n_sets(); ++s) {
    ALISA_CUDA_CHECK(cudaMemsetAsync(sets.at(s, kMask), 1, mask_bytes, stream.get()));
  }
  ALISA_CUDA_CHECK(cudaStreamSynchronize(stream.get()));

  AttentionParams p;
  p.batch = batch;
  p.n_q = seq;
  p.n_kv_tokens = seq;
  p.n_heads = heads;
  p.n_kv_heads = heads;
  p.head_dim = kHeadDim;
  p.q_start = 0;
  p.q_token_stride = p.out_token_stride = p.kv_token_stride = heads * kHeadDim;
  p.q_batch_stride = p.out_batch_stride = p.kv_batch_stride = seq * heads * kHeadDim;
  p.mask_batch_stride = seq;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  p.dtype = p.kv_dtype = DType::kF16;
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    AttentionParams q = p;
    q.q = sets.at(s, kQ);
    q.k = sets.at(s, kK);
    q.v = sets.at(s, kV);
    q.key_mask = static_cast<const uint8_t*>(sets.at(s, kMask));
    q.out = sets.at(s, kOut);
    gpu::attention_prefill(q, stream.get());
  });
  const double b = static_cast<double>(batch), h = static_cast<double>(heads);
  const double sd = static_cast<double>(seq), d = static_cast<double>(kHeadDim);
  run_timed(state, replayer, {0.0, 4.0 * b * h * (sd * (sd + 1.0) / 2.0) * d});
}

// Pre-norm "add, then normalise": s = x + residual, residual_out = s, out = norm(s).
// Bytes: x, residual, weight (and bias) read; out and residual_out written.
template <bool kRms>
void bench_norm(benchmark::State& state, int64_t rows, int64_t dim) {
  Stream stream;
  const size_t act = static_cast<size_t>(rows * dim) * 2;
  const size_t vec = static_cast<size_t>(dim) * 2;
  enum { kX, kResidual, kWeight, kBias, kOut, kResidualOut };
  BufferSets sets({act, act, vec, kRms ? 0 : vec, act, act}, DType::kF16, stream.get());
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    NormParams p;
    p.x = sets.at(s, kX);
    p.residual = sets.at(s, kResidual);
    p.residual_out = sets.at(s, kResidualOut);
    p.weight = sets.at(s, kWeight);
    p.bias = kRms ? nullptr : sets.at(s, kBias);
    p.out = sets.at(s, kOut);
    p.n_rows = rows;
    p.dim = dim;
    p.eps = 1e-5f;
    p.dtype = DType::kF16;
    if (kRms) {
      gpu::rms_norm(p, stream.get());
    } else {
      gpu::layer_norm(p, stream.get());
    }
  });
  run_timed(state, replayer, {static_cast<double>(4 * act + (kRms ? 1 : 2) * vec), 0.0});
}

// y [m, n] = x [m, k] W^T, no bias. Memory-bound (decode) shapes report GB/s of x + W + y;
// prefill shapes (`compute`) report TFLOP/s of 2 m n k.
void bench_linear(benchmark::State& state, int64_t m, int64_t n, int64_t k, bool compute) {
  Stream stream;
  gpu::LinearGpu linear;
  const size_t x_bytes = static_cast<size_t>(m * k) * 2;
  const size_t w_bytes = static_cast<size_t>(n * k) * 2;
  const size_t y_bytes = static_cast<size_t>(m * n) * 2;
  enum { kX, kW, kY };
  BufferSets sets({x_bytes, w_bytes, y_bytes}, DType::kF16, stream.get());
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    LinearParams p;
    p.x = sets.at(s, kX);
    p.weight = sets.at(s, kW);
    p.y = sets.at(s, kY);
    p.m = m;
    p.n = n;
    p.k = k;
    p.dtype = p.weight_dtype = DType::kF16;
    linear.run(p, stream.get());
  });
  if (compute) {
    run_timed(
        state, replayer,
        {0.0, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k)});
  } else {
    run_timed(state, replayer, {static_cast<double>(x_bytes + w_bytes + y_bytes), 0.0});
  }
}

// Greedy sampling (temperature 0) over f32 logits [batch, vocab]. Bytes: logits + tokens.
void bench_sample_greedy(benchmark::State& state, int64_t batch, int64_t vocab) {
  Stream stream;
  const size_t logits_bytes = static_cast<size_t>(batch * vocab) * 4;
  const size_t out_bytes = static_cast<size_t>(batch) * 4;
  enum { kLogits, kOut };
  BufferSets sets({logits_bytes, out_bytes}, DType::kF32, stream.get());
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    SamplingParams p;
    p.logits = static_cast<const float*>(sets.at(s, kLogits));
    p.out_tokens = static_cast<int32_t*>(sets.at(s, kOut));
    p.batch = batch;
    p.vocab = vocab;
    p.temperature = 0.0f;
    gpu::sample(p, stream.get());
  });
  run_timed(state, replayer, {static_cast<double>(logits_bytes + out_bytes), 0.0});
}

// ---- registration --------------------------------------------------------------------------

template <typename Body>
void add(const std::string& name, int iterations, Body body) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [body](benchmark::State& state) {
                                 try {
                                   body(state);
                                 } catch (const std::exception& e) {
                                   g_failed = true;
                                   state.SkipWithError(e.what());
                                 }
                               })
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMicrosecond);
}

void register_benchmarks() {
  add("ceiling/hbm_copy/bytes:2GiB", kIterations, bench_ceiling<CopyCeiling>);
  add("ceiling/gemm_f16/mnk:8192", kBigIterations, bench_ceiling<GemmCeiling>);

  struct Model {
    const char* name;
    int64_t heads, kv_heads;
  };
  for (const Model& model : {Model{"opt-6.7b", 32, 32}, Model{"llama-3-8b", 32, 8}}) {
    for (const int64_t batch : {1, 8, 32}) {
      for (const int64_t len : {512, 2048}) {
        add(str("attn_decode/", model.name, "/batch:", batch, "/len:", len), kIterations,
            [=](benchmark::State& state) {
              bench_attention_decode(state, batch, len, model.heads, model.kv_heads);
            });
      }
    }
  }
  add("attn_prefill/batch:4/seq:512/heads:32", kIterations,
      [](benchmark::State& state) { bench_attention_prefill(state, 4, 512, 32); });

  for (const int64_t rows : {32, 16384}) {
    add(str("rms_norm_residual/rows:", rows, "/dim:4096"), kIterations,
        [=](benchmark::State& state) { bench_norm<true>(state, rows, 4096); });
    add(str("layer_norm_residual/rows:", rows, "/dim:4096"), kIterations,
        [=](benchmark::State& state) { bench_norm<false>(state, rows, 4096); });
  }

  for (const auto& shape : {std::pair<int64_t, int64_t>{4096, 4096}, {16384, 4096}}) {
    const int64_t n = shape.first, k = shape.second;
    for (const int64_t m : {1, 8, 32}) {
      add(str("linear/m:", m, "/n:", n, "/k:", k), kIterations,
          [=](benchmark::State& state) { bench_linear(state, m, n, k, false); });
    }
    add(str("linear/m:16384/n:", n, "/k:", k), kBigIterations,
        [=](benchmark::State& state) { bench_linear(state, 16384, n, k, true); });
  }

  add("sample_greedy/batch:32/vocab:50272", kIterations,
      [](benchmark::State& state) { bench_sample_greedy(state, 32, 50272); });
}

bool has_flag(int argc, char** argv, std::string_view prefix) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace
}  // namespace alisa

int main(int argc, char** argv) {
  using namespace alisa;
  // Looked at before Initialize() consumes the benchmark flags.
  const bool listing = has_flag(argc, argv, "--benchmark_list_tests") &&
                       !has_flag(argc, argv, "--benchmark_list_tests=false") &&
                       !has_flag(argc, argv, "--benchmark_list_tests=0");
  // Console lines before the results go to stderr when stdout carries JSON or CSV.
  const bool machine_stdout = has_flag(argc, argv, "--benchmark_format=json") ||
                              has_flag(argc, argv, "--benchmark_format=csv");
  FILE* info = machine_stdout ? stderr : stdout;

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();

  if (!listing) {
    int n_devices = 0;
    const cudaError_t error = cudaGetDeviceCount(&n_devices);
    if (error != cudaSuccess || n_devices == 0) {
      std::printf("no CUDA device: GPU kernel benchmarks skipped\n");
      std::fprintf(stderr, "(cudaGetDeviceCount: %s, %d devices)\n",
                   error != cudaSuccess ? cudaGetErrorString(error) : "ok", n_devices);
      std::fflush(stdout);
      return 77;
    }
    try {
      int device = 0;
      ALISA_CUDA_CHECK(cudaGetDevice(&device));
      cudaDeviceProp prop{};
      ALISA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
      std::fprintf(info, "device: %s, %d SMs, L2 %.1f MB, %.1f GiB\n", prop.name,
                   prop.multiProcessorCount, prop.l2CacheSize / 1e6,
                   static_cast<double>(prop.totalGlobalMem) / static_cast<double>(kGiB));
      std::fflush(info);
      measure_ceilings();
      std::fprintf(info, "ceiling HBM bandwidth (2 GiB D2D copy, read + write): %.1f GB/s\n",
                   g_ceilings.hbm_gbps);
      std::fprintf(info, "ceiling cuBLAS f16 GEMM (LinearGpu, 8192^3):          %.1f TFLOP/s\n",
                   g_ceilings.gemm_tflops);
      std::fflush(info);
      benchmark::AddCustomContext("device", prop.name);
      benchmark::AddCustomContext("ceiling_hbm_GB/s", str(g_ceilings.hbm_gbps));
      benchmark::AddCustomContext("ceiling_gemm_f16_TFLOP/s", str(g_ceilings.gemm_tflops));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "measuring the ceilings failed: %s\n", e.what());
      return 1;
    }
  }

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
