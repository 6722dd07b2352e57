// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kiln/io.h"
#include "kiln/tensor.h"

namespace kiln::testing {

inline std::string source_path(const std::string& rel) { return std::string(KILN_SOURCE_DIR) + "/" + rel; }

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.elements() != b.elements()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.elements(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  return m;
}

}  // namespace kiln::testing
