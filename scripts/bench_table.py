#!/usr/bin/env python3
"""Markdown tables from `alisa bench` JSON lines and the GPU kernel benchmark's JSON.

    scripts/bench_table.py --kernels kernel_bench.json bench_a.jsonl [bench_b.jsonl ...]

The decode-step bound is decode_step_bytes (every weight and the KV cache at its mean length
over the decode steps, read once) over the HBM ceiling the kernel benchmark measured (a large
device-to-device copy, bytes read + written). Reports with a "schedule" (offloading runs) get a
second table: per decode step the bytes streamed CPU->GPU, the PCIe bound (those bytes over
--h2d GB/s, the host's measured pinned bandwidth), the busy share of each stream and the
fraction of transfer time hidden under compute.
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", help="alisa_gpu_kernel_bench --benchmark_out JSON")
    ap.add_argument("--h2d", type=float, default=55.0, help="pinned CPU->GPU GB/s (55 measured)")
    ap.add_argument("bench", nargs="*", help="alisa bench output (JSON lines)")
    args = ap.parse_args()

    hbm = None
    if args.kernels:
        kernels = json.load(open(args.kernels))
        context = kernels.get("context", {})
        hbm = float(context["ceiling_hbm_GB/s"]) if "ceiling_hbm_GB/s" in context else None
        gemm = context.get("ceiling_gemm_f16_TFLOP/s")
        print(f"Ceilings: HBM {hbm:.0f} GB/s (D2D copy), f16 GEMM {float(gemm):.0f} TFLOP/s\n")
        print("| kernel | median us | rate | of ceiling |")
        print("| --- | ---: | ---: | ---: |")
        for b in kernels["benchmarks"]:
            if b.get("run_type") == "aggregate" or b["name"].startswith("ceiling"):
                continue
            rate = (f"{b['GB/s']:.0f} GB/s" if "GB/s" in b else f"{b['TFLOP/s']:.1f} TFLOP/s")
            name = b["name"].split("/iterations")[0]
            print(f"| {name} | {b.get('us_median', 0):.1f} | {rate} | {b.get('of_ceiling', 0):.2f} |")
        print()

    print("| model | batch | prefill s | decode step ms | step bound ms | step / bound | "
          "decode tok/s | total tok/s | GPU peak GiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in args.bench:
        for line in open(path):
            r = json.loads(line)
            bound = r["decode_step_bytes"] / (hbm * 1e9) * 1e3 if hbm else float("nan")
            peak = r["peak_memory_bytes"].get("gpu", r["peak_memory_bytes"].get("cpu_device", 0))
            print(f"| {r['model']} | {r['batch_size']} | {r['prefill_latency_s']:.3f} | "
                  f"{r['decode_step_ms']:.2f} | {bound:.2f} | {r['decode_step_ms'] / bound:.2f} | "
                  f"{r['decode_throughput']:.1f} | {r['total_throughput']:.1f} | "
                  f"{peak / 2**30:.1f} |")
    offload_table(args)


def offload_table(args):
    rows = [json.loads(line) for path in args.bench for line in open(path)]
    rows = [r for r in rows if r.get("schedule")]
    if not rows:
        return
    print("\n| model | block | decode step ms | CPU->GPU GB/step | PCIe bound ms | step / bound | "
          "H2D GB/s | compute busy | hidden (decode) | hidden (prefill) | CPU tier peak GiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        d = r["schedule"]["decode"]
        p = r["schedule"]["prefill"]
        steps = max(1, r["gen_len"] - 1)
        h2d = d["links"]["cpu_to_gpu"]
        step_bytes = h2d["bytes"] / steps
        bound = step_bytes / (args.h2d * 1e9) * 1e3
        compute = d["lanes"]["compute"]["busy_s"] / max(d["wall_s"], 1e-9)
        rate = h2d["gb_per_s"] or 0
        print(f"| {r['model']} | {r['batch_size']} | {r['decode_step_ms']:.1f} | "
              f"{step_bytes / 1e9:.2f} | {bound:.1f} | "
              f"{r['decode_step_ms'] / bound if bound else float('nan'):.2f} | {rate:.1f} | "
              f"{compute:.2f} | {d['hidden_fraction']:.2f} | {p['hidden_fraction']:.2f} | "
              f"{r['peak_memory_bytes'].get('cpu_tier', 0) / 2**30:.1f} |")


if __name__ == "__main__":
    main()
