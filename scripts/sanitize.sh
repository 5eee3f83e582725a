#!/usr/bin/env bash
# The unit, runtime and end-to-end tests under AddressSanitizer + UndefinedBehaviorSanitizer, in a
# build folder of their own (build-asan/: CUDA off, -O1 -g). The first report fails the test.
#   scripts/sanitize.sh [CTEST_ARGS...]     e.g. scripts/sanitize.sh -R '^unit/'
# docs/TESTING.md; tests/sanitizers/ holds the suppressions (third-party false positives only).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-asan"
bash "$root/scripts/setup.sh"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# ALISA_WERROR off: the normal build holds the code to zero warnings; GCC's sanitizer
# instrumentation adds false ones (-Wmaybe-uninitialized, -Wstringop-overflow) of its own.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DALISA_ENABLE_CUDA=OFF \
  -DALISA_SANITIZE=address,undefined -DALISA_WERROR=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${ALISA_BUILD_JOBS:-$(nproc)}" \
  --target alisa alisa_unit_tests alisa_runtime_tests alisa_e2e_tests

supp="$root/tests/sanitizers"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
if [ $# -eq 0 ]; then set -- -R '^(unit|runtime|e2e)/'; fi
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
