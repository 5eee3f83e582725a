// Catch2 main of the GPU kernel tests: without a CUDA device the binary reports itself skipped
// (exit 77, ctest's SKIP_RETURN_CODE) instead of failing or passing silently.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char* argv[]) {
  Catch::Session session;
  const int status = session.applyCommandLine(argc, argv);
  if (status != 0) return status;
  const Catch::ConfigData& config = session.configData();
  const bool only_listing = config.listTests || config.listTestNamesOnly || config.listTags ||
                            config.listReporters || config.showHelp;
  if (!only_listing) {
    int n_devices = 0;
    const cudaError_t error = cudaGetDeviceCount(&n_devices);
    if (error != cudaSuccess || n_devices == 0) {
      std::printf("no CUDA device: GPU tests skipped\n");
      std::fprintf(stderr, "(cudaGetDeviceCount: %s, %d devices)\n",
                   error != cudaSuccess ? cudaGetErrorString(error) : "ok", n_devices);
      std::fflush(stdout);
      return 77;
    }
  }
  return session.run();
}
