// Evaluating ops on constant tensors at import: shape arithmetic and constant subgraphs.
//
//   kiln::Expected<kiln::Tensor> t = kiln::fold_constant(attrs, {a, b}, kiln::IntegerDivision::kTruncate);
#pragma once

#include <vector>

#include "graph/graph.h"

namespace kiln {

// How integer Div rounds: ONNX truncates toward zero, TensorFlow floors.
enum class IntegerDivision : uint8_t { kTruncate, kFloor };

Expected<Tensor> fold_constant(const OpAttrs& attrs, const std::vector<Tensor>& inputs, IntegerDivision division);
// Range(start, limit, delta) as a 1-D tensor of start's type.
Expected<Tensor> range_constant(const Tensor& start, const Tensor& limit, const Tensor& delta);

}  // namespace kiln
