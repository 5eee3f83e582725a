#!/usr/bin/env python3
"""Markdown tables from `alisa bench` JSON lines and the GPU kernel benchmark's JSON.

    scripts/bench_table.py --kernels kernel_bench.json bench_a.jsonl [bench_b.jsonl ...]

The decode-step bound is decode_step_bytes (every weight and the KV cache at its mean length
over the decode steps, read once) over the HBM ceiling the kernel benchmark measured (a large
device-to-device copy, bytes read + written).
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", help="alisa_gpu_kernel_bench --benchmark_out JSON")
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


if __name__ == "__main__":
    main()
