// Shape rules the importers share, for ops they turn into a Reshape.
#pragma once

#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Squeeze: drop the listed axes (already non-negative), which must have size 1, or every
// size-1 axis when none is listed.
Expected<Shape> squeezed_shape(const Shape& x, const std::vector<int64_t>& axes);

}  // namespace kiln
