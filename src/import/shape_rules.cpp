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

}  // namespace kiln
