#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite. GPU tests report
# "skipped" on machines without a CUDA device.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A merge that left conflict markers behind must not pass (one did, in the docs).
if git -C "$root" grep -n -E '^(<<<<<<<|>>>>>>>)( |$)'; then
  echo "merge conflict markers in the files above" >&2
  exit 1
fi
bash "$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)"
# Reliability (docs/TESTING.md): every parser's fuzz target for a few seconds (clang, build-fuzz/),
# then the unit and runtime tests under ASan + UBSan (build-asan/; the e2e tests under them are
# `scripts/sanitize.sh e2e`, outside CI's time: docs/TESTING.md).
bash "$root/scripts/fuzz.sh" "${ALISA_CI_FUZZ_SECONDS:-5}"
bash "$root/scripts/sanitize.sh" unit runtime
