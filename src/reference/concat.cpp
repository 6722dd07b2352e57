// Reference concatenation along one axis (ONNX Concat).
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> concat(const ConcatAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "concat";
  if (inputs.empty()) return invalid_argument("concat: expected at least 1 input, got 0");
  for (const Tensor& t : inputs) KILN_RETURN_IF_ERROR(detail::check_f32(op, t, "input"));

  const Shape& first = inputs[0].shape();
  const int64_t rank = static_cast<int64_t>(first.size());
  if (a.axis < 0 || a.axis >= rank) {
    return invalid_argument("concat: axis " + std::to_string(a.axis) +
                            " is out of range for shape " + shape_to_string(first));
  }
  const size_t axis = static_cast<size_t>(a.axis);

  Shape out_shape = first;
  out_shape[axis] = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Shape& s = inputs[k].shape();
    bool ok = s.size() == first.size();
    for (size_t i = 0; ok && i < s.size(); ++i) ok = i == axis || s[i] == first[i];
    if (!ok) {
      return invalid_argument("concat: input " + std::to_string(k) + " shape " +
                              shape_to_string(s) + " does not match input 0 shape " +
                              shape_to_string(first) + " outside axis " +
                              std::to_string(axis));
    }
    out_shape[axis] += s[axis];
  }

  // Every tensor is [outer, len_k, inner]; the output interleaves the inputs' rows.
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= first[i];
  for (size_t i = axis + 1; i < first.size(); ++i) inner *= first[i];

  Tensor y = detail::new_f32(out_shape);
  float* yp = y.data<float>();
  const int64_t out_row = out_shape[axis] * inner;
  int64_t offset = 0;  // start of the current input inside an output row
  for (const Tensor& t : inputs) {
    const int64_t row = t.shape()[axis] * inner;
    const float* tp = t.data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < row; ++i) yp[o * out_row + offset + i] = tp[o * row + i];
    }
    offset += row;
  }
  return y;
}

}  // namespace kiln::reference
