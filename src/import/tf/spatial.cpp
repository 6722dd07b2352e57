#include "import/tf/spatial.h"

#include <algorithm>

namespace kiln::tf_import {

namespace {
// Positions of H and W (then N and C) in a 4-element list in data_format order.
struct Axes {
  int h, w, n, c;
};
Axes axes_of(Layout layout) { return layout == Layout::kNchw ? Axes{1, 2, 0, 3} : Axes{2, 3, 0, 1}; }
}  // namespace

Spatial hw_of(const Shape& s, Layout layout) {
  Axes a = axes_of(layout);
  return {s[a.h], s[a.w]};
}

Expected<Spatial> hw_attr(const NodeContext& c, const std::string& name, Layout layout) {
  std::vector<int64_t> v = c.attr_ints(name, {1, 1, 1, 1});
  if (v.size() != 4) return c.bad(name + " must have 4 values, it has " + std::to_string(v.size()));
  Axes a = axes_of(layout);
  if (v[a.n] != 1 || v[a.c] != 1) return c.fail(name + " on the batch or channel axis is not supported");
  if (v[a.h] < 1 || v[a.w] < 1) return c.bad(name + " must be positive");
  return Spatial{v[a.h], v[a.w]};
}

Expected<Spatial> window_pads(const NodeContext& c, Layout layout, Spatial in_hw,
                                             Spatial kernel, Spatial strides,
                                             Spatial dilations) {
  std::string padding = c.attr_string("padding", "");
  Spatial pads{0, 0, 0, 0};
  if (padding == "VALID") return pads;
  if (padding == "SAME") {
    for (int i = 0; i < 2; ++i) {
      int64_t out = (in_hw[i] + strides[i] - 1) / strides[i];
      int64_t span = (kernel[i] - 1) * dilations[i] + 1;
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + span - in_hw[i]);
      pads[i] = total / 2;
      pads[i + 2] = total - total / 2;
    }
    return pads;
  }
  if (padding == "EXPLICIT") {
    std::vector<int64_t> e = c.attr_ints("explicit_paddings");
    if (e.size() != 8) return c.bad("explicit_paddings must have 8 values");
    Axes a = axes_of(layout);
    if (e[2 * a.n] || e[2 * a.n + 1] || e[2 * a.c] || e[2 * a.c + 1])
      return c.fail("padding the batch or channel axis is not supported");
    pads = {e[2 * a.h], e[2 * a.w], e[2 * a.h + 1], e[2 * a.w + 1]};
    for (int64_t p : pads)
      if (p < 0) return c.bad("negative explicit_paddings");
    return pads;
  }
  return c.fail("padding '" + padding + "' is not supported (kiln reads SAME, VALID and EXPLICIT)");
}

}  // namespace kiln::tf_import
