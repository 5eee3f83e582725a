// Engine: a model loaded on a device (with a policy and SWA options) that generates, benchmarks
// and scores text. Every call releases the GIL while C++ runs; one engine runs one call at a
// time (its lock is taken without the GIL, so other Python threads go on meanwhile).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <mutex>

#include "runtime/jobs/bench.h"
#include "runtime/jobs/engine.h"
#include "runtime/jobs/perplexity.h"
#include "runtime/python/bindings.h"
#include "runtime/python/convert.h"

namespace alisa::python {
namespace {

class PyEngine {
 public:
  PyEngine(EngineOptions options, const std::string& tokenizer) : policy_(options.policy) {
    py::gil_scoped_release release;
    engine_ = std::make_unique<Engine>(options);
    if (!tokenizer.empty()) own_tokenizer_ = Tokenizer::load(tokenizer);
  }

  Engine& engine() { return *engine_; }
  std::mutex& mutex() { return mutex_; }
  const std::optional<Policy>& policy() const { return policy_; }

  const Tokenizer& tokenizer() const {
    if (own_tokenizer_) return *own_tokenizer_;
    ALISA_CHECK(engine_->tokenizer() != nullptr, engine_->spec().name,
                " has no tokenizer.json (give Engine(..., tokenizer=FILE))");
    return *engine_->tokenizer();
  }

 private:
  std::optional<Policy> policy_;
  std::unique_ptr<Engine> engine_;
  std::optional<Tokenizer> own_tokenizer_;
  std::mutex mutex_;
};

// Runs fn on the engine without the GIL, one call per engine at a time.
template <typename Fn>
auto run_released(PyEngine& self, Fn&& fn) {
  py::gil_scoped_release release;
  const std::lock_guard<std::mutex> lock(self.mutex());
  return fn(self.engine());
}

// A prompt: token ids, or text the engine's tokenizer encodes as a batch job's line is (with
// the tokenizer's special tokens).
std::vector<int32_t> prompt_ids(const PyEngine& self, const py::handle& prompt, size_t index) {
  if (py::isinstance<py::str>(prompt)) {
    return self.tokenizer().encode(prompt.cast<std::string>(), /*add_special_tokens=*/true);
  }
  try {
    return prompt.cast<std::vector<int32_t>>();
  } catch (const py::cast_error&) {
    throw Error(str("prompt ", index, " must be a str or a list of token ids"));
  }
}

EngineOptions engine_options(const std::string& model, const std::string& device,
                             const std::string& dtype, int threads,
                             const py::object& gpu_memory_limit, const py::object& cpu_memory_limit,
                             uint64_t dummy_seed, const py::object& policy,
                             const py::object& offload_dir, const py::object& swa) {
  ALISA_CHECK(threads >= 0, "threads must be >= 0 (0: every core), got ", threads);
  EngineOptions options{
      .model = model,
      .dummy_seed = dummy_seed,
      .backend = {.device = parse_device_choice(device, "device"),
                  .n_threads = threads,
                  .cpu_memory_limit = byte_size(cpu_memory_limit, "cpu_memory_limit"),
                  .gpu_memory_limit = byte_size(gpu_memory_limit, "gpu_memory_limit"),
                  .gpu_dtype = parse_gpu_dtype_choice(dtype, "dtype")},
      .offload_dir = offload_dir.is_none() ? "" : path_string(offload_dir, "offload_dir"),
      .swa = swa_options(swa)};
  if (!policy.is_none()) options.policy = given_policy(policy).policy;
  return options;
}

}  // namespace

void bind_engine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine", "A model loaded on a device, ready to run")
      .def(py::init([](const py::object& model, const std::string& device, const std::string& dtype,
                       int threads, const py::object& gpu_memory_limit,
                       const py::object& cpu_memory_limit, uint64_t dummy_seed,
                       const py::object& policy, const py::object& offload_dir,
                       const py::object& swa, const py::object& tokenizer) {
             return std::make_unique<PyEngine>(
                 engine_options(path_string(model, "model"), device, dtype, threads,
                                gpu_memory_limit, cpu_memory_limit, dummy_seed, policy, offload_dir,
                                swa),
                 tokenizer.is_none() ? "" : path_string(tokenizer, "tokenizer"));
           }),
           py::arg("model"), py::kw_only(), py::arg("device") = "auto", py::arg("dtype") = "auto",
           py::arg("threads") = 0, py::arg("gpu_memory_limit") = py::none(),
           py::arg("cpu_memory_limit") = py::none(), py::arg("dummy_seed") = 1234,
           py::arg("policy") = py::none(), py::arg("offload_dir") = py::none(),
           py::arg("swa") = py::none(), py::arg("tokenizer") = py::none())
      .def_property_readonly("spec", [](PyEngine& self) { return self.engine().spec(); })
      .def_property_readonly("device", [](PyEngine& self) { return self.engine().device().name(); })
      .def_property_readonly(
          "dtype",
          [](PyEngine& self) { return std::string(dtype_name(self.engine().activation_dtype())); })
      .def_property_readonly("policy", [](PyEngine& self) { return self.policy(); })
      .def(
          "tokenize",
          [](PyEngine& self, const std::string& text, bool add_special_tokens) {
            return self.tokenizer().encode(text, add_special_tokens);
          },
          py::arg("text"), py::arg("add_special_tokens") = true)
      .def(
          "decode",
          [](PyEngine& self, const std::vector<int32_t>& ids, bool skip_special_tokens) {
            return self.tokenizer().decode(ids, skip_special_tokens);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = true)
      .def(
          "generate",
          [](PyEngine& self, const py::sequence& prompts, int64_t max_new_tokens, float temperature,
             float top_p, int32_t top_k, uint64_t seed, int64_t batch_size, bool stop_at_eos) {
            ALISA_CHECK(temperature >= 0, "temperature must be >= 0 (0 is greedy), got ",
                        temperature);
            ALISA_CHECK(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got ", top_p);
            ALISA_CHECK(top_k >= 0, "top_k must be >= 0 (0 is off), got ", top_k);
            ALISA_CHECK(py::len(prompts) > 0, "generate: no prompts");
            std::vector<Prompt> list;
            for (size_t i = 0; i < py::len(prompts); ++i) {
              list.push_back({.token_ids = prompt_ids(self, prompts[i], i), .index = i});
            }
            const GenerationOptions options{
                .max_new_tokens = max_new_tokens,
                .sampling = {.temperature = temperature, .top_k = top_k, .top_p = top_p},
                .seed = seed,
                .batch_size = batch_size,
                .stop_at_eos = stop_at_eos};
            return run_released(self,
                                [&](Engine& engine) { return engine.generate(list, options); });
          },
          py::arg("prompts"), py::kw_only(), py::arg("max_new_tokens") = 32,
          py::arg("temperature") = 0.0f, py::arg("top_p") = 1.0f, py::arg("top_k") = 0,
          py::arg("seed") = 0, py::arg("batch_size") = 8, py::arg("stop_at_eos") = true,
          "Generated token ids per prompt (str prompts are tokenized), in the order given")
      .def(
          "forward",
          [](PyEngine& self, const py::sequence& input_ids) {
            std::vector<std::vector<int32_t>> rows;
            for (size_t i = 0; i < py::len(input_ids); ++i) {
              rows.push_back(prompt_ids(self, input_ids[i], i));
            }
            ALISA_CHECK(!rows.empty(), "forward: no input");
            std::vector<const std::vector<int32_t>*> pointers;
            for (const auto& row : rows) pointers.push_back(&row);
            std::vector<int32_t> ids;
            std::vector<uint8_t> mask;
            int64_t seq_len = 0;
            const int32_t pad = std::max(self.engine().spec().pad_token_id, 0);
            left_pad(pointers, pad, ids, mask, seq_len);
            const int64_t batch = static_cast<int64_t>(rows.size());
            const int64_t vocab = self.engine().spec().vocab_size;
            std::vector<float> logits = run_released(
                self, [&](Engine& engine) { return engine.forward(ids, mask, batch, seq_len); });
            py::array_t<float> out({batch, seq_len, vocab});
            std::copy(logits.begin(), logits.end(), out.mutable_data());
            return out;
          },
          py::arg("input_ids"),
          "Logits [batch, seq_len, vocab] (numpy float32) of rows left-padded to the longest")
      .def(
          "bench",
          [](PyEngine& self, int64_t prompt_len, int64_t gen_len, const py::object& batch_size,
             uint64_t seed, bool warmup) {
            const std::optional<Policy>& policy = self.policy();
            int64_t batch = batch_size.is_none() ? (policy ? policy->block_size() : 1)
                                                 : batch_size.cast<int64_t>();
            const BenchWorkload workload{.prompt_len = prompt_len,
                                         .gen_len = gen_len,
                                         .batch_size = batch,
                                         .seed = seed,
                                         .warmup = warmup};
            const nlohmann::json report = run_released(self, [&](Engine& engine) {
              return bench_report(engine, workload, run_bench(engine, workload),
                                  nlohmann::json::object());
            });
            return to_python(report);
          },
          py::arg("prompt_len") = 512, py::arg("gen_len") = 32, py::kw_only(),
          py::arg("batch_size") = py::none(), py::arg("seed") = 0, py::arg("warmup") = true,
          "alisa bench's report: random prompts, timed after a warm-up (batch: the policy's "
          "block, or 1)")
      .def(
          "perplexity",
          [](PyEngine& self, const py::object& tokens, int64_t context_length, int64_t stride,
             int64_t batch_size) {
            // Text is encoded without special tokens: the windows are cut from its own tokens.
            const std::vector<int32_t> ids =
                py::isinstance<py::str>(tokens)
                    ? self.tokenizer().encode(tokens.cast<std::string>(), false)
                    : prompt_ids(self, tokens, 0);
            const PerplexityOptions options{
                .context_length = context_length, .stride = stride, .batch_size = batch_size};
            const PerplexityResult r = run_released(
                self, [&](Engine& engine) { return compute_perplexity(engine, ids, options); });
            py::dict out;
            out["perplexity"] = r.perplexity;
            out["mean_nll"] = r.mean_nll;
            out["n_tokens"] = r.n_tokens;
            out["n_windows"] = r.n_windows;
            out["context_length"] = r.context_length;
            out["stride"] = r.stride;
            return out;
          },
          py::arg("tokens"), py::kw_only(), py::arg("context_length") = 0, py::arg("stride") = 0,
          py::arg("batch_size") = 0,
          "Perplexity of token ids or text (as alisa perplexity computes it)");
}

}  // namespace alisa::python
