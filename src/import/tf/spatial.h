// Shared reading of TensorFlow's spatial attributes: 4-element strides/ksize/dilations in
// data_format order, and SAME / VALID / EXPLICIT padding resolved to kiln's
// {top, left, bottom, right}.
#pragma once

#include <array>

#include "import/tf/context.h"

namespace kiln::tf_import {

// The H and W entries of a 4-element attribute in data_format order (kNchw stands for NHWC
// data, kPlain for NCHW); the batch and channel entries must be 1.
Expected<Spatial> hw_attr(const NodeContext& c, const std::string& name, Layout layout);
// H and W of a TensorFlow shape in the given data format.
Spatial hw_of(const Shape& tf_shape, Layout layout);
// Pads of a window op (Conv2D, pools) from its padding attribute. TensorFlow's SAME puts the
// odd extra row/column at the bottom/right.
Expected<Spatial> window_pads(const NodeContext& c, Layout layout, Spatial in_hw,
                                             Spatial kernel, Spatial strides,
                                             Spatial dilations);

}  // namespace kiln::tf_import
