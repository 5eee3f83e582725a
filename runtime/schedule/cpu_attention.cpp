// BlockRunner's CPU attention (cpu_attention): a CPU-homed cache is attended on the CPU where it
// lies in decode steps, pipelined across the GPU batches of a layer: the compute device projects
// the next unit's queries while the CPU attends this one, and only the step's queries, keys,
// values and the attention output cross the link.
#include "runtime/schedule/block_runner.h"

namespace alisa {

void BlockRunner::compute_with_cpu_attention(int64_t unit, const LayerWeights& w, int64_t n_new,
                                             int64_t past) {
  const int64_t n_batches = shape_.num_gpu_batches;
  const auto [j, k, s] = unit_position(shape_, unit);
  if (qkv_queued_unit_ != unit) queue_qkv(unit, w, n_new, past);
  // The next GPU batch of this layer (same weights) computes its queries while the CPU attends
  // this one; its slot was prefetched before this unit's compute.
  const int64_t next = unit + 1;
  if (next % n_batches != 0 && kv_.access(next, past) == KvAccess::kCpuAttends) {
    queue_qkv(next, w, n_new, past);
    qkv_queued_unit_ = next;
  }
  const StepBatch step = step_batch(k, n_new, past);
  attend_on_cpu(unit, step);
  Event& start = copies_.begin(Queue::kCompute);
  const Tensor attention = scratch_.attention.slice(0, 0, step.batch * step.n_new);
  copies_.copy_mapped(ops_, mapped(host_scratch_[s].attention, tiers_), attention, Link::kCpuToGpu);
  const Tensor hidden = hidden_view(k, s, n_new);
  program_.layer_rest(w, step, scratch_, hidden, ops_);
  if (j == spec_.n_layers - 1) head(k, hidden, n_new);
  slots_[s].computed = &copies_.end(Queue::kCompute, start, str("layer ", j, " batch ", k));
}

void BlockRunner::queue_qkv(int64_t unit, const LayerWeights& w, int64_t n_new, int64_t past) {
  const auto [j, k, s] = unit_position(shape_, unit);
  const StepBatch step = step_batch(k, n_new, past);
  const Tensor hidden = hidden_view(k, s, n_new);
  Event& start = begin_unit(unit, step, hidden);
  program_.layer_qkv(w, step, scratch_, hidden, ops_);
  // The step's queries, keys and values to the CPU, where the cache lies.
  const int64_t n = step.batch * step.n_new;
  const DecoderScratch& host = host_scratch_[s];
  copies_.copy_mapped(ops_, scratch_.q.slice(0, 0, n), mapped(host.q, tiers_), Link::kGpuToCpu);
  copies_.copy_mapped(ops_, scratch_.k.slice(0, 0, n), mapped(host.k, tiers_), Link::kGpuToCpu);
  copies_.copy_mapped(ops_, scratch_.v.slice(0, 0, n), mapped(host.v, tiers_), Link::kGpuToCpu);
  qkv_exported_[s] = &copies_.end(Queue::kCompute, start, str("layer ", j, " batch ", k, " qkv"));
}

void BlockRunner::attend_on_cpu(int64_t unit, const StepBatch& step) {
  const int64_t k = unit % shape_.num_gpu_batches;
  const int s = static_cast<int>(unit % 2);
  ALISA_ASSERT(step.n_new == 1, "CPU attention serves decode steps");
  copies_.host_wait(*qkv_exported_[s]);
  const double start = copies_.host_now_us();
  BatchInputs& in = inputs_[static_cast<size_t>(k)];
  const Tensor host_mask(in.mask_host.data(), tiers_.cpu, DType::kU8,
                         {step.batch, shape_.capacity});
  StepBatch host_step = step;
  host_step.key_mask = host_mask;  // the CPU reads only the mask (and the scratch, the cache)
  program_.layer_attend(kv_.begin_cpu_attention(unit, step.past, *cpu_ops_), host_step,
                        host_scratch_[s], *cpu_ops_);
  kv_.end_cpu_attention(unit, step.past, step.n_new, *cpu_ops_);
  copies_.host_span(Lane::kCpuAttention,
                    str("layer ", unit / shape_.num_gpu_batches, " batch ", k, " CPU attention"),
                    start, copies_.host_now_us());
}

}  // namespace alisa
