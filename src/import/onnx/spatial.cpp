#include "import/onnx/spatial.h"

#include <algorithm>

namespace kiln::onnx_import {

Expected<Spatial> read_spatial(const NodeContext& c, std::array<int64_t, 2> in_hw, std::array<int64_t, 2> kernel) {
  Spatial s;
  auto strides = c.attr_ints("strides", {1, 1});
  auto dil = c.attr_ints("dilations", {1, 1});
  auto pads = c.attr_ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
    return c.bad("strides, dilations or pads have the wrong length for a 2-D window");
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  for (int i = 0; i < 2; ++i) {
    if (strides[i] < 1 || dil[i] < 1) return c.bad("strides and dilations must be positive");
    s.strides[i] = strides[i];
    s.dilations[i] = dil[i];
    if (auto_pad == "NOTSET") {
      s.pads[i] = pads[i];
      s.pads[i + 2] = pads[i + 2];
    } else if (auto_pad == "VALID") {
      s.pads[i] = s.pads[i + 2] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (in_hw[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in_hw[i]);
      int64_t small = total / 2, large = total - small;
      bool upper = auto_pad == "SAME_UPPER";
      s.pads[i] = upper ? small : large;
      s.pads[i + 2] = upper ? large : small;
    } else {
      return c.fail("auto_pad '" + auto_pad + "' is not supported");
    }
    if (s.pads[i] < 0 || s.pads[i + 2] < 0) return c.bad("negative pads");
  }
  return s;
}

}  // namespace kiln::onnx_import
