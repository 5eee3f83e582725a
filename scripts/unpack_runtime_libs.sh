#!/usr/bin/env bash
# Unpacks the packages gathered by scripts/gather_runtime_libs.sh into DEST (not into /) and
# prints the LD_LIBRARY_PATH that finds them. Use: export LD_LIBRARY_PATH=$(scripts/unpack_runtime_libs.sh DIR DEST)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DEB_DIR DEST" >&2; exit 1; }
mkdir -p "$2"
for deb in "$1"/*.deb; do dpkg -x "$deb" "$2"; done
echo "$2/usr/lib/x86_64-linux-gnu:$2/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
