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
  # Each step has its share of the call's time: a slow one must not cost the others' results.
  timeout "${STEP_TIMEOUT:-240}" "$@" >"$OUT/$name.log" 2>&1
  local status=$?
  results+=("$(printf '%-28s exit %-3s %4ss  %s' "$name" "$status" $((SECONDS - start)) "$(tail -n 2 "$OUT/$name.log" | tr '\n' ' ' | cut -c1-90)")")
}
run gpu_tests "$bin/alisa_kernels_gpu_tests" --durations yes
for binary in alisa_kernels_cpu_tests alisa_unit_tests alisa_runtime_tests alisa_e2e_tests; do
  run "$binary" "$bin/$binary"
done
run memcheck compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/alisa_kernels_gpu_tests"
# The engine's cases on the GPU (device-parametrised, tests/support/test_devices.h), one binary at a
# time: each GPU engine takes the card's free memory.
run memcheck_runtime compute-sanitizer --tool memcheck --error-exitcode 3 \
  "$bin/alisa_runtime_tests" "[devices],[gpu]"
run memcheck_e2e compute-sanitizer --tool memcheck --error-exitcode 3 \
  "$bin/alisa_e2e_tests" "[devices],[gpu]"
# racecheck on alisa's kernels. The [linear] tests run cuBLAS, whose own split-K kernels
# (nvjet*) synchronise in ways racecheck reports as hazards (and excluding them by name crashed
# the sanitizer), so they are checked apart, for the record.
run racecheck compute-sanitizer --tool racecheck --error-exitcode 3 \
  "$bin/alisa_kernels_gpu_tests" "~[e2e]~[linear]"
run racecheck_cublas compute-sanitizer --tool racecheck "$bin/alisa_kernels_gpu_tests" "[linear]"
grep -h "worst GPU" "$OUT"/*.log | sort -u
printf '%s\n' "${results[@]}"
