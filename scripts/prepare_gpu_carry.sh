#!/usr/bin/env bash
# On the development machine: puts what a GPU host needs into .carry/ (ignored by git): the
# binaries of a CUDA build, the Debian packages of their shared libraries, and a copy of the
# test fixtures. The device tool carries the folder; scripts/gpu_host_*.sh use it there.
#
#   scripts/prepare_gpu_carry.sh [BUILD_DIR] [PROFILE]   (default: build all)
#
# The device tool carries 64 MiB with the working tree (37 MB of it tracked files), so a profile
# picks what one call needs: `tests` (the GPU-running test binaries), `bench` (the kernel bench,
# the Python package and the FlexGen peer) or `all`. The CLI binary is always carried.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
profile=${2:-all}
case $profile in
  tests) test_binaries=(alisa_kernels_gpu_tests alisa_e2e_tests alisa_runtime_tests) ;;
  bench) test_binaries=(perf/alisa_gpu_kernel_bench) ;;
  all) test_binaries=(alisa_kernels_gpu_tests alisa_e2e_tests alisa_unit_tests alisa_runtime_tests
                      alisa_kernels_cpu_tests perf/alisa_gpu_kernel_bench) ;;
  *) echo "unknown profile '$profile': tests, bench or all" >&2; exit 2 ;;
esac
carry=$root/.carry
rm -rf "$carry"
mkdir -p "$carry/bin" "$carry/debs"
binaries=("$build/alisa")
for test_binary in "${test_binaries[@]}"; do
  [ -x "$build/tests/$test_binary" ] && binaries+=("$build/tests/$test_binary")
done
[ -x "$build/tests/alisa_kernels_gpu_tests" ] || { echo "no GPU tests in $build: is it a CUDA build?" >&2; exit 1; }
cp "${binaries[@]}" "$build"/lib/libalisa_*.so "$carry/bin/"
strip --strip-all "$carry"/bin/*
# The Python package (docs/PYTHON.md: scripts/search_policy.py runs on it), where the build has it.
if [ "$profile" != tests ] && compgen -G "$build/python/alisa/_alisa*.so" >/dev/null; then
  cp -r "$build/python" "$carry/bin/python"
  strip --strip-unneeded "$carry"/bin/python/alisa/_alisa*.so
  binaries+=("$build"/python/alisa/_alisa*.so)
fi
bash "$root/scripts/gather_runtime_libs.sh" "$carry/debs" "${binaries[@]}"
cp -r "$root/../shared/fixtures" "$carry/fixtures"
# The FlexGen peer, for the experiments' engine flexgen points (--peer .carry/peer).
[ "$profile" = tests ] || cp -r "$root/../shared/peer" "$carry/peer"
# Ship the binaries compressed with xz. Each holds the whole engine (12 MB stripped),
# so the dictionary must span several of them for xz to share their common code: with 128 MiB
# all seven take 5 MB (16 MB with xz's default 8 MiB; gzip more). scripts/gpu_host_env.sh
# unpacks them.
tar cf - -C "$carry" bin | xz -T1 --lzma2=preset=6,dict=128MiB >"$carry/bin.tar.xz"
rm -rf "$carry/bin"
du -sh "$carry"
