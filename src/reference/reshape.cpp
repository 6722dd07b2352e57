// Reference reshape (ONNX Reshape, Flatten, Squeeze, Unsqueeze with the target shape already
// resolved by the importer). The result is a fresh copy, never an alias of the input.
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

// inputs[0] is the data; ONNX's shape/axes input, already folded into the attributes, may
// follow and is ignored.
Expected<Tensor> reshape(const ReshapeAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "reshape";
  if (inputs.empty()) return invalid_argument("reshape: expected at least 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  for (int64_t d : a.shape) {
    if (d < 0) {
      return invalid_argument("reshape: target shape " + shape_to_string(a.shape) +
                              " must be fully resolved (no negative dimensions)");
    }
  }
  if (shape_elements(a.shape) != x.elements()) {
    return invalid_argument("reshape: cannot reshape " + shape_to_string(x.shape()) + " (" +
                            std::to_string(x.elements()) + " elements) to " +
                            shape_to_string(a.shape) + " (" +
                            std::to_string(shape_elements(a.shape)) + " elements)");
  }
  return x.clone().reshaped(a.shape);
}

}  // namespace kiln::reference
