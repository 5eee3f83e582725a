// GPU kernel benchmarks (Google Benchmark, manual timing with CUDA events), f16 data throughout
// (f32 logits for sampling). Before the benchmarks run, the binary measures two ceilings on the
// device it runs on: HBM bandwidth (a 2 GiB device-to-device copy, bytes read + written) and the
// cuBLAS f16 GEMM rate (LinearGpu, 8192 x 8192 x 8192). Every benchmark then reports its rate
// (GB/s from the fewest bytes the kernel must move: each input read once, each output written
// once; or TFLOP/s), the ceiling it is compared with, and the fraction of it reached.
//
// Method: random values in [-1, 1] (never zeros); a warm-up before any timing; each timed replay
// runs one launch per buffer set, the sets together spanning >= 192 MiB (H100's L2 is 50 MB), so
// no launch reads what an earlier one left in L2 (kernels that read only part of their buffers,
// as the Sparse Window Attention ones, which read rows by index: the bytes the launches move
// span it; at most kMaxSets launches either way); the launches are captured into a CUDA graph
// where capture works (label "graph"; "stream" where it fell back to plain launches), and an
// untimed replay is queued ahead of each timed one so that host launch latency stays out of the
// events. Rates come from the median per-launch time; the "Time" column is the mean.
//
// Kernels that read mapped pinned host memory (SparseAttentionMapped) are compared with a third
// ceiling instead, measured the first time one runs: a pinned host-to-device copy (the label
// names it).
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
#include "kernels_gpu/sparse_attention.cuh"
#include "kernels_gpu/swa_select.cuh"
#include "kernels_gpu/swa_update_score.cuh"
#include "runtime/base/common.h"
#include "runtime/base/dtype.h"
#include "runtime/base/kernel_params.h"

namespace alisa {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kRotateBytes = 192 * kMiB;  // buffer sets of one timed replay span at least this
constexpr int kMaxSets = 256;
constexpr int kIterations = 30;      // timed replays per benchmark (fixed: predictable run time)
constexpr int kBigIterations = 15;   // for the multi-millisecond GEMMs and reads over PCIe
constexpr int kCeilingWarmup = 5;    // untimed replays before the ceilings are measured
constexpr int kCeilingSamples = 15;  // timed replays of each ceiling, median taken

struct Ceilings {
  double hbm_gbps = 0.0;     // device-to-device copy, bytes read + written
  double gemm_tflops = 0.0;  // LinearGpu f16, 8192^3
  double h2d_gbps = 0.0;     // pinned host-to-device copy; measured where first needed
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

// Pinned host memory mapped into the device's address space (zero-copy: kernels read it over
// PCIe through device()).
class MappedHostMemory {
 public:
  explicit MappedHostMemory(size_t bytes) : bytes_(bytes) {
    ALISA_CUDA_CHECK(cudaHostAlloc(&host_, std::max<size_t>(bytes, 256), cudaHostAllocMapped));
    const cudaError_t mapped = cudaHostGetDevicePointer(&device_, host_, 0);
    if (mapped != cudaSuccess) {
      cudaFreeHost(host_);
      ALISA_CUDA_CHECK(mapped);
    }
  }
  ~MappedHostMemory() {
    if (host_ != nullptr) cudaFreeHost(host_);
  }
  MappedHostMemory(const MappedHostMemory&) = delete;
  MappedHostMemory& operator=(const MappedHostMemory&) = delete;
  char* host() const { return static_cast<char*>(host_); }
  char* device() const { return static_cast<char*>(device_); }
  size_t bytes() const { return bytes_; }

 private:
  void* host_ = nullptr;
  void* device_ = nullptr;
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

// Fills host memory as fill_random fills device memory: element i is pattern element i mod the
// pattern length.
void fill_random_host(char* dst, size_t bytes, DType dtype) {
  const std::vector<uint8_t>& pattern = random_pattern(dtype);
  const size_t usable = bytes / dtype_size(dtype) * dtype_size(dtype);
  for (size_t done = 0; done < usable; done += pattern.size()) {
    std::memcpy(dst + done, pattern.data(), std::min(pattern.size(), usable - done));
  }
}

// The fewest launches, one per buffer set, whose `bytes_per_launch` together span kRotateBytes
// (at most kMaxSets).
int rotation_sets(size_t bytes_per_launch) {
  const size_t bytes = std::max<size_t>(bytes_per_launch, 256);
  return static_cast<int>(
      std::clamp<size_t>((kRotateBytes + bytes - 1) / bytes, 1, size_t{kMaxSets}));
}

// `n_sets` copies of one list of buffers, back to back in one allocation (each buffer 256-byte
// aligned), all filled with random `dtype` values. n_sets 0: the fewest copies spanning
// kRotateBytes (rotation_sets of one copy's bytes); kernels that read only part of their
// buffers pass rotation_sets of the bytes a launch moves instead.
class BufferSets {
 public:
  BufferSets(const std::vector<size_t>& buffer_bytes, DType dtype, cudaStream_t stream,
             int n_sets = 0)
      : offsets_(buffer_bytes.size()) {
    size_t stride = 0;
    for (size_t i = 0; i < buffer_bytes.size(); ++i) {
      offsets_[i] = stride;
      stride += align256(buffer_bytes[i]);
    }
    stride_ = std::max<size_t>(stride, 256);
    n_sets_ = n_sets > 0 ? n_sets : rotation_sets(stride_);
    memory_ = std::make_unique<DeviceMemory>(stride_ * static_cast<size_t>(n_sets_));
    fill_random(memory_->get(), memory_->bytes(), dtype, stream);
  }
  void* at(int set, size_t buffer) const {
    return memory_->get() + static_cast<size_t>(set) * stride_ + offsets_.at(buffer);
  }
  int n_sets() const { return n_sets_; }

  // Overwrites the first `bytes` of `buffer` in every set with host data (indices, sequence
  // tables: what random values would not make valid).
  void upload(size_t buffer, const void* src, size_t bytes, cudaStream_t stream) const {
    for (int s = 0; s < n_sets_; ++s) {
      ALISA_CUDA_CHECK(cudaMemcpyAsync(at(s, buffer), src, bytes, cudaMemcpyHostToDevice, stream));
    }
    ALISA_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

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
// matching ceiling measured at start, GB/s or TFLOP/s) and of_ceiling (rate / ceiling). A GB/s
// rate is compared with `gbps_ceiling` instead of the HBM one where that is given (> 0); the
// label then names it (`ceiling_name`).
void run_timed(benchmark::State& state, Replayer& replayer, const Work& work,
               double gbps_ceiling = 0.0, std::string_view ceiling_name = {}) {
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
    const double ceiling = gbps_ceiling > 0.0 ? gbps_ceiling : g_ceilings.hbm_gbps;
    state.counters["GB/s"] = gbps;
    state.counters["ceiling"] = ceiling;
    state.counters["of_ceiling"] = ceiling > 0 ? gbps / ceiling : 0;
  }
  state.counters["sets"] = replayer.n_launches();
  std::string label = replayer.graphed() ? "graph" : "stream";
  if (gbps_ceiling > 0.0 && work.flops <= 0.0) label.append(", ceiling: ").append(ceiling_name);
  state.SetLabel(label);
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

// The pinned host-to-device copy rate (GB/s), the ceiling of kernels that read mapped host
// memory: `bytes` of the pinned `src` copied to the device, median of kCeilingSamples replays.
// Measured the first time it is asked for (it needs pinned memory, which only those benchmarks
// allocate), then kept.
double h2d_ceiling_gbps(const char* pinned_src, size_t bytes) {
  if (g_ceilings.h2d_gbps <= 0.0) {
    Stream stream;
    DeviceMemory dst(bytes);
    Replayer replayer(stream.get(), 1, [&](int) {
      ALISA_CUDA_CHECK(
          cudaMemcpyAsync(dst.get(), pinned_src, bytes, cudaMemcpyHostToDevice, stream.get()));
    });
    for (int i = 0; i < kCeilingWarmup; ++i) replayer.time_once();
    std::vector<double> times;
    for (int i = 0; i < kCeilingSamples; ++i) times.push_back(replayer.time_once());
    g_ceilings.h2d_gbps = static_cast<double>(bytes) / median(times) * 1e-9;
  }
  return g_ceilings.h2d_gbps;
}

template <typename Ceiling>
void bench_ceiling(benchmark::State& state) {
  Ceiling c;
  run_timed(state, *c.replayer, Ceiling::work());
}

// ---- kernels -------------------------------------------------------------------------------

constexpr int64_t kHeadDim = 128;

// Decode attention: one query per sequence (the last cached token) over `len` tokens of a cache
// of `capacity` tokens per sequence (0: len), with an all-ones key mask (as the runtime passes).
// Bytes: K + V of the len tokens + q + out + mask.
void bench_attention_decode(benchmark::State& state, int64_t batch, int64_t len, int64_t heads,
                            int64_t kv_heads, int64_t capacity = 0) {
  Stream stream;
  if (capacity <= 0) capacity = len;
  const size_t q_bytes = static_cast<size_t>(batch * heads * kHeadDim) * 2;
  const size_t kv_bytes = static_cast<size_t>(batch * len * kv_heads * kHeadDim) * 2;
  const size_t kv_alloc = static_cast<size_t>(batch * capacity * kv_heads * kHeadDim) * 2;
  const size_t mask_bytes = static_cast<size_t>(batch * len);
  const size_t work_bytes = 2 * kv_bytes + 2 * q_bytes + mask_bytes;
  enum { kQ, kK, kV, kMask, kOut };
  // A cache longer than len: only len of its rows are read, so they set the rotation.
  BufferSets sets({q_bytes, kv_alloc, kv_alloc, mask_bytes, q_bytes}, DType::kF16, stream.get(),
                  capacity > len ? rotation_sets(work_bytes) : 0);
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
  p.kv_batch_stride = capacity * kv_heads * kHeadDim;
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
  run_timed(state, replayer, {static_cast<double>(work_bytes), 0.0});
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

// ---- Sparse Window Attention ---------------------------------------------------------------
// One layer's decode step at ALISA's workload shape (OPT-6.7B): 64 sequences, 32 heads and 32 KV
// heads of 128, an f16 KV cache of 640 tokens per sequence, sparsity 0.8 (B = round(0.2 n),
// k_local = ceil(B / 2)), one selection per layer (groups 1), a score window of 32 steps with
// rows of 128 entries. Buffers as the runtime shapes them: max_selected is the budget at the
// cache's capacity (128). Every sequence holds n real tokens at cache indices [0, n).

constexpr int64_t kSwaBatch = 64;
constexpr int64_t kSwaHeads = 32;  // query heads = KV heads
constexpr int64_t kSwaCapacity = 640;
constexpr double kSwaSparsity = 0.8;
constexpr int64_t kSwaWindowRows = 32;
constexpr int64_t kSwaRowCapacity = 128;

struct SwaStep {
  int64_t n = 0;
  int64_t total = 0;  // B
  int64_t local = 0;  // k_local
};

SwaStep swa_step(int64_t n) {
  SwaStep step;
  step.n = n;
  step.total = std::llround(static_cast<double>(n) * (1.0 - kSwaSparsity));
  step.local = (step.total + 1) / 2;
  return step;
}

int64_t swa_max_selected() {
  return swa_step(kSwaCapacity).total;
}

// The step's table. drop_row == write_row: the ring's steady state once W = window_rows steps
// are kept (n = 640 has W = 32); the row leaving is the one rewritten, so the score update
// does the same work in every replay (with drop_row != write_row the dropped row would count 0
// entries from the second replay on).
std::vector<SwaSequence> swa_sequences(const SwaStep& step) {
  std::vector<SwaSequence> sequences(static_cast<size_t>(kSwaBatch));
  for (int64_t b = 0; b < kSwaBatch; ++b) {
    SwaSequence& s = sequences[static_cast<size_t>(b)];
    s.first = 0;
    s.n = static_cast<int32_t>(step.n);
    s.local = static_cast<int32_t>(step.local);
    s.total = static_cast<int32_t>(step.total);
    s.write_row = s.drop_row = static_cast<int32_t>(b % kSwaWindowRows);
  }
  return sequences;
}

// A valid selection [batch, 1, max_selected]: per sequence, B - k_local random older tokens of
// [0, n - k_local), ascending, then the k_local most recent; entries past B are 0.
std::vector<int32_t> swa_selection(const SwaStep& step) {
  const int64_t max_selected = swa_max_selected();
  std::vector<int32_t> selected(static_cast<size_t>(kSwaBatch * max_selected), 0);
  std::vector<int32_t> older(static_cast<size_t>(step.n - step.local));
  for (size_t i = 0; i < older.size(); ++i) older[i] = static_cast<int32_t>(i);
  std::mt19937_64 rng(0x5e1ec7);
  for (int64_t b = 0; b < kSwaBatch; ++b) {
    int32_t* row = selected.data() + b * max_selected;
    // std::sample keeps the population's order: ascending.
    std::sample(older.begin(), older.end(), row, step.total - step.local, rng);
    for (int64_t t = 0; t < step.local; ++t) {
      row[step.total - step.local + t] = static_cast<int32_t>(step.n - step.local + t);
    }
  }
  return selected;
}

// gpu::swa_select over random f32 scores (distinct almost everywhere). Bytes: the candidates'
// scores read once, the selection written, the sequence table. A launch moves 75-180 KB, so the
// rotation stops at kMaxSets (256 sets, 19-47 MB moved per replay, under L2's 50 MB): the scores
// may partly come from L2, which saves the first of the kernel's five passes over them some
// latency, nothing more (the later passes hit L1 and L2 anyway).
void bench_swa_select(benchmark::State& state, int64_t n) {
  Stream stream;
  const SwaStep step = swa_step(n);
  const int64_t max_selected = swa_max_selected();
  const size_t score_bytes = static_cast<size_t>(kSwaBatch * kSwaCapacity) * 4;
  const size_t seq_bytes = static_cast<size_t>(kSwaBatch) * sizeof(SwaSequence);
  const size_t sel_bytes = static_cast<size_t>(kSwaBatch * max_selected) * 4;
  const size_t work_bytes =
      static_cast<size_t>(kSwaBatch * (step.n - step.local + step.total)) * 4 + seq_bytes;
  enum { kScore, kSequences, kSelected };
  BufferSets sets({score_bytes, seq_bytes, sel_bytes}, DType::kF32, stream.get(),
                  rotation_sets(work_bytes));
  const std::vector<SwaSequence> sequences = swa_sequences(step);
  sets.upload(kSequences, sequences.data(), seq_bytes, stream.get());
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    SwaSelectParams p;
    p.score = static_cast<const float*>(sets.at(s, kScore));
    p.sequences = static_cast<const SwaSequence*>(sets.at(s, kSequences));
    p.selected = static_cast<int32_t*>(sets.at(s, kSelected));
    p.batch = kSwaBatch;
    p.groups = 1;
    p.capacity = kSwaCapacity;
    p.max_selected = max_selected;
    gpu::swa_select(p, stream.get());
  });
  run_timed(state, replayer, {static_cast<double>(work_bytes), 0.0});
  state.counters["budget"] = static_cast<double>(step.total);
}

// gpu::sparse_attention over the B selected tokens (the gather included: it reads the K and V
// rows by index). `mapped`: K and V in mapped pinned host memory, read in place over PCIe
// (Phase II), compared with the pinned host-to-device copy rate. Bytes: the selected K and V
// rows, q, out, the weights written, the selection, the sequence table.
void bench_sparse_attention(benchmark::State& state, int64_t n, bool mapped) {
  Stream stream;
  const SwaStep step = swa_step(n);
  const int64_t max_selected = swa_max_selected();
  const int64_t row = kSwaHeads * kHeadDim;  // one token's K (or V) elements
  const size_t q_bytes = static_cast<size_t>(kSwaBatch * row) * 2;
  const size_t kv_alloc = static_cast<size_t>(kSwaBatch * kSwaCapacity * row) * 2;
  const size_t kv_read = static_cast<size_t>(kSwaBatch * step.total * row) * 2;
  const size_t probs_bytes = static_cast<size_t>(kSwaBatch * kSwaHeads * max_selected) * 4;
  const size_t sel_bytes = static_cast<size_t>(kSwaBatch * max_selected) * 4;
  const size_t seq_bytes = static_cast<size_t>(kSwaBatch) * sizeof(SwaSequence);
  const size_t work_bytes = 2 * kv_read + 2 * q_bytes +
                            static_cast<size_t>(kSwaBatch * kSwaHeads * step.total) * 4 +
                            static_cast<size_t>(kSwaBatch * step.total) * 4 + seq_bytes;
  enum { kQ, kOut, kProbs, kSelected, kSequences, kK, kV };
  std::vector<size_t> buffers = {q_bytes, q_bytes, probs_bytes, sel_bytes, seq_bytes};
  if (!mapped) {
    buffers.push_back(kv_alloc);
    buffers.push_back(kv_alloc);
  }
  // Mapped: one set (640 MiB pinned). A launch reads 128 MiB of K and V rows over PCIe, in
  // the order of its blocks, 2.5 times L2, so the next launch finds none of its first rows
  // there.
  BufferSets sets(buffers, DType::kF16, stream.get(), mapped ? 1 : rotation_sets(work_bytes));
  std::unique_ptr<MappedHostMemory> host;
  if (mapped) {
    host = std::make_unique<MappedHostMemory>(2 * kv_alloc * static_cast<size_t>(sets.n_sets()));
    fill_random_host(host->host(), host->bytes(), DType::kF16);
  }
  auto kv_at = [&](int s, int which) -> const void* {  // which: 0 K, 1 V
    if (mapped) return host->device() + (2 * static_cast<size_t>(s) + which) * kv_alloc;
    return sets.at(s, which == 0 ? kK : kV);
  };
  const std::vector<SwaSequence> sequences = swa_sequences(step);
  const std::vector<int32_t> selected = swa_selection(step);
  sets.upload(kSequences, sequences.data(), seq_bytes, stream.get());
  sets.upload(kSelected, selected.data(), sel_bytes, stream.get());

  SparseAttentionParams p;
  p.batch = kSwaBatch;
  p.n_heads = p.n_kv_heads = kSwaHeads;
  p.head_dim = kHeadDim;
  p.groups = 1;
  p.capacity = kSwaCapacity;
  p.max_selected = max_selected;
  p.q_batch_stride = p.out_batch_stride = row;
  p.kv_batch_stride = kSwaCapacity * row;
  p.kv_token_stride = row;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  p.dtype = p.kv_dtype = DType::kF16;
  const double h2d_gbps = mapped ? h2d_ceiling_gbps(host->host(), kv_read) : 0.0;
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    SparseAttentionParams q = p;
    q.q = sets.at(s, kQ);
    q.k = kv_at(s, 0);
    q.v = kv_at(s, 1);
    q.selected = static_cast<const int32_t*>(sets.at(s, kSelected));
    q.sequences = static_cast<const SwaSequence*>(sets.at(s, kSequences));
    q.out = sets.at(s, kOut);
    q.probs = static_cast<float*>(sets.at(s, kProbs));
    gpu::sparse_attention(q, stream.get());
  });
  run_timed(state, replayer, {static_cast<double>(work_bytes), 0.0}, h2d_gbps, "pinned H2D copy");
  state.counters["budget"] = static_cast<double>(step.total);
}

// gpu::swa_update_score, score window: the dropped ring row (B entries) subtracted from S, the
// step's weights summed over the heads, added to S at the selected tokens and stored as the
// ring row. Bytes: the weights and the selection read, the dropped ring row read, the touched
// S entries read and written, the new ring row written, the ring counts, the sequence table.
void bench_swa_update_score(benchmark::State& state, int64_t n) {
  Stream stream;
  const SwaStep step = swa_step(n);
  const int64_t max_selected = swa_max_selected();
  const size_t probs_bytes = static_cast<size_t>(kSwaBatch * kSwaHeads * max_selected) * 4;
  const size_t sel_bytes = static_cast<size_t>(kSwaBatch * max_selected) * 4;
  const size_t seq_bytes = static_cast<size_t>(kSwaBatch) * sizeof(SwaSequence);
  const size_t score_bytes = static_cast<size_t>(kSwaBatch * kSwaCapacity) * 4;
  const size_t ring_bytes = static_cast<size_t>(kSwaBatch * kSwaWindowRows * kSwaRowCapacity) * 4;
  const size_t count_bytes = static_cast<size_t>(kSwaBatch * kSwaWindowRows) * 4;
  const size_t entries = static_cast<size_t>(kSwaBatch * step.total);
  const size_t work_bytes = static_cast<size_t>(kSwaBatch * kSwaHeads * step.total) * 4 +
                            entries * (4 + 8 + 8 + 8) + static_cast<size_t>(kSwaBatch) * 3 * 4 +
                            seq_bytes;
  enum { kProbs, kSelected, kSequences, kScore, kRingIndex, kRingWeight, kRingCount };
  BufferSets sets(
      {probs_bytes, sel_bytes, seq_bytes, score_bytes, ring_bytes, ring_bytes, count_bytes},
      DType::kF32, stream.get(), rotation_sets(work_bytes));
  const std::vector<SwaSequence> sequences = swa_sequences(step);
  const std::vector<int32_t> selected = swa_selection(step);
  sets.upload(kSequences, sequences.data(), seq_bytes, stream.get());
  sets.upload(kSelected, selected.data(), sel_bytes, stream.get());
  // Empty ring: the warm-up's first launch fills each sequence's row; from then on the row
  // holds B entries when it is dropped.
  const std::vector<int32_t> counts(static_cast<size_t>(kSwaBatch * kSwaWindowRows), 0);
  sets.upload(kRingCount, counts.data(), count_bytes, stream.get());
  Replayer replayer(stream.get(), sets.n_sets(), [&](int s) {
    SwaScoreUpdateParams p;
    p.probs = static_cast<const float*>(sets.at(s, kProbs));
    p.selected = static_cast<const int32_t*>(sets.at(s, kSelected));
    p.sequences = static_cast<const SwaSequence*>(sets.at(s, kSequences));
    p.score = static_cast<float*>(sets.at(s, kScore));
    p.ring_index = static_cast<int32_t*>(sets.at(s, kRingIndex));
    p.ring_weight = static_cast<float*>(sets.at(s, kRingWeight));
    p.ring_count = static_cast<int32_t*>(sets.at(s, kRingCount));
    p.batch = kSwaBatch;
    p.groups = 1;
    p.n_heads = kSwaHeads;
    p.capacity = kSwaCapacity;
    p.max_selected = max_selected;
    p.window_rows = kSwaWindowRows;
    p.row_capacity = kSwaRowCapacity;
    p.mode = SwaScore::kWindow;
    gpu::swa_update_score(p, stream.get());
  });
  run_timed(state, replayer, {static_cast<double>(work_bytes), 0.0});
  state.counters["budget"] = static_cast<double>(step.total);
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

  // Sparse Window Attention, per decode step of one layer (shape: see the SWA section above):
  // selection (score update, top-k, gather inside the sparse attention) against the attention.
  for (const int64_t n : {256, 640}) {
    add(str("SwaSelect/n:", n), kIterations,
        [=](benchmark::State& state) { bench_swa_select(state, n); });
    add(str("SparseAttention/n:", n), kIterations,
        [=](benchmark::State& state) { bench_sparse_attention(state, n, false); });
    add(str("SwaUpdateScore/n:", n), kIterations,
        [=](benchmark::State& state) { bench_swa_update_score(state, n); });
    add(str("DenseDecodeAttention/n:", n), kIterations, [=](benchmark::State& state) {
      bench_attention_decode(state, kSwaBatch, n, kSwaHeads, kSwaHeads, kSwaCapacity);
    });
  }
  add("SparseAttentionMapped/n:640", kBigIterations,
      [](benchmark::State& state) { bench_sparse_attention(state, 640, true); });
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
