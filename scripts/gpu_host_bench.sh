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
grep -E "ceiling|^attention|^decode|^prefill" "$OUT/kernel_bench.txt" | cut -c1-150 | head -40
python3 - "$OUT" <<'PY'
import json, sys, glob
for path in sorted(glob.glob(sys.argv[1] + "/bench_*.jsonl")):
    for line in open(path):
        r = json.loads(line)
        print(f"{r['model']:<20} b={r['batch_size']:<4} prefill {r['prefill_latency_s']:.3f}s "
              f"step {r['decode_step_ms']:.2f}ms bytes/step {r['decode_step_bytes']/1e9:.2f}GB "
              f"decode {r['decode_throughput']:.1f} tok/s total {r['total_throughput']:.1f} tok/s "
              f"gpu peak {r['peak_memory_bytes'].get('gpu', 0)/2**30:.1f}GiB")
PY
