#!/usr/bin/env bash
# On the GPU host: the bfloat16 benchmarks of the new families (issue 18). For each model and
# workload, `alisa plan --json` (the solver's policy and its predicted throughput) and then
# `alisa bench --policy auto` on the same caps (14.5 GiB GPU, 110 GiB CPU); dummy weights, whose
# named configs are bfloat16, so the GPU runs in bfloat16. Logs and JSON go to $OUT; a table of
# predicted against measured total tok/s is printed last.
#
#   scripts/gpu_host_bf16_bench.sh [MODEL ...]   (default: llama-3.1-8b qwen2.5-14b)
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(llama-3.1-8b qwen2.5-14b)
caps=(--device gpu --hardware configs/hardware/h100-host.yaml --gpu-memory-limit 14.5GiB
      --cpu-memory-limit 110GiB)
rows=()
for model in "${models[@]}"; do
  for workload in "512 32 0" "128 512 0.8"; do
    read -r prompt gen sparsity <<<"$workload"
    name="${model}_p${prompt}_g${gen}_swa${sparsity}"
    swa=(--swa-sparsity "$sparsity")
    "$bin/alisa" plan --model "dummy:$model" "${caps[@]}" "${swa[@]}" --json \
      --workload "prompt_len=$prompt,gen_len=$gen" >"$OUT/$name.plan.json" 2>"$OUT/$name.plan.log"
    "$bin/alisa" bench --model "dummy:$model" --policy auto "${caps[@]}" "${swa[@]}" \
      --prompt-len "$prompt" --gen-len "$gen" --output "$OUT/$name.bench.json" \
      >/dev/null 2>"$OUT/$name.bench.log"
    status=$?
    rows+=("$(python3 - "$OUT/$name.plan.json" "$OUT/$name.bench.json" "$name" "$status" <<'EOF'
import json, sys
plan_path, bench_path, name, status = sys.argv[1:]
try:
    predicted = json.load(open(plan_path))["prediction"]["total_throughput"]
except Exception:
    predicted = float("nan")
try:
    bench = json.loads(open(bench_path).readline())
    measured, dtype, batch = bench["total_throughput"], bench["dtype"], bench["batch_size"]
except Exception:
    measured, dtype, batch = float("nan"), "?", "?"
print(f"| {name} | {dtype} | {batch} | {predicted:.1f} | {measured:.1f} | exit {status} |")
EOF
)")
  done
done
echo "| run | dtype | block | predicted tok/s | measured tok/s | |"
echo "| --- | --- | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
