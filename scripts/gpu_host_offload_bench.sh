#!/usr/bin/env bash
# On the GPU host: issue 4's offloading benchmarks with gpu_memory_limit 14.5GiB and dummy
# weights, each with its policy from configs/policies; JSON reports and Chrome traces go to $OUT,
# a short table is printed last.
#   scripts/gpu_host_offload_bench.sh [NAME ...]   (default: all; names below)
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
declare -A model=([opt-30b]=opt-30b [opt-30b-compressed]=opt-30b [opt-6.7b]=opt-6.7b
                  [opt-6.7b-cpu-attention]=opt-6.7b [llama-2-13b]=llama-2-13b)
declare -A shape=([opt-30b]="512 32" [opt-30b-compressed]="512 32" [opt-6.7b]="128 256"
                  [opt-6.7b-cpu-attention]="128 256" [llama-2-13b]="512 32")
declare -A policy=([opt-30b]=opt-30b-alisa [opt-30b-compressed]=opt-30b-compressed
                   [opt-6.7b]=opt-6.7b-alisa [opt-6.7b-cpu-attention]=opt-6.7b-cpu-attention
                   [llama-2-13b]=llama-2-13b-alisa)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(opt-6.7b opt-6.7b-cpu-attention llama-2-13b opt-30b opt-30b-compressed)
for name in "${names[@]}"; do
  read -r prompt gen <<<"${shape[$name]}"
  /usr/bin/time -v "$bin/alisa" bench --model "dummy:${model[$name]}" --device gpu \
    --gpu-memory-limit 14.5GiB --cpu-memory-limit 112GiB --policy "configs/policies/${policy[$name]}.yaml" \
    --prompt-len "$prompt" --gen-len "$gen" --offload-dir /tmp/alisa-offload \
    --trace "$OUT/trace_$name.json" --output "$OUT/offload_$name.jsonl" >/dev/null 2>"$OUT/offload_$name.err"
  echo "$name exit $? $(grep -E 'error|Maximum resident' "$OUT/offload_$name.err" | tr '\n' ' ')"
done
python3 scripts/bench_table.py "$OUT"/offload_*.jsonl
