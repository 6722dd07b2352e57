// Reference static slice of any rank (ONNX Slice with constant starts/ends/axes/steps, already
// normalised by the importer; see the convention in reference.h).
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

// Number of elements of one axis selected by (start, end, step), after validating the
// normalised ranges. Returns -1 if the values are outside the convention.
int64_t slice_count(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (step > 0) {
    if (start < 0 || start > dim || end < 0 || end > dim) return -1;
    return end > start ? (end - start + step - 1) / step : 0;
  }
  if (step < 0) {
    if (start < -1 || start > dim - 1 || end < -1 || end > dim - 1) return -1;
    return start > end ? (start - end - step - 1) / -step : 0;
  }
  return -1;
}

}  // namespace

// inputs[0] is the data; ONNX's starts/ends/axes/steps inputs, already folded into the
// attributes, may follow and are ignored.
Expected<Tensor> slice(const SliceAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "slice";
  if (inputs.empty()) return invalid_argument("slice: expected at least 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  const size_t rank = s.size();
  if (a.starts.size() != rank || a.ends.size() != rank || a.steps.size() != rank) {
    return invalid_argument("slice: expected one start, end and step per axis of shape " +
                            shape_to_string(s) + ", got " + std::to_string(a.starts.size()) +
                            ", " + std::to_string(a.ends.size()) + " and " +
                            std::to_string(a.steps.size()));
  }
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    out_shape[i] = slice_count(s[i], a.starts[i], a.ends[i], a.steps[i]);
    if (out_shape[i] < 0) {
      return invalid_argument("slice: start " + std::to_string(a.starts[i]) + ", end " +
                              std::to_string(a.ends[i]) + ", step " +
                              std::to_string(a.steps[i]) + " on axis " + std::to_string(i) +
                              " of shape " + shape_to_string(s) + " are not normalised");
    }
  }

  // Output index j on axis i reads input index starts[i] + j * steps[i].
  const std::vector<int64_t> in_st = detail::strides_of(s);
  std::vector<int64_t> read_strides(rank);
  int64_t base = 0;
  for (size_t i = 0; i < rank; ++i) {
    read_strides[i] = a.steps[i] * in_st[i];
    if (out_shape[i] > 0) base += a.starts[i] * in_st[i];
  }
  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = y.elements(); i < n; ++i) {
    yp[i] = xp[base + detail::offset_of(i, out_shape, read_strides)];
  }
  return y;
}

}  // namespace kiln::reference
