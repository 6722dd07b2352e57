// Milliseconds since a point in time, for the phase timings models and engines report.
//
//   auto t0 = kiln::Clock::now();
//   ...
//   info.compile_ms = kiln::ms_since(t0);
#pragma once

#include <chrono>

namespace kiln {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace kiln
