// Shape rules the importers share, for ops they turn into a Reshape or a Slice.
#pragma once

#include <vector>

#include "graph/attrs.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Squeeze: drop the listed axes (already non-negative), which must have size 1, or every
// size-1 axis when none is listed.
Expected<Shape> squeezed_shape(const Shape& x, const std::vector<int64_t>& axes);

// Reshape: the target `spec` with its one -1 inferred. A 0 copies x's size on that axis when
// `zero_copies_input` (ONNX without allowzero), else it is a size of 0 (TensorFlow).
Expected<Shape> reshaped_shape(const Shape& x, const std::vector<int64_t>& spec, bool zero_copies_input);

// The slice [start, end) of one axis of a tensor of shape x, every other axis whole (a part of
// a Split). `axis` is non-negative and 0 <= start <= end <= x[axis].
SliceAttrs axis_slice(const Shape& x, int64_t axis, int64_t start, int64_t end);

}  // namespace kiln
