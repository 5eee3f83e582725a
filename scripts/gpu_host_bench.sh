#!/usr/bin/env bash
# On the GPU host: the kernel benchmarks and `alisa bench` on dummy OPT-6.7B and LLaMA-2-7B
# fully on the GPU (prompt 512, gen 32). Results go to $OUT; a short table is printed last.
#   scripts/gpu_host_bench.sh [BATCH_SIZES]   (default 1,8,32)
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
sizes=${1:-1,8,32}
"$bin/alisa_gpu_kernel_bench" --benchmark_out="$OUT/kernel_bench.json" --benchmark_out_format=json \
  >"$OUT/kernel_bench.txt" 2>&1
echo "kernel bench exit $?"
for model in opt-6.7b llama-2-7b; do
  "$bin/alisa" bench --model "dummy:$model" --device gpu --prompt-len 512 --gen-len 32 \
    --batch-sizes "$sizes" --output "$OUT/bench_$model.jsonl" >/dev/null 2>"$OUT/bench_$model.err"
  echo "$model bench exit $? $(tail -n 1 "$OUT/bench_$model.err")"
done
python3 scripts/bench_table.py --kernels "$OUT/kernel_bench.json" "$OUT"/bench_*.jsonl
