#!/usr/bin/env bash
# On the GPU host: the test binaries with GPU cases, then compute-sanitizer memcheck and racecheck.
# Logs go to $OUT; a table of results is printed last. One call's ten minutes do not hold them
# all, so groups can be named (default: all, in this order):
#   kernels    alisa_kernels_gpu_tests
#   engine     the runtime and end-to-end cases that run on the GPU ([devices], [gpu])
#   cpu        the CPU-only binaries, as CI runs them, on this host's cores
#   memcheck   compute-sanitizer memcheck on the kernels, then on the engine's GPU cases
#   racecheck  compute-sanitizer racecheck on the kernels
#   scripts/gpu_host_tests.sh [GROUP...]
set -uo pipefail
source scripts/gpu_host_env.sh
bin=$carry/bin
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(kernels engine cpu memcheck racecheck)
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
# The engine's cases on the GPU (device-parametrised, tests/support/test_devices.h), one binary at
# a time: each GPU engine takes the card's free memory.
engine_cases="[devices],[gpu]"
for group in "${groups[@]}"; do
  case $group in
    kernels) run gpu_tests "$bin/alisa_kernels_gpu_tests" --durations yes ;;
    engine)
      run runtime_gpu "$bin/alisa_runtime_tests" "$engine_cases" --durations yes
      run e2e_gpu "$bin/alisa_e2e_tests" "$engine_cases" --durations yes
      ;;
    cpu)
      for binary in alisa_kernels_cpu_tests alisa_unit_tests alisa_runtime_tests alisa_e2e_tests; do
        run "$binary" "$bin/$binary"
      done
      ;;
    memcheck)
      run memcheck compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/alisa_kernels_gpu_tests"
      run memcheck_runtime compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$bin/alisa_runtime_tests" "$engine_cases"
      run memcheck_e2e compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$bin/alisa_e2e_tests" "$engine_cases"
      ;;
    racecheck)
      # The [linear] tests run cuBLAS, whose own split-K kernels (nvjet*) synchronise in ways
      # racecheck reports as hazards (and excluding them by name crashed the sanitizer), so they
      # are checked apart, for the record.
      run racecheck compute-sanitizer --tool racecheck --error-exitcode 3 \
        "$bin/alisa_kernels_gpu_tests" "~[e2e]~[linear]"
      run racecheck_cublas compute-sanitizer --tool racecheck "$bin/alisa_kernels_gpu_tests" "[linear]"
      ;;
    *) echo "unknown group '$group'" >&2; exit 2 ;;
  esac
done
grep -h "worst GPU" "$OUT"/*.log | sort -u
printf '%s\n' "${results[@]}"
