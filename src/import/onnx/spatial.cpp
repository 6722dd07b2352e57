#include "import/onnx/spatial.h"

#include <algorithm>

namespace kiln::onnx_import {

Expected<Spatial> spatial_extent(const NodeContext& c, const Shape& x) {
  if (x.size() < 3 || x.size() > 5)
    return c.fail("input has rank " + std::to_string(x.size()) + "; kiln runs 1-D, 2-D and 3-D windows (NCW, NCHW, NCDHW)");
  return Spatial(x.begin() + 2, x.end());
}

Expected<WindowAttrs> read_spatial(const NodeContext& c, const Spatial& in, const Spatial& kernel) {
  const size_t d = in.size();
  WindowAttrs s;
  auto strides = c.attr_ints("strides", Spatial(d, 1));
  auto dil = c.attr_ints("dilations", Spatial(d, 1));
  auto pads = c.attr_ints("pads", Spatial(2 * d, 0));
  if (strides.size() != d || dil.size() != d || pads.size() != 2 * d || kernel.size() != d)
    return c.bad("kernel_shape, strides, dilations or pads have the wrong length for a " + std::to_string(d) + "-D window");
  s.strides = strides;
  s.dilations = dil;
  s.pads.assign(2 * d, 0);
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < d; ++i) {
    if (strides[i] < 1 || dil[i] < 1) return c.bad("strides and dilations must be positive");
    if (auto_pad == "NOTSET") {
      s.pads[i] = pads[i];
      s.pads[d + i] = pads[d + i];
    } else if (auto_pad == "VALID") {
      s.pads[i] = s.pads[d + i] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (in[i] + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in[i]);
      int64_t small = total / 2, large = total - small;
      bool upper = auto_pad == "SAME_UPPER";
      s.pads[i] = upper ? small : large;
      s.pads[d + i] = upper ? large : small;
    } else {
      return c.fail("auto_pad '" + auto_pad + "' is not supported");
    }
    if (s.pads[i] < 0 || s.pads[d + i] < 0) return c.bad("negative pads");
  }
  return s;
}

}  // namespace kiln::onnx_import
