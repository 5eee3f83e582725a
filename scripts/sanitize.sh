#!/usr/bin/env bash
# Test binaries under AddressSanitizer + UndefinedBehaviorSanitizer, in a build folder of their
# own (build-asan/: CUDA off, -O1 -g). The first report fails the test.
#   scripts/sanitize.sh [unit] [runtime] [e2e]    (default: all three)
# CI (scripts/test.sh) runs unit and runtime only: docs/TESTING.md says why. tests/sanitizers/
# holds the suppressions (third-party false positives only).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-asan"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit runtime e2e)
targets=()
for s in "${suites[@]}"; do
  case "$s" in
    unit | runtime) targets+=("alisa_${s}_tests") ;;
    e2e) targets+=(alisa alisa_e2e_tests) ;;  # the e2e tests run the (sanitized) CLI
    *) echo "sanitize.sh: expected unit, runtime or e2e, got '$s'" >&2; exit 2 ;;
  esac
done

bash "$root/scripts/setup.sh"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# ALISA_WERROR off: the normal build holds the code to zero warnings; GCC's warnings change with
# the instrumentation and -O1, and a new one there is no reason to skip the sanitizers' verdict.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DALISA_ENABLE_CUDA=OFF \
  -DALISA_SANITIZE=address,undefined -DALISA_WERROR=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${ALISA_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"

supp="$root/tests/sanitizers"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
pattern=$(IFS='|'; echo "${suites[*]}")
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -R "^($pattern)/"
