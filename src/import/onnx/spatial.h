// Shared reading of the spatial attributes of windowed ops (Conv, pools) over 1 to 3 spatial
// axes: strides, dilations, explicit pads or auto_pad, resolved to kiln's pads (every axis's
// begin, then every axis's end).
#pragma once

#include "import/onnx/context.h"

namespace kiln::onnx_import {

struct WindowAttrs {
  Spatial strides, dilations, pads;
};

// `in` and `kernel` hold one extent per spatial axis.
Expected<WindowAttrs> read_spatial(const NodeContext& c, const Spatial& in, const Spatial& kernel);

// The spatial extents of an N, C, spatial... shape, refusing ranks kiln does not run.
Expected<Spatial> spatial_extent(const NodeContext& c, const Shape& x);

}  // namespace kiln::onnx_import
