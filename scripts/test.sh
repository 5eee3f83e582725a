#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite. GPU tests report
# "skipped" on machines without a CUDA device.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)"
