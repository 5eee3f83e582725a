#include "policy/solver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "policy/linear_program.h"
#include "runtime/base/common.h"

namespace alisa {
namespace {

// A tier within this share of its cap is reported full.
constexpr double kFullShare = 0.99;
// Attempts at a placement that fits once rounding and the plan's small nonlinear terms (SWA's
// per-unit state) are counted exactly: each doubles the margin.
constexpr int kFitAttempts = 4;
constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;

// The memory of each tier as an affine form of the placement, read off the plan itself: at the
// base placement (nothing on the GPU or CPU but what `fixed` pins) and half a step along each
// free fraction. The runner's streaming slots exist as soon as anything of a kind is off the
// GPU, so the slope is read where they do, and a kind wholly on the GPU is its own choice.
struct MemoryForms {
  Affine gpu, cpu, disk;
};

Placement base_placement(const FixedPlacement& fixed) {
  Placement x{};
  if (fixed.cache_on_gpu) x[kCacheGpu] = 1;
  if (fixed.activations_on_gpu) x[kActGpu] = 1;
  return x;
}

bool is_fixed(const FixedPlacement& fixed, int var) {
  return (fixed.cache_on_gpu && (var == kCacheGpu || var == kCacheCpu)) ||
         (fixed.activations_on_gpu && (var == kActGpu || var == kActCpu));
}

MemoryForms memory_forms(const CostInputs& in, const Policy& choice, const FixedPlacement& fixed) {
  const Placement x0 = base_placement(fixed);
  const MemoryPlan base = memory_plan_of(in, with_placement(choice, x0));
  MemoryForms forms;
  forms.gpu.c0 = static_cast<double>(base.gpu.total());
  forms.cpu.c0 = static_cast<double>(base.cpu.total());
  forms.disk.c0 = static_cast<double>(base.disk.total());
  for (int i = 0; i < kPlacementVars; ++i) {
    if (is_fixed(fixed, i)) continue;
    Placement half = x0;
    half[static_cast<size_t>(i)] = 0.5;
    const MemoryPlan step = memory_plan_of(in, with_placement(choice, half));
    const auto slope = [](uint64_t a, uint64_t b) {
      return 2 * (static_cast<double>(a) - static_cast<double>(b));
    };
    forms.gpu.c[static_cast<size_t>(i)] = slope(step.gpu.total(), base.gpu.total());
    forms.cpu.c[static_cast<size_t>(i)] = slope(step.cpu.total(), base.cpu.total());
    forms.disk.c[static_cast<size_t>(i)] = slope(step.disk.total(), base.disk.total());
  }
  return forms;  // fixed fractions stay at x0 (the program's bounds), so c0 holds them
}

std::vector<std::pair<int, double>> terms_of(const Affine& form,
                                             const std::vector<int>& x_columns) {
  std::vector<std::pair<int, double>> terms;
  for (int i = 0; i < kPlacementVars; ++i) {
    if (form.c[static_cast<size_t>(i)] != 0) {
      terms.push_back({x_columns[static_cast<size_t>(i)], form.c[static_cast<size_t>(i)]});
    }
  }
  return terms;
}

// The placement of `choice` that minimises the cost model's time under the caps less `margin`,
// or nothing when none fits.
std::optional<Placement> best_placement(const std::vector<Stage>& stages, const MemoryForms& forms,
                                        const FixedPlacement& fixed, const MemoryCaps& caps,
                                        double margin, double margin_share) {
  LinearProgram lp;
  std::vector<int> x(kPlacementVars);
  const Placement x0 = base_placement(fixed);
  for (int i = 0; i < kPlacementVars; ++i) {
    const double v = x0[static_cast<size_t>(i)];
    x[static_cast<size_t>(i)] =
        is_fixed(fixed, i) ? lp.add_column(v, v, 0) : lp.add_column(0, 1, 0);
  }
  for (const auto& [gpu, cpu] : {std::pair{kWeightsGpu, kWeightsCpu},
                                 std::pair{kCacheGpu, kCacheCpu}, std::pair{kActGpu, kActCpu}}) {
    lp.add_row({{x[gpu], 1}, {x[cpu], 1}}, 1);
  }
  // Each stage's time T >= every resource's: c0 + c.x - T <= 0. T's bound only keeps the
  // program bounded; no stage takes a day.
  std::vector<std::pair<int, double>> time_columns;
  Affine busy;  // every resource's busy time, summed over the schedule
  for (const Stage& stage : stages) {
    if (stage.count <= 0) continue;
    const int t = lp.add_column(0, 86400, stage.count);
    time_columns.push_back({t, stage.count});
    for (const ResourceTime& r : stage.resources) {
      auto terms = terms_of(r.seconds, x);
      terms.push_back({t, -1});
      lp.add_row(std::move(terms), -r.seconds.c0);
      for (int i = 0; i < kPlacementVars; ++i) busy.c[i] += stage.count * r.seconds.c[i];
    }
  }
  for (const auto& [form, cap] :
       {std::pair{&forms.gpu, caps.gpu_bytes}, std::pair{&forms.cpu, caps.cpu_bytes},
        std::pair{&forms.disk, caps.disk_bytes}}) {
    if (cap == 0) continue;
    const double keep = std::min(margin, margin_share * static_cast<double>(cap));
    const double room = static_cast<double>(cap) - keep - form->c0;
    if (room < 0 && std::all_of(form->c.begin(), form->c.end(), [](double c) { return c >= 0; })) {
      return std::nullopt;  // even the smallest placement of this choice does not fit
    }
    // In GiB: rows in bytes next to rows in seconds would leave the simplex badly scaled.
    Affine gib = *form;
    for (double& c : gib.c) c /= kBytesPerGiB;
    lp.add_row(terms_of(gib, x), room / kBytesPerGiB);
  }
  std::optional<std::vector<double>> solution = lp.minimise();
  if (!solution) return std::nullopt;
  // Placements below the bottleneck cost the model nothing, so many are optimal; of those, the
  // one that keeps the resources least busy (the time it leaves idle absorbs what the model
  // does not see, such as memory contention between the DMA and CPU attention).
  const double fastest = lp.objective(*solution);
  lp.add_row(time_columns, fastest * (1 + 1e-7));
  for (const auto& [column, count] : time_columns) lp.set_cost(column, 0);
  for (int i = 0; i < kPlacementVars; ++i) lp.set_cost(x[static_cast<size_t>(i)], busy.c[i]);
  if (std::optional<std::vector<double>> least_busy = lp.minimise()) solution = least_busy;
  Placement out;
  for (int i = 0; i < kPlacementVars; ++i) {
    out[static_cast<size_t>(i)] =
        std::clamp((*solution)[static_cast<size_t>(x[static_cast<size_t>(i)])], 0.0, 1.0);
  }
  return out;
}

// The discrete choices other than the batch shape.
struct Variant {
  bool cpu_attention, compress_weights, compress_cache;
  double recompute_percent;
  FixedPlacement fixed;
};

std::vector<Variant> variants(const CostInputs& in, const SolverOptions& options) {
  std::vector<bool> attention = {false};
  if (options.allow_cpu_attention) attention.push_back(true);
  std::vector<bool> compress = {false};
  if (options.allow_compression) compress.push_back(true);
  // Phase III keeps up to the prompt as hidden states: none, a quarter ... all of it (as a
  // share of the cache's capacity); only with SWA at layer granularity and where a hidden state
  // is smaller than K and V.
  std::vector<double> recompute = {0};
  const Workload& w = in.workload;
  if (phase3_applies(in.model, in.swa)) {
    for (int quarter = 1; quarter <= 4; ++quarter) {
      recompute.push_back(100.0 * static_cast<double>(w.prompt_len) * quarter / 4 /
                          static_cast<double>(w.prompt_len + w.gen_len));
    }
  }
  std::vector<Variant> out;
  for (bool cpu_attention : attention) {
    for (bool cw : compress) {
      for (bool cc : compress) {
        for (double r : recompute) {
          if (r > 0 && (cpu_attention || cc)) continue;  // Phase III runs with neither
          for (bool cache_on_gpu : {false, true}) {
            // Attention choices and Phase III only matter for a cache off the GPU.
            if (cache_on_gpu && (cpu_attention || r > 0)) continue;
            for (bool activations_on_gpu : {false, true}) {
              out.push_back({cpu_attention, cw, cc, r, {cache_on_gpu, activations_on_gpu}});
            }
          }
        }
      }
    }
  }
  return out;
}

std::string fixed(double x, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, x);
  return text;
}

// The candidates the explanation compares the winner with.
struct Neighbours {
  std::optional<double> larger_block_throughput;  // num_gpu_batches + 1, when it fits
  bool larger_block_fits = false;
  std::optional<double> other_attention_throughput;
};

}  // namespace

std::vector<std::string> describe_prediction(const Prediction& p, const MemoryCaps& caps) {
  std::vector<std::string> out;
  out.push_back(str("decode bound by ", p.bottleneck, " for ", fixed(100 * p.bottleneck_share, 0),
                    "% of its time"));
  std::string busy = "decode busy time per layer and step:";
  for (const ResourceShare& r : p.decode)
    busy += str(" ", r.resource, " ", fixed(1e3 * r.per_layer_s, 3), " ms");
  out.push_back(busy);
  if (p.weight_read_stall_s > 0) {
    out.push_back(str("waits ", fixed(p.weight_read_stall_s, 2),
                      " s in all for layers whose disk-resident weights take longer to read "
                      "than a layer takes to compute"));
  }
  const struct {
    const char* name;
    const TierBytes& bytes;
    uint64_t cap;
  } tiers[] = {{"GPU memory", p.memory.gpu, caps.gpu_bytes},
               {"CPU memory", p.memory.cpu, caps.cpu_bytes},
               {"disk", p.memory.disk, caps.disk_bytes}};
  for (const auto& tier : tiers) {
    if (tier.cap == 0) continue;
    const double used = static_cast<double>(tier.bytes.total());
    const double cap = static_cast<double>(tier.cap);
    const char* state = used > cap ? "over its cap" : used >= kFullShare * cap ? "full" : "used";
    out.push_back(str(tier.name, " ", state, ": ", bytes_text(tier.bytes.total()), " of ",
                      bytes_text(tier.cap), " (weights ", bytes_text(tier.bytes.weights),
                      ", KV cache ", bytes_text(tier.bytes.cache), ", activations ",
                      bytes_text(tier.bytes.activations), ", workspace ",
                      bytes_text(tier.bytes.workspace), ")"));
  }
  return out;
}

namespace {

std::vector<std::string> explain(const SolvedPolicy& s, const SolverOptions& options,
                                 const Neighbours& n) {
  std::vector<std::string> out = describe_prediction(s.prediction, options.caps);
  const int64_t larger = s.policy.gpu_batch_size * (s.policy.num_gpu_batches + 1);
  if (options.max_sequences > 0 && larger > options.max_sequences) {
    out.push_back(str("block ", s.policy.block_size(), ": the job has ", options.max_sequences,
                      " sequences"));
  } else if (!n.larger_block_fits) {
    out.push_back(
        str("block ", s.policy.block_size(), ": a block of ", larger, " does not fit the caps"));
  } else if (n.larger_block_throughput) {
    out.push_back(str("block ", s.policy.block_size(), ": a block of ", larger,
                      " fits but predicts ", fixed(*n.larger_block_throughput, 1), " tok/s"));
  } else if (s.policy.num_gpu_batches >= options.max_gpu_batches) {
    out.push_back(str("block ", s.policy.block_size(),
                      ": num_gpu_batches is at the search's most, ", options.max_gpu_batches));
  }
  if (n.other_attention_throughput) {
    out.push_back(str("the best policy ", s.policy.cpu_attention ? "without" : "with",
                      " cpu_attention predicts ", fixed(*n.other_attention_throughput, 1),
                      " tok/s"));
  }
  return out;
}

// Throws the explanation of why nothing fits: the smallest policy's plan against the caps.
[[noreturn]] void explain_infeasible(const CostInputs& in, const SolverOptions& options) {
  Policy smallest;
  smallest = with_placement(smallest, Placement{});  // everything on disk
  smallest.compress_weights = smallest.compress_cache = options.allow_compression;
  check_fits(memory_plan_of(in, smallest), options.caps,
             "no policy fits: even gpu_batch_size 1 with every weight, cache and activation on "
             "disk");
  throw Error(str("no policy fits the caps (GPU ", bytes_text(options.caps.gpu_bytes), ", CPU ",
                  bytes_text(options.caps.cpu_bytes), ")"));
}

}  // namespace

std::optional<Policy> place_policy(const CostInputs& in, const Policy& choice,
                                   const SolverOptions& options, const FixedPlacement& fixed) {
  // The margin is the smaller of the bytes and the share of each cap.
  double margin = static_cast<double>(options.memory_margin_bytes);
  double share = options.memory_margin_share;
  const std::vector<Stage> stages = cost_stages(in, choice);
  const MemoryForms forms = memory_forms(in, choice, fixed);
  for (int attempt = 0; attempt < kFitAttempts; ++attempt, margin *= 2, share *= 2) {
    const std::optional<Placement> x =
        best_placement(stages, forms, fixed, options.caps, margin, share);
    if (!x) return std::nullopt;
    Policy policy = with_placement(choice, *x);
    if (fits(memory_plan_of(in, policy), options.caps)) return policy;
  }
  return std::nullopt;
}

bool phase3_applies(const ModelFootprint& model, const SwaOptions& swa) {
  return swa.enabled() && swa.granularity == SwaGranularity::kLayer &&
         model.hidden_size < 2 * model.kv_dim;
}

double auto_recompute_percent(const Policy& policy, const MemoryPlanFn& plan, uint64_t cpu_cap,
                              int64_t capacity, int64_t prompt_len, bool applies) {
  Policy p = policy;
  p.cache_recompute_percent = 0;
  const bool phase3 = applies && !p.cpu_attention && !p.compress_cache && p.cache_cpu_percent > 0;
  auto cpu_fits = [&] { return fits(plan(p), {.gpu_bytes = 0, .cpu_bytes = cpu_cap}); };
  while (phase3 && !cpu_fits() && p.cache_recompute_percent < 100 &&
         kept_hidden_positions(p, capacity, prompt_len) < prompt_len) {
    p.cache_recompute_percent += 1;
  }
  return cpu_fits() ? p.cache_recompute_percent : 0;
}

SolvedPolicy solve_policy(const CostInputs& in, const SolverOptions& options) {
  ALISA_CHECK(options.max_gpu_batches >= 1, "solver: max_gpu_batches must be at least 1");
  std::optional<SolvedPolicy> best;
  std::optional<double> best_other_attention[2];  // per cpu_attention
  int64_t candidates = 0;
  // The solved throughput of each (variant, b, G), to explain the winner.
  struct Key {
    size_t variant;
    int64_t b, g;
  };
  std::vector<std::pair<Key, double>> solved;
  const std::vector<Variant> all = variants(in, options);
  Key best_key{};
  for (size_t v = 0; v < all.size(); ++v) {
    const Variant& variant = all[v];
    for (int64_t b : options.gpu_batch_sizes) {
      if (options.max_sequences > 0 && b > options.max_sequences) break;
      for (int64_t g = 1; g <= options.max_gpu_batches; ++g) {
        if (options.max_sequences > 0 && b * g > options.max_sequences) break;
        Policy choice;
        choice.gpu_batch_size = b;
        choice.num_gpu_batches = g;
        choice.cpu_attention = variant.cpu_attention;
        choice.compress_weights = variant.compress_weights;
        choice.compress_cache = variant.compress_cache;
        choice.cache_recompute_percent = variant.recompute_percent;
        const std::optional<Policy> fitted = place_policy(in, choice, options, variant.fixed);
        ++candidates;
        // A larger block of the same variant and batch needs more memory: stop growing it.
        if (!fitted) break;
        Prediction prediction = predict(in, *fitted);
        const double throughput = prediction.total_throughput;
        solved.push_back({{v, b, g}, throughput});
        std::optional<double>& by_attention = best_other_attention[variant.cpu_attention ? 1 : 0];
        by_attention = std::max(by_attention.value_or(0), throughput);
        if (!best || throughput > best->prediction.total_throughput) {
          best = SolvedPolicy{*fitted, std::move(prediction), {}, 0};
          best_key = {v, b, g};
        }
      }
    }
  }
  if (!best) explain_infeasible(in, options);
  best->candidates = candidates;
  Neighbours neighbours;
  for (const auto& [key, throughput] : solved) {
    if (key.variant == best_key.variant && key.b == best_key.b && key.g == best_key.g + 1) {
      neighbours.larger_block_fits = true;
      neighbours.larger_block_throughput = throughput;
    }
  }
  const int other = best->policy.cpu_attention ? 0 : 1;
  if (best_other_attention[other])
    neighbours.other_attention_throughput = *best_other_attention[other];
  best->limits = explain(*best, options, neighbours);
  return *best;
}

std::vector<int64_t> job_capacities(const std::vector<SequenceLengths>& job, bool refill,
                                    int64_t max_positions) {
  const SequenceLengths longest = longest_lengths(job);
  const int64_t least = longest.prompt_len + longest.gen_len;
  std::vector<int64_t> out = {least};
  if (!refill) return out;
  for (const double headroom : kJobCapacityHeadroom) {
    const int64_t c =
        std::min<int64_t>(max_positions, std::llround(headroom * static_cast<double>(least)));
    if (c > out.back()) out.push_back(c);
  }
  return out;
}

SolvedPolicy solve_job_policy(const CostInputs& in, const JobWorkload& job,
                              const std::vector<int64_t>& capacities,
                              const SolverOptions& options) {
  ALISA_CHECK(!capacities.empty(), "solver: no cache capacity to plan the job with");
  SolverOptions job_options = options;
  const auto sequences = static_cast<int64_t>(job.sequences.size());
  if (job_options.max_sequences == 0 || job_options.max_sequences > sequences) {
    job_options.max_sequences = sequences;
  }
  std::optional<SolvedPolicy> best;
  std::optional<Error> first_error;
  std::vector<std::pair<int64_t, double>> by_capacity;
  for (const int64_t capacity : capacities) {
    try {
      SolvedPolicy solved = solve_policy(job_cost_inputs(in, job, capacity), job_options);
      by_capacity.push_back({capacity, solved.prediction.total_throughput});
      if (!best || solved.prediction.total_throughput > best->prediction.total_throughput) {
        best = std::move(solved);
      }
    } catch (const Error& e) {
      // A larger capacity needs more memory: when one does not fit, neither will the next.
      if (!first_error) first_error = e;
      break;
    }
  }
  if (!best) throw *first_error;
  const JobPrediction& chosen = *best->prediction.job;
  best->limits.push_back(
      str("job: ", chosen.sequences, " sequences, refill ", chosen.refill ? "on" : "off", ", ",
          chosen.prefills, " blocks, ", chosen.decode_steps, " decode steps, ", chosen.lanes,
          " requests refilled, ", fixed(100 * chosen.idle_share, 1), "% of slot-steps idle"));
  if (by_capacity.size() > 1 || by_capacity.size() < capacities.size()) {
    std::string line = str("capacity ", chosen.capacity, " positions per row; of those tried:");
    for (const auto& [capacity, throughput] : by_capacity) {
      line += str(" ", capacity, " ", fixed(throughput, 1), " tok/s;");
    }
    if (by_capacity.size() < capacities.size()) {
      line += str(" ", capacities[by_capacity.size()], " does not fit the caps");
    } else {
      line.pop_back();
    }
    best->limits.push_back(line);
  }
  return *best;
}

std::string solved_policy_summary(const SolvedPolicy& s) {
  const Policy& p = s.policy;
  std::string out =
      str("block ", p.block_size(), " = ", p.gpu_batch_size, " x ", p.num_gpu_batches,
          ", weights GPU/CPU ", fixed(p.weights_gpu_percent, 1), "/",
          fixed(p.weights_cpu_percent, 1), "%, cache GPU/CPU ", fixed(p.cache_gpu_percent, 1), "/",
          fixed(p.cache_cpu_percent, 1), "%, activations GPU/CPU ",
          fixed(p.activations_gpu_percent, 1), "/", fixed(p.activations_cpu_percent, 1), "%");
  if (p.cpu_attention) out += ", cpu_attention";
  if (p.compress_weights) out += ", int4 weights";
  if (p.compress_cache) out += ", int8 cache";
  if (p.cache_recompute_percent > 0) {
    out += str(", cache_recompute_percent ", fixed(p.cache_recompute_percent, 1));
  }
  if (const std::optional<JobPrediction>& job = s.prediction.job) {
    out += str(", refill ", job->refill ? "on" : "off", ", capacity ", job->capacity);
    return out + str("; predicted ", fixed(job->useful_throughput, 1),
                     " useful tok/s over the job (", fixed(100 * job->idle_share, 1),
                     "% idle slot-steps), bound by ", s.prediction.bottleneck);
  }
  return out + str("; predicted ", fixed(s.prediction.total_throughput, 1), " tok/s, bound by ",
                   s.prediction.bottleneck);
}

std::string solved_policy_yaml(const SolvedPolicy& solved, const std::string& header) {
  const Prediction& p = solved.prediction;
  std::string out = header;
  if (const std::optional<JobPrediction>& job = p.job) {
    out += str("# predicted job: ", fixed(job->useful_throughput, 1), " useful tok/s (",
               job->generated_tokens, " tokens of ", job->sequences, " sequences in ",
               fixed(job->seconds, 1), " s: prefill ", fixed(p.prefill_s, 2), " s, decode ",
               fixed(p.decode_s, 2), " s), refill ", job->refill ? "on" : "off", ", capacity ",
               job->capacity, ", ", fixed(100 * job->idle_share, 1), "% idle slot-steps\n");
  } else {
    out += str("# predicted: ", fixed(p.total_throughput, 1), " tok/s (decode ",
               fixed(p.decode_throughput, 1), " tok/s), prefill ", fixed(p.prefill_s, 2),
               " s, decode ", fixed(p.decode_s, 2), " s per block of ", solved.policy.block_size(),
               "\n");
  }
  out += str("# memory: GPU ", bytes_text(p.memory.gpu.total()), ", CPU ",
             bytes_text(p.memory.cpu.total()), ", disk ", bytes_text(p.memory.disk.total()), "\n");
  for (const std::string& line : solved.limits) out += "# " + line + "\n";
  if (solved.candidates > 0) out += str("# ", solved.candidates, " discrete choices solved\n");
  return out + policy_to_yaml(solved.policy);
}

}  // namespace alisa
