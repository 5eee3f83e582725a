#!/usr/bin/env bash
# On the GPU host: the largest models on one GPU (issue 21). For each model, prompt 512 / gen 32,
# dummy weights, `alisa plan --json` and then `alisa bench --policy auto --allow-compression` on
# 14.5 GiB of GPU memory and 110 GiB of pinned CPU memory, the disk tier in OFFLOAD_DIR (default
# /tmp/alisa-offload, the host's 64 GB disk). Prints the plan's prediction beside the measured
# total throughput, the host's peak RSS and the start-up (weights initialised and placed: the
# command's wall time less the timed block). No warm-up run: at these sizes it would cost a whole
# prefill (minutes), and the first run's one-off costs are a rounding error of one block's time.
# Each model takes minutes: name one per call.
#
#   scripts/gpu_host_large_models.sh [MODEL ...]   (default: llama-2-70b opt-175b)
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(llama-2-70b opt-175b)
offload=${OFFLOAD_DIR:-/tmp/alisa-offload}
mkdir -p "$offload"
caps=(--device gpu --hardware configs/hardware/h100-host.yaml --gpu-memory-limit 14.5GiB
      --cpu-memory-limit 110GiB --allow-compression --offload-dir "$offload")
free -g | head -2
df -h "$offload" | tail -1
rows=()
for model in "${models[@]}"; do
  name="${model}_p512_g32_auto"
  "$bin/alisa" plan --model "dummy:$model" "${caps[@]}" --json \
    --workload "prompt_len=512,gen_len=32" >"$OUT/$name.plan.json" 2>"$OUT/$name.plan.log"
  start=$SECONDS
  "$bin/alisa" bench --model "dummy:$model" --policy auto "${caps[@]}" \
    --prompt-len 512 --gen-len 32 --no-warmup --output "$OUT/$name.bench.json" \
    >/dev/null 2>"$OUT/$name.bench.log"
  status=$?
  rows+=("$(python3 - "$OUT/$name.plan.json" "$OUT/$name.bench.json" "$name" "$status" \
    "$((SECONDS - start))" <<'PY'
import json, sys
plan_path, bench_path, name, status, seconds = sys.argv[1:]
try:
    predicted = json.load(open(plan_path))["prediction"]["total_throughput"]
except Exception:
    predicted = float("nan")
try:
    b = json.loads(open(bench_path).readline())
    measured, block = b["total_throughput"], b["batch_size"]
    timed = b["prefill_latency_s"] + b["decode_latency_s"]
    rss_gib = b["peak_memory_bytes"]["host_rss"] / 2**30
except Exception:
    measured, block, timed, rss_gib = float("nan"), "?", float("nan"), float("nan")
print(f"| {name} | {block} | {predicted:.2f} | {measured:.2f} | {rss_gib:.1f} | "
      f"{int(seconds) - timed:.0f} | exit {status}, {seconds} s |")
PY
)")
done
echo "| run | block | predicted tok/s | measured tok/s | peak RSS GiB | start-up s | |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
