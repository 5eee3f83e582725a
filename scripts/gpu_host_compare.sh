#!/usr/bin/env bash
# On the GPU host: the offloading and SWA benchmarks of docs/PERFORMANCE.md run by two builds on
# the same host, alternating, so the comparison does not depend on which host the call got.
# Each build is a carry folder (scripts/prepare_gpu_carry.sh); the second defaults to .carry.
#   scripts/gpu_host_compare.sh OLD_CARRY [NEW_CARRY] [NAME ...]
# Names: opt-30b (opt-30b-alisa, 512/32), opt-6.7b-cpu-attention (128/256),
# opt-6.7b-swa (SWA 0.8, 128/512). Reports go to $OUT; a table of decode tok/s and the ratio
# new/old is printed last.
set -uo pipefail
old=$(realpath "$1")
new=$(realpath "${2:-.carry}")
shift $(($# < 2 ? $# : 2))
ALISA_CARRY=$new source scripts/gpu_host_env.sh
[ -d "$old/bin" ] || tar xJf "$old/bin.tar.xz" -C "$old"
declare -A model=([opt-30b]=opt-30b [opt-6.7b-cpu-attention]=opt-6.7b [opt-6.7b-swa]=opt-6.7b)
declare -A shape=([opt-30b]="512 32" [opt-6.7b-cpu-attention]="128 256" [opt-6.7b-swa]="128 512")
declare -A policy=([opt-30b]=opt-30b-alisa [opt-6.7b-cpu-attention]=opt-6.7b-cpu-attention
                   [opt-6.7b-swa]=opt-6.7b-swa)
declare -A extra=([opt-30b]="" [opt-6.7b-cpu-attention]="" [opt-6.7b-swa]="--swa-sparsity 0.8")
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(opt-6.7b-swa opt-6.7b-cpu-attention opt-30b)
rows=()
for name in "${names[@]}"; do
  read -r prompt gen <<<"${shape[$name]}"
  declare -A tps=()
  for build in old new; do
    bin=$old/bin
    [ "$build" = new ] && bin=$new/bin
    # shellcheck disable=SC2086
    "$bin/alisa" bench --model "dummy:${model[$name]}" --device gpu --gpu-memory-limit 14.5GiB \
      --cpu-memory-limit 110GiB --policy "configs/policies/${policy[$name]}.yaml" \
      --prompt-len "$prompt" --gen-len "$gen" ${extra[$name]} --offload-dir /tmp/alisa-offload \
      --output "$OUT/compare_${name}_$build.jsonl" >/dev/null 2>"$OUT/compare_${name}_$build.err"
    status=$?
    tps[$build]=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['decode_throughput'])" \
      "$OUT/compare_${name}_$build.jsonl" 2>/dev/null || echo "exit$status")
  done
  rows+=("$(printf '%-24s old %10s  new %10s  new/old %s' "$name" "${tps[old]}" "${tps[new]}" \
    "$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.3f}')" "${tps[old]}" "${tps[new]}" 2>/dev/null)")")
done
printf '%s\n' "${rows[@]}"
