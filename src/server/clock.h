// Milliseconds since a point in time, for the timings the server reports and counts. (The
// server uses only the public API, so not core/clock.h.)
#pragma once

#include <chrono>

namespace kiln::serve {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace kiln::serve
