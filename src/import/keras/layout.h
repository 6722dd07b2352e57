// TensorFlow/Keras weight layouts into kiln's (ONNX's), one function for the Keras importer
// and for binding a Keras file to a graph another importer made: both apply exactly the
// re-layout a weight's WeightOrigin names.
#pragma once

#include "graph/graph.h"

namespace kiln::keras_import {

// The graph tensor for a file tensor stored in `layout`'s source layout. kUnknown and kAsIs
// return the tensor unchanged; kOnes / kZeros are not read from files (see make_weight).
Expected<Tensor> to_kiln_layout(const Tensor& file_tensor, WeightLayout layout);
// The tensor an importer made for a weight the file does not hold (kOnes / kZeros).
Expected<Tensor> make_weight(WeightLayout layout, const Shape& shape);
bool is_made_weight(WeightLayout layout);

const char* weight_layout_name(WeightLayout layout);  // "HWIO->OIHW", ...
// The Keras variable name of a role: kKernel -> "kernel"; kUnknown -> "".
const char* weight_role_variable(WeightRole role);

}  // namespace kiln::keras_import
