// Shared reading of the spatial attributes of windowed ops (Conv, pools): strides,
// dilations, explicit pads or auto_pad, resolved to kiln's {top, left, bottom, right}.
#pragma once

#include <array>

#include "import/onnx/context.h"

namespace kiln::onnx_import {

struct Spatial {
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
};

Expected<Spatial> read_spatial(const NodeContext& c, std::array<int64_t, 2> in_hw, std::array<int64_t, 2> kernel);

}  // namespace kiln::onnx_import
