#!/usr/bin/env bash
# On the GPU host: continuous batching (issue 20). For each case, the standard uneven job
# (prompts uniform in [64, 512], generations lognormal with median 128 and max 512, seed 0) run by
# `alisa bench --policy auto` with refill and with the static schedule, each on the plan the solver
# chose for it (14.5 GiB GPU, 110 GiB CPU); the plan's prediction beside each. Logs and JSON go to
# $OUT; a table is printed last.
#
#   scripts/gpu_host_refill_bench.sh [SEQUENCES] [CASE ...]
#   CASE: MODEL or MODEL:SPARSITY (default: opt-6.7b llama-2-13b opt-6.7b:0.8), SEQUENCES 2000
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
sequences=${1:-2000}
shift || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(opt-6.7b llama-2-13b opt-6.7b:0.8)
prompt=uniform:min=64,max=512
gen=lognormal:median=128,max=512
caps=(--device gpu --hardware configs/hardware/h100-host.yaml --gpu-memory-limit 14.5GiB
      --cpu-memory-limit 110GiB)
rows=()
for c in "${cases[@]}"; do
  model=${c%%:*}
  sparsity=0
  [[ $c == *:* ]] && sparsity=${c##*:}
  for refill in on off; do
    name="${model}_swa${sparsity}_refill-${refill}"
    "$bin/alisa" plan --model "dummy:$model" "${caps[@]}" --swa-sparsity "$sparsity" --json \
      --workload "prompt_len=$prompt,gen_len=$gen,sequences=$sequences,refill=$refill" \
      >"$OUT/$name.plan.json" 2>"$OUT/$name.plan.log"
    start=$SECONDS
    "$bin/alisa" bench --model "dummy:$model" --policy auto "${caps[@]}" \
      --swa-sparsity "$sparsity" --prompt-len-dist "$prompt" --gen-len-dist "$gen" \
      --num-prompts "$sequences" --refill "$refill" --output "$OUT/$name.bench.json" \
      >/dev/null 2>"$OUT/$name.bench.log"
    status=$?
    rows+=("$(python3 - "$OUT/$name.plan.json" "$OUT/$name.bench.json" "$name" "$status" \
      "$((SECONDS - start))" <<'PY'
import json, sys
plan_path, bench_path, name, status, seconds = sys.argv[1:]
try:
    job = json.load(open(plan_path))["job"]
    predicted, p_idle = job["useful_throughput"], job["idle_share"]
except Exception:
    predicted = p_idle = float("nan")
try:
    b = json.loads(open(bench_path).readline())
    got = (b["useful_throughput"], b["idle_share"], b["batch_size"], b["capacity"], b["refills"])
except Exception:
    got = (float("nan"), float("nan"), "?", "?", "?")
print(f"| {name} | {got[2]} | {got[3]} | {predicted:.1f} | {got[0]:.1f} | {p_idle:.1%} | "
      f"{got[1]:.1%} | {got[4]} | exit {status}, {seconds} s |")
PY
)")
  done
done
echo "| run | block | capacity | predicted useful tok/s | measured | predicted idle | measured idle | refills | |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
