#!/usr/bin/env bash
# Installs the Debian 12 packages alisa builds against. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake
  libdnnl-dev libtbb-dev libyaml-cpp-dev catch2
  ocl-icd-opencl-dev opencl-headers  # oneDNN's CMake package requires OpenCL
  nlohmann-json3-dev libcli11-dev libspdlog-dev libicu-dev
  libbenchmark-dev
  libglpk-dev  # the policy solver's LP/MIP library
  python3-dev pybind11-dev python3-numpy  # the Python package alisa (runtime/python)
  python3-pytest python3-matplotlib       # its tests; search_policy.py's and alisa experiment's plots
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizers' runtimes for clang
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
