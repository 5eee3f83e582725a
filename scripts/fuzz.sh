#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, build-fuzz/) and runs each on its corpus.
#   scripts/fuzz.sh [SECONDS | -runs=N] [TARGET...]
# SECONDS per target (default 10), or N executions per target; TARGETs are the folder names of
# tests/fuzz/corpus (default: all). Fails when any target crashes, hangs (-timeout), leaks or
# blows up (-rss_limit_mb); the input is saved as build-fuzz/artifacts/TARGET-*. New inputs
# grow build-fuzz/corpus/TARGET, which later runs start from. More libFuzzer flags may be given in
# ALISA_FUZZ_FLAGS (e.g. "-max_total_time=600" beside -runs=N). docs/TESTING.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"
budget=${1:-10}
[ $# -gt 0 ] && shift
case "$budget" in
  -runs=*) limit=("$budget") ;;
  *[!0-9]* | "") echo "fuzz.sh: expected SECONDS or -runs=N, got '$budget'" >&2; exit 2 ;;
  *) limit=("-max_total_time=$budget") ;;
esac
all_targets=$(cd "$root/tests/fuzz/corpus" && ls)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all_targets)"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "fuzz.sh: no target '$t' (targets: $(echo $all_targets))" >&2; exit 2; }
done

bash "$root/scripts/setup.sh"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_COMPILER=clang++ \
  -DALISA_ENABLE_CUDA=OFF -DALISA_BUILD_TESTS=OFF -DALISA_BUILD_FUZZERS=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${ALISA_BUILD_JOBS:-$(nproc)}" --target alisa_fuzzers

fixtures="$root/../shared/fixtures"
# Seeds from the project's own files and the shared fixtures (not copied into tests/fuzz: those
# stay where they are maintained).
extra_seeds() {
  case "$1" in
    model_config) ls "$root"/configs/models/*.json "$fixtures"/*/config.json \
                     "$fixtures"/*/generation_config.json ;;
    policy_yaml) ls "$root"/configs/policies/*.yaml ;;
    run_yaml) ls "$root"/configs/default.yaml ;;
    prompts_jsonl) ls "$root"/configs/prompts/*.jsonl ;;
    forward_input) ls "$fixtures"/*-tiny/reference.json ;;
  esac 2>/dev/null || true
}
# Longest input per target: the largest seeds fit. (A whole calibrated hardware profile, 13 kB, is
# 25 ms an input: the corpus has one with two entries per table instead.)
max_len() {
  case "$1" in
    tokenizer_json) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

export ALISA_FIXTURES_DIR="$fixtures"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts"
failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  seeds="$build/seeds/$t"
  rm -rf "$seeds"
  mkdir -p "$corpus" "$seeds"
  cp "$root/tests/fuzz/corpus/$t"/* "$seeds/"
  for f in $(extra_seeds "$t"); do cp "$f" "$seeds/$(basename "$(dirname "$f")")-$(basename "$f")"; done
  echo "=== fuzz_$t ${limit[*]}"
  start=$(date +%s)
  if "$build/tests/fuzz/fuzz_$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
      ${ALISA_FUZZ_FLAGS:-} "$corpus" "$seeds" >"$build/fuzz_$t.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" \
    "$build/fuzz_$t.log" | tr '\n' ' ' || true
  echo "seconds: $(($(date +%s) - start)) corpus: $(ls "$corpus" | wc -l) $status"
  [ "$status" = ok ] || tail -n 60 "$build/fuzz_$t.log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} (inputs in $build/artifacts, logs $build/fuzz_*.log)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no crash, hang or leak"
