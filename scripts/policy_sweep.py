#!/usr/bin/env python3
"""Predicted against measured throughput: plans (or predicts) each workload of a sweep file with
`alisa plan`, runs it with `alisa bench` when asked, and writes a CSV, a Markdown table and an SVG
scatter plot (predicted vs measured, with the +-25% band).

  scripts/policy_sweep.py --sweep scripts/sweeps/h100.json --hardware configs/hardware/h100-host.yaml \
      --out sweep-out [--run] [--only NAME,...] [--measured FILE.jsonl] [--alisa build/alisa]

A sweep file is a JSON list of workloads:
  {"name": "opt-6.7b-swa", "model": "dummy:opt-6.7b", "prompt_len": 128, "gen_len": 512,
   "policy": "configs/policies/opt-6.7b-swa.yaml" | "auto" | "resident:64",
   "args": ["--gpu-memory-limit", "14.5GiB", "--swa-sparsity", "0.8"], "sequences": 64}
("sequences", optional: the job's size, caps the block auto may choose)
"resident:B" is the engine without a policy (everything on the GPU, one batch of B). With --run,
each bench's JSON goes to OUT/NAME.bench.json; without it, measured throughputs come from
--measured (lines of {"name": ..., "total_throughput": ...}, e.g. an earlier run's results.jsonl).
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{done.stderr.strip()}")
    return done.stdout


def policy_args(workload, out_dir):
    """The --policy arguments of plan and bench, and bench's batch arguments."""
    policy = workload["policy"]
    if policy.startswith("resident:"):
        batch = int(policy.split(":")[1])
        path = os.path.join(out_dir, f"{workload['name']}.resident.yaml")
        with open(path, "w") as f:
            f.write(f"gpu_batch_size: {batch}\n")
        return ["--policy", path], ["--batch-size", str(batch)]
    return ["--policy", policy], []


def plan(alisa, workload, hardware, out_dir):
    """The prediction, and the policy file bench should run."""
    plan_policy, bench_batch = policy_args(workload, out_dir)
    chosen = os.path.join(out_dir, f"{workload['name']}.policy.yaml")
    cmd = [alisa, "plan", "--json", "--model", workload["model"], "--hardware", hardware,
           "--workload", f"prompt_len={workload['prompt_len']},gen_len={workload['gen_len']}"
           + (f",sequences={workload['sequences']}" if "sequences" in workload else ""),
           "--output", chosen] + plan_policy + workload.get("args", [])
    result = json.loads(run(cmd))
    if workload["policy"] == "auto":
        return result, ["--policy", chosen], []  # the plan bench runs is the one predicted
    if workload["policy"].startswith("resident:"):
        return result, [], bench_batch
    return result, plan_policy, []


def bench(alisa, workload, bench_policy, bench_batch, out_dir):
    path = os.path.join(out_dir, f"{workload['name']}.bench.json")
    cmd = [alisa, "bench", "--model", workload["model"], "--device", "gpu",
           "--prompt-len", str(workload["prompt_len"]), "--gen-len", str(workload["gen_len"]),
           "--output", path] + bench_policy + bench_batch + workload.get("args", [])
    run(cmd)
    with open(path) as f:
        return json.loads(f.readline())


def svg_plot(rows, path):
    """Log-log scatter of predicted (y) against measured (x) tok/s, y = x and the 25% band."""
    points = [(r["measured"], r["predicted"], r["name"]) for r in rows if r["measured"]]
    if not points:
        return
    values = [v for p in points for v in p[:2]]
    lo, hi = math.log10(min(values) / 1.5), math.log10(max(values) * 1.5)
    size, pad = 560, 60

    def xy(measured, predicted):
        sx = pad + (math.log10(measured) - lo) / (hi - lo) * (size - 2 * pad)
        sy = size - pad - (math.log10(predicted) - lo) / (hi - lo) * (size - 2 * pad)
        return sx, sy

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="{size}" height="{size}" fill="white"/>']
    for factor, style in ((1.0, 'stroke="black"'), (1.25, 'stroke="gray" stroke-dasharray="4"'),
                          (0.75, 'stroke="gray" stroke-dasharray="4"')):
        a = xy(10 ** lo, 10 ** lo * factor)
        b = xy(10 ** hi, 10 ** hi * factor)
        parts.append(f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
                     f'{style}/>')
    for measured, predicted, name in points:
        x, y = xy(measured, predicted)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="steelblue"/>')
        parts.append(f'<text x="{x + 6:.1f}" y="{y - 4:.1f}">{name}</text>')
    parts.append(f'<text x="{size / 2 - 80}" y="{size - 15}">measured tok/s (log)</text>')
    parts.append(f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})">'
                 'predicted tok/s (log)</text>')
    parts.append(f'<text x="{pad}" y="20">predicted vs measured (dashed: 0.75x, 1.25x)</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--hardware", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--alisa", default="build/alisa")
    parser.add_argument("--run", action="store_true", help="run each workload with alisa bench")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--measured", default="", help="JSONL of earlier measurements by name")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(args.sweep) as f:
        workloads = json.load(f)
    if args.only:
        wanted = set(args.only.split(","))
        workloads = [w for w in workloads if w["name"] in wanted]
    measured = {}
    if args.measured:
        with open(args.measured) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    measured[record["name"]] = record
    rows = []
    results = open(os.path.join(args.out, "results.jsonl"), "a")
    for w in workloads:
        try:
            prediction, bench_policy, bench_batch = plan(args.alisa, w, args.hardware, args.out)
        except RuntimeError as e:
            print(f"{w['name']}: plan failed: {e}", file=sys.stderr)
            continue
        p = prediction["prediction"]
        row = {"name": w["name"], "predicted": p["total_throughput"],
               "predicted_decode": p["decode_throughput"], "bottleneck": p["bottleneck"],
               "measured": None, "measured_decode": None}
        if args.run:
            try:
                result = bench(args.alisa, w, bench_policy, bench_batch, args.out)
                row["measured"] = result["total_throughput"]
                row["measured_decode"] = result["decode_throughput"]
                results.write(json.dumps({"name": w["name"], **result}) + "\n")
                results.flush()
            except RuntimeError as e:
                print(f"{w['name']}: bench failed: {e}", file=sys.stderr)
        elif w["name"] in measured:
            row["measured"] = measured[w["name"]]["total_throughput"]
            row["measured_decode"] = measured[w["name"]].get("decode_throughput")
        rows.append(row)
        error = (f"{100 * (row['predicted'] / row['measured'] - 1):+.1f}%"
                 if row["measured"] else "-")
        print(f"{w['name']:<34} predicted {row['predicted']:9.1f}  measured "
              f"{row['measured'] or 0:9.1f}  error {error:>7}  bound by {row['bottleneck']}",
              flush=True)
    results.close()
    with open(os.path.join(args.out, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["name"])
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(args.out, "sweep.md"), "w") as f:
        f.write("| workload | predicted tok/s | measured tok/s | error | bound by |\n")
        f.write("| --- | ---: | ---: | ---: | --- |\n")
        for r in rows:
            error = f"{100 * (r['predicted'] / r['measured'] - 1):+.1f}%" if r["measured"] else "-"
            measured_text = f"{r['measured']:.1f}" if r["measured"] else "-"
            f.write(f"| {r['name']} | {r['predicted']:.1f} | {measured_text} | {error} | "
                    f"{r['bottleneck']} |\n")
    svg_plot(rows, os.path.join(args.out, "sweep.svg"))


if __name__ == "__main__":
    main()
