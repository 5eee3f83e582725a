#!/usr/bin/env bash
# Gathers, as Debian packages, the shared libraries the given binaries need beyond glibc,
# libstdc++ and CUDA (oneDNN, TBB, yaml-cpp, spdlog, fmt, ICU, ...) into OUT_DIR, so they can
# travel with the binaries to a GPU host that has no network and no such packages. There,
# scripts/unpack_runtime_libs.sh unpacks them. See docs/GPU_HOST.md.
#
#   scripts/gather_runtime_libs.sh OUT_DIR BINARY...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR BINARY..." >&2; exit 1; }
out=$1
shift
mkdir -p "$out"

# Present on any glibc Linux with a C++ toolchain runtime, or shipped with the CUDA driver/toolkit.
# alisa's own shared library (libalisa_*) travels with the binaries.
base='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libgcc_s\.|libstdc\+\+\.|libcuda|libcudart|libcublas|libnvidia|libalisa_)'
packages=()
for binary in "$@"; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue  # the vdso and the dynamic loader
    [[ "$name" =~ $base ]] && continue
    [ -n "${path:-}" ] && [ -e "$path" ] || { echo "gather: $binary needs $name, not found" >&2; exit 1; }
    real=$(readlink -f "$path")
    # Debian 12 merged /lib into /usr/lib; dpkg knows each file by the path its package used.
    package=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real/#\/lib\//\/usr\/lib\/}" 2>/dev/null ||
              dpkg -S "${real/#\/usr\/lib\//\/lib\/}" 2>/dev/null || true)
    package=${package%%:*}
    [ -n "$package" ] || { echo "gather: no Debian package owns $real" >&2; exit 1; }
    packages+=("$package")
  done < <(ldd "$binary")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
(cd "$out" && apt-get download "${packages[@]}" >/dev/null)
echo "gathered into $out: ${packages[*]}"
