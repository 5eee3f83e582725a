#!/usr/bin/env python3
"""Policy search written against the alisa Python package (docs/PYTHON.md).

Starts from the solver's plan (alisa.plan) and searches the discrete choices the solver fixes
before its linear program places the rest: the block shape (gpu_batch_size, num_gpu_batches),
CPU attention, int4 weight / int8 cache compression, and SWA's sparsity, which is admitted only
within an accuracy budget measured with Engine.perplexity. Every candidate is placed by the
linear program and priced by the cost model (alisa.place); a few are measured (Engine.bench),
and their measured/predicted ratios correct the model's ranking of the rest. The fastest
measured policy is written as a policy YAML, with a plot of predicted against measured.

  scripts/search_policy.py --model dummy:opt-30b --hardware configs/hardware/h100-host.yaml \\
      --prompt-len 512 --gen-len 32 --accuracy-model DIR --accuracy-text FILE \\
      --output search/policy.yaml --plot search/predicted_vs_measured.png \\
      --report search/report.json

On a CPU (a smoke test: seconds) give --device cpu and a small model and workload; the tests run
it so on dummy:opt-125m (tests/python/test_search_policy.py).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import alisa


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint folder or dummy:NAME")
    p.add_argument("--hardware", required=True, help="calibrated profile (configs/hardware/)")
    p.add_argument("--prompt-len", type=int, required=True)
    p.add_argument("--gen-len", type=int, required=True)
    p.add_argument("--sequences", type=int, default=0,
                   help="the job's sequences: no block larger (0: no limit)")
    p.add_argument("--gpu-memory-limit", help="e.g. 14.5GiB (default: the profile's GPU)")
    p.add_argument("--cpu-memory-limit", help="e.g. 100GiB (default: a share of the profile's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--dtype", default="auto", choices=["auto", "f16", "bf16", "f32"],
                   help="the run's activation type the plans assume (auto: f32 on --device cpu, "
                        "else f16)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    p.add_argument("--offload-dir", help="the disk tier's folder")
    p.add_argument("--allow-compression", action="store_true",
                   help="search int4 weights and the int8 cache too (they change the outputs)")
    p.add_argument("--sparsities", default="0,0.5,0.8,0.9",
                   help="SWA sparsities to consider (0: dense), comma-separated")
    p.add_argument("--accuracy-model",
                   help="model whose perplexity judges a sparsity (default: --model, unless it "
                        "is dummy: random weights say nothing of accuracy)")
    p.add_argument("--accuracy-text", help="UTF-8 held-out text for the perplexity")
    p.add_argument("--accuracy-tokens", type=int, default=1024,
                   help="tokens of the text scored (SWA scores one token per step)")
    p.add_argument("--accuracy-context", type=int, default=256, help="perplexity window")
    p.add_argument("--max-ppl-increase", type=float, default=0.05,
                   help="a sparsity is admitted when its perplexity is at most this much "
                        "(relative) above dense (0.05: 5%%)")
    p.add_argument("--measure", type=int, default=4,
                   help="measured runs besides the solver's plans")
    p.add_argument("--output", default="search-policy.yaml", help="the winner's policy YAML")
    p.add_argument("--plot", default="search-policy.png",
                   help="predicted against measured (PNG or SVG by its suffix)")
    p.add_argument("--report", help="every candidate, predicted and measured, as JSON")
    args = p.parse_args(argv)
    args.sparsities = sorted({float(s) for s in args.sparsities.split(",")} | {0.0})
    if args.dtype == "auto":
        args.dtype = "f32" if args.device == "cpu" else "f16"
    return args


def log(message):
    print(f"search_policy: {message}", file=sys.stderr, flush=True)


def swa_of(sparsity):
    return {"sparsity": sparsity} if sparsity > 0 else None


def admitted_sparsities(args):
    """The sparsities whose perplexity stays within the budget (dense always)."""
    model = args.accuracy_model
    if model is None and not args.model.startswith("dummy:"):
        model = args.model
    if len(args.sparsities) == 1:
        return [0.0], {}
    if model is None or args.accuracy_text is None:
        log("no --accuracy-model/--accuracy-text: SWA is not searched (dense only)")
        return [0.0], {}
    text = Path(args.accuracy_text).read_text(encoding="utf-8")
    perplexities = {}
    for sparsity in args.sparsities:
        engine = alisa.Engine(model, device=args.device, threads=args.threads,
                              swa=swa_of(sparsity))
        ids = engine.tokenize(text, add_special_tokens=False)[: args.accuracy_tokens]
        result = engine.perplexity(ids, context_length=min(args.accuracy_context, len(ids)))
        perplexities[sparsity] = result["perplexity"]
        log(f"perplexity at sparsity {sparsity}: {result['perplexity']:.4f}")
    dense = perplexities[0.0]
    admitted = [s for s in args.sparsities
                if perplexities[s] <= dense * (1 + args.max_ppl_increase)]
    log(f"admitted sparsities (perplexity within {100 * args.max_ppl_increase:g}% of dense "
        f"{dense:.4f}): {admitted}")
    return admitted, perplexities


class Search:
    """The candidates: each a policy and a sparsity, predicted, maybe measured."""

    def __init__(self, args):
        self.args = args
        self.job = dict(prompt_len=args.prompt_len, gen_len=args.gen_len,
                        sequences=args.sequences, gpu_memory_limit=args.gpu_memory_limit,
                        cpu_memory_limit=args.cpu_memory_limit, threads=args.threads,
                        allow_compression=args.allow_compression, dtype=args.dtype)
        self.candidates = {}  # (policy yaml, sparsity) -> candidate

    def add(self, result, sparsity, origin):
        key = (result["policy"].to_yaml(), sparsity)
        if key not in self.candidates:
            self.candidates[key] = {
                "policy": result["policy"], "sparsity": sparsity, "origin": origin,
                "predicted": result["prediction"]["total_throughput"],
                "bottleneck": result["prediction"]["bottleneck"], "measured": None,
                "error": None}
        return self.candidates[key]

    def solver_plan(self, sparsity):
        result = alisa.plan(self.args.model, self.args.hardware, swa=swa_of(sparsity), **self.job)
        return self.add(result, sparsity, "solver")

    def neighbours(self, start):
        """The discrete choices around a plan: block shapes, attention, compression."""
        p, sparsity = start["policy"], start["sparsity"]
        b, g = p.gpu_batch_size, p.num_gpu_batches
        batch_sizes = sorted({max(1, b // 2), b, 2 * b})
        gpu_batches = sorted({max(1, g // 2), max(1, g - 1), g, g + 1, 2 * g})
        compressions = [(p.compress_weights, p.compress_cache)]
        if self.args.allow_compression:
            compressions = [(w, c) for w in (False, True) for c in (False, True)]
        for batch in batch_sizes:
            for n in gpu_batches:
                if self.args.sequences and batch * n > self.args.sequences:
                    continue
                for cpu_attention in (False, True):
                    for weights, cache in compressions:
                        # Phase III's share stays the solver's (it runs without CPU attention
                        # and the int8 cache).
                        recompute = p.cache_recompute_percent
                        if cpu_attention or cache:
                            recompute = 0
                        choice = alisa.Policy(gpu_batch_size=batch, num_gpu_batches=n,
                                              cpu_attention=cpu_attention,
                                              compress_weights=weights, compress_cache=cache,
                                              cache_recompute_percent=recompute)
                        result = alisa.place(self.args.model, self.args.hardware, choice,
                                             swa=swa_of(sparsity), **self.job)
                        if result is not None:
                            self.add(result, sparsity, "search")

    def measure(self, candidate):
        a = self.args
        try:
            engine = alisa.Engine(a.model, device=a.device, threads=a.threads,
                                  gpu_memory_limit=a.gpu_memory_limit,
                                  cpu_memory_limit=a.cpu_memory_limit,
                                  policy=candidate["policy"], offload_dir=a.offload_dir,
                                  swa=swa_of(candidate["sparsity"]))
            report = engine.bench(a.prompt_len, a.gen_len)
            candidate["measured"] = report["total_throughput"]
        except alisa.Error as error:  # a plan the machine refuses counts as measured, failed
            candidate["measured"] = 0.0
            candidate["error"] = str(error)
        log(f"measured {describe(candidate)}: {candidate['measured']:.2f} tok/s "
            f"(predicted {candidate['predicted']:.2f})"
            + (f" [{candidate['error']}]" if candidate["error"] else ""))

    def corrected(self, candidate):
        """The prediction times the measured/predicted ratio of measured candidates with the
        same bottleneck (of all measured ones where none has it)."""
        measured = [c for c in self.candidates.values() if c["measured"] and not c["error"]]
        same = [c for c in measured if c["bottleneck"] == candidate["bottleneck"]]
        pool = same or measured
        if not pool:
            return candidate["predicted"]
        return candidate["predicted"] * statistics.median(
            c["measured"] / c["predicted"] for c in pool)


def describe(c):
    p = c["policy"]
    parts = [f"block {p.gpu_batch_size}x{p.num_gpu_batches}",
             f"weights {p.weights_gpu_percent:.0f}/{p.weights_cpu_percent:.0f}%",
             f"cache {p.cache_gpu_percent:.0f}/{p.cache_cpu_percent:.0f}%"]
    if p.cpu_attention:
        parts.append("cpu_attention")
    if p.compress_weights:
        parts.append("int4 weights")
    if p.compress_cache:
        parts.append("int8 cache")
    if c["sparsity"]:
        parts.append(f"swa {c['sparsity']:g}")
    return f"{c['origin']} " + ", ".join(parts)


def write_policy(path, winner, baseline, args):
    lines = [
        "# chosen by scripts/search_policy.py",
        f"# model {args.model}, prompt_len {args.prompt_len}, gen_len {args.gen_len}, "
        f"hardware {args.hardware}",
        f"# measured {winner['measured']:.2f} tok/s (predicted {winner['predicted']:.2f}); "
        f"the solver's plan measured {baseline['measured']:.2f} tok/s",
    ]
    if winner["sparsity"]:
        lines.append(f"# run it with SWA: --swa-sparsity {winner['sparsity']:g} "
                     f"(or swa: sparsity: {winner['sparsity']:g} in the run YAML)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    policy = winner["policy"].to_yaml().rstrip("\n")
    Path(path).write_text("\n".join(lines) + "\n" + policy + "\n")


def plot(path, measured, winner):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing (python3-matplotlib): no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 5))
    for origin, marker in (("solver", "s"), ("search", "o")):
        points = [c for c in measured if c["origin"] == origin]
        ax.scatter([c["predicted"] for c in points], [c["measured"] for c in points],
                   marker=marker, label=f"{origin} ({len(points)})")
    ax.scatter([winner["predicted"]], [winner["measured"]], s=160, facecolors="none",
               edgecolors="red", label="winner")
    values = [c["predicted"] for c in measured] + [c["measured"] for c in measured]
    low, high = min(values) / 1.25, max(values) * 1.25
    if high / low > 20:  # a model far off (a CPU run priced for a GPU host): both axes in log
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.plot([low, high], [low, high], "k--", linewidth=0.8, label="measured = predicted")
    ax.set_xlabel("predicted throughput (tokens/s)")
    ax.set_ylabel("measured throughput (tokens/s)")
    ax.set_title("search_policy: the cost model against alisa bench")
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    admitted, perplexities = admitted_sparsities(args)
    search = Search(args)
    starts = [search.solver_plan(s) for s in admitted]
    baseline = starts[0]  # the solver's dense plan: the policy to beat
    for start in starts:
        search.neighbours(start)
    log(f"{len(search.candidates)} candidates placed and predicted")

    # The solver's plans first, then the best corrected prediction, while measurements last.
    for start in starts:
        search.measure(start)
    for _ in range(args.measure):
        unmeasured = [c for c in search.candidates.values() if c["measured"] is None]
        if not unmeasured:
            break
        search.measure(max(unmeasured, key=search.corrected))

    measured = [c for c in search.candidates.values() if c["measured"] is not None]
    winner = max(measured, key=lambda c: c["measured"])
    if winner["measured"] <= 0:
        raise alisa.Error("no candidate ran: " + "; ".join(c["error"] or "" for c in measured))
    log(f"winner: {describe(winner)}: {winner['measured']:.2f} tok/s measured, the solver's "
        f"{baseline['measured']:.2f}")
    write_policy(args.output, winner, baseline, args)
    plot(args.plot, [c for c in measured if not c["error"]], winner)
    if args.report:
        rows = [dict(c, policy=c["policy"].to_dict(), corrected=search.corrected(c))
                for c in search.candidates.values()]
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps({
            "perplexity": {str(k): v for k, v in perplexities.items()},
            "admitted_sparsities": admitted,
            "winner": dict(winner, policy=winner["policy"].to_dict()),
            "solver": dict(baseline, policy=baseline["policy"].to_dict()),
            "candidates": rows}, indent=2))
    print(json.dumps({"policy": args.output, "measured": winner["measured"],
                      "predicted": winner["predicted"], "sparsity": winner["sparsity"],
                      "solver_measured": baseline["measured"]}))


if __name__ == "__main__":
    try:
        main()
    except alisa.Error as error:
        print(f"alisa: error: {error}", file=sys.stderr)
        sys.exit(1)
