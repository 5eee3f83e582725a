#!/usr/bin/env bash
# The README's first command: set up, build, and run the built-in default job
# (configs/default.yaml) on the CPU. Extra arguments go to `alisa generate`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/build.sh"
exec "$root/build/alisa" generate --config "$root/configs/default.yaml" "$@"
