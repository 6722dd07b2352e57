#include "import/shape_rules.h"

#include <algorithm>

namespace kiln {

Expected<Shape> squeezed_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape out;
  for (size_t i = 0; i < x.size(); ++i) {
    bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    if (listed && x[i] != 1)
      return invalid_model("cannot squeeze axis " + std::to_string(i) + " of size " + std::to_string(x[i]));
    if (listed || (axes.empty() && x[i] == 1)) continue;
    out.push_back(x[i]);
  }
  return out;
}

Expected<Shape> reshaped_shape(const Shape& x, const std::vector<int64_t>& spec, bool zero_copies_input) {
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) {
      if (infer >= 0) return invalid_model("more than one -1 in the target shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (spec[i] < 0) return invalid_model("negative size in the target shape");
    out[i] = (spec[i] == 0 && zero_copies_input) ? (i < x.size() ? x[i] : 0) : spec[i];
    known *= out[i];
  }
  if (infer >= 0) out[infer] = known ? shape_elements(x) / known : 0;
  if (shape_elements(out) != shape_elements(x))
    return invalid_model("cannot reshape " + shape_to_string(x) + " to " + shape_to_string(out));
  return out;
}

SliceAttrs axis_slice(const Shape& x, int64_t axis, int64_t start, int64_t end) {
  SliceAttrs a;
  a.starts.assign(x.size(), 0);
  a.ends = x;
  a.steps.assign(x.size(), 1);
  a.starts[static_cast<size_t>(axis)] = start;
  a.ends[static_cast<size_t>(axis)] = end;
  return a;
}

}  // namespace kiln
