# Sourced on the GPU host: unpacks the carried libraries and points the tests at the carried
# fixtures and binary. See docs/GPU_HOST.md.
carry=$(realpath "${ALISA_CARRY:-.carry}")  # absolute: tests resolve paths from other folders
[ -d "$carry/bin" ] || tar xzf "$carry/bin.tar.gz" -C "$carry"
LD_LIBRARY_PATH=$(bash scripts/unpack_runtime_libs.sh "$carry/debs" /tmp/alisa-libs)
export LD_LIBRARY_PATH
export ALISA_FIXTURES_DIR=$carry/fixtures
export ALISA_BINARY=$carry/bin/alisa
export OUT=${OUT:-/tmp/alisa-out}
mkdir -p "$OUT"
