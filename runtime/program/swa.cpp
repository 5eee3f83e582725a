#include "runtime/program/swa.h"

#include <algorithm>
#include <cmath>

#include "runtime/base/common.h"
#include "runtime/base/swa_budget.h"
#include "runtime/core/owned_buffers.h"

namespace alisa {

void validate(const SwaOptions& options, const std::string& source) {
  ALISA_CHECK(std::isfinite(options.sparsity) && options.sparsity >= 0 && options.sparsity < 1,
              source, ": swa sparsity must be in [0, 1), got ", options.sparsity);
  ALISA_CHECK(options.window_max >= 1, source, ": swa window_max must be at least 1, got ",
              options.window_max);
  ALISA_CHECK(options.min_tokens >= 1, source, ": swa min_tokens must be at least 1, got ",
              options.min_tokens);
  ALISA_CHECK(std::isfinite(options.gamma) && options.gamma > 0 && options.gamma <= 1, source,
              ": swa gamma must be in (0, 1], got ", options.gamma);
}

const char* swa_granularity_name(SwaGranularity granularity) {
  return granularity == SwaGranularity::kLayer ? "layer" : "head";
}

const char* swa_score_name(SwaScore score) {
  // Indexed by SwaScore: kWindow, kDecay, kHistory, kRecent.
  static constexpr const char* kNames[] = {"window", "decay", "history", "recent"};
  return kNames[static_cast<size_t>(score)];
}

SwaGranularity parse_swa_granularity(const std::string& text, const std::string& source) {
  if (text == "layer") return SwaGranularity::kLayer;
  if (text == "head") return SwaGranularity::kHead;
  throw Error(str(source, ": swa granularity must be layer or head, got '", text, "'"));
}

SwaScore parse_swa_score(const std::string& text, const std::string& source) {
  for (SwaScore score :
       {SwaScore::kWindow, SwaScore::kDecay, SwaScore::kHistory, SwaScore::kRecent}) {
    if (text == swa_score_name(score)) return score;
  }
  throw Error(
      str(source, ": swa score must be window, decay, history or recent, got '", text, "'"));
}

SwaState allocate_swa_layer(Device& device, const SwaOptions& options, const SwaShape& s,
                            std::vector<Buffer>& owner) {
  SwaState state;
  state.mode = options.score;
  state.gamma = static_cast<float>(options.score == SwaScore::kDecay ? options.gamma : 1.0);
  if (options.score == SwaScore::kRecent) return state;
  state.score =
      owned_tensor(owner, device, DType::kF32, {s.batch, s.groups, s.capacity}, "SWA score");
  if (options.score == SwaScore::kWindow) {
    state.ring_index =
        owned_tensor(owner, device, DType::kI32, {s.batch, s.groups, s.window_rows, s.row_capacity},
                     "SWA score window");
    state.ring_weight =
        owned_tensor(owner, device, DType::kF32, {s.batch, s.groups, s.window_rows, s.row_capacity},
                     "SWA score window");
    state.ring_count =
        owned_tensor(owner, device, DType::kI32, {s.batch, s.window_rows}, "SWA score window");
  }
  return state;
}

SwaState allocate_swa_scratch(Device& device, const SwaShape& s, std::vector<Buffer>& owner) {
  SwaState scratch;
  scratch.sequences =
      owned_tensor(owner, device, DType::kI32, {s.batch, kSwaSequenceFields}, "SWA sequences");
  scratch.selected = owned_tensor(owner, device, DType::kI32, {s.batch, s.groups, s.max_selected},
                                  "SWA selection");
  scratch.probs =
      owned_tensor(owner, device, DType::kF32, {s.batch, s.n_heads, s.max_selected}, "SWA weights");
  return scratch;
}

SwaState with_scratch(const SwaState& layer, const SwaState& scratch) {
  SwaState state = layer;
  state.sequences = scratch.sequences;
  state.selected = scratch.selected;
  state.probs = scratch.probs;
  return state;
}

SwaPlanner::SwaPlanner(const SwaOptions& options, int64_t n_sequences)
    : options_(options), cursors_(static_cast<size_t>(n_sequences)) {}

void SwaPlanner::plan(std::span<const int32_t> n_real, int64_t length, bool prefill,
                      std::span<SwaSequence> out) {
  ALISA_ASSERT(n_real.size() == cursors_.size() && out.size() == cursors_.size(), "SWA plan of ",
               out.size(), " sequences");
  for (size_t i = 0; i < cursors_.size(); ++i) {
    out[i] = plan_sequence(cursors_[i], n_real[i], length, prefill);
  }
}

SwaSequence SwaPlanner::restart(size_t seq, int32_t n_real, int64_t length) {
  ALISA_ASSERT(seq < cursors_.size() && n_real > 0, "SWA restart of sequence ", seq);
  return plan_sequence(cursors_[seq], n_real, length, true);
}

SwaSequence SwaPlanner::plan_sequence(Cursor& cursor, int32_t n, int64_t length, bool prefill) {
  const bool window = options_.score == SwaScore::kWindow;
  SwaSequence s{.first = static_cast<int32_t>(length - n), .n = n};
  if (prefill) cursor = {};
  if (n == 0) return s;  // nothing real yet (left padding): nothing attended, no row
  const SwaBudget budget = swa_budget(n, options_.sparsity, options_.min_tokens);
  const int64_t w = swa_score_window(budget, options_.window_max);
  s.total = static_cast<int32_t>(budget.total);
  const bool recent_only = budget.dense || options_.score == SwaScore::kRecent;
  s.local = recent_only ? s.total : static_cast<int32_t>(budget.local);
  if (prefill) {
    const int64_t rows = options_.score == SwaScore::kHistory ? n : std::min<int64_t>(w, n);
    s.prefill_rows = static_cast<int32_t>(rows);
    if (window) {
      s.write_row = 0;
      cursor.next_row = rows;
    }
  } else if (window) {
    // W never shrinks and grows by at most one a step, so at most one row leaves.
    if (cursor.next_row + 1 - cursor.first_counted > w) {
      s.drop_row = static_cast<int32_t>(cursor.first_counted % options_.window_max);
      ++cursor.first_counted;
    }
    ALISA_ASSERT(cursor.next_row + 1 - cursor.first_counted <= w, "SWA window overflow");
    s.write_row = static_cast<int32_t>(cursor.next_row % options_.window_max);
    ++cursor.next_row;
  }
  return s;
}

}  // namespace alisa
