#!/usr/bin/env bash
# On the GPU host: every test binary (GPU tests included), then compute-sanitizer memcheck and
# racecheck on the GPU tests. Logs go to $OUT; a table of results is printed last.
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
results=()
run() {  # name, command...
  local name=$1
  shift
  local start=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local status=$?
  results+=("$(printf '%-28s exit %-3s %4ss  %s' "$name" "$status" $((SECONDS - start)) "$(tail -n 2 "$OUT/$name.log" | tr '\n' ' ' | cut -c1-90)")")
}
run gpu_tests "$bin/alisa_kernels_gpu_tests" --durations yes
for binary in alisa_kernels_cpu_tests alisa_unit_tests alisa_runtime_tests alisa_e2e_tests; do
  run "$binary" "$bin/$binary"
done
run memcheck compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/alisa_kernels_gpu_tests"
# cuBLAS's own split-K kernels (nvjet*) synchronise in ways racecheck reports as hazards; the
# check covers alisa's kernels.
run racecheck compute-sanitizer --tool racecheck --error-exitcode 3 --kernel-name-exclude kns=nvjet \
  "$bin/alisa_kernels_gpu_tests" "~[e2e]"
grep -h "worst GPU" "$OUT/gpu_tests.log" | sort -u
printf '%s\n' "${results[@]}"
