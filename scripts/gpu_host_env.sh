# Sourced on the GPU host: unpacks the carried libraries and points the tests at the carried
# fixtures and binary. See docs/GPU_HOST.md.
carry=$(realpath "${ALISA_CARRY:-.carry}")  # absolute: tests resolve paths from other folders
# Always unpack afresh: a bin/ left on a shared host by an earlier carry would run stale binaries.
if [ -f "$carry/bin.tar.xz" ]; then
  rm -rf "$carry/bin"
  tar xJf "$carry/bin.tar.xz" -C "$carry"
fi
# The carried Debian libraries, and alisa's own (libalisa_openmp_waits.so) beside the binaries.
LD_LIBRARY_PATH=$carry/bin:$(bash scripts/unpack_runtime_libs.sh "$carry/debs" /tmp/alisa-libs)
export LD_LIBRARY_PATH
export ALISA_FIXTURES_DIR=$carry/fixtures
export ALISA_BINARY=$carry/bin/alisa
# The Python package, when carried (it needs the host's python3 3.11 and numpy).
[ -d "$carry/bin/python" ] && export PYTHONPATH=$carry/bin/python${PYTHONPATH:+:$PYTHONPATH}
export ALISA_REPO_DIR=$PWD  # the tests find the demo models and configs here, not where they were built
export OUT=${OUT:-/tmp/alisa-out}
mkdir -p "$OUT"
