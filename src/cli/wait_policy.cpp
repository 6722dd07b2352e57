// How idle OpenMP workers wait between parallel regions. libgomp's default spins ~300000
// iterations before sleeping; on a machine shared with a busy neighbour that spinning holds
// a core the worker that still has work needs, and U-Net-16 slowed 2.1-2.4x with one of two
// cores busy (ONNX Runtime 2.0x) against 1.8-1.9x with PASSIVE (sleep at once), which costs
// 4-12% on a quiet machine (BENCHMARKS.md, 2026-12-06). So kiln runs PASSIVE unless told.
// libgomp reads the setting once, when it is loaded (before main), so the default is applied
// by running the program again with it in the environment: once, ~20 ms.
#include <unistd.h>

#include <cstdlib>

#include "cli/commands.h"

namespace kiln::cli {

void apply_default_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user chose
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OMP_WAIT_POLICY");  // exec failed (no /proc): run on with libgomp's default
}

const char* wait_policy() {
  if (const char* p = std::getenv("OMP_WAIT_POLICY")) return p;
  if (std::getenv("GOMP_SPINCOUNT")) return "spin count set";
  return "default";
}

}  // namespace kiln::cli
